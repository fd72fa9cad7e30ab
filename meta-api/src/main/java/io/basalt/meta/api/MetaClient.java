package io.basalt.meta.api;

import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.ChunkServer;
import io.basalt.meta.model.CsHealth;
import io.basalt.meta.model.CsStatus;
import io.basalt.meta.model.Lease;
import io.basalt.meta.model.Volume;
import io.basalt.meta.model.VolumeQos;
import io.basalt.meta.model.s3.Bucket;
import io.basalt.meta.model.s3.ObjectExtent;
import io.basalt.meta.model.s3.ObjectListing;
import io.basalt.meta.model.s3.ObjectLog;
import io.basalt.meta.model.s3.ObjectVersion;
import io.basalt.meta.model.s3.Part;
import io.basalt.meta.model.s3.PartListing;
import io.basalt.meta.model.s3.S3User;
import io.basalt.meta.model.s3.Upload;
import io.basalt.meta.model.s3.UploadListing;
import io.basalt.meta.model.s3.Versioning;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import org.apache.ratis.client.RaftClient;
import org.apache.ratis.client.RaftClientConfigKeys;
import org.apache.ratis.conf.Parameters;
import org.apache.ratis.conf.RaftProperties;
import org.apache.ratis.grpc.GrpcFactory;
import org.apache.ratis.protocol.ClientId;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientReply;
import org.apache.ratis.protocol.RaftPeer;
import org.apache.ratis.protocol.exceptions.StateMachineException;
import org.apache.ratis.retry.RetryPolicies;
import org.apache.ratis.retry.RetryPolicy;
import org.apache.ratis.thirdparty.com.google.protobuf.ByteString;
import org.apache.ratis.util.TimeDuration;

/**
 * The Java client of meta, used by the CLI, chunk servers and the client library.
 *
 * <p>Leader discovery, redirects and retries are Ratis' {@link RaftClient}: each attempt waits
 * {@link #REQUEST_TIMEOUT} and retries every {@link #RETRY_SLEEP} for {@link #RETRY_COUNT}
 * attempts, about 30 s in all, which rides out a leader election (a few seconds) with room for
 * a slow machine. Ratis' retry cache makes a retried write apply once. Form errors are checked
 * here too, so a bad request never leaves the process.
 *
 * <p>Thread-safe: one client may be shared.
 */
public final class MetaClient implements AutoCloseable {
    public static final Duration REQUEST_TIMEOUT = Duration.ofSeconds(3);
    public static final Duration RETRY_SLEEP = Duration.ofMillis(200);
    public static final int RETRY_COUNT = 150;

    /** Ratis to the group; null for a client of a member's local admin socket. */
    private final RaftClient client;
    /** A member's local admin socket ({@link #connectLocal}); null for a client over Ratis. */
    private final AdminSocketClient local;
    /** Plain text (no identity): a TLS meta closes such connections without a word, so say so. */
    private final boolean plain;

    /** A peer that turned out to speak TLS to this plain client (set by its retry policy), or null. */
    private final java.util.concurrent.atomic.AtomicReference<String> tlsPeer;

    /**
     * The name in this client's chunk server certificate ("" without one). A chunk server's registration,
     * heartbeats and recovery reports carry it: meta checks it against the certificate and
     * against the name its id is bound to, so one chunk server cannot speak for another.
     */
    private final String holder;

    private MetaClient(RaftClient client, boolean plain, java.util.concurrent.atomic.AtomicReference<String> tlsPeer,
                       String holder) {
        this.client = client;
        this.local = null;
        this.plain = plain;
        this.tlsPeer = tlsPeer;
        this.holder = holder;
    }

    private MetaClient(AdminSocketClient local) {
        this.client = null;
        this.local = local;
        this.plain = false;
        this.tlsPeer = new java.util.concurrent.atomic.AtomicReference<>();
        this.holder = "";
    }

    /**
     * A client of the meta member on this machine whose admin socket is {@code socket}
     * (docs/security.md, "The local admin socket"): requests go to that member over a Unix socket,
     * which forwards them with its own identity, so the client needs no certificate, TLS or gRPC
     * (an admin verb's start is most of its time). Fails at once when nothing listens there.
     */
    public static MetaClient connectLocal(java.nio.file.Path socket, Duration requestTimeout) throws IOException {
        return new MetaClient(AdminSocketClient.connect(socket, requestTimeout));
    }

    /** A client of the group of {@code peers} (see {@link MetaPeers#SYNTAX}). */
    public static MetaClient connect(String peers) {
        return connect(MetaPeers.DEFAULT_CLUSTER, MetaPeers.parse(peers), REQUEST_TIMEOUT, RETRY_COUNT);
    }

    /** As {@link #connect(String)}, over mutual TLS as {@code identity} (null: plain, --insecure). */
    public static MetaClient connect(String peers, io.basalt.common.tls.TlsIdentity identity) {
        return connect(MetaPeers.DEFAULT_CLUSTER, MetaPeers.parse(peers), REQUEST_TIMEOUT, RETRY_COUNT, identity);
    }

