package io.basalt.meta.api;

import io.basalt.meta.model.VolumeQos;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * A request to meta. Encoded form (big-endian, docs/formats.md "Metadata API"):
 *
 * <pre>
 *  offset size field
 *  0      1    formatVersion  (1)
 *  1      1    op             (MetaOp code)
 *  2      4    crc32c         (CRC32C of the body, bytes 6..end)
 *  6      n    body           (fields of the op, in declaration order)
 * </pre>
 *
 * The CRC guards against a bug or a bit flip between encoder and state machine: a request that
 * fails it is refused before it can enter the Raft log.
 *
 * <p>The object index's requests are {@link ObjectRequest}s, in their own file; the volume and
 * chunk server requests are nested here.
 */
public sealed interface MetaRequest
        permits MetaRequest.RegisterCs, MetaRequest.SetCsStatus, MetaRequest.CreateVolume,
        MetaRequest.ResizeVolume, MetaRequest.DeleteVolume, MetaRequest.AllocateChunk,
        MetaRequest.ReportFailure, MetaRequest.AcquireLease, MetaRequest.ReleaseLease,
        MetaRequest.NewLeaderEpoch, MetaRequest.InitClusterId, MetaRequest.GetVolume,
        MetaRequest.ListVolumes, MetaRequest.GetChunk, MetaRequest.ListCs, MetaRequest.Heartbeat,
        MetaRequest.Status, MetaRequest.ListCsChunkVersions, MetaRequest.ListChunks,
        MetaRequest.GetClusterId, MetaRequest.RecoverChunklets, MetaRequest.RecoveryDone,
        MetaRequest.DrainCs, MetaRequest.RemoveCs, MetaRequest.CollectTombstones, MetaRequest.ListRecoveryTasks,
        MetaRequest.GetChunkMap, MetaRequest.RecoveryStatus, MetaRequest.SetVolumeQos, MetaRequest.SetVolumeFeatures,
        MetaRequest.CreateSnapshot, MetaRequest.DeleteSnapshot, MetaRequest.RollbackVolume,
        MetaRequest.CloneVolume, MetaRequest.ListSnapshots, MetaRequest.GetLayer, MetaRequest.ListLayers, MetaRequest.DetachParent,
        MetaRequest.SetFlatten, MetaRequest.GetFlatten,
        ObjectRequest {
    int FORMAT_VERSION = 1;
    int OFFSET_FORMAT_VERSION = 0;
    int OFFSET_OP = 1;
    int OFFSET_CRC = 2;
    int HEADER_BYTES = 6;

    MetaOp op();

    void encodeBody(WireWriter out);

    default byte[] encode() {
        WireWriter body = new WireWriter();
        encodeBody(body);
        byte[] bodyBytes = body.toByteArray();
        return new WireWriter(HEADER_BYTES + bodyBytes.length).u8(FORMAT_VERSION).u8(op().code)
                .i32(crc32c(bodyBytes, 0, bodyBytes.length)).bytes(bodyBytes).toByteArray();
    }

    static int crc32c(byte[] bytes, int offset, int length) {
        CRC32C crc = new CRC32C();
        crc.update(bytes, offset, length);
        return (int) crc.getValue();
    }

    /** Decodes and checks a request; throws {@link MalformedMessageException} on any fault. */
    static MetaRequest decode(byte[] bytes, int offset, int length) {
        WireReader header = new WireReader(bytes, offset, length);
        int formatVersion = header.u8();
        if (formatVersion != FORMAT_VERSION) {
            throw new MalformedMessageException("meta request format version " + formatVersion
                    + " (this server knows " + FORMAT_VERSION + ")");
        }
        MetaOp op = MetaOp.ofCode(header.u8());
        int crc = header.i32();
        int actual = crc32c(bytes, offset + HEADER_BYTES, length - HEADER_BYTES);
        if (crc != actual) {
            throw new MalformedMessageException(String.format(
                    "meta request CRC32C mismatch: header %08x, body %08x", crc, actual));
        }
        WireReader in = new WireReader(bytes, offset + HEADER_BYTES, length - HEADER_BYTES);
        MetaRequest request = switch (op) {
            case REGISTER_CS -> new RegisterCs(in.i32(), in.string(), in.string(), in.string(),
                    in.i64(), in.string(), in.remaining() == 0 ? "" : in.string());
            case SET_CS_STATUS -> new SetCsStatus(in.i32(), in.u8(), in.u8());
            case CREATE_VOLUME -> new CreateVolume(in.string(), in.i64(), in.string(), in.i64(),
                    // A client of an older build sends no QoS tail (no limits), or no features.
                    in.remaining() == 0 ? VolumeQos.NONE : VolumeQos.decode(in),
                    in.remaining() == 0 ? 0 : in.u8());
            case RESIZE_VOLUME -> new ResizeVolume(in.string(), in.i64(), in.bool());
            case DELETE_VOLUME -> new DeleteVolume(in.string(), in.bool());
            case ALLOCATE_CHUNK -> new AllocateChunk(in.i64(), in.i64());
            case REPORT_FAILURE -> new ReportFailure(in.i64(), in.i64(), in.i32());
            case ACQUIRE_LEASE -> new AcquireLease(in.i64(), in.string(), in.i64());
            case RELEASE_LEASE -> new ReleaseLease(in.i64(), in.string());
            case NEW_LEADER_EPOCH -> new NewLeaderEpoch(in.string());
            case INIT_CLUSTER_ID -> new InitClusterId(new java.util.UUID(in.i64(), in.i64()));
            case RECOVER_CHUNKLETS -> RecoverChunklets.decodeBody(in);
            case RECOVERY_DONE -> new RecoveryDone(in.i64(), in.i32(), in.i64(),
                    in.remaining() == 0 ? "" : in.string());
            case DRAIN_CS -> new DrainCs(in.i32(), in.bool());
            case REMOVE_CS -> new RemoveCs(in.i32());
            case COLLECT_TOMBSTONES -> CollectTombstones.decodeBody(in);
            case SET_VOLUME_QOS -> new SetVolumeQos(in.string(), VolumeQos.decode(in));
            case SET_VOLUME_FEATURES -> new SetVolumeFeatures(in.string(), in.u8(), in.u8());
            case CREATE_SNAPSHOT -> new CreateSnapshot(in.string(), in.string());
            case DELETE_SNAPSHOT -> new DeleteSnapshot(in.string(), in.string());
            case ROLLBACK_VOLUME -> new RollbackVolume(in.string(), in.string());
            case CLONE_VOLUME -> new CloneVolume(in.string(), in.string(), in.string());
            case DETACH_PARENT -> new DetachParent(in.string(), in.i64());
            case SET_FLATTEN -> new SetFlatten(in.string(), in.i64(), in.i64(), in.i64(), in.bool());
            case GET_FLATTEN -> new GetFlatten(in.string());
            case LIST_SNAPSHOTS -> new ListSnapshots(in.string());
            case GET_LAYER -> new GetLayer(in.i64());
            case LIST_LAYERS -> new ListLayers();
            case GET_VOLUME -> new GetVolume(in.string());
            case LIST_VOLUMES -> new ListVolumes();
            case GET_CHUNK -> new GetChunk(in.i64(), in.i64());
            case LIST_CS -> new ListCs();
            case HEARTBEAT -> new Heartbeat(in.i32(), in.i64(), in.i64(), in.u8(),
                    // A chunk server of an older build sends no recovery (or scrub) tail.
                    in.remaining() == 0 ? Heartbeat.RecoveryProgress.NONE
                            : Heartbeat.RecoveryProgress.decode(in),
                    in.remaining() == 0 ? Heartbeat.ScrubReport.NONE
                            : Heartbeat.ScrubReport.decode(in),
                    in.remaining() == 0 ? Heartbeat.APPLIED_UNKNOWN : in.i64(),
                    in.remaining() == 0 ? Heartbeat.HotReport.NONE : Heartbeat.HotReport.decode(in),
                    in.remaining() == 0 ? "" : in.string());
            case STATUS -> new Status();
            case GET_CLUSTER_ID -> new GetClusterId();
            case LIST_CS_CHUNK_VERSIONS -> new ListCsChunkVersions(in.i32(), in.i64(), in.i32());
            case LIST_CHUNKS -> new ListChunks(in.i64(), in.i64(), in.i32());
            case LIST_RECOVERY_TASKS -> new ListRecoveryTasks(in.i32(), in.i64(), in.i32());
            case RECOVERY_STATUS -> new RecoveryStatus();
            case GET_CHUNK_MAP -> new GetChunkMap(in.i64());
            default -> ObjectRequest.decodeBody(op, in);
        };
        in.end();
        return request;
    }

    static MetaRequest decode(byte[] bytes) {
        return decode(bytes, 0, bytes.length);
    }

    /**
     * Registers a chunk server; {@code csId} 0 asks for a new id, else re-registers that id.
     * {@code holder} is the name in the sender's certificate ("" without TLS): meta's authorizer
     * checks the claim against the certificate, and meta binds the id to it at the first
     * registration (docs/security.md, "Own chunklets only"). Sent only when not empty, so a meta
     * of an older build refuses it rather than drops it.
     */
    record RegisterCs(int csId, String address, String host, String zone, long capacityBytes,
                      String softwareVersion, String holder) implements MetaRequest {
        public RegisterCs {
            java.util.Objects.requireNonNull(holder, "holder");
        }

        public RegisterCs(int csId, String address, String host, String zone, long capacityBytes,
                          String softwareVersion) {
            this(csId, address, host, zone, capacityBytes, softwareVersion, "");
        }

        public MetaOp op() { return MetaOp.REGISTER_CS; }
        public void encodeBody(WireWriter out) {
            out.i32(csId).string(address).string(host).string(zone).i64(capacityBytes)
                    .string(softwareVersion);
            if (!holder.isEmpty()) {
                out.string(holder);
            }
        }
    }

    /** Moves a chunk server from {@code expectedStatus} to {@code newStatus} (watchdog, admin). */
    record SetCsStatus(int csId, int expectedStatusCode, int newStatusCode) implements MetaRequest {
        public MetaOp op() { return MetaOp.SET_CS_STATUS; }
        public void encodeBody(WireWriter out) {
            out.i32(csId).u8(expectedStatusCode).u8(newStatusCode);
        }
    }

    /**
     * {@code chunkSizeBytes} 0 means the cluster default. {@code qos} is the new volume's limits
     * (stored as given; {@link VolumeQos#NONE} for none) and {@code features} its feature bits
     * ({@link io.basalt.meta.model.Volume#FEATURE_HOT_TIER}); they are the last fields of the body,
     * so a meta of an older build refuses a create that carries them rather than drop them. A create
     * without features sends no features byte (an older meta still takes it).
     */
    record CreateVolume(String name, long sizeBytes, String policy, long chunkSizeBytes,
                        VolumeQos qos, int features) implements MetaRequest {
        public CreateVolume {
            java.util.Objects.requireNonNull(qos, "qos");
        }

        public CreateVolume(String name, long sizeBytes, String policy, long chunkSizeBytes, VolumeQos qos) {
            this(name, sizeBytes, policy, chunkSizeBytes, qos, 0);
        }

        public CreateVolume(String name, long sizeBytes, String policy, long chunkSizeBytes) {
            this(name, sizeBytes, policy, chunkSizeBytes, VolumeQos.NONE);
        }

        public MetaOp op() { return MetaOp.CREATE_VOLUME; }
        public void encodeBody(WireWriter out) {
            out.string(name).i64(sizeBytes).string(policy).i64(chunkSizeBytes);
            qos.encode(out);
            if (features != 0) {
                out.u8(features);
            }
        }
    }

    /**
     * Sets and clears feature bits of a volume ({@code set} first, then {@code clear}; a bit in both
     * ends cleared), merged in apply so that it never undoes another change. Open clients see it
     * within their volume refresh interval, like QoS.
     */
    record SetVolumeFeatures(String name, int set, int clear) implements MetaRequest {
        public MetaOp op() { return MetaOp.SET_VOLUME_FEATURES; }
        public void encodeBody(WireWriter out) {
            out.string(name).u8(set).u8(clear);
        }
    }

    /**
     * Changes a volume's QoS limits: {@code change} is merged into the stored limits field by
     * field ({@link VolumeQos#merge}: -1 keeps, 0 removes, a positive value sets), in apply, so
     * two admins changing different limits at once both land. Open clients see the new limits
     * within their volume refresh interval (docs/client.md, "QoS").
     */
    record SetVolumeQos(String name, VolumeQos change) implements MetaRequest {
        public MetaOp op() { return MetaOp.SET_VOLUME_QOS; }
        public void encodeBody(WireWriter out) {
            out.string(name);
            change.encode(out);
        }
    }

    record ResizeVolume(String name, long sizeBytes, boolean allowShrink) implements MetaRequest {
        public MetaOp op() { return MetaOp.RESIZE_VOLUME; }
        public void encodeBody(WireWriter out) {
            out.string(name).i64(sizeBytes).bool(allowShrink);
        }
    }

    /** Deletes a volume; one leased by a client is refused unless {@code force}. */
    record DeleteVolume(String name, boolean force) implements MetaRequest {
        public DeleteVolume(String name) {
            this(name, false);
        }

        public MetaOp op() { return MetaOp.DELETE_VOLUME; }
        public void encodeBody(WireWriter out) {
            out.string(name).bool(force);
        }
    }

    /** Returns the chunk at {@code index}, placing it first if it does not exist (first write). */
    record AllocateChunk(long volumeId, long index) implements MetaRequest {
        public MetaOp op() { return MetaOp.ALLOCATE_CHUNK; }
        public void encodeBody(WireWriter out) {
            out.i64(volumeId).i64(index);
        }
    }

    /** A client saw chunk server {@code csId} fail for chunk {@code chunkUid} at {@code version}. */
    record ReportFailure(long chunkUid, long version, int csId) implements MetaRequest {
        public MetaOp op() { return MetaOp.REPORT_FAILURE; }
        public void encodeBody(WireWriter out) {
            out.i64(chunkUid).i64(version).i32(csId);
        }
    }

    /** Takes or renews the exclusive writer lease of a volume for {@code durationMillis}. */
    record AcquireLease(long volumeId, String clientId, long durationMillis) implements MetaRequest {
        public MetaOp op() { return MetaOp.ACQUIRE_LEASE; }
        public void encodeBody(WireWriter out) {
            out.i64(volumeId).string(clientId).i64(durationMillis);
        }
    }

    record ReleaseLease(long volumeId, String clientId) implements MetaRequest {
        public MetaOp op() { return MetaOp.RELEASE_LEASE; }
        public void encodeBody(WireWriter out) {
            out.i64(volumeId).string(clientId);
        }
    }

    /** Proposed by a new leader: bumps the version of every chunk under an active lease. */
    record NewLeaderEpoch(String leaderId) implements MetaRequest {
        public MetaOp op() { return MetaOp.NEW_LEADER_EPOCH; }
        public void encodeBody(WireWriter out) {
            out.string(leaderId);
        }
    }

    /**
     * Sets the cluster id if none is set yet (first applied entry wins) and returns the id in
     * force. The UUID is drawn by the proposer before the entry enters the log, so apply stays
     * deterministic.
     */
    record InitClusterId(java.util.UUID clusterId) implements MetaRequest {
        public MetaOp op() { return MetaOp.INIT_CLUSTER_ID; }
        public void encodeBody(WireWriter out) {
            out.i64(clusterId.getMostSignificantBits()).i64(clusterId.getLeastSignificantBits());
        }
    }

    /**
     * Freezes the volume's chunks into a new read-only snapshot layer {@code volume@snapshot}
     * (docs/snapshots.md): metadata only, one log entry; every frozen chunk's version rises.
     */
    record CreateSnapshot(String volume, String snapshot) implements MetaRequest {
        public MetaOp op() { return MetaOp.CREATE_SNAPSHOT; }
        public void encodeBody(WireWriter out) {
            out.string(volume).string(snapshot);
        }
    }

    /** Removes a snapshot's name; refused while clones read from it. */
    record DeleteSnapshot(String volume, String snapshot) implements MetaRequest {
        public MetaOp op() { return MetaOp.DELETE_SNAPSHOT; }
        public void encodeBody(WireWriter out) {
            out.string(volume).string(snapshot);
        }
    }

    /** Drops the volume's own layer and puts it on top of the snapshot; refused under a lease. */
    record RollbackVolume(String volume, String snapshot) implements MetaRequest {
        public MetaOp op() { return MetaOp.ROLLBACK_VOLUME; }
        public void encodeBody(WireWriter out) {
            out.string(volume).string(snapshot);
        }
    }

    /** Creates the writable volume {@code clone} whose parent layer is {@code volume@snapshot}. */
    record CloneVolume(String volume, String snapshot, String cloneName) implements MetaRequest {
        public MetaOp op() { return MetaOp.CLONE_VOLUME; }
        public void encodeBody(WireWriter out) {
            out.string(volume).string(snapshot).string(cloneName);
        }
    }

    /**
     * The end of a flatten: the volume holds every block it read through its parent, which it no
     * longer needs; refused when the parent is no longer {@code expectedParentId}.
     */
    record DetachParent(String volume, long expectedParentId) implements MetaRequest {
        public MetaOp op() { return MetaOp.DETACH_PARENT; }
        public void encodeBody(WireWriter out) {
            out.string(volume).i64(expectedParentId);
        }
    }

    /**
     * A flatten's progress for the volume's parent {@code expectedParentId}; {@code request}
     * starts a new one (its start time is now).
     */
    record SetFlatten(String volume, long expectedParentId, long cursorBytes, long copiedBytes,
                      boolean request) implements MetaRequest {
        public MetaOp op() { return MetaOp.SET_FLATTEN; }
        public void encodeBody(WireWriter out) {
            out.string(volume).i64(expectedParentId).i64(cursorBytes).i64(copiedBytes).bool(request);
        }
    }

    record GetFlatten(String volume) implements MetaRequest {
        public MetaOp op() { return MetaOp.GET_FLATTEN; }
        public void encodeBody(WireWriter out) {
            out.string(volume);
        }
    }

    record ListSnapshots(String volume) implements MetaRequest {
        public MetaOp op() { return MetaOp.LIST_SNAPSHOTS; }
        public void encodeBody(WireWriter out) {
            out.string(volume);
        }
    }

    /** A layer (volume or snapshot, named or not) by id: how a client walks a parent chain. */
    record GetLayer(long volumeId) implements MetaRequest {
        public MetaOp op() { return MetaOp.GET_LAYER; }
        public void encodeBody(WireWriter out) {
            out.i64(volumeId);
        }
    }

    /**
     * Every layer record (volumes, named snapshots, hidden deleted snapshots), in id order: how a
     * client finds the layers that read through one (its children), to free what they all shadow.
     */
    record ListLayers() implements MetaRequest {
        public MetaOp op() { return MetaOp.LIST_LAYERS; }
        public void encodeBody(WireWriter out) {}
    }

    record GetVolume(String name) implements MetaRequest {
        public MetaOp op() { return MetaOp.GET_VOLUME; }
        public void encodeBody(WireWriter out) {
            out.string(name);
        }
    }

    record ListVolumes() implements MetaRequest {
        public MetaOp op() { return MetaOp.LIST_VOLUMES; }
        public void encodeBody(WireWriter out) {}
    }

    record GetChunk(long volumeId, long index) implements MetaRequest {
        public MetaOp op() { return MetaOp.GET_CHUNK; }
        public void encodeBody(WireWriter out) {
            out.i64(volumeId).i64(index);
        }
    }

    record ListCs() implements MetaRequest {
        public MetaOp op() { return MetaOp.LIST_CS; }
        public void encodeBody(WireWriter out) {}
    }

    /**
     * Soft state: updates the leader's memory only, never the log. {@code healthCode} is a
     * {@link io.basalt.meta.model.CsHealth} code; it sits where an older build sent
     * {@code bool healthy}, and 1 (OK) and 0 (DISK_FAILED) keep that byte's meaning. The body ends
     * with the chunk server's {@link RecoveryProgress} (48 bytes; absent from an older build, read
     * as {@link RecoveryProgress#NONE}). The reply is {@code u8 status | i64 highestChangeSeq}
     * (the CS's version index, so it knows when to pull).
     */
    record Heartbeat(int csId, long capacityBytes, long usedBytes, int healthCode,
                     RecoveryProgress recovery, ScrubReport scrub, long appliedChangeSeq, HotReport hot,
                     String holder)
            implements MetaRequest {
        /** {@link #appliedChangeSeq} of a chunk server that has not pulled yet, or of an older build. */
        public static final long APPLIED_UNKNOWN = -1;

        public Heartbeat {
            java.util.Objects.requireNonNull(recovery, "recovery");
            java.util.Objects.requireNonNull(scrub, "scrub");
            java.util.Objects.requireNonNull(hot, "hot");
            java.util.Objects.requireNonNull(holder, "holder");
        }

        public Heartbeat(int csId, long capacityBytes, long usedBytes, int healthCode,
                         RecoveryProgress recovery, ScrubReport scrub, long appliedChangeSeq, HotReport hot) {
            this(csId, capacityBytes, usedBytes, healthCode, recovery, scrub, appliedChangeSeq, hot, "");
        }

        public Heartbeat(int csId, long capacityBytes, long usedBytes, int healthCode,
                         RecoveryProgress recovery, ScrubReport scrub, long appliedChangeSeq) {
            this(csId, capacityBytes, usedBytes, healthCode, recovery, scrub, appliedChangeSeq, HotReport.NONE);
        }

        public Heartbeat(int csId, long capacityBytes, long usedBytes, int healthCode,
                         RecoveryProgress recovery, ScrubReport scrub) {
            this(csId, capacityBytes, usedBytes, healthCode, recovery, scrub, APPLIED_UNKNOWN);
        }

        /** A heartbeat of a chunk server with no recovery work. */
        public Heartbeat(int csId, long capacityBytes, long usedBytes, int healthCode) {
            this(csId, capacityBytes, usedBytes, healthCode, RecoveryProgress.NONE, ScrubReport.NONE);
        }

        public Heartbeat(int csId, long capacityBytes, long usedBytes, int healthCode,
                         RecoveryProgress recovery) {
            this(csId, capacityBytes, usedBytes, healthCode, recovery, ScrubReport.NONE);
        }

        public MetaOp op() { return MetaOp.HEARTBEAT; }
        public void encodeBody(WireWriter out) {
            out.i32(csId).i64(capacityBytes).i64(usedBytes).u8(healthCode);
            recovery.encode(out);
            scrub.encode(out);
            out.i64(appliedChangeSeq);
            hot.encode(out);
            if (!holder.isEmpty()) {
                out.string(holder); // the sender's certificate name, as in RegisterCs
            }
        }

        /**
         * A chunk server's hot store and freezer (docs/hot-tier.md), for {@code basalt status}: bytes
         * of hot blocks held and the store's capacity, blocks the freezer folded into stripes since the
         * server started, its recent rate, and failed freeze attempts since start. Wire form:
         * {@code i64 usedBytes | i64 capacityBytes | i64 frozenBlocksTotal | i64 frozenBlocksPerSecond |
         * i64 freezeFailuresTotal} (40 bytes).
         */
        public record HotReport(long usedBytes, long capacityBytes, long frozenBlocksTotal,
                                long frozenBlocksPerSecond, long freezeFailuresTotal) {
            public static final HotReport NONE = new HotReport(0, 0, 0, 0, 0);

            public void encode(WireWriter out) {
                out.i64(usedBytes).i64(capacityBytes).i64(frozenBlocksTotal).i64(frozenBlocksPerSecond)
                        .i64(freezeFailuresTotal);
            }

            public static HotReport decode(WireReader in) {
                return new HotReport(in.i64(), in.i64(), in.i64(), in.i64(), in.i64());
            }
        }

        /**
         * What a chunk server's scrubber is doing and found, for {@code basalt status}: whether a
         * pass runs, its bytes read, damaged blocks found and repaired so far, and when the last
         * finished pass ended (epoch ms, 0 never) with what it found and repaired. Wire form:
         * {@code u8 running | i64 passBytes | i64 passDamaged | i64 passRepaired |
         * i64 lastPassEndMillis | i64 lastPassDamaged | i64 lastPassRepaired} (49 bytes).
         */
        public record ScrubReport(boolean running, long passBytes, long passDamaged, long passRepaired,
                                  long lastPassEndMillis, long lastPassDamaged,
                                  long lastPassRepaired) {
            public static final ScrubReport NONE = new ScrubReport(false, 0, 0, 0, 0, 0, 0);

            public void encode(WireWriter out) {
                out.bool(running).i64(passBytes).i64(passDamaged).i64(passRepaired)
                        .i64(lastPassEndMillis).i64(lastPassDamaged).i64(lastPassRepaired);
            }

            public static ScrubReport decode(WireReader in) {
                return new ScrubReport(in.bool(), in.i64(), in.i64(), in.i64(), in.i64(), in.i64(),
                        in.i64());
            }
        }

        /**
         * What a chunk server's recoverer is doing, for {@code basalt status}: chunklets being
         * rebuilt or caught up now and waiting, bytes of the current work done and in all, the
         * recent rate, and cumulative bytes rebuilt (new chunklets) and caught up (in place)
         * since the chunk server started. Wire form: {@code i32 activeChunklets |
         * i32 queuedChunklets | i64 bytesDone | i64 bytesTotal | i64 bytesPerSecond |
         * i64 rebuiltBytesTotal | i64 catchUpBytesTotal} (48 bytes).
         */
        public record RecoveryProgress(int activeChunklets, int queuedChunklets, long bytesDone,
                                       long bytesTotal, long bytesPerSecond,
                                       long rebuiltBytesTotal, long catchUpBytesTotal) {
            public static final int ENCODED_BYTES = 4 + 4 + 5 * 8;
            public static final RecoveryProgress NONE = new RecoveryProgress(0, 0, 0, 0, 0, 0, 0);

            /** Whether chunklets are being recovered or wait for it. */
            public boolean active() {
                return activeChunklets > 0 || queuedChunklets > 0;
            }

            public void encode(WireWriter out) {
                out.i32(activeChunklets).i32(queuedChunklets).i64(bytesDone).i64(bytesTotal)
                        .i64(bytesPerSecond).i64(rebuiltBytesTotal).i64(catchUpBytesTotal);
            }

            public static RecoveryProgress decode(WireReader in) {
                return new RecoveryProgress(in.i32(), in.i32(), in.i64(), in.i64(), in.i64(),
                        in.i64(), in.i64());
            }
        }
    }

    record Status() implements MetaRequest {
        public MetaOp op() { return MetaOp.STATUS; }
        public void encodeBody(WireWriter out) {}
    }

    /**
     * Up to {@code limit} entries of chunk server {@code csId}'s version index with a changeSeq
     * above {@code afterSeq} (0: from the start), in changeSeq order. Reply:
     * {@code i64 highestChangeSeq | i32 count | count x CsChunkVersion}.
     */
    record ListCsChunkVersions(int csId, long afterSeq, int limit) implements MetaRequest {
        public MetaOp op() { return MetaOp.LIST_CS_CHUNK_VERSIONS; }
        public void encodeBody(WireWriter out) {
            out.i32(csId).i64(afterSeq).i32(limit);
        }
    }

    /**
     * Up to {@code limit} allocated chunks of a volume from index {@code fromIndex} on, in index
     * order. Reply: {@code i32 count | count x Chunk}.
     */
    record ListChunks(long volumeId, long fromIndex, int limit) implements MetaRequest {
        public MetaOp op() { return MetaOp.LIST_CHUNKS; }
        public void encodeBody(WireWriter out) {
            out.i64(volumeId).i64(fromIndex).i32(limit);
        }
    }

    /** The cluster id, if one was set (by {@link InitClusterId}). */
    record GetClusterId() implements MetaRequest {
        public MetaOp op() { return MetaOp.GET_CLUSTER_ID; }
        public void encodeBody(WireWriter out) {}
    }

    /**
     * Recoverer (leader) to state machine: for each item, move chunklet of chunk
     * {@code chunkUid} on chunk server {@code csId} into recovery, if the chunk is still at
     * {@code expectedVersion}. Items apply independently, in order; the reply is
     * {@code i32 count | count x RecoverResult}, one per item. Body:
     * {@code i32 count (1..256) | count x (u64 chunkUid | u64 expectedVersion | u32 csId |
     * u8 mode [| u32 targetCsId, MIGRATE only])}. A MIGRATE item alone carries the target (0:
     * placement chooses), so entries written before MIGRATE existed decode unchanged.
     */
    record RecoverChunklets(List<RecoverItem> items) implements MetaRequest {
        /** Most items one entry carries: about 5 KiB, and a bounded amount of work per apply. */
        public static final int ITEMS_MAX = 256;
        /** Catch up in place: an OUTDATED chunklet on a serving CS becomes RECOVERING there. */
        public static final int MODE_IN_PLACE = 1;
        /** Rebuild elsewhere: the chunklet moves to a new CS, RECOVERING. */
        public static final int MODE_REPLACE = 2;
        /**
         * Degrade: an UPTODATE or RECOVERING chunklet on a CS that stopped answering becomes OUTDATED
         * (it stays there), so writes go on without it; it catches up if the CS returns in time.
         */
        public static final int MODE_OUTDATE = 3;
        /**
         * Move an UPTODATE chunklet to another CS (drain, balancer): replicated, the old one
         * becomes MIGRATING and keeps serving while a RECOVERING copy on the target fills; EC, a
         * REPLACE (docs/meta.md, "Moving chunklets").
         */
        public static final int MODE_MIGRATE = 4;
        /** Bytes of an item without the MIGRATE target (the least an item takes). */
        static final int ITEM_BYTES = 8 + 8 + 4 + 1;

        public RecoverChunklets {
            items = List.copyOf(items);
        }

        public MetaOp op() { return MetaOp.RECOVER_CHUNKLETS; }
        public void encodeBody(WireWriter out) {
            out.i32(items.size());
            for (RecoverItem item : items) {
                out.i64(item.chunkUid()).i64(item.expectedVersion()).i32(item.csId())
                        .u8(item.mode());
                if (item.mode() == MODE_MIGRATE) {
                    out.i32(item.targetCsId());
                }
            }
        }

        static RecoverChunklets decodeBody(WireReader in) {
            int count = in.count(ITEM_BYTES);
            List<RecoverItem> items = new java.util.ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                long chunkUid = in.i64();
                long expectedVersion = in.i64();
                int csId = in.i32();
                int mode = in.u8();
                items.add(new RecoverItem(chunkUid, expectedVersion, csId, mode,
                        mode == MODE_MIGRATE ? in.i32() : 0));
            }
            return new RecoverChunklets(items);
        }
    }

    /**
     * One item of {@link RecoverChunklets}; {@code mode} is one of its MODE_ constants;
     * {@code targetCsId} only for MODE_MIGRATE (0: placement chooses), else 0.
     */
    record RecoverItem(long chunkUid, long expectedVersion, int csId, int mode, int targetCsId) {
        public RecoverItem(long chunkUid, long expectedVersion, int csId, int mode) {
            this(chunkUid, expectedVersion, csId, mode, 0);
        }

        public static RecoverItem inPlace(long chunkUid, long expectedVersion, int csId) {
            return new RecoverItem(chunkUid, expectedVersion, csId,
                    RecoverChunklets.MODE_IN_PLACE);
        }

        public static RecoverItem replace(long chunkUid, long expectedVersion, int csId) {
            return new RecoverItem(chunkUid, expectedVersion, csId, RecoverChunklets.MODE_REPLACE);
        }

        public static RecoverItem outdate(long chunkUid, long expectedVersion, int csId) {
            return new RecoverItem(chunkUid, expectedVersion, csId, RecoverChunklets.MODE_OUTDATE);
        }

        /** Move the chunklet on {@code csId} to {@code targetCsId} (0: placement chooses). */
        public static RecoverItem migrate(long chunkUid, long expectedVersion, int csId,
                                          int targetCsId) {
            return new RecoverItem(chunkUid, expectedVersion, csId,
                    RecoverChunklets.MODE_MIGRATE, targetCsId);
        }
    }

    /**
     * A chunk server finished recovering its chunklet of {@code chunkUid}, the task that
     * started at {@code startVersion} (from {@link RecoveryTask}). Reply: the updated
     * {@link io.basalt.meta.model.Chunk}, or STALE_VERSION when that recovery is no longer
     * current (the chunklet moved, failed again, or a newer recovery started).
     */
    record RecoveryDone(long chunkUid, int csId, long startVersion, String holder) implements MetaRequest {
        public RecoveryDone {
            java.util.Objects.requireNonNull(holder, "holder");
        }

        public RecoveryDone(long chunkUid, int csId, long startVersion) {
            this(chunkUid, csId, startVersion, "");
        }

        public MetaOp op() { return MetaOp.RECOVERY_DONE; }
        public void encodeBody(WireWriter out) {
            out.i64(chunkUid).i32(csId).i64(startVersion);
            if (!holder.isEmpty()) {
                out.string(holder); // the sender's certificate name, as in RegisterCs
            }
        }
    }

    /**
     * Admin: drain chunk server {@code csId} (UP or FULL -> DRAINING; the recoverer then moves
     * its chunklets away), or with {@code cancel} DRAINING -> UP. Reply: the ChunkServer.
     */
    record DrainCs(int csId, boolean cancel) implements MetaRequest {
        public MetaOp op() { return MetaOp.DRAIN_CS; }
        public void encodeBody(WireWriter out) {
            out.i32(csId).bool(cancel);
        }
    }

    /**
     * Admin: forget chunk server {@code csId}, which must hold no chunklet; its id is never
     * given again and a later REGISTER_CS of it is refused. Reply: the removed ChunkServer.
     */
    /**
     * Leader-internal: drops chunk server {@code csId}'s version-index tombstones at the given
     * changeSeqs, all at most {@code appliedSeq}, the seq that chunk server reported (heartbeat)
     * it has applied: it has deleted those chunklets, and a server pulling from any later point
     * never needs them (docs/meta.md, "Version index"). An entry that is no longer a tombstone
     * at that seq (superseded meanwhile) is left alone. Wire form: {@code i32 csId |
     * i64 appliedSeq | i32 count | count × i64 changeSeq} (ascending, at most
     * {@link #SEQS_MAX}). The reply is {@code i32 collected}.
     */
    record CollectTombstones(int csId, long appliedSeq, List<Long> changeSeqs)
            implements MetaRequest {
        public static final int SEQS_MAX = 4096;

        public CollectTombstones {
            changeSeqs = List.copyOf(changeSeqs);
        }

        public MetaOp op() { return MetaOp.COLLECT_TOMBSTONES; }
        public void encodeBody(WireWriter out) {
            out.i32(csId).i64(appliedSeq).i32(changeSeqs.size());
            for (long seq : changeSeqs) {
                out.i64(seq);
            }
        }

        static CollectTombstones decodeBody(WireReader in) {
            int csId = in.i32();
            long appliedSeq = in.i64();
            int count = in.count(8);
            List<Long> seqs = new java.util.ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                seqs.add(in.i64());
            }
            return new CollectTombstones(csId, appliedSeq, seqs);
        }
    }

    record RemoveCs(int csId) implements MetaRequest {
        public MetaOp op() { return MetaOp.REMOVE_CS; }
        public void encodeBody(WireWriter out) {
            out.i32(csId);
        }
    }

    /**
     * Up to {@code limit} RECOVERING chunklets placed on {@code csId} whose chunk uid is above
     * {@code afterChunkUid}, in uid order. Reply: {@code i32 count | count x RecoveryTask}.
     */
    record ListRecoveryTasks(int csId, long afterChunkUid, int limit) implements MetaRequest {
        public MetaOp op() { return MetaOp.LIST_RECOVERY_TASKS; }
        public void encodeBody(WireWriter out) {
            out.i32(csId).i64(afterChunkUid).i32(limit);
        }
    }

    /**
     * A chunk's map by uid, as a chunk server sees its chunklets (the scrubber repairs from the
     * others): {@code bool found | RecoveryTask} with startVersion the chunk's version and kind 0.
     */
    record GetChunkMap(long chunkUid) implements MetaRequest {
        public MetaOp op() { return MetaOp.GET_CHUNK_MAP; }
        public void encodeBody(WireWriter out) {
            out.i64(chunkUid);
        }
    }

    /**
     * Leader soft state: why degraded chunks stay degraded (the recoverer's last NO_PLACEMENT
     * and LAST_COPY outcomes). Reply: {@code i32 total | i32 count | count x StuckRecovery}.
     */
    record RecoveryStatus() implements MetaRequest {
        public MetaOp op() { return MetaOp.RECOVERY_STATUS; }
        public void encodeBody(WireWriter out) {}
    }
}
