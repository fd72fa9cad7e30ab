package io.basalt.cli.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.cli.it.BasaltProcess.Options;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The clients users actually run against an NBD export: nbdcopy, qemu-img, qemu-io and fio's nbd
 * engine. Data goes in and comes back out byte for byte. One server for the class; each test
 * works in its own region of the export so the order does not matter.
 */
class ClientToolsIT {
    @RegisterExtension
    static final ItResources resources = new ItResources();

    private static final long MIB = 1L << 20;
    /** Size of the shared export: qemu-io works in [0, 8 MiB), fio in [32 MiB, 96 MiB). */
    private static final String SHARED_SIZE = "96M";
    private static final long COPY_BYTES = 24 * MIB;
    private static final long NBDCOPY_BYTES = 48 * MIB;

    private static BasaltProcess server;
    private static Path dir;

    @BeforeAll
    static void startServer() {
        dir = resources.tempDir();
        server = resources.start(Options.file(dir.resolve("disk.img"), SHARED_SIZE));
    }

    @Test
    void nbdcopyRoundTripOfRandomData() throws IOException {
        Tools.require("nbdcopy", "libnbd-bin");
        Path source = ItFiles.randomFile(dir.resolve("nbdcopy-in.bin"), NBDCOPY_BYTES, 11);
        Path back = dir.resolve("nbdcopy-out.bin");
        BasaltProcess own = resources.start(Options.file(dir.resolve("nbdcopy.img"), "48M"));

        // Whole export in (several connections: multi-conn), then out again with one connection.
        Tools.runOk("nbdcopy", "--flush", source.toString(), own.uri());
        Tools.runOk("nbdcopy", "--connections=1", own.uri(), back.toString());
        ItFiles.assertSameBytes(source, back);

        // And with a pipe in the middle (nbdcopy streams, no block-status shortcuts).
        Path streamed = dir.resolve("nbdcopy-stream.bin");
        Tools.runOk(Duration.ofSeconds(90), Map.of(), List.of("sh", "-c",
                "nbdcopy --synchronous '" + own.uri() + "' - | cat > '" + streamed + "'"));
        ItFiles.assertSameBytes(source, streamed);
        java.nio.file.Files.delete(streamed);
        java.nio.file.Files.delete(back);
    }

    @Test
    void qemuImgConvertAndCompare() throws IOException {
        Tools.require("qemu-img", "qemu-utils");
        Path source = ItFiles.randomFile(dir.resolve("qemu-in.raw"), COPY_BYTES, 12);
        Path back = dir.resolve("qemu-out.raw");
        // Our own small export, so the sizes match exactly for qemu-img compare.
        BasaltProcess small = resources.start(Options.file(dir.resolve("qemu.img"), "24M"));

        Tools.runOk("qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", source.toString(), small.uri());
        Tools.runOk("qemu-img", "compare", "-f", "raw", "-F", "raw", source.toString(), small.uri());
        Tools.runOk("qemu-img", "convert", "-f", "raw", "-O", "raw", small.uri(), back.toString());
        ItFiles.assertSameBytes(source, back);

        Tools.Result info = Tools.runOk("qemu-img", "info", "--output=json", small.uri());
        assertThat(Json.object(Json.parse(info.stdout())).get("virtual-size")).isEqualTo(COPY_BYTES);

        // A change on the server side must make compare fail (exit 1: images differ).
        Tools.runOk("qemu-io", "-f", "raw", "-c", "write -P 0x11 4096 512", small.uri());
        Tools.Result differs = Tools.run(Tools.COMMAND_TIMEOUT, null, Map.of(), List.of(
                "qemu-img", "compare", "-f", "raw", "-F", "raw", source.toString(), small.uri()));
        assertThat(differs.exitCode()).as(differs.describe()).isEqualTo(1);
    }

    @Test
    void qemuIoPatternsFuaZeroDiscardAndAio() {
        Tools.require("qemu-io", "qemu-utils");
        long base = 0;
        Tools.Result result = Tools.runOk("qemu-io", "-f", "raw",
                "-c", "write -P 0xab " + base + " 1M",
                "-c", "read -P 0xab " + base + " 1M",
                "-c", "write -f -P 0xcd " + (base + MIB) + " 64k",
                "-c", "read -P 0xcd " + (base + MIB) + " 64k",
                "-c", "write -z " + (base + 4096) + " 8k",
                "-c", "read -P 0 " + (base + 4096) + " 8k",
                "-c", "read -P 0xab " + base + " 4k",
                "-c", "read -P 0xab " + (base + 12288) + " 4k",
                "-c", "discard " + (base + 512 * 1024) + " 256k",
                "-c", "read -P 0 " + (base + 512 * 1024) + " 256k",
                "-c", "aio_write -P 0x21 " + (base + 2 * MIB) + " 128k",
                "-c", "aio_write -P 0x22 " + (base + 2 * MIB + 128 * 1024) + " 128k",
                "-c", "aio_flush",
                "-c", "read -P 0x21 " + (base + 2 * MIB) + " 128k",
                "-c", "read -P 0x22 " + (base + 2 * MIB + 128 * 1024) + " 128k",
                "-c", "flush",
                "-c", "write -P 0x33 " + (base + 3 * MIB + 1) + " 3333",
                "-c", "read -P 0x33 " + (base + 3 * MIB + 1) + " 3333",
                "-c", "read -P 0 " + (base + 3 * MIB) + " 1",
                server.uri());
        // qemu-io exits 1 when a command or pattern check fails; check its report too.
        String out = result.stdout() + result.stderr();
        assertThat(out).as(result.describe())
                .doesNotContainIgnoringCase("fail")
                .doesNotContainIgnoringCase("error")
                .contains("read 1048576/1048576 bytes at offset " + base)
                .contains("wrote 3333/3333 bytes");
    }

    @Test
    void fioRandomWritesVerifiedWithCrc32c() {
        Tools.require("fio", "fio");
        long base = 32 * MIB;
        // Two jobs, each its own NBD connection and its own 32 MiB, random writes of mixed sizes
        // at QD8, then fio reads everything back and checks every block's crc32c header.
        // Run in the test's temp dir and keep no verify state: fio would otherwise leave
        // local-nbd-verify-*.state files in the working directory (the module directory).
        Path workDir = resources.tempDir();
        Tools.Result result = Tools.run(Duration.ofSeconds(120), workDir, Map.of(), List.of("fio",
                "--name=nbd-verify", "--ioengine=nbd", "--uri=" + server.uri(),
                "--rw=randwrite", "--bsrange=4k-64k", "--iodepth=8", "--numjobs=2",
                "--offset=" + base, "--size=32m", "--offset_increment=32m",
                "--verify=crc32c", "--verify_fatal=1", "--do_verify=1", "--verify_backlog=0",
                "--verify_state_save=0", "--randrepeat=0", "--group_reporting=1",
                "--output-format=json"));
        assertThat(result.ok()).as(result.describe()).isTrue();
        String out = result.stdout();
        Map<String, Object> job = Json.object(Json.array(
                Json.object(Json.parse(out.substring(out.indexOf('{')))).get("jobs")).getFirst());
        assertThat(job.get("error")).as(out).isEqualTo(0L);
        long written = ((Number) Json.object(job.get("write")).get("io_bytes")).longValue();
        long verified = ((Number) Json.object(job.get("read")).get("io_bytes")).longValue();
        assertThat(written).as("bytes written").isEqualTo(64 * MIB);
        assertThat(verified).as("bytes read back for verification").isEqualTo(64 * MIB);
    }
}