    public static MetaClient connect(String clusterName, List<RaftPeer> peers,
                                     Duration requestTimeout, int retryCount) {
        return connect(clusterName, peers, requestTimeout, retryCount, null);
    }

    /**
     * A client of the group of {@code peers} over mutual TLS as {@code identity}, or plain text
     * when it is null (a cluster run --insecure). Meta decides what the identity's role may do.
     */
    public static MetaClient connect(String clusterName, List<RaftPeer> peers,
                                     Duration requestTimeout, int retryCount,
                                     io.basalt.common.tls.TlsIdentity identity) {
        RaftProperties properties = new RaftProperties();
        RaftClientConfigKeys.Rpc.setRequestTimeout(properties,
                TimeDuration.valueOf(requestTimeout.toMillis(), TimeUnit.MILLISECONDS));
        ClientId clientId = ClientId.randomId();
        RetryPolicy retries = MetaTls.noRetry(RetryPolicies.retryUpToMaximumCountWithFixedSleep(retryCount,
                TimeDuration.valueOf(RETRY_SLEEP.toMillis(), TimeUnit.MILLISECONDS)));
        java.util.concurrent.atomic.AtomicReference<String> tlsPeer = new java.util.concurrent.atomic.AtomicReference<>();
        if (identity == null) {
            retries = MetaTls.failFastAgainstTls(retries, peers.stream().map(RaftPeer::getAddress).toList(), tlsPeer);
        }
        RaftClient client = RaftClient.newBuilder()
                .setClientId(clientId)
                .setProperties(properties)
                .setRaftGroup(MetaPeers.group(clusterName, peers))
                .setClientRpc(new GrpcFactory(MetaTls.parameters(identity)).newRaftClientRpc(clientId, properties))
                .setRetryPolicy(retries)
                .build();
        // Only a chunk server's certificate speaks for a chunk server id (and binds it).
        String holder = identity != null && identity.role() == io.basalt.common.tls.Role.CHUNK_SERVER
                ? identity.name() : "";
        return new MetaClient(client, identity == null, tlsPeer, holder);
    }

    // ---------------------------------------------------------------------------------------
    // Transport

    /** Sends a request (through the log if it is a write) and returns the checked reply body. */
    public WireReader call(MetaRequest request) {
        return MetaReply.decode(callForReply(request)).bodyOrThrow();
    }

    /**
     * Sends a request and returns meta's encoded {@link MetaReply}, refusal or not; a request that
     * got no reply (no leader, the form is bad, the role may not) throws {@link MetaException}.
     * What a member's admin socket forwards.
     */
    public byte[] callForReply(MetaRequest request) {
        String formError = MetaRequestForm.checkForm(request);
        if (formError != null) {
            throw new MetaException(MetaError.INVALID, formError);
        }
        if (local != null) {
            return local.send(request);
        }
        Message message = Message.valueOf(ByteString.copyFrom(request.encode()));
        RaftClientReply reply;
        try {
            if (request.op().isWrite()) {
                reply = client.io().send(message);
            } else if (servedByLeaderOnly(request.op())) {
                reply = client.io().sendReadOnlyNonLinearizable(message);
            } else {
                reply = client.io().sendReadOnly(message);
            }
        } catch (StateMachineException e) {
            throw new MetaException(MetaError.INVALID, rootMessage(e), e);
        } catch (IOException e) {
            String refused = MetaTls.explain(e);
            if (refused != null) {
                throw new MetaException(MetaError.FORBIDDEN, request.op() + ": " + refused, e);
            }
            if (tlsPeer.get() != null) {
                throw new MetaException(MetaError.FORBIDDEN, request.op() + ": meta at " + tlsPeer.get()
                        + " speaks TLS and this client has no certificate: pass an admin certificate with --tls-dir"
                        + " DIR or $BASALT_TLS_DIR (basalt up keeps one in DATA/tls/admin)", e);
            }
            throw new MetaException(MetaError.NOT_LEADER, "meta did not answer " + request.op()
                    + ": " + rootMessage(e) + "; check the meta peers (basalt meta status)"
                    + (plain ? "; if meta runs TLS, pass an admin certificate: --tls-dir DIR or $BASALT_TLS_DIR" : ""), e);
        }
        if (!reply.isSuccess()) {
            Exception e = reply.getException();
            if (e instanceof StateMachineException) {
                throw new MetaException(MetaError.INVALID, rootMessage(e), e);
            }
            String refused = e == null ? null : MetaTls.explain(e);
            if (refused != null) {
                throw new MetaException(MetaError.FORBIDDEN, request.op() + ": " + refused, e);
            }
            throw new MetaException(MetaError.NOT_LEADER, "meta refused " + request.op() + ": "
                    + (e == null ? "unknown" : rootMessage(e)), e);
        }
        return reply.getMessage().getContent().toByteArray();
    }

    /**
     * Requests about the leader's soft state (heartbeats, and the listings that show it) must reach
     * the leader itself. A linearizable read may be served by a follower (it asks the leader for
     * the read index, then answers from its own memory), so after a leader change a client that
     * still talks to a follower would hand it every heartbeat and the leader would never hear
     * one. The non-linearizable read goes to the leader only (a follower answers NotLeader and the
     * client follows the redirect); the soft state is the leader's anyway.
     */
    private static boolean servedByLeaderOnly(MetaOp op) {
        return op == MetaOp.HEARTBEAT || op == MetaOp.LIST_CS || op == MetaOp.STATUS
                || op == MetaOp.RECOVERY_STATUS;
    }

