package io.basalt.meta.server;

import io.basalt.meta.api.ObjectRequestForm;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;
import io.basalt.meta.model.s3.Bucket;
import io.basalt.meta.model.s3.ObjectExtent;
import io.basalt.meta.model.s3.ObjectLog;
import io.basalt.meta.model.s3.ObjectVersion;
import io.basalt.meta.store.Keys;
import io.basalt.meta.store.MetaStore;
import io.basalt.meta.store.MetaStore.Table;
import io.basalt.meta.store.ObjectKeys;
import io.basalt.meta.store.Tx;
import java.util.Arrays;
import java.util.List;

/**
 * The object index's entities inside one entry's transaction: buckets with their sequence
 * counter, object versions, and the extent tables, kept exact together.
 *
 * <p>Design note. Every committed extent (of a version or a part) has one {@code objext} entry
 * naming its owner; an extent that stops being owned moves to {@code objfree} in the same batch,
 * and leaves that only when its log's writer reports it trimmed. So objext and objfree are
 * disjoint and together hold every extent ever committed and not yet trimmed; a log's
 * {@code liveBytes} is the space of its objext entries. New extents are checked against both
 * tables (no overlap, below the log's reservedMark) before anything is written: a bug or a
 * confused gateway cannot make two owners of one block. Checks read the store, not the
 * transaction's overlay (Tx scans do not see it), so callers check before they write.
 */
final class ObjectIndex {
    static final byte[] NEXT_BUCKET_ID = Keys.ascii("nextBucketId");
    static final byte[] NEXT_OBJECT_LOG_ID = Keys.ascii("nextObjectLogId");
    static final int OWNER_VERSION = 1;
    static final int OWNER_PART = 2;

    private ObjectIndex() {}

    // ---------------------------------------------------------------------------------------
    // Buckets

    /**
     * A bucket with the next number of its sequence (versions and uploads draw from it, so a
     * version id's order is its creation order). Stored as {@code Bucket | i64 nextSeq}.
     */
    record BucketState(Bucket bucket, long nextSeq) {
        long id() {
            return bucket.id();
        }

        BucketState withBucket(Bucket newBucket) {
            return new BucketState(newBucket, nextSeq);
        }

        BucketState advanced() {
            return new BucketState(bucket, nextSeq + 1);
        }

        byte[] encode() {
            WireWriter out = new WireWriter();
            bucket.encode(out);
            return out.i64(nextSeq).toByteArray();
        }

        static BucketState decode(byte[] bytes) {
            WireReader in = new WireReader(bytes);
            BucketState state = new BucketState(Bucket.decode(in), in.i64());
            in.end();
            return state;
        }
    }

    static BucketState bucket(Tx tx, String name) {
        byte[] value = tx.get(Table.S3_BUCKET, Keys.ascii(name));
        return value == null ? null : BucketState.decode(value);
    }

    static BucketState bucket(MetaStore store, String name) {
        byte[] value = store.get(Table.S3_BUCKET, Keys.ascii(name));
        return value == null ? null : BucketState.decode(value);
    }

    static void putBucket(Tx tx, BucketState state) {
        tx.put(Table.S3_BUCKET, Keys.ascii(state.bucket().name()), state.encode());
    }

    /** The counter change when {@code after} replaces {@code before} as a key's current version. */
    static Bucket countCurrent(Bucket bucket, ObjectVersion before, ObjectVersion after) {
        long objects = 0;
        long bytes = 0;
        if (before != null && !before.deleteMarker()) {
            objects--;
            bytes -= before.size();
        }
        if (after != null && !after.deleteMarker()) {
            objects++;
            bytes += after.size();
        }
        return bucket.withCounts(objects, bytes);
    }

    // ---------------------------------------------------------------------------------------
    // Versions

    /** A stored version and its sequence number (its place in the key's history). */
    record Stored(long seq, ObjectVersion version) {}

    /** The key's current version (its newest entry, maybe a delete marker), from the store. */
    static Stored current(MetaStore store, long bucketId, String key) {
        byte[] prefix = ObjectKeys.keyPrefix(bucketId, key);
        try (MetaStore.Cursor cursor = store.cursor(Table.S3_OBJECT)) {
            cursor.seek(prefix);
            if (!cursor.valid() || !ObjectKeys.startsWith(cursor.key(), prefix)) {
                return null;
            }
            return new Stored(ObjectKeys.versionSeqOf(cursor.key()),
                    ObjectVersion.decode(new WireReader(cursor.value())));
        }
    }

