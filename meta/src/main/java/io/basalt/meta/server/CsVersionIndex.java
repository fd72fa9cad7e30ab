package io.basalt.meta.server;

import io.basalt.meta.api.CsChunkVersion;
import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.store.Keys;
import io.basalt.meta.store.MetaStore;
import io.basalt.meta.store.MetaStore.Table;
import io.basalt.meta.store.Tx;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;

/**
 * The per-chunk-server version index: what each chunk server must know to fence stale clients,
 * as a change log it can pull from any point (op LIST_CS_CHUNK_VERSIONS).
 *
 * <p>Design note. Every change of a chunk that concerns a CS (the chunk was placed there, its
 * version rose, it left that CS) gets the next changeSeq of that CS, a per-CS counter in the
 * replicated state ({@link Table#CS_CHANGE_SEQ}), and one entry in {@link Table#CS_CHUNK_CHANGE}
 * under {@code csId | changeSeq}. Only the newest entry of each (csId, chunkUid) is kept:
 * {@link Table#CS_CHUNK_SEQ} points at it and the superseded one is deleted in the same batch.
 * So the table holds one entry per live chunklet plus one tombstone per chunk that left a CS,
 * and a CS that has seen everything up to changeSeq {@code s} learns all it missed by reading the
 * entries after {@code s}: any later change has a later seq, and only an even later entry can
 * remove it. Reading from 0 gives the full list. A tombstone is kept until its chunk server
 * reports (in its heartbeat) that it has applied a seq at or past it: a CS that was away long
 * must still learn that a chunk left it. Then the leader collects it (COLLECT_TOMBSTONES,
 * {@link TombstoneCollector}); a CS that pulls from 0 (a restart) treats every chunk it knows and
 * the full list lacks as deleted, so it needs no tombstone either.
 *
 * <p>Deterministic: seqs come from the replicated counter, CS ids are visited in sorted order and
 * every read is a point read through the entry's {@link Tx} (which sees the entry's own writes).
 */
final class CsVersionIndex {
    static final int KIND_VERSION = 1;
    static final int KIND_DELETED = 2;
    /**
     * Value of a {@link Table#CS_CHUNK_CHANGE} entry (big-endian):
     * {@code 0 u8 kind (1 version, 2 deleted) | 1 u64 chunkUid | 9 u64 version}; 17 bytes, then, in
     * a version entry written since writersFrom existed, {@code 17 u64 writersFrom} (25 bytes; a
     * 17-byte version entry reads as writersFrom = version).
     */
    static final int VALUE_OFFSET_KIND = 0;
    static final int VALUE_OFFSET_CHUNK_UID = 1;
    static final int VALUE_OFFSET_VERSION = 9;
    static final int VALUE_OFFSET_WRITERS_FROM = 17;
    static final int VALUE_BYTES = 17;
    static final int VALUE_BYTES_WITH_WRITERS = 25;
    /** Entries read at a time when looking for tombstones. */
    private static final int SCAN_PAGE = 4096;

    private CsVersionIndex() {}

    /**
     * Records what the change {@code before -> after} of one chunk means to each chunk server;
     * {@code before} null: the chunk was created; {@code after} null: it was removed.
     */
    static void chunkChanged(Tx tx, Chunk before, Chunk after) {
        Set<Integer> beforeCs = before == null ? Set.of() : csIds(before);
        Set<Integer> afterCs = after == null ? Set.of() : csIds(after);
        // The same chunklets (ids, roles, states) as before: a write at an older version still
        // reaches exactly them, so relayed writes from the older writersFrom on stay valid.
        boolean sameChunklets = before != null && after != null && before.uid() == after.uid()
                && before.chunklets().equals(after.chunklets());
        for (int csId : afterCs) {
            if (!beforeCs.contains(csId) || before.version() != after.version()) {
                long writersFrom = sameChunklets ? Math.min(after.version(), writersFrom(tx, csId, after.uid(),
                        after.version())) : after.version();
                record(tx, csId, after.uid(), after.version(), writersFrom, false);
            }
        }
        for (int csId : beforeCs) {
            if (!afterCs.contains(csId)) {
                record(tx, csId, before.uid(), before.version(), before.version(), true);
            }
        }
    }

