package io.basalt.meta.model;

import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;

/** One piece of a chunk on one chunk server: {@code index} is its position in the stripe. */
public record Chunklet(int index, int csId, ChunkletRole role, ChunkletState state) {
    public static final int ENCODED_BYTES = 4 + 4 + 1 + 1;

    public Chunklet withState(ChunkletState newState) {
        return new Chunklet(index, csId, role, newState);
    }

    public void encode(WireWriter out) {
        out.i32(index).i32(csId).u8(role.code).u8(state.code);
    }

    public static Chunklet decode(WireReader in) {
        return new Chunklet(in.i32(), in.i32(), ChunkletRole.ofCode(in.u8()),
                ChunkletState.ofCode(in.u8()));
    }
}
