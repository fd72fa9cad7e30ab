package io.basalt.meta.store;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import org.rocksdb.Checkpoint;
import org.rocksdb.ColumnFamilyDescriptor;
import org.rocksdb.ColumnFamilyHandle;
import org.rocksdb.ColumnFamilyOptions;
import org.rocksdb.DBOptions;
import org.rocksdb.ReadOptions;
import org.rocksdb.RocksDB;
import org.rocksdb.RocksDBException;
import org.rocksdb.RocksIterator;
import org.rocksdb.WriteBatch;
import org.rocksdb.WriteOptions;

/**
 * The meta state in one RocksDB, a column family per entity.
 *
 * <p>Design note. Writes are not synced: the Raft log is the durable record, and every batch
 * carries {@code lastApplied}, so after a crash the state machine skips what RocksDB already has
 * and replays the rest from the log. The log is only purged behind a snapshot, and a snapshot is
 * a checkpoint, which flushes the memtables first, so nothing the log forgot is only in memory.
 *
 * <p>Thread safety: RocksDB itself is thread-safe; the state machine's read/write lock makes each
 * applied batch atomic with respect to multi-key reads.
 */
public final class MetaStore implements AutoCloseable {
    static {
        RocksDB.loadLibrary();
    }

    /** Column families. The name is on disk: never rename one. */
    public enum Table {
        /** lastApplied and id counters. */
        META("default"),
        CS("cs"),
        POLICY("policy"),
        VOLUME("volume"),
        VOLUME_NAME("volume_name"),
        CHUNK("chunk"),
        CHUNK_UID("chunk_uid"),
        LEASE("lease"),
        /** Per-CS version index: u32 csId | u64 changeSeq -> change (docs/formats.md). */
        CS_CHUNK_CHANGE("cs_chunk_change"),
        /** Newest change of a chunk on a CS: u32 csId | u64 chunkUid -> u64 changeSeq. */
        CS_CHUNK_SEQ("cs_chunk_seq"),
        /** Highest changeSeq given out per CS: u32 csId -> u64 changeSeq. */
        CS_CHANGE_SEQ("cs_change_seq"),
        /**
         * One record per RECOVERING chunklet: u32 csId | u64 chunkUid -> u64 volumeId |
         * u64 chunkIndex | u64 startVersion | u8 kind (docs/formats.md).
         */
        RECOVERY("recovery"),
        /** Chunks with a chunklet not UPTODATE: u64 chunkUid -> u64 volumeId | u64 index. */
        DEGRADED("degraded"),
        // The object index (docs/objects.md "The index"; layouts in docs/formats.md, ObjectKeys).
        /** Bucket name -> Bucket | u64 nextSeq (the bucket's version and upload counter). */
        S3_BUCKET("s3bucket"),
        /** u64 bucketId -> bucket name. */
        S3_BUCKET_ID("s3bucket_id"),
        /** u64 bucketId | escaped key | u64 ~versionSeq -> ObjectVersion (latest false). */
        S3_OBJECT("s3object"),
        /** u64 bucketId | escaped key -> u64 versionSeq of the key's "null" version. */
        S3_OBJECT_NULL("s3object_null"),
        /** u64 bucketId | escaped key | upload id -> u64 uploadSeq | Upload. */
        S3_UPLOAD("s3upload"),
        /** u64 bucketId | u64 uploadSeq | u32 partNumber -> Part. */
        S3_PART("s3part"),
        /** u64 logId -> ObjectLog. */
        OBJ_LOG("objlog"),
        /** u64 logId | u64 offset -> i64 length | owner (committed extents). */
        OBJ_EXT("objext"),
        /** u64 logId | u64 offset -> i64 length (freed extents the writer has not trimmed yet). */
        OBJ_FREE("objfree"),
        /** Access key -> S3User. */
        S3_USER("s3user"),
        /** User name -> access key. */
        S3_USER_NAME("s3user_name"),
        /**
         * Uploads completed in the last 15 minutes, to answer a repeated complete:
         * u64 bucketId | escaped key | upload id -> CompletedUpload (docs/formats.md).
         */
        S3_UPLOAD_DONE("s3upload_done"),
        /** The same by completion time, for expiry: i64 completedMillis | s3upload_done key -> empty. */
        S3_UPLOAD_DONE_TIME("s3upload_done_time"),
        /** A flatten under way: u64 volumeId -> FlattenProgress (docs/formats.md, "Flatten progress"). */
        FLATTEN("flatten");

        final String familyName;

        Table(String familyName) {
            this.familyName = familyName;
        }
    }

    /** One key and value; arrays are owned by the caller. Compared and printed by content. */
    public record Entry(byte[] key, byte[] value) {
        @Override
        public boolean equals(Object other) {
            return other instanceof Entry entry && Arrays.equals(key, entry.key)
                    && Arrays.equals(value, entry.value);
        }

        @Override
        public int hashCode() {
            return 31 * Arrays.hashCode(key) + Arrays.hashCode(value);
        }

        @Override
        public String toString() {
            java.util.HexFormat hex = java.util.HexFormat.of();
            return hex.formatHex(key) + "=" + hex.formatHex(value);
        }
    }

    private final Path dir;
    private final DBOptions dbOptions;
    private final ColumnFamilyOptions familyOptions;
    private final RocksDB db;
    private final Map<Table, ColumnFamilyHandle> handles = new EnumMap<>(Table.class);
    private final WriteOptions writeOptions;