    /**
     * The writersFrom of {@code csId}'s newest entry for {@code chunkUid} ({@code fallback} when it
     * has none or it is a tombstone).
     */
    private static long writersFrom(Tx tx, int csId, long chunkUid, long fallback) {
        byte[] pointer = tx.get(Table.CS_CHUNK_SEQ, Keys.u32u64(csId, chunkUid));
        byte[] value = pointer == null ? null : tx.get(Table.CS_CHUNK_CHANGE, Keys.u32u64(csId, Keys.readU64(pointer, 0)));
        if (value == null || value[VALUE_OFFSET_KIND] != KIND_VERSION) {
            return fallback;
        }
        return value.length >= VALUE_BYTES_WITH_WRITERS ? Keys.readU64(value, VALUE_OFFSET_WRITERS_FROM)
                : Keys.readU64(value, VALUE_OFFSET_VERSION);
    }

    private static Set<Integer> csIds(Chunk chunk) {
        Set<Integer> ids = new TreeSet<>();
        for (Chunklet chunklet : chunk.chunklets()) {
            ids.add(chunklet.csId());
        }
        return ids;
    }

    private static void record(Tx tx, int csId, long chunkUid, long version, long writersFrom, boolean deleted) {
        byte[] counterKey = Keys.u32(csId);
        byte[] current = tx.get(Table.CS_CHANGE_SEQ, counterKey);
        long seq = (current == null ? 0 : Keys.readU64(current, 0)) + 1;
        tx.put(Table.CS_CHANGE_SEQ, counterKey, Keys.u64(seq));
        byte[] pointerKey = Keys.u32u64(csId, chunkUid);
        byte[] superseded = tx.get(Table.CS_CHUNK_SEQ, pointerKey);
        if (superseded != null) {
            tx.delete(Table.CS_CHUNK_CHANGE, Keys.u32u64(csId, Keys.readU64(superseded, 0)));
        }
        byte[] value = new byte[deleted ? VALUE_BYTES : VALUE_BYTES_WITH_WRITERS];
        value[VALUE_OFFSET_KIND] = (byte) (deleted ? KIND_DELETED : KIND_VERSION);
        System.arraycopy(Keys.u64(chunkUid), 0, value, VALUE_OFFSET_CHUNK_UID, 8);
        System.arraycopy(Keys.u64(version), 0, value, VALUE_OFFSET_VERSION, 8);
        if (!deleted) {
            System.arraycopy(Keys.u64(writersFrom), 0, value, VALUE_OFFSET_WRITERS_FROM, 8);
        }
        tx.put(Table.CS_CHUNK_CHANGE, Keys.u32u64(csId, seq), value);
        tx.put(Table.CS_CHUNK_SEQ, pointerKey, Keys.u64(seq));
    }

    /** The highest changeSeq given to {@code csId}, 0 if none. */
    static long highestSeq(MetaStore store, int csId) {
        byte[] current = store.get(Table.CS_CHANGE_SEQ, Keys.u32(csId));
        return current == null ? 0 : Keys.readU64(current, 0);
    }

    /** Up to {@code limit} entries of {@code csId} with changeSeq above {@code afterSeq}. */
    static List<CsChunkVersion> after(MetaStore store, int csId, long afterSeq, int limit) {
        List<CsChunkVersion> entries = new ArrayList<>();
        if (afterSeq == Long.MAX_VALUE) {
            return entries;
        }
        for (MetaStore.Entry entry : store.scan(Table.CS_CHUNK_CHANGE, Keys.u32(csId),
                Keys.u32u64(csId, afterSeq + 1), limit)) {
            byte[] value = entry.value();
            int kind = value.length == 0 ? -1 : value[VALUE_OFFSET_KIND];
            if (kind != KIND_VERSION && kind != KIND_DELETED) {
                throw new IllegalStateException("version index entry of chunk server " + csId
                        + " has unknown kind " + kind);
            }
            if (value.length != VALUE_BYTES && (kind == KIND_DELETED || value.length != VALUE_BYTES_WITH_WRITERS)) {
                throw new IllegalStateException("version index entry of chunk server " + csId
                        + " at changeSeq " + Keys.readU64(entry.key(), 4) + " has " + value.length
                        + " bytes (expected " + VALUE_BYTES + (kind == KIND_VERSION ? " or " + VALUE_BYTES_WITH_WRITERS
                        : "") + ")");
            }
            long version = Keys.readU64(value, VALUE_OFFSET_VERSION);
            entries.add(new CsChunkVersion(Keys.readU64(entry.key(), 4),
                    Keys.readU64(value, VALUE_OFFSET_CHUNK_UID), version, kind == KIND_DELETED,
                    value.length == VALUE_BYTES_WITH_WRITERS ? Keys.readU64(value, VALUE_OFFSET_WRITERS_FROM) : version));
        }
        return entries;
    }

