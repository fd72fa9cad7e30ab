package io.basalt.chunkserver.recovery;

import io.basalt.chunkserver.MetaLink;
import io.basalt.chunkserver.ec.StripeMaster;
import io.basalt.chunkserver.wal.WalRecordFormat;
import io.basalt.ec.ErasureCodec;
import io.basalt.ec.ErasureCodecs;
import io.basalt.protocol.data.BlockCrc;
import io.basalt.protocol.data.CsException;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import io.basalt.protocol.data.EcLayout;
import io.basalt.protocol.data.EcSection;
import io.basalt.protocol.data.StripWriteSection;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Rebuilds a parity column of an erasure-coded chunk that has no stripe master left: every parity
 * column is lost, the k data columns are UPTODATE. While no parity column took writes the data columns
 * took them directly (ec.DirectStripWrite); this column's RECOVERING state is a new chunk version,
 * and nobody writes the chunk once every data column fences it (a write needs a master again, and a
 * data column's INFO reports its version only once no direct write of an older one is in flight). So
 * this column, the lowest-indexed parity column, reads the data columns itself and encodes its
 * strips; once it is UPTODATE it is the master and the other parity columns are rebuilt through it
 * as usual ({@link EcRecovery}).
 *
 * <p>Strips the lost master left pending on data columns are rolled forward (committed): an
 * acknowledged write was prepared on every column, so committing keeps it; a write that was never
 * acknowledged may keep some of its strips, which is what a failed write may leave (its client
 * retries it or was told it failed). Rolling back could lose an acknowledged write.
 *
 * <p>Each data column must fence the recovery's version first, so that an old master (a parity server
 * that comes back with an outdated map) can no longer prepare on it.
 */
final class ParityBootstrap {
    private static final Logger log = LoggerFactory.getLogger(ParityBootstrap.class);
    private static final int S = EcLayout.STRIP_BYTES;
    private static final int STRIPES_PER_RANGE = 64;

    private final MetaLink.RecoveryTask task;
    private final RecoveryContext context;
    private final ReplicaRecovery.Progress progress;
    private final List<MetaLink.Member> data = new ArrayList<>();
    /** Hot copies of the data columns folded into their strips before they were encoded (logged at the end). */
    private long foldedStrips;

    private ParityBootstrap(MetaLink.RecoveryTask task, RecoveryContext context, ReplicaRecovery.Progress progress) {
        this.task = task;
        this.context = context;
        this.progress = progress;
    }

    /**
     * The bootstrap for {@code task}, or null when it does not apply (a master exists, or the target is
     * a data column). Throws when it applies but cannot run: a data column is not UPTODATE (too many
     * lost: the chunk cannot be rebuilt), or a lower parity column is being rebuilt and goes first.
     */
    static ParityBootstrap of(MetaLink.RecoveryTask task, RecoveryContext context, ReplicaRecovery.Progress progress)
            throws IOException {
        int k = task.dataCount();
        MetaLink.Member[] byIndex = new MetaLink.Member[k + task.parityCount()];
        for (MetaLink.Member member : task.members()) {
            byIndex[member.index()] = member;
        }
        for (int p = k; p < byIndex.length; p++) {
            if (byIndex[p] != null && byIndex[p].upToDate() && p != task.targetIndex()) {
                return null; // there is a master
            }
        }
        if (task.targetIndex() < k) {
            return null;
        }
        // Parity columns being filled go lowest first (it becomes the master, the others are filled
        // through it); a lower one that is only OUTDATED (its server away or paused) does not hold this
        // one back: it would wait for a server that may not come back soon, and writes with it.
        for (int p = k; p < task.targetIndex(); p++) {
            if (byIndex[p] != null && byIndex[p].recovering()) {
                throw new IOException("no stripe master: parity column " + p + " is rebuilt from the data columns"
                        + " first, then this one through it");
            }
        }
        ParityBootstrap bootstrap = new ParityBootstrap(task, context, progress);
        for (int c = 0; c < k; c++) {
            if (byIndex[c] == null || !byIndex[c].upToDate()) {
                throw new IOException("no stripe master and data column " + c + " is not UPTODATE: "
                        + task.parityCount() + " parity columns and a data column lost: more than ec" + k + "+"
                        + task.parityCount() + " survives; the chunk's data cannot be rebuilt");
            }
            bootstrap.data.add(byIndex[c]);
        }
        return bootstrap;
    }