    /** The innermost message, without Ratis' "server id: " prefixes. */
    private static String rootMessage(Throwable e) {
        Throwable cause = e;
        while (cause.getCause() != null && cause.getCause() != cause) {
            cause = cause.getCause();
        }
        String message = cause.getMessage() == null ? cause.toString() : cause.getMessage();
        int marker = message.indexOf("java.io.IOException: ");
        if (marker >= 0) {
            message = message.substring(marker + "java.io.IOException: ".length());
        }
        return message.lines().findFirst().orElse(message);
    }

    // ---------------------------------------------------------------------------------------
    // Chunk servers

    public ChunkServer registerCs(int csId, String address, String host, String zone,
                                  long capacityBytes, String softwareVersion) {
        return ChunkServer.decode(call(new MetaRequest.RegisterCs(csId, address, host, zone,
                capacityBytes, softwareVersion, holder)));
    }

    /**
     * What meta answers a heartbeat: the status it has for the chunk server and the highest
     * changeSeq of its version index ({@link #csChunkVersions}); -1 from an older meta that does
     * not send it.
     */
    public record HeartbeatReply(CsStatus status, long highestChangeSeq) {}

    /** Sends a heartbeat; returns the status and version index position meta has for this CS. */
    public HeartbeatReply heartbeat(int csId, long capacityBytes, long usedBytes, CsHealth health) {
        return heartbeat(csId, capacityBytes, usedBytes, health,
                MetaRequest.Heartbeat.RecoveryProgress.NONE);
    }

    /** Sends a heartbeat with this chunk server's recovery progress (for basalt status). */
    public HeartbeatReply heartbeat(int csId, long capacityBytes, long usedBytes, CsHealth health,
                                    MetaRequest.Heartbeat.RecoveryProgress recovery) {
        return heartbeat(csId, capacityBytes, usedBytes, health, recovery,
                MetaRequest.Heartbeat.ScrubReport.NONE);
    }

    /** Sends a heartbeat with this chunk server's recovery progress and scrub report. */
    public HeartbeatReply heartbeat(int csId, long capacityBytes, long usedBytes, CsHealth health,
                                    MetaRequest.Heartbeat.RecoveryProgress recovery,
                                    MetaRequest.Heartbeat.ScrubReport scrub) {
        return heartbeat(csId, capacityBytes, usedBytes, health, recovery, scrub,
                MetaRequest.Heartbeat.APPLIED_UNKNOWN);
    }

    /**
     * Sends a heartbeat that also says up to which changeSeq this chunk server has applied its
     * version index ({@link #csChunkVersions}; -1 none yet), so meta can drop tombstones it no
     * longer needs.
     */
    public HeartbeatReply heartbeat(int csId, long capacityBytes, long usedBytes, CsHealth health,
                                    MetaRequest.Heartbeat.RecoveryProgress recovery,
                                    MetaRequest.Heartbeat.ScrubReport scrub, long appliedChangeSeq) {
        return heartbeat(csId, capacityBytes, usedBytes, health, recovery, scrub, appliedChangeSeq,
                MetaRequest.Heartbeat.HotReport.NONE);
    }

    /** As above, with this chunk server's hot store and freezer report (for basalt status). */
    public HeartbeatReply heartbeat(int csId, long capacityBytes, long usedBytes, CsHealth health,
                                    MetaRequest.Heartbeat.RecoveryProgress recovery,
                                    MetaRequest.Heartbeat.ScrubReport scrub, long appliedChangeSeq,
                                    MetaRequest.Heartbeat.HotReport hot) {
        WireReader in = call(new MetaRequest.Heartbeat(csId, capacityBytes, usedBytes,
                health.code, recovery, scrub, appliedChangeSeq, hot, holder));
        CsStatus status = CsStatus.ofCode(in.u8());
        return new HeartbeatReply(status, in.remaining() >= 8 ? in.i64() : -1);
    }