    /**
     * How many chunks have a chunklet on {@code csId} now (its entries that are not tombstones),
     * counting at most {@code limit}; a scan of the CS's index, for admin reads and the drain.
     */
    static long liveCount(MetaStore store, int csId, long limit) {
        long count = 0;
        for (MetaStore.Entry entry : store.scan(Table.CS_CHUNK_CHANGE, Keys.u32(csId))) {
            if (entry.value()[VALUE_OFFSET_KIND] == KIND_VERSION && ++count >= limit) {
                break;
            }
        }
        return count;
    }

    /**
     * Up to {@code limit} changeSeqs of {@code csId}'s tombstones in {@code (afterSeq, uptoSeq]},
     * ascending: what the leader may collect once that chunk server has applied {@code uptoSeq}.
     */
    static List<Long> tombstonesIn(MetaStore store, int csId, long afterSeq, long uptoSeq,
                                   int limit) {
        List<Long> seqs = new ArrayList<>();
        long from = afterSeq + 1;
        // Scanned a page at a time: the live entries in between are most of the index.
        while (from <= uptoSeq && seqs.size() < limit) {
            List<MetaStore.Entry> page = store.scan(Table.CS_CHUNK_CHANGE, Keys.u32(csId),
                    Keys.u32u64(csId, from), SCAN_PAGE);
            for (MetaStore.Entry entry : page) {
                long seq = Keys.readU64(entry.key(), 4);
                if (seq > uptoSeq || seqs.size() >= limit) {
                    return seqs;
                }
                if (entry.value()[VALUE_OFFSET_KIND] == KIND_DELETED) {
                    seqs.add(seq);
                }
                from = seq + 1;
            }
            if (page.size() < SCAN_PAGE) {
                break;
            }
        }
        return seqs;
    }

    /**
     * Drops {@code csId}'s tombstones at {@code changeSeqs} (op COLLECT_TOMBSTONES): the entry and
     * its (csId, chunkUid) pointer, so the chunk no longer counts as held before by that server
     * (it may be placed there again). A seq whose entry is gone or is not a tombstone (replaced
     * by a newer entry since the leader looked) is skipped. Returns how many were dropped.
     */
    static int collect(Tx tx, int csId, List<Long> changeSeqs) {
        int collected = 0;
        for (long seq : changeSeqs) {
            byte[] key = Keys.u32u64(csId, seq);
            byte[] value = tx.get(Table.CS_CHUNK_CHANGE, key);
            if (value == null || value.length != VALUE_BYTES
                    || value[VALUE_OFFSET_KIND] != KIND_DELETED) {
                continue;
            }
            byte[] pointerKey = Keys.u32u64(csId, Keys.readU64(value, VALUE_OFFSET_CHUNK_UID));
            byte[] pointer = tx.get(Table.CS_CHUNK_SEQ, pointerKey);
            if (pointer != null && Keys.readU64(pointer, 0) == seq) {
                tx.delete(Table.CS_CHUNK_SEQ, pointerKey);
            }
            tx.delete(Table.CS_CHUNK_CHANGE, key);
            collected++;
        }
        return collected;
    }

    /** Removes every entry of {@code csId} (a removed chunk server): index, pointers, counter. */
    static void forget(Tx tx, int csId) {
        for (MetaStore.Entry entry : tx.store().scan(Table.CS_CHUNK_CHANGE, Keys.u32(csId))) {
            tx.delete(Table.CS_CHUNK_CHANGE, entry.key());
        }
        for (MetaStore.Entry entry : tx.store().scan(Table.CS_CHUNK_SEQ, Keys.u32(csId))) {
            tx.delete(Table.CS_CHUNK_SEQ, entry.key());
        }
        tx.delete(Table.CS_CHANGE_SEQ, Keys.u32(csId));
    }
}
