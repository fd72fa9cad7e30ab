package io.basalt.meta.api;

/**
 * Request kinds of the meta API; the code is the op byte on the wire. Writes (codes below 32) go
 * through the Raft log; reads (32 and up) are answered by the leader after a ReadIndex round.
 * Codes are never reused: a retired op keeps its number.
 */
public enum MetaOp {
    REGISTER_CS(1), SET_CS_STATUS(2), CREATE_VOLUME(3), RESIZE_VOLUME(4), DELETE_VOLUME(5),
    ALLOCATE_CHUNK(6), REPORT_FAILURE(7), ACQUIRE_LEASE(8), RELEASE_LEASE(9), NEW_LEADER_EPOCH(10),
    INIT_CLUSTER_ID(11), RECOVER_CHUNKLETS(12), RECOVERY_DONE(13), DRAIN_CS(14), REMOVE_CS(15),
    GET_VOLUME(32), LIST_VOLUMES(33), GET_CHUNK(34), LIST_CS(35), HEARTBEAT(36), STATUS(37),
    GET_CLUSTER_ID(38), LIST_CS_CHUNK_VERSIONS(39), LIST_CHUNKS(40), LIST_RECOVERY_TASKS(41),
    RECOVERY_STATUS(42), GET_CHUNK_MAP(50);

    public static final int FIRST_READ_CODE = 32;

    public final int code;

    MetaOp(int code) {
        this.code = code;
    }

    public boolean isWrite() {
        return code < FIRST_READ_CODE;
    }

    public static MetaOp ofCode(int code) {
        for (MetaOp op : values()) {
            if (op.code == code) {
                return op;
            }
        }
        throw new MalformedMessageException("unknown meta op " + code);
    }
}
