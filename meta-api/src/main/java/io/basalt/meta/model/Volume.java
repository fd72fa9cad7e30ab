package io.basalt.meta.model;

import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;

/** A thin block volume: chunks exist only where something was written. */
public record Volume(long id, String name, long sizeBytes, int blockSizeBytes, String policyName,
                     long chunkSizeBytes, long chunkCount, long createdMillis) {

    public static final int BLOCK_SIZE_BYTES = 4096;

    /** Number of chunk slots the volume's size spans. */
    public long chunkSlots() {
        return (sizeBytes + chunkSizeBytes - 1) / chunkSizeBytes;
    }

    public long allocatedBytes() {
        return chunkCount * chunkSizeBytes;
    }

    public Volume withSize(long newSizeBytes) {
        return new Volume(id, name, newSizeBytes, blockSizeBytes, policyName, chunkSizeBytes,
                chunkCount, createdMillis);
    }

    public Volume withChunkCount(long newChunkCount) {
        return new Volume(id, name, sizeBytes, blockSizeBytes, policyName, chunkSizeBytes,
                newChunkCount, createdMillis);
    }

    public void encode(WireWriter out) {
        out.i64(id).string(name).i64(sizeBytes).i32(blockSizeBytes).string(policyName)
                .i64(chunkSizeBytes).i64(chunkCount).i64(createdMillis);
    }

    public static Volume decode(WireReader in) {
        return new Volume(in.i64(), in.string(), in.i64(), in.i32(), in.string(), in.i64(), in.i64(),
                in.i64());
    }
}
