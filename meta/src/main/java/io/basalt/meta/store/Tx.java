package io.basalt.meta.store;

import io.basalt.meta.store.MetaStore.Table;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.Map;
import org.rocksdb.WriteBatch;

/**
 * The writes of one applied log entry: one RocksDB {@link WriteBatch}, plus an overlay so that a
 * read after a write of the same key in the same entry sees the write. Scans do not see the
 * overlay; the state machine never scans what it wrote in the same entry.
 */
public final class Tx implements AutoCloseable {
    private static final byte[] DELETED = new byte[0];

    private final MetaStore store;
    private final WriteBatch batch = new WriteBatch();
    private final Map<Table, Map<Key, byte[]>> overlay = new EnumMap<>(Table.class);

    private record Key(byte[] bytes) {
        @Override
        public boolean equals(Object other) {
            return other instanceof Key key && java.util.Arrays.equals(bytes, key.bytes);
        }

        @Override
        public int hashCode() {
            return java.util.Arrays.hashCode(bytes);
        }
    }

    public Tx(MetaStore store) {
        this.store = store;
    }

    public MetaStore store() {
        return store;
    }

    public byte[] get(Table table, byte[] key) {
        Map<Key, byte[]> written = overlay.get(table);
        if (written != null) {
            byte[] value = written.get(new Key(key));
            if (value != null) {
                return value == DELETED ? null : value;
            }
        }
        return store.get(table, key);
    }

    public void put(Table table, byte[] key, byte[] value) {
        overlay.computeIfAbsent(table, t -> new HashMap<>()).put(new Key(key.clone()), value);
        store.put(batch, table, key, value);
    }

    public void delete(Table table, byte[] key) {
        overlay.computeIfAbsent(table, t -> new HashMap<>()).put(new Key(key.clone()), DELETED);
        store.delete(batch, table, key);
    }

    /** Writes every change of this entry atomically. */
    public void commit() {
        store.write(batch);
    }

    @Override
    public void close() {
        batch.close();
    }
}
