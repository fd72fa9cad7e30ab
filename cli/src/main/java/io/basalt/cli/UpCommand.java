package io.basalt.cli;

import io.basalt.meta.api.CsView;
import io.basalt.meta.api.MetaClient;
import io.basalt.meta.api.MetaException;
import io.basalt.meta.api.MetaPeers;
import io.basalt.meta.api.MetaStatus;
import io.basalt.meta.model.CsStatus;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code basalt up}: a whole cluster on this machine, in child processes, in the foreground until
 * Ctrl-C: each meta member and gateway in a process of its own, the chunk servers together in one
 * ({@link ChunkServerHostCommand}; {@code --separate-cs-processes} gives each its own).
 *
 * <p>Design note. Every daemon is started at once (a JVM takes seconds to start, and the chunk
 * servers and the gateway wait for meta on their own), and readiness is awaited in dependency
 * order: meta has a leader, meta lists every chunk server UP with a fresh heartbeat, the NBD
 * gateway's port accepts. {@code up} then only supervises: a daemon that dies is reported with
 * its exit code and the end of its log, and is not restarted — a dev cluster that hides crashes
 * hides bugs; the rest keep running, as they would on separate machines (the chunk servers of a
 * shared process die together: it ends when one of them fails). A stop goes in reverse
 * order (gateway, chunk servers, meta) so nobody loses the service it depends on while it shuts
 * down; each gets {@link DaemonProcess#STOP_TIMEOUT_MILLIS} after SIGTERM before SIGKILL.
 * If {@code up} itself dies (SIGKILL, the OOM killer) the daemons see their lifeline pipe end
 * and stop cleanly on their own ({@link ShutdownSignal}), all at once since nobody orders them:
 * none of their clean stops needs another daemon (chunk servers checkpoint their own WAL).
 *
 * <p>Start-up time on two cores is JVM start times the JVMs started, hence the chunk servers in
 * one process (five JVMs instead of ten with six servers); meta is started first (it is on every
 * other daemon's critical path), a lone meta member elects itself without waiting an election
 * timeout, readiness is polled every {@value #POLL_MILLIS} ms, and each role runs from its AOT
 * cache when the launcher provides one ({@link AotCache}; recorded and created after a start, off
 * its critical path). docs/performance.md has what each step saved.
 *
 * <p>State lives in {@code DIR} ({@link UpLayout}): running {@code up} again on it brings the same
 * cluster back — meta members recover from their Raft storage (they bootstrap only on an empty
 * directory) and chunk servers re-register with the id in their identity file. The port base,
 * meta member count and bind address are kept in {@code cluster.json} and reused, because the
 * meta members know each other by address. {@code DIR/up.lock} (flock) keeps a second {@code up}
 * off a directory in use.
 */
@Command(name = "up", mixinStandardHelpOptions = true,
        description = {"Start a whole cluster on this machine (meta, chunk servers, the NBD and the S3 gateway)"
                + " and supervise it until Ctrl-C; the chunk servers share one process unless"
                + " --separate-cs-processes.",
                "Run it again on the same --data to bring the same cluster back.",
                "Ports (base 7100 by default): meta i base+i, chunk server i base+600+i,"
                        + " NBD base+3709; metrics: NBD base+2710, chunk server i base+2720+i,"
                        + " meta i base+2730+i."})
final class UpCommand implements Callable<Integer> {
    private static final int CHUNK_SERVERS_DEFAULT = 6;
    private static final long META_READY_MILLIS_MAX = 90_000;
    private static final long CS_READY_MILLIS_MAX = 120_000;
    private static final long NBD_READY_MILLIS_MAX = 60_000;
    /** Readiness polls: a meta status call or a TCP connect, cheap next to a JVM start. */
    private static final long POLL_MILLIS = 50;
    /** Lines of a dead daemon's log shown with its death. */
    private static final int LOG_TAIL_LINES = 15;

    @Option(names = "--data", defaultValue = ClusterFile.DATA_DIR_DEFAULT, paramLabel = "DIR",
            description = "Where the cluster keeps its data, logs and cluster.json"
                    + " (default: ./${DEFAULT-VALUE}).")
    Path data;

    @Option(names = "--meta-nodes", paramLabel = "1|3",
            description = "Meta members (default: 1, or what DIR was created with).")
    Integer metaNodes;

    @Option(names = "--chunkservers", paramLabel = "N",
            description = "Chunk servers, each with its own host label (default: "
                    + CHUNK_SERVERS_DEFAULT + ", or what DIR last ran with; at most "
                    + UpLayout.CHUNK_SERVERS_MAX + ").")
    Integer chunkServers;

    @Option(names = "--port-base", paramLabel = "P",
            description = "Move every port by one base (default: " + UpLayout.PORT_BASE_DEFAULT
                    + ", or what DIR was created with).")
    Integer portBase;

    @Option(names = "--no-nbd", description = "Do not start the NBD gateway.")
    boolean noNbd;

    @Option(names = "--no-s3", description = "Do not start the S3 gateway.")
    boolean noS3;

    @Option(names = "--bind", paramLabel = "ADDRESS",
            description = "Address every daemon listens on and is reached at (default: 127.0.0.1,"
                    + " or what DIR was created with).")
    String bind;

    @Option(names = "--recovery-grace-ms", paramLabel = "MS",
            description = "Passed to every meta member: heartbeat silence of an UNHEALTHY chunk"
                    + " server before its chunklets are rebuilt elsewhere"
                    + " (default: meta's, 30000).")
    Long recoveryGraceMillis;

    @Option(names = "--separate-cs-processes",
            description = "Run each chunk server in a process of its own, as on separate hosts, so that one can be"
                    + " killed or paused alone (fault drills). Default: the chunk servers share one process"
                    + " (basalt cs host), which starts in a fraction of the time.")
    boolean separateCsProcesses;

    @Option(names = "--insecure",
            description = "No TLS between the daemons: plain TCP, no certificates. For benchmarks and trusted"
                    + " labs only; said at start and in basalt status. Default: mutual TLS with certificates"
                    + " made under DATA/tls on first start.")
    boolean insecure;

    private UpLayout layout;
    /** What up lists (its table, cluster.json): every daemon, a hosted chunk server on its own. */
    private final List<DaemonProcess> daemons = new CopyOnWriteArrayList<>();
    /** What up starts, watches and stops: one per process. */
    private final List<DaemonProcess> processes = new CopyOnWriteArrayList<>();
    private final Map<DaemonProcess, Integer> exitCodes = new ConcurrentHashMap<>();
    private volatile boolean stopping;
    /** Set once every daemon is ready: a death after it is reported and the rest keep running. */
    private volatile boolean ready;
    private final AotCache aot = AotCache.fromEnvironment();
    /** Records and creates AOT caches after the start; interrupted by a stop. */
    private volatile Thread cacheWorker;

    @Override
    public Integer call() throws Exception {
        Path dir = data.toAbsolutePath().normalize();
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UserError("cannot create --data " + dir + ": " + e.getMessage(), e);
        }
        Path lockPath = dir.resolve("up.lock");
        try (FileChannel lockChannel = FileChannel.open(lockPath, StandardOpenOption.CREATE,
                StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            FileLock lock;
            try {
                lock = lockChannel.tryLock();
            } catch (OverlappingFileLockException e) {
                lock = null;
            }
            if (lock == null) {
                String holder = Files.readString(lockPath, StandardCharsets.UTF_8).trim();
                throw new UserError(dir + " is in use by basalt up (pid "
                        + (holder.isEmpty() ? "unknown" : holder) + "); stop that one first"
                        + " (Ctrl-C in its terminal, or kill " + holder + ")");
            }
            lockChannel.truncate(0);
            lockChannel.write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n")
                    .getBytes(StandardCharsets.UTF_8)), 0);
            ClusterFile previous = ClusterFile.readIfExists(dir);
            layout = resolveLayout(dir, previous);
            refuseLeftoverDaemons(previous);
            refuseBusyPorts();
            MetaOptions.quietRatis();
            return run();
        }
    }

    /** Options, else what DIR was created with, else defaults; refuses changes meta cannot take. */
    private UpLayout resolveLayout(Path dir, ClusterFile previous) {
        if (previous == null) {
            String bindAddress = bind == null ? "127.0.0.1" : bind;
            checkBind(bindAddress);
            return new UpLayout(dir, bindAddress,
                    portBase == null ? UpLayout.PORT_BASE_DEFAULT : portBase,
                    metaNodes == null ? 1 : metaNodes,
                    chunkServers == null ? CHUNK_SERVERS_DEFAULT : chunkServers);
        }
        String why = " the cluster in " + dir + " was created with %s %s and its meta members"
                + " know each other by it; leave %s out";
        if (portBase != null && portBase != previous.portBase()) {
            throw new UserError("--port-base " + portBase + ":" + String.format(Locale.ROOT, why,
                    "--port-base", previous.portBase(), "--port-base"));
        }
        if (metaNodes != null && metaNodes != previous.metaNodes()) {
            throw new UserError("--meta-nodes " + metaNodes + ":" + String.format(Locale.ROOT, why,
                    "--meta-nodes", previous.metaNodes(), "--meta-nodes"));
        }
        if (bind != null && !bind.equals(previous.bind())) {
            throw new UserError("--bind " + bind + ":" + String.format(Locale.ROOT, why,
                    "--bind", previous.bind(), "--bind"));
        }
        // Servers added by basalt cs add count once they have an identity.
        int count = chunkServers != null ? chunkServers
                : Math.max(previous.chunkServers(), csDirsWithIdentity(dir));
        UpLayout resolved = new UpLayout(dir, previous.bind(), previous.portBase(),
                previous.metaNodes(), count);
        if (count < previous.chunkServers()) {
            say("note: starting " + count + " of the " + previous.chunkServers() + " chunk servers"
                    + " this cluster had; meta will list the others as not UP");
        }
        return resolved;
    }

    /** How many of DIR/cs1, DIR/cs2, ... in a row hold a chunk server identity. */
    static int csDirsWithIdentity(Path dir) {
        int count = 0;
        while (count < UpLayout.CHUNK_SERVERS_MAX
                && Files.exists(dir.resolve("cs" + (count + 1)).resolve("identity"))) {
            count++;
        }
        return count;
    }

    private static void checkBind(String address) {
        InetAddress parsed;
        try {
            parsed = InetAddress.getByName(address);
        } catch (IOException e) {
            throw new UserError("--bind " + address + ": " + e.getMessage());
        }
        if (parsed.isAnyLocalAddress()) {
            throw new UserError("--bind " + address + ": use an address the daemons can reach each"
                    + " other at (e.g. 127.0.0.1 or this machine's IP), not a wildcard");
        }
    }

    /** Daemons of an earlier {@code up} that was killed (not stopped) still hold ports and data. */
    private static void refuseLeftoverDaemons(ClusterFile previous) {
        if (previous == null) {
            return;
        }
        List<String> alive = new ArrayList<>();
        // Chunk servers of one process share its pid: each pid once in the kill line.
        java.util.Set<String> alivePids = new java.util.LinkedHashSet<>();
        for (ClusterFile.Daemon daemon : previous.daemons()) {
            if (daemon.pid() == null) {
                continue;
            }
            boolean ours = ProcessHandle.of(daemon.pid()).filter(ProcessHandle::isAlive)
                    .flatMap(handle -> handle.info().arguments())
                    .map(arguments -> List.of(arguments).contains(Main.class.getName()))
                    .orElse(false);
            if (ours) {
                alive.add(daemon.name() + " pid " + daemon.pid());
                alivePids.add(String.valueOf(daemon.pid()));
            }
        }
        if (!alive.isEmpty()) {
            throw new UserError("daemons of an earlier basalt up on " + previous.dataDir()
                    + " still run (" + String.join(", ", alive) + "); stop them (kill "
                    + String.join(" ", alivePids) + "), then run up again");
        }
    }

    private void refuseBusyPorts() {
        Map<Integer, String> ports = new java.util.LinkedHashMap<>();
        for (int i = 1; i <= layout.metaNodes(); i++) {
            ports.put(layout.metaPort(i), "meta" + i);
            ports.put(layout.metaMetricsPort(i), "meta" + i + " metrics");
        }
        for (int i = 1; i <= layout.chunkServers(); i++) {
            ports.put(layout.csPort(i), "cs" + i);
            ports.put(layout.csMetricsPort(i), "cs" + i + " metrics");
        }
        if (startNbd()) {
            ports.put(layout.nbdPort(), "nbd");
            ports.put(layout.nbdMetricsPort(), "nbd metrics");
        }
        if (!noS3) {
            ports.put(layout.s3Port(), "s3");
            ports.put(layout.s3MetricsPort(), "s3 metrics");
        }
        for (Map.Entry<Integer, String> entry : ports.entrySet()) {
            try (ServerSocket socket = new ServerSocket()) {
                socket.bind(new InetSocketAddress(layout.bind(), entry.getKey()));
            } catch (IOException e) {
                throw new UserError("port " + entry.getKey() + " (" + entry.getValue() + ") on "
                        + layout.bind() + " is in use; stop what holds it (ss -ltnp 'sport = :"
                        + entry.getKey() + "') or move the cluster with --port-base");
            }
        }
    }

    private boolean startNbd() {
        return !noNbd;
    }

    private Integer run() throws Exception {
        ShutdownSignal signal = ShutdownSignal.install();
        long startNanos = System.nanoTime();
        try {
            if (startCluster(signal, startNanos)) {
                while (!signal.await(CERTIFICATE_CHECK_MILLIS)) {
                    renewCertificates();
                }
            }
        } finally {
            try {
                stopAll();
            } finally {
                if (signal.signalled()) {
                    // The JVM is already exiting for SIGINT/SIGTERM, with status 130/143 as soon
                    // as the hook returns, so halt before cleanedUp() lets it: a stop that was
                    // asked for is a success and ends with 0.
                    System.out.flush();
                    Runtime.getRuntime().halt(0);
                }
                signal.cleanedUp();
            }
        }
        return 0;
    }

    /**
     * How often a running {@code up} looks for certificates near expiry ({@code
     * -Dbasalt.up.certificateCheckMillis}; default 6 hours).
     */
    static final long CERTIFICATE_CHECK_MILLIS = Long.getLong("basalt.up.certificateCheckMillis", 6 * 3_600_000L);

    /**
     * Renews, while the cluster runs, the certificates within 30 days of expiry (as every start
     * does): the daemons present the new ones from their next connections on (ReloadingKeyManager,
     * docs/security.md "Rotation"), so a cluster left running for years never reaches an expiry.
     * A failure is reported and tried again at the next check; the cluster keeps running.
     */
    private void renewCertificates() {
        if (insecure) {
            return;
        }
        try {
            List<String> issued = ClusterCertificates.ensureForUp(layout);
            if (!issued.isEmpty()) {
                say("renewed certificates for " + String.join(", ", issued) + " in "
                        + ClusterCertificates.root(layout.dataDir())
                        + "; the daemons present them from their next connections on");
            }
        } catch (IOException | RuntimeException e) {
            say("WARNING: cannot renew certificates in " + ClusterCertificates.root(layout.dataDir()) + ": "
                    + e.getMessage() + " (tried again in " + CERTIFICATE_CHECK_MILLIS / 60_000 + " min)");
        }
    }

    /** Starts meta, chunk servers and gateway, awaits each in order; false if a signal came first. */
    private boolean startCluster(ShutdownSignal signal, long startNanos) throws Exception {
        String peers = layout.metaPeers();
        boolean nbd = startNbd();
        say("starting " + layout.metaNodes() + " meta member" + (layout.metaNodes() > 1 ? "s" : "")
                + ", " + layout.chunkServers() + " chunk servers"
                + (nbd && !noS3 ? ", the NBD and the S3 gateway" : nbd ? " and the NBD gateway"
                        : !noS3 ? " and the S3 gateway" : "")
                + " in " + layout.dataDir());
        if (insecure) {
            TlsOptions.warnInsecure("this cluster");
        } else {
            List<String> issued = ClusterCertificates.ensureForUp(layout);
            if (!issued.isEmpty()) {
                say("issued certificates for " + String.join(", ", issued) + " in "
                        + ClusterCertificates.root(layout.dataDir()));
            }
        }
        List<DaemonProcess> metas = new ArrayList<>();
        for (int i = 1; i <= layout.metaNodes(); i++) {
            List<String> metaArgs = new ArrayList<>(List.of("meta", "run", "--id",
                    String.valueOf(i), "--data", layout.dataDir().resolve("meta" + i).toString(),
                    "--peers", peers, "--metrics-port", String.valueOf(layout.metaMetricsPort(i))));
            if (recoveryGraceMillis != null) {
                metaArgs.addAll(List.of("--recovery-grace-ms",
                        String.valueOf(recoveryGraceMillis)));
            }
            DaemonProcess meta = new DaemonProcess("meta" + i, "meta", i, layout.metaPort(i),
                    layout.metaMetricsPort(i), layout.dataDir().resolve("meta" + i),
                    layout.logFile("meta" + i), withSecurity(metaArgs, "meta" + i));
            meta.id = String.valueOf(i);
            metas.add(meta);
        }
        List<DaemonProcess> servers = new ArrayList<>();
        List<DaemonProcess> serverProcesses = new ArrayList<>();
        if (separateCsProcesses) {
            for (int i = 1; i <= layout.chunkServers(); i++) {
                List<String> arguments = new ArrayList<>(List.of("cs", "run"));
                arguments.addAll(csRunOptions(i, peers));
                servers.add(new DaemonProcess("cs" + i, "cs", i, layout.csPort(i), layout.csMetricsPort(i),
                        layout.dataDir().resolve("cs" + i), layout.logFile("cs" + i), arguments));
            }
            serverProcesses.addAll(servers);
        } else if (layout.chunkServers() > 0) {
            // One process for them all: a chunk server's start is mostly its JVM's (ChunkServerHostCommand).
            List<String> arguments = new ArrayList<>(List.of("cs", "host"));
            for (int i = 1; i <= layout.chunkServers(); i++) {
                arguments.add(ChunkServerHostCommand.SEPARATOR);
                arguments.addAll(csRunOptions(i, peers));
            }
            DaemonProcess host = new DaemonProcess("cs", "cs", 1, layout.csPort(1), layout.csMetricsPort(1), null,
                    layout.logFile("cs"), arguments);
            for (int i = 1; i <= layout.chunkServers(); i++) {
                servers.add(host.hosted("cs" + i, i, layout.csPort(i), layout.csMetricsPort(i),
                        layout.dataDir().resolve("cs" + i)));
            }
            serverProcesses.add(host);
        }
        DaemonProcess gateway = !nbd ? null : new DaemonProcess("nbd", "nbd", 1, layout.nbdPort(),
                layout.nbdMetricsPort(), null, layout.logFile("nbd"), withSecurity(List.of("nbd", "run",
                "--meta", peers, "--bind", layout.bind(),
                "--port", String.valueOf(layout.nbdPort()),
                "--metrics-port", String.valueOf(layout.nbdMetricsPort())), "nbd"));
        // The S3 gateway appends objects to logs of its own (writer id stable across restarts of up,
        // so it takes its logs' leases back at once).
        DaemonProcess s3 = noS3 ? null : new DaemonProcess("s3", "s3", 1, layout.s3Port(), layout.s3MetricsPort(),
                null, layout.logFile("s3"), withSecurity(List.of("s3", "run", "--meta", peers, "--bind", layout.bind(),
                "--port", String.valueOf(layout.s3Port()),
                "--metrics-port", String.valueOf(layout.s3MetricsPort()),
                "--writer-id", "s3-up@" + layout.bind() + ":" + layout.s3Port()), "s3"));
        // Every daemon starts at once: a JVM takes seconds to start, and the chunk servers and the
        // gateway wait for meta by themselves (their meta clients retry for about 30 s), so the
        // starts overlap meta's election instead of queueing behind it.
        startAll(metas, metas);
        startAll(serverProcesses, servers);
        if (gateway != null) {
            startAll(List.of(gateway), List.of(gateway));
        }
        if (s3 != null) {
            startAll(List.of(s3), List.of(s3));
        }
        try (MetaClient client = MetaClient.connect(MetaPeers.DEFAULT_CLUSTER,
                MetaPeers.parse(peers), Duration.ofSeconds(2), 1, adminIdentity())) {
            String leader = awaitMetaLeader(client, signal);
            if (leader == null) {
                return false;
            }
            say("meta leader is member " + leader + " (" + seconds(startNanos) + " s)");
            if (!awaitChunkServersUp(client, servers, signal)) {
                return false;
            }
            say(servers.size() + " chunk servers UP (" + seconds(startNanos) + " s)");
        }
        if (gateway != null && !awaitListening(gateway, signal)) {
            return false;
        }
        if (s3 != null && !awaitListening(s3, signal)) {
            return false;
        }
        if (s3 != null) {
            S3Credentials.ensure(layout, peers, adminIdentity());
        }
        writeClusterFile(true);
        ready = true;
        printReady(startNanos, nbd);
        startCacheWorker();
        return true;
    }

    /**
     * After the start, off its critical path: records the admin verbs' AOT cache against this
     * cluster and creates the caches the daemons of an earlier start recorded ({@link AotCache}).
     */
    private void startCacheWorker() {
        if (!aot.enabled()) {
            return;
        }
        cacheWorker = Thread.ofVirtual().name("basalt-up-aot").start(() -> {
            try {
                aot.trainAdmin(layout.dataDir(), UpCommand::say);
                List<String> created = aot.createPending(UpCommand::say);
                if (!created.isEmpty()) {
                    say("start-up caches written for " + String.join(", ", created)
                            + " (used from the next start on)");
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } catch (IOException | RuntimeException e) {
                say("start-up caches not written: " + e.getMessage());
            }
        });
    }

    /** The options of {@code cs run} for chunk server {@code i}, alone or hosted. */
    private List<String> csRunOptions(int i, String peers) {
        return withSecurity(List.of("--data", layout.dataDir().resolve("cs" + i).toString(), "--meta", peers,
                "--host", UpLayout.csHostLabel(i), "--bind", layout.bind(),
                "--port", String.valueOf(layout.csPort(i)),
                "--metrics-port", String.valueOf(layout.csMetricsPort(i))), "cs" + i);
    }

    /** Starts {@code group}'s processes, which run the daemons {@code listed}. */
    private void startAll(List<DaemonProcess> group, List<DaemonProcess> listed) throws IOException {
        daemons.addAll(listed);
        for (DaemonProcess daemon : group) {
            processes.add(daemon);
            // The first daemon of a role records its AOT cache when there is none yet.
            daemon.startSupervised(aot.flags(daemon.role, daemon.index == 1,
                    DaemonProcess.javaBaseCommand()));
            daemon.process().onExit().thenAccept(process -> onExit(daemon, process.exitValue()));
        }
        writeClusterFile(true);
    }

    /** "cs (chunk servers cs1-cs6)" for a process hosting several, else the daemon's name. */
    private String describe(DaemonProcess process) {
        List<String> hosted = daemons.stream().filter(d -> d.runsIn() == process && d != process)
                .map(d -> d.name).toList();
        return hosted.isEmpty() ? process.name : process.name + " (chunk servers " + String.join(", ", hosted) + ")";
    }

    /** The exit watcher: a death while the cluster runs is loud and never restarted. */
    private void onExit(DaemonProcess daemon, int exitCode) {
        exitCodes.put(daemon, exitCode);
        if (stopping || daemon.stopRequested()) {
            return;
        }
        StringBuilder report = new StringBuilder();
        report.append("basalt up: DIED: ").append(describe(daemon)).append(" (pid ")
                .append(daemon.process().pid()).append(") exited with ")
                .append(DaemonProcess.describeExit(exitCode))
                .append(ready ? "; not restarting it, the other daemons keep running\n"
                        : "; the start fails\n");
        report.append("basalt up: last lines of ").append(daemon.logFile).append(":\n");
        for (String line : daemon.logTail(LOG_TAIL_LINES)) {
            report.append("    ").append(line).append('\n');
        }
        synchronized (System.out) {
            System.out.print(report);
            System.out.flush();
        }
        try {
            writeClusterFile(true);
        } catch (IOException e) {
            say("cannot update " + layout.clusterFile() + ": " + e.getMessage());
        }
    }

    /** A daemon that died during start-up ends the start: the cluster would not be whole. */
    private void checkNoneDied() {
        for (DaemonProcess daemon : processes) {
            Integer exitCode = exitCodes.get(daemon);
            if (exitCode != null) {
                throw new UserError(describe(daemon) + " exited during start-up with "
                        + DaemonProcess.describeExit(exitCode) + "; see " + daemon.logFile);
            }
        }
    }

    /** The leader's id, or null if a signal came first. */
    private String awaitMetaLeader(MetaClient client, ShutdownSignal signal)
            throws InterruptedException {
        long deadlineNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(META_READY_MILLIS_MAX);
        String lastError = "no answer yet";
        while (System.nanoTime() < deadlineNanos) {
            checkNoneDied();
            try {
                MetaStatus status = client.status();
                if (!status.leaderId().isEmpty()) {
                    return status.leaderId();
                }
                lastError = "no leader yet";
            } catch (MetaException e) {
                lastError = e.getMessage();
            }
            if (signal.await(POLL_MILLIS)) {
                return null;
            }
        }
        throw new UserError("meta has no leader after " + META_READY_MILLIS_MAX / 1000 + " s ("
                + lastError + "); see " + layout.logDir() + "/meta*.log");
    }

    /** Until meta lists every one of {@code servers} UP with a heartbeat; false on a signal. */
    private boolean awaitChunkServersUp(MetaClient client, List<DaemonProcess> servers,
                                        ShutdownSignal signal) throws InterruptedException {
        long deadlineNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(CS_READY_MILLIS_MAX);
        List<String> waitingFor = List.of();
        while (System.nanoTime() < deadlineNanos) {
            checkNoneDied();
            try {
                Map<String, CsView> byAddress = new HashMap<>();
                for (CsView view : client.listCs()) {
                    byAddress.put(view.server().address(), view);
                }
                List<String> waiting = new ArrayList<>();
                for (DaemonProcess server : servers) {
                    CsView view = byAddress.get(layout.bind() + ":" + server.port);
                    if (view != null) {
                        server.id = String.valueOf(view.server().id());
                    }
                    if (view == null || view.server().status() != CsStatus.UP
                            || view.heartbeatAgeMillis() < 0) {
                        waiting.add(server.name);
                    }
                }
                if (waiting.isEmpty()) {
                    return true;
                }
                waitingFor = waiting;
            } catch (MetaException e) {
                waitingFor = List.of("meta (" + e.getMessage() + ")");
            }
            if (signal.await(POLL_MILLIS)) {
                return false;
            }
        }
        throw new UserError("chunk servers not UP after " + CS_READY_MILLIS_MAX / 1000 + " s: "
                + String.join(", ", waitingFor) + "; see their logs in " + layout.logDir());
    }

    private boolean awaitListening(DaemonProcess daemon, ShutdownSignal signal)
            throws InterruptedException {
        long deadlineNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(NBD_READY_MILLIS_MAX);
        while (System.nanoTime() < deadlineNanos) {
            checkNoneDied();
            try (Socket socket = new Socket()) {
                socket.connect(new InetSocketAddress(layout.bind(), daemon.port), 500);
                return true;
            } catch (IOException notYet) {
                if (signal.await(POLL_MILLIS)) {
                    return false;
                }
            }
        }
        throw new UserError(daemon.name + " does not accept connections on port " + daemon.port
                + " after " + NBD_READY_MILLIS_MAX / 1000 + " s; see " + daemon.logFile);
    }

    private void printReady(long startNanos, boolean nbd) {
        TextTable table = new TextTable("DAEMON", "ID", "PID", "LISTENS", "METRICS", "LOG");
        for (DaemonProcess daemon : daemons) {
            table.row(daemon.name, daemon.id == null ? "-" : daemon.id, daemon.pid(),
                    layout.bind() + ":" + daemon.port, daemon.metricsPort, daemon.logFile);
        }
        synchronized (System.out) {
            table.print(System.out);
            System.out.println("meta peers " + layout.metaPeers() + "; admin verbs run here find"
                    + " them in " + layout.clusterFile());
            System.out.println("basalt up: ready in " + seconds(startNanos) + " s;"
                    + " Ctrl-C stops the cluster");
            System.out.println("try it:");
            System.out.println("  ./basalt volume create vm1 --size 10G");
            System.out.println(nbd ? "  nbdinfo nbd://" + layout.bind() + ":" + layout.nbdPort()
                    + "/vm1" : "  ./basalt status");
            if (!noS3) {
                String aws = "AWS_SHARED_CREDENTIALS_FILE=" + layout.s3CredentialsFile() + " aws --profile basalt"
                        + " --region us-east-1 --endpoint-url http://" + layout.bind() + ":" + layout.s3Port();
                System.out.println("  " + aws + " s3 mb s3://demo");
                System.out.println("  " + aws + " s3 cp README.md s3://demo/");
            }
            System.out.flush();
        }
    }

    /** SIGTERM in reverse start order, group by group, each waited for (SIGKILL after a grace). */
    private void stopAll() throws InterruptedException {
        stopping = true;
        Thread worker = cacheWorker;
        if (worker != null) {
            worker.interrupt();
            worker.join(TimeUnit.SECONDS.toMillis(15));
        }
        if (processes.stream().noneMatch(DaemonProcess::alive)) {
            writeClusterFileQuietly();
            leaveCachesToHelper();
            return;
        }
        Map<String, String> roles = new java.util.LinkedHashMap<>();
        roles.put("nbd", "NBD gateway");
        roles.put("s3", "S3 gateway");
        roles.put("cs", "chunk servers");
        roles.put("meta", "meta");
        List<String> running = roles.entrySet().stream()
                .filter(role -> processes.stream().anyMatch(d -> d.role.equals(role.getKey())))
                .map(Map.Entry::getValue).toList();
        say("stopping the cluster: " + String.join(", then ", running));
        for (String role : roles.keySet()) {
            List<DaemonProcess> group = processes.stream().filter(d -> d.role.equals(role)).toList();
            group.forEach(DaemonProcess::requestStop);
            for (DaemonProcess daemon : group) {
                daemon.awaitStopped(daemon.stopTimeoutMillis());
            }
        }
        writeClusterFileQuietly();
        leaveCachesToHelper();
        say("stopped; the data stays in " + layout.dataDir() + " (up --data "
                + layout.dataDir() + " brings the cluster back)");
    }

    /** The daemons have written their AOT configurations; up writes its own as it exits. */
    private void leaveCachesToHelper() {
        try {
            aot.createPendingAfterExit();
        } catch (IOException e) {
            say("start-up caches not written: " + e.getMessage());
        }
    }

    private void writeClusterFileQuietly() {
        try {
            writeClusterFile(false);
        } catch (IOException e) {
            say("cannot update " + layout.clusterFile() + ": " + e.getMessage());
        }
    }

    /** The admin CLI's identity in DATA/tls (null with --insecure): up's own meta client uses it. */
    private io.basalt.common.tls.TlsIdentity adminIdentity() throws IOException {
        return insecure ? null : io.basalt.common.tls.TlsIdentity.load(
                ClusterCertificates.root(layout.dataDir()).resolve(ClusterCertificates.ADMIN_NAME));
    }

    /** {@code arguments} and then --tls-dir DATA/tls/NAME, or --insecure with up --insecure. */
    private List<String> withSecurity(List<String> arguments, String name) {
        List<String> all = new ArrayList<>(arguments);
        if (insecure) {
            all.add("--insecure");
        } else {
            all.addAll(List.of("--tls-dir", ClusterCertificates.root(layout.dataDir()).resolve(name).toString()));
        }
        return all;
    }

    /** Replaces cluster.json; {@code running}: whether this {@code up} still owns the cluster. */
    private synchronized void writeClusterFile(boolean running) throws IOException {
        List<ClusterFile.Daemon> entries = new ArrayList<>();
        for (DaemonProcess daemon : daemons) {
            Integer exitCode = stopping ? null : exitCodes.get(daemon.runsIn());
            entries.add(daemon.toFileEntry(exitCode));
        }
        new ClusterFile(ClusterFile.FORMAT_VERSION, layout.dataDir().toString(),
                running ? ProcessHandle.current().pid() : null, layout.bind(), layout.portBase(),
                layout.metaNodes(), layout.chunkServers(), layout.metaPeers(), entries,
                insecure ? ClusterFile.SECURITY_INSECURE : ClusterFile.SECURITY_TLS)
                .write(layout.clusterFile());
    }

    private static String seconds(long startNanos) {
        return String.format(Locale.ROOT, "%.1f", (System.nanoTime() - startNanos) / 1e9);
    }

    private static void say(String line) {
        synchronized (System.out) {
            System.out.println("basalt up: " + line);
            System.out.flush();
        }
    }
}
