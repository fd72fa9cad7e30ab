package io.basalt.meta.model;

import io.basalt.meta.api.MalformedMessageException;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;

/**
 * A thin block volume: chunks exist only where something was written.
 *
 * <p>Record formats (docs/formats.md, "Records"): format 1 is the eight fields up to
 * {@code createdMillis}; format 2 appends {@code u8 recordFormat (2)} and the {@link VolumeQos}.
 * A value that ends after {@code createdMillis} is format 1 (a RocksDB value written before QoS
 * existed) and has no limits; this build always writes format 2, so in a list every record
 * carries its tail. A later format appends after the QoS and raises the byte.
 */
public record Volume(long id, String name, long sizeBytes, int blockSizeBytes, String policyName,
                     long chunkSizeBytes, long chunkCount, long createdMillis, VolumeQos qos) {

    public static final int BLOCK_SIZE_BYTES = 4096;
    /** The record format this build writes. */
    public static final int RECORD_FORMAT = 2;

    public Volume {
        java.util.Objects.requireNonNull(qos, "qos");
    }

    /** A volume without QoS limits. */
    public Volume(long id, String name, long sizeBytes, int blockSizeBytes, String policyName,
                  long chunkSizeBytes, long chunkCount, long createdMillis) {
        this(id, name, sizeBytes, blockSizeBytes, policyName, chunkSizeBytes, chunkCount,
                createdMillis, VolumeQos.NONE);
    }

    /** Number of chunk slots the volume's size spans. */
    public long chunkSlots() {
        return (sizeBytes + chunkSizeBytes - 1) / chunkSizeBytes;
    }

    public long allocatedBytes() {
        return chunkCount * chunkSizeBytes;
    }

    public Volume withSize(long newSizeBytes) {
        return new Volume(id, name, newSizeBytes, blockSizeBytes, policyName, chunkSizeBytes,
                chunkCount, createdMillis, qos);
    }

    public Volume withChunkCount(long newChunkCount) {
        return new Volume(id, name, sizeBytes, blockSizeBytes, policyName, chunkSizeBytes,
                newChunkCount, createdMillis, qos);
    }

    public Volume withQos(VolumeQos newQos) {
        return new Volume(id, name, sizeBytes, blockSizeBytes, policyName, chunkSizeBytes,
                chunkCount, createdMillis, newQos);
    }

    public void encode(WireWriter out) {
        out.i64(id).string(name).i64(sizeBytes).i32(blockSizeBytes).string(policyName)
                .i64(chunkSizeBytes).i64(chunkCount).i64(createdMillis).u8(RECORD_FORMAT);
        qos.encode(out);
    }

    public static Volume decode(WireReader in) {
        long id = in.i64();
        String name = in.string();
        long sizeBytes = in.i64();
        int blockSizeBytes = in.i32();
        String policyName = in.string();
        long chunkSizeBytes = in.i64();
        long chunkCount = in.i64();
        long createdMillis = in.i64();
        VolumeQos qos = VolumeQos.NONE;
        if (in.remaining() > 0) {
            int recordFormat = in.u8();
            if (recordFormat != RECORD_FORMAT) {
                throw new MalformedMessageException("volume \"" + name + "\" record format "
                        + recordFormat + " (this build knows 1 and " + RECORD_FORMAT
                        + "); upgrade this program");
            }
            qos = VolumeQos.decodeChecked(in);
        }
        return new Volume(id, name, sizeBytes, blockSizeBytes, policyName, chunkSizeBytes,
                chunkCount, createdMillis, qos);
    }
}
