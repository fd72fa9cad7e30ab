package io.basalt.cli.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.basalt.cli.it.BasaltProcess.Options;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** What a client learns in the handshake, as nbdinfo reports it: size, flags, block sizes, contexts. */
class NbdInfoIT {
    @RegisterExtension
    static final ItResources resources = new ItResources();

    private static final long SIZE_BYTES = 64L << 20;

    private static BasaltProcess server;

    @BeforeAll
    static void startServer() {
        Tools.require("nbdinfo", "libnbd-bin");
        server = resources.start(Options.file(resources.tempDir().resolve("disk.img"), "64M"));
    }

    @Test
    void defaultExportAdvertisesSizeFlagsBlockSizesAndBaseAllocation() {
        Map<String, Object> export = nbdinfo(server.uri());

        assertThat(export.get("export-name")).isEqualTo("");
        assertThat(export.get("export-size")).isEqualTo(SIZE_BYTES);
        assertThat(export.get("is_read_only")).isEqualTo(false);
        assertThat(export.get("can_flush")).isEqualTo(true);
        assertThat(export.get("can_fua")).isEqualTo(true);
        assertThat(export.get("can_trim")).isEqualTo(true);
        assertThat(export.get("can_zero")).isEqualTo(true);
        assertThat(export.get("can_multi_conn")).isEqualTo(true);
        assertThat(Json.array(export.get("contexts"))).contains("base:allocation");
        if (BasaltProcess.isBasalt()) {
            // nbdkit's file plugin advertises neither block sizes nor fast zero.
            assertThat(export.get("block_size_minimum")).isEqualTo(1L);
            assertThat(export.get("block_size_preferred")).isEqualTo(4096L);
            assertThat(export.get("block_size_maximum")).isEqualTo(32L << 20);
            assertThat(export.get("can_fast_zero")).isEqualTo(true);
            assertThat(export.get("can_cache")).isEqualTo(true);
        }
    }

    @Test
    void protocolIsFixedNewstyleWithStructuredReplies() {
        Map<String, Object> info = Json.object(Json.parse(
                Tools.runOk("nbdinfo", "--json", server.uri()).stdout()));
        assertThat(info.get("protocol")).isEqualTo("newstyle-fixed");
        assertThat(info.get("structured")).isEqualTo(true);
    }

    @Test
    void mapOfFreshSparseFileIsOneHole() {
        String map = Tools.runOk("nbdinfo", "--map", server.uri()).stdout();
        // "         0    67108864    3  hole,zero"
        assertThat(map.strip().lines().toList())
                .as("nbdinfo --map of a fresh sparse export")
                .hasSize(1)
                .first().asString().matches("\\s*0\\s+67108864\\s+3\\s+hole,zero");
    }

    @Test
    void namedExportIsServedUnderItsNameAndAsDefaultAndListed() {
        BasaltProcess named = resources.start(
                Options.file(resources.tempDir().resolve("vol.img"), "8M").withExportName("vol1"));

        assertThat(nbdinfo(named.uri("vol1")).get("export-size")).isEqualTo(8L << 20);
        assertThat(nbdinfo(named.uri()).get("export-size")).isEqualTo(8L << 20);

        assumeTrue(BasaltProcess.isBasalt(), "nbdkit lists only the default export");
        String list = Tools.runOk("nbdinfo", "--list", "--json", named.uri()).stdout();
        List<Object> exports = Json.array(Json.object(Json.parse(list)).get("exports"));
        assertThat(exports).extracting(e -> Json.object(e).get("export-name")).contains("vol1");
        String plain = Tools.runOk("nbdinfo", "--list", named.uri()).stdout();
        assertThat(plain).contains("export=\"vol1\"");
    }

    @Test
    void readOnlyExportSaysSo() throws IOException {
        // A read-only export serves an existing file (basalt refuses to create one read-only).
        Path file = resources.tempDir().resolve("ro.img");
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(4L << 20);
        }
        BasaltProcess readOnly = resources.start(Options.file(file, null).asReadOnly());
        Map<String, Object> export = nbdinfo(readOnly.uri());
        assertThat(export.get("is_read_only")).isEqualTo(true);
        assertThat(export.get("export-size")).isEqualTo(4L << 20);
    }

    /** The single export nbdinfo --json describes for {@code uri}. */
    static Map<String, Object> nbdinfo(String uri) {
        String out = Tools.runOk("nbdinfo", "--json", uri).stdout();
        List<Object> exports = Json.array(Json.object(Json.parse(out)).get("exports"));
        assertThat(exports).as("exports in " + out).hasSize(1);
        return Json.object(exports.getFirst());
    }
}