    /**
     * Chunk server {@code csId}'s version index after {@code afterSeq} (0: all of it), every
     * page: entries in changeSeq order, superseded ones already left out by meta. Pages are read
     * one after the other without a snapshot; that is safe because a change made meanwhile only
     * adds an entry with a higher seq, which a later page (or the next pull) returns.
     */
    public CsChunkVersions csChunkVersions(int csId, long afterSeq) {
        List<CsChunkVersion> entries = new ArrayList<>();
        long after = afterSeq;
        long highestSeq;
        int limit = MetaRequestForm.CS_CHUNK_VERSIONS_PAGE_MAX;
        while (true) {
            WireReader in = call(new MetaRequest.ListCsChunkVersions(csId, after, limit));
            highestSeq = in.i64();
            int count = in.count(CsChunkVersion.ENCODED_BYTES);
            List<CsChunkVersion> page = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                CsChunkVersion entry = CsChunkVersion.decode(in);
                page.add(entry);
                after = entry.changeSeq();
            }
            // The page's writersFrom, one per entry, after them (absent from an older meta: each
            // entry's own version, the strict fence).
            boolean writersFrom = in.remaining() >= 8L * count;
            for (CsChunkVersion entry : page) {
                entries.add(writersFrom ? entry.withWritersFrom(in.i64()) : entry);
            }
            if (count < limit) {
                break;
            }
        }
        return new CsChunkVersions(Math.max(highestSeq, after), entries);
    }

    /** Every allocated chunk of a volume, in index order (all pages); unknown volume: none. */
    public List<Chunk> listChunks(long volumeId) {
        List<Chunk> chunks = new ArrayList<>();
        long fromIndex = 0;
        int limit = MetaRequestForm.CHUNKS_PAGE_MAX;
        while (true) {
            WireReader in = call(new MetaRequest.ListChunks(volumeId, fromIndex, limit));
            int count = in.count(1);
            for (int i = 0; i < count; i++) {
                Chunk chunk = Chunk.decode(in);
                chunks.add(chunk);
                fromIndex = chunk.index() + 1;
            }
            if (count < limit) {
                return chunks;
            }
        }
    }

    /**
     * Every RECOVERING chunklet placed on chunk server {@code csId}, in chunk uid order (all
     * pages): what it must rebuild or catch up, and from where.
     */
    /** Chunk {@code chunkUid}'s map, policy and peers (startVersion: its version; kind 0), if it exists. */
    public java.util.Optional<RecoveryTask> chunkMap(long chunkUid) {
        WireReader in = call(new MetaRequest.GetChunkMap(chunkUid));
        return in.bool() ? java.util.Optional.of(RecoveryTask.decode(in)) : java.util.Optional.empty();
    }

    public List<RecoveryTask> recoveryTasks(int csId) {
        List<RecoveryTask> tasks = new ArrayList<>();
        long afterChunkUid = 0;
        int limit = MetaRequestForm.RECOVERY_TASKS_PAGE_MAX;
        while (true) {
            WireReader in = call(new MetaRequest.ListRecoveryTasks(csId, afterChunkUid, limit));
            int count = in.count(1);
            for (int i = 0; i < count; i++) {
                RecoveryTask task = RecoveryTask.decode(in);
                tasks.add(task);
                afterChunkUid = task.chunk().uid();
            }
            if (count < limit) {
                return tasks;
            }
        }
    }

    /**
     * Reports that chunk server {@code csId} filled its RECOVERING chunklet of {@code chunkUid}
     * (the task that started at {@code startVersion}); returns the chunk map with it UPTODATE.
     * Throws {@link MetaException} STALE_VERSION when that recovery is no longer current: drop
     * the work and list the tasks again.
     */
    public Chunk recoveryDone(long chunkUid, int csId, long startVersion) {
        return Chunk.decode(call(new MetaRequest.RecoveryDone(chunkUid, csId, startVersion, holder)));
    }

    /**
     * Proposes moving chunklets into recovery (what the leader's recoverer does; for tests and
     * tools); one result per item, in order.
     */
    public List<RecoverResult> recoverChunklets(List<MetaRequest.RecoverItem> items) {
        WireReader in = call(new MetaRequest.RecoverChunklets(items));
        int count = in.count(1);
        List<RecoverResult> results = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            results.add(RecoverResult.decode(in));
        }
        return results;
    }

    /** Why degraded chunks stay degraded, as the leader's recoverer last saw it. */
    public record RecoveryStatus(int stuckTotal, List<StuckRecovery> stuck) {}

    /** The recoverer's stuck outcomes (at most 1024 listed; {@code stuckTotal} counts all). */
    public RecoveryStatus recoveryStatus() {
        WireReader in = call(new MetaRequest.RecoveryStatus());
        int total = in.i32();
        int count = in.count(1);
        List<StuckRecovery> stuck = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            stuck.add(StuckRecovery.decode(in));
        }
        return new RecoveryStatus(total, stuck);
    }

    public ChunkServer setCsStatus(int csId, CsStatus expected, CsStatus status) {
        return ChunkServer.decode(call(new MetaRequest.SetCsStatus(csId, expected.code, status.code)));
    }

    /** Drains chunk server {@code csId} (or, with {@code cancel}, returns it to UP). */
    public ChunkServer drainCs(int csId, boolean cancel) {
        return ChunkServer.decode(call(new MetaRequest.DrainCs(csId, cancel)));
    }

    /** Forgets chunk server {@code csId}, which must hold no chunklet; returns what it was. */
    public ChunkServer removeCs(int csId) {
        return ChunkServer.decode(call(new MetaRequest.RemoveCs(csId)));
    }

    public List<CsView> listCs() {
        WireReader in = call(new MetaRequest.ListCs());
        int count = in.count(1);
        List<CsView> servers = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            servers.add(CsView.decode(in));
        }
        return servers;
    }

    // ---------------------------------------------------------------------------------------
    // Volumes

    /** {@code chunkSizeBytes} 0: the cluster default. */
    public Volume createVolume(String name, long sizeBytes, String policy, long chunkSizeBytes) {
        return Volume.decode(call(new MetaRequest.CreateVolume(name, sizeBytes, policy,
                chunkSizeBytes)));
    }

    public Volume createVolume(String name, long sizeBytes, String policy, long chunkSizeBytes,
                               VolumeQos qos) {
        return Volume.decode(call(new MetaRequest.CreateVolume(name, sizeBytes, policy,
                chunkSizeBytes, qos)));
    }

    public Volume createVolume(String name, long sizeBytes, String policy, long chunkSizeBytes,
                               VolumeQos qos, int features) {
        return Volume.decode(call(new MetaRequest.CreateVolume(name, sizeBytes, policy,
                chunkSizeBytes, qos, features)));
    }

    /** Sets, then clears, feature bits of a volume; returns the volume as it now is. */
    public Volume setVolumeFeatures(String name, int set, int clear) {
        return Volume.decode(call(new MetaRequest.SetVolumeFeatures(name, set, clear)));
    }

    /**
     * Merges {@code change} into the volume's QoS limits ({@link VolumeQos#merge}) and returns the
     * volume as it now is.
     */
    public Volume setVolumeQos(String name, VolumeQos change) {
        return Volume.decode(call(new MetaRequest.SetVolumeQos(name, change)));
    }

    public Volume resizeVolume(String name, long sizeBytes, boolean allowShrink) {
        return Volume.decode(call(new MetaRequest.ResizeVolume(name, sizeBytes, allowShrink)));
    }

    public Volume deleteVolume(String name) {
        return deleteVolume(name, false);
    }

    /** With {@code force}, also a volume whose lease a client holds (its I/O then fails). */
    public Volume deleteVolume(String name, boolean force) {
        return Volume.decode(call(new MetaRequest.DeleteVolume(name, force)));
    }

    public Volume getVolume(String name) {
        return Volume.decode(call(new MetaRequest.GetVolume(name)));
    }

    /** Snapshot {@code volume@snapshot} of the volume's data now (docs/snapshots.md). */
    public Volume createSnapshot(String volume, String snapshot) {
        return Volume.decode(call(new MetaRequest.CreateSnapshot(volume, snapshot)));
    }

    public Volume deleteSnapshot(String volume, String snapshot) {
        return Volume.decode(call(new MetaRequest.DeleteSnapshot(volume, snapshot)));
    }

    /** Returns the volume as it now is: on top of the snapshot, its own writes gone. */
    public Volume rollbackVolume(String volume, String snapshot) {
        return Volume.decode(call(new MetaRequest.RollbackVolume(volume, snapshot)));
    }

    public Volume cloneVolume(String volume, String snapshot, String clone) {
        return Volume.decode(call(new MetaRequest.CloneVolume(volume, snapshot, clone)));
    }

    /** Ends a flatten: the volume no longer reads through layer {@code expectedParentId}. */
    public Volume detachParent(String volume, long expectedParentId) {
        return Volume.decode(call(new MetaRequest.DetachParent(volume, expectedParentId)));
    }

    /** Records a flatten's progress ({@code request}: a new one); see FlattenProgress. */
    public io.basalt.meta.model.FlattenProgress setFlatten(String volume, long expectedParentId, long cursorBytes,
            long copiedBytes, boolean request) {
        return io.basalt.meta.model.FlattenProgress.decode(call(new MetaRequest.SetFlatten(volume, expectedParentId,
                cursorBytes, copiedBytes, request)));
    }

    /** The volume's flatten under way, if any. */
    public Optional<io.basalt.meta.model.FlattenProgress> getFlatten(String volume) {
        WireReader in = call(new MetaRequest.GetFlatten(volume));
        return in.bool() ? Optional.of(io.basalt.meta.model.FlattenProgress.decode(in)) : Optional.empty();
    }

    /** The volume's named snapshots, oldest first. */
    public List<Volume> listSnapshots(String volume) {
        WireReader in = call(new MetaRequest.ListSnapshots(volume));
        int count = in.count(1);
        List<Volume> snapshots = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            snapshots.add(Volume.decode(in));
        }
        return snapshots;
    }

    /** A layer by id (a volume or a snapshot, named or not); empty when it is gone. */
    public Optional<Volume> getLayer(long volumeId) {
        WireReader in = call(new MetaRequest.GetLayer(volumeId));
        return in.bool() ? Optional.of(Volume.decode(in)) : Optional.empty();
    }

    /** Every layer: volumes, named snapshots and hidden (deleted, still read through) ones, by id. */
    public List<Volume> listLayers() {
        WireReader in = call(new MetaRequest.ListLayers());
        int count = in.count(1);
        List<Volume> layers = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            layers.add(Volume.decode(in));
        }
        return layers;
    }

    public List<Volume> listVolumes() {
        WireReader in = call(new MetaRequest.ListVolumes());
        int count = in.count(1);
        List<Volume> volumes = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            volumes.add(Volume.decode(in));
        }
        return volumes;
    }

    // ---------------------------------------------------------------------------------------
    // Chunks and leases

    /**
     * The chunk map at {@code index}; with {@code allocate}, places the chunk first if it does
     * not exist yet (a first write). Without it, an unallocated chunk is empty (reads as zeroes).
     */
    public Optional<Chunk> getChunk(long volumeId, long index, boolean allocate) {
        WireReader in = call(new MetaRequest.GetChunk(volumeId, index));
        if (in.bool()) {
            return Optional.of(Chunk.decode(in));
        }
        if (!allocate) {
            return Optional.empty();
        }
        return Optional.of(Chunk.decode(call(new MetaRequest.AllocateChunk(volumeId, index))));
    }

    /** Reports that {@code csId} failed for a chunk; returns the new chunk map. */
    public Chunk reportFailure(long chunkUid, long version, int csId) {
        return Chunk.decode(call(new MetaRequest.ReportFailure(chunkUid, version, csId)));
    }

    public Lease acquireLease(long volumeId, String clientId, Duration duration) {
        return Lease.decode(call(new MetaRequest.AcquireLease(volumeId, clientId,
                duration.toMillis())));
    }

    public void releaseLease(long volumeId, String clientId) {
        call(new MetaRequest.ReleaseLease(volumeId, clientId));
    }

    /**
     * The cluster id chunk servers compare with their identity file. The first caller on a fresh
     * cluster sets it: the UUID is drawn here, before the entry enters the log, and the first
     * applied proposal wins (a racing caller gets the winner's id back).
     */
    public UUID clusterId() {
        WireReader in = call(new MetaRequest.GetClusterId());
        if (in.bool()) {
            return new UUID(in.i64(), in.i64());
        }
        WireReader set = call(new MetaRequest.InitClusterId(UUID.randomUUID()));
        return new UUID(set.i64(), set.i64());
    }

    public MetaStatus status() {
        return MetaStatus.decode(call(new MetaRequest.Status()));
    }

    // ---------------------------------------------------------------------------------------
    // The object index (docs/objects.md, "The index"). Optional strings may be null here; on the
    // wire they are "". Refusals are MetaExceptions whose MetaError maps onto the S3 error.

    /**
     * Creates a bucket. ALREADY_EXISTS when the name is taken; the message says "owned by you"
     * when {@code owner} owns it (S3 BucketAlreadyOwnedByYou), else it is another owner's
     * (BucketAlreadyExists). INVALID for a bad name or policy.
     */
    public Bucket createBucket(String name, String owner, String policyName, long nowMillis) {
        return Bucket.decode(call(new ObjectRequest.CreateBucket(name, owner, policyName,
                nowMillis)));
    }

    /** NOT_FOUND; NOT_EMPTY while any version, delete marker or upload remains. */
    public void deleteBucket(String name) {
        call(new ObjectRequest.DeleteBucket(name));
    }

    public Optional<Bucket> getBucket(String name) {
        WireReader in = call(new ObjectRequest.GetBucket(name));
        return in.bool() ? Optional.of(Bucket.decode(in)) : Optional.empty();
    }

    /** Every bucket, by name. */
    public List<Bucket> listBuckets() {
        WireReader in = call(new ObjectRequest.ListBuckets());
        int count = in.count(1);
        List<Bucket> buckets = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            buckets.add(Bucket.decode(in));
        }
        return buckets;
    }

    /** INVALID for UNVERSIONED once the bucket was ENABLED or SUSPENDED. */
    public Bucket setBucketVersioning(String name, Versioning versioning) {
        return Bucket.decode(call(new ObjectRequest.SetBucketVersioning(name, versioning)));
    }

    /**
     * Commits a version whose bytes the caller wrote into {@code extents} (of logs it reserved).
     * The version replaces the key's null version unless the bucket is versioned. NOT_FOUND
     * (bucket); PRECONDITION_FAILED when {@code ifMatch} (null: none) does not match the current
     * version or {@code ifNoneMatchAny} and one exists; NO_SUCH_KEY for If-Match without a
     * current version; INVALID for extents that are not the caller's to commit.
     */
    public ObjectVersion putObject(String bucket, String key, long size, String etag, String owner,
                                   Map<String, String> headers, Map<String, String> checksums,
                                   String checksumType, Map<String, String> tags,
                                   List<Long> partSizes, List<ObjectExtent> extents,
                                   String ifMatch, boolean ifNoneMatchAny, long nowMillis) {
        return ObjectVersion.decode(call(new ObjectRequest.PutObject(bucket, key, size, etag,
                owner, orNone(headers), orNone(checksums), checksumType, orNone(tags),
                partSizes == null ? List.of() : partSizes, extents, ifMatch, ifNoneMatchAny,
                nowMillis)));
    }

    /**
     * As {@link #putObject} for a small object whose bytes ({@code data}, 1..16 KiB) are kept in
     * the index entry itself (docs/objects.md, "Small objects inline"): one Raft commit, no
     * extents. Same refusals as putObject.
     */
    public ObjectVersion putInlineObject(String bucket, String key, byte[] data, String etag,
                                         String owner, Map<String, String> headers,
                                         Map<String, String> checksums, String checksumType,
                                         Map<String, String> tags, String ifMatch,
                                         boolean ifNoneMatchAny, long nowMillis) {
        return ObjectVersion.decode(call(new ObjectRequest.PutInlineObject(
                new ObjectRequest.PutObject(bucket, key, data.length, etag, owner,
                        orNone(headers), orNone(checksums), checksumType, orNone(tags),
                        List.of(), List.of(), ifMatch, ifNoneMatchAny, nowMillis), data)));
    }

    /**
     * The current version ({@code versionId} null), which may be a delete marker
     * ({@code deleteMarker} true: answer 404 with x-amz-delete-marker), or the named one; empty
     * when there is none. NOT_FOUND (bucket).
     */
    public Optional<ObjectVersion> getObject(String bucket, String key, String versionId) {
        WireReader in = call(new ObjectRequest.GetObject(bucket, key, versionId));
        return in.bool() ? Optional.of(ObjectVersion.decode(in)) : Optional.empty();
    }

    /**
     * What a delete did: the version it removed (null for an unversioned bucket's null version),
     * or the delete marker it created ({@code deleteMarker} true); with a version id, whether the
     * version removed was a delete marker.
     */
    public record DeleteResult(String versionId, boolean deleteMarker) {}

    /**
     * S3 DeleteObject. Unversioned: removes the null version (nothing if absent). Enabled, no
     * version id: adds a delete marker. Suspended: the null version becomes a null delete marker.
     * With a version id: removes exactly that version, marker or not (nothing if absent).
     */
    public DeleteResult deleteObject(String bucket, String key, String versionId, long nowMillis) {
        WireReader in = call(new ObjectRequest.DeleteObject(bucket, key, versionId, nowMillis));
        String removed = in.string();
        return new DeleteResult(removed.isEmpty() ? null : removed, in.bool());
    }

    /**
     * One page of current objects with key > {@code after} (null: from the start), skipping keys
     * whose current version is a delete marker; at most {@code maxKeys} (capped at 1000) entries
     * and common prefixes.
     */
    public ObjectListing listObjects(String bucket, String prefix, String delimiter, String after,
                                     int maxKeys) {
        return ObjectListing.decode(call(new ObjectRequest.ListObjects(bucket, prefix, delimiter,
                after, maxKeys)));
    }

    /** A page of versions and delete markers after ({@code keyMarker}, {@code versionIdMarker}). */
    public ObjectListing listObjectVersions(String bucket, String prefix, String delimiter,
                                            String keyMarker, String versionIdMarker,
                                            int maxKeys) {
        return ObjectListing.decode(call(new ObjectRequest.ListObjectVersions(bucket, prefix,
                delimiter, keyMarker, versionIdMarker, maxKeys)));
    }

    /** Replaces the tags of a version (null: the current one). NO_SUCH_KEY when none. */
    public ObjectVersion putObjectTags(String bucket, String key, String versionId,
                                       Map<String, String> tags) {
        return ObjectVersion.decode(call(new ObjectRequest.PutObjectTags(bucket, key, versionId,
                orNone(tags))));
    }

    /** Starts a multipart upload under an id the caller drew; ALREADY_EXISTS if it is taken. */
    public Upload createUpload(String bucket, String key, String uploadId, String owner,
                               Map<String, String> headers, String checksumAlgorithm,
                               Map<String, String> tags, long nowMillis) {
        return Upload.decode(call(new ObjectRequest.CreateUpload(bucket, key, uploadId, owner,
                orNone(headers), checksumAlgorithm, orNone(tags), nowMillis)));
    }

    /**
     * Commits a part (replacing one of that number, whose extents become free). NO_SUCH_UPLOAD;
     * the ETag must be a hex MD5.
     */
    public Part putPart(String bucket, String key, String uploadId, int partNumber, long size,
                        String etag, Map<String, String> checksums, List<ObjectExtent> extents,
                        long nowMillis) {
        return Part.decode(call(new ObjectRequest.PutPart(bucket, key, uploadId, partNumber, size,
                etag, orNone(checksums), extents, nowMillis)));
    }

    /**
     * Joins the named parts into the object (no bytes move). INVALID_PART_ORDER, INVALID_PART
     * (missing, or another ETag), ENTITY_TOO_SMALL (a part but the last under 5 MiB),
     * NO_SUCH_UPLOAD, PRECONDITION_FAILED. Parts not named become free.
     */
    public ObjectVersion completeUpload(String bucket, String key, String uploadId,
                                        List<Integer> partNumbers, List<String> partEtags,
                                        String ifMatch, boolean ifNoneMatchAny, long nowMillis) {
        return ObjectVersion.decode(call(new ObjectRequest.CompleteUpload(bucket, key, uploadId,
                partNumbers, partEtags, ifMatch, ifNoneMatchAny, nowMillis)));
    }

    /** NO_SUCH_UPLOAD; the parts' extents become free. */
    public void abortUpload(String bucket, String key, String uploadId) {
        call(new ObjectRequest.AbortUpload(bucket, key, uploadId));
    }

    public PartListing listParts(String bucket, String key, String uploadId, int partNumberMarker,
                                 int maxParts) {
        return PartListing.decode(call(new ObjectRequest.ListParts(bucket, key, uploadId,
                partNumberMarker, maxParts)));
    }

    public UploadListing listUploads(String bucket, String prefix, String delimiter,
                                     String keyMarker, String uploadIdMarker, int maxUploads) {
        return UploadListing.decode(call(new ObjectRequest.ListUploads(bucket, prefix, delimiter,
                keyMarker, uploadIdMarker, maxUploads)));
    }

    /**
     * A log of {@code policyName} to append to: an unsealed one no other writer leases (not in
     * {@code excludeLogIds}), else a new one (an internal volume ".objlog.ID"). The writer gets
     * the log's volume lease in the same transaction ({@code OBJECT_LOG_LEASE_MILLIS}); renew it
     * with {@link #acquireLease} under the same client id {@code writer}. After taking over a log
     * another writer had, trim its {@link #objectLogGaps gaps} in [oldestInFlight, reservedMark)
     * before appending.
     */
    public ObjectLog openObjectLog(String policyName, String writer, List<Long> excludeLogIds,
                                   long nowMillis) {
        return ObjectLog.decode(call(new ObjectRequest.OpenObjectLog(policyName, writer,
                excludeLogIds == null ? List.of() : excludeLogIds, nowMillis)));
    }

    /** Raises the log's reservedMark (never lowers it); LEASE_HELD when another writer has it. */
    public ObjectLog reserveObjectLog(long logId, String writer, long reservedMark,
                                      long oldestInFlight) {
        return ObjectLog.decode(call(new ObjectRequest.ReserveObjectLog(logId, writer,
                reservedMark, oldestInFlight)));
    }

    /** Up to {@code max} ranges of [from, to) that no committed extent covers, in order. */
    public List<ObjectExtent> objectLogGaps(long logId, long from, long to, int max) {
        List<ObjectExtent> gaps = new ArrayList<>();
        long next = from;
        while (next < to && gaps.size() < max) {
            int page = Math.min(max - gaps.size(), ObjectRequestForm.LOG_PAGE_MAX);
            WireReader in = call(new ObjectRequest.ObjectLogGaps(logId, next, to, page));
            long resumeFrom = in.i64();
            gaps.addAll(ObjectExtent.decodeList(in));
            if (resumeFrom <= next) {
                throw new MetaException(MetaError.INTERNAL, "object log " + logId
                        + " gaps did not advance from " + next);
            }
            next = resumeFrom;
        }
        return gaps;
    }

    /** Up to {@code max} free extents of the log (to trim, then {@link #objectExtentsFreed}). */
    public List<ObjectExtent> objectLogFrees(long logId, int max) {
        List<ObjectExtent> frees = new ArrayList<>();
        long fromOffset = 0;
        while (frees.size() < max) {
            int page = Math.min(max - frees.size(), ObjectRequestForm.LOG_PAGE_MAX);
            WireReader in = call(new ObjectRequest.ObjectLogFrees(logId, fromOffset, page));
            List<ObjectExtent> got = ObjectExtent.decodeList(in);
            frees.addAll(got);
            if (got.size() < page) {
                break;
            }
            fromOffset = got.getLast().offset() + 1;
        }
        return frees;
    }

    /** Forgets these free extents (by offset), trimmed by the caller; unknown ones are ignored. */
    public void objectExtentsFreed(long logId, List<Long> offsets) {
        for (int from = 0; from < offsets.size(); from += ObjectRequestForm.FREED_OFFSETS_MAX) {
            call(new ObjectRequest.FreedObjectExtents(logId, offsets.subList(from,
                    Math.min(offsets.size(), from + ObjectRequestForm.FREED_OFFSETS_MAX))));
        }
    }

    public ObjectLog sealObjectLog(long logId) {
        return ObjectLog.decode(call(new ObjectRequest.SealObjectLog(logId)));
    }

    /** Every object log, by id. */
    public List<ObjectLog> listObjectLogs() {
        WireReader in = call(new ObjectRequest.ListObjectLogs());
        int count = in.count(1);
        List<ObjectLog> logs = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            logs.add(ObjectLog.decode(in));
        }
        return logs;
    }

    /** ALREADY_EXISTS when the name or the access key is taken. */
    public S3User createS3User(String name, String accessKey, String secret, long nowMillis) {
        return S3User.decode(call(new ObjectRequest.CreateS3User(name, accessKey, secret,
                nowMillis)));
    }

    /** Every user by access key, secrets left out (empty). */
    public List<S3User> listS3Users() {
        WireReader in = call(new ObjectRequest.ListS3Users());
        int count = in.count(1);
        List<S3User> users = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            users.add(S3User.decode(in));
        }
        return users;
    }

    /** NOT_FOUND. */
    public void deleteS3User(String name) {
        call(new ObjectRequest.DeleteS3User(name));
    }

    /** The user signing with {@code accessKey}, with its secret (to verify signatures). */
    public Optional<S3User> getS3User(String accessKey) {
        WireReader in = call(new ObjectRequest.GetS3User(accessKey));
        return in.bool() ? Optional.of(S3User.decode(in)) : Optional.empty();
    }

    private static Map<String, String> orNone(Map<String, String> map) {
        return map == null ? Map.of() : map;
    }

    @Override
    public void close() throws IOException {
        if (client != null) {
            client.close();
        } else {
            local.close();
        }
    }
}
