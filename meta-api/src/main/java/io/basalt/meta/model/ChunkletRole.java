package io.basalt.meta.model;

/** What a chunklet holds: a full copy, or one data or parity strip column of an EC chunk. */
public enum ChunkletRole {
    REPLICA(1), DATA(2), PARITY(3);

    public final int code;

    ChunkletRole(int code) {
        this.code = code;
    }

    public static ChunkletRole ofCode(int code) {
        for (ChunkletRole role : values()) {
            if (role.code == code) {
                return role;
            }
        }
        throw new io.basalt.meta.api.MalformedMessageException("unknown chunklet role " + code);
    }
}
