package io.basalt.meta.model;

/** Whether a chunklet's bytes can be trusted; the code is its byte on the wire and in RocksDB. */
public enum ChunkletState {
    UPTODATE(1), OUTDATED(2), RECOVERING(3), MIGRATING(4);

    public final int code;

    ChunkletState(int code) {
        this.code = code;
    }

    public static ChunkletState ofCode(int code) {
        for (ChunkletState state : values()) {
            if (state.code == code) {
                return state;
            }
        }
        throw new io.basalt.meta.api.MalformedMessageException("unknown chunklet state " + code);
    }
}