    void run() throws IOException, InterruptedException {
        context.versions().chunkVersion(task.chunkUid(), task.chunkVersion());
        for (MetaLink.Member column : data) {
            if (!RecoveryIo.fenced(context, task, column)) {
                throw new IOException("data column " + column.index() + " (cs " + column.csId()
                        + ") does not fence version " + task.startVersion() + " yet");
            }
        }
        int k = task.dataCount();
        ErasureCodec codec = ErasureCodecs.create(k, task.parityCount());
        long stripes = task.chunkletSizeBytes() / S;
        progress.bytesTotal = task.chunkletSizeBytes();
        for (long first = 0; first < stripes; first += STRIPES_PER_RANGE) {
            int count = (int) Math.min(STRIPES_PER_RANGE, stripes - first);
            context.throttle().acquire((long) count * S * k);
            rebuildRange(codec, (int) first, count);
            progress.add((long) count * S, 0, 0);
        }
        if (foldedStrips > 0) {
            log.info("chunk {}: {} hot copies that only the data columns held were folded into their strips before"
                    + " parity column {} was encoded", Long.toHexString(task.chunkUid()), foldedStrips,
                    task.targetIndex());
        }
    }

    /** Encodes this column's strips of stripes [first, first + count) from the data columns and logs them. */
    private void rebuildRange(ErasureCodec codec, int first, int count) throws IOException, InterruptedException {
        int k = task.dataCount();
        ByteBuf[] strips = new ByteBuf[k];
        long[][] versions = new long[k][];
        try {
            for (int c = 0; c < k; c++) {
                MetaLink.Member column = data.get(c);
                EcSection view = peek(column, first, count);
                long[] decided = decided(view, count);
                strips[c] = read(column, first, count, decided);
                if (foldHotCopies(column, first, count, view)) {
                    strips[c].release();
                    strips[c] = read(column, first, count, decided);
                }
                versions[c] = new long[count];
                for (int si = 0; si < count; si++) {
                    versions[c][si] = strips[c].getLong(count * (S + 4) + 8 * si);
                }
            }
            ByteBuf fill = PooledByteBufAllocator.DEFAULT.directBuffer(4 + count + count * (S + 4 + 8 * k));
            fill.writeByte(k).writeZero(3);
            boolean[] written = new boolean[count];
            int included = 0;
            for (int si = 0; si < count; si++) {
                for (int c = 0; c < k; c++) {
                    written[si] |= versions[c][si] != 0;
                }
                fill.writeByte(written[si] ? 1 : 0);
                included += written[si] ? 1 : 0;
            }
            ByteBuf parity = Unpooled.directBuffer(task.parityCount() * S).writeZero(task.parityCount() * S);
            try {
                for (int si = 0; si < count; si++) {
                    if (!written[si]) {
                        continue;
                    }
                    MemorySegment[] in = new MemorySegment[k];
                    for (int c = 0; c < k; c++) {
                        in[c] = MemorySegment.ofBuffer(strips[c].nioBuffer(si * S, S));
                    }
                    MemorySegment[] out = new MemorySegment[task.parityCount()];
                    for (int p = 0; p < out.length; p++) {
                        out[p] = MemorySegment.ofBuffer(parity.nioBuffer(p * S, S));
                    }
                    codec.encode(in, out, 0, S);
                    int own = (task.targetIndex() - k) * S;
                    fill.writeBytes(parity, own, S).writeInt(BlockCrc.of(parity, own, S));
                    for (int c = 0; c < k; c++) {
                        fill.writeLong(versions[c][si]);
                    }
                }
            } finally {
                parity.release();
            }
            if (included == 0) {
                fill.release();
                return;
            }
            RecoveryIo.log(context, WalRecordFormat.TYPE_EC_FILL, task, (long) first * S, count * S, fill);
            context.recordCopied(task.catchUp(), (long) included * S);
            progress.add(0, included, 0);
        } finally {
            for (ByteBuf strip : strips) {
                if (strip != null) {
                    strip.release();
                }
            }
        }
    }

