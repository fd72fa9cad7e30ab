package io.basalt.chunkserver.ec;

import io.basalt.chunkserver.ChunkVersions;
import io.basalt.chunkserver.CsMetrics;
import io.basalt.chunkserver.hot.HotStore;
import io.basalt.chunkserver.store.ChunkletStore;
import io.basalt.chunkserver.wal.WalEntry;
import io.basalt.chunkserver.wal.WalRecordFormat;
import io.basalt.chunkserver.wal.WalWriter;
import io.basalt.common.ThreadNames;
import io.basalt.ec.ErasureCodec;
import io.basalt.ec.ErasureCodecs;
import io.basalt.protocol.data.BlockCrc;
import io.basalt.protocol.data.CsException;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import io.basalt.protocol.data.EcLayout;
import io.basalt.protocol.data.EcSection;
import io.basalt.protocol.data.ReplicaClients;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The stripe master: the chunk server holding the first usable parity column of an erasure-coded
 * chunk runs every write of the chunk and the reads a data column cannot serve (docs/chunkserver.md,
 * "Erasure coding").
 *
 * <p>Design note. A write is a two-phase commit through the WALs, one transaction per request:
 * <ol>
 *   <li>Lock the request's stripes (writes to one stripe are serialized here; other stripes go on
 *       in parallel). Read this master's own parity versions V: for each stripe, the versions of the
 *       k data strips its parity was computed from. That is the record of what was decided.
 *   <li>Partial stripes, by whichever reads fewer strips ({@link #deltaIsCheaper}): (a) read the data
 *       strips the request does not overwrite and re-encode, or (b) read the old data of the changed
 *       strips and the other parity columns' old parity and apply the parity delta. Every strip read
 *       must carry the version V records; (b) falls back to (a) when one does not. In (a) a strip that
 *       cannot be read, fails its CRC or carries a version other than V's is rebuilt from k strips
 *       whose versions agree with V.
 *   <li>Give the transaction a version g above every version in V; written strips get version g.
 *   <li>PREPARE every usable column touched, this master's own included, all at once: its strips,
 *       CRCs and versions are logged durably as pending, not applied. A column that fails makes the
 *       master abort the others and answer REPLICA_FAILED naming it (the client reports it to meta
 *       and retries with the new map).
 *   <li>Once every prepare is durable the transaction is committed (no decision record: one WAL
 *       sync on the write's path, as for replication). Answer the client.
 *   <li>Commit this master's own strips (its versions now say g), unlock, and send RESOLVE commit
 *       to every prepared column without waiting (each applies it without a WAL sync; a lost one is
 *       settled again by the next request, as below).
 * </ol>
 * A column that restarts with a pending strip, or that never heard the outcome, serves no read of it
 * (PENDING); the next request of the master for that range carries the decided generation of each
 * block (the version V says), and a pending strip is committed when its transaction version equals
 * it and aborted otherwise. So data and parity of a stripe always agree on what was decided, and a
 * read never combines strips of different writes (versions are checked before decoding).
 *
 * <p>When the master changes (its column failed and the client's new map names the next parity
 * column), the new master may itself hold strips the old one prepared and decided without telling
 * it. Before it reads its own versions it settles them by asking the old master, or failing that
 * the other columns ({@link StripeTermination}), never by guessing.
 *
 * <p>Threads: each request runs on its own virtual thread and blocks on the column replies.
 */
public final class StripeMaster implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(StripeMaster.class);
    private static final int S = EcLayout.STRIP_BYTES;
    private static final int LOCK_SLOTS = 4096;
    /** Most stripes one STRIP_REBUILD covers: its reply is then at most ~540 KiB (ec16+m parity). */
    public static final int REBUILD_STRIPES_MAX = 128;
    /** Most chunk-logical bytes of a STRIP_REBUILD: REBUILD_STRIPES_MAX stripes of the widest EC. */
    public static final long REBUILD_LENGTH_MAX_BYTES = (long) REBUILD_STRIPES_MAX * 16 * EcLayout.STRIP_BYTES;

    final ChunkletStore store;
    /** This chunk server's hot store (docs/hot-tier.md); null when it has none. */
    private final HotStore hot;
    final HotMaster hotMaster;
    /** Folds this master's hot blocks into the stripes (null without a hot store); started by the server. */
    private final Freezer freezer;
    private final WalWriter wal;
    private final ChunkVersions fence;
    final ReplicaClients clients;
    private final CsMetrics metrics;
    /** Settles strips an earlier master left undecided here, before this one reads its versions. */
    final StripeTermination termination;
    /** Reads the data strips a request needs at V, rebuilding those a column cannot give. */
    private final StripReconstruction reconstruction;
    private final ExecutorService threads =
            Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name(ThreadNames.of("basalt-stripe-master-"), 0).factory());
    private final ReentrantLock[] locks = new ReentrantLock[LOCK_SLOTS];
    private final ConcurrentHashMap<Integer, ErasureCodec> codecs = new ConcurrentHashMap<>();
    /** Transaction versions start at the clock (microseconds) so a restarted master never reuses one. */
    private final AtomicLong lastTxid = new AtomicLong(System.currentTimeMillis() * 1000);

    public StripeMaster(ChunkletStore store, WalWriter wal, ChunkVersions fence, ReplicaClients clients,
            CsMetrics metrics) {
        this(store, wal, fence, clients, metrics, null);
    }

    /** With a hot store ({@code hot}, null: none): HOT_WRITE requests and hot-over-cold reads. */
    public StripeMaster(ChunkletStore store, WalWriter wal, ChunkVersions fence, ReplicaClients clients,
            CsMetrics metrics, HotStore hot) {
        this.hot = hot;
        this.hotMaster = hot == null ? null : new HotMaster(this, store, hot, clients);
        this.freezer = hot == null ? null : new Freezer(this, hot, Freezer.Config.fromProperties());
        this.store = store;
        this.metrics = metrics;
        this.wal = wal;
        this.fence = fence;
        this.clients = clients;
        this.termination = new StripeTermination(this, metrics);
        this.reconstruction = new StripReconstruction(this);
        for (int i = 0; i < LOCK_SLOTS; i++) {
            locks[i] = new ReentrantLock();
        }
        if (hot != null) {
            // The WAL replayed these copies: whether their writes succeeded is unknown here.
            for (long chunkUid : hot.chunks()) {
                if (hot.any(chunkUid, HotStore.PARITY_KEY_BASE, 2 * HotStore.PARITY_KEY_BASE)) {
                    hotMaster.trust.untrustAll(chunkUid);
                }
            }
        }
    }

    /**
     * A HOT_PUT from another stripe master put stripe-keyed copies of {@code chunkUid} here (called
     * once they are in the hot store): they are settled before this server serves them as master.
     */
    public void hotCopiesArrived(long chunkUid) {
        if (hotMaster != null) {
            hotMaster.trust.untrustAll(chunkUid);
        }
    }

    /**
     * Settles (freezes, which checks every copy against its data column, HotTrust) each stripe of
     * [first, first + count) whose hot copies here are untrusted, before a read or a held peek
     * serves them. Rare: after a restart, a change of master, or a failed hot write.
     */
    void settleUntrusted(long chunkUid, HotMaster.Known known, int first, int count) throws CsException {
        if (hotMaster == null || freezer == null) {
            return;
        }
        int k = known.layout().k();
        for (int stripe = first; stripe < first + count; stripe++) {
            long generation = hotMaster.trust.untrusted(chunkUid, stripe);
            if (generation < 0) {
                continue;
            }
            long key = HotStore.PARITY_KEY_BASE + (long) stripe * k;
            if (hot.any(chunkUid, key, key + k)) {
                freezer.freeze(chunkUid, known, stripe, 1, 0);
                metrics.ecHotSettles.inc();
            }
            hotMaster.trust.settled(chunkUid, stripe, generation);
        }
    }

    /**
     * Runs an EC_WRITE or EC_READ request frame (the caller's reference to {@code frame} passes here).
     * Completes with the read reply's payload (data then CRCs), null for a write, or a CsException.
     */
    public CompletableFuture<ByteBuf> handle(int type, ByteBuf frame) {
        CompletableFuture<ByteBuf> result = new CompletableFuture<>();
        boolean client = type != DataFrame.TYPE_STRIP_REBUILD && type != DataFrame.TYPE_HOT_FREEZE;
        try {
            if (client) {
                clientRequests.incrementAndGet();
            }
            threads.execute(() -> {
                Request request = null;
                try {
                    if (type == DataFrame.TYPE_STRIP_WRITE) {
                        DirectStripWrite.write(this, frame);
                        result.complete(null);
                        return;
                    }
                    request = Request.parse(frame, type, store.chunkletSizeMaxBytes());
                    fence.check(request.chunkUid, request.chunkVersion);
                    if (type == DataFrame.TYPE_EC_WRITE) {
                        write(request, frame, result);
                        result.complete(null);
                    } else if (type == DataFrame.TYPE_HOT_WRITE) {
                        if (hotMaster == null) {
                            throw new CsException(CsStatus.HOT_FULL, "this chunk server has no hot store;"
                                    + " write it to the erasure-coded stripes");
                        }
                        hotMaster.write(request, frame);
                        result.complete(null);
                    } else if (type == DataFrame.TYPE_STRIP_REBUILD) {
                        result.complete(rebuild(request, frame));
                    } else if (type == DataFrame.TYPE_HOT_FREEZE) {
                        freezeNow(request);
                        result.complete(null);
                    } else {
                        result.complete(read(request));
                    }
                } catch (CsException | RuntimeException e) {
                    result.completeExceptionally(e);
                } finally {
                    frame.release();
                    if (request != null) {
                        request.scratch.close();
                    }
                    if (client) {
                        clientRequests.decrementAndGet();
                    }
                }
            });
        } catch (RejectedExecutionException e) {
            if (client) {
                clientRequests.decrementAndGet();
            }
            frame.release();
            result.completeExceptionally(new CsException(CsStatus.UNAVAILABLE, "chunk server is shutting down"));
        }
        return result;
    }

    /**
     * The parsed request: chunk, range (chunk-logical, whole strips) and layout, and the buffers it
     * works in (released when it ends).
     */
    record Request(long chunkUid, long chunkVersion, long offsetBytes, int lengthBytes, EcLayout layout,
                           int firstStripe, int stripeCount, Scratch scratch) {
        static Request parse(ByteBuf frame, int type, long chunkletSizeMaxBytes) throws CsException {
            long offsetBytes = DataFrame.offsetBytes(frame);
            long lengthBytes = DataFrame.lengthBytes(frame);
            int payloadAt = frame.readerIndex() + DataFrame.HEADER_BYTES;
            int payloadBytes = (int) DataFrame.payloadBytes(frame);
            if (offsetBytes < 0 || lengthBytes <= 0 || offsetBytes % S != 0 || lengthBytes % S != 0) {
                throw new CsException(CsStatus.INVALID, "offset " + offsetBytes + " length " + lengthBytes
                        + " is not a non-empty range of whole 4096-byte strips");
            }
            int blocks = (int) (lengthBytes / S);
            int layoutAt = payloadAt;
            int layoutBytes = payloadBytes;
            if (type == DataFrame.TYPE_EC_WRITE || type == DataFrame.TYPE_HOT_WRITE) {
                int blockBytes = (int) lengthBytes + 4 * blocks;
                if (payloadBytes <= blockBytes) {
                    throw new CsException(CsStatus.INVALID, "EC write payload of " + payloadBytes + " bytes for "
                            + lengthBytes + " bytes of data (data, CRCs and a layout expected)");
                }
                layoutAt += blockBytes;
                layoutBytes -= blockBytes;
            }
            if (type == DataFrame.TYPE_STRIP_REBUILD) {
                if (payloadBytes < 8 || payloadBytes - 8 < frame.getInt(payloadAt + 4)
                        || frame.getInt(payloadAt + 4) < 0) {
                    throw new CsException(CsStatus.INVALID, "STRIP_REBUILD payload of " + payloadBytes + " bytes");
                }
                int versionsBytes = frame.getInt(payloadAt + 4);
                layoutAt += 8 + versionsBytes;
                layoutBytes -= 8 + versionsBytes;
            }
            EcLayout layout = EcLayout.read(frame, layoutAt, layoutBytes);
            long chunkBytes = layout.k() * chunkletSizeMaxBytes;
            if (offsetBytes + lengthBytes > chunkBytes) {
                throw new CsException(CsStatus.INVALID, "range ends at " + (offsetBytes + lengthBytes)
                        + ", beyond the chunk (" + layout.k() + " x " + chunkletSizeMaxBytes + " bytes)");
            }
            if (layout.usableCount() < layout.k()) {
                throw new CsException(CsStatus.STRIPE_UNAVAILABLE, "chunk " + Long.toHexString(DataFrame.chunkUid(frame))
                        + " has " + layout.usableCount() + " usable columns of " + layout.width() + "; ec"
                        + layout.k() + "+" + layout.m() + " needs at least " + layout.k()
                        + " (nothing was written; bring chunk servers back or wait for recovery)");
            }
            int firstStripe = (int) (offsetBytes / layout.stripeBytes());
            int lastStripe = (int) ((offsetBytes + lengthBytes - 1) / layout.stripeBytes());
            return new Request(DataFrame.chunkUid(frame), DataFrame.chunkVersion(frame), offsetBytes,
                    (int) lengthBytes, layout, firstStripe, lastStripe - firstStripe + 1, new Scratch());
        }

        int k() {
            return layout.k();
        }

        /** Whether strip (stripe, column) lies inside the request's range. */
        boolean covers(int stripe, int column) {
            long at = stripe * layout.stripeBytes() + (long) column * S;
            return at >= offsetBytes && at < offsetBytes + lengthBytes;
        }

        /** Index of strip (stripe, column) among the request's blocks. */
        int blockIndex(int stripe, int column) {
            return (int) ((stripe * layout.stripeBytes() + (long) column * S - offsetBytes) / S);
        }
    }

    /**
     * HOT_FREEZE: every stripe of the range that holds hot blocks here is frozen now, whatever its
     * age, with the request's layout (learned as the chunk's newest, as a rebuild's is); then copies
     * its data columns hold and this master does not are folded ({@link Freezer#foldColumnCopies}).
     * Nothing to do without a hot store.
     */
    private void freezeNow(Request request) throws CsException {
        if (hotMaster == null || freezer == null) {
            return;
        }
        HotMaster.Known known = hotMaster.learn(request.chunkUid,
                new HotMaster.Known(request.layout, request.chunkVersion));
        freezer.freezeRange(request.chunkUid, known, request.firstStripe, request.stripeCount);
        freezer.foldColumnCopies(request.chunkUid, known, request.firstStripe, request.stripeCount);
    }

    // ---- write ------------------------------------------------------------------------------------

    void write(Request request, ByteBuf frame, CompletableFuture<ByteBuf> result) throws CsException {
        // Counted in flight at its version until decided here (ChunkVersions.fencedVersion): INFO
        // reports a newer version only once this write is through, so a snapshot create, whose poll
        // waits for the new version on every server of the chunk, never returns while an EC write of
        // the old version can still commit into the frozen chunk (the thrasher: a column stopped
        // with the PREPARE queued took it once resumed, and a snapshot's first read missed a write
        // a later read found).
        fence.beginWrite(request.chunkUid, request.chunkVersion);
        try {
            writeCounted(request, frame, result);
        } finally {
            fence.endWrite(request.chunkUid, request.chunkVersion);
        }
    }

    private void writeCounted(Request request, ByteBuf frame, CompletableFuture<ByteBuf> result)
            throws CsException {
        int dataAt = frame.readerIndex() + DataFrame.HEADER_BYTES;
        int blocks = request.lengthBytes / S;
        BlockCrc.verify(frame, dataAt, request.offsetBytes, blocks, request.chunkUid);
        // Our own copy, direct and contiguous, for the codec and for the column payloads.
        ByteBuf data = request.scratch.take(request.lengthBytes + 4 * blocks);
        data.writeBytes(frame, dataAt, request.lengthBytes + 4 * blocks);
        EcLayout layout = request.layout;
        int k = layout.k();
        int m = layout.m();
        int count = request.stripeCount;
        int first = request.firstStripe;
        long started = System.nanoTime();
        lock(request.chunkUid, first, count);
        long phaseStart = phase("lock", started);
        List<Integer> prepared = new ArrayList<>();
        long txid = 0;
        boolean ownPrepared = false;
        boolean decided = false;
        try {
            fenceUnderLock(request);
            Strips own = readOwn(request);
            long[][] v = ownVersions(own, count, k);
            ErasureCodec codec = codec(k, m);
            ByteBuf parity = request.scratch.take(count * m * S);
            parity.writerIndex(count * m * S);
            // Partial stripes: parity by delta where that reads fewer strips and works, else the data
            // strips the request leaves alone are read (need) and the stripe is re-encoded.
            boolean[] delta = new boolean[count];
            boolean[][] need = new boolean[count][k];
            for (int si = 0; si < count; si++) {
                boolean partial = partialStripe(request, first + si);
                delta[si] = partial && deltaIsCheaper(request, si)
                        && deltaParity(request, own, v, si, data, parity, codec);
                for (int c = 0; c < k && partial && !delta[si]; c++) {
                    need[si][c] = !request.covers(first + si, c);
                }
            }
            ByteBuf[][] strips = reconstruction.fetchDataStrips(request, own, v, need);
            for (int si = 0; si < count; si++) {
                for (int c = 0; c < k; c++) {
                    if (request.covers(first + si, c)) {
                        strips[si][c] = data.slice(request.blockIndex(first + si, c) * S, S);
                    }
                }
            }
            long highest = 0;
            for (long[] stripe : v) {
                for (long version : stripe) {
                    highest = Math.max(highest, version);
                }
            }
            if (hot != null) {
                // Hot blocks of these stripes (docs/hot-tier.md): the write must be newer than any of
                // them, including ones another master sequenced, or the read rule would prefer them.
                highest = Math.max(highest, hot.maxSeq(request.chunkUid, HotStore.PARITY_KEY_BASE + (long) first * k,
                        HotStore.PARITY_KEY_BASE + (long) (first + count) * k));
            }
            txid = nextTxid(highest);
            // Parity of every other stripe, and the versions after the write.
            long[][] after = new long[count][];
            for (int si = 0; si < count; si++) {
                after[si] = v[si].clone();
                for (int c = 0; c < k; c++) {
                    if (request.covers(first + si, c)) {
                        after[si][c] = txid;
                    }
                }
                boolean partial = partialStripe(request, first + si);
                metrics.ecStripeWrites.labelValues(delta[si] ? "delta" : partial ? "reencode" : "full").inc();
                if (delta[si]) {
                    continue;
                }
                MemorySegment[] in = new MemorySegment[k];
                for (int c = 0; c < k; c++) {
                    in[c] = MemorySegment.ofBuffer(strips[si][c].nioBuffer(0, S));
                }
                MemorySegment[] out = new MemorySegment[m];
                for (int p = 0; p < m; p++) {
                    out[p] = MemorySegment.ofBuffer(parity.nioBuffer((si * m + p) * S, S));
                }
                codec.encode(in, out, 0, S);
            }
            phaseStart = phase("read_encode", phaseStart);
            // Phase one, everywhere at once: this master's own parity strips and every other usable
            // column's strips are logged as pending. Once all are durable the write is committed.
            String masterAddress = layout.address(layout.masterIndex());
            ColumnWrite mine = parityColumnWrite(request, parity, v, after, layout.masterIndex(), txid, masterAddress);
            CompletableFuture<Void> ownPrepare = logAsync(WalRecordFormat.TYPE_EC_PREPARE, request.chunkUid, (long) first * S,
                    count * S, mine.payload);
            List<CompletableFuture<DataClient.Reply>> sends = new ArrayList<>();
            List<Integer> columns = new ArrayList<>();
            for (int col = 0; col < layout.width(); col++) {
                if (col == layout.masterIndex() || !layout.writable(col)) {
                    continue; // RECOVERING columns are written too: they must miss nothing while rebuilt
                }
                ColumnWrite w = col < k ? dataColumnWrite(request, data, v, col, txid, masterAddress)
                        : parityColumnWrite(request, parity, v, after, col, txid, masterAddress);
                if (w == null) {
                    continue; // a data column this request does not touch
                }
                columns.add(col);
                sends.add(clients.request(layout.address(col), DataFrame.TYPE_PREPARE, request.chunkUid,
                        request.chunkVersion, (long) w.firstStripe * S, w.stripes * S, w.payload));
            }
            List<String> failures = new ArrayList<>();
            for (int i = 0; i < sends.size(); i++) {
                String failure = outcome(sends.get(i), layout.address(columns.get(i)));
                if (failure == null) {
                    prepared.add(columns.get(i));
                } else {
                    failures.add(failure);
                }
            }
            CsException ownFailure = null;
            try {
                ownPrepare.join();
                ownPrepared = true;
            } catch (CompletionException e) {
                ownFailure = walException(e);
            }
            if (ownFailure != null) {
                throw new CsException(ownFailure.status(), "this stripe master's own WAL: " + ownFailure.getMessage()
                        + " (ec transaction " + txid + " aborted, nothing written)");
            }
            if (!failures.isEmpty()) {
                throw new CsException(CsStatus.REPLICA_FAILED, String.join("; ", failures)
                        + " (ec transaction " + txid + " aborted, nothing written)");
            }
            // Every strip of the transaction is durable: it is committed (termination rolls it forward
            // from here whatever happens to this master). The client is answered now.
            decided = true;
            phaseStart = phase("prepare", phaseStart);
            CrashPoints.hit("master.after-prepare", request.chunkUid);
            result.complete(null);
            // Phase two: our own strips first (the next request for these stripes reads V from them),
            // then the columns, without waiting for them.
            resolveOwn(request, txid, true);
            phase("commit_own", phaseStart);
            CrashPoints.hit("master.after-decision", request.chunkUid);
            settle(request, prepared, txid, true);
        } finally {
            if (!decided) {
                if (ownPrepared) {
                    try {
                        resolveOwn(request, txid, false);
                    } catch (CsException e) {
                        log.warn("aborting ec transaction {} of chunk {} here: {}", txid,
                                Long.toHexString(request.chunkUid), e.getMessage());
                    }
                }
                settle(request, prepared, txid, false);
            }
            unlock(request.chunkUid, first, count);
        }
    }

    /** Observes the time since {@code since} as write phase {@code name}; returns now. */
    private long phase(String name, long since) {
        long now = System.nanoTime();
        metrics.ecWritePhases.labelValues(name).observe((now - since) / 1e9);
        return now;
    }

    /**
     * Commits or aborts the transaction's pending strips in this master's own column: applied in WAL
     * order without a record (like a column's RESOLVE); lost in a crash, the strips are pending again
     * after replay and {@link StripeTermination#terminate} settles them before this column's versions are read.
     */
    private void resolveOwn(Request request, long txid, boolean commit) throws CsException {
        settleHere(wal, request.chunkUid, (long) request.firstStripe * S, request.stripeCount * S, txid, commit,
                false);
    }

    /**
     * Commits or aborts transaction {@code txid}'s pending strips on this chunk server through its WAL
     * (a record of its own when {@code logged}, else {@link WalEntry#unlogged}) and waits until applied.
     */
    static void settleHere(WalWriter wal, long chunkUid, long offsetBytes, int lengthBytes, long txid,
            boolean commit, boolean logged) throws CsException {
        EcSection section = EcSection.settle(txid, commit);
        ByteBuf payload = Unpooled.buffer(section.encodedBytes());
        section.writeTo(payload);
        CompletableFuture<Void> done = new CompletableFuture<>();
        WalEntry entry = new WalEntry(WalRecordFormat.TYPE_EC_RESOLVE, chunkUid, offsetBytes, lengthBytes, payload,
                completion(done));
        wal.submit(logged ? entry : entry.unlogged());
        join(done);
    }

    /**
     * The partial-stripe rule, by strips read from other chunk servers: re-encoding reads the data
     * strips the write leaves alone (k - changed; more when one of them must be rebuilt); the parity
     * delta reads the old data of the changed strips and the old parity of every other usable parity
     * column (changed + m - 1), and needs every changed column usable. Ties go to re-encoding. For
     * ec4+2 a one-strip write reads 2 strips instead of 3; for ec9+3, 3 instead of 8.
     */
    private static boolean partialStripe(Request request, int stripe) {
        for (int c = 0; c < request.k(); c++) {
            if (!request.covers(stripe, c)) {
                return true;
            }
        }
        return false;
    }

    private static boolean deltaIsCheaper(Request request, int si) {
        EcLayout layout = request.layout;
        if (layout.anyRecovering()) {
            return false; // a RECOVERING column has no old strip to take a delta of: re-encode
        }
        int k = layout.k();
        int changed = 0;
        boolean untouchedMissing = false;
        for (int c = 0; c < k; c++) {
            if (request.covers(request.firstStripe + si, c)) {
                if (!layout.usable(c)) {
                    return false;
                }
                changed++;
            } else {
                untouchedMissing |= !layout.usable(c);
            }
        }
        int otherParity = 0;
        for (int col = k; col < layout.width(); col++) {
            otherParity += col != layout.masterIndex() && layout.usable(col) ? 1 : 0;
        }
        int reencode = untouchedMissing ? k : k - changed;
        return changed + otherParity < reencode;
    }

    /**
     * Rule (b) for stripe {@code si}: new parity = old parity + the codec's delta of each changed
     * strip ({@link ErasureCodec#updateParity}), written into {@code parity}. The old data strips and
     * the other columns' old parity must carry exactly the versions V records (read settling pending
     * strips by V, as every read of the master does); false when one cannot be had that way, and the
     * stripe is re-encoded instead.
     */
    private boolean deltaParity(Request request, Strips own, long[][] v, int si, ByteBuf data, ByteBuf parity,
            ErasureCodec codec) throws CsException {
        EcLayout layout = request.layout;
        int k = layout.k();
        int m = layout.m();
        int stripe = request.firstStripe + si;
        List<Integer> columns = new ArrayList<>();
        List<CompletableFuture<Strips>> reads = new ArrayList<>();
        for (int col = 0; col < layout.width(); col++) {
            boolean changed = col < k && request.covers(stripe, col);
            boolean otherParity = col >= k && col != layout.masterIndex() && layout.usable(col);
            if (changed || otherParity) {
                columns.add(col);
                reads.add(readColumn(request, col, stripe, 1, col < k ? 1 : k,
                        new long[] {col < k ? v[si][col] : max(v[si])}));
            }
        }
        Strips[] got = new Strips[layout.width()];
        boolean usable = true;
        for (int i = 0; i < columns.size(); i++) {
            int col = columns.get(i);
            Strips strips = await(reads.get(i), layout.address(col));
            boolean agrees = strips != null;
            for (int c = 0; agrees && c < (col < k ? 1 : k); c++) {
                agrees = strips.version(0, c) == (col < k ? v[si][col] : v[si][c]);
            }
            usable &= agrees;
            got[col] = strips;
        }
        if (!usable) {
            log.info("chunk {} stripe {}: parity delta not possible (a strip could not be read or is not the"
                    + " version V records); re-encoding", Long.toHexString(request.chunkUid), stripe);
            return false;
        }
        MemorySegment[] out = new MemorySegment[m];
        for (int p = 0; p < m; p++) {
            int col = k + p;
            ByteBuf slot = parity.slice((si * m + p) * S, S);
            if (col == layout.masterIndex()) {
                slot.setBytes(0, own.strip(si), 0, S);
            } else if (got[col] != null) {
                slot.setBytes(0, got[col].strip(0), 0, S);
            } // else: a column not written; its slot is scratch
            out[p] = MemorySegment.ofBuffer(slot.nioBuffer(0, S));
        }
        for (int c = 0; c < k; c++) {
            if (request.covers(stripe, c)) {
                MemorySegment before = MemorySegment.ofBuffer(got[c].strip(0).nioBuffer(0, S));
                MemorySegment now = MemorySegment.ofBuffer(data.nioBuffer(request.blockIndex(stripe, c) * S, S));
                codec.updateParity(c, before, now, out, 0, S);
            }
        }
        return true;
    }

    /** A column's share of a transaction: its stripe range and the PREPARE payload. */
    private record ColumnWrite(int firstStripe, int stripes, ByteBuf payload) {}

    /** The strips data column {@code col} gets: those the request covers (a contiguous stripe range). */
    private static ColumnWrite dataColumnWrite(Request request, ByteBuf data, long[][] v, int col, long txid,
            String master) {
        int from = -1;
        int to = -1;
        for (int si = 0; si < request.stripeCount; si++) {
            if (request.covers(request.firstStripe + si, col)) {
                from = from < 0 ? si : from;
                to = si;
            }
        }
        if (from < 0) {
            return null;
        }
        int stripes = to - from + 1;
        long[] versions = new long[stripes];
        long[] decided = new long[stripes];
        for (int i = 0; i < stripes; i++) {
            versions[i] = txid;
            decided[i] = v[from + i][col];
        }
        EcSection section = new EcSection(1, EcSection.MODE_BY_DECIDED, txid, master, versions, decided);
        ByteBuf payload = pooled(stripes * (S + 4) + section.encodedBytes());
        int dataBlocks = request.lengthBytes / S;
        for (int i = 0; i < stripes; i++) {
            payload.writeBytes(data, request.blockIndex(request.firstStripe + from + i, col) * S, S);
        }
        for (int i = 0; i < stripes; i++) {
            int block = request.blockIndex(request.firstStripe + from + i, col);
            payload.writeInt(data.getInt(dataBlocks * S + 4 * block));
        }
        section.writeTo(payload);
        return new ColumnWrite(request.firstStripe + from, stripes, payload);
    }

    /** Parity column {@code col}'s strips for every stripe of the request, with their version vectors. */
    private static ColumnWrite parityColumnWrite(Request request, ByteBuf parity, long[][] v, long[][] after, int col,
            long txid, String master) {
        int k = request.k();
        int m = request.layout.m();
        int count = request.stripeCount;
        int p = col - k;
        long[] versions = new long[count * k];
        long[] decided = new long[count];
        for (int si = 0; si < count; si++) {
            System.arraycopy(after[si], 0, versions, si * k, k);
            decided[si] = max(v[si]);
        }
        EcSection section = new EcSection(k, EcSection.MODE_BY_DECIDED, txid, master, versions, decided);
        ByteBuf payload = pooled(count * (S + 4) + section.encodedBytes());
        for (int si = 0; si < count; si++) {
            payload.writeBytes(parity, (si * m + p) * S, S);
        }
        for (int si = 0; si < count; si++) {
            payload.writeInt(BlockCrc.of(parity, (si * m + p) * S, S));
        }
        section.writeTo(payload);
        return new ColumnWrite(request.firstStripe, count, payload);
    }

    /**
     * Sends RESOLVE (commit or abort) to the prepared columns without waiting: the stripes can be
     * unlocked at once, because the next PREPARE or STRIP_READ of the master for them carries the
     * decided generations and settles the same way, whichever arrives first.
     */
    private void settle(Request request, List<Integer> prepared, long txid, boolean commit) {
        for (int col : prepared) {
            EcSection section = EcSection.settle(txid, commit);
            ByteBuf payload = Unpooled.buffer(section.encodedBytes());
            section.writeTo(payload);
            String address = request.layout.address(col);
            // The range: the whole request's stripes (a settle by txid covers what the column holds).
            clients.request(address, DataFrame.TYPE_RESOLVE, request.chunkUid, request.chunkVersion,
                    (long) request.firstStripe * S, request.stripeCount * S, payload).whenComplete((reply, error) -> {
                        String failure = error != null ? "failed: " + error.getMessage()
                                : reply.status() == CsStatus.OK ? null : "answered " + reply.status() + ": "
                                        + reply.message();
                        if (reply != null) {
                            reply.release();
                        }
                        if (failure != null) {
                            // Decided either way: the column settles it on the master's next request.
                            log.info("ec transaction {} of chunk {}: {} not told the {} ({}); it stays pending there",
                                    txid, Long.toHexString(request.chunkUid), address, commit ? "commit" : "abort",
                                    failure);
                        }
                    });
        }
    }

    // ---- read (reconstruction) -------------------------------------------------------------------

    private ByteBuf read(Request request) throws CsException {
        int k = request.k();
        int count = request.stripeCount;
        int first = request.firstStripe;
        settleUntrusted(request.chunkUid, new HotMaster.Known(request.layout, request.chunkVersion), first, count);
        lock(request.chunkUid, first, count);
        try {
            Strips own = readOwn(request);
            long[][] v = ownVersions(own, count, k);
            boolean[][] need = new boolean[count][k];
            for (int si = 0; si < count; si++) {
                for (int c = 0; c < k; c++) {
                    need[si][c] = request.covers(first + si, c);
                }
            }
            ByteBuf[][] strips = reconstruction.fetchDataStrips(request, own, v, need);
            int blocks = request.lengthBytes / S;
            ByteBuf out = pooled(request.lengthBytes + 4 * blocks); // the reply's: handed over
            out.writerIndex(request.lengthBytes + 4 * blocks);
            for (int si = 0; si < count; si++) {
                for (int c = 0; c < k; c++) {
                    if (need[si][c]) {
                        int block = request.blockIndex(first + si, c);
                        out.setBytes(block * S, strips[si][c], 0, S);
                        out.setInt(request.lengthBytes + 4 * block, BlockCrc.of(strips[si][c], 0, S));
                    }
                }
            }
            if (hot != null) {
                try {
                    HotMaster.overlay(hot, request, v, out);
                } catch (CsException | RuntimeException e) {
                    out.release();
                    throw e;
                }
            }
            return out;
        } finally {
            unlock(request.chunkUid, first, count);
        }
    }

    // ---- rebuild (recovery of a column) -------------------------------------------------------------

    /**
     * STRIP_REBUILD: the strips of one column (a RECOVERING one being rebuilt on the asking chunk
     * server) over whole stripes, each as V decides it: a data strip read from k agreeing strips and
     * rebuilt, a parity strip re-encoded from the data strips, with the versions V records for it (one
     * for a data strip, the vector for a parity strip). Under the stripe locks, so no write of these
     * stripes is half done; a write after it reaches the column itself (it is written while RECOVERING)
     * with a higher version, which the column's fill rule keeps. Stripes never written (V all zero) and
     * stripes whose versions the column already has (sent in the request) are skipped: a returning
     * column is given only the stripes written while it was away.
     *
     * <p>Request payload: u8 column, u8 n (1 data, k parity), u16 0, u32 versionsBytes, then n u64 per
     * stripe (the column's own versions), then the layout. Reply: u8 per stripe (1 included, 0 skipped),
     * then per included stripe: 4096 bytes, u32 CRC32C, n u64 versions.
     */
    private ByteBuf rebuild(Request request, ByteBuf frame) throws CsException {
        EcLayout layout = request.layout;
        int k = layout.k();
        int m = layout.m();
        int at = frame.readerIndex() + DataFrame.HEADER_BYTES;
        int column = frame.getUnsignedByte(at);
        int n = frame.getUnsignedByte(at + 1);
        int count = request.stripeCount;
        int first = request.firstStripe;
        if (count > REBUILD_STRIPES_MAX || column >= layout.width() || column == layout.masterIndex()
                || n != (column < k ? 1 : k)
                || frame.getInt(at + 4) != count * n * 8 || request.offsetBytes % layout.stripeBytes() != 0
                || request.lengthBytes % layout.stripeBytes() != 0) {
            throw new CsException(CsStatus.INVALID, "STRIP_REBUILD of column " + column + " with " + n
                    + " versions per strip over " + request.lengthBytes + " bytes at " + request.offsetBytes
                    + " (whole stripes of ec" + k + "+" + m + ", at most " + REBUILD_STRIPES_MAX
                    + ", not the master's column)");
        }
        if (layout.usable(column)) {
            throw new CsException(CsStatus.INVALID, "STRIP_REBUILD of column " + column
                    + ", which the layout calls usable: a column being rebuilt is never a source");
        }
        if (freezer != null) {
            // A rebuild freezes first (docs/hot-tier.md, "Healing"): the column being rebuilt lost its
            // hot copies, or missed hot writes while it was away; frozen, the stripes it gets are newer
            // than any of them. Hot writes from now on reach it (RECOVERING columns are written).
            // The rebuild's layout is the chunk's newest: the periodic freezes take it from here on,
            // so none writes the stripes with an older layout that misses the rebuilt column.
            HotMaster.Known known = hotMaster.learn(request.chunkUid,
                    new HotMaster.Known(layout, request.chunkVersion));
            freezer.freezeRange(request.chunkUid, known, first, count);
        }
        lock(request.chunkUid, first, count);
        try {
            Strips own = readOwn(request);
            long[][] v = ownVersions(own, count, k);
            boolean[] include = new boolean[count];
            boolean[][] need = new boolean[count][k];
            int included = 0;
            for (int si = 0; si < count; si++) {
                long[] expect = column < k ? new long[] {v[si][column]} : v[si];
                boolean same = true;
                for (int j = 0; j < n; j++) {
                    same &= frame.getLong(at + 8 + (si * n + j) * 8) == expect[j];
                }
                if (max(expect) == 0 || same) {
                    continue;
                }
                include[si] = true;
                included++;
                for (int c = 0; c < k; c++) {
                    need[si][c] = column >= k || c == column;
                }
            }
            ByteBuf out = pooled(count + included * (S + 4 + 8 * n)); // the reply's: handed over
            if (included == 0) {
                out.writeZero(count);
                return out;
            }
            ByteBuf[][] strips = reconstruction.fetchDataStrips(request, own, v, need);
            ErasureCodec codec = column >= k ? codec(k, m) : null;
            ByteBuf parity = column >= k ? request.scratch.take(m * S).writerIndex(m * S) : null;
            for (int si = 0; si < count; si++) {
                out.writeByte(include[si] ? 1 : 0);
            }
            for (int si = 0; si < count; si++) {
                if (!include[si]) {
                    continue;
                }
                ByteBuf strip;
                if (column < k) {
                    strip = strips[si][column];
                } else {
                    MemorySegment[] in = new MemorySegment[k];
                    for (int c = 0; c < k; c++) {
                        in[c] = MemorySegment.ofBuffer(strips[si][c].nioBuffer(0, S));
                    }
                    MemorySegment[] outs = new MemorySegment[m];
                    for (int p = 0; p < m; p++) {
                        outs[p] = MemorySegment.ofBuffer(parity.nioBuffer(p * S, S));
                    }
                    codec.encode(in, outs, 0, S);
                    strip = parity.slice((column - k) * S, S);
                }
                out.writeBytes(strip, 0, S);
                out.writeInt(BlockCrc.of(strip, 0, S));
                if (column < k) {
                    out.writeLong(v[si][column]);
                } else {
                    for (int c = 0; c < k; c++) {
                        out.writeLong(v[si][c]);
                    }
                }
            }
            return out;
        } finally {
            unlock(request.chunkUid, first, count);
        }
    }

    // ---- strips ------------------------------------------------------------------------------------

    /** Strips of one column over a stripe range, CRC-checked, with {@code n} versions per strip. */
    record Strips(ByteBuf data, int n, long[] versions) {
        long version(int strip, int j) {
            return n == 0 ? 0 : versions[strip * n + j];
        }

        ByteBuf strip(int strip) {
            return data.slice(strip * S, S);
        }
    }

    /** This master's own parity column over the request's stripes (deciding any pending strip of it first). */
    Strips readOwn(Request request) throws CsException {
        long offsetBytes = (long) request.firstStripe * S;
        int lengthBytes = request.stripeCount * S;
        termination.terminate(request);
        int blocks = request.stripeCount;
        ByteBuf data = request.scratch.take(lengthBytes + 4 * blocks);
        store.read(request.chunkUid, offsetBytes, lengthBytes, data);
        ChunkletStore.StripVersions versions = store.versions(request.chunkUid, offsetBytes, lengthBytes);
        if (versions.n() != 0 && versions.n() != request.k()) {
            throw new CsException(CsStatus.INVALID, "chunk " + Long.toHexString(request.chunkUid) + ": this column keeps "
                    + versions.n() + " versions per strip, not a parity column of ec" + request.k() + "+"
                    + request.layout.m());
        }
        return new Strips(data, versions.n(), versions.versions());
    }

    /** The versions a PEEK view gives block {@code i} (none when the column holds no chunklet). */
    static long[] vector(EcSection view, int i) {
        int n = view.versionsPerBlock();
        return Arrays.copyOfRange(view.versions(), i * n, (i + 1) * n);
    }

    /** STRIP_READ in PEEK mode of the request's stripes at {@code address}; null when it cannot answer. */
    CompletableFuture<EcSection> peek(Request request, String address) {
        return peek(clients, address, request.chunkUid, request.chunkVersion, request.firstStripe,
                request.stripeCount);
    }

    /**
     * STRIP_READ in PEEK mode of stripes [firstStripe, firstStripe + count) of a chunk at {@code address}:
     * its committed versions and pending txids (EcSection mode PEEK); completes with null when it
     * cannot answer, exceptionally (STALE_VERSION, see {@link #await}) when it knows a newer chunk version.
     */
    public static CompletableFuture<EcSection> peek(ReplicaClients clients, String address, long chunkUid,
            long chunkVersion, int firstStripe, int count) {
        return peek(clients, address, chunkUid, chunkVersion, firstStripe, count, false);
    }

    /**
     * As {@link #peek(ReplicaClients, String, long, long, int, int)} of a column meta lists as a
     * current member (UPTODATE): one that holds no chunklet of the chunk took no write there (its
     * first write creates it; a small write to the hot tier does not), so it answers "nothing
     * written" (versions 0, nothing pending) instead of null. How a parity column being encoded from
     * the data columns reads a column that only ever took hot writes.
     */
    public static CompletableFuture<EcSection> peekMember(ReplicaClients clients, String address, long chunkUid,
            long chunkVersion, int firstStripe, int count) {
        return peek(clients, address, chunkUid, chunkVersion, firstStripe, count, true);
    }

    private static CompletableFuture<EcSection> peek(ReplicaClients clients, String address, long chunkUid,
            long chunkVersion, int firstStripe, int count, boolean noColumnIsNothingWritten) {
        return peekReply(clients, address, chunkUid, chunkVersion, firstStripe, count).handle((reply, error) -> {
                    if (error != null) {
                        log.info("chunk {}: peek at {} failed: {}", Long.toHexString(chunkUid), address,
                                error.toString());
                        return null;
                    }
                    try {
                        if (reply.status() == CsStatus.STALE_VERSION) {
                            throw stale(address, reply);
                        }
                        if (noColumnIsNothingWritten && answeredNoColumn(reply)) {
                            return new EcSection(0, EcSection.MODE_PEEK, 0, "", new long[0], new long[count]);
                        }
                        if (reply.status() != CsStatus.OK) {
                            log.info("chunk {}: peek at {}: {} {}", Long.toHexString(chunkUid), address,
                                    reply.status(), reply.message());
                            return null;
                        }
                        ByteBuf frame = reply.payload();
                        EcSection view = EcSection.read(frame, frame.readerIndex(), frame.readableBytes(), count);
                        return view.mode() == EcSection.MODE_PEEK ? view : null;
                    } catch (CsException e) {
                        log.warn("chunk {}: peek at {}: {}", Long.toHexString(chunkUid), address, e.getMessage());
                        return null;
                    } finally {
                        reply.release();
                    }
                });
    }

    /** The raw reply to a STRIP_READ in PEEK mode of stripes [firstStripe, firstStripe + count) at {@code address}. */
    static CompletableFuture<DataClient.Reply> peekReply(ReplicaClients clients, String address, long chunkUid,
            long chunkVersion, int firstStripe, int count) {
        return stripRead(clients, address, chunkUid, chunkVersion, firstStripe, count,
                new EcSection(0, EcSection.MODE_PEEK, 0, "", new long[0], new long[count]));
    }

    private static CompletableFuture<DataClient.Reply> stripRead(ReplicaClients clients, String address, long chunkUid,
            long chunkVersion, int firstStripe, int count, EcSection ask) {
        ByteBuf payload = Unpooled.buffer(ask.encodedBytes());
        ask.writeTo(payload);
        return clients.request(address, DataFrame.TYPE_STRIP_READ, chunkUid, chunkVersion, (long) firstStripe * S,
                count * S, payload);
    }

    /** Whether a PEEK's answer says the server holds no column of the chunk ({@link #NO_COLUMN_HERE}). */
    static boolean answeredNoColumn(DataClient.Reply reply) {
        return reply.status() == CsStatus.UNAVAILABLE && reply.message().contains(NO_COLUMN_HERE);
    }

    /**
     * The raw reply to a STRIP_READ in PEEK_HELD mode of stripes [firstStripe, firstStripe + count)
     * at {@code address}, a column keeping {@code width} versions a strip (1: a data column).
     */
    static CompletableFuture<DataClient.Reply> heldPeekReply(ReplicaClients clients, String address, long chunkUid,
            long chunkVersion, int firstStripe, int count, int width) {
        return stripRead(clients, address, chunkUid, chunkVersion, firstStripe, count, EcSection.peekHeld(count, width));
    }

    /** The words of a PEEK's UNAVAILABLE answer when the server holds no column of the chunk. */
    public static final String NO_COLUMN_HERE = " has no column on this chunk server";

    /**
     * Answers a PEEK: this column's committed versions of blocks [offset, offset + length) and the
     * transaction each has pending, read while holding this chunk server's locks of those stripes, so
     * that a transaction this chunk server runs as master on them is decided before it answers.
     */
    public CompletableFuture<EcSection> peek(long chunkUid, long offsetBytes, int lengthBytes) {
        return peek(chunkUid, offsetBytes, lengthBytes, 0, null, 0);
    }

    /**
     * As {@link #peek(long, long, int)}; with {@code heldWidth} above 0, a PEEK_HELD (which blocks
     * are held, for reads through snapshot layers): the answer has {@code heldWidth} versions a strip
     * (1 on a data column, k on a parity column; a column that keeps none yet answers zeroes), each
     * raised to the seq of this server's hot copy of the block. A block written only to the hot tier
     * is in no version until it is frozen, yet it is written: its reads return it.
     */
    public CompletableFuture<EcSection> peek(long chunkUid, long offsetBytes, int lengthBytes, int heldWidth) {
        return peek(chunkUid, offsetBytes, lengthBytes, heldWidth, null, 0);
    }

    /**
     * As above; a held peek of a parity column (the stripe master: {@code heldWidth} k) first settles
     * stripes whose hot copies here are untrusted (HotTrust), with {@code layout} at
     * {@code chunkVersion} (the asker's), else with the layout this master knows; with neither it
     * answers PENDING rather than count copies that may be orphans.
     */
    public CompletableFuture<EcSection> peek(long chunkUid, long offsetBytes, int lengthBytes, int heldWidth,
            EcLayout layout, long chunkVersion) {
        CompletableFuture<EcSection> result = new CompletableFuture<>();
        int first = (int) (offsetBytes / S);
        int count = lengthBytes / S;
        if (heldWidth < 0 || heldWidth > EcSection.VERSIONS_PER_BLOCK_MAX) {
            return CompletableFuture.failedFuture(new CsException(CsStatus.INVALID, "a held peek asks for "
                    + heldWidth + " versions a strip (1 to " + EcSection.VERSIONS_PER_BLOCK_MAX + ")"));
        }
        try {
            threads.execute(() -> {
                try {
                    if (heldWidth > 1) {
                        settleBeforePeek(chunkUid, first, count, layout, chunkVersion);
                    }
                    if (!tryLock(chunkUid, first, count, PEEK_LOCK_WAIT_NANOS)) {
                        throw new CsException(CsStatus.PENDING, "stripes " + first + ".." + (first + count - 1)
                                + " of chunk " + Long.toHexString(chunkUid) + " are held by a transaction on this"
                                + " chunk server for more than " + PEEK_LOCK_WAIT_NANOS / 1_000_000_000 + " s; ask again");
                    }
                } catch (CsException e) {
                    result.completeExceptionally(e);
                    return;
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    result.completeExceptionally(new CsException(CsStatus.UNAVAILABLE, "chunk server is shutting down"));
                    return;
                }
                try {
                    boolean anyHot = heldWidth > 0 && hot != null && hot.count(chunkUid) > 0;
                    // A held peek is answered by a column meta placed here that took no write yet
                    // (nothing held); a plain one is not: see below.
                    boolean placedHere = heldWidth > 0 && fence.known(chunkUid) >= 0;
                    if (!store.info(chunkUid).exists() && !anyHot && !placedHere) {
                        // No column of this chunk here (deleted, moved away, or never durable): "not in
                        // my parity" would read as "aborted" and could drop a committed write. Say
                        // nothing; the asker keeps it pending and the columns decide (terminate).
                        throw new CsException(CsStatus.UNAVAILABLE, "chunk " + Long.toHexString(chunkUid)
                                + NO_COLUMN_HERE + ": it cannot tell what was decided");
                    }
                    ChunkletStore.StripVersions versions = store.versions(chunkUid, offsetBytes, lengthBytes);
                    long[] pendingTxids = new long[count];
                    List<ChunkletStore.PendingStrip> pending = store.pendingStrips(chunkUid, offsetBytes, lengthBytes);
                    for (ChunkletStore.PendingStrip strip : pending) {
                        pendingTxids[strip.block() - first] = strip.txid();
                    }
                    if (heldWidth == 0) {
                        result.complete(new EcSection(versions.n(), EcSection.MODE_PEEK, 0, "", versions.versions(),
                                pendingTxids));
                        return;
                    }
                    result.complete(new EcSection(heldWidth, EcSection.MODE_PEEK_HELD, 0, "",
                            heldVersions(chunkUid, first, count, versions, heldWidth, anyHot, pending), pendingTxids));
                } catch (CsException | RuntimeException e) {
                    result.completeExceptionally(e);
                } finally {
                    unlock(chunkUid, first, count);
                }
            });
        } catch (RejectedExecutionException e) {
            result.completeExceptionally(new CsException(CsStatus.UNAVAILABLE, "chunk server is shutting down"));
        }
        return result;
    }

    private void settleBeforePeek(long chunkUid, int first, int count, EcLayout layout, long chunkVersion)
            throws CsException {
        if (hotMaster == null) {
            return;
        }
        boolean untrusted = false;
        for (int stripe = first; stripe < first + count && !untrusted; stripe++) {
            untrusted = hotMaster.trust.untrusted(chunkUid, stripe) >= 0;
        }
        if (!untrusted) {
            return;
        }
        HotMaster.Known known = layout != null ? new HotMaster.Known(layout, chunkVersion)
                : hotMaster.layouts.get(chunkUid);
        if (known == null) {
            throw new CsException(CsStatus.PENDING, "chunk " + Long.toHexString(chunkUid) + ": hot copies here not"
                    + " yet checked against their data columns, and the held peek carries no layout; ask again");
        }
        settleUntrusted(chunkUid, known, first, count);
    }

    /**
     * The versions of a held peek: {@code width} a strip, each the higher of the committed version
     * and the seq of the block's hot copy here (a data column keys its hot copies by chunklet block,
     * a parity column by {@link HotStore#PARITY_KEY_BASE} plus the chunk-logical block).
     */
    private long[] heldVersions(long chunkUid, int first, int count, ChunkletStore.StripVersions versions, int width,
            boolean anyHot, List<ChunkletStore.PendingStrip> pending) throws CsException {
        if (versions.n() != 0 && versions.n() != width) {
            throw new CsException(CsStatus.INVALID, "chunk " + Long.toHexString(chunkUid) + ": this column keeps "
                    + versions.n() + " versions a strip; the held peek expected " + width);
        }
        long[] held = versions.n() == 0 ? new long[count * width] : versions.versions().clone();
        // A parity column's pending strip carries the stripe's version vector after its transaction:
        // a transaction the master committed (the client was answered) whose RESOLVE never reached
        // this column (the master died, or the column knew a newer chunk version and refused it) is
        // written data, and a new master that answered from its committed versions alone made the
        // layered read fall through to the parent (the thrasher: fio read a snapshot's block over
        // its own acknowledged write). Raised to those versions, as a data column counts its pending
        // strips; the read then goes to the master, which decides them first (termination). One that
        // is aborted later was never acknowledged: its blocks read as this layer holds them.
        if (width > 1) {
            for (ChunkletStore.PendingStrip strip : pending) {
                int at = (strip.block() - first) * width;
                for (int j = 0; j < width && j < strip.versions().length; j++) {
                    held[at + j] = Math.max(held[at + j], strip.versions()[j]);
                }
            }
        }
        if (!anyHot) {
            return held;
        }
        long base = width == 1 ? 0 : HotStore.PARITY_KEY_BASE;
        long firstKey = base + (long) first * width;
        for (long[] block : hot.blocks(chunkUid, firstKey, firstKey + (long) count * width)) {
            int at = (int) (block[0] - firstKey);
            held[at] = Math.max(held[at], block[1]);
        }
        return held;
    }

    private static long[][] ownVersions(Strips own, int count, int k) {
        long[][] v = new long[count][k];
        for (int si = 0; si < count; si++) {
            for (int c = 0; c < k; c++) {
                v[si][c] = own.version(si, c);
            }
        }
        return v;
    }

    /**
     * STRIP_READ of {@code count} strips of column {@code col} from stripe {@code firstStripe}, settling
     * pending strips by {@code decided}; completes with null when the column cannot give them.
     */
    CompletableFuture<Strips> readColumn(Request request, int col, int firstStripe, int count, int n,
            long[] decided) {
        EcSection section = EcSection.byDecided(decided);
        ByteBuf payload = Unpooled.buffer(section.encodedBytes());
        section.writeTo(payload);
        String address = request.layout.address(col);
        return clients.request(address, DataFrame.TYPE_STRIP_READ, request.chunkUid, request.chunkVersion,
                (long) firstStripe * S, count * S, payload).handle((reply, error) -> {
                    if (error != null) {
                        log.info("chunk {}: strip read from {} failed: {}", Long.toHexString(request.chunkUid),
                                address, error.toString());
                        return null;
                    }
                    try {
                        if (reply.status() == CsStatus.STALE_VERSION) {
                            throw stale(address, reply);
                        }
                        if (reply.status() != CsStatus.OK) {
                            log.info("chunk {}: strip read from {}: {} {}", Long.toHexString(request.chunkUid),
                                    address, reply.status(), reply.message());
                            return null;
                        }
                        ByteBuf frame = reply.payload();
                        int at = frame.readerIndex();
                        int blockBytes = count * (S + 4);
                        BlockCrc.verify(frame, at, (long) firstStripe * S, count, request.chunkUid);
                        EcSection versions = EcSection.read(frame, at + blockBytes, frame.readableBytes() - blockBytes,
                                count);
                        if (versions.versionsPerBlock() != 0 && versions.versionsPerBlock() != n) {
                            log.warn("chunk {}: column {} keeps {} versions per strip, expected {}",
                                    Long.toHexString(request.chunkUid), address, versions.versionsPerBlock(), n);
                            return null;
                        }
                        ByteBuf data = request.scratch.take(count * S);
                        if (data == null) {
                            return null; // the request ended without waiting for this answer
                        }
                        data.writeBytes(frame, at, count * S);
                        return new Strips(data, versions.versionsPerBlock(), versions.versions());
                    } catch (CsException e) {
                        log.warn("chunk {}: strip read from {}: {}", Long.toHexString(request.chunkUid), address,
                                e.getMessage());
                        return null;
                    } finally {
                        reply.release();
                    }
                });
    }

    // ---- helpers -----------------------------------------------------------------------------------

    /** Logs {@code payload} as a record of {@code type} on this chunk server and waits until applied. */
    void log(int type, long chunkUid, long offsetBytes, int lengthBytes, ByteBuf payload) throws CsException {
        join(logAsync(type, chunkUid, offsetBytes, lengthBytes, payload));
    }

    /** Logs {@code payload} as a record of {@code type} on this chunk server; completes once applied. */
    CompletableFuture<Void> logAsync(int type, long chunkUid, long offsetBytes, int lengthBytes,
            ByteBuf payload) {
        return submit(type, chunkUid, offsetBytes, lengthBytes, payload, false);
    }

    /** {@link #logAsync} for background work: refused BUSY while the WAL's queue is busy with clients'. */
    CompletableFuture<Void> logBackground(int type, long chunkUid, long offsetBytes, int lengthBytes,
            ByteBuf payload) {
        return submit(type, chunkUid, offsetBytes, lengthBytes, payload, true);
    }

    private CompletableFuture<Void> submit(int type, long chunkUid, long offsetBytes, int lengthBytes,
            ByteBuf payload, boolean background) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        WalEntry entry = new WalEntry(type, chunkUid, offsetBytes, lengthBytes, payload, completion(done));
        wal.submit(background ? entry.background() : entry);
        return done;
    }

    private static WalEntry.Completion completion(CompletableFuture<Void> done) {
        return (entry, error) -> {
            if (error != null) {
                done.completeExceptionally(error);
            } else {
                done.complete(null);
            }
        };
    }

    private static CsException walException(CompletionException e) {
        return e.getCause() instanceof CsException cs ? cs
                : new CsException(CsStatus.IO_ERROR, "WAL: " + e.getCause(), e.getCause());
    }

    /** Waits for a WAL entry's completion; its failure as a CsException. */
    static void join(CompletableFuture<Void> done) throws CsException {
        try {
            done.join();
        } catch (CompletionException e) {
            throw walException(e);
        }
    }

    /** Null when the column answered OK; else the failure in the "replica ADDRESS ..." form clients parse. */
    static String outcome(CompletableFuture<DataClient.Reply> sent, String address) {
        try {
            DataClient.Reply reply = sent.join();
            try {
                return reply.status() == CsStatus.OK ? null
                        : "replica " + address + " answered " + reply.status() + ": " + reply.message();
            } finally {
                reply.release();
            }
        } catch (CompletionException e) {
            return "replica " + address + " failed: " + (e.getCause() == null ? e : e.getCause()).getMessage();
        }
    }

    /**
     * The column's answer, or null when it could not give one; a column that knows a newer chunk
     * version fails the whole request STALE_VERSION instead, so the client refreshes its map and
     * retries rather than taking a healthy column for a failed one.
     */
    static <T> T await(CompletableFuture<T> future, String address) throws CsException {
        try {
            return future.join();
        } catch (CompletionException e) {
            if (e.getCause() instanceof CsException cs && cs.status() == CsStatus.STALE_VERSION) {
                throw cs;
            }
            log.info("column {}: {}", address, e.getCause() == null ? e.toString() : e.getCause().toString());
            return null;
        }
    }

    /** Thrown inside a reply handler: the column knows a newer chunk version than the request's. */
    private static CompletionException stale(String address, DataClient.Reply reply) {
        return new CompletionException(new CsException(CsStatus.STALE_VERSION, "column " + address + ": "
                + reply.message() + " (refresh the chunk map and retry)"));
    }

    long nextTxid(long highestVersion) {
        return lastTxid.updateAndGet(last -> Math.max(last + 1, highestVersion + 1));
    }

    static long max(long[] values) {
        long max = 0;
        for (long value : values) {
            max = Math.max(max, value);
        }
        return max;
    }

    ErasureCodec codec(int k, int m) {
        return codecs.computeIfAbsent(k << 8 | m, key -> ErasureCodecs.create(k, m));
    }

    /**
     * A direct buffer from the pooled allocator (direct, so the codec works on it in place) for a
     * payload handed over to a send, the WAL or the reply, which release it.
     */
    static ByteBuf pooled(int bytes) {
        return ByteBufAllocator.DEFAULT.directBuffer(bytes);
    }

    /**
     * The direct buffers a request works in, all released when it ends. Pooled: unpooled direct
     * buffers left to the GC cost a fresh, zeroed allocation each and piled up to gigabytes of
     * garbage between collections (a chunk server at 2.6 GB RSS under 1 MiB EC writes). A column's
     * answer arriving after its request gave up on it finds the scratch closed and is dropped.
     */
    static final class Scratch implements AutoCloseable {
        private final List<ByteBuf> buffers = new ArrayList<>();
        private boolean closed;

        /** A direct buffer of {@code bytes}, writerIndex 0; null once the request has ended. */
        synchronized ByteBuf take(int bytes) {
            if (closed) {
                return null;
            }
            ByteBuf buffer = pooled(bytes);
            buffers.add(buffer);
            return buffer;
        }

        @Override
        public synchronized void close() {
            closed = true;
            for (ByteBuf buffer : buffers) {
                buffer.release();
            }
            buffers.clear();
        }
    }

    /**
     * How long a PEEK waits for its stripe locks before it answers PENDING ("ask again"). A peek
     * must not wait for ever: a freeze (on its own or inside a rebuild) holds its stripe locks while
     * it asks the data columns a PEEK_HELD, and a column's peek takes that server's locks, which are
     * 4096 slots shared by every chunk (a rebuild of 128 stripes holds 128 of them). Two servers each
     * rebuilding a chunk whose column the other holds waited for each other: a deadlock broken only
     * by the 30 s request timeout, over and over (the thrasher's healing stalled for minutes).
     * Failing the peek instead makes the freeze fail, let go of its locks and try again.
     */
    static final long PEEK_LOCK_WAIT_NANOS = 5_000_000_000L;

    /**
     * As {@link #lock}, giving up after {@code timeoutNanos} in all: false (and nothing held) when
     * some slot stayed locked by another thread.
     */
    boolean tryLock(long chunkUid, int first, int count, long timeoutNanos) throws InterruptedException {
        long deadline = System.nanoTime() + timeoutNanos;
        List<Integer> held = new ArrayList<>();
        for (int slot : slots(chunkUid, first, count)) {
            if (!locks[slot].tryLock(Math.max(0, deadline - System.nanoTime()), java.util.concurrent.TimeUnit.NANOSECONDS)) {
                for (int i = held.size() - 1; i >= 0; i--) {
                    locks[held.get(i)].unlock();
                }
                return false;
            }
            held.add(slot);
        }
        return true;
    }

    /** Locks the slots of stripes [first, first + count) of a chunk in slot order (no deadlock). */
    void lock(long chunkUid, int first, int count) {
        for (int slot : slots(chunkUid, first, count)) {
            locks[slot].lock();
        }
    }

    void unlock(long chunkUid, int first, int count) {
        for (int slot : slots(chunkUid, first, count).descendingSet()) {
            locks[slot].unlock();
        }
    }

    private static TreeSet<Integer> slots(long chunkUid, int first, int count) {
        TreeSet<Integer> slots = new TreeSet<>();
        for (int s = first; s < first + count; s++) {
            slots.add(Math.floorMod(Long.hashCode(chunkUid * 0x9E3779B97F4A7C15L + s), LOCK_SLOTS));
        }
        return slots;
    }

    /**
     * Fences a write again once it holds its stripe locks: it may have waited there behind a rebuild
     * of those stripes for a newer chunk version (a recovery starts only once this master fences its
     * version, RecoveryIo.fenced), whose layout, with the RECOVERING column, it would miss.
     */
    void fenceUnderLock(Request request) throws CsException {
        fence.check(request.chunkUid, request.chunkVersion);
    }

    /** Client requests (EC reads and writes, hot writes) this master is running or has queued. */
    private final java.util.concurrent.atomic.AtomicInteger clientRequests =
            new java.util.concurrent.atomic.AtomicInteger();

    /** How many client requests this master runs or has queued now (the freezer yields to them). */
    int clientRequests() {
        return clientRequests.get();
    }

    /** Submits {@code entry} to this chunk server's WAL (its completion says when it is applied). */
    void submit(WalEntry entry) {
        wal.submit(entry);
    }

    /** This chunk server's hot store; null when it has none. */
    HotStore hot() {
        return hot;
    }

    /** The chunk versions this server fences requests with (the freezer fences its writes too). */
    ChunkVersions fence() {
        return fence;
    }

    /** The freezer of this master's hot blocks; null when this chunk server has no hot store. */
    public Freezer freezer() {
        return freezer;
    }

    @Override
    public void close() {
        threads.shutdownNow();
    }
}