    /** The version a request names: "" the current one, "null" the null version, else by id. */
    static Stored named(MetaStore store, long bucketId, String key, String versionId) {
        if (versionId.isEmpty()) {
            return current(store, bucketId, key);
        }
        long seq;
        if (versionId.equals(ObjectVersion.NULL_VERSION)) {
            byte[] pointer = store.get(Table.S3_OBJECT_NULL, ObjectKeys.keyPrefix(bucketId, key));
            if (pointer == null) {
                return null;
            }
            seq = Keys.readU64(pointer, 0);
        } else {
            seq = ObjectRequestForm.versionSeq(versionId);
        }
        byte[] value = store.get(Table.S3_OBJECT, ObjectKeys.objectKey(bucketId, key, seq));
        if (value == null) {
            return null;
        }
        ObjectVersion version = ObjectVersion.decode(new WireReader(value));
        // A hex id names a versioned entry only: the null version is addressed as "null".
        return version.versionId().equals(versionId) ? new Stored(seq, version) : null;
    }

    /** Writes a version (stored with latest false; readers set it) and its null pointer. */
    static void putVersion(Tx tx, long bucketId, long seq, ObjectVersion version) {
        WireWriter out = new WireWriter(256);
        version.withLatest(false).encode(out);
        tx.put(Table.S3_OBJECT, ObjectKeys.objectKey(bucketId, version.key(), seq),
                out.toByteArray());
        if (version.versionId().equals(ObjectVersion.NULL_VERSION)) {
            tx.put(Table.S3_OBJECT_NULL, ObjectKeys.keyPrefix(bucketId, version.key()),
                    Keys.u64(seq));
        }
    }

    /** Removes a version; its extents move to objfree. */
    static void removeVersion(Tx tx, long bucketId, Stored stored) {
        ObjectVersion version = stored.version();
        tx.delete(Table.S3_OBJECT, ObjectKeys.objectKey(bucketId, version.key(), stored.seq()));
        if (version.versionId().equals(ObjectVersion.NULL_VERSION)) {
            tx.delete(Table.S3_OBJECT_NULL, ObjectKeys.keyPrefix(bucketId, version.key()));
        }
        free(tx, version.extents());
    }

    // ---------------------------------------------------------------------------------------
    // Object logs and extents

    static ObjectLog log(Tx tx, long logId) {
        byte[] value = tx.get(Table.OBJ_LOG, Keys.u64(logId));
        return value == null ? null : ObjectLog.decode(new WireReader(value));
    }

    static void putLog(Tx tx, ObjectLog log) {
        WireWriter out = new WireWriter();
        log.encode(out);
        tx.put(Table.OBJ_LOG, Keys.u64(log.id()), out.toByteArray());
    }

    /** Who owns a committed extent: a version (partNumber 0) or a part of an upload. */
    record Owner(int kind, long bucketId, long seq, int partNumber, String key) {
        static Owner version(long bucketId, long versionSeq, String key) {
            return new Owner(OWNER_VERSION, bucketId, versionSeq, 0, key);
        }

        static Owner part(long bucketId, long uploadSeq, int partNumber, String key) {
            return new Owner(OWNER_PART, bucketId, uploadSeq, partNumber, key);
        }
    }

    /**
     * objext value: {@code i64 length | u8 kind | i64 bucketId | i64 seq | i32 part |
     * string key}.
     */
    static byte[] encodeExtent(long length, Owner owner) {
        return new WireWriter(32 + owner.key().length()).i64(length).u8(owner.kind())
                .i64(owner.bucketId()).i64(owner.seq()).i32(owner.partNumber())
                .string(owner.key()).toByteArray();
    }

    static Owner decodeOwner(byte[] value) {
        WireReader in = new WireReader(value);
        in.i64();
        Owner owner = new Owner(in.u8(), in.i64(), in.i64(), in.i32(), in.string());
        in.end();
        return owner;
    }