    private MetaStore(Path dir) throws IOException {
        this.dir = dir;
        Files.createDirectories(dir);
        dbOptions = new DBOptions().setCreateIfMissing(true).setCreateMissingColumnFamilies(true)
                .setKeepLogFileNum(4).setMaxBackgroundJobs(2);
        familyOptions = new ColumnFamilyOptions();
        List<ColumnFamilyDescriptor> descriptors = new ArrayList<>();
        for (Table table : Table.values()) {
            descriptors.add(new ColumnFamilyDescriptor(
                    table.familyName.getBytes(java.nio.charset.StandardCharsets.UTF_8),
                    familyOptions));
        }
        List<ColumnFamilyHandle> opened = new ArrayList<>();
        try {
            db = RocksDB.open(dbOptions, dir.toString(), descriptors, opened);
        } catch (RocksDBException e) {
            familyOptions.close();
            dbOptions.close();
            throw new IOException("cannot open meta RocksDB at " + dir + ": " + e.getMessage(), e);
        }
        for (Table table : Table.values()) {
            handles.put(table, opened.get(table.ordinal()));
        }
        writeOptions = new WriteOptions().setSync(false);
    }

    public static MetaStore open(Path dir) throws IOException {
        return new MetaStore(dir);
    }

    public Path dir() {
        return dir;
    }

    public byte[] get(Table table, byte[] key) {
        try {
            return db.get(handles.get(table), key);
        } catch (RocksDBException e) {
            throw new StoreException("RocksDB get in " + table + " failed", e);
        }
    }

    /** Every entry of {@code table} whose key starts with {@code prefix}, in key order. */
    public List<Entry> scan(Table table, byte[] prefix) {
        return scan(table, prefix, prefix, Integer.MAX_VALUE);
    }

    /**
     * Up to {@code limit} entries of {@code table} whose key starts with {@code prefix}, from the
     * first key at or after {@code from} (which must start with {@code prefix}), in key order.
     */
    public List<Entry> scan(Table table, byte[] prefix, byte[] from, int limit) {
        List<Entry> entries = new ArrayList<>(Math.min(limit, 1024));
        try (ReadOptions options = new ReadOptions();
             RocksIterator iterator = db.newIterator(handles.get(table), options)) {
            iterator.seek(from);
            for (; iterator.isValid() && entries.size() < limit; iterator.next()) {
                byte[] key = iterator.key();
                if (key.length < prefix.length
                        || !Arrays.equals(key, 0, prefix.length, prefix, 0, prefix.length)) {
                    break;
                }
                entries.add(new Entry(key, iterator.value()));
            }
            iterator.status();
        } catch (RocksDBException e) {
            throw new StoreException("RocksDB scan of " + table + " failed", e);
        }
        return entries;
    }

    /**
     * A RocksDB iterator over {@code table} for reads that seek (listings): the caller closes
     * it before it returns, under the same lock as any other read.
     */
    public Cursor cursor(Table table) {
        ReadOptions options = new ReadOptions();
        return new Cursor(table, options, db.newIterator(handles.get(table), options));
    }

    /** A positioned iterator; {@link #valid()} reports RocksDB errors as StoreException. */
    public static final class Cursor implements AutoCloseable {
        private final Table table;
        private final ReadOptions options;
        private final RocksIterator iterator;

        private Cursor(Table table, ReadOptions options, RocksIterator iterator) {
            this.table = table;
            this.options = options;
            this.iterator = iterator;
        }

        /** To the first entry at or after {@code key}. */
        public void seek(byte[] key) {
            iterator.seek(key);
        }

        /** To the last entry at or before {@code key}. */
        public void seekForPrev(byte[] key) {
            iterator.seekForPrev(key);
        }

        public boolean valid() {
            if (iterator.isValid()) {
                return true;
            }
            try {
                iterator.status();
            } catch (RocksDBException e) {
                throw new StoreException("RocksDB iteration of " + table + " failed", e);
            }
            return false;
        }

        public byte[] key() {
            return iterator.key();
        }

        public byte[] value() {
            return iterator.value();
        }

        public void next() {
            iterator.next();
        }

        @Override
        public void close() {
            iterator.close();
            options.close();
        }
    }

    void put(WriteBatch batch, Table table, byte[] key, byte[] value) {
        try {
            batch.put(handles.get(table), key, value);
        } catch (RocksDBException e) {
            throw new StoreException("RocksDB batch put failed", e);
        }
    }

    void delete(WriteBatch batch, Table table, byte[] key) {
        try {
            batch.delete(handles.get(table), key);
        } catch (RocksDBException e) {
            throw new StoreException("RocksDB batch delete failed", e);
        }
    }

    void write(WriteBatch batch) {
        try {
            db.write(writeOptions, batch);
        } catch (RocksDBException e) {
            throw new StoreException("RocksDB write failed", e);
        }
    }

    /** Writes a consistent copy of the store into {@code target}, which must not exist yet. */
    public void checkpoint(Path target) throws IOException {
        try (Checkpoint checkpoint = Checkpoint.create(db)) {
            checkpoint.createCheckpoint(target.toString());
        } catch (RocksDBException e) {
            throw new IOException("RocksDB checkpoint to " + target + " failed: " + e.getMessage(), e);
        }
    }

    /** Every entry of every table, for comparing two stores byte for byte in tests and tools. */
    public Map<Table, List<Entry>> dump() {
        Map<Table, List<Entry>> all = new EnumMap<>(Table.class);
        for (Table table : Table.values()) {
            all.put(table, scan(table, new byte[0]));
        }
        return all;
    }

    @Override
    public void close() {
        for (ColumnFamilyHandle handle : handles.values()) {
            handle.close();
        }
        db.close();
        writeOptions.close();
        familyOptions.close();
        dbOptions.close();
    }

    /** RocksDB failed under us: the state machine cannot go on (STYLE 7: stop loudly). */
    public static final class StoreException extends RuntimeException {
        StoreException(String message, RocksDBException cause) {
            super(message + ": " + cause.getMessage(), cause);
        }
    }
}
