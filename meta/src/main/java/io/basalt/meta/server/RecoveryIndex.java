package io.basalt.meta.server;

import io.basalt.meta.api.RecoveryTask;
import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.ChunkletState;
import io.basalt.meta.store.Keys;
import io.basalt.meta.store.MetaStore;
import io.basalt.meta.store.MetaStore.Table;
import io.basalt.meta.store.Tx;
import java.util.ArrayList;
import java.util.List;

/**
 * The two recovery tables, derived from the chunk table and written in the same batch as every
 * chunk change ({@link #chunkChanged}, called from the one place chunks are written and removed),
 * so no write path can forget them:
 * <ul>
 *   <li>{@link Table#RECOVERY}: exactly one record per RECOVERING chunklet, keyed
 *       {@code u32 csId | u64 chunkUid} so a chunk server lists its tasks with one prefix scan;
 *       the value keeps where the chunk is, the chunk version at which that chunklet became
 *       RECOVERING ({@code startVersion}, which RECOVERY_DONE must quote, so a report about an
 *       older recovery of the same chunklet is refused) and the kind (REBUILD or CATCH_UP).</li>
 *   <li>{@link Table#DEGRADED}: {@code u64 chunkUid -> u64 volumeId | u64 index}, present iff
 *       the chunk has a chunklet that is not UPTODATE: the recoverer's work list.</li>
 * </ul>
 *
 * <p>A chunklet "stays" RECOVERING across a change when the new chunk has it RECOVERING at the
 * same index on the same CS; its record (and startVersion) is then kept, so a lease move or a
 * leader epoch does not cancel a running recovery. Deterministic: point reads and writes only.
 */
final class RecoveryIndex {
    /**
     * Value of a {@link Table#RECOVERY} record (big-endian): {@code 0 u64 volumeId |
     * 8 u64 chunkIndex | 16 u64 startVersion | 24 u8 kind}; 25 bytes.
     */
    static final int VALUE_OFFSET_VOLUME_ID = 0;
    static final int VALUE_OFFSET_CHUNK_INDEX = 8;
    static final int VALUE_OFFSET_START_VERSION = 16;
    static final int VALUE_OFFSET_KIND = 24;
    static final int VALUE_BYTES = 25;

    /** A decoded {@link Table#RECOVERY} record. */
    record Record(int csId, long chunkUid, long volumeId, long chunkIndex, long startVersion,
                  int kind) {}

    private RecoveryIndex() {}

    /**
     * Updates both tables for the change {@code before -> after} of one chunk ({@code before}
     * null: created; {@code after} null: removed). A chunklet that newly became RECOVERING gets a
     * record of {@code kind} starting at {@code after}'s version.
     */
    static void chunkChanged(Tx tx, Chunk before, Chunk after, int kind) {
        if (before != null) {
            for (Chunklet old : before.chunklets()) {
                if (old.state() == ChunkletState.RECOVERING && !staysRecovering(old, after)) {
                    tx.delete(Table.RECOVERY, Keys.u32u64(old.csId(), before.uid()));
                }
            }
        }
        if (after != null) {
            for (Chunklet now : after.chunklets()) {
                if (now.state() == ChunkletState.RECOVERING && !staysRecovering(now, before)) {
                    byte[] value = new byte[VALUE_BYTES];
                    System.arraycopy(Keys.u64u64(after.volumeId(), after.index()), 0, value,
                            VALUE_OFFSET_VOLUME_ID, 16);
                    System.arraycopy(Keys.u64(after.version()), 0, value,
                            VALUE_OFFSET_START_VERSION, 8);
                    value[VALUE_OFFSET_KIND] = (byte) kind;
                    tx.put(Table.RECOVERY, Keys.u32u64(now.csId(), after.uid()), value);
                }
            }
        }
        boolean wasDegraded = before != null && degraded(before);
        boolean isDegraded = after != null && degraded(after);
        if (isDegraded && !wasDegraded) {
            tx.put(Table.DEGRADED, Keys.u64(after.uid()), Keys.u64u64(after.volumeId(),
                    after.index()));
        } else if (wasDegraded && !isDegraded) {
            tx.delete(Table.DEGRADED, Keys.u64(before.uid()));
        }
    }

