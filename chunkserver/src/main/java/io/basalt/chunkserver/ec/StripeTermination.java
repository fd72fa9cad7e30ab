package io.basalt.chunkserver.ec;

import io.basalt.chunkserver.CsMetrics;
import io.basalt.chunkserver.store.ChunkletStore;
import io.basalt.chunkserver.wal.WalRecordFormat;
import io.basalt.protocol.data.CsException;
import io.basalt.protocol.data.EcLayout;
import io.basalt.protocol.data.EcSection;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The stripe master's termination protocol (docs/chunkserver.md, "Termination"): what a master does,
 * under the request's stripe locks and before it reads its own versions, with strips an earlier master
 * of the chunk prepared here and never resolved. Split out of {@link StripeMaster}, whose PEEK it
 * uses (the request's columns' and the earlier master's views of the stripes).
 */
final class StripeTermination {
    private static final Logger log = LoggerFactory.getLogger(StripeTermination.class);
    private static final int S = EcLayout.STRIP_BYTES;

    private final StripeMaster master;
    private final CsMetrics metrics;

    StripeTermination(StripeMaster master, CsMetrics metrics) {
        this.master = master;
        this.metrics = metrics;
    }

    /**
     * Termination: decides the pending strips this column holds in the request's range, prepared by an
     * earlier master of the chunk (or by this one before a restart) whose outcome never reached us,
     * before this master reads its versions. A transaction is committed exactly when every strip of it
     * is durable, prepared on every column it touches, the master's own included: the master answers
     * the client only then, and aborts only before. So:
     * <ol>
     *   <li>Ask the earlier master (PEEK, which waits for its stripe locks, so a transaction it is still
     *       running finishes first): committed if its own parity holds the transaction's versions;
     *       aborted if it holds neither those nor the transaction pending (its own strips were never
     *       durable, or it aborted); still pending there, or no answer: step 2.
     *   <li>Ask every other usable column: committed if one of them committed it, or if every one it
     *       touches holds it prepared (rolled forward: all of it is durable); aborted if one it touches
     *       holds neither (that strip was never durable, or the master aborted).
     * </ol>
     * The outcome is logged as an EC_RESOLVE by decided generation, like any settle, so replay repeats it.
     */
    void terminate(StripeMaster.Request request) throws CsException {
        long offsetBytes = (long) request.firstStripe() * S;
        int count = request.stripeCount();
        int lengthBytes = count * S;
        List<ChunkletStore.PendingStrip> pending = master.store.pendingStrips(request.chunkUid(), offsetBytes, lengthBytes);
        if (pending.isEmpty()) {
            return;
        }
        EcLayout layout = request.layout();
        int k = layout.k();
        String self = layout.address(layout.masterIndex());
        long[] decided = new long[count]; // a block's decided generation; 0 aborts its pending strip
        boolean[] known = new boolean[count];
        TreeSet<String> masters = new TreeSet<>();
        for (ChunkletStore.PendingStrip strip : pending) {
            masters.add(strip.master());
        }
        masters.remove(self);
        masters.remove("");
        for (String earlier : masters) {
            EcSection view = askEarlierMaster(request, earlier);
            if (view == null) {
                continue;
            }
            for (ChunkletStore.PendingStrip strip : pending) {
                int i = strip.block() - request.firstStripe();
                if (!strip.master().equals(earlier) || view.decided()[i] == strip.txid()) {
                    continue; // prepared there too and not resolved: the columns tell
                }
                known[i] = true;
                decided[i] = Arrays.equals(StripeMaster.vector(view, i), strip.versions()) ? strip.txid() : 0;
            }
        }
        EcSection[] views = null;
        for (ChunkletStore.PendingStrip strip : pending) {
            int i = strip.block() - request.firstStripe();
            if (known[i]) {
                continue;
            }
            if (views == null) {
                views = peekColumns(request);
            }
            long txid = strip.txid();
            long[] after = strip.versions();
            boolean committed = false;
            boolean missing = false;
            for (int col = 0; col < layout.width(); col++) {
                EcSection view = views[col];
                if (view == null || (col < k && after[col] != txid)) {
                    continue; // not reachable, or a data column the transaction leaves alone
                }
                long[] theirs = StripeMaster.vector(view, i);
                boolean has = col < k ? theirs.length > 0 && theirs[0] == txid : Arrays.equals(theirs, after);
                committed |= has;
                missing |= !has && view.decided()[i] != txid;
            }
            decided[i] = committed || !missing ? txid : 0;
        }
        long committedCount = pending.stream().filter(p -> decided[p.block() - request.firstStripe()] == p.txid()).count();
        metrics.ecTerminations.labelValues("committed").inc(committedCount);
        metrics.ecTerminations.labelValues("aborted").inc(pending.size() - committedCount);
        log.info("chunk {} stripes {}..{}: {} undecided strip(s) of an earlier master ({}) found here; {} committed,"
                + " {} aborted", Long.toHexString(request.chunkUid()), request.firstStripe(),
                request.firstStripe() + count - 1, pending.size(), String.join(",", masters.isEmpty()
                        ? List.of("unknown") : masters), committedCount, pending.size() - committedCount);
        EcSection section = EcSection.byDecided(decided);
        ByteBuf payload = Unpooled.buffer(section.encodedBytes());
        section.writeTo(payload);
        master.log(WalRecordFormat.TYPE_EC_RESOLVE, request.chunkUid(), offsetBytes, lengthBytes, payload);
    }

    /**
     * Step 1 of {@link #terminate}: the earlier master's PEEK view, or null when it gives none. A
     * STALE_VERSION from a server that is still a column of the request's layout means the request is
     * behind (the client refreshes); from one that is not, it only says that server no longer holds the
     * chunk (meta rebuilt its column elsewhere and it deleted its copy): it can never answer again, so
     * the columns decide (step 2). Failing the request there would fail every later write and rebuild
     * of these stripes for good (seen in ThrashIT: a paused master's column rebuilt elsewhere).
     */
    private EcSection askEarlierMaster(StripeMaster.Request request, String earlier) throws CsException {
        try {
            return StripeMaster.await(master.peek(request, earlier), earlier);
        } catch (CsException e) {
            if (request.layout().addresses().contains(earlier)) {
                throw e;
            }
            log.info("chunk {}: earlier master {} no longer holds the chunk ({}); the columns decide",
                    Long.toHexString(request.chunkUid()), earlier, e.getMessage());
            return null;
        }
    }

    /** Every other usable column's PEEK view of the request's stripes; null where it could not answer. */
    private EcSection[] peekColumns(StripeMaster.Request request) throws CsException {
        EcLayout layout = request.layout();
        List<CompletableFuture<EcSection>> asks = new ArrayList<>();
        for (int col = 0; col < layout.width(); col++) {
            boolean ask = col != layout.masterIndex() && layout.usable(col);
            asks.add(ask ? master.peek(request, layout.address(col)) : null);
        }
        EcSection[] views = new EcSection[layout.width()];
        for (int col = 0; col < views.length; col++) {
            views[col] = asks.get(col) == null ? null : StripeMaster.await(asks.get(col), layout.address(col));
        }
        return views;
    }
}
