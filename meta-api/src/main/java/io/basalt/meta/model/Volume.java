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
 * carries its tail. Format 3 (snapshots, docs/snapshots.md) appends {@code i64 parentId} (the
 * layer below this one: a snapshot layer's volume id, 0 for none) and {@code u8 kind}
 * ({@link #KIND_VOLUME}, {@link #KIND_SNAPSHOT}); formats 1 and 2 read as a plain volume without
 * a parent. A later format appends after the kind and raises the byte.
 */
public record Volume(long id, String name, long sizeBytes, int blockSizeBytes, String policyName,
                     long chunkSizeBytes, long chunkCount, long createdMillis, VolumeQos qos,
                     long parentId, int kind) {

    public static final int BLOCK_SIZE_BYTES = 4096;
    /** The record format this build writes. */
    public static final int RECORD_FORMAT = 3;
    /** A writable volume (its own top layer; clones too). */
    public static final int KIND_VOLUME = 0;
    /** A read-only snapshot layer, named {@code volume@snapshot}. */
    public static final int KIND_SNAPSHOT = 1;

    public Volume {
        java.util.Objects.requireNonNull(qos, "qos");
        if (kind != KIND_VOLUME && kind != KIND_SNAPSHOT) {
            throw new IllegalArgumentException("volume kind " + kind);
        }
    }

    /** A volume without a parent layer. */
    public Volume(long id, String name, long sizeBytes, int blockSizeBytes, String policyName,
                  long chunkSizeBytes, long chunkCount, long createdMillis, VolumeQos qos) {
        this(id, name, sizeBytes, blockSizeBytes, policyName, chunkSizeBytes, chunkCount,
                createdMillis, qos, 0, KIND_VOLUME);
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
                chunkCount, createdMillis, qos, parentId, kind);
    }

    public Volume withChunkCount(long newChunkCount) {
        return new Volume(id, name, sizeBytes, blockSizeBytes, policyName, chunkSizeBytes,
                newChunkCount, createdMillis, qos, parentId, kind);
    }

    public Volume withQos(VolumeQos newQos) {
        return new Volume(id, name, sizeBytes, blockSizeBytes, policyName, chunkSizeBytes,
                chunkCount, createdMillis, newQos, parentId, kind);
    }

    public Volume withParent(long newParentId) {
        return new Volume(id, name, sizeBytes, blockSizeBytes, policyName, chunkSizeBytes,
                chunkCount, createdMillis, qos, newParentId, kind);
    }

    public boolean isSnapshot() {
        return kind == KIND_SNAPSHOT;
    }

    /** The part after '@' of a snapshot's name ("s1" of "vm1@s1"); the whole name otherwise. */
    public String snapshotName() {
        int at = name.indexOf('@');
        return at < 0 ? name : name.substring(at + 1);
    }

    public void encode(WireWriter out) {
        out.i64(id).string(name).i64(sizeBytes).i32(blockSizeBytes).string(policyName)
                .i64(chunkSizeBytes).i64(chunkCount).i64(createdMillis).u8(RECORD_FORMAT);
        qos.encode(out);
        out.i64(parentId).u8(kind);
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
        long parentId = 0;
        int kind = KIND_VOLUME;
        if (in.remaining() > 0) {
            int recordFormat = in.u8();
            if (recordFormat != 2 && recordFormat != RECORD_FORMAT) {
                throw new MalformedMessageException("volume \"" + name + "\" record format "
                        + recordFormat + " (this build knows 1 to " + RECORD_FORMAT
                        + "); upgrade this program");
            }
            qos = VolumeQos.decodeChecked(in);
            if (recordFormat >= 3) {
                parentId = in.i64();
                kind = in.u8();
                if (parentId < 0 || (kind != KIND_VOLUME && kind != KIND_SNAPSHOT)) {
                    throw new MalformedMessageException("volume \"" + name + "\": parent "
                            + parentId + ", kind " + kind + " (kinds 0 and 1 are known)");
                }
            }
        }
        return new Volume(id, name, sizeBytes, blockSizeBytes, policyName, chunkSizeBytes,
                chunkCount, createdMillis, qos, parentId, kind);
    }
}
