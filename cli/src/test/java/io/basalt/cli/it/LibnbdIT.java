package io.basalt.cli.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.cli.it.BasaltProcess.Options;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The commands beyond plain read/write, driven by python3-libnbd scripts under
 * {@code src/test/resources/nbd/}: TRIM, WRITE_ZEROES (NO_HOLE, FAST_ZERO), BLOCK_STATUS, requests
 * the server must refuse, read-only exports, FLUSH/FUA/multi-conn, pipelining, and data surviving a
 * SIGKILL of the server after FLUSH. Each test gets a fresh sparse file and server.
 */
class LibnbdIT {
    @RegisterExtension
    final ItResources resources = new ItResources();

    private static final Map<String, String> NO_ENV = Map.of();

    private Path dir;

    @BeforeEach
    void setUp() {
        Tools.pythonWithNbd();
        dir = resources.tempDir();
    }

    @Test
    void trimPunchesHoleReportedByBlockStatus() {
        BasaltProcess server = resources.start(Options.file(dir.resolve("disk.img"), "64M"));
        script("trim.py", server.uri(), server.file().toString());
    }

    @Test
    void writeZeroesPlainNoHoleFastZeroAndUnaligned() {
        BasaltProcess server = resources.start(Options.file(dir.resolve("disk.img"), "64M"));
        script("zeroes.py", server.uri(), server.file().toString());
    }

    @Test
    void blockStatusOnSparseFile() {
        BasaltProcess server = resources.start(Options.file(dir.resolve("disk.img"), "64M"));
        script("block_status.py", server.uri());
    }

    @Test
    void requestsPastTheEndZeroLengthAndUnknownFlagsGetTheirErrno() {
        BasaltProcess server = resources.start(Options.file(dir.resolve("disk.img"), "64M"));
        List<String> args = new ArrayList<>(List.of(server.uri()));
        if (BasaltProcess.isBasalt()) {
            args.add("--basalt");
        }
        script("errors.py", args.toArray(String[]::new));
        assertThat(server.isAlive()).isTrue();
    }

    @Test
    void readOnlyExportRefusesWritesWithEperm() throws IOException {
        Path file = dir.resolve("ro.img");
        try (RandomAccessFile raf = new RandomAccessFile(file.toFile(), "rw")) {
            raf.setLength(8L << 20);
            raf.write(new byte[4096]);
            raf.seek(0);
            byte[] pattern = new byte[4096];
            java.util.Arrays.fill(pattern, (byte) 0x5a);
            raf.write(pattern);
        }
        BasaltProcess server = resources.start(Options.file(file, null).asReadOnly());
        script("read_only.py", server.uri(), "5a");
    }

    @Test
    void flushFuaCacheAndMultiConnConsistency() {
        BasaltProcess server = resources.start(Options.file(dir.resolve("disk.img"), "64M"));
        script("flush_fua.py", server.uri());
    }

    @Test
    void pipelinedRequestsAndLargestRequest() {
        BasaltProcess server = resources.start(Options.file(dir.resolve("disk.img"), "64M"));
        script("pipeline.py", server.uri());
    }

    @Test
    void flushedDataSurvivesKillAndRestart() {
        Path file = dir.resolve("disk.img");
        BasaltProcess first = resources.start(Options.file(file, "64M"));
        script("persist.py", first.uri(), "write");
        first.kill();

        BasaltProcess second = resources.start(Options.file(file, null));
        script("persist.py", second.uri(), "verify");
        BasaltProcess third = resources.start(Options.file(file, "64M"));
        script("persist.py", third.uri(), "verify");
    }

    @Test
    void nbdshOneLiners() {
        Tools.require("nbdsh", "libnbd-bin");
        BasaltProcess server = resources.start(Options.file(dir.resolve("disk.img"), "16M"));
        Tools.Result result = Tools.runOk(Tools.COMMAND_TIMEOUT, Tools.pythonPathEnvironment(),
                List.of("nbdsh", "--base-allocation", "-u", server.uri(),
                        "-c", "assert h.get_size() == 16 * 1024 * 1024",
                        "-c", "h.pwrite(b'basalt' * 100, 12345)",
                        "-c", "h.flush()",
                        "-c", "assert h.pread(600, 12345) == b'basalt' * 100",
                        "-c", "assert h.pread(10, 12345 + 600) == bytes(10)",
                        "-c", "print('ok')"));
        assertThat(result.stdout()).contains("ok");
    }

    /** Runs a script from src/test/resources/nbd with the python that has libnbd; must print ok. */
    static Tools.Result script(String name, String... args) {
        Path script = ItFiles.resource("nbd/" + name);
        List<String> command = new ArrayList<>(List.of(Tools.pythonWithNbd(), script.toString()));
        command.addAll(List.of(args));
        Tools.Result result = Tools.runOk(Tools.COMMAND_TIMEOUT, NO_ENV, command);
        System.out.println("$ " + String.join(" ", command) + "\n" + result.stdout());
        assertThat(result.stdout().strip()).as(result.describe()).endsWith("ok");
        return result;
    }
}