    /**
     * Folds the column's hot copies that are newer than its strips into the strips, so that the parity
     * encoded from them holds them; returns whether it folded any. An acknowledged hot write reached
     * every parity column and the block's data column (docs/hot-tier.md); with every parity column
     * lost, the data column's copy is the only one left, and a parity encoded from the cold strips
     * alone left it out: the new master's EC reads (a client's whenever a data column's read fails)
     * returned the older strip, and a later loss of the data column would have lost the write (the
     * thrasher, seed 37071181518505). The column writes each run itself, as a direct write
     * (STRIP_WRITE: a version above every version of those stripes at any data column, so a parity
     * column caught up from this one replaces its older strip, and the hot copy is dead by the read
     * rule); the data is its plain READ, which is what its readers see. Nothing else writes the
     * chunk meanwhile: there is no master, and every data column fenced this recovery's version.
     * A copy whose write was never acknowledged (a failed hot write) is kept too, as a failed write
     * may keep some of its blocks; the data column's reads returned it already.
     */
    private boolean foldHotCopies(MetaLink.Member column, int first, int count, EcSection view)
            throws IOException, InterruptedException {
        long[] held = heldVersions(column, first, count);
        boolean folded = false;
        for (int si = 0; si < count; si++) {
            if (!hotCopyNewer(held, view, si)) {
                continue;
            }
            int end = si + 1;
            while (end < count && hotCopyNewer(held, view, end)) {
                end++;
            }
            fold(column, first + si, end - si);
            folded = true;
            si = end;
        }
        return folded;
    }

    private static boolean hotCopyNewer(long[] held, EcSection view, int si) {
        long committed = view.versionsPerBlock() == 0 ? 0 : view.versions()[si];
        return held != null && held[si] > Math.max(committed, view.decided()[si]);
    }

    /**
     * The column's PEEK_HELD of the stripes: per strip the committed version raised to the seq of its
     * hot copy there; null when it holds nothing of the chunk.
     */
    private long[] heldVersions(MetaLink.Member column, int first, int count) throws IOException, InterruptedException {
        EcSection ask = EcSection.peekHeld(count, 1);
        ByteBuf payload = Unpooled.buffer(ask.encodedBytes());
        ask.writeTo(payload);
        DataClient.Reply reply = RecoveryIo.await(context.clients().request(column.address(),
                DataFrame.TYPE_STRIP_READ, task.chunkUid(), task.chunkVersion(), (long) first * S, count * S, payload));
        try {
            if (reply.status() == CsStatus.UNAVAILABLE && reply.message().contains(StripeMaster.NO_COLUMN_HERE)) {
                return null;
            }
            if (reply.status() != CsStatus.OK) {
                throw RecoveryIo.failure("held peek at data column " + column.index() + " (cs " + column.csId() + ")",
                        reply);
            }
            ByteBuf frame = reply.payload();
            EcSection held = EcSection.read(frame, frame.readerIndex(), frame.readableBytes(), count);
            if (held.mode() != EcSection.MODE_PEEK_HELD || held.versions().length != count) {
                throw new IOException("held peek at data column " + column.index() + " (cs " + column.csId()
                        + ") answered mode " + held.mode() + " with " + held.versions().length + " versions for "
                        + count + " strips");
            }
            return held.versions();
        } catch (CsException e) {
            throw new IOException("held peek at data column " + column.index() + ": " + e.getMessage(), e);
        } finally {
            reply.release();
        }
    }

