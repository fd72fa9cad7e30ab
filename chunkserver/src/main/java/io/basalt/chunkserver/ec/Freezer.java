package io.basalt.chunkserver.ec;

import io.basalt.chunkserver.MetaLink;
import io.basalt.chunkserver.hot.HotStore;
import io.basalt.chunkserver.store.ChunkletStore;
import io.basalt.chunkserver.wal.WalRecordFormat;
import io.basalt.common.ThreadNames;
import io.basalt.protocol.data.CsException;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import io.basalt.protocol.data.EcLayout;
import io.netty.buffer.ByteBuf;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The freezer (docs/hot-tier.md): on the stripe master, folds hot blocks into the EC stripes
 * through the existing two-phase commit, then frees them on every hot replica.
 *
 * <p>Per stripe, under its stripe lock (so no hot write of the stripe can come in between): the
 * master's own hot blocks of the stripe (it holds every acknowledged one) that are newer than the
 * stripe's cold versions are written, run by run of neighbouring blocks, as an EC write
 * ({@link StripeMaster#write}), whose version is above each of their seqs. Once that committed, the
 * blocks are dead by the read rule wherever they are, and HOT_FREE (seq at most the highest frozen)
 * drops them: here in the WAL, on the other writable columns by a frame. A hot write after the
 * freeze waits for the lock, gets a seq above the freeze's version and survives the free. A crash
 * anywhere leaves blocks that are either still newest (frozen again next pass) or dead (only freed
 * next pass).
 *
 * <p>Which stripes: those whose last hot write is older than {@link Config#ageMillis}, or every one
 * once the store is above {@link Config#highWatermark} of its slots; at most
 * {@link Config#stripesPerPass} a pass, and {@link #BUSY_STRIPES_PER_PASS} while clients have requests
 * at this master (below the high watermark: client I/O first). The layout of each chunk comes with its hot writes; a chunk
 * this master has seen none for since it started is asked of meta ({@link #layoutSource}). One
 * thread, "basalt-cs-freezer".
 */
public final class Freezer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Freezer.class);
    private static final int S = EcLayout.STRIP_BYTES;

    /**
     * @param ageMillis a stripe with no hot write for this long is frozen
     * @param highWatermark above this fraction of the hot store's slots, every stripe is, flat out
     * @param stripesPerPass bound on the work of one pass (client I/O goes on meanwhile)
     * @param intervalMillis pause between passes
     */
    public record Config(long ageMillis, double highWatermark, int stripesPerPass, long intervalMillis) {
        /** From -Dbasalt.cs.freezeAgeMillis (30 s) and -Dbasalt.cs.freezeHighWatermark (0.7). */
        public static Config fromProperties() {
            return new Config(Long.getLong("basalt.cs.freezeAgeMillis", 30_000),
                    Double.parseDouble(System.getProperty("basalt.cs.freezeHighWatermark", "0.7")), 64, 200);
        }
    }

    /**
     * Stripes a pass freezes while clients have requests at this master, below the high watermark:
     * client I/O first, but the freezer never stops (4 stripes per 200 ms pass at the least).
     */
    static final int BUSY_STRIPES_PER_PASS = 4;
    /** Most stripes frozen as one EC write (16 of ec4+2: 256 KiB of data, its stripe locks held meanwhile). */
    static final int RUN_STRIPES_MAX = 16;

    private final AtomicLong columnViews = new AtomicLong();
    private final AtomicLong orphanCopies = new AtomicLong();
    private final AtomicLong busyYields = new AtomicLong();
    private final StripeMaster master;
    private final HotStore hot;
    private volatile Config config;
    private final AtomicLong frozenBlocks = new AtomicLong();
    private final AtomicLong freedBlocks = new AtomicLong();
    private final AtomicLong failures = new AtomicLong();
    private volatile Thread thread;
    private volatile boolean running;

    public Freezer(StripeMaster master, HotStore hot, Config config) {
        this.master = master;
        this.hot = hot;
        this.config = config;
    }

    public void start() {
        running = true;
        thread = Thread.ofPlatform().daemon().name(ThreadNames.of("basalt-cs-freezer")).start(() -> {
            while (running) {
                try {
                    runOnce();
                } catch (Exception e) {
                    failures.incrementAndGet();
                    log.warn("freezer pass failed: {}", e.toString());
                }
                try {
                    Thread.sleep(config.intervalMillis());
                } catch (InterruptedException e) {
                    return;
                }
            }
        });
    }

    /** One pass; returns the number of stripes it froze or freed. */
    public int runOnce() {
        return runOnce(false);
    }

    /** One pass; {@code everything}: as above the high watermark, every stripe whatever its age. */
    public int runOnce(boolean everything) {
        if (everything || System.nanoTime() - lastSweepNanos > SWEEP_INTERVAL_NANOS) {
            lastSweepNanos = System.nanoTime();
            try {
                sweptBlocks.addAndGet(sweepDead());
            } catch (CsException e) {
                if (e.status() != CsStatus.BUSY) {
                    failures.incrementAndGet();
                }
                log.info("sweeping dead hot blocks stopped (tried again later): {}", e.getMessage());
            } catch (RuntimeException e) {
                failures.incrementAndGet();
                log.info("sweeping dead hot blocks failed (tried again later): {}", e.getMessage());
            }
            forgetChunksWithoutHotBlocks();
        }
        HotMaster hotMaster = master.hotMaster;
        boolean flat = everything || hot.usedSlots() >= config.highWatermark() * hot.capacitySlots();
        int done = 0;
        for (long chunkUid : hot.chunks()) {
            HotMaster.Known known = hotMaster.layouts.get(chunkUid);
            if (known == null) {
                // Only a parity column holds stripe-keyed hot blocks (a data column's copies are its
                // own blocks): only it can be this chunk's stripe master, so only it asks meta.
                if (!hot.any(chunkUid, HotStore.PARITY_KEY_BASE, 2 * HotStore.PARITY_KEY_BASE)) {
                    continue;
                }
                known = askLayout(chunkUid);
                if (known == null) {
                    continue;
                }
            }
            int k = known.layout().k();
            TreeMap<Integer, Integer> stripes = new TreeMap<>(); // stripe -> hot blocks
            for (long[] block : hot.blocks(chunkUid, HotStore.PARITY_KEY_BASE, 2 * HotStore.PARITY_KEY_BASE)) {
                stripes.merge((int) ((block[0] - HotStore.PARITY_KEY_BASE) / k), 1, Integer::sum);
            }
            List<Integer> hotStripes = new ArrayList<>(stripes.keySet());
            for (int i = 0; i < hotStripes.size(); ) {
                int stripe = hotStripes.get(i);
                // Consecutive stripes wholly hot here go as one run: one two-phase commit and one
                // free for all of them (dense data, e.g. a sequence of 4 KiB writes).
                int count = 1;
                int budget = everything ? RUN_STRIPES_MAX : config.stripesPerPass() - done;
                if (!flat && master.clientRequests() > 0) {
                    budget = Math.min(budget, BUSY_STRIPES_PER_PASS - done);
                }
                budget = Math.max(1, budget);
                while (stripes.get(stripe) == k && count < Math.min(RUN_STRIPES_MAX, budget)
                        && i + count < hotStripes.size() && hotStripes.get(i + count) == stripe + count
                        && stripes.get(stripe + count) == k) {
                    count++;
                }
                i += count;
                int frozen;
                try {
                    frozen = freeze(chunkUid, known, stripe, count, flat ? 0 : config.ageMillis() * 1_000_000L);
                } catch (CsException | RuntimeException e) {
                    failures.incrementAndGet();
                    log.info("freezing stripes {}..{} of chunk {} failed (tried again next pass): {}", stripe,
                            stripe + count - 1, Long.toHexString(chunkUid), e.getMessage());
                    if (e instanceof CsException cs && cs.status() == CsStatus.STALE_VERSION) {
                        break; // the chunk moved on: its layout is forgotten, the other stripes wait too
                    }
                    frozen = count; // a failed try is work done too: the pass stays bounded
                }
                if (frozen == 0) {
                    continue;
                }
                done += frozen;
                if (done >= config.stripesPerPass() && !everything) {
                    return done;
                }
                if (!flat && done >= BUSY_STRIPES_PER_PASS && master.clientRequests() > 0) {
                    busyYields.incrementAndGet();
                    return done; // client I/O first: the rest waits for the next pass
                }
            }
        }
        return done;
    }

    /**
     * How often a chunk whose layout this server does not know is asked of meta: a parity column that
     * is not the chunk's master asks in vain, until its copies are freed (a read with a ReadIndex).
     */
    private static final long LAYOUT_ASK_INTERVAL_NANOS = 30_000_000_000L;
    /** How often a master whose chunk has a RECOVERING column asks meta again. */
    private static final long RECOVERING_ASK_INTERVAL_NANOS = 1_000_000_000L;
    private volatile java.util.function.LongFunction<MetaLink.RecoveryTask> layoutSource;
    private final Map<Long, Long> layoutAskedNanos = new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * Where the freezer learns the layout of a chunk it holds hot blocks of but has seen no hot write
     * for since it started (a restarted master) or whose last layout was fenced: the chunk's map from
     * meta (null when meta has none), used when this server is its stripe master and no column is
     * RECOVERING. A degraded map serves too, as a client's does: OUTDATED columns are skipped.
     * Requiring every column UPTODATE left a chunk with a column down unfrozen until its next hot
     * write, however full the hot store grew (EcVolumeIT's freezer crash points, one master's server
     * down while the other's froze). A chunk with a RECOVERING column still waits for its recovery
     * or its next hot write (a freeze then also writes the RECOVERING column; kept out of this path
     * until a thrasher run says it is safe). Without a source such blocks wait for the chunk's next
     * hot write.
     */
    public void layoutSource(java.util.function.LongFunction<MetaLink.RecoveryTask> source) {
        this.layoutSource = source;
        layoutAskedNanos.clear(); // a new source is asked afresh, not after the last one's interval
    }

    /** The layout {@link #layoutSource} gives now (at most every 30 s per chunk), remembered; or null. */
    private HotMaster.Known askLayout(long chunkUid) {
        java.util.function.LongFunction<MetaLink.RecoveryTask> source = layoutSource;
        long now = System.nanoTime();
        Long asked = layoutAskedNanos.get(chunkUid);
        if (source == null || (asked != null && now - asked < LAYOUT_ASK_INTERVAL_NANOS)) {
            return null;
        }
        layoutAskedNanos.put(chunkUid, now);
        MetaLink.RecoveryTask map;
        try {
            map = source.apply(chunkUid);
        } catch (RuntimeException e) {
            log.info("freezer: no layout of chunk {} from meta yet: {}", Long.toHexString(chunkUid), e.toString());
            return null;
        }
        // A column being rebuilt or caught up waits (the recoverer's business first): only a map whose
        // columns are UPTODATE or OUTDATED (skipped, as a client's write skips them) is used.
        boolean recovering = map != null && map.members().stream().anyMatch(MetaLink.Member::recovering);
        if (recovering && map.erasureCoded() && map.masterLayout(false) != null) {
            // This server is the master; only the recovery holds the freeze back, and a catch-up takes
            // seconds: ask again in RECOVERING_ASK_INTERVAL_NANOS, not in 30 s (EcVolumeIT's freezer
            // crash test waited out its 30 s behind a catch-up of a server restarted just before).
            layoutAskedNanos.put(chunkUid, now - LAYOUT_ASK_INTERVAL_NANOS + RECOVERING_ASK_INTERVAL_NANOS);
            return null;
        }
        EcLayout layout = map == null || !map.erasureCoded() ? null : map.masterLayout(false);
        if (layout == null) {
            return null;
        }
        HotMaster.Known known = new HotMaster.Known(layout, map.chunkVersion());
        layoutAskedNanos.remove(chunkUid);
        // A hot write's layout that arrived meanwhile is newer than the map: it wins.
        return master.hotMaster.learn(chunkUid, known);
    }

    /**
     * Drops what the freezer remembers of chunks with no hot block left here (their layouts, when
     * meta was last asked): without it both maps would grow with every chunk ever written hot. A hot
     * write to such a chunk later brings its layout again.
     */
    private void forgetChunksWithoutHotBlocks() {
        java.util.Set<Long> holding = new java.util.HashSet<>(hot.chunks());
        layoutAskedNanos.keySet().retainAll(holding);
        master.hotMaster.layouts.keySet().retainAll(holding);
        master.hotMaster.lastWriteNanos.keySet().retainAll(holding);
        master.hotMaster.trust.forget(chunkUid -> hot.count(chunkUid) == 0);
    }

    private static final long SWEEP_INTERVAL_NANOS = 5_000_000_000L;
    private long lastSweepNanos;
    private final AtomicLong sweptBlocks = new AtomicLong();

    /**
     * Frees every hot block here that is dead by the read rule (its seq not above this column's cold
     * version of it): copies a freeze left behind where its HOT_FREE never arrived (the master died,
     * or stopped, after freeing its own), and a master's own after a restart. Safe whenever it runs:
     * HOT_FREE up to the cold version drops only such blocks, and cold versions never go back. Every
     * server sweeps its own store, whatever its role; a full pass every 5 s (a first cut: one map walk).
     */
    int sweepDead() throws CsException {
        ChunkletStore store = master.store;
        // At most SWEEP_WINDOW frees queued at once, as background records: after random 4 KiB
        // writes a big sequential write leaves thousands of dead hot blocks, and queuing a free for
        // each at once filled the WAL's queue, failing client writes for seconds.
        java.util.ArrayDeque<CompletableFuture<Void>> frees = new java.util.ArrayDeque<>();
        int swept = 0;
        for (long chunkUid : hot.chunks()) {
            int n = store.versions(chunkUid, 0, S).n(); // 1: a data column, k: a parity column
            for (long[] block : hot.blocks(chunkUid, 0, Long.MAX_VALUE)) {
                long key = block[0];
                long cold;
                if (key < HotStore.PARITY_KEY_BASE) {
                    if (n != 1) {
                        continue;
                    }
                    cold = store.versions(chunkUid, key * S, S).versions()[0];
                } else {
                    if (n < 2) {
                        continue;
                    }
                    long logical = key - HotStore.PARITY_KEY_BASE;
                    long[] vector = store.versions(chunkUid, logical / n * S, S).versions();
                    cold = vector[(int) (logical % n)];
                }
                if (block[1] <= cold) {
                    if (frees.size() >= SWEEP_WINDOW) {
                        StripeMaster.join(frees.removeFirst());
                    }
                    frees.add(master.logBackground(WalRecordFormat.TYPE_HOT_FREE, chunkUid, key * S, S,
                            freePayload(cold)));
                    sweepQueuedMax = Math.max(sweepQueuedMax, frees.size());
                    swept++;
                }
            }
        }
        while (!frees.isEmpty()) {
            StripeMaster.join(frees.removeFirst());
        }
        return swept;
    }

    /** Frees of one sweep queued on the WAL at once. */
    static final int SWEEP_WINDOW = 256;
    /** The most frees a sweep had queued at once since start (the freezer thread's; tests read it). */
    private volatile int sweepQueuedMax;

    int sweepQueuedMax() {
        return sweepQueuedMax;
    }

    public long sweptBlocks() {
        return sweptBlocks.get();
    }

    /**
     * Freezes every stripe of [first, first + count) that holds hot blocks here, with {@code known}'s
     * layout (a rebuild's: RECOVERING columns are written too).
     *
     * @throws CsException when a stripe could not be frozen (the rebuild must not go on without it)
     */
    void freezeRange(long chunkUid, HotMaster.Known known, int first, int count) throws CsException {
        int k = known.layout().k();
        long base = HotStore.PARITY_KEY_BASE;
        if (!hot.any(chunkUid, base + (long) first * k, base + (long) (first + count) * k)) {
            return;
        }
        java.util.TreeSet<Integer> stripes = new java.util.TreeSet<>();
        for (long[] block : hot.blocks(chunkUid, base + (long) first * k, base + (long) (first + count) * k)) {
            stripes.add((int) ((block[0] - base) / k));
        }
        freezeEach(chunkUid, known, stripes);
    }

    /**
     * Stripes one HOT_FREEZE or rebuild freezes at once. Each stripe's freeze is a held peek, a
     * two-phase commit and a free, round trips and WAL syncs rather than CPU, and stripes are
     * independent (each under its own lock); one after another, a snapshot create of four chunks
     * full of hot 4 KiB writes spent seconds here (docs/performance.md, "Snapshots").
     * {@code -Dbasalt.cs.freezeConcurrency} sets it (1: one stripe at a time, as before).
     */
    static final int FREEZE_CONCURRENCY = Math.max(1, Integer.getInteger("basalt.cs.freezeConcurrency", 8));

    /** Freezes each of {@code stripes} (one stripe each), up to {@link #FREEZE_CONCURRENCY} at once. */
    private void freezeEach(long chunkUid, HotMaster.Known known, java.util.Collection<Integer> stripes)
            throws CsException {
        if (stripes.size() == 1) {
            freeze(chunkUid, known, stripes.iterator().next(), 1, 0);
            return;
        }
        java.util.concurrent.Semaphore slots = new java.util.concurrent.Semaphore(FREEZE_CONCURRENCY);
        java.util.concurrent.atomic.AtomicReference<CsException> failed = new java.util.concurrent.atomic.AtomicReference<>();
        try (var executor = java.util.concurrent.Executors.newThreadPerTaskExecutor(
                Thread.ofVirtual().name(io.basalt.common.ThreadNames.of("basalt-cs-freeze-"), 0).factory())) {
            for (int stripe : stripes) {
                slots.acquireUninterruptibly();
                if (failed.get() != null) {
                    slots.release();
                    break; // the caller fails anyway; stripes not started stay hot and readable
                }
                executor.execute(() -> {
                    try {
                        freeze(chunkUid, known, stripe, 1, 0);
                    } catch (CsException e) {
                        failed.compareAndSet(null, e);
                    } catch (RuntimeException e) {
                        failed.compareAndSet(null, new CsException(CsStatus.IO_ERROR, "freezing stripe " + stripe
                                + " of chunk " + Long.toHexString(chunkUid) + ": " + e));
                    } finally {
                        slots.release();
                    }
                });
            }
        }
        if (failed.get() != null) {
            throw failed.get();
        }
    }

    /**
     * Freezes stripes [first, first + count) (see the class note) unless a last hot write there is
     * younger than {@code minAgeNanos} (decided under the stripe locks); returns how many of them it
     * froze or freed. A run of several stripes is one EC write (full stripes, encoded directly) and
     * one free when every block of each is hot here and newer than its strip; else stripe by stripe.
     */
    int freeze(long chunkUid, HotMaster.Known given, int first, int count, long minAgeNanos) throws CsException {
        int k = given.layout().k();
        long base = HotStore.PARITY_KEY_BASE + (long) first * k;
        master.lock(chunkUid, first, count);
        try {
            // Under the stripe locks, the newest layout (a rebuild may have brought one since the pass began).
            HotMaster.Known known = learnFenced(chunkUid, given);
            Map<Integer, Long> writes = master.hotMaster.lastWriteNanos.get(chunkUid);
            Long[] last = new Long[count];
            boolean young = false;
            for (int si = 0; si < count; si++) {
                last[si] = writes == null ? null : writes.get(first + si);
                young |= minAgeNanos > 0 && last[si] != null && System.nanoTime() - last[si] < minAgeNanos;
            }
            List<long[]> blocks = hot.blocks(chunkUid, base, base + (long) count * k);
            long[] cold = coldVersions(chunkUid, k, first, count);
            // What each block's data column holds, where that is not this master's copy (see
            // columnsHeld): a copy over a block the column holds nothing newer for is dead.
            long[] held = young || blocks.isEmpty() ? null : columnsHeld(chunkUid, known, first, count);
            boolean[] dead = new boolean[count * k];
            boolean wholeRun = !young && blocks.size() == count * k;
            long seqMax = 0;
            for (long[] block : blocks) {
                int at = (int) (block[0] - base);
                dead[at] = held != null && held[at] >= 0 && held[at] != block[1] && held[at] <= cold[at];
                wholeRun &= block[1] > cold[at] && !dead[at];
                seqMax = Math.max(seqMax, block[1]);
            }
            if (count > 1 && !wholeRun) {
                int done = 0;
                for (int si = 0; si < count; si++) {
                    done += freeze(chunkUid, known, first + si, 1, minAgeNanos);
                }
                return done;
            }
            if (young || blocks.isEmpty()) {
                return 0;
            }
            int orphans = 0;
            for (boolean orphan : dead) {
                orphans += orphan ? 1 : 0;
            }
            if (orphans > 0) {
                orphanCopies.addAndGet(orphans);
                log.info("chunk {} stripes {}..{}: {} hot copies here that their data column never took (a failed"
                        + " hot write's) are freed, not frozen", Long.toHexString(chunkUid), first, first + count - 1,
                        orphans);
            }
            if (wholeRun) {
                writeRun(chunkUid, known, first, 0, count * k, held);
                frozenBlocks.addAndGet(count * k);
            } else {
                // One stripe: its live blocks (newer than their strips) in runs; dead ones are only freed.
                boolean[] live = new boolean[k];
                for (long[] block : blocks) {
                    int column = (int) (block[0] - base);
                    live[column] = block[1] > cold[column] && !dead[column];
                }
                for (int from = 0; from < k; from++) {
                    if (!live[from]) {
                        continue;
                    }
                    int to = from;
                    while (to < k && live[to]) {
                        to++;
                    }
                    writeRun(chunkUid, known, first, from, to, held);
                    frozenBlocks.addAndGet(to - from);
                    from = to;
                }
            }
            crashPoint("freezer.after-commit", chunkUid);
            free(chunkUid, known.layout(), known.chunkVersion(), first, count, seqMax);
            freedBlocks.addAndGet(blocks.size());
            if (writes != null) {
                for (int si = 0; si < count; si++) {
                    writes.remove(first + si, last[si]);
                }
            }
            return count;
        } finally {
            master.unlock(chunkUid, first, count);
        }
    }

    /**
     * Blocks [from, to) counted from stripe {@code stripe}'s first (a run may span stripes) from this
     * master's hot store, as one EC write (two-phase commit).
     */
    private void writeRun(long chunkUid, HotMaster.Known known, int stripe, int from, int to, long[] held)
            throws CsException {
        writeRun(chunkUid, known, stripe, from, to, held, false);
    }

    /** As above; with {@code fromColumns}, every block is read from its data column instead (no copy here). */
    private void writeRun(long chunkUid, HotMaster.Known known, int stripe, int from, int to, long[] held,
            boolean fromColumns) throws CsException {
        EcLayout layout = known.layout();
        int k = layout.k();
        int blocks = to - from;
        long logicalOffset = ((long) stripe * k + from) * S;
        ByteBuf frame = StripeMaster.pooled(DataFrame.HEADER_BYTES + blocks * (S + 4) + layout.encodedBytes());
        StripeMaster.Request request = null;
        try {
            DataFrame.writeHeader(frame, DataFrame.TYPE_EC_WRITE, 0, 0, chunkUid, known.chunkVersion(), logicalOffset,
                    (long) blocks * S, blocks * (S + 4) + layout.encodedBytes(), 0);
            int[] crcs = new int[blocks];
            long[] seqs = new long[blocks];
            int dataAt = frame.writerIndex();
            for (int i = 0; fromColumns && i < blocks; i++) {
                frame.writeZero(S); // filled from the data column below
                seqs[i] = -1;
            }
            for (int i = 0; !fromColumns && i < blocks; i++) {
                HotStore.HotBlock block = hot.read(chunkUid, HotStore.PARITY_KEY_BASE + (long) stripe * k + from + i,
                        frame);
                if (block == null) {
                    throw new CsException(CsStatus.INVALID, "hot block " + (from + i) + " of stripe " + stripe
                            + " went away under the stripe lock");
                }
                crcs[i] = block.crc();
                seqs[i] = block.seq();
            }
            for (int i = 0; i < blocks; i++) {
                // held is indexed from stripe's first block, as [from, to) is.
                long columnHolds = held == null ? -1 : held[from + i];
                if (columnHolds >= 0 && columnHolds != seqs[i]) {
                    // The data column holds a newer copy of its own than this master's (see columnsHeld).
                    int column = (from + i) % k;
                    int strip = stripe + (from + i) / k;
                    crcs[i] = readStrip(known.layout().address(column), chunkUid, known.chunkVersion(), strip, frame,
                            dataAt + i * S);
                    columnViews.incrementAndGet();
                    log.info("chunk {} stripe {} column {}: its data column holds version {}, {}: the column's own is"
                            + " frozen", Long.toHexString(chunkUid), strip, column, columnHolds, fromColumns
                                    ? "and this master no copy" : "not this master's hot copy (seq " + seqs[i] + ")");
                }
            }
            for (int crc : crcs) {
                frame.writeInt(crc);
            }
            layout.writeTo(frame);
            request = StripeMaster.Request.parse(frame, DataFrame.TYPE_EC_WRITE, master.store.chunkletSizeMaxBytes());
            master.write(request, frame, new CompletableFuture<>());
        } finally {
            frame.release();
            if (request != null) {
                request.scratch().close();
            }
        }
    }

    /**
     * Per block of stripes [first, first + count) (stripe-major, k a stripe): what its data column
     * holds, its strip's version or hot seq whichever is higher (PEEK_HELD), or -1 where the column
     * is not usable (down, or the target of a rebuild: this master's copy is folded, as ever). A
     * block's value is what its data column holds, which is what plain reads return; this master's
     * hot copy is that value when the column holds the same seq. When it does not, the copy here is
     * one a failed hot write left (a replica refused it, for instance because a snapshot had just
     * moved the chunk to a new version; docs/hot-tier.md, "Limits"), and folding it would change
     * what the block reads: {@link #freeze} then frees it without folding when the column holds
     * nothing newer than the strip (the write never reached it), and folds the column's own copy when
     * it holds a newer one (an older, acknowledged hot write this master's copy had replaced).
     */
    private long[] columnsHeld(long chunkUid, HotMaster.Known known, int first, int count) throws CsException {
        EcLayout layout = known.layout();
        int k = layout.k();
        long[] held = new long[count * k];
        java.util.Arrays.fill(held, -1);
        // Every column's peeks at once (a range wider than one request is asked in pieces).
        List<CompletableFuture<DataClient.Reply>> peeks = new ArrayList<>();
        for (int column = 0; column < k; column++) {
            for (int at = 0; layout.usable(column) && at < count; at += HELD_PEEK_STRIPES_MAX) {
                peeks.add(StripeMaster.heldPeekReply(master.clients, layout.address(column), chunkUid,
                        known.chunkVersion(), first + at, Math.min(HELD_PEEK_STRIPES_MAX, count - at), 1));
            }
        }
        int next = 0;
        CsException failed = null;
        for (int column = 0; column < k; column++) {
            for (int at = 0; layout.usable(column) && at < count; at += HELD_PEEK_STRIPES_MAX) {
                int n = Math.min(HELD_PEEK_STRIPES_MAX, count - at);
                try {
                    long[] versions = heldVersions(peeks.get(next++), layout.address(column), n);
                    for (int si = 0; si < n; si++) {
                        held[(at + si) * k + column] = versions[si];
                    }
                } catch (CsException e) {
                    failed = failed == null ? e : failed; // the others are still read (and released)
                }
            }
        }
        if (failed != null) {
            throw failed;
        }
        return held;
    }

    /** Stripes a held peek asks about at most: a peek's range bound (16 MiB) of a data column. */
    static final int HELD_PEEK_STRIPES_MAX =
            (int) (io.basalt.protocol.data.EcSection.PEEK_RANGE_BYTES_MAX / S);

    /**
     * HOT_FREEZE's second pass, after {@link #freezeRange}: folds the copies data columns hold where
     * this master holds none, the *reverse orphan* (docs/hot-tier.md): a hot write a data column
     * logged and this master never did (it died before its own WAL sync). Plain reads of that column
     * return it, reads through this master do not, and no pass of this freezer visits the stripe.
     * Found by held peeks of every data column (one request a 16 MiB column), compared with this
     * master's parity record of each strip; each is written into its stripe as the data column holds
     * it (what its plain reads return), so from a snapshot's create on every read path of its chunk
     * agrees. Folding, not
     * freeing: a master that is not the one that took part in the write (its column rebuilt, or
     * another parity column) holds no copy of acknowledged writes either. Returns the blocks folded.
     */
    int foldColumnCopies(long chunkUid, HotMaster.Known known, int first, int count) throws CsException {
        int k = known.layout().k();
        long[] held = columnsHeld(chunkUid, known, first, count);
        long[] cold = coldVersions(chunkUid, k, first, count);
        int folded = 0;
        for (int si = 0; si < count; si++) {
            for (int column = 0; column < k; column++) {
                if (held[si * k + column] > cold[si * k + column]) {
                    folded += foldColumnCopies(chunkUid, known, first + si);
                    break;
                }
            }
        }
        return folded;
    }

    /** One stripe of the above, decided again under its lock. */
    private int foldColumnCopies(long chunkUid, HotMaster.Known given, int stripe) throws CsException {
        master.lock(chunkUid, stripe, 1);
        try {
            HotMaster.Known known = learnFenced(chunkUid, given);
            int k = known.layout().k();
            long[] held = columnsHeld(chunkUid, known, stripe, 1);
            long[] cold = coldVersions(chunkUid, k, stripe, 1);
            long base = HotStore.PARITY_KEY_BASE + (long) stripe * k;
            int folded = 0;
            for (int column = 0; column < k; column++) {
                if (held[column] > cold[column] && hot.blocks(chunkUid, base + column, base + column + 1).isEmpty()) {
                    writeRun(chunkUid, known, stripe, column, column + 1, held, true);
                    folded++;
                }
            }
            return folded;
        } finally {
            master.unlock(chunkUid, stripe, 1);
        }
    }

    /** This master's parity record of each strip of [first, first + count), stripe-major (zeroes: none kept yet). */
    private long[] coldVersions(long chunkUid, int k, int first, int count) {
        ChunkletStore.StripVersions own = master.store.versions(chunkUid, (long) first * S, count * S);
        return own.n() == k ? own.versions() : new long[count * k];
    }

    /**
     * {@code given}, or a newer layout learned since, fenced as a client's write is: a freeze with an
     * older layout would miss a RECOVERING column after its rebuild read the stripes, and columns that
     * have not heard of the new version yet would take it. A stale one is forgotten (meta is asked on
     * the next pass). Under the stripe locks.
     */
    private HotMaster.Known learnFenced(long chunkUid, HotMaster.Known given) throws CsException {
        HotMaster.Known known = master.hotMaster.learn(chunkUid, given);
        try {
            master.fence().check(chunkUid, known.chunkVersion());
        } catch (CsException e) {
            master.hotMaster.layouts.remove(chunkUid, known);
            throw e;
        }
        return known;
    }

    /** Per strip of a held peek's range of a data column: its version or hot seq held (PEEK_HELD). */
    private static long[] heldVersions(CompletableFuture<DataClient.Reply> peek, String address, int count)
            throws CsException {
        DataClient.Reply reply = await(peek, address);
        try {
            if (StripeMaster.answeredNoColumn(reply)) {
                return new long[count]; // nothing of the chunk there
            }
            if (reply.status() != CsStatus.OK) {
                throw new CsException(CsStatus.REPLICA_FAILED, "held peek at " + address + ": " + reply.status() + " "
                        + reply.message());
            }
            ByteBuf payload = reply.payload();
            io.basalt.protocol.data.EcSection view = io.basalt.protocol.data.EcSection.read(payload,
                    payload.readerIndex(), payload.readableBytes(), count);
            if (view.mode() != io.basalt.protocol.data.EcSection.MODE_PEEK_HELD || view.versionsPerBlock() != 1) {
                throw new CsException(CsStatus.REPLICA_FAILED, "held peek at " + address + " answered mode "
                        + view.mode() + " with " + view.versionsPerBlock() + " versions a strip");
            }
            return view.versions();
        } finally {
            reply.release();
        }
    }

    /** A plain READ of one strip of a data column (its hot copy merged), into {@code frame} at {@code at}; its CRC. */
    private int readStrip(String address, long chunkUid, long chunkVersion, int stripe, ByteBuf frame, int at)
            throws CsException {
        DataClient.Reply reply = await(master.clients.request(address, DataFrame.TYPE_READ, chunkUid, chunkVersion,
                (long) stripe * S, S, null), address);
        try {
            ByteBuf payload = reply.payload();
            if (reply.status() != CsStatus.OK || payload.readableBytes() != S + 4) {
                throw new CsException(CsStatus.REPLICA_FAILED, "read of strip " + stripe + " at " + address + ": "
                        + reply.status() + " " + reply.message());
            }
            int crc = payload.getInt(payload.readerIndex() + S);
            if (io.basalt.protocol.data.BlockCrc.of(payload, payload.readerIndex(), S) != crc) {
                throw new CsException(CsStatus.REPLICA_FAILED, "strip " + stripe + " from " + address
                        + " fails its CRC32C on arrival");
            }
            frame.setBytes(at, payload, payload.readerIndex(), S);
            return crc;
        } finally {
            reply.release();
        }
    }

    private static DataClient.Reply await(CompletableFuture<DataClient.Reply> sent, String address) throws CsException {
        try {
            return sent.get(30, java.util.concurrent.TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new CsException(CsStatus.UNAVAILABLE, "interrupted waiting for " + address);
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new CsException(CsStatus.REPLICA_FAILED, "replica " + address + " failed: " + e);
        }
    }

    /**
     * HOT_FREE of the hot blocks of stripes [stripe, stripe + count) up to {@code seqMax}: here (logged),
     * then on the other columns.
     */
    private void free(long chunkUid, EcLayout layout, long chunkVersion, int stripe, int count, long seqMax)
            throws CsException {
        int k = layout.k();
        long parityKeyOffset = (HotStore.PARITY_KEY_BASE + (long) stripe * k) * S;
        master.log(WalRecordFormat.TYPE_HOT_FREE, chunkUid, parityKeyOffset, count * k * S, freePayload(seqMax));
        crashPoint("freezer.after-own-free", chunkUid);
        List<CompletableFuture<DataClient.Reply>> sends = new ArrayList<>();
        List<String> addresses = new ArrayList<>();
        for (int col = 0; col < layout.width(); col++) {
            if (col == layout.masterIndex() || !layout.writable(col)) {
                continue;
            }
            long offset = col >= k ? parityKeyOffset : (long) stripe * S;
            int length = col >= k ? count * k * S : count * S;
            addresses.add(layout.address(col));
            sends.add(master.clients.request(layout.address(col), DataFrame.TYPE_HOT_FREE, chunkUid, chunkVersion,
                    offset, length, freePayload(seqMax)));
        }
        for (int i = 0; i < sends.size(); i++) {
            String failure = StripeMaster.outcome(sends.get(i), addresses.get(i));
            if (failure != null) {
                // Dead copies there (older than the stripe) cost space only; its next free takes them.
                log.info("freeing hot blocks of stripes {}..{} of chunk {}: {}", stripe, stripe + count - 1,
                        Long.toHexString(chunkUid), failure);
            }
        }
    }

    /**
     * Tests: the freeze step at which this freezer stops as if its server died there (in-process
     * servers cannot halt); the same names are {@link CrashPoints} for real processes.
     */
    volatile String stopAt = "";

    private void crashPoint(String point, long chunkUid) {
        CrashPoints.hit(point, chunkUid);
        if (point.equals(stopAt)) {
            throw new IllegalStateException("test stop at " + point);
        }
    }

    private static ByteBuf freePayload(long seqMax) {
        ByteBuf payload = StripeMaster.pooled(WalRecordFormat.HOT_SECTION_BYTES);
        payload.writeByte(WalRecordFormat.HOT_FORMAT_VERSION).writeZero(3).writeLong(seqMax);
        return payload;
    }

    /** Tests: another configuration from the next pass on. */
    void reconfigure(Config config) {
        this.config = config;
    }

    /** Tests: the stripe master this freezer works for. */
    StripeMaster master() {
        return master;
    }

    /** Passes cut short because clients had requests at this master (freezing yields to them). */
    public long busyYields() {
        return busyYields.get();
    }

    /** Blocks frozen with their data column's own copy instead of this master's ({@link #columnsHeld}). */
    public long columnViews() {
        return columnViews.get();
    }

    /** Copies here that their data column never took (a failed hot write's), freed without folding. */
    public long orphanCopies() {
        return orphanCopies.get();
    }

    public long frozenBlocks() {
        return frozenBlocks.get();
    }

    public long freedBlocks() {
        return freedBlocks.get();
    }

    public long failures() {
        return failures.get();
    }

    @Override
    public void close() {
        running = false;
        Thread t = thread;
        if (t != null) {
            t.interrupt();
            try {
                t.join(5_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }
}
