package io.basalt.cli;

import io.basalt.chunkserver.ChunkVersionSink;
import io.basalt.chunkserver.MetaLink;
import io.basalt.common.ThreadNames;
import io.basalt.meta.api.CsChunkVersion;
import io.basalt.meta.api.CsChunkVersions;
import io.basalt.meta.api.MetaClient;
import io.basalt.meta.api.MetaError;
import io.basalt.meta.api.MetaException;
import io.basalt.meta.api.MetaRequest;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.ChunkletState;
import io.basalt.meta.model.Policy;
import java.util.ArrayList;
import java.util.List;
import io.basalt.meta.api.MetaPeers;
import java.io.IOException;
import io.basalt.meta.model.CsHealth;
import java.time.Duration;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The chunk server's link to the real meta service, over {@link MetaClient}. Lives in {@code cli}
 * because it is the one module that sees both sides: the chunk server must not depend on meta.
 *
 * <p>Two clients: start-up calls (cluster id, registration) use the default one, which rides out a
 * leader election (about 30 s of Ratis retries); heartbeats use one that gives up after a few
 * seconds, so a heartbeat never lags the next by much: a dead meta shows up as failed heartbeats
 * (logged, rate-limited, by {@code ChunkServer}), not as one call blocked for half a minute.
 *
 * <p>Heartbeats carry the health as meta's {@link CsHealth} code (OK, FULL, DISK_FAILED); the
 * watchdog turns FULL into the replicated status FULL (no new chunklets) and DISK_FAILED into
 * UNHEALTHY.
 *
 * <p>Chunk versions are pulled, not pushed: {@link #subscribeVersions} starts the thread
 * {@code basalt-cs-versions}, which reads this CS's version index from meta
 * ({@link MetaClient#csChunkVersions}) from changeSeq 0 first (a full sync: chunks the sink knows
 * but meta no longer lists for this CS are deleted), then from the last seq it applied, whenever
 * a heartbeat reply reports a higher seq, when the CS sees a request newer than what it knows
 * ({@link #versionsBehind}, at most once per {@link #HINT_PULL_INTERVAL}), and at least every
 * {@link #PULL_INTERVAL}. The last seq lives only in memory: a restart does a full sync. A
 * failed pull is logged (rate-limited) and retried after {@link #RETRY_DELAY}.
 */
public final class MetaClientLink implements MetaLink {
    private static final Logger log = LoggerFactory.getLogger(MetaClientLink.class);
    /** Per attempt of a heartbeat; with {@link #HEARTBEAT_RETRY_COUNT} about 3 s in all. */
    static final Duration HEARTBEAT_TIMEOUT = Duration.ofSeconds(1);
    static final int HEARTBEAT_RETRY_COUNT = 2;
    /** Meta refuses an empty zone label; a CS started without --zone is in this one. */
    static final String DEFAULT_ZONE = "default";
    /** A pull at least this often: a lost heartbeat reply or a missed hint only delays a fence. */
    static final Duration PULL_INTERVAL = Duration.ofSeconds(30);
    /**
     * Hints (requests newer than known) come per request: pull for them at most this often. A
     * snapshot's fence waits for this pull (its INFO poll hints it), so it is short: a pull is an
     * incremental read from the last applied seq, and 10 a second per server is cheap for meta.
     * Was 1 s: bench/snapshots.sh measured fences of ~1 s while writes kept the servers pulling.
     */
    static final Duration HINT_PULL_INTERVAL = Duration.ofMillis(100);
    static final Duration RETRY_DELAY = Duration.ofSeconds(1);
    /** At most one failed-pull warning per this interval (after the first). */
    static final Duration WARN_INTERVAL = Duration.ofSeconds(30);

    private final String peers;
    private final MetaClient client;
    private final MetaClient heartbeatClient;
    private final String softwareVersion;
    private volatile VersionPuller puller;

    private MetaClientLink(String peers, MetaClient client, MetaClient heartbeatClient,
            String softwareVersion) {
        this.peers = peers;
        this.client = client;
        this.heartbeatClient = heartbeatClient;
        this.softwareVersion = softwareVersion;
    }

    /**
     * A link to the meta group of {@code peers} ({@link MetaPeers#SYNTAX}, as the admin verbs take).
     *
     * @throws IllegalArgumentException with the syntax when {@code peers} does not parse
     */
    public static MetaClientLink connect(String peers, String softwareVersion,
            io.basalt.common.tls.TlsIdentity identity) {
        var parsed = MetaPeers.parse(peers);
        MetaClient client = MetaClient.connect(MetaPeers.DEFAULT_CLUSTER, parsed,
                MetaClient.REQUEST_TIMEOUT, MetaClient.RETRY_COUNT, identity);
        MetaClient heartbeatClient = MetaClient.connect(MetaPeers.DEFAULT_CLUSTER, parsed,
                HEARTBEAT_TIMEOUT, HEARTBEAT_RETRY_COUNT, identity);
        return new MetaClientLink(peers, client, heartbeatClient, softwareVersion);
    }

    @Override
    public UUID clusterId() throws IOException {
        try {
            return client.clusterId();
        } catch (MetaException e) {
            throw new IOException("cannot get the cluster id from meta at " + peers + ": "
                    + e.getMessage(), e);
        }
    }

    @Override
    public int register(int csId, String address, String hostLabel, String zoneLabel,
            long capacityBytes) throws IOException {
        String zone = zoneLabel == null || zoneLabel.isBlank() ? DEFAULT_ZONE : zoneLabel;
        try {
            return client.registerCs(csId, address, hostLabel, zone, capacityBytes, softwareVersion)
                    .id();
        } catch (MetaException e) {
            throw new IOException("meta at " + peers + " refused to register chunk server "
                    + (csId == 0 ? "(new)" : csId) + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void heartbeat(int csId, long capacityBytes, long usedBytes, Health health)
            throws IOException {
        heartbeat(csId, capacityBytes, usedBytes, health, RecoveryProgress.NONE);
    }

    @Override
    public void heartbeat(int csId, long capacityBytes, long usedBytes, Health health,
                          RecoveryProgress progress) throws IOException {
        heartbeat(csId, capacityBytes, usedBytes, health, progress,
                new ScrubReport(false, 0, 0, 0, 0, 0, 0));
    }

    @Override
    public void heartbeat(int csId, long capacityBytes, long usedBytes, Health health,
                          RecoveryProgress progress, ScrubReport scrub) throws IOException {
        heartbeat(csId, capacityBytes, usedBytes, health, progress, scrub, new HotReport(0, 0, 0, 0, 0));
    }

    @Override
    public void heartbeat(int csId, long capacityBytes, long usedBytes, Health health,
                          RecoveryProgress progress, ScrubReport scrub, HotReport hot) throws IOException {
        try {
            MetaClient.HeartbeatReply reply = heartbeatClient.heartbeat(csId, capacityBytes,
                    usedBytes, switch (health) {
                        case OK -> CsHealth.OK;
                        case FULL -> CsHealth.FULL;
                        case DISK_FAILED -> CsHealth.DISK_FAILED;
                    }, new MetaRequest.Heartbeat.RecoveryProgress(progress.activeChunklets(),
                            progress.queuedChunklets(), progress.bytesDone(), progress.bytesTotal(),
                            progress.bytesPerSecond(), progress.rebuiltBytesTotal(),
                            progress.catchUpBytesTotal()),
                    new MetaRequest.Heartbeat.ScrubReport(scrub.running(), scrub.passBytes(),
                            scrub.passDamaged(), scrub.passRepaired(), scrub.lastPassEndMillis(),
                            scrub.lastPassDamaged(), scrub.lastPassRepaired()),
                    appliedChangeSeq(), new MetaRequest.Heartbeat.HotReport(hot.usedBytes(), hot.capacityBytes(),
                            hot.frozenBlocksTotal(), hot.frozenBlocksPerSecond(), hot.freezeFailuresTotal()));
            VersionPuller current = puller;
            if (current != null) {
                current.metaHas(reply.highestChangeSeq());
            }
        } catch (MetaException e) {
            throw new IOException("heartbeat to meta at " + peers + ": " + e.getMessage(), e);
        }
    }

    /** Up to which changeSeq the version puller has applied (deletes durable); -1 none yet. */
    private long appliedChangeSeq() {
        VersionPuller current = puller;
        return current == null ? MetaRequest.Heartbeat.APPLIED_UNKNOWN
                : Math.max(MetaRequest.Heartbeat.APPLIED_UNKNOWN, current.appliedSeq);
    }

    @Override
    public List<RecoveryTask> recoveryTasks(int csId) throws IOException {
        try {
            List<RecoveryTask> tasks = new ArrayList<>();
            for (io.basalt.meta.api.RecoveryTask task : client.recoveryTasks(csId)) {
                tasks.add(toTask(task, csId));
            }
            return tasks;
        } catch (MetaException e) {
            throw new IOException("recovery tasks from meta at " + peers + ": " + e.getMessage(), e);
        }
    }

    @Override
    public RecoveryTask chunkMap(long chunkUid, int csId) throws IOException {
        try {
            return client.chunkMap(chunkUid).map(task -> toTask(task, csId)).orElse(null);
        } catch (MetaException e) {
            throw new IOException("chunk map of " + chunkUid + " from meta at " + peers + ": "
                    + e.getMessage(), e);
        }
    }

    /** Meta's task (or chunk map) as the chunk server sees it; targetIndex -1 if none is on csId. */
    private static RecoveryTask toTask(io.basalt.meta.api.RecoveryTask task, int csId) {
        Policy policy = Policy.parse(task.policyName());
        int targetIndex = -1;
        List<Member> members = new ArrayList<>();
        for (Chunklet chunklet : task.chunk().chunklets()) {
            String address = task.addressOf(chunklet.csId());
            // The source of a move (MIGRATING) holds current data: a valid source too.
            members.add(new Member(chunklet.index(), chunklet.csId(), address == null ? "" : address,
                    chunklet.state() == ChunkletState.UPTODATE || chunklet.state() == ChunkletState.MIGRATING,
                    chunklet.state() == ChunkletState.RECOVERING));
            if (chunklet.csId() == csId) {
                targetIndex = chunklet.index();
            }
        }
        return new RecoveryTask(task.chunk().uid(), task.chunk().version(), task.startVersion(),
                task.kind() == io.basalt.meta.api.RecoveryTask.KIND_CATCH_UP, policy.erasureCoded(),
                policy.dataCount(), policy.parityCount(), task.chunkletSizeBytes(), targetIndex, members);
    }

    @Override
    public void recoveryDone(long chunkUid, int csId, long startVersion) throws IOException {
        try {
            client.recoveryDone(chunkUid, csId, startVersion);
        } catch (MetaException e) {
            if (e.error() == MetaError.STALE_VERSION || e.error() == MetaError.NOT_FOUND) {
                throw new StaleRecoveryException(e.getMessage());
            }
            throw new IOException("recovery done to meta at " + peers + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void reportFailure(long chunkUid, long chunkVersion, int csId) throws IOException {
        try {
            client.reportFailure(chunkUid, chunkVersion, csId);
        } catch (MetaException e) {
            throw new IOException("report failure of chunk " + Long.toHexString(chunkUid) + " on cs " + csId
                    + " to meta at " + peers + ": " + e.getMessage(), e);
        }
    }

    @Override
    public synchronized void subscribeVersions(int csId, ChunkVersionSink sink) {
        if (puller != null) {
            throw new IllegalStateException("chunk versions are already delivered for chunk server "
                    + puller.csId);
        }
        puller = new VersionPuller(csId, sink);
        puller.thread.start();
    }

    @Override
    public void versionsBehind() {
        VersionPuller current = puller;
        if (current != null) {
            current.hint();
        }
    }

    @Override
    public void close() throws IOException {
        VersionPuller current = puller;
        if (current != null) {
            current.stop();
        }
        try {
            heartbeatClient.close();
        } finally {
            client.close();
        }
    }

    /**
     * Pulls this CS's version index from meta into the sink. State: {@link #appliedSeq} is owned
     * by the puller thread (volatile: heartbeats compare with it); the signals ({@link #metaSeq},
     * {@link #hinted}, {@link #stopped}) are set by other threads, which then unpark it.
     */
    private final class VersionPuller implements Runnable {
        final int csId;
        final ChunkVersionSink sink;
        final Thread thread;
        /** Highest seq applied to the sink; -1: none yet, the next pull is a full sync. */
        volatile long appliedSeq = -1;
        /** Highest seq a heartbeat reply reported. */
        final AtomicLong metaSeq = new AtomicLong(-1);
        final AtomicBoolean hinted = new AtomicBoolean();
        volatile boolean stopped;
        private long failures;
        private long lastWarnNanos;

        VersionPuller(int csId, ChunkVersionSink sink) {
            this.csId = csId;
            this.sink = sink;
            this.thread = new Thread(this, ThreadNames.of("basalt-cs-versions"));
            thread.setDaemon(true);
        }

        void metaHas(long highestSeq) {
            if (highestSeq > appliedSeq
                    && metaSeq.getAndAccumulate(highestSeq, Math::max) < highestSeq) {
                LockSupport.unpark(thread);
            }
        }

        void hint() {
            if (hinted.compareAndSet(false, true)) {
                LockSupport.unpark(thread);
            }
        }

        void stop() {
            stopped = true;
            thread.interrupt();
            try {
                thread.join(Duration.ofSeconds(5));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }

        @Override
        public void run() {
            long lastPullNanos = System.nanoTime() - PULL_INTERVAL.toNanos();
            long retryAtNanos = lastPullNanos;
            boolean retry = false;
            while (!stopped) {
                long now = System.nanoTime();
                boolean due = retry || appliedSeq < 0 || metaSeq.get() > appliedSeq
                        || now - lastPullNanos >= PULL_INTERVAL.toNanos()
                        || (hinted.get() && now - lastPullNanos >= HINT_PULL_INTERVAL.toNanos());
                if (due && now - retryAtNanos >= 0) {
                    hinted.set(false);
                    lastPullNanos = now;
                    try {
                        pull();
                        retry = false;
                        if (failures > 0) {
                            log.info("chunk version pulls from meta succeed again after {} failed",
                                    failures);
                            failures = 0;
                        }
                    } catch (Exception e) {
                        if (stopped) {
                            break;
                        }
                        failures++;
                        retry = true;
                        retryAtNanos = System.nanoTime() + RETRY_DELAY.toNanos();
                        if (failures == 1 || now - lastWarnNanos >= WARN_INTERVAL.toNanos()) {
                            lastWarnNanos = now;
                            log.warn("pulling chunk versions of chunk server {} from meta failed"
                                    + " ({} in a row; retrying): {}", csId, failures, e.toString());
                        }
                    }
                    continue;
                }
                // Sleep until the next periodic pull, a retry, or a signal (heartbeat, hint, stop).
                long waitNanos = lastPullNanos + PULL_INTERVAL.toNanos() - now;
                if (due) {
                    waitNanos = Math.min(waitNanos, retryAtNanos - now);
                } else if (hinted.get()) {
                    waitNanos = Math.min(waitNanos,
                            lastPullNanos + HINT_PULL_INTERVAL.toNanos() - now);
                }
                LockSupport.parkNanos(this, Math.max(1_000_000, waitNanos));
                if (Thread.interrupted() && stopped) {
                    break;
                }
            }
        }

        /** One pull: full from 0 the first time, then from the last applied seq. */
        private void pull() throws IOException {
            boolean full = appliedSeq < 0;
            CsChunkVersions changes = client.csChunkVersions(csId, full ? 0 : appliedSeq);
            // Entries are in seq order and a uid may recur across pages: the later entry wins.
            Map<Long, Long> versions = new HashMap<>();
            Map<Long, Long> writersFrom = new HashMap<>();
            Set<Long> deleted = new HashSet<>();
            for (CsChunkVersion entry : changes.entries()) {
                writersFrom.remove(entry.chunkUid());
                if (entry.deleted()) {
                    versions.remove(entry.chunkUid());
                    deleted.add(entry.chunkUid());
                } else {
                    deleted.remove(entry.chunkUid());
                    versions.put(entry.chunkUid(), entry.version());
                    if (entry.writersFrom() < entry.version()) {
                        writersFrom.put(entry.chunkUid(), entry.writersFrom());
                    }
                }
            }
            if (full) {
                for (long chunkUid : sink.knownChunkUids()) {
                    if (!versions.containsKey(chunkUid)) {
                        deleted.add(chunkUid);
                    }
                }
            }
            sink.chunkVersions(versions, writersFrom, deleted);
            long before = appliedSeq;
            appliedSeq = Math.max(appliedSeq, changes.highestSeq());
            if (full || !versions.isEmpty() || !deleted.isEmpty()) {
                log.info("chunk versions of chunk server {}: {} pull after seq {}: {} versions, {}"
                        + " deleted, now at seq {}", csId, full ? "full" : "incremental",
                        Math.max(0, before), versions.size(), deleted.size(), appliedSeq);
            }
        }
    }
}
