package io.basalt.chunkserver;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link MetaLink} that talks to no meta service: the cluster id is derived from the given cluster
 * name, ids are handed out locally, heartbeats are logged at debug level and no versions arrive (so
 * nothing is fenced except what the versions file already holds). For tests and for running a chunk
 * server before the adapter over the meta client is wired; never for a real cluster.
 */
public final class LocalMetaLink implements MetaLink {
    private static final Logger log = LoggerFactory.getLogger(LocalMetaLink.class);

    private final UUID clusterId;
    private final AtomicInteger nextCsId = new AtomicInteger(1);
    private volatile ChunkVersionSink sink;
    private volatile long lastUsedBytes;
    private volatile Health lastHealth;
    private volatile HotReport lastHot;
    private final AtomicInteger versionsBehindHints = new AtomicInteger();

    public LocalMetaLink(String clusterName) {
        this(clusterName, 1);
    }

    /** A link that hands out ids from {@code firstCsId} (tests with several servers need distinct ids). */
    public LocalMetaLink(String clusterName, int firstCsId) {
        this.clusterId = UUID.nameUUIDFromBytes(("basalt-cluster:" + clusterName).getBytes(StandardCharsets.UTF_8));
        this.nextCsId.set(firstCsId);
    }

    @Override
    public UUID clusterId() {
        return clusterId;
    }

    @Override
    public int register(int csId, String address, String hostLabel, String zoneLabel, long capacityBytes) {
        int id = csId != 0 ? csId : nextCsId.getAndIncrement();
        log.info("local meta link: chunk server {} at {} (host {}, zone {})", id, address, hostLabel, zoneLabel);
        return id;
    }

    @Override
    public void heartbeat(int csId, long capacityBytes, long usedBytes, Health health) {
        lastUsedBytes = usedBytes;
        lastHealth = health;
        log.debug("heartbeat cs {}: capacity {} used {} health {}", csId, capacityBytes, usedBytes, health);
    }

    @Override
    public void subscribeVersions(int csId, ChunkVersionSink sink) {
        this.sink = sink;
    }

    /** Pushes a version as meta would (tests). */
    public void pushVersion(long chunkUid, long version) throws IOException {
        sink.chunkVersion(chunkUid, version);
    }

    /** Pushes a version with the chunk's writersFrom, as meta's version index would (tests). */
    public void pushVersion(long chunkUid, long version, long writersFrom) throws IOException {
        sink.chunkVersions(java.util.Map.of(chunkUid, version), java.util.Map.of(chunkUid, writersFrom),
                java.util.Set.of());
    }

    @Override
    public void versionsBehind() {
        versionsBehindHints.incrementAndGet();
    }

    /** How often the CS said its versions are behind (a request newer than it knows). */
    public int versionsBehindHints() {
        return versionsBehindHints.get();
    }

    /** Tells the CS that meta removed a chunk from it (tests). */
    public void pushDeleted(long chunkUid) throws IOException {
        sink.chunkDeleted(chunkUid);
    }

    private final java.util.Map<Long, RecoveryTask> recoveryTasks = new java.util.concurrent.ConcurrentHashMap<>();
    private final java.util.List<Long> recoveriesDone = new java.util.concurrent.CopyOnWriteArrayList<>();

    /** Makes meta list a recovery task for this CS (tests): the worker picks it up at its next poll. */
    public void addRecoveryTask(RecoveryTask task) {
        recoveryTasks.put(task.chunkUid(), task);
    }

    @Override
    public java.util.List<RecoveryTask> recoveryTasks(int csId) {
        return java.util.List.copyOf(recoveryTasks.values());
    }

    @Override
    public void recoveryDone(long chunkUid, int csId, long startVersion) throws IOException {
        RecoveryTask task = recoveryTasks.get(chunkUid);
        if (task == null || task.startVersion() != startVersion) {
            throw new StaleRecoveryException("recovery of chunk " + Long.toHexString(chunkUid) + " is not current");
        }
        recoveryTasks.remove(chunkUid);
        recoveriesDone.add(chunkUid);
    }

    private final java.util.Map<Long, RecoveryTask> chunkMaps = new java.util.concurrent.ConcurrentHashMap<>();

    /** What {@link #chunkMap} answers for the chunk (tests): its map, targetIndex this CS's chunklet. */
    public void setChunkMap(RecoveryTask map) {
        chunkMaps.put(map.chunkUid(), map);
    }

    @Override
    public RecoveryTask chunkMap(long chunkUid, int csId) {
        return chunkMaps.get(chunkUid);
    }

    private final java.util.List<Long> failuresReported = new java.util.concurrent.CopyOnWriteArrayList<>();

    @Override
    public void reportFailure(long chunkUid, long chunkVersion, int csId) {
        failuresReported.add(chunkUid);
    }

    /** Chunks whose chunklet on this CS it reported failed itself (tests). */
    public java.util.List<Long> failuresReported() {
        return failuresReported;
    }

    /** Chunks whose recovery the CS reported done, in order (tests). */
    public java.util.List<Long> recoveriesDone() {
        return recoveriesDone;
    }

    @Override
    public void heartbeat(int csId, long capacityBytes, long usedBytes, Health health, RecoveryProgress progress,
            ScrubReport scrub, HotReport hot) {
        lastHot = hot;
        heartbeat(csId, capacityBytes, usedBytes, health);
    }

    /** The hot store and freezer report of the last heartbeat (null: none yet). */
    public HotReport lastHot() {
        return lastHot;
    }

    public long lastUsedBytes() {
        return lastUsedBytes;
    }

    public Health lastHealth() {
        return lastHealth;
    }

    @Override
    public void close() {}
}