    /**
     * {@code before} moved to another volume (a snapshot froze it): the records that name its
     * location follow it; start versions and kinds stay, as across a lease move.
     */
    static void chunkMoved(Tx tx, Chunk before, Chunk after) {
        byte[] location = Keys.u64u64(after.volumeId(), after.index());
        for (Chunklet chunklet : before.chunklets()) {
            byte[] key = Keys.u32u64(chunklet.csId(), before.uid());
            byte[] value = tx.get(Table.RECOVERY, key);
            if (value != null) {
                byte[] moved = value.clone();
                System.arraycopy(location, 0, moved, VALUE_OFFSET_VOLUME_ID, 16);
                tx.put(Table.RECOVERY, key, moved);
            }
        }
        if (tx.get(Table.DEGRADED, Keys.u64(before.uid())) != null) {
            tx.put(Table.DEGRADED, Keys.u64(before.uid()), location);
        }
    }

    /** Whether {@code chunk} has {@code chunklet} RECOVERING at the same index and CS. */
    private static boolean staysRecovering(Chunklet chunklet, Chunk chunk) {
        if (chunk == null) {
            return false;
        }
        for (Chunklet other : chunk.chunklets()) {
            if (other.index() == chunklet.index() && other.csId() == chunklet.csId()
                    && other.state() == ChunkletState.RECOVERING) {
                return true;
            }
        }
        return false;
    }

    static boolean degraded(Chunk chunk) {
        for (Chunklet chunklet : chunk.chunklets()) {
            if (chunklet.state() != ChunkletState.UPTODATE) {
                return true;
            }
        }
        return false;
    }

    static Record get(Tx tx, int csId, long chunkUid) {
        byte[] value = tx.get(Table.RECOVERY, Keys.u32u64(csId, chunkUid));
        return value == null ? null : decode(csId, chunkUid, value);
    }

    /** Up to {@code limit} records of {@code csId} with a chunk uid above {@code afterChunkUid}. */
    static List<Record> of(MetaStore store, int csId, long afterChunkUid, int limit) {
        List<Record> records = new ArrayList<>();
        if (afterChunkUid == Long.MAX_VALUE) {
            return records;
        }
        for (MetaStore.Entry entry : store.scan(Table.RECOVERY, Keys.u32(csId),
                Keys.u32u64(csId, afterChunkUid + 1), limit)) {
            records.add(decode(csId, Keys.readU64(entry.key(), 4), entry.value()));
        }
        return records;
    }

    /** Records of chunk server {@code csId}: its RECOVERING chunklets. */
    static long countOf(MetaStore store, int csId) {
        return store.scan(Table.RECOVERY, Keys.u32(csId)).size();
    }

    private static Record decode(int csId, long chunkUid, byte[] value) {
        if (value.length != VALUE_BYTES) {
            throw new IllegalStateException("recovery record of chunk " + chunkUid + " on cs "
                    + csId + " has " + value.length + " bytes (expected " + VALUE_BYTES + ")");
        }
        int kind = value[VALUE_OFFSET_KIND];
        if (kind != RecoveryTask.KIND_REBUILD && kind != RecoveryTask.KIND_CATCH_UP) {
            throw new IllegalStateException("recovery record of chunk " + chunkUid + " on cs "
                    + csId + " has unknown kind " + kind);
        }
        return new Record(csId, chunkUid, Keys.readU64(value, VALUE_OFFSET_VOLUME_ID),
                Keys.readU64(value, VALUE_OFFSET_CHUNK_INDEX),
                Keys.readU64(value, VALUE_OFFSET_START_VERSION), kind);
    }

    static String kindName(int kind) {
        return kind == RecoveryTask.KIND_CATCH_UP ? "catch-up" : "rebuild";
    }
}
