package io.basalt.meta.api;

import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.ChunkServer;
import io.basalt.meta.model.CsHealth;
import io.basalt.meta.model.CsStatus;
import io.basalt.meta.model.Lease;
import io.basalt.meta.model.Volume;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
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

    private final RaftClient client;

    private MetaClient(RaftClient client) {
        this.client = client;
    }

    /** A client of the group of {@code peers} (see {@link MetaPeers#SYNTAX}). */
    public static MetaClient connect(String peers) {
        return connect(MetaPeers.DEFAULT_CLUSTER, MetaPeers.parse(peers), REQUEST_TIMEOUT, RETRY_COUNT);
    }

    public static MetaClient connect(String clusterName, List<RaftPeer> peers,
                                     Duration requestTimeout, int retryCount) {
        RaftProperties properties = new RaftProperties();
        RaftClientConfigKeys.Rpc.setRequestTimeout(properties,
                TimeDuration.valueOf(requestTimeout.toMillis(), TimeUnit.MILLISECONDS));
        ClientId clientId = ClientId.randomId();
        RaftClient client = RaftClient.newBuilder()
                .setClientId(clientId)
                .setProperties(properties)
                .setRaftGroup(MetaPeers.group(clusterName, peers))
                .setClientRpc(new GrpcFactory(new Parameters()).newRaftClientRpc(clientId, properties))
                .setRetryPolicy(RetryPolicies.retryUpToMaximumCountWithFixedSleep(retryCount,
                        TimeDuration.valueOf(RETRY_SLEEP.toMillis(), TimeUnit.MILLISECONDS)))
                .build();
        return new MetaClient(client);
    }

    // ---------------------------------------------------------------------------------------
    // Transport

    /** Sends a request (through the log if it is a write) and returns the checked reply body. */
    public WireReader call(MetaRequest request) {
        String formError = MetaRequestForm.checkForm(request);
        if (formError != null) {
            throw new MetaException(MetaError.INVALID, formError);
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
            throw new MetaException(MetaError.NOT_LEADER, "meta did not answer " + request.op()
                    + ": " + rootMessage(e) + "; check the meta peers (basalt meta status)", e);
        }
        if (!reply.isSuccess()) {
            Exception e = reply.getException();
            if (e instanceof StateMachineException) {
                throw new MetaException(MetaError.INVALID, rootMessage(e), e);
            }
            throw new MetaException(MetaError.NOT_LEADER, "meta refused " + request.op() + ": "
                    + (e == null ? "unknown" : rootMessage(e)), e);
        }
        byte[] bytes = reply.getMessage().getContent().toByteArray();
        return MetaReply.decode(bytes).bodyOrThrow();
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
                capacityBytes, softwareVersion)));
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
        WireReader in = call(new MetaRequest.Heartbeat(csId, capacityBytes, usedBytes,
                health.code, recovery, scrub));
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
            for (int i = 0; i < count; i++) {
                CsChunkVersion entry = CsChunkVersion.decode(in);
                entries.add(entry);
                after = entry.changeSeq();
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
        return Chunk.decode(call(new MetaRequest.RecoveryDone(chunkUid, csId, startVersion)));
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

    @Override
    public void close() throws IOException {
        client.close();
    }
}