    /**
     * Null if every extent may be committed: its log exists, it lies below the log's
     * reservedMark (written under a reservation), and it overlaps no extent in objext or
     * objfree. Else why not, naming the extent.
     */
    static String checkNewExtents(Tx tx, List<ObjectExtent> extents) {
        for (ObjectExtent extent : extents) {
            ObjectLog log = log(tx, extent.logId());
            if (log == null) {
                return "extent " + ObjectRequestForm.describe(extent) + ": object log "
                        + extent.logId() + " does not exist";
            }
            if (extent.endOffset() > log.reservedMark()) {
                return "extent " + ObjectRequestForm.describe(extent) + " ends at "
                        + extent.endOffset() + ", past the log's reserved mark "
                        + log.reservedMark();
            }
            for (Table table : new Table[] {Table.OBJ_EXT, Table.OBJ_FREE}) {
                ObjectExtent other = overlapping(tx.store(), table, extent);
                if (other != null) {
                    return "extent " + ObjectRequestForm.describe(extent) + " overlaps "
                            + (table == Table.OBJ_EXT ? "committed" : "freed") + " extent "
                            + ObjectRequestForm.describe(other);
                }
            }
        }
        return null;
    }

    /** An entry of {@code table} sharing a block with {@code extent}, or null. */
    private static ObjectExtent overlapping(MetaStore store, Table table, ObjectExtent extent) {
        byte[] key = ObjectKeys.extentKey(extent.logId(), extent.offset());
        try (MetaStore.Cursor cursor = store.cursor(table)) {
            cursor.seekForPrev(key);
            if (cursor.valid()) {
                ObjectExtent before = extentOf(extent.logId(), cursor.key(), cursor.value());
                if (before != null && before.endOffset() > extent.offset()) {
                    return before;
                }
            }
            cursor.seek(key);
            if (cursor.valid()) {
                ObjectExtent after = extentOf(extent.logId(), cursor.key(), cursor.value());
                if (after != null && after.offset() < extent.endOffset()) {
                    return after;
                }
            }
        }
        return null;
    }

    /** The extent an objext or objfree entry describes, or null if it is another log's. */
    static ObjectExtent extentOf(long logId, byte[] key, byte[] value) {
        if (Keys.readU64(key, 0) != logId) {
            return null;
        }
        return new ObjectExtent(logId, Keys.readU64(key, 8), Keys.readU64(value, 0));
    }

    /** Records new extents as {@code owner}'s (checked by {@link #checkNewExtents} first). */
    static void commit(Tx tx, List<ObjectExtent> extents, Owner owner) {
        for (ObjectExtent extent : extents) {
            byte[] key = ObjectKeys.extentKey(extent.logId(), extent.offset());
            assert tx.get(Table.OBJ_EXT, key) == null : "extent committed twice";
            tx.put(Table.OBJ_EXT, key, encodeExtent(extent.length(), owner));
            adjustLive(tx, extent.logId(), extent.spaceBytes());
        }
    }

    /** Gives committed extents to a new owner (a completed upload's parts become the object). */
    static void reown(Tx tx, List<ObjectExtent> extents, Owner owner) {
        for (ObjectExtent extent : extents) {
            byte[] key = ObjectKeys.extentKey(extent.logId(), extent.offset());
            requireCommitted(tx, key, extent);
            tx.put(Table.OBJ_EXT, key, encodeExtent(extent.length(), owner));
        }
    }

    /** Moves committed extents to objfree: their log's writer trims them, then forgets them. */
    static void free(Tx tx, List<ObjectExtent> extents) {
        for (ObjectExtent extent : extents) {
            byte[] key = ObjectKeys.extentKey(extent.logId(), extent.offset());
            requireCommitted(tx, key, extent);
            tx.delete(Table.OBJ_EXT, key);
            tx.put(Table.OBJ_FREE, key, Keys.u64(extent.length()));
            adjustLive(tx, extent.logId(), -extent.spaceBytes());
        }
    }

    /** Always on (STYLE 7): an owner whose extent is not in objext means the index is damaged. */
    private static void requireCommitted(Tx tx, byte[] key, ObjectExtent extent) {
        byte[] value = tx.get(Table.OBJ_EXT, key);
        if (value == null || Keys.readU64(value, 0) != extent.length()) {
            throw new IllegalStateException("object index damaged: extent "
                    + ObjectRequestForm.describe(extent) + " is owned but not in objext as such ("
                    + (value == null ? "absent" : Arrays.toString(value)) + ")");
        }
    }

    private static void adjustLive(Tx tx, long logId, long deltaBytes) {
        ObjectLog log = log(tx, logId);
        if (log == null) {
            throw new IllegalStateException("object index damaged: extent of log " + logId
                    + ", which does not exist");
        }
        putLog(tx, log.withLiveBytesDelta(deltaBytes));
    }
}
