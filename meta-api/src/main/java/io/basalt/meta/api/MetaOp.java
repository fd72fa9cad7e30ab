package io.basalt.meta.api;

/**
 * Request kinds of the meta API; the code is the op byte on the wire. Writes go through the Raft
 * log; reads are answered after a ReadIndex round. Write codes are 1..31 (volumes and chunk
 * servers) and 64..95 (the object index); read codes 32..63 and 96..127. Codes are never reused:
 * a retired op keeps its number.
 */
public enum MetaOp {
    REGISTER_CS(1), SET_CS_STATUS(2), CREATE_VOLUME(3), RESIZE_VOLUME(4), DELETE_VOLUME(5),
    ALLOCATE_CHUNK(6), REPORT_FAILURE(7), ACQUIRE_LEASE(8), RELEASE_LEASE(9), NEW_LEADER_EPOCH(10),
    INIT_CLUSTER_ID(11), RECOVER_CHUNKLETS(12), RECOVERY_DONE(13), DRAIN_CS(14), REMOVE_CS(15),
    SET_VOLUME_QOS(16), SET_VOLUME_FEATURES(25), COLLECT_TOMBSTONES(31),
    // Snapshots and clones (docs/snapshots.md): writes 17..24, reads 43..49.
    CREATE_SNAPSHOT(17), DELETE_SNAPSHOT(18), ROLLBACK_VOLUME(19), CLONE_VOLUME(20), DETACH_PARENT(21),
    SET_FLATTEN(22),
    LIST_SNAPSHOTS(43), GET_LAYER(44), LIST_LAYERS(45), GET_FLATTEN(46),
    GET_VOLUME(32), LIST_VOLUMES(33), GET_CHUNK(34), LIST_CS(35), HEARTBEAT(36), STATUS(37),
    GET_CLUSTER_ID(38), LIST_CS_CHUNK_VERSIONS(39), LIST_CHUNKS(40), LIST_RECOVERY_TASKS(41),
    RECOVERY_STATUS(42), GET_CHUNK_MAP(50),
    // The object index (docs/objects.md, "The index"): writes.
    CREATE_BUCKET(64), DELETE_BUCKET(65), SET_BUCKET_VERSIONING(66), PUT_OBJECT(67),
    DELETE_OBJECT(68), PUT_OBJECT_TAGS(69), CREATE_UPLOAD(70), PUT_PART(71), COMPLETE_UPLOAD(72),
    ABORT_UPLOAD(73), OPEN_OBJECT_LOG(74), RESERVE_OBJECT_LOG(75), FREED_OBJECT_EXTENTS(76),
    SEAL_OBJECT_LOG(77), CREATE_S3_USER(78), DELETE_S3_USER(79),
    // S3 writes 80..95 (reserved for the object index's later ops).
    PUT_INLINE_OBJECT(80),
    // The object index: reads.
    GET_BUCKET(96), LIST_BUCKETS(97), GET_OBJECT(98), LIST_OBJECTS(99), LIST_OBJECT_VERSIONS(100),
    LIST_PARTS(101), LIST_UPLOADS(102), OBJECT_LOG_GAPS(103), OBJECT_LOG_FREES(104),
    LIST_OBJECT_LOGS(105), LIST_S3_USERS(106), GET_S3_USER(107);

    /** The first read code of the volume ops; writes below it. */
    public static final int FIRST_READ_CODE = 32;
    /** The object index's write codes are [64, 96); its reads [96, 128). */
    public static final int FIRST_OBJECT_WRITE_CODE = 64;
    public static final int FIRST_OBJECT_READ_CODE = 96;

    private static final MetaOp[] BY_CODE = new MetaOp[256];

    static {
        for (MetaOp op : values()) {
            BY_CODE[op.code] = op;
        }
    }

    public final int code;

    MetaOp(int code) {
        this.code = code;
    }

    public boolean isWrite() {
        return code < FIRST_READ_CODE
                || (code >= FIRST_OBJECT_WRITE_CODE && code < FIRST_OBJECT_READ_CODE);
    }

    public static MetaOp ofCode(int code) {
        MetaOp op = code >= 0 && code < BY_CODE.length ? BY_CODE[code] : null;
        if (op == null) {
            throw new MalformedMessageException("unknown meta op " + code);
        }
        return op;
    }
}
