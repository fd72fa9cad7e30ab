package io.basalt.chunkserver.ec;

import io.basalt.protocol.data.BlockCrc;
import io.basalt.protocol.data.EcLayout;
import io.basalt.protocol.data.CsException;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import io.basalt.protocol.data.ReplicaClients;
import io.basalt.chunkserver.store.ChunkletStore;
import io.basalt.chunkserver.store.ScrubReader;
import io.basalt.chunkserver.wal.WalRecordFormat;
import io.basalt.ec.ErasureCodec;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.PooledByteBufAllocator;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The stripe master's check of an erasure-coded chunk's stripes at rest (the scrubber runs it on the
 * server that is the chunk's stripe master): every column's strips read with their versions, parity
 * re-encoded from the data strips and compared with every parity strip, and a strip that does not fit
 * located and rewritten from the others. Under the stripe locks, as a write holds them: no write of
 * these stripes runs meanwhile, and a write after it starts from the repaired stripe.
 *
 * <p><b>Which strip is wrong.</b> Every strip passed its own CRC32C on the way (a damaged one is the
 * column scrubber's business), so the difference lies in what was written. With m >= 2 parity strips
 * one wrong strip can be located: when some parity strips agree with the data and others do not, the
 * others are wrong (a wrong data strip would make every parity disagree); when none agrees, the data
 * strip that, rebuilt from the rest, makes every parity agree is the wrong one. With m = 1, or when no
 * single data strip explains it, the stripe is counted unrepaired and logged.
 *
 * <p><b>What is not checked.</b> Stripes whose columns do not all hold the versions this master's
 * parity records (a column away, behind or being rebuilt: the recoverer's business) and ranges with a
 * column that is not usable.
 *
 * <p><b>The repair</b> keeps the stripe's versions (it writes what they already stand for): the
 * master's own parity strip by a REPAIR record here, another column's by a STRIP_REPAIR request, which
 * that column applies only if the strip still has the versions the master checked.
 */
public final class StripeVerifier {
    private static final Logger log = LoggerFactory.getLogger(StripeVerifier.class);
    private static final int S = EcLayout.STRIP_BYTES;
    /** Most stripes one call checks (its buffers: (k + m) x this x 4 KiB). */
    public static final int STRIPES_MAX = 64;

    /** Stripes checked, skipped (versions not settled), found inconsistent, and of those repaired. */
    public record Outcome(int checked, int skipped, int inconsistent, int repaired) {}

    private final StripeMaster master;
    private final ChunkletStore store;
    private final ScrubReader reader;
    private final ReplicaClients clients;

    public StripeVerifier(StripeMaster master, ChunkletStore store, ReplicaClients clients) {
        this.master = master;
        this.store = store;
        this.reader = new ScrubReader(store);
        this.clients = clients;
    }

    /**
     * Checks stripes [firstStripe, firstStripe + count) of a chunk whose stripe master this server is
     * ({@code layout.masterIndex()} its column), repairing what can be located.
     */
    public Outcome verify(long chunkUid, long chunkVersion, EcLayout layout, int firstStripe, int count)
            throws CsException {
        if (count < 1 || count > STRIPES_MAX) {
            throw new IllegalArgumentException("verify " + count + " stripes (1.." + STRIPES_MAX + ")");
        }
        int k = layout.k();
        int m = layout.m();
        for (int col = 0; col < layout.width(); col++) {
            if (!layout.usable(col)) {
                return new Outcome(0, count, 0, 0);
            }
        }
        StripeMaster.Request request = new StripeMaster.Request(chunkUid, chunkVersion,
                firstStripe * layout.stripeBytes(), (int) (count * layout.stripeBytes()), layout, firstStripe, count,
                new StripeMaster.Scratch());
        master.lock(chunkUid, firstStripe, count);
        try {
            StripeMaster.Strips own = master.readOwn(request);
            long[][] v = new long[count][k];
            for (int si = 0; si < count; si++) {
                for (int c = 0; c < k; c++) {
                    v[si][c] = own.version(si, c);
                }
            }
            List<CompletableFuture<StripeMaster.Strips>> reads = new ArrayList<>();
            for (int col = 0; col < layout.width(); col++) {
                if (col == layout.masterIndex()) {
                    reads.add(null);
                    continue;
                }
                long[] decided = new long[count];
                for (int si = 0; si < count; si++) {
                    decided[si] = col < k ? v[si][col] : StripeMaster.max(v[si]);
                }
                reads.add(master.readColumn(request, col, firstStripe, count, col < k ? 1 : k, decided));
            }
            StripeMaster.Strips[] columns = new StripeMaster.Strips[layout.width()];
            for (int col = 0; col < layout.width(); col++) {
                columns[col] = col == layout.masterIndex() ? own
                        : StripeMaster.await(reads.get(col), layout.address(col));
                if (columns[col] == null) {
                    return new Outcome(0, count, 0, 0); // a column could not answer: next pass
                }
            }
            int checked = 0;
            int skipped = 0;
            int inconsistent = 0;
            int repaired = 0;
            ErasureCodec codec = master.codec(k, m);
            for (int si = 0; si < count; si++) {
                if (StripeMaster.max(v[si]) == 0) {
                    continue; // never written
                }
                if (!settled(columns, v[si], si, k)) {
                    skipped++;
                    continue;
                }
                checked++;
                ByteBuf[] strips = new ByteBuf[k + m];
                for (int col = 0; col < k + m; col++) {
                    strips[col] = columns[col].strip(si);
                }
                List<Fix> fixes = locate(codec, strips, k, m, request.scratch());
                if (fixes == null) {
                    continue;
                }
                inconsistent++;
                int stripe = firstStripe + si;
                if (fixes.isEmpty()) {
                    log.warn("scrub: chunk {} stripe {}: parity does not match the data and no single strip"
                            + " explains it (ec{}+{}); not repaired", Long.toHexString(chunkUid), stripe, k, m);
                    continue;
                }
                boolean all = true;
                for (Fix fix : fixes) {
                    long[] versions = fix.column() < k ? new long[] {v[si][fix.column()]} : v[si];
                    all &= repair(request, stripe, fix, versions);
                }
                repaired += all ? 1 : 0;
            }
            return new Outcome(checked, skipped, inconsistent, repaired);
        } finally {
            master.unlock(chunkUid, firstStripe, count);
            request.scratch().close();
        }
    }

    /**
     * Rebuilds this master's own parity strip of {@code stripe}, found damaged by the scrubber (its data
     * fails its CRC, so the master cannot read it): re-encoded from the k data strips that hold the
     * versions its metadata records, and written by a REPAIR record guarded by {@code expectedLsn}.
     * False (logged) when a data column cannot give its strip at those versions.
     */
    public boolean repairOwnParity(long chunkUid, long chunkVersion, EcLayout layout, int stripe, long expectedLsn)
            throws CsException {
        int k = layout.k();
        StripeMaster.Request request = new StripeMaster.Request(chunkUid, chunkVersion,
                stripe * layout.stripeBytes(), (int) layout.stripeBytes(), layout, stripe, 1,
                new StripeMaster.Scratch());
        master.lock(chunkUid, stripe, 1);
        try {
            ChunkletStore.StripVersions own = store.versions(chunkUid, (long) stripe * S, S);
            if (own.n() != k) {
                throw new CsException(CsStatus.INVALID, "chunk " + Long.toHexString(chunkUid) + " stripe " + stripe
                        + ": this column keeps " + own.n() + " versions per strip, not a parity column of ec" + k);
            }
            long[] v = own.versions();
            List<CompletableFuture<StripeMaster.Strips>> reads = new ArrayList<>();
            for (int c = 0; c < k; c++) {
                reads.add(master.readColumn(request, c, stripe, 1, 1, new long[] {v[c]}));
            }
            ByteBuf[] strips = new ByteBuf[k + layout.m()];
            for (int c = 0; c < k; c++) {
                StripeMaster.Strips got = StripeMaster.await(reads.get(c), layout.address(c));
                if (got == null || got.version(0, 0) != v[c]) {
                    log.warn("scrub: chunk {} stripe {}: data column {} cannot give its strip at version {}; the"
                            + " master's parity strip is not rebuilt", Long.toHexString(chunkUid), stripe, c, v[c]);
                    return false;
                }
                strips[c] = got.strip(0);
            }
            ByteBuf[] parity = encode(master.codec(k, layout.m()), strips, k, layout.m(), request.scratch());
            ByteBuf strip = parity[layout.masterIndex() - k];
            master.log(WalRecordFormat.TYPE_REPAIR, chunkUid, (long) stripe * S, S,
                    repairPayload(expectedLsn, chunkVersion, BlockCrc.of(strip, 0, S), v, strip));
            return true;
        } finally {
            master.unlock(chunkUid, stripe, 1);
            request.scratch().close();
        }
    }

    /** A strip to rewrite: its column and its correct content. */
    record Fix(int column, ByteBuf strip) {}

    /** Whether every column of stripe {@code si} holds the versions V records. */
    private static boolean settled(StripeMaster.Strips[] columns, long[] v, int si, int k) {
        for (int col = 0; col < columns.length; col++) {
            for (int c = 0; c < k; c++) {
                if (col < k ? c == col && columns[col].version(si, 0) != v[c]
                        : columns[col].version(si, c) != v[c]) {
                    return false;
                }
            }
        }
        return true;
    }

    /**
     * Null when the stripe is consistent; else the strips to rewrite (empty when none can be located;
     * see the class comment).
     */
    static List<Fix> locate(ErasureCodec codec, ByteBuf[] strips, int k, int m, StripeMaster.Scratch scratch) {
        ByteBuf[] parity = encode(codec, strips, k, m, scratch);
        List<Fix> wrongParity = new ArrayList<>();
        for (int p = 0; p < m; p++) {
            if (!ByteBufUtil.equals(parity[p], 0, strips[k + p], 0, S)) {
                wrongParity.add(new Fix(k + p, parity[p]));
            }
        }
        if (wrongParity.isEmpty()) {
            return null;
        }
        if (m < 2) {
            return List.of();
        }
        if (wrongParity.size() < m) {
            return wrongParity; // the data agrees with some parity: it is right, the rest are wrong
        }
        Fix found = null;
        for (int c = 0; c < k; c++) {
            ByteBuf rebuilt = scratch.take(S).writerIndex(S);
            MemorySegment[] segments = new MemorySegment[k + m];
            for (int col = 0; col < k + m; col++) {
                ByteBuf strip = col == c ? rebuilt : strips[col];
                segments[col] = MemorySegment.ofBuffer(strip.nioBuffer(0, S));
            }
            // Rebuilt from the other data strips and the first parity; then every parity must agree.
            for (int p = 1; p < m; p++) {
                segments[k + p] = null;
            }
            codec.decode(segments, 1 << c, 0, S);
            ByteBuf[] trial = strips.clone();
            trial[c] = rebuilt;
            ByteBuf[] again = encode(codec, trial, k, m, scratch);
            boolean fits = true;
            for (int p = 0; p < m && fits; p++) {
                fits = ByteBufUtil.equals(again[p], 0, strips[k + p], 0, S);
            }
            if (fits) {
                if (found != null) {
                    return List.of(); // two explanations: neither is trusted
                }
                found = new Fix(c, rebuilt);
            }
        }
        return found == null ? List.of() : List.of(found);
    }

    private static ByteBuf[] encode(ErasureCodec codec, ByteBuf[] strips, int k, int m, StripeMaster.Scratch scratch) {
        MemorySegment[] in = new MemorySegment[k];
        for (int c = 0; c < k; c++) {
            in[c] = MemorySegment.ofBuffer(strips[c].nioBuffer(0, S));
        }
        ByteBuf[] parity = new ByteBuf[m];
        MemorySegment[] out = new MemorySegment[m];
        for (int p = 0; p < m; p++) {
            parity[p] = scratch.take(S).writerIndex(S);
            out[p] = MemorySegment.ofBuffer(parity[p].nioBuffer(0, S));
        }
        codec.encode(in, out, 0, S);
        return parity;
    }

    /** Rewrites one strip with its current versions; true once applied (or found changed meanwhile). */
    private boolean repair(StripeMaster.Request request, int stripe, Fix fix, long[] versions) {
        EcLayout layout = request.layout();
        int crc = BlockCrc.of(fix.strip(), 0, S);
        String where = fix.column() == layout.masterIndex() ? "here" : layout.address(fix.column());
        try {
            if (fix.column() == layout.masterIndex()) {
                long lsn = reader.lsnIfVersions(request.chunkUid(), stripe, versions);
                ByteBuf payload = repairPayload(lsn, request.chunkVersion(), crc, versions, fix.strip());
                master.log(WalRecordFormat.TYPE_REPAIR, request.chunkUid(), (long) stripe * S, S, payload);
            } else {
                ByteBuf payload = PooledByteBufAllocator.DEFAULT.directBuffer(4 + 8 * versions.length + S + 4);
                payload.writeByte(versions.length).writeZero(3);
                for (long version : versions) {
                    payload.writeLong(version);
                }
                payload.writeBytes(fix.strip(), 0, S).writeInt(crc);
                DataClient.Reply reply = clients.request(layout.address(fix.column()), DataFrame.TYPE_STRIP_REPAIR,
                        request.chunkUid(), request.chunkVersion(), (long) stripe * S, S, payload)
                        .get(2, TimeUnit.MINUTES);
                try {
                    if (reply.status() != CsStatus.OK) {
                        throw new CsException(reply.status(), reply.message());
                    }
                } finally {
                    reply.release();
                }
            }
            log.warn("scrub: chunk {} stripe {}: column {} ({}) did not fit the others; rewritten from them",
                    Long.toHexString(request.chunkUid()), stripe, fix.column(), where);
            return true;
        } catch (Exception e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            log.warn("scrub: chunk {} stripe {}: repairing column {} ({}) failed: {}",
                    Long.toHexString(request.chunkUid()), stripe, fix.column(), where, e.toString());
            return false;
        }
    }

    /**
     * A REPAIR payload (WalRecordFormat.TYPE_REPAIR) for one strip: applied only while the block's LSN
     * is {@code expectedLsn}, with the strip's versions unchanged.
     */
    public static ByteBuf repairPayload(long expectedLsn, long chunkVersion, int crc, long[] versions, ByteBuf strip) {
        ByteBuf payload = PooledByteBufAllocator.DEFAULT.directBuffer(22 + 8 * versions.length + S);
        payload.writeLong(expectedLsn).writeByte(versions.length).writeByte(ChunkletStore.FILL_DATA)
                .writeLong(chunkVersion).writeInt(crc);
        for (long version : versions) {
            payload.writeLong(version);
        }
        payload.writeBytes(strip, strip.readerIndex(), S);
        return payload;
    }
}
