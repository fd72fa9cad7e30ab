package io.basalt.chunkserver.ec;

import io.basalt.chunkserver.hot.HotStore;
import io.basalt.chunkserver.store.ChunkletStore;
import io.basalt.chunkserver.wal.WalEntry;
import io.basalt.chunkserver.wal.WalRecordFormat;
import io.basalt.protocol.data.BlockCrc;
import io.basalt.protocol.data.CsException;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import io.basalt.protocol.data.EcSection;
import io.basalt.protocol.data.StripWriteSection;
import io.basalt.protocol.data.EcLayout;
import io.netty.buffer.ByteBuf;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * A data column's own write while no parity column of its chunk takes writes (STRIP_WRITE;
 * docs/chunkserver.md, "Writes with every parity column down"). With every parity column OUTDATED
 * there is no stripe master and no parity to keep consistent, so each data column takes its own
 * strips alone: under its stripe locks it gives them a version above every version, pending
 * transaction and hot copy of those blocks here, and logs them as an EC_FILL (which writes a strip
 * only where its version is the higher one and drops older pending strips of the block). One WAL
 * sync, no two-phase commit: the write touches one column.
 *
 * <p>Why nothing is lost when the parity columns come back: meta raises the chunk version when it
 * marks one RECOVERING, and the parity is then encoded from the data columns (ParityBootstrap) only
 * once every data column fences that version for every write it may still apply: INFO reports {@link
 * io.basalt.chunkserver.ChunkVersions#fencedVersion}, lowered while a direct write fenced at an older
 * version is in flight. A later write goes through the new master again, at a transaction version
 * above what the parity records. A transaction an earlier master left pending here loses to the
 * direct write (its version is lower), as it would to any later write of the block.
 */
final class DirectStripWrite {
    private static final int S = EcLayout.STRIP_BYTES;

    private DirectStripWrite() {}

    /**
     * The highest version, committed or pending, that the data column at {@code address} holds for
     * stripes [first, first + count) (a PEEK; 0 when it holds no column of the chunk yet: nothing was
     * written there). Fails the write when the column cannot tell.
     */
    private static long highestAt(StripeMaster master, String address, long chunkUid, long chunkVersion, int first,
            int count) throws CsException {
        DataClient.Reply reply;
        try {
            // Not StripeMaster.peek: a column that holds no chunklet yet is an answer here (versions 0).
            reply = StripeMaster.peekReply(master.clients, address, chunkUid, chunkVersion, first, count).join();
        } catch (java.util.concurrent.CompletionException e) {
            throw new CsException(CsStatus.REPLICA_FAILED, "replica " + address + " failed: "
                    + (e.getCause() == null ? e : e.getCause()).getMessage());
        }
        try {
            if (StripeMaster.answeredNoColumn(reply)) {
                return 0;
            }
            if (reply.status() == CsStatus.STALE_VERSION) {
                throw new CsException(CsStatus.STALE_VERSION, "column " + address + ": " + reply.message()
                        + " (refresh the chunk map and retry)");
            }
            if (reply.status() != CsStatus.OK) {
                throw new CsException(CsStatus.REPLICA_FAILED, "replica " + address + " answered " + reply.status()
                        + ": " + reply.message());
            }
            ByteBuf frame = reply.payload();
            EcSection view = EcSection.read(frame, frame.readerIndex(), frame.readableBytes(), count);
            return Math.max(StripeMaster.max(view.versions()), StripeMaster.max(view.decided()));
        } finally {
            reply.release();
        }
    }

    /** Runs a STRIP_WRITE frame (the caller keeps its reference); returns once the strips are applied. */
    static void write(StripeMaster master, ByteBuf frame) throws CsException {
        long chunkUid = DataFrame.chunkUid(frame);
        long chunkVersion = DataFrame.chunkVersion(frame);
        long offsetBytes = DataFrame.offsetBytes(frame);
        long lengthBytes = DataFrame.lengthBytes(frame);
        ChunkletStore store = master.store;
        if (offsetBytes < 0 || lengthBytes <= 0 || offsetBytes % S != 0 || lengthBytes % S != 0
                || offsetBytes + lengthBytes > store.chunkletSizeMaxBytes()) {
            throw new CsException(CsStatus.INVALID, "STRIP_WRITE of " + lengthBytes + " bytes at " + offsetBytes
                    + ": not whole 4096-byte strips inside a chunklet of " + store.chunkletSizeMaxBytes() + " bytes");
        }
        int count = (int) (lengthBytes / S);
        int first = (int) (offsetBytes / S);
        int dataAt = frame.readerIndex() + DataFrame.HEADER_BYTES;
        long payloadBytes = DataFrame.payloadBytes(frame);
        int sectionAt = dataAt + (int) lengthBytes + 4 * count;
        long sectionBytes = payloadBytes - lengthBytes - 4L * count;
        List<String> columns = StripWriteSection.read(frame, sectionAt, sectionBytes);
        int column = frame.getUnsignedByte(sectionAt + 1);
        BlockCrc.verify(frame, dataAt, offsetBytes, count, chunkUid);
        // Above every version the other data columns hold or have pending for these stripes: the parity
        // records only versions the data columns had, and a parity column coming back keeps a strip
        // unless the one rebuilt for it carries a higher version than any it records (EC_FILL's rule).
        // Asked before this column's locks are taken, so two columns asking each other never wait.
        long others = 0;
        for (int c = 0; c < columns.size(); c++) {
            if (c == column) {
                continue;
            }
            others = Math.max(others, highestAt(master, columns.get(c), chunkUid, chunkVersion, first, count));
        }
        master.fence().beginWrite(chunkUid, chunkVersion);
        try {
            master.lock(chunkUid, first, count);
            try {
                ChunkletStore.StripVersions versions = store.versions(chunkUid, offsetBytes, (int) lengthBytes);
                if (versions.n() > 1) {
                    throw new CsException(CsStatus.INVALID, "chunk " + Long.toHexString(chunkUid) + ": this column keeps "
                            + versions.n() + " versions per strip, a parity column: STRIP_WRITE is for data columns");
                }
                long highest = Math.max(others, StripeMaster.max(versions.versions()));
                for (ChunkletStore.PendingStrip pending : store.pendingStrips(chunkUid, offsetBytes, (int) lengthBytes)) {
                    highest = Math.max(highest, pending.txid());
                }
                HotStore hot = master.hot();
                if (hot != null) {
                    highest = Math.max(highest, hot.maxSeq(chunkUid, first, first + count));
                }
                long version = master.nextTxid(highest);
                ByteBuf fill = StripeMaster.pooled(4 + count + count * (S + 4 + 8));
                fill.writeByte(1).writeZero(3); // one version per strip: a data column
                for (int i = 0; i < count; i++) {
                    fill.writeByte(1);
                }
                for (int i = 0; i < count; i++) {
                    fill.writeBytes(frame, dataAt + i * S, S);
                    fill.writeInt(frame.getInt(dataAt + (int) lengthBytes + 4 * i));
                    fill.writeLong(version);
                }
                CompletableFuture<Void> done = new CompletableFuture<>();
                master.submit(new WalEntry(WalRecordFormat.TYPE_EC_FILL, chunkUid, offsetBytes, (int) lengthBytes,
                        fill, (entry, error) -> {
                            if (error != null) {
                                done.completeExceptionally(error);
                            } else {
                                done.complete(null);
                            }
                        }).withChunkVersion(chunkVersion));
                StripeMaster.join(done);
            } finally {
                master.unlock(chunkUid, first, count);
            }
        } finally {
            master.fence().endWrite(chunkUid, chunkVersion);
        }
    }
}
