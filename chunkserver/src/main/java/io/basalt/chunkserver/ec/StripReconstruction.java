package io.basalt.chunkserver.ec;

import io.basalt.chunkserver.ec.StripeMaster.Request;
import io.basalt.chunkserver.ec.StripeMaster.Strips;
import io.basalt.protocol.data.CsException;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.EcLayout;
import io.netty.buffer.ByteBuf;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The stripe master's reads of data strips at the versions V its parity records (docs/chunkserver.md,
 * "Erasure coding"): each strip a write, a read or a rebuild needs is read from its column (STRIP_READ,
 * settling pending strips by V) and used only if it carries V's version; the others are rebuilt from k
 * strips whose versions agree with V, survivors read ahead for all the stripes of a range at once.
 * Split out of {@link StripeMaster}, whose column reads ({@link StripeMaster#readColumn}) and codecs
 * it uses.
 */
final class StripReconstruction {
    private static final Logger log = LoggerFactory.getLogger(StripReconstruction.class);
    private static final int S = EcLayout.STRIP_BYTES;

    private final StripeMaster master;

    StripReconstruction(StripeMaster master) {
        this.master = master;
    }

    /**
     * The data strips marked in {@code need} ([stripe index][column]), each verified against V:
     * read straight from its column where that works, rebuilt from k agreeing strips where not.
     */
    ByteBuf[][] fetchDataStrips(Request request, Strips own, long[][] v, boolean[][] need)
            throws CsException {
        int k = request.k();
        int count = request.stripeCount();
        EcLayout layout = request.layout();
        ByteBuf[][] strips = new ByteBuf[count][k];
        List<CompletableFuture<Strips>> reads = new ArrayList<>();
        int[] fromStripe = new int[k];
        for (int c = 0; c < k; c++) {
            int from = -1;
            int to = -1;
            for (int si = 0; si < count; si++) {
                if (need[si][c]) {
                    from = from < 0 ? si : from;
                    to = si;
                }
            }
            fromStripe[c] = from;
            if (from < 0 || !layout.usable(c)) {
                reads.add(null);
                continue;
            }
            long[] decided = new long[to - from + 1];
            for (int i = 0; i < decided.length; i++) {
                decided[i] = v[from + i][c];
            }
            reads.add(master.readColumn(request, c, request.firstStripe() + from, decided.length, 1, decided));
        }
        int[] missing = new int[count];
        for (int c = 0; c < k; c++) {
            Strips got = reads.get(c) == null ? null : StripeMaster.await(reads.get(c), layout.address(c));
            for (int si = 0; si < count; si++) {
                if (!need[si][c]) {
                    continue;
                }
                int at = si - fromStripe[c];
                if (got != null && got.version(at, 0) == v[si][c]) {
                    strips[si][c] = got.strip(at);
                } else {
                    missing[si] |= 1 << c;
                }
            }
        }
        Survivors prefetched = prefetchSurvivors(request, v, strips, missing);
        for (int si = 0; si < count; si++) {
            if (missing[si] != 0) {
                reconstruct(request, own, v, si, strips[si], missing[si], prefetched);
            }
        }
        return strips;
    }

    /**
     * Survivor strips read ahead for every stripe of a range that needs a reconstruction: column
     * {@code c}'s strips of stripes [{@code first}, {@code first + columns[c].count}) relative to the
     * request, or null where that column was not read.
     */
    private record Survivors(int first, int count, Strips[] columns) {
        /** Column {@code col}'s read-ahead strips if they cover stripe {@code si}, else null. */
        Strips strip(int col, int si) {
            return columns == null || columns[col] == null || si < first || si >= first + count ? null : columns[col];
        }
    }

    /**
     * Reads, for all the stripes that miss data strips at once, the survivors their reconstruction
     * needs: one STRIP_READ per column over the whole range instead of one per stripe and column (a
     * rebuilt data column of 128 stripes was 128 round trips to each of k+m-2 servers, 0.7 MiB/s under
     * load). The data columns that were not missing, then as many parity columns (the master's own
     * excepted) as the worst stripe's deficit; whatever these reads cannot supply (a failed read, a
     * strip of another version) {@link #reconstruct} still asks for stripe by stripe.
     */
    private Survivors prefetchSurvivors(Request request, long[][] v, ByteBuf[][] strips, int[] missing)
            throws CsException {
        int lo = -1;
        int hi = -1;
        for (int si = 0; si < missing.length; si++) {
            if (missing[si] != 0) {
                lo = lo < 0 ? si : lo;
                hi = si;
            }
        }
        if (lo < 0 || lo == hi) {
            return new Survivors(0, 0, null); // nothing, or one stripe: the per-stripe path is as cheap
        }
        EcLayout layout = request.layout();
        int k = layout.k();
        int m = layout.m();
        int range = hi - lo + 1;
        List<CompletableFuture<Strips>> reads = new ArrayList<>(Collections.nCopies(k + m, null));
        int deficit = 0;
        for (int si = lo; si <= hi; si++) {
            if (missing[si] == 0) {
                continue;
            }
            int have = 1; // the master's own parity strip
            for (int c = 0; c < k; c++) {
                boolean present = strips[si][c] != null;
                boolean readable = !present && (missing[si] & (1 << c)) == 0 && layout.usable(c);
                have += present || readable ? 1 : 0;
                if (readable && reads.get(c) == null) {
                    long[] decided = new long[range];
                    for (int i = 0; i < range; i++) {
                        decided[i] = v[lo + i][c];
                    }
                    reads.set(c, master.readColumn(request, c, request.firstStripe() + lo, range, 1, decided));
                }
            }
            deficit = Math.max(deficit, k - have);
        }
        for (int col = k; col < k + m && deficit > 0; col++) {
            if (col == layout.masterIndex() || !layout.usable(col)) {
                continue;
            }
            long[] decided = new long[range];
            for (int i = 0; i < range; i++) {
                decided[i] = StripeMaster.max(v[lo + i]);
            }
            reads.set(col, master.readColumn(request, col, request.firstStripe() + lo, range, k, decided));
            deficit--;
        }
        Strips[] columns = new Strips[k + m];
        for (int col = 0; col < k + m; col++) {
            if (reads.get(col) != null) {
                columns[col] = StripeMaster.await(reads.get(col), layout.address(col));
            }
        }
        return new Survivors(lo, range, columns);
    }

    /**
     * Rebuilds the data strips of {@code missingMask} in stripe {@code si} from k strips whose versions
     * agree with V: this master's own parity, the data strips already read, then the other columns.
     */
    private void reconstruct(Request request, Strips own, long[][] v, int si, ByteBuf[] dataStrips, int missingMask,
            Survivors prefetched) throws CsException {
        EcLayout layout = request.layout();
        int k = layout.k();
        int m = layout.m();
        int stripe = request.firstStripe() + si;
        ByteBuf[] survivors = new ByteBuf[k + m];
        int have = 0;
        for (int c = 0; c < k; c++) {
            if (dataStrips[c] != null) {
                survivors[c] = dataStrips[c];
                have++;
            }
        }
        survivors[layout.masterIndex()] = own.strip(si);
        have++;
        List<String> unusable = new ArrayList<>();
        for (int c = 0; c < k; c++) {
            if ((missingMask & (1 << c)) != 0 && layout.usable(c)) {
                unusable.add("replica " + layout.address(c) + " failed: its strip could not be read or is stale");
            }
        }
        // First what was read ahead for the whole range; a column read that way is not asked again.
        boolean[] tried = new boolean[k + m];
        for (int col = 0; col < k + m; col++) {
            Strips range = prefetched.strip(col, si);
            if (range == null || survivors[col] != null) {
                continue;
            }
            tried[col] = true;
            int at = si - prefetched.first();
            if (agrees(range, at, col, v[si], k)) {
                survivors[col] = range.strip(at);
                have++;
            } else {
                warnDisagrees(request, stripe, col);
            }
        }
        // Then ask the other columns of this stripe, all at once (data ones settle by V, parity by max V).
        List<Integer> asked = new ArrayList<>();
        List<CompletableFuture<Strips>> reads = new ArrayList<>();
        for (int col = 0; col < k + m && have < k; col++) {
            if (survivors[col] != null || tried[col] || col == layout.masterIndex() || !layout.usable(col)) {
                continue;
            }
            if (col < k && (missingMask & (1 << col)) != 0) {
                continue; // the direct read of this one just failed
            }
            asked.add(col);
            reads.add(master.readColumn(request, col, stripe, 1, col < k ? 1 : k,
                    new long[] {col < k ? v[si][col] : StripeMaster.max(v[si])}));
        }
        for (int i = 0; i < asked.size(); i++) {
            int col = asked.get(i);
            Strips got = StripeMaster.await(reads.get(i), layout.address(col));
            if (got == null) {
                unusable.add("replica " + layout.address(col) + " failed: its strip could not be read");
                continue;
            }
            if (agrees(got, 0, col, v[si], k)) {
                survivors[col] = got.strip(0);
            } else {
                warnDisagrees(request, stripe, col);
            }
        }
        int usable = 0;
        for (ByteBuf survivor : survivors) {
            usable += survivor != null ? 1 : 0;
        }
        if (usable < k) {
            throw new CsException(CsStatus.STRIPE_UNAVAILABLE, "chunk " + Long.toHexString(request.chunkUid())
                    + " stripe " + stripe + ": only " + usable + " of " + (k + m) + " strips are reachable and agree"
                    + " with the stripe's versions; ec" + k + "+" + m + " needs " + k
                    + (unusable.isEmpty() ? "" : "; " + String.join("; ", unusable)));
        }
        MemorySegment[] segments = new MemorySegment[k + m];
        int erased = 0;
        for (int col = 0; col < k + m; col++) {
            if (survivors[col] != null) {
                segments[col] = MemorySegment.ofBuffer(survivors[col].nioBuffer(0, S));
            } else if (col < k && (missingMask & (1 << col)) != 0) {
                ByteBuf rebuilt = request.scratch().take(S);
                rebuilt.writerIndex(S);
                dataStrips[col] = rebuilt;
                segments[col] = MemorySegment.ofBuffer(rebuilt.nioBuffer(0, S));
                erased |= 1 << col;
            }
        }
        master.codec(k, m).decode(segments, erased, 0, S);
    }

    /** Whether strip {@code at} of {@code got} (column {@code col}) carries the versions V records for it. */
    private static boolean agrees(Strips got, int at, int col, long[] stripeVersions, int k) {
        if (col < k) {
            return got.version(at, 0) == stripeVersions[col];
        }
        for (int c = 0; c < k; c++) {
            if (got.version(at, c) != stripeVersions[c]) {
                return false;
            }
        }
        return true;
    }

    private void warnDisagrees(Request request, int stripe, int col) {
        log.warn("chunk {} stripe {}: column {} ({}) holds strips of another write than the master's parity"
                + " records; not used for reconstruction", Long.toHexString(request.chunkUid()), stripe, col,
                request.layout().address(col));
    }
}
