package io.basalt.meta.server;

import io.basalt.meta.api.MetaClient;
import io.basalt.meta.api.MetaPeers;
import io.basalt.meta.api.MetaRequest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.grpc.GrpcConfigKeys;
import org.apache.ratis.protocol.RaftGroup;
import org.apache.ratis.protocol.RaftPeer;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.RaftServerConfigKeys;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.util.JvmPauseMonitor;
import org.apache.ratis.util.SizeInBytes;
import org.apache.ratis.util.TimeDuration;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One member of the meta group: a Ratis server with {@link MetaStateMachine}, its watchdog, and
 * a JVM pause monitor.
 *
 * <p>Design note: timeouts (docs/meta.md has the reasoning).
 * <ul>
 *   <li>Election timeout {@code electionTimeoutMin..2x}: 1.5-3 s by default. ZGC keeps GC pauses
 *       under a millisecond, so what a member must ride out is scheduling stalls on a loaded
 *       machine, not GC; 1.5 s is an order of magnitude above those yet elects a new leader
 *       within a few seconds of a crash. A one-member group elects itself after
 *       {@value #SOLO_FIRST_ELECTION_MILLIS_MIN} ms instead: there is nobody to wait for.</li>
 *   <li>Reads are linearizable by ReadIndex, not by leader lease: a lease trusts clocks and a
 *       leader that was paused (GC, SIGSTOP) could serve a stale read from an expired lease.</li>
 *   <li>Ratis' own pause monitor steps a leader down after a pause longer than the election
 *       timeout and closes the server after {@link Config#pauseCloseThreshold}; ours logs every
 *       pause above {@value #PAUSE_LOG_MILLIS} ms and counts them.</li>
 * </ul>
 *
 * <p>Threads: Ratis' own; the watchdog (with the recoverer) and leader-duty proposals run on
 * virtual threads.
 */
public final class MetaServer implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(MetaServer.class);
    static final long PAUSE_LOG_MILLIS = 200;
    /**
     * First election timeout of a one-member group (up to twice it): long enough for the member's
     * own start to settle, far below the 1.5 s a group with peers must wait to hear a leader.
     */
    static final long SOLO_FIRST_ELECTION_MILLIS_MIN = 50;
    private static final Duration WATCHDOG_PERIOD = Duration.ofMillis(500);
    private static final Duration RECOVERER_PERIOD = Duration.ofSeconds(1);
    /** How long an UNHEALTHY chunk server stays silent before its chunklets are rebuilt. */
    public static final Duration RECOVERY_GRACE_DEFAULT = Duration.ofSeconds(30);

    /**
     * Settings of one member. {@code recoveryGrace}: how long an UNHEALTHY chunk server must be
     * silent before the recoverer rebuilds its chunklets elsewhere (a DOWN one: at once).
     */
    public record Config(String id, String clusterName, List<RaftPeer> peers, Path dataDir,
                         long defaultChunkSizeBytes, long snapshotEveryEntries,
                         Duration electionTimeoutMin, Duration csUnhealthyAfter,
                         Duration csDownAfter, long logSegmentBytesMax,
                         Duration pauseCloseThreshold, Duration recoveryGrace,
                         io.basalt.common.tls.TlsIdentity tls) {
        /** Plain text (--insecure): no TLS identity. */
        public Config(String id, String clusterName, List<RaftPeer> peers, Path dataDir,
                      long defaultChunkSizeBytes, long snapshotEveryEntries,
                      Duration electionTimeoutMin, Duration csUnhealthyAfter,
                      Duration csDownAfter, long logSegmentBytesMax,
                      Duration pauseCloseThreshold, Duration recoveryGrace) {
            this(id, clusterName, peers, dataDir, defaultChunkSizeBytes, snapshotEveryEntries,
                    electionTimeoutMin, csUnhealthyAfter, csDownAfter, logSegmentBytesMax,
                    pauseCloseThreshold, recoveryGrace, null);
        }

        /**
         * Mutual TLS on Raft and client traffic as {@code identity} (role meta), with the role
         * checks of {@link MetaAuthorizer}; null: plain text.
         */
        public Config withTls(io.basalt.common.tls.TlsIdentity identity) {
            return new Config(id, clusterName, peers, dataDir, defaultChunkSizeBytes, snapshotEveryEntries,
                    electionTimeoutMin, csUnhealthyAfter, csDownAfter, logSegmentBytesMax,
                    pauseCloseThreshold, recoveryGrace, identity);
        }

        /** With the default recovery grace. */
        public Config(String id, String clusterName, List<RaftPeer> peers, Path dataDir,
                      long defaultChunkSizeBytes, long snapshotEveryEntries,
                      Duration electionTimeoutMin, Duration csUnhealthyAfter,
                      Duration csDownAfter, long logSegmentBytesMax,
                      Duration pauseCloseThreshold) {
            this(id, clusterName, peers, dataDir, defaultChunkSizeBytes, snapshotEveryEntries,
                    electionTimeoutMin, csUnhealthyAfter, csDownAfter, logSegmentBytesMax,
                    pauseCloseThreshold, RECOVERY_GRACE_DEFAULT);
        }

        public static Config defaults(String id, List<RaftPeer> peers, Path dataDir) {
            return new Config(id, MetaPeers.DEFAULT_CLUSTER, peers, dataDir, 1L << 30, 10_000,
                    Duration.ofMillis(1500), Duration.ofSeconds(3), Duration.ofSeconds(60),
                    8L << 20, Duration.ofMinutes(5), RECOVERY_GRACE_DEFAULT);
        }
    }

    private final Config config;
    /** Role checks on every gRPC call when the member runs TLS (unused in plain text). */
    private final MetaAuthorizer authorizer = new MetaAuthorizer();
    private final MetaStateMachine stateMachine;
    private final RaftServer server;
    private final MetaClient internalClient;
    private final JvmPauseMonitor pauseMonitor;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final CountDownLatch stopped = new CountDownLatch(1);
    private final AtomicLong pauseCount = new AtomicLong();
    private final Watchdog watchdogState = new Watchdog();
    private final Recoverer recovererState = new Recoverer();
    private final TombstoneCollector tombstoneCollector = new TombstoneCollector();
    /** Owned by the watchdog thread. */
    private long lastRecoveryPassNanos = System.nanoTime() - RECOVERER_PERIOD.toNanos();
    private volatile boolean failed;
    private Thread watchdog;
    /** The local admin socket, or null when it could not be made (the member serves on without it). */
    private volatile AdminSocketServer adminSocket;

    private MetaServer(Config config) throws IOException {
        this.config = config;
        RaftPeerId selfId = RaftPeerId.valueOf(config.id());
        int port = MetaPeers.addressOf(config.peers(), config.id()).getPort();
        Path raftDir = config.dataDir().resolve("raft");
        Files.createDirectories(raftDir);
        RaftProperties properties = properties(config, raftDir, port);
        stateMachine = new MetaStateMachine(config.dataDir().resolve("db"),
                config.defaultChunkSizeBytes());
        RaftGroup group = MetaPeers.group(config.clusterName(), config.peers());
        // Bootstrap once: a member formats its storage the first time, recovers ever after.
        boolean formatted = Files.isDirectory(raftDir.resolve(group.getGroupId().getUuid().toString()));
        org.apache.ratis.conf.Parameters parameters = io.basalt.meta.api.MetaTls.parameters(config.tls());
        if (config.tls() != null) {
            org.apache.ratis.grpc.GrpcConfigKeys.Server.setServicesCustomizer(parameters, authorizer.customizer());
        }
        server = RaftServer.newBuilder()
                .setParameters(parameters)
                .setServerId(selfId)
                .setGroup(group)
                .setStateMachine(stateMachine)
                .setProperties(properties)
                .setOption(formatted ? RaftStorage.StartupOption.RECOVER
                        : RaftStorage.StartupOption.FORMAT)
                .build();
        internalClient = MetaClient.connect(config.clusterName(), config.peers(),
                Duration.ofSeconds(3), 10, config.tls());
        pauseMonitor = JvmPauseMonitor.newBuilder().setName("meta-" + config.id())
                .setSleepDeviationThreshold(TimeDuration.valueOf(PAUSE_LOG_MILLIS, TimeUnit.MILLISECONDS))
                .setHandler(extra -> {
                    // Called every cycle with the extra sleep; only real pauses count.
                    if (extra.toLong(TimeUnit.MILLISECONDS) >= PAUSE_LOG_MILLIS) {
                        LOG.warn("meta {}: JVM pause of {} ms (pauses so far: {})", config.id(),
                                extra.toLong(TimeUnit.MILLISECONDS), pauseCount.incrementAndGet());
                    }
                })
                .build();
        stateMachine.setLeaderListener(this::onLeader);
        stateMachine.setShutdownListener(this::onRatisShutdown);
    }

    /**
     * Ratis closed this member by itself (apply failed, a JVM pause past the close threshold):
     * the process must end so that a supervisor restarts it from disk, not linger half alive.
     */
    private void onRatisShutdown() {
        if (closed.get()) {
            return;
        }
        failed = true;
        LOG.error("meta {}: the Raft server shut down on its own; stopping this member", config.id());
        Thread.ofVirtual().start(() -> {
            try {
                close();
            } catch (IOException e) {
                LOG.error("meta {}: close after shutdown failed", config.id(), e);
            }
        });
    }

    /** Requests refused by role so far, by [role, operation] (empty in plain text). */
    public Map<List<String>, Long> refusals() {
        return authorizer.refusals();
    }

    /** Whether this member stopped because Ratis shut it down, not because it was asked to. */
    public boolean failed() {
        return failed;
    }

    static RaftProperties properties(Config config, Path raftDir, int port) {
        RaftProperties properties = new RaftProperties();
        RaftServerConfigKeys.setStorageDir(properties, List.of(raftDir.toFile()));
        GrpcConfigKeys.Server.setPort(properties, port);
        RaftServerConfigKeys.Read.setOption(properties, RaftServerConfigKeys.Read.Option.LINEARIZABLE);
        RaftServerConfigKeys.Read.setLeaderLeaseEnabled(properties, false);
        long electionMillis = config.electionTimeoutMin().toMillis();
        RaftServerConfigKeys.Rpc.setTimeoutMin(properties,
                TimeDuration.valueOf(electionMillis, TimeUnit.MILLISECONDS));
        RaftServerConfigKeys.Rpc.setTimeoutMax(properties,
                TimeDuration.valueOf(2 * electionMillis, TimeUnit.MILLISECONDS));
        if (config.peers().size() == 1) {
            // A lone member has no leader to hear from and nobody to split a vote with, so the
            // first election timeout (1.5-3 s by default) only delays every start of a one-member
            // cluster (basalt up). Later elections keep the full timeout: there are none to win.
            RaftServerConfigKeys.Rpc.setFirstElectionTimeoutMin(properties,
                    TimeDuration.valueOf(SOLO_FIRST_ELECTION_MILLIS_MIN, TimeUnit.MILLISECONDS));
            RaftServerConfigKeys.Rpc.setFirstElectionTimeoutMax(properties,
                    TimeDuration.valueOf(2 * SOLO_FIRST_ELECTION_MILLIS_MIN, TimeUnit.MILLISECONDS));
        }
        RaftServerConfigKeys.Rpc.setRequestTimeout(properties,
                TimeDuration.valueOf(Math.max(3000, 2 * electionMillis), TimeUnit.MILLISECONDS));
        RaftServerConfigKeys.LeaderElection.setLeaderStepDownWaitTime(properties,
                TimeDuration.valueOf(electionMillis, TimeUnit.MILLISECONDS));
        RaftServerConfigKeys.setCloseThreshold(properties, TimeDuration.valueOf(
                config.pauseCloseThreshold().toMillis(), TimeUnit.MILLISECONDS));
        RaftServerConfigKeys.Snapshot.setAutoTriggerEnabled(properties, true);
        RaftServerConfigKeys.Snapshot.setAutoTriggerThreshold(properties,
                config.snapshotEveryEntries());
        RaftServerConfigKeys.Snapshot.setRetentionFileNum(properties, 2);
        RaftServerConfigKeys.Log.setPurgeUptoSnapshotIndex(properties, true);
        RaftServerConfigKeys.Log.setPurgeGap(properties, 1);
        RaftServerConfigKeys.Log.setSegmentSizeMax(properties,
                SizeInBytes.valueOf(config.logSegmentBytesMax()));
        RaftServerConfigKeys.Log.Appender.setInstallSnapshotEnabled(properties, true);
        return properties;
    }

    /** Builds and starts a member. */
    public static MetaServer start(Config config) throws IOException {
        MetaServer member = new MetaServer(config);
        member.server.start();
        member.pauseMonitor.start();
        member.watchdog = Thread.ofVirtual().name("meta-watchdog-" + config.id())
                .start(member::watchdogLoop);
        Path socket = config.dataDir().resolve(io.basalt.meta.api.AdminSocketFrame.SOCKET_FILE);
        try {
            member.adminSocket = AdminSocketServer.start(socket, member.internalClient);
        } catch (IOException | RuntimeException e) {
            LOG.warn("meta {}: no admin socket at {} ({}); admin verbs here connect over TLS instead", config.id(),
                    socket, e.toString());
        }
        LOG.info("meta {}: serving on {} with peers {}", config.id(),
                MetaPeers.addressOf(config.peers(), config.id()), config.peers());
        return member;
    }

    /** The local admin socket (requests, refused peers), or null when there is none. */
    public AdminSocketServer adminSocket() {
        return adminSocket;
    }

    /** Recovery items this member proposed as leader since it started, by [mode, outcome]. */
    public java.util.Map<java.util.List<String>, Long> recoveryItemsProposed() {
        return recovererState.proposedItems();
    }

    /** Version-index tombstones this member collected as leader since it started. */
    public long tombstonesCollected() {
        return tombstoneCollector.collectedTotal();
    }

    /** Items the recoverer's last pass on this member proposed (0 when it is not the leader). */
    public int recoveryItemsLastPass() {
        return recovererState.lastPassItems();
    }

    public MetaStateMachine stateMachine() {
        return stateMachine;
    }

    /** Blocks until {@link #close()}. */
    public void awaitStop() throws InterruptedException {
        stopped.await();
    }

    private void onLeader(long term) {
        // Fence chunks under a lease: a client that spoke to the old leader must re-read maps.
        Thread.ofVirtual().name("meta-epoch-" + config.id()).start(() -> {
            try {
                internalClient.call(new MetaRequest.NewLeaderEpoch(config.id()));
                LOG.info("meta {}: leader of term {}, leader epoch recorded", config.id(), term);
            } catch (RuntimeException e) {
                LOG.warn("meta {}: could not record leader epoch for term {}: {}", config.id(), term,
                        e.getMessage());
            }
        });
    }

    /**
     * Leader only: turns heartbeat silence into status changes, and every
     * {@link #RECOVERER_PERIOD} runs a recoverer pass; both propose through the log. A pass that
     * fails is logged and the next one starts over from the replicated state.
     */
    private void watchdogLoop() {
        while (!closed.get()) {
            try {
                Thread.sleep(WATCHDOG_PERIOD);
                if (stateMachine.leader()) {
                    watchdogState.pass(stateMachine, System.nanoTime(), config.csUnhealthyAfter(),
                            config.csDownAfter(), internalClient::call);
                }
            } catch (InterruptedException e) {
                return;
            } catch (RuntimeException e) {
                LOG.warn("meta {}: watchdog pass failed: {}", config.id(), e.toString());
            }
            try {
                long now = System.nanoTime();
                if (now - lastRecoveryPassNanos >= RECOVERER_PERIOD.toNanos()
                        && stateMachine.leader()) {
                    lastRecoveryPassNanos = now;
                    recovererState.pass(stateMachine, now, config.recoveryGrace(),
                            internalClient::call);
                }
            } catch (RuntimeException e) {
                LOG.warn("meta {}: recoverer pass failed: {}", config.id(), e.toString());
            }
            try {
                if (stateMachine.leader()) {
                    tombstoneCollector.pass(stateMachine, internalClient::call);
                }
            } catch (RuntimeException e) {
                LOG.warn("meta {}: tombstone collection failed: {}", config.id(), e.toString());
            }
        }
    }

    @Override
    public void close() throws IOException {
        if (!closed.compareAndSet(false, true)) {
            return;
        }
        try {
            if (watchdog != null) {
                watchdog.interrupt();
            }
            pauseMonitor.stop();
            AdminSocketServer socket = adminSocket;
            if (socket != null) {
                socket.close();
            }
            internalClient.close();
            server.close();
        } finally {
            stopped.countDown();
        }
    }
}
