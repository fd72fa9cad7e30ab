package io.basalt.cli.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.cli.it.BasaltProcess.Options;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
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

    /**
     * SIGKILL the server in the middle of a stream of pipelined writes; after a restart every write
     * it acknowledged is there. (The file lives in the page cache, so this proves the server
     * acknowledges a write only once it reached the file, not power-loss durability.)
     */
    @Test
    void acknowledgedWritesSurviveSigkillMidWrite() throws Exception {
        Path file = dir.resolve("disk.img");
        Path log = dir.resolve("acked.log");
        Path out = dir.resolve("writer.out");
        BasaltProcess server = resources.start(Options.file(file, "64M"));
        Process writer = new ProcessBuilder(Tools.pythonWithNbd(),
                ItFiles.resource("nbd/acked_writes.py").toString(), "write", server.uri(), log.toString())
                .redirectErrorStream(true).redirectOutput(out.toFile()).start();
        resources.register(() -> Tools.killTree(writer));
        long deadlineNanos = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (lineCount(log) < 2000 && writer.isAlive() && System.nanoTime() < deadlineNanos) {
            Thread.sleep(20);
        }
        assertThat(writer.isAlive()).as("writer still writing when the server is killed:\n%s",
                Files.exists(out) ? Files.readString(out) : "").isTrue();
        server.kill();
        assertThat(writer.waitFor(30, TimeUnit.SECONDS)).as("writer noticed the server died").isTrue();
        String writerOutput = Files.readString(out);
        System.out.println(writerOutput + "acknowledged writes logged: " + lineCount(log));
        assertThat(writerOutput.strip()).as(writerOutput).endsWith("ok");

        BasaltProcess restarted = resources.start(Options.file(file, null));
        script("acked_writes.py", "verify", restarted.uri(), log.toString());
    }

    private static long lineCount(Path file) throws IOException {
        if (!Files.exists(file)) {
            return 0;
        }
        try (var lines = Files.lines(file)) {
            return lines.count();
        }
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