    /** Reads the column's strips [stripe, stripe + strips) as its readers see them and writes them back as its own. */
    private void fold(MetaLink.Member column, int stripe, int strips) throws IOException, InterruptedException {
        int bytes = strips * S;
        DataClient.Reply read = RecoveryIo.await(context.clients().request(column.address(), DataFrame.TYPE_READ,
                task.chunkUid(), task.chunkVersion(), (long) stripe * S, bytes, null));
        ByteBuf write;
        try {
            if (read.status() != CsStatus.OK) {
                throw RecoveryIo.failure("read of hot copies at data column " + column.index() + " (cs "
                        + column.csId() + ")", read);
            }
            ByteBuf frame = read.payload();
            if (frame.readableBytes() != bytes + 4 * strips) {
                throw new IOException("data column " + column.index() + " sent " + frame.readableBytes() + " bytes for a "
                        + bytes + "-byte read");
            }
            BlockCrc.verify(frame, frame.readerIndex(), (long) stripe * S, strips, task.chunkUid());
            write = Unpooled.buffer(bytes + 4 * strips + 8 + 256 * data.size());
            write.writeBytes(frame, frame.readerIndex(), bytes + 4 * strips);
        } catch (CsException e) {
            throw new IOException("read of hot copies at data column " + column.index() + ": " + e.getMessage(), e);
        } finally {
            read.release();
        }
        List<String> addresses = new ArrayList<>(data.size());
        for (MetaLink.Member member : data) {
            addresses.add(member.address());
        }
        StripWriteSection.write(write, column.index(), task.dataCount(), task.parityCount(), addresses);
        DataClient.Reply reply = RecoveryIo.await(context.clients().request(column.address(),
                DataFrame.TYPE_STRIP_WRITE, task.chunkUid(), task.chunkVersion(), (long) stripe * S, bytes, write));
        try {
            if (reply.status() != CsStatus.OK) {
                throw RecoveryIo.failure("fold of hot copies into data column " + column.index() + " (cs "
                        + column.csId() + ")", reply);
            }
        } finally {
            reply.release();
        }
        foldedStrips += strips;
    }

    /** The column's committed versions of the stripes and the transaction each has pending (a PEEK). */
    private EcSection peek(MetaLink.Member column, int first, int count) throws IOException, InterruptedException {
        EcSection view;
        try {
            view = RecoveryIo.await(StripeMaster.peekMember(context.clients(), column.address(), task.chunkUid(),
                    task.chunkVersion(), first, count));
        } catch (IOException e) {
            throw new IOException("peek at data column " + column.index() + ": " + e.getMessage(), e);
        }
        if (view == null) {
            throw new IOException("data column " + column.index() + " (cs " + column.csId() + ") did not answer a"
                    + " peek of stripes " + first + "+" + count);
        }
        return view;
    }

    /** Per strip, the transaction to commit: the one pending there (rolled forward), else its version. */
    private static long[] decided(EcSection view, int count) {
        long[] decided = new long[count];
        for (int si = 0; si < count; si++) {
            long pendingTxid = view.decided()[si];
            decided[si] = pendingTxid != 0 ? pendingTxid : (view.versionsPerBlock() == 0 ? 0 : view.versions()[si]);
        }
        return decided;
    }

    /**
     * STRIP_READ of the column's strips, settling pending ones by {@code decided}: the reply's data,
     * CRCs and then one version per strip, copied (released by the caller).
     */
    private ByteBuf read(MetaLink.Member column, int first, int count, long[] decided)
            throws IOException, InterruptedException {
        EcSection section = EcSection.byDecided(decided);
        ByteBuf payload = Unpooled.buffer(section.encodedBytes());
        section.writeTo(payload);
        DataClient.Reply reply = RecoveryIo.await(context.clients().request(column.address(),
                DataFrame.TYPE_STRIP_READ, task.chunkUid(), task.chunkVersion(), (long) first * S, count * S, payload));
        try {
            if (reply.status() != CsStatus.OK) {
                // STALE_VERSION: the chunk moved on (a parity column came back): restarted at once.
                throw RecoveryIo.failure("strip read from data column " + column.index() + " (cs " + column.csId()
                        + ")", reply);
            }
            ByteBuf frame = reply.payload();
            int at = frame.readerIndex();
            int blockBytes = count * (S + 4);
            BlockCrc.verify(frame, at, (long) first * S, count, task.chunkUid());
            EcSection got = EcSection.read(frame, at + blockBytes, frame.readableBytes() - blockBytes, count);
            ByteBuf copy = PooledByteBufAllocator.DEFAULT.directBuffer(blockBytes + 8 * count);
            copy.writeBytes(frame, at, blockBytes);
            for (int si = 0; si < count; si++) {
                copy.writeLong(got.versionsPerBlock() == 0 ? 0 : got.versions()[si]);
            }
            return copy;
        } catch (CsException e) {
            throw new IOException("strip read from data column " + column.index() + ": " + e.getMessage(), e);
        } finally {
            reply.release();
        }
    }
}
