package io.basalt.cli.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.cli.cs.CsProcess;
import io.basalt.meta.api.MetaClient;
import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.ChunkletState;
import io.basalt.meta.model.CsStatus;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Erasure-coded volumes (ec4+2) with real processes: one meta member, six chunk servers on six host
 * labels and the NBD gateway. fio verifies while two chunk servers of a chunk are killed; a third
 * makes writes fail cleanly while reads of the columns still up stay correct; chunk servers that die
 * at each step of the two-phase commit (test crash points) leave every stripe consistent
 * ({@code basalt volume verify}) and every acknowledged write readable; a strip corrupted on disk is
 * read correctly and its column reported; the hot tier; writes with both parity columns of a chunk
 * down. Snapshots and clones, which ran first here, have their own cluster in SnapshotCloneIT.
 *
 * <p>Ran alone (@Isolated) for a day: beside another class, one run of its freezer crash-point test
 * ended with {@code volume verify} reporting a stripe whose parity records a version of data column 0
 * that the column does not hold. The likely cause, since fixed: a rebuild's layout named only its
 * target as RECOVERING, and the master's freezer, which writes with the layout it learned last, skipped
 * the other column this test's two restarts leave being caught up
 * ({@code EcRecoveryTest.aRebuildNamesEveryRecoveringColumnSoTheFreezeItStartsMissesNone}).
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class EcVolumeIT {
    @RegisterExtension
    static final ItResources resources = new ItResources();

    private static final int K = 4;
    private static VolumeCluster cluster;
    private static Path dir;

    @BeforeAll
    static void startCluster() throws Exception {
        dir = resources.tempDir();
        // Crash points are armed by writing a server's crash-at file (CrashPoints), not by a restart;
        // the hot-tier test's freezer folds after 0.5 s instead of 30; the hot stores hold 1 MiB
        // (256 blocks), so that a flood fills them.
        cluster = resources.register(VolumeCluster.start(dir.resolve("cluster"), 1, 6, List.of("--hot-capacity", "1M"),
                List.of("-Dbasalt.test.crashAtFile={dir}/crash-at", "-Dbasalt.cs.freezeAgeMillis=500")));
    }

    /**
     * Arms {@code point} for chunk {@code chunkUid} on chunk server {@code index} (its next hit halts
     * it) and waits until the server has read it (it polls its file every 100 ms).
     */
    private static void arm(int index, String point, long chunkUid) throws Exception {
        Path file = dir.resolve("cluster").resolve("cs" + (index + 1)).resolve("crash-at");
        Files.writeString(file, point + "@" + Long.toHexString(chunkUid));
        Thread.sleep(500);
    }

    /** Chunk {@code index} of {@code volume}, waiting until a write allocated it. */
    private static Chunk chunk(String volume, long index) throws InterruptedException {
        MetaClient meta = cluster.client();
        long volumeId = meta.getVolume(volume).id();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            var chunk = meta.getChunk(volumeId, index, false);
            if (chunk.isPresent()) {
                return chunk.get();
            }
            Thread.sleep(100);
        }
        throw new AssertionError("no write reached chunk " + index + " of " + volume + " within 60 s");
    }

    /** The index in {@code cluster.servers} of the chunk server holding column {@code column}. */
    private static int serverOfColumn(Chunk chunk, int column) {
        Chunklet chunklet = chunk.chunklets().stream().filter(c -> c.index() == column).findFirst().orElseThrow();
        for (int i = 0; i < cluster.servers.size(); i++) {
            if (cluster.servers.get(i).csId == chunklet.csId()) {
                return i;
            }
        }
        throw new AssertionError("no running chunk server " + chunklet.csId());
    }

    /**
     * Restarts chunk server {@code index} (kill -9 first if it runs) on its port, so that clients
     * find it where they knew it (a move to another port is covered by the test of the third column).
     */
    private static void restartServer(int index, List<String> jvmOptions) throws Exception {
        restartServer(index, jvmOptions, cluster.servers.get(index).port);
    }

    private static void restartServer(int index, List<String> jvmOptions, int port) throws Exception {
        CsProcess old = cluster.servers.get(index);
        if (old.alive()) {
            old.kill9();
        }
        Path csDir = dir.resolve("cluster").resolve("cs" + (index + 1));
        Files.deleteIfExists(csDir.resolve("crash-at")); // the point it died at is not armed again
        List<String> options = new ArrayList<>(cluster.csJvmOptions(csDir));
        options.addAll(jvmOptions);
        CsProcess again = CsProcess.startWithArgs(csDir, cluster.meta.peers(), "host" + (index + 1), options, port,
                cluster.csArgs());
        cluster.servers.set(index, again);
        awaitUp(again.csId);
    }

    private static void awaitUp(int csId) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            if (cluster.client().listCs().stream().anyMatch(v -> v.server().id() == csId
                    && v.server().status() == CsStatus.UP)) {
                return;
            }
            Thread.sleep(200);
        }
        throw new AssertionError("chunk server " + csId + " not UP within 60 s");
    }

    /**
     * Creates an ec4+2 volume, retrying for up to 30 s while meta cannot place it (seen once in CI:
     * "6 registered, 5 UP" just after a restart; the cause, a pre-restart heartbeat judged after the
     * new registration, is fixed in meta; the retry stays as a guard against a slow first heartbeat).
     */
    private static void createVolumeOnceAllUp(String volume) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true) {
            try {
                cluster.createVolume(volume, "32M", "ec4+2", "16M");
                return;
            } catch (io.basalt.meta.api.MetaException e) {
                if (e.error() != io.basalt.meta.api.MetaError.NO_PLACEMENT || System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(500);
            }
        }
    }

    private static Path randomFile(String name, int bytes, long seed) throws IOException {
        byte[] data = new byte[bytes];
        new Random(seed).nextBytes(data);
        Path file = dir.resolve(name);
        Files.write(file, data);
        return file;
    }

    private static Tools.Result blocks(String... args) {
        List<String> command = new ArrayList<>(List.of(Tools.pythonWithNbd(),
                ItFiles.resource("nbd/ec_blocks.py").toString()));
        command.addAll(Arrays.asList(args));
        return Tools.run(Duration.ofSeconds(180), null, Tools.pythonPathEnvironment(), command);
    }

    /** The end of the gateway's and chunk servers' logs, for failure messages. */
    private static String logs() {
        return cluster.logTails();
    }

    private static Tools.Result verify(String volume) {
        List<String> command = new ArrayList<>(io.basalt.cli.meta.MetaCluster.javaCommand("io.basalt.cli.Main"));
        command.addAll(List.of("volume", "verify", volume, "--meta", cluster.meta.peers(),
                "--tls-dir", io.basalt.cli.cs.ItTls.dir(io.basalt.common.tls.Role.ADMIN).toString()));
        return Tools.run(Duration.ofSeconds(120), null, Map.of(), command);
    }

    private static Tools.Result basaltCli(String... args) {
        return cluster.cli(args);
    }

    @Test
    @Order(1)
    void fioVerifiesWhileTwoChunkServersOfTheChunkAreKilled() throws Exception {
        Tools.require("fio", "fio");
        cluster.createVolume("degraded", "64M", "ec4+2", "16M");
        Path output = dir.resolve("fio-degraded.out");
        // 48 MiB over three chunks (several seconds of writes, a third of them to chunk 0): both
        // kills land while fio still writes to the chunk. With 16 MiB it once finished before the
        // second kill, and nothing reported the dead master. (fio's rate limit is no help here:
        // asked for 80 writes a second over NBD, it did 13.)
        Process fio = new ProcessBuilder("fio", "--name=ec-degraded", "--ioengine=nbd",
                "--uri=" + cluster.uri("degraded"), "--rw=randwrite", "--bsrange=4k-64k", "--iodepth=8",
                "--size=48m", "--verify=crc32c", "--verify_fatal=1", "--do_verify=1",
                "--verify_state_save=0", "--randrepeat=0")
                .directory(dir.toFile()).redirectErrorStream(true).redirectOutput(output.toFile()).start();
        resources.register(() -> Tools.killTree(fio));
        Chunk chunk = chunk("degraded", 0);
        Thread.sleep(1500);
        // A data column and the stripe master itself.
        cluster.servers.get(serverOfColumn(chunk, 1)).kill9();
        Thread.sleep(1000);
        cluster.servers.get(serverOfColumn(chunk, K)).kill9();
        assertThat(fio.waitFor(300, TimeUnit.SECONDS)).as("fio finished").isTrue();
        String out = Files.readString(output);
        assertThat(fio.exitValue()).as(out + logs()).isZero();
        assertThat(out).as(out).contains("err= 0").doesNotContain("verify: bad");
        // The failure reports reach meta beside the writes that found the servers gone.
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(15);
        Chunk after = cluster.client().getChunk(chunk.volumeId(), 0, false).orElseThrow();
        while (after.chunklets().stream().filter(c -> c.state() != ChunkletState.UPTODATE).count() < 2
                && System.nanoTime() < deadline) {
            Thread.sleep(200);
            after = cluster.client().getChunk(chunk.volumeId(), 0, false).orElseThrow();
        }
        assertThat(after.chunklets().stream().filter(c -> c.state() != ChunkletState.UPTODATE).count())
                .as("the two killed columns are marked in meta: %s", after.chunklets()).isEqualTo(2);
    }

    @Test
    @Order(2)
    void aThirdChunkServerDownFailsWritesCleanlyAndReadsOfLiveColumnsStayCorrect() throws Exception {
        Chunk chunk = cluster.client().getChunk(cluster.client().getVolume("degraded").id(), 0, false).orElseThrow();
        Path expected = dir.resolve("degraded.bin");
        Tools.runOk(Duration.ofSeconds(120), Map.of(), List.of("nbdcopy", cluster.uri("degraded"),
                expected.toString()));
        // Columns still UPTODATE; stop one more data column (2 of chunk 0): only 3 of 6 remain.
        int victimColumn = 2;
        chunk.chunklets().stream().filter(c -> c.index() == victimColumn && c.state() == ChunkletState.UPTODATE)
                .findFirst().orElseThrow();
        int victim = serverOfColumn(chunk, victimColumn);
        cluster.servers.get(victim).kill9();
        Path update = randomFile("update-1m.bin", 1 << 20, 77);
        Tools.Result write = blocks("write", cluster.uri("degraded"), "0", update.toString());
        assertThat(write.exitCode()).as(write.describe() + logs()).isEqualTo(3);
        // Reads: a block whose data column is up reads back; one on the dead column fails, never wrong.
        Tools.Result read = blocks("read", cluster.uri("degraded"), String.valueOf(256 << 10), expected.toString());
        assertThat(read.exitCode()).as(read.describe()).isZero();
        long okLive = 0;
        for (String line : read.stdout().split("\n")) {
            String[] parts = line.split(" ", 3);
            int block = Integer.parseInt(parts[0]);
            int column = block % K;
            boolean live = chunk.chunklets().stream().anyMatch(c -> c.index() == column
                    && c.state() == ChunkletState.UPTODATE) && column != victimColumn;
            assertThat(parts[1]).as("block %d (column %d): %s", block, column, line).isNotEqualTo("mismatch");
            if (live) {
                assertThat(parts[1]).as("block %d on a live column: %s", block, line).isEqualTo("ok");
                okLive++;
            }
        }
        assertThat(okLive).as("blocks on the columns still up").isPositive();
        // Nothing was half-written: with the third column back (on another port: the client must
        // find it there), the volume still holds what it held.
        restartServer(victim, List.of(), 0);
        Tools.Result again = blocks("read", cluster.uri("degraded"), String.valueOf(1 << 20), expected.toString());
        assertThat(again.stdout()).as(again.describe() + logs()).doesNotContain("mismatch").doesNotContain("error");
        // And writes go on (degraded: 4 of 6 columns).
        Tools.Result written = blocks("write", cluster.uri("degraded"), "0", update.toString());
        assertThat(written.exitCode()).as(written.describe()).isZero();
        Tools.Result updated = blocks("read", cluster.uri("degraded"), String.valueOf(1 << 20), update.toString());
        assertThat(updated.stdout()).as(updated.describe() + logs()).doesNotContain("mismatch").doesNotContain("error");
    }

    /** One crash point of {@link #fourChunkServersDyingAtTheFourStepsOfTheCommitLeaveEveryStripeConsistent}. */
    private record CrashCase(String point, String volume, Path initial, long chunkUid, int target) {}

    /**
     * The four crash points of the two-phase commit, two at a time, each armed for its own volume's
     * chunk ({@code point@uid}) on its own running server (its crash-at file):
     * a master point on the stripe master (column K) of one volume and a column point on a data column
     * of another volume on another server. Then each round's two writes, each killing its server,
     * both restarted, and finally every volume read back and verified. At most two servers are ever
     * down at once (ec4+2's limit).
     */
    @Test
    @Order(3)
    void fourChunkServersDyingAtTheFourStepsOfTheCommitLeaveEveryStripeConsistent() throws Exception {
        restartDeadServers();
        cluster.awaitChunkServersUp(6);
        List<List<String>> rounds = List.of(List.of("master.after-prepare", "column.after-prepare"),
                List.of("master.after-decision", "column.before-resolve"));
        List<CrashCase> all = new ArrayList<>();
        for (List<String> round : rounds) {
            List<CrashCase> cases = new ArrayList<>();
            for (String point : round) {
                String volume = "crash-" + point.replace('.', '-');
                createVolumeOnceAllUp(volume);
                Path initial = randomFile(volume + "-initial.bin", 4 << 20, volume.hashCode());
                Tools.Result first = blocks("write", cluster.uri(volume), "0", initial.toString());
                assertThat(first.exitCode()).as(first.describe() + logs()).isZero();
                Chunk chunk = chunk(volume, 0);
                int target = -1;
                for (int column : point.startsWith("master") ? List.of(K) : List.of(0, 1, 2, 3)) {
                    int server = serverOfColumn(chunk, column);
                    if (target < 0 && cases.stream().noneMatch(c -> c.target() == server)) {
                        target = server;
                    }
                }
                cases.add(new CrashCase(point, volume, initial, chunk.uid(), target));
            }
            for (CrashCase c : cases) {
                arm(c.target(), c.point(), c.chunkUid());
            }
            for (CrashCase c : cases) {
                // The write that hits the crash point: the gateway retries past the dead server.
                Path update = randomFile(c.volume() + "-update.bin", 1 << 20, c.volume().hashCode() + 1);
                Tools.Result write = blocks("write", cluster.uri(c.volume()), "0", update.toString());
                assertThat(write.exitCode()).as(c.point() + ": " + write.describe()).isZero();
                CsProcess crashed = cluster.servers.get(c.target());
                if (!c.point().equals("column.before-resolve")) {
                    assertThat(crashed.process.waitFor(30, TimeUnit.SECONDS))
                            .as(c.point() + ": the crash point was reached" + logs()).isTrue();
                } else {
                    crashed.process.waitFor(10, TimeUnit.SECONDS); // reached once a commit arrives
                }
            }
            disarmAll(); // a point not reached (before-resolve may not be) must not fire later
            restartDeadServers();
            all.addAll(cases);
        }
        // Reads are correct at once (a dead column is decoded around); the verify below compares
        // every column, so it waits until the restarted servers' columns are caught up.
        for (CrashCase c : all) {
            cluster.awaitHealed(c.volume(), -1, Duration.ofSeconds(90));
        }
        for (CrashCase c : all) {
            byte[] want = Files.readAllBytes(c.initial());
            System.arraycopy(Files.readAllBytes(dir.resolve(c.volume() + "-update.bin")), 0, want, 0, 1 << 20);
            Path expected = dir.resolve(c.volume() + "-expected.bin");
            Files.write(expected, want);
            Tools.Result read = blocks("read", cluster.uri(c.volume()), String.valueOf(4 << 20), expected.toString());
            assertThat(read.stdout()).as(c.point() + ": " + read.describe()).doesNotContain("mismatch")
                    .doesNotContain("error");
            Tools.Result verified = verify(c.volume());
            assertThat(verified.exitCode()).as(c.point() + ": " + verified.describe()).isZero();
            assertThat(verified.stdout()).as(c.point() + ": " + verified.describe()).contains(" 0 mismatched");
        }
    }

    /** Removes every chunk server's crash-at file: nothing armed any more. */
    private static void disarmAll() throws IOException {
        for (int i = 0; i < cluster.servers.size(); i++) {
            Files.deleteIfExists(dir.resolve("cluster").resolve("cs" + (i + 1)).resolve("crash-at"));
        }
    }

    /** Restarts, in parallel, every chunk server that is not running (plainly: no crash point armed). */
    private static void restartDeadServers() throws Exception {
        List<java.util.concurrent.Callable<Void>> restarts = new ArrayList<>();
        for (int i = 0; i < cluster.servers.size(); i++) {
            int index = i;
            if (!cluster.servers.get(i).alive()) {
                restarts.add(() -> {
                    restartServer(index, List.of());
                    return null;
                });
            }
        }
        inParallel(restarts);
    }

    /** Runs {@code tasks} at once (chunk server restarts: mostly JVM start-up) and rethrows a failure. */
    private static void inParallel(List<java.util.concurrent.Callable<Void>> tasks) throws Exception {
        try (var executor = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
            List<java.util.concurrent.Future<Void>> futures = new ArrayList<>();
            for (var task : tasks) {
                futures.add(executor.submit(task));
            }
            for (var future : futures) {
                try {
                    future.get();
                } catch (java.util.concurrent.ExecutionException e) {
                    throw e.getCause() instanceof Exception cause ? cause : e;
                }
            }
        }
    }

    @Test
    @Order(4)
    void aStripCorruptedOnDiskIsReadCorrectlyAndItsColumnReported() throws Exception {
        restartDeadServers();
        cluster.awaitChunkServersUp(6);
        createVolumeOnceAllUp("corrupt");
        Path data = randomFile("corrupt.bin", 1 << 20, 77);
        Tools.Result written = blocks("write", cluster.uri("corrupt"), "0", data.toString());
        assertThat(written.exitCode()).as(written.describe() + logs()).isZero();
        // Read once: every column has the write applied (a read settles what is still pending).
        Tools.Result first = blocks("read", cluster.uri("corrupt"), String.valueOf(1 << 20), data.toString());
        assertThat(first.stdout()).as(first.describe()).doesNotContain("mismatch").doesNotContain("error");
        Chunk chunk = chunk("corrupt", 0);
        int victim = serverOfColumn(chunk, 1);
        // Bit rot on the disk of column 1: strip 1 of stripe 3 (logical offset 3 * 16 KiB + 4 KiB).
        Path file = dir.resolve("cluster").resolve("cs" + (victim + 1)).resolve("chunklets")
                .resolve(String.format("%016x.data", chunk.uid()));
        try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(file,
                java.nio.file.StandardOpenOption.WRITE)) {
            channel.write(java.nio.ByteBuffer.wrap(new byte[] {1, 2, 3, 4, 5, 6, 7, 8}), 3 * 4096 + 100);
        }
        Tools.Result read = blocks("read", cluster.uri("corrupt"), String.valueOf(1 << 20), data.toString());
        assertThat(read.stdout()).as(read.describe() + logs()).doesNotContain("mismatch").doesNotContain("error");
        // The report bumped the chunk's version (OUTDATED); the recoverer, its server being up, may
        // already have caught it up (RECOVERING, then UPTODATE: two more bumps). Each state races the
        // recoverer; the version only grows.
        Chunk after = cluster.client().getChunk(chunk.volumeId(), 0, false).orElseThrow();
        assertThat(after.version())
                .as("the column that returned a corrupt block is reported: %s", after.chunklets())
                .isGreaterThan(chunk.version());
    }

    /**
     * The freezer's two crash points (docs/hot-tier.md, "Freezer") with real processes: the stripe
     * master of one chunk of volume "hot" dies after a freeze's EC writes committed and before any hot
     * copy was freed, the master of another after freeing its own copies and before the other
     * replicas' (both at once when that leaves each chunk a parity column; else two rounds). Each is armed
     * for its chunk on the running server, whose freezer folds after 0.5 s, and gets new hot writes to
     * freeze; the servers halt and are restarted; then every
     * block of the volume reads back its last write. {@code pattern}: each written block's qemu-io
     * pattern, updated here.
     */
    private void freezerKilledAtItsTwoCrashPointsLosesNoWrite(int[] pattern) throws Exception {
        List<String> points = List.of("freezer.after-commit", "freezer.after-own-free");
        // Two chunks whose masters can die at once: neither master is the other chunk's second parity
        // column (with both parity columns of a chunk down its writes have no stripe master and fail,
        // EIO, as Ceph's do below min_size k + 1, and the round's writes must succeed). Masters rotate
        // with the chunk index, so neighbours are not apart; 0 and 2 usually are. Else two rounds.
        List<Chunk> all = List.of(chunk("hot", 0), chunk("hot", 1), chunk("hot", 2));
        List<Integer> picked = List.of(0, 1);
        boolean apart = false;
        for (int i = 0; i < all.size() && !apart; i++) {
            for (int j = i + 1; j < all.size() && !apart; j++) {
                int mi = serverOfColumn(all.get(i), K);
                int mj = serverOfColumn(all.get(j), K);
                apart = mi != mj && serverOfColumn(all.get(i), K + 1) != mj && serverOfColumn(all.get(j), K + 1) != mi;
                picked = apart ? List.of(i, j) : picked;
            }
        }
        List<Chunk> chunks = List.of(all.get(picked.get(0)), all.get(picked.get(1)));
        List<Integer> masters = List.of(serverOfColumn(chunks.get(0), K), serverOfColumn(chunks.get(1), K));
        List<List<Integer>> rounds = apart ? List.of(List.of(0, 1)) : List.of(List.of(0), List.of(1));
        System.out.println("freezer crash points on chunks " + picked + " (masters cs index " + masters + "), "
                + rounds.size() + " round(s)");
        int blocksPerChunk = (16 << 20) >> 12;
        int next = 1000;
        for (List<Integer> round : rounds) {
            cluster.awaitHealed("hot", -1, Duration.ofSeconds(90)); // after a restart: stripe master again
            for (int c : round) {
                arm(masters.get(c), points.get(c), chunks.get(c).uid());
            }
            // Hot writes to the chunks of this round (the restarted master learns their layout from
            // them); the freezer folds them after 0.5 s and its server halts at the point.
            List<String> writes = new ArrayList<>(List.of("qemu-io", "-f", "raw"));
            for (int c : round) {
                for (int i = 0; i < 8; i++) {
                    int block = picked.get(c) * blocksPerChunk + 3 * i;
                    pattern[block] = 1 + (next++ % 250);
                    writes.addAll(List.of("-c", "write -P " + pattern[block] + " " + ((long) block << 12) + " 4k"));
                }
            }
            writes.add(cluster.uri("hot"));
            Tools.runOk(Duration.ofSeconds(120), Map.of(), writes);
            for (int c : round) {
                assertThat(cluster.servers.get(masters.get(c)).process.waitFor(30, TimeUnit.SECONDS))
                        .as("the freezer reached " + points.get(c) + logs()).isTrue();
            }
            restartDeadServers();
        }
        cluster.awaitHealed("hot", -1, Duration.ofSeconds(90));
        List<String> reads = new ArrayList<>(List.of("qemu-io", "-f", "raw"));
        for (int block = 0; block < pattern.length; block++) {
            if (pattern[block] != 0) {
                reads.addAll(List.of("-c", "read -P " + pattern[block] + " " + ((long) block << 12) + " 4k"));
            }
        }
        reads.add(cluster.uri("hot"));
        Tools.Result read = Tools.run(Duration.ofSeconds(120), null, Map.of(), reads);
        assertThat(read.exitCode()).as(read.describe()).isZero();
        assertThat(read.stdout() + read.stderr()).as("after the freezer crashes: " + read.describe())
                .doesNotContain("verification failed").doesNotContain("error");
    }

    /**
     * The hot tier (docs/hot-tier.md) as a user turns it on: {@code volume create --hot-tier} (refused,
     * in one line, for a replicated volume), 4 KiB writes through the NBD gateway that land in the
     * real chunk servers' hot stores, every block read back (data columns merge hot over the stripes),
     * the stripes consistent, and {@code volume hot-tier NAME off} live.
     */
    @Test
    @Order(5)
    void hotTierWritesReadBackAndLeaveTheStripesConsistent() throws Exception {
        restartDeadServers();
        cluster.awaitChunkServersUp(6);
        Tools.Result refused = basaltCli("volume", "create", "hot-rep", "--size", "32M", "--policy", "rep3",
                "--hot-tier");
        assertThat(refused.exitCode()).as(refused.describe()).isNotZero();
        assertThat(refused.stderr()).as(refused.describe()).contains("the hot tier is for erasure-coded volumes");
        Tools.Result created = basaltCli("volume", "create", "hot", "--size", "48M", "--policy", "ec4+2",
                "--chunk-size", "16M", "--hot-tier");
        assertThat(created.exitCode()).as(created.describe()).isZero();
        assertThat(created.stdout()).as(created.describe()).contains("hot tier on");
        int blocks = 48 << 20 >> 12;
        int[] pattern = new int[blocks];
        Random random = new Random(18);
        List<String> writes = new ArrayList<>(List.of("qemu-io", "-f", "raw"));
        for (int n = 0; n < 100; n++) {
            int block = random.nextInt(n < 50 ? 24 : blocks); // overwrites first, then spread
            pattern[block] = 1 + n;
            writes.addAll(List.of("-c", "write -P " + pattern[block] + " " + ((long) block << 12) + " 4k"));
        }
        writes.add(cluster.uri("hot"));
        Tools.runOk(Duration.ofSeconds(120), Map.of(), writes);
        List<String> reads = new ArrayList<>(List.of("qemu-io", "-f", "raw"));
        for (int block = 0; block < blocks; block++) {
            if (pattern[block] != 0) {
                reads.addAll(List.of("-c", "read -P " + pattern[block] + " " + ((long) block << 12) + " 4k"));
            }
        }
        reads.add(cluster.uri("hot"));
        Tools.Result read = Tools.run(Duration.ofSeconds(120), null, Map.of(), reads);
        assertThat(read.exitCode()).as(read.describe()).isZero();
        assertThat(read.stdout() + read.stderr()).as(read.describe()).doesNotContain("verification failed")
                .doesNotContain("error");
        long hotBytes = 0;
        for (int i = 1; i <= cluster.servers.size(); i++) {
            Path hotData = dir.resolve("cluster").resolve("cs" + i).resolve("hot").resolve("hot.data");
            hotBytes += Files.exists(hotData) ? Files.size(hotData) : 0;
        }
        assertThat(hotBytes).as("the writes went to the hot stores").isPositive();
        freezerKilledAtItsTwoCrashPointsLosesNoWrite(pattern);
        Tools.Result verified = verify("hot");
        assertThat(verified.exitCode()).as(verified.describe()).isZero();
        assertThat(verified.stdout()).as(verified.describe()).contains(" 0 mismatched");
        // basalt status shows the hot stores and the freezer, from every server's heartbeat.
        // volume info asks the chunk servers what the volume holds: chunklets and hot copies (the
        // text line, below, gives the same figures); status shows the hot stores and the freezer,
        // from every server's heartbeat.
        Tools.Result spaceJson = basaltCli("volume", "info", "hot", "--json");
        assertThat(spaceJson.stdout()).as(spaceJson.describe()).containsPattern("\"storedRawBytes\":[1-9]")
                .contains("\"hotBytes\":").contains("\"storedUnanswered\":0");
        Tools.Result status = basaltCli("status");
        assertThat(status.stdout()).as(status.describe()).contains("hot tier: ").contains("FROZEN SINCE START")
                .containsPattern("of [0-9.]+ [KMG]iB \\(");
        Tools.Result off = basaltCli("volume", "hot-tier", "hot", "off");
        assertThat(off.stdout()).as(off.describe()).contains("volume hot hot tier: off");
        Tools.Result info = basaltCli("volume", "info", "hot");
        assertThat(info.stdout()).as(info.describe()).contains("off (every write to the stripes")
                .contains("stored on the chunk servers: ").contains(" hot copies = ");
    }

    /**
     * The hot store's hard limit (issue #18): a flood of 3,072 random 4 KiB writes to one chunk of an
     * ec4+2 volume made with the CLI's default (hot tier on; --no-hot-tier makes one without). Both
     * parity columns hold a hot copy of every block, 1 MiB (256 blocks) each, so they fill faster
     * than the freezer drains them: they refuse (one log line per filling), the
     * client writes those blocks to the stripes, and no write fails. fio reads every block back
     * (verify=crc32c), the freezer empties the stores, and every stripe verifies.
     */
    @Test
    @Order(6)
    void aFloodOfSmallWritesFillsTheHotStoresAndWritesGoOnToTheStripes() throws Exception {
        Tools.require("fio", "fio");
        restartDeadServers();
        cluster.awaitChunkServersUp(6);
        // The hot tier is the default of an erasure-coded volume; --no-hot-tier leaves it off.
        Tools.Result cold = basaltCli("volume", "create", "no-hot", "--size", "16M", "--policy", "ec4+2",
                "--no-hot-tier");
        assertThat(cold.exitCode()).as(cold.describe()).isZero();
        assertThat(cold.stdout()).as(cold.describe()).doesNotContain("hot tier");
        assertThat(cluster.client().getVolume("no-hot").hotTier()).isFalse();
        cluster.client().deleteVolume("no-hot");
        Tools.Result created = basaltCli("volume", "create", "flood", "--size", "16M", "--policy", "ec4+2",
                "--chunk-size", "16M");
        assertThat(created.exitCode()).as(created.describe()).isZero();
        assertThat(created.stdout()).as(created.describe()).contains("hot tier on");
        Path output = dir.resolve("fio-flood.out");
        Process fio = new ProcessBuilder("fio", "--name=hot-flood", "--ioengine=nbd", "--uri=" + cluster.uri("flood"),
                "--rw=randwrite", "--bs=4k", "--iodepth=16", "--size=12m", "--verify=crc32c", "--verify_fatal=1",
                "--do_verify=1", "--verify_state_save=0", "--randrepeat=0")
                .redirectErrorStream(true).redirectOutput(output.toFile()).start();
        resources.register(() -> Tools.killTree(fio));
        assertThat(fio.waitFor(300, TimeUnit.SECONDS)).as("fio finished").isTrue();
        String out = Files.readString(output);
        assertThat(fio.exitValue()).as(out + logs()).isZero();
        assertThat(out).doesNotContain("verify: bad");
        java.util.regex.Pattern full = java.util.regex.Pattern.compile("hot store \\S+ full \\(\\d+ of 256 slots\\)");
        long filled = cluster.servers.stream().filter(cs -> full.matcher(cs.output).find()).count();
        assertThat(filled).as("hot stores that filled and refused" + logs()).isGreaterThanOrEqualTo(1);

        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        Tools.Result info = basaltCli("volume", "info", "flood", "--json");
        while (!info.stdout().contains("\"hotBytes\":0,") && System.nanoTime() < deadline) {
            Thread.sleep(1000);
            info = basaltCli("volume", "info", "flood", "--json");
        }
        assertThat(info.stdout()).as("the freezer emptied the hot stores: " + info.describe())
                .contains("\"hotBytes\":0,").contains("\"storedUnanswered\":0");
        Tools.Result verified = verify("flood");
        assertThat(verified.exitCode()).as(verified.describe()).isZero();
        assertThat(verified.stdout()).as(verified.describe()).contains(" 0 mismatched");
        cluster.deleteOnceClosed("flood");
    }

    /**
     * Issue #18's degraded operation with m chunk servers down, where it is hardest: both parity
     * columns of a chunk (docs/chunkserver.md, "Writes with every parity column down"). With no stripe
     * master left, writes go to each data column directly; fio verifies every one (a hot-tier volume:
     * its small writes go direct too). The two servers come back: the first parity column is encoded
     * from the data columns, the second caught up through it, every stripe verifies and the volume
     * reads what it read before.
     */
    @Test
    @Order(7)
    void bothParityColumnsOfAChunkDownWritesGoOnAndTheParityFollowsThemBack() throws Exception {
        Tools.require("fio", "fio");
        restartDeadServers();
        cluster.awaitChunkServersUp(6);
        Tools.Result created = basaltCli("volume", "create", "noparity", "--size", "16M", "--policy", "ec4+2",
                "--chunk-size", "16M");
        assertThat(created.exitCode()).as(created.describe()).isZero();
        Tools.runOk(Duration.ofSeconds(60), Map.of(), List.of("qemu-io", "-f", "raw", "-c", "write -P 7 0 1M",
                cluster.uri("noparity")));
        Chunk chunk = chunk("noparity", 0);
        List<Integer> parity = List.of(serverOfColumn(chunk, K), serverOfColumn(chunk, K + 1));
        for (int server : parity) {
            cluster.servers.get(server).kill9();
        }
        Path output = dir.resolve("fio-noparity.out");
        Process fio = new ProcessBuilder("fio", "--name=noparity", "--ioengine=nbd", "--uri=" + cluster.uri("noparity"),
                "--rw=randwrite", "--bsrange=4k-64k", "--iodepth=8", "--size=16m", "--verify=crc32c",
                "--verify_fatal=1", "--do_verify=1", "--verify_state_save=0", "--randrepeat=0")
                .redirectErrorStream(true).redirectOutput(output.toFile()).start();
        resources.register(() -> Tools.killTree(fio));
        assertThat(fio.waitFor(300, TimeUnit.SECONDS)).as("fio finished").isTrue();
        String out = Files.readString(output);
        assertThat(fio.exitValue()).as(out + logs()).isZero();
        assertThat(out).as(out).contains("err= 0").doesNotContain("verify: bad");
        Chunk degraded = cluster.client().getChunk(chunk.volumeId(), 0, false).orElseThrow();
        assertThat(degraded.chunklets().stream().filter(c -> c.index() >= K && c.state() == ChunkletState.UPTODATE))
                .as("no parity column took those writes: %s", degraded.chunklets()).isEmpty();
        Tools.Result status = basaltCli("status");
        assertThat(status.stdout()).as(status.describe())
                .containsPattern("[1-9][0-9]* of them with no parity column taking writes: their new writes are on one"
                        + " copy");
        Path before = dir.resolve("noparity-before.raw");
        Tools.runOk(Duration.ofSeconds(120), Map.of(), List.of("nbdcopy", cluster.uri("noparity"), before.toString()));
        for (int server : parity) {
            restartServer(server, List.of());
        }
        cluster.awaitHealed("noparity", -1, Duration.ofSeconds(120));
        Tools.Result verified = verify("noparity");
        assertThat(verified.exitCode()).as(verified.describe() + logs()).isZero();
        assertThat(verified.stdout()).as(verified.describe()).contains(" 0 mismatched");
        Path after = dir.resolve("noparity-after.raw");
        Tools.runOk(Duration.ofSeconds(120), Map.of(), List.of("nbdcopy", cluster.uri("noparity"), after.toString()));
        assertThat(Files.mismatch(before, after)).as("the volume reads what it read before the parity came back")
                .isEqualTo(-1);
        cluster.deleteOnceClosed("noparity");
    }

    /**
     * Both parity columns down, and a data column holding a strip the dead master left pending (it
     * answered the write, then died before telling any column: {@code master.after-decision}). The
     * data column cannot serve that strip alone and there is no master to decide it; the read waits
     * until the master's server is back and its column encoded from the data columns (which rolls
     * the strip forward), and returns the acknowledged write. Before, it failed at once with EIO (the
     * thrasher, seed 19000344318253).
     */
    @Test
    @Order(9)
    void aStripADeadMasterLeftPendingIsReadOnceAParityColumnIsBackWhenBothWereDown() throws Exception {
        restartDeadServers();
        cluster.awaitChunkServersUp(6);
        cluster.createVolume("pendread", "16M", "ec4+2", "16M"); // no hot tier: a small write is a 2PC
        String uri = cluster.uri("pendread");
        Tools.runOk(Duration.ofSeconds(60), Map.of(), List.of("qemu-io", "-f", "raw", "-c", "write -P 1 0 1M", uri));
        Chunk chunk = chunk("pendread", 0);
        int master = serverOfColumn(chunk, K);
        int second = serverOfColumn(chunk, K + 1);
        cluster.servers.get(second).kill9();
        // A write meets the dead second parity column: reported, meta makes it OUTDATED.
        Tools.runOk(Duration.ofSeconds(60), Map.of(), List.of("qemu-io", "-f", "raw", "-c", "write -P 2 64k 4k", uri));
        arm(master, "master.after-decision", chunk.uid());
        Tools.Result pending = Tools.run(Duration.ofSeconds(60), null, Map.of(), List.of("qemu-io", "-f", "raw", "-c",
                "write -P 3 128k 4k", uri));
        assertThat(cluster.servers.get(master).process.waitFor(30, TimeUnit.SECONDS))
                .as("the master halted at its crash point: " + pending.describe() + logs()).isTrue();
        Thread brings = Thread.ofVirtual().start(() -> {
            try {
                Thread.sleep(4000);
                restartServer(master, List.of());
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        Tools.Result read = Tools.run(Duration.ofSeconds(120), null, Map.of(), List.of("qemu-io", "-f", "raw", "-c",
                "read -P 3 128k 4k", uri));
        brings.join();
        assertThat(read.stdout() + read.stderr()).as(pending.describe() + "\n" + read.describe() + logs())
                .doesNotContain("failed").contains("read 4096/4096 bytes");
        Tools.Result older = Tools.run(Duration.ofSeconds(60), null, Map.of(), List.of("qemu-io", "-f", "raw", "-c",
                "read -P 2 64k 4k", "-c", "read -P 1 0 64k", uri));
        assertThat(older.stdout() + older.stderr()).as(older.describe()).doesNotContain("failed");
        disarmAll();
        restartDeadServers();
        cluster.awaitHealed("pendread", -1, Duration.ofSeconds(120));
        Tools.Result verified = verify("pendread");
        assertThat(verified.exitCode()).as(verified.describe() + logs()).isZero();
        assertThat(verified.stdout()).as(verified.describe()).contains(" 0 mismatched");
        cluster.deleteOnceClosed("pendread");
    }

    /**
     * A connection that stayed open while two columns of a chunk went down and came back holds the
     * map from when they were down: k columns UPTODATE, the second parity column its stripe master.
     * When that master dies, nothing tells the connection its map is old (no write reaches a live
     * server to be refused as stale), and by that map the master is one of the last k, never
     * reported. The device asks meta again and writes on through the first parity column; before,
     * it retried the dead master until its tries ran out (EIO; found by the thrasher with snapshots).
     */
    @Test
    @Order(8)
    void aConnectionWhoseMapPredatesARebuildWritesOnWhenItsOldMasterDies() throws Exception {
        restartDeadServers();
        cluster.awaitChunkServersUp(6);
        cluster.createVolume("longopen", "16M", "ec4+2", "16M");
        Random random = new Random(81);
        byte[][] writes = new byte[3][64 << 10];
        for (byte[] w : writes) {
            random.nextBytes(w);
        }
        try (RawNbdClient nbd = resources.register(RawNbdClient.open(cluster.nbdPort(), "longopen"))) {
            nbd.write(1, 0, writes[0], RawNbdClient.CMD_FLAG_FUA);
            Chunk chunk = chunk("longopen", 0);
            List<Integer> down = List.of(serverOfColumn(chunk, 0), serverOfColumn(chunk, K));
            int secondParity = serverOfColumn(chunk, K + 1);
            for (int server : down) {
                cluster.servers.get(server).kill9();
            }
            nbd.write(2, 64 << 10, writes[1], RawNbdClient.CMD_FLAG_FUA); // reports both: master K + 1
            for (int server : down) {
                restartServer(server, List.of());
            }
            cluster.awaitHealed("longopen", -1, Duration.ofSeconds(120));
            cluster.servers.get(secondParity).kill9();
            nbd.write(3, 128 << 10, writes[2], RawNbdClient.CMD_FLAG_FUA);
            for (int i = 0; i < writes.length; i++) {
                assertThat(nbd.read(4 + i, (long) i << 16, 64 << 10)).as("write " + i).isEqualTo(writes[i]);
            }
            nbd.disconnect();
        } catch (AssertionError | IOException e) {
            throw new AssertionError(e.getMessage() + logs(), e);
        }
        restartDeadServers();
        cluster.deleteOnceClosed("longopen");
    }
}
