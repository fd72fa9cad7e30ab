package io.basalt.cli.it;

import io.basalt.cli.cs.CsProcess;
import io.basalt.cli.meta.MetaCluster;
import io.basalt.meta.api.CsView;
import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.ChunkletRole;
import io.basalt.meta.model.ChunkletState;
import io.basalt.meta.model.CsStatus;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.LocalTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Thrashes the chunk servers of a {@link VolumeCluster} (teuthology's thrashosds, for Basalt)
 * while fio writes and verifies every volume under test through NBD, then checks that the
 * cluster healed itself and lost nothing.
 *
 * <p>Design note. One seeded {@link Random} draws every choice of the action loop (which server,
 * kill or pause, for how long, the gap to the next action), so a run prints its seed and
 * {@code bench/thrash.sh SECONDS SEED} replays the same draws; the timing of the real processes
 * still differs between runs, and with it which draws the budget refuses. Actions:
 * <ul>
 *   <li>kill -9, restart after {@link Config#killDownMin}..{@link Config#killDownMax} on the same
 *       data directory and port (a restarted server keeps its data and catches up in place, or
 *       finds its chunklets rebuilt elsewhere if it stayed away longer than the grace);</li>
 *   <li>SIGSTOP, SIGCONT after {@link Config#pauseMin}..{@link Config#pauseMax}.</li>
 * </ul>
 * Two limits keep every run within what the policies survive, so that any lost or unreadable
 * byte is a bug: at most {@link Config#maxDisturbed} servers are ours to count at once, a server
 * counting from its kill or pause until it is back and none of its chunklets is behind
 * (OUTDATED, RECOVERING); and a server is disturbed only if no chunk it holds would then have more
 * chunklets lost than its policy tolerates (rep3: 2, ec4+2: 2), a chunklet being lost while it is
 * not UPTODATE (whoever caused it: our faults, or meta judging a busy server UNHEALTHY on its own)
 * or while its server is killed or paused. With the default of 1 each disturbance is caught up
 * before the next; with 2 (the long run) two overlap.
 *
 * <p>A monitor thread polls meta once a second: degraded chunks (how many healed), meta's view of
 * each server, and the recovery counters in each server's heartbeat (summed over restarts: a
 * restarted server's counters start again at 0). Every line it prints carries the wall clock and
 * the seconds since the start; the lines, and every chunk server's output (every incarnation),
 * meta's log and the gateway's go to {@link Config#logDir} at the end.
 *
 * <p>Threads: the action loop runs on the caller's thread; each disturbance is undone on a
 * virtual thread of its own; fio runs on one thread per volume. {@code cluster.servers} and
 * {@link #disturbed} are changed under this object's lock only.
 */
final class Thrasher {
    private static final DateTimeFormatter CLOCK = DateTimeFormatter.ofPattern("HH:mm:ss.SSS", Locale.ROOT);
    private static final long MIB = 1L << 20;
    /** fio writes this much per run, at an offset drawn per run, then verifies it. */
    private static final long FIO_RUN_BYTES = 48 * MIB;
    /** One fio run moves 48 MiB twice; minutes even with a server stalled, never an hour. */
    private static final Duration FIO_RUN_TIMEOUT = Duration.ofMinutes(10);

    /** What to do and for how long; {@link #fromSystemProperties} reads the bench overrides. */
    record Config(long seed, Duration thrashFor, int maxDisturbed, Duration gapMin, Duration gapMax,
                  Duration killDownMin, Duration killDownMax, Duration pauseMin, Duration pauseMax,
                  Duration healTimeout, Path logDir, Duration snapshotEvery) {
        /**
         * Defaults for the short run, overridden by {@code -Dbasalt.thrash.seconds},
         * {@code .seed}, {@code .maxDisturbed}, {@code .healSeconds} (how long the cluster may take to
         * heal once every server is back), {@code .logDir}, {@code .snapshotSeconds} (a snapshot of
         * the next volume this often, {@link ThrashSnapshots}; 0: none).
         */
        static Config fromSystemProperties(long defaultSeconds, int defaultMaxDisturbed, long defaultSnapshotSeconds) {
            long seed = Long.getLong("basalt.thrash.seed", new Random().nextLong() & Long.MAX_VALUE);
            long seconds = Long.getLong("basalt.thrash.seconds", defaultSeconds);
            int maxDisturbed = Integer.getInteger("basalt.thrash.maxDisturbed", defaultMaxDisturbed);
            Path logDir = Path.of(System.getProperty("basalt.thrash.logDir", "target/thrash-" + seed));
            return new Config(seed, Duration.ofSeconds(seconds), maxDisturbed, Duration.ofMillis(500),
                    Duration.ofSeconds(6), Duration.ofSeconds(1), Duration.ofSeconds(25), Duration.ofSeconds(1),
                    Duration.ofSeconds(20), Duration.ofSeconds(Long.getLong("basalt.thrash.healSeconds", 120)),
                    logDir, Duration.ofSeconds(Long.getLong("basalt.thrash.snapshotSeconds", defaultSnapshotSeconds)));
        }
    }

    /** A volume under test and what its fio loop did. */
    private static final class Target {
        final String name;
        final long sizeBytes;
        final AtomicLong runs = new AtomicLong();
        final AtomicLong bytesWritten = new AtomicLong();
        volatile List<String> lastRun;
        volatile String failure;
        Thread thread;

        Target(String name, long sizeBytes) {
            this.name = name;
            this.sizeBytes = sizeBytes;
        }
    }

    private enum Kind { KILL, PAUSE }

    /** The outcome: counts, sums and the checks that failed (none: PASS). */
    record Summary(long seed, Duration thrashed, int kills, int restarts, int pauses, double pauseSeconds,
                   long rebuiltBytes, long catchUpBytes, long chunksHealed, Map<String, Long> fioRuns,
                   List<String> failures) {
        boolean passed() {
            return failures.isEmpty();
        }

        String describe() {
            StringBuilder out = new StringBuilder();
            out.append("==== thrash summary ====\n");
            out.append(String.format(Locale.ROOT, "seed %d, thrashed %d s%n", seed, thrashed.toSeconds()));
            out.append(String.format(Locale.ROOT, "kills %d, restarts %d, pauses %d (%.1f s paused in total)%n",
                    kills, restarts, pauses, pauseSeconds));
            out.append(String.format(Locale.ROOT, "rebuilt %.1f MiB, caught up %.1f MiB (heartbeats, summed over"
                    + " restarts), chunks healed %d%n", rebuiltBytes / (double) MIB, catchUpBytes / (double) MIB,
                    chunksHealed));
            out.append("fio runs (write + verify, each 0 errors): ").append(fioRuns).append('\n');
            failures.forEach(f -> out.append("FAILED: ").append(f).append('\n'));
            out.append("verdict: ").append(passed() ? "PASS" : "FAIL").append('\n');
            return out.toString();
        }
    }

    private final VolumeCluster cluster;
    private final Config config;
    private final Path workDir;
    private final List<Target> targets = new ArrayList<>();
    private final Random random;
    private final long startNanos = System.nanoTime();
    private final StringBuffer log = new StringBuffer();
    private final List<String> failures = new CopyOnWriteArrayList<>();

    /** Index in cluster.servers of each server now killed or paused; under this lock. */
    private final Set<Integer> disturbed = new HashSet<>();
    /** Index to cs id of each server back from a disturbance whose chunklets are not all UPTODATE yet. */
    private final Map<Integer, Integer> healing = new HashMap<>();
    /** When each of {@link #healing} came back (its catch-up may not have been scheduled yet). */
    private final Map<Integer, Long> backAtNanos = new HashMap<>();
    private long refusalShownNanos;
    private final List<Thread> undoing = new CopyOnWriteArrayList<>();
    private final List<CsProcess> retired = new CopyOnWriteArrayList<>();
    private int kills;
    private int restarts;
    private int pauses;
    private double pauseSeconds;

    /** Recovery counters by cs id: the sum of earlier incarnations' last values, and the last value. */
    private final Map<Integer, long[]> rebuilt = new ConcurrentHashMap<>();
    private final Map<Integer, long[]> caughtUp = new ConcurrentHashMap<>();
    private final Set<Long> degradedChunks = ConcurrentHashMap.newKeySet();
    private final AtomicLong chunksHealed = new AtomicLong();
    private final Map<Integer, CsStatus> seenStatus = new HashMap<>();
    private volatile boolean thrashing = true;
    private volatile boolean monitoring = true;

    /**
     * @param workDir where fio runs and read-back copies go (deleted by the caller)
     * @param volumes name to size in bytes of each volume to write, verify and check
     */
    Thrasher(VolumeCluster cluster, Config config, Path workDir, Map<String, Long> volumes) {
        this.cluster = cluster;
        this.config = config;
        this.workDir = workDir;
        this.random = new Random(config.seed());
        volumes.forEach((name, size) -> targets.add(new Target(name, size)));
    }

    /** Thrashes for the configured time, lets the cluster heal and checks everything; never throws. */
    Summary run() throws InterruptedException {
        say("thrash seed " + config.seed() + " for " + config.thrashFor().toSeconds() + " s, at most "
                + config.maxDisturbed() + " disturbed at once; replay: MAX_DISTURBED=" + config.maxDisturbed()
                + " bench/thrash.sh " + config.thrashFor().toSeconds() + " " + config.seed());
        Thread monitor = Thread.ofVirtual().name("thrash-monitor").start(this::monitorLoop);
        try {
            fill();
        } catch (Exception | AssertionError e) {
            fail("filling the volumes before the first fault: " + e);
            monitoring = false;
            monitor.join(10_000);
            Summary summary = new Summary(config.seed(), Duration.ZERO, 0, 0, 0, 0, 0, 0, 0, Map.of(),
                    List.copyOf(failures));
            say(summary.describe());
            saveLogs();
            return summary;
        }
        long fioSeed = config.seed();
        for (Target target : targets) {
            Random fioRandom = new Random(fioSeed++ * 31 + target.name.hashCode());
            target.thread = Thread.ofPlatform().name("thrash-fio-" + target.name)
                    .start(() -> fioLoop(target, fioRandom));
        }
        ThrashSnapshots snapshots = config.snapshotEvery().isZero() ? null : new ThrashSnapshots(cluster,
                targets.stream().map(t -> t.name).toList(), config.snapshotEvery(), this::copyOut, workDir, this::say,
                this::fail);
        Thread snapshotLoop = snapshots == null ? null : Thread.ofPlatform().name("thrash-snapshots")
                .start(() -> snapshots.loop(() -> thrashing && failures.isEmpty()));
        long thrashStart = System.nanoTime();
        try {
            thrash(thrashStart + config.thrashFor().toNanos());
        } catch (Exception e) {
            fail("the thrasher itself failed: " + e);
        }
        Duration thrashed = Duration.ofNanos(System.nanoTime() - thrashStart);
        thrashing = false;
        say("thrashing over; waiting for every server to be back and for the fio loops to end");
        for (Thread thread : undoing) {
            thread.join();
        }
        for (Target target : targets) {
            target.thread.join();
        }
        if (snapshotLoop != null) {
            snapshotLoop.join();
        }
        try {
            check();
            if (snapshots != null) {
                snapshots.check();
            }
        } catch (Exception | AssertionError e) {
            fail("check: " + e);
        }
        monitoring = false;
        monitor.join(10_000);
        foldRecoveryCounters();
        Map<String, Long> fioRuns = new java.util.LinkedHashMap<>();
        targets.forEach(t -> fioRuns.put(t.name, t.runs.get()));
        Summary summary;
        synchronized (this) {
            summary = new Summary(config.seed(), thrashed, kills, restarts, pauses, pauseSeconds,
                    sum(rebuilt), sum(caughtUp), chunksHealed.get(), fioRuns, List.copyOf(failures));
        }
        say(summary.describe());
        saveLogs();
        return summary;
    }

    /** Writes every volume whole (random bytes), so every server holds data to lose. */
    private void fill() throws IOException {
        long fileSeed = config.seed();
        for (Target target : targets) {
            Path fill = ItFiles.randomFile(workDir.resolve("fill-" + target.name + ".bin"), target.sizeBytes,
                    fileSeed++);
            try {
                long started = System.nanoTime();
                Tools.runOk(Duration.ofMinutes(5), Map.of(), List.of("nbdcopy", fill.toString(),
                        cluster.uri(target.name)));
                say(String.format(Locale.ROOT, "filled %s (%d MiB) in %.1f s", target.name, target.sizeBytes / MIB,
                        (System.nanoTime() - started) / 1e9));
            } finally {
                Files.deleteIfExists(fill);
            }
        }
    }

    // ---- the action loop ----

    private void thrash(long endNanos) throws Exception {
        while (System.nanoTime() < endNanos && failures.isEmpty()) {
            sleepMillis(between(config.gapMin(), config.gapMax()));
            if (System.nanoTime() >= endNanos || !failures.isEmpty()) {
                break;
            }
            // Draw everything first, in a fixed order, whatever the budget then says.
            List<Integer> order = new ArrayList<>();
            for (int i = 0; i < cluster.servers.size(); i++) {
                order.add(i);
            }
            Collections.shuffle(order, random);
            Kind kind = random.nextBoolean() ? Kind.KILL : Kind.PAUSE;
            long forMillis = kind == Kind.KILL ? between(config.killDownMin(), config.killDownMax())
                    : between(config.pauseMin(), config.pauseMax());
            Integer chosen = null;
            String refused = null;
            List<Chunk> chunks = allChunks();
            synchronized (this) {
                forgetHealed(chunks);
                if (disturbed.size() + healing.size() >= config.maxDisturbed()) {
                    continue;
                }
                for (int index : order) {
                    if (disturbed.contains(index) || healing.containsKey(index)) {
                        continue;
                    }
                    String why = overBudget(chunks, cluster.servers.get(index).csId);
                    if (why == null) {
                        chosen = index;
                        break;
                    }
                    refused = why;
                }
                if (chosen == null) {
                    if (refused != null && System.nanoTime() - refusalShownNanos > TimeUnit.SECONDS.toNanos(10)) {
                        refusalShownNanos = System.nanoTime();
                        say("no server can be disturbed now without losing data: " + refused);
                    }
                    continue;
                }
                disturbed.add(chosen);
            }
            int index = chosen;
            CsProcess server = cluster.servers.get(index);
            if (kind == Kind.KILL) {
                say(String.format(Locale.ROOT, "kill -9 cs %d (host%d, pid %d); restart in %.1f s", server.csId,
                        index + 1, server.process.pid(), forMillis / 1000.0));
                server.kill9();
                synchronized (this) {
                    kills++;
                }
            } else {
                say(String.format(Locale.ROOT, "SIGSTOP cs %d (host%d, pid %d); SIGCONT in %.1f s", server.csId,
                        index + 1, server.process.pid(), forMillis / 1000.0));
                cluster.signalCs(index, "STOP");
                synchronized (this) {
                    pauses++;
                }
            }
            undoing.add(Thread.ofVirtual().name("thrash-undo-" + index).start(() -> undo(index, kind, forMillis)));
        }
    }

    /**
     * Drops from {@link #healing} each server that has been back for a few seconds (meta has had
     * time to mark what it missed) and has no chunklet that is not UPTODATE. Called under this lock.
     */
    private void forgetHealed(List<Chunk> chunks) {
        Set<Integer> behind = new HashSet<>();
        for (Chunk chunk : chunks) {
            for (Chunklet chunklet : chunk.chunklets()) {
                if (chunklet.state() != ChunkletState.UPTODATE) {
                    behind.add(chunklet.csId());
                }
            }
        }
        long now = System.nanoTime();
        healing.entrySet().removeIf(entry -> !behind.contains(entry.getValue())
                && now - backAtNanos.get(entry.getKey()) > TimeUnit.SECONDS.toNanos(3));
    }

    /**
     * Why disturbing chunk server {@code csId} now could lose data, or null: whether a chunk would
     * have more chunklets lost than its policy tolerates (rep N: N-1; ecK+M: M). A chunklet is lost
     * if it is not UPTODATE (whoever caused it: our faults, or a server meta judged UNHEALTHY on
     * its own) or its server is killed or paused (meta may not know yet). Called under this lock.
     */
    private String overBudget(List<Chunk> chunks, int csId) {
        Set<Integer> lostServers = new HashSet<>();
        for (int index : disturbed) {
            lostServers.add(cluster.servers.get(index).csId);
        }
        for (Chunk chunk : chunks) {
            int lost = 0;
            boolean hit = false;
            int parity = 0;
            for (Chunklet chunklet : chunk.chunklets()) {
                parity += chunklet.role() == ChunkletRole.PARITY ? 1 : 0;
                if (chunklet.state() != ChunkletState.UPTODATE || lostServers.contains(chunklet.csId())) {
                    lost++;
                } else if (chunklet.csId() == csId) {
                    hit = true;
                }
            }
            int tolerated = parity > 0 ? parity : chunk.chunklets().size() - 1;
            if (hit && lost + 1 > tolerated) {
                return "chunk " + chunk.volumeId() + "/" + chunk.index() + " has " + lost + " chunklets not"
                        + " UPTODATE or on a disturbed server (" + chunk.chunklets() + ")";
            }
        }
        return null;
    }

    /** Restarts or resumes server {@code index} after {@code forMillis}; failures are recorded. */
    private void undo(int index, Kind kind, long forMillis) {
        try {
            Thread.sleep(forMillis);
            if (kind == Kind.KILL) {
                CsProcess old = cluster.servers.get(index);
                CsProcess again;
                try {
                    again = CsProcess.start(cluster.dir.resolve("cs" + (index + 1)), cluster.meta.peers(),
                            "host" + (index + 1), List.of(), old.port);
                } catch (IOException e) {
                    // Someone took its port meanwhile; a move is allowed (meta learns the new address).
                    say("cs " + old.csId + " could not take port " + old.port + " again; starting it on"
                            + " another: " + firstLine(e.getMessage()));
                    again = CsProcess.start(cluster.dir.resolve("cs" + (index + 1)), cluster.meta.peers(),
                            "host" + (index + 1));
                }
                if (again.csId != old.csId) {
                    fail("cs " + old.csId + " came back as cs " + again.csId + " on the same data directory");
                }
                synchronized (this) {
                    retired.add(old);
                    cluster.servers.set(index, again);
                    restarts++;
                    disturbed.remove(index);
                    healing.put(index, again.csId);
                    backAtNanos.put(index, System.nanoTime());
                }
                say(String.format(Locale.ROOT, "restarted cs %d (host%d, pid %d, port %d) after %.1f s",
                        again.csId, index + 1, again.process.pid(), again.port, forMillis / 1000.0));
            } else {
                cluster.signalCs(index, "CONT");
                synchronized (this) {
                    pauseSeconds += forMillis / 1000.0;
                    disturbed.remove(index);
                    healing.put(index, cluster.servers.get(index).csId);
                    backAtNanos.put(index, System.nanoTime());
                }
                say(String.format(Locale.ROOT, "SIGCONT cs %d (host%d) after %.1f s", cluster.servers.get(index).csId,
                        index + 1, forMillis / 1000.0));
            }
        } catch (Exception e) {
            fail("could not " + (kind == Kind.KILL ? "restart" : "resume") + " server host" + (index + 1) + ": " + e);
        }
    }

    // ---- fio ----

    /** Runs fio write-and-verify jobs on one volume, one after the other, until the thrash ends. */
    private void fioLoop(Target target, Random fioRandom) {
        try {
            while (thrashing && target.failure == null) {
                long slots = (target.sizeBytes - FIO_RUN_BYTES) / (4 * MIB) + 1;
                long offset = fioRandom.nextLong(slots) * 4 * MIB;
                long seed = fioRandom.nextLong() & Long.MAX_VALUE;
                List<String> command = fioCommand(target.name, offset, seed);
                Path output = workDir.resolve("fio-" + target.name + "-" + target.runs.get() + ".out");
                String problem = runFio(command, output);
                if (problem != null) {
                    target.failure = problem;
                    fail("fio on " + target.name + " (run " + (target.runs.get() + 1) + "): " + problem);
                    return;
                }
                target.lastRun = command;
                target.runs.incrementAndGet();
                target.bytesWritten.addAndGet(FIO_RUN_BYTES);
                Files.deleteIfExists(output);
            }
        } catch (Exception e) {
            fail("fio loop on " + target.name + ": " + e);
        }
    }

    private List<String> fioCommand(String volume, long offset, long seed) {
        return new ArrayList<>(List.of("fio", "--name=thrash-" + volume, "--ioengine=nbd",
                "--uri=" + cluster.uri(volume), "--rw=randwrite", "--bsrange=4k-64k", "--iodepth=8",
                "--offset=" + offset, "--size=" + FIO_RUN_BYTES, "--randseed=" + seed, "--verify=crc32c",
                "--verify_fatal=1", "--do_verify=1", "--verify_state_save=0"));
    }

    /** Runs one fio command; null if it exited 0 with no error and no verify failure, else why not. */
    private String runFio(List<String> command, Path output) throws IOException, InterruptedException {
        Process fio = new ProcessBuilder(command).directory(workDir.toFile()).redirectErrorStream(true)
                .redirectOutput(output.toFile()).start();
        try {
            if (!fio.waitFor(FIO_RUN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                return "did not finish within " + FIO_RUN_TIMEOUT + ": " + String.join(" ", command) + "\n"
                        + Tools.clip(Files.readString(output));
            }
            String out = Files.readString(output);
            if (fio.exitValue() != 0 || !out.contains("err= 0") || out.contains("verify: bad")) {
                return "exit code " + fio.exitValue() + ": " + String.join(" ", command) + "\n" + Tools.clip(out);
            }
            return null;
        } finally {
            Tools.killTree(fio);
        }
    }

    // ---- after the thrash ----

    private void check() throws Exception {
        say("every server is back; waiting until every chunk is UPTODATE (at most "
                + config.healTimeout().toSeconds() + " s)");
        long healStart = System.nanoTime();
        for (Target target : targets) {
            List<Chunk> chunks;
            try {
                chunks = cluster.awaitHealed(target.name, -1, config.healTimeout());
            } catch (AssertionError e) {
                List<String> command = MetaCluster.javaCommand("io.basalt.cli.Main");
                command.addAll(List.of("status", "--meta", cluster.meta.peers()));
                say("not healed; basalt status says:\n" + Tools.run(Duration.ofMinutes(1), null, Map.of(), command)
                        .stdout());
                throw e;
            }
            checkPlacement(target.name, chunks);
        }
        say(String.format(Locale.ROOT, "healed after %.1f s", (System.nanoTime() - healStart) / 1e9));
        for (Target target : targets) {
            if (cluster.client().getVolume(target.name).policyName().startsWith("ec")) {
                List<String> command = MetaCluster.javaCommand("io.basalt.cli.Main");
                command.addAll(List.of("volume", "verify", target.name, "--meta", cluster.meta.peers(),
                "--tls-dir", io.basalt.cli.cs.ItTls.dir(io.basalt.common.tls.Role.ADMIN).toString()));
                Tools.Result verify = Tools.run(Duration.ofMinutes(5), null, Map.of(), command);
                say("basalt volume verify " + target.name + ": " + verify.stdout().strip());
                if (!verify.ok() || !verify.stdout().contains(" 0 mismatched")) {
                    fail("basalt volume verify " + target.name + ":\n" + verify.describe());
                }
            }
        }
        for (Target target : targets) {
            if (target.lastRun == null) {
                fail("fio never completed a run on " + target.name);
                continue;
            }
            List<String> command = new ArrayList<>(target.lastRun);
            command.add("--verify_only");
            String problem = runFio(command, workDir.resolve("fio-" + target.name + "-final.out"));
            if (problem != null) {
                fail("final fio verify pass on " + target.name + ": " + problem);
            } else {
                say("final fio verify of the last run on " + target.name + ": 0 errors");
            }
        }
        for (Target target : targets) {
            String first = readBack(target.name);
            String second = readBack(target.name);
            say("read " + target.name + " back twice: sha256 " + first + (first.equals(second) ? " both times"
                    : " then " + second));
            if (!first.equals(second)) {
                fail(target.name + " read back differently twice: " + first + " then " + second);
            }
        }
    }

    /** Every allocated chunk has its full width of chunklets, on distinct servers and hosts. */
    private void checkPlacement(String volume, List<Chunk> chunks) {
        int width = -1;
        Map<Integer, String> hosts = new HashMap<>();
        for (CsView view : cluster.client().listCs()) {
            hosts.put(view.server().id(), view.server().host());
        }
        for (Chunk chunk : chunks) {
            if (width < 0) {
                width = chunk.chunklets().size();
            }
            Set<String> chunkHosts = new HashSet<>();
            chunk.chunklets().forEach(c -> chunkHosts.add(hosts.get(c.csId())));
            if (chunk.chunklets().size() != width || chunkHosts.size() != width) {
                fail(volume + " chunk " + chunk.index() + " is not on " + width + " distinct hosts: " + chunk);
            }
        }
    }

    /** The sha256 of the whole volume as nbdcopy reads it. */
    private String readBack(String volume) throws Exception {
        Path copy = workDir.resolve("readback-" + volume + ".bin");
        try {
            copyOut(volume, copy);
            return digest(copy);
        } finally {
            Files.deleteIfExists(copy);
        }
    }

    /** Reads {@code export} (a volume or a snapshot) whole through the gateway into {@code file}. */
    void copyOut(String export, Path file) {
        Tools.runOk(Duration.ofMinutes(10), Map.of(), List.of("nbdcopy", cluster.uri(export), file.toString()));
    }

    /** The first 16 hex digits of the file's SHA-256. */
    static String digest(Path file) throws Exception {
        MessageDigest digest = MessageDigest.getInstance("SHA-256");
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buffer = new byte[1 << 20];
            int n;
            while ((n = in.read(buffer)) > 0) {
                digest.update(buffer, 0, n);
            }
        }
        return HexFormat.of().formatHex(digest.digest()).substring(0, 16);
    }

    // ---- monitor ----

    private void monitorLoop() {
        int errors = 0;
        while (monitoring) {
            try {
                pollOnce();
            } catch (Exception e) {
                if (errors++ % 10 == 0) {
                    say("monitor: meta did not answer (" + firstLine(String.valueOf(e)) + ")");
                }
            }
            try {
                Thread.sleep(1000);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private void pollOnce() {
        for (CsView view : cluster.client().listCs()) {
            int csId = view.server().id();
            track(rebuilt, csId, view.recovery().rebuiltBytesTotal());
            track(caughtUp, csId, view.recovery().catchUpBytesTotal());
            CsStatus status = view.server().status();
            CsStatus before;
            synchronized (seenStatus) {
                before = seenStatus.put(csId, status);
            }
            if (before != null && before != status) {
                say("meta: cs " + csId + " " + before + " -> " + status);
            }
        }
        int degraded = 0;
        int recovering = 0;
        for (Chunk chunk : allChunks()) {
            boolean healthy = chunk.chunklets().stream().allMatch(c -> c.state() == ChunkletState.UPTODATE);
            recovering += (int) chunk.chunklets().stream().filter(c -> c.state() == ChunkletState.RECOVERING).count();
            if (!healthy) {
                degraded++;
                degradedChunks.add(chunk.uid());
            } else if (degradedChunks.remove(chunk.uid())) {
                chunksHealed.incrementAndGet();
            }
        }
        String line = "degraded chunks " + degraded + ", recovering chunklets " + recovering;
        if (!line.equals(lastDegradedLine)) {
            lastDegradedLine = line;
            say("meta: " + line);
        }
    }

    private volatile String lastDegradedLine = "";

    /**
     * Every chunk of every layer (the volumes under test, their snapshots and the hidden layers
     * they read through): a snapshot takes its volume's chunks, and a server must not be disturbed
     * past what those tolerate either (a snapshot's chunk that could not be read was the first
     * failure of the snapshot loop, the budget having counted the volumes' own chunks only).
     */
    private List<Chunk> allChunks() {
        List<Chunk> chunks = new ArrayList<>();
        for (io.basalt.meta.model.Volume layer : cluster.client().listLayers()) {
            chunks.addAll(cluster.client().listChunks(layer.id()));
        }
        return chunks;
    }

    /** A heartbeat counter that went down belongs to a new incarnation: fold the old one in. */
    private static void track(Map<Integer, long[]> counters, int csId, long value) {
        long[] baseAndLast = counters.computeIfAbsent(csId, id -> new long[2]);
        if (value < baseAndLast[1]) {
            baseAndLast[0] += baseAndLast[1];
        }
        baseAndLast[1] = value;
    }

    private void foldRecoveryCounters() {
        try {
            pollOnce();
        } catch (Exception e) {
            say("monitor: last poll failed: " + e);
        }
    }

    private static long sum(Map<Integer, long[]> counters) {
        return counters.values().stream().mapToLong(c -> c[0] + c[1]).sum();
    }

    // ---- logs ----

    private void say(String line) {
        double seconds = (System.nanoTime() - startNanos) / 1e9;
        String prefix = String.format(Locale.ROOT, "[thrash %s +%7.1fs] ", LocalTime.now().format(CLOCK), seconds);
        StringBuilder stamped = new StringBuilder();
        line.strip().lines().forEach(part -> stamped.append(prefix).append(part).append('\n'));
        System.out.print(stamped);
        log.append(stamped);
    }

    private void fail(String why) {
        failures.add(why);
        say("FAILURE: " + why);
    }

    /** Writes the thrash log and every daemon's output to {@link Config#logDir}. */
    private void saveLogs() {
        try {
            Path dir = config.logDir().toAbsolutePath();
            Files.createDirectories(dir);
            Files.writeString(dir.resolve("thrash.log"), log.toString(), StandardCharsets.UTF_8);
            List<CsProcess> all = new ArrayList<>(retired);
            all.addAll(cluster.servers);
            for (CsProcess server : all) {
                Files.writeString(dir.resolve("cs" + server.csId + "-pid" + server.process.pid() + ".log"),
                        server.output.toString(), StandardCharsets.UTF_8);
            }
            Files.writeString(dir.resolve("meta.log"), cluster.meta.log(0), StandardCharsets.UTF_8);
            Files.writeString(dir.resolve("gateway.log"), cluster.gatewayOutput(), StandardCharsets.UTF_8);
            System.out.println("[thrash] logs in " + dir);
        } catch (Exception e) {
            System.out.println("[thrash] could not save logs to " + config.logDir() + ": " + e);
        }
    }

    private long between(Duration min, Duration max) {
        return min.toMillis() + random.nextLong(max.toMillis() - min.toMillis() + 1);
    }

    private static void sleepMillis(long millis) throws InterruptedException {
        Thread.sleep(millis);
    }

    private static String firstLine(String text) {
        if (text == null) {
            return "";
        }
        int newline = text.indexOf('\n');
        return newline < 0 ? text : text.substring(0, newline);
    }
}
