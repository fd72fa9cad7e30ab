package io.basalt.chunkserver.recovery;

import io.basalt.chunkserver.MetaLink;
import io.basalt.chunkserver.ec.StripeMaster;
import io.basalt.chunkserver.store.ChunkletStore;
import io.basalt.chunkserver.wal.WalRecordFormat;
import io.basalt.protocol.data.BlockCrc;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import io.basalt.protocol.data.EcLayout;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.io.IOException;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Recovers one column of an erasure-coded chunk on this chunk server: the stripe master rebuilds the
 * column's strips from k strips whose versions agree (STRIP_REBUILD, under its stripe locks), and they
 * are logged here as EC_FILL records. The request carries this column's own versions, so a returning
 * column (catch-up) is sent only the stripes written while it was away, and stripes never written are
 * skipped everywhere.
 *
 * <p>Why nothing a client wrote is lost: this column is RECOVERING, and the master writes RECOVERING
 * columns too (EcLayout "recovering"), so every write after the recovery began reaches it with a
 * transaction version above every version its stripe had; an EC_FILL applies a strip only where its
 * version is the higher one (docs/chunkserver.md, "Recovery"). The master must fence the recovery's
 * version first, so that no client with an older map writes through it without this column.
 */
final class EcRecovery {
    private static final int S = EcLayout.STRIP_BYTES;
    /** Rebuild requests in flight at once: the master reads and decodes them in parallel. */
    private static final int LANES = 4;

    private final MetaLink.RecoveryTask task;
    private final RecoveryContext context;
    private final ReplicaRecovery.Progress progress;

    EcRecovery(MetaLink.RecoveryTask task, RecoveryContext context, ReplicaRecovery.Progress progress) {
        this.task = task;
        this.context = context;
        this.progress = progress;
    }

    void run() throws IOException, InterruptedException {
        ParityBootstrap bootstrap = ParityBootstrap.of(task, context, progress);
        if (bootstrap != null) {
            bootstrap.run(); // every parity column lost: the first is encoded from the data columns
            return;
        }
        int k = task.dataCount();
        int column = task.targetIndex();
        MetaLink.Member master = null;
        for (MetaLink.Member member : task.members()) {
            if (master == null && member.index() >= k && member.upToDate() && member.index() != column) {
                master = member;
            }
        }
        if (master == null) {
            throw new IOException("no UPTODATE parity column to act as stripe master");
        }
        context.versions().chunkVersion(task.chunkUid(), task.chunkVersion());
        if (!RecoveryIo.fenced(context, task, master)) {
            throw new IOException("the stripe master (cs " + master.csId() + ") does not fence version "
                    + task.startVersion() + " yet");
        }
        EcLayout layout = task.layout(master.index(), column);
        int stripesPerRequest = StripeMaster.REBUILD_STRIPES_MAX;
        long stripes = task.chunkletSizeBytes() / S;
        long ranges = (stripes + stripesPerRequest - 1) / stripesPerRequest;
        progress.bytesTotal = task.chunkletSizeBytes();
        AtomicInteger next = new AtomicInteger();
        MetaLink.Member source = master;
        RecoveryIo.inParallel(context, LANES, lane -> {
            for (long r = next.getAndIncrement(); r < ranges; r = next.getAndIncrement()) {
                long first = r * stripesPerRequest;
                int count = (int) Math.min(stripesPerRequest, stripes - first);
                rebuildRange(source, layout, first, count);
            }
        });
    }

    /** Asks the master for this column's strips of stripes [first, first + count) and logs them here. */
    private void rebuildRange(MetaLink.Member master, EcLayout layout, long first, int count)
            throws IOException, InterruptedException {
        int k = layout.k();
        int n = task.targetIndex() < k ? 1 : k;
        ChunkletStore.StripVersions own = context.store().versions(task.chunkUid(), first * S, count * S);
        ByteBuf payload = PooledByteBufAllocator.DEFAULT.directBuffer(8 + count * n * 8 + layout.encodedBytes());
        payload.writeByte(task.targetIndex()).writeByte(n).writeShort(0).writeInt(count * n * 8);
        for (int si = 0; si < count; si++) {
            for (int j = 0; j < n; j++) {
                payload.writeLong(own.n() == n ? own.versions()[si * n + j] : 0);
            }
        }
        layout.writeTo(payload);
        context.throttle().acquire((long) count * S);
        DataClient.Reply reply = RecoveryIo.await(context.clients().request(master.address(),
                DataFrame.TYPE_STRIP_REBUILD, task.chunkUid(), task.chunkVersion(), first * layout.stripeBytes(),
                count * layout.stripeBytes(), payload));
        try {
            if (reply.status() != CsStatus.OK) {
                throw RecoveryIo.failure("rebuilding column " + task.targetIndex() + " of chunk "
                        + Long.toHexString(task.chunkUid()) + " at stripe " + first + " through the stripe master cs "
                        + master.csId(), reply);
            }
            ByteBuf strips = reply.payload();
            int at = strips.readerIndex();
            int included = 0;
            for (int si = 0; si < count; si++) {
                included += strips.getUnsignedByte(at + si);
            }
            int stripBytes = S + 4 + 8 * n;
            if (strips.readableBytes() != count + included * stripBytes) {
                throw new IOException("STRIP_REBUILD reply of " + strips.readableBytes() + " bytes from cs "
                        + master.csId());
            }
            for (int i = 0; i < included; i++) {
                int stripAt = at + count + i * stripBytes;
                if (BlockCrc.of(strips, stripAt, S) != strips.getInt(stripAt + S)) {
                    throw new IOException("a rebuilt strip of chunk " + Long.toHexString(task.chunkUid())
                            + " from cs " + master.csId() + " fails its CRC32C on arrival");
                }
            }
            if (included > 0) {
                ByteBuf fill = PooledByteBufAllocator.DEFAULT.directBuffer(4 + strips.readableBytes());
                fill.writeByte(n).writeZero(3).writeBytes(strips, at, strips.readableBytes());
                RecoveryIo.log(context, WalRecordFormat.TYPE_EC_FILL, task, first * S, count * S, fill);
                context.recordCopied(task.catchUp(), (long) included * S);
                progress.add(0, included, 0);
            }
            progress.add((long) count * S, 0, 0);
        } finally {
            reply.release();
        }
    }
}
