package io.basalt.chunkserver.ec;

import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongPredicate;

/**
 * Which stripes of a chunk this server may serve from its own stripe-keyed hot copies, as the
 * chunk's stripe master, without first checking them against their data columns (docs/hot-tier.md,
 * "Orphan copies").
 *
 * <p>A hot write is acknowledged only once every hot replica logged it, the block's data column
 * included, so the data column says what a block holds. A parity column's copy that its data column
 * never took is an orphan: a failed hot write's, left where some replicas logged it and others did
 * not (a replica refused it, the master died mid-write). The freezer checks every copy against the
 * data column before folding it, but a master that answered reads or held peeks from an orphan
 * first would have shown a write that never happened, then taken it back once frozen: a snapshot's
 * block read one way, later another (the thrasher found it). Copies this master wrote itself in a
 * hot write that succeeded are right; untrusted are:
 * <ul>
 *   <li>every chunk's copies found at start (replayed: their writes' outcomes are unknown here);
 *   <li>a chunk's copies once a HOT_PUT brought one from another master (this column was not the
 *       master then; whether that write succeeded is unknown here);
 *   <li>a stripe of this master's own hot write that failed.
 * </ul>
 * Such a stripe is settled (frozen, which checks every copy against its data column) before it is
 * served, then trusted until the next copy comes from elsewhere. A chunk absent here is trusted.
 *
 * <p>Entries are immutable and replaced atomically per chunk; each gets a generation from one
 * counter, so a settle that raced a HOT_PUT (the chunk's copies untrusted again meanwhile) does not
 * mark its stripe trusted.
 */
final class HotTrust {
    /**
     * {@code all}: every stripe untrusted but those in {@code stripes} (settled since); else only
     * those in {@code stripes} are untrusted.
     */
    private record Entry(long generation, boolean all, Set<Integer> stripes) {
        boolean untrusted(int stripe) {
            return all != stripes.contains(stripe);
        }
    }

    private static final AtomicLong GENERATIONS = new AtomicLong();

    private final ConcurrentHashMap<Long, Entry> chunks = new ConcurrentHashMap<>();

    /** Every stripe of the chunk untrusted: copies were found at start or came from another master. */
    void untrustAll(long chunkUid) {
        chunks.put(chunkUid, new Entry(GENERATIONS.incrementAndGet(), true, Set.of()));
    }

    /** One stripe untrusted: this master's own hot write there failed, its copies may be orphans. */
    void untrust(long chunkUid, int stripe) {
        chunks.compute(chunkUid, (uid, old) -> {
            long generation = GENERATIONS.incrementAndGet();
            if (old == null) {
                return new Entry(generation, false, Set.of(stripe));
            }
            Set<Integer> stripes = new HashSet<>(old.stripes());
            if (old.all()) {
                stripes.remove(stripe);
            } else {
                stripes.add(stripe);
            }
            return new Entry(generation, old.all(), Set.copyOf(stripes));
        });
    }

    /** The generation under which {@code stripe} is untrusted, or -1 when it is trusted. */
    long untrusted(long chunkUid, int stripe) {
        Entry entry = chunks.get(chunkUid);
        return entry != null && entry.untrusted(stripe) ? entry.generation() : -1;
    }

    /**
     * {@code stripe} was settled (its copies checked against their data columns, or none left):
     * trusted, unless its chunk's copies were untrusted again since {@code generation} was read.
     */
    void settled(long chunkUid, int stripe, long generation) {
        chunks.computeIfPresent(chunkUid, (uid, old) -> {
            if (old.generation() != generation || !old.untrusted(stripe)) {
                return old;
            }
            Set<Integer> stripes = new HashSet<>(old.stripes());
            if (old.all()) {
                stripes.add(stripe);
            } else {
                stripes.remove(stripe);
            }
            return !old.all() && stripes.isEmpty() ? null : new Entry(generation, old.all(), Set.copyOf(stripes));
        });
    }

    /**
     * Forgets chunks with no hot copy here ({@code holdsNone}): nothing to distrust, and the map
     * would otherwise grow with every chunk ever written. Decided per chunk atomically with the
     * HOT_PUTs that untrust it, which mark it only once their copy is in the store.
     */
    void forget(LongPredicate holdsNone) {
        for (Long chunkUid : chunks.keySet()) {
            chunks.computeIfPresent(chunkUid, (uid, old) -> holdsNone.test(uid) ? null : old);
        }
    }
}
