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
 * a parent. Format 4 (the hot tier, docs/hot-tier.md) appends {@code u8 features}, a bit set
 * ({@link #FEATURE_HOT_TIER}); formats 1 to 3 read as none. A later format appends after it and
 * raises the byte.
 */
public record Volume(long id, String name, long sizeBytes, int blockSizeBytes, String policyName,
                     long chunkSizeBytes, long chunkCount, long createdMillis, VolumeQos qos,
                     long parentId, int kind, int features) {

    public static final int BLOCK_SIZE_BYTES = 4096;
    /** The record format this build writes. */
    public static final int RECORD_FORMAT = 4;
    /** A writable volume (its own top layer; clones too). */
    public static final int KIND_VOLUME = 0;
    /** A read-only snapshot layer, named {@code volume@snapshot}. */
    public static final int KIND_SNAPSHOT = 1;
    /**
     * Feature bit: an erasure-coded volume's sub-stripe writes go to the replicated hot tier and the
     * freezer folds them into stripes later (docs/hot-tier.md); meaningless for replicated volumes.
     */
    public static final int FEATURE_HOT_TIER = 1;
    /** Every feature bit this build knows; a record with another is refused (upgrade). */
    public static final int FEATURES_KNOWN = FEATURE_HOT_TIER;

    public Volume {
        java.util.Objects.requireNonNull(qos, "qos");
        if (kind != KIND_VOLUME && kind != KIND_SNAPSHOT) {
            throw new IllegalArgumentException("volume kind " + kind);
        }
        if ((features & ~FEATURES_KNOWN) != 0) {
            throw new IllegalArgumentException("volume features " + features);
        }
    }

    /** A volume (or layer) without feature bits. */
    public Volume(long id, String name, long sizeBytes, int blockSizeBytes, String policyName,
                  long chunkSizeBytes, long chunkCount, long createdMillis, VolumeQos qos,
                  long parentId, int kind) {
        this(id, name, sizeBytes, blockSizeBytes, policyName, chunkSizeBytes, chunkCount,
                createdMillis, qos, parentId, kind, 0);
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
                chunkCount, createdMillis, qos, parentId, kind, features);
    }

    public Volume withChunkCount(long newChunkCount) {
        return new Volume(id, name, sizeBytes, blockSizeBytes, policyName, chunkSizeBytes,
                newChunkCount, createdMillis, qos, parentId, kind, features);
    }

    public Volume withQos(VolumeQos newQos) {
        return new Volume(id, name, sizeBytes, blockSizeBytes, policyName, chunkSizeBytes,
                chunkCount, createdMillis, newQos, parentId, kind, features);
    }

    public Volume withParent(long newParentId) {
        return new Volume(id, name, sizeBytes, blockSizeBytes, policyName, chunkSizeBytes,
                chunkCount, createdMillis, qos, newParentId, kind, features);
    }

    public Volume withFeatures(int newFeatures) {
        return new Volume(id, name, sizeBytes, blockSizeBytes, policyName, chunkSizeBytes,
                chunkCount, createdMillis, qos, parentId, kind, newFeatures);
    }

    /** Whether sub-stripe writes of this (erasure-coded) volume go to the hot tier. */
    public boolean hotTier() {
        return (features & FEATURE_HOT_TIER) != 0;
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
        out.i64(parentId).u8(kind).u8(features);
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
        int features = 0;
        if (in.remaining() > 0) {
            int recordFormat = in.u8();
            if (recordFormat < 2 || recordFormat > RECORD_FORMAT) {
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
            if (recordFormat >= 4) {
                features = in.u8();
                if ((features & ~FEATURES_KNOWN) != 0) {
                    throw new MalformedMessageException("volume \"" + name + "\": feature bits "
                            + Integer.toBinaryString(features) + " (this build knows "
                            + Integer.toBinaryString(FEATURES_KNOWN) + "); upgrade this program");
                }
            }
        }
        return new Volume(id, name, sizeBytes, blockSizeBytes, policyName, chunkSizeBytes,
                chunkCount, createdMillis, qos, parentId, kind, features);
    }
}
