package io.basalt.chunkserver.protocol;

import static io.basalt.protocol.data.BlockCrc.BLOCK_SHIFT;
import static io.basalt.protocol.data.BlockCrc.BLOCK_SIZE_BYTES;

import io.basalt.chunkserver.hot.HotStore;
import io.basalt.chunkserver.store.ChunkletStore;
import io.basalt.chunkserver.wal.WalEntry;
import io.basalt.chunkserver.wal.WalRecordFormat;
import io.basalt.protocol.data.BlockCrc;
import io.basalt.protocol.data.CsException;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataFrame;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;

/**
 * The data handler's hot-tier requests (docs/hot-tier.md), apart so that the handler stays one
 * protocol's dispatch: HOT_PUT (a stripe master's hot write of blocks to this replica) and the
 * hot-over-cold merge of a plain READ on a data column.
 */
final class HotRequests {
    private HotRequests() {}

    /**
     * Checks a HOT_PUT frame (range, payload, every block's CRC32C, the chunk version fence) and
     * returns its HOT_WRITE WAL entry, whose payload is a copy with room for the slots.
     */
    static WalEntry hotPut(DataService service, ByteBuf frame, ByteBufAllocator alloc, WalEntry.Completion completion)
            throws CsException {
        if (service.hot() == null) {
            throw new CsException(CsStatus.HOT_FULL, "this chunk server has no hot store");
        }
        long chunkUid = DataFrame.chunkUid(frame);
        long offsetBytes = DataFrame.offsetBytes(frame);
        long lengthBytes = DataFrame.lengthBytes(frame);
        if (lengthBytes <= 0 || lengthBytes > service.lengthMaxBytes() || offsetBytes < 0
                || ((offsetBytes | lengthBytes) & (BLOCK_SIZE_BYTES - 1)) != 0) {
            throw new CsException(CsStatus.INVALID, "hot put range " + offsetBytes + "+" + lengthBytes
                    + " is not whole 4 KiB blocks (length max " + service.lengthMaxBytes() + ")");
        }
        int blocks = (int) (lengthBytes >> BLOCK_SHIFT);
        int payloadBytes = (int) DataFrame.payloadBytes(frame);
        int expected = blocks * (BLOCK_SIZE_BYTES + 4) + WalRecordFormat.HOT_SECTION_BYTES;
        if (payloadBytes != expected) {
            throw new CsException(CsStatus.INVALID, "hot put payload of " + payloadBytes + " bytes, expected "
                    + expected + " for " + blocks + " blocks");
        }
        int dataAt = frame.readerIndex() + DataFrame.HEADER_BYTES;
        BlockCrc.verify(frame, dataAt, offsetBytes, blocks, chunkUid);
        service.versions().check(chunkUid, DataFrame.chunkVersion(frame));
        ByteBuf payload = alloc.buffer(payloadBytes + 4 * blocks);
        payload.writeBytes(frame, dataAt, payloadBytes).writeZero(4 * blocks);
        return new WalEntry(WalRecordFormat.TYPE_HOT_WRITE, chunkUid, offsetBytes, (int) lengthBytes, payload,
                completion).withChunkVersion(DataFrame.chunkVersion(frame));
    }

    /** Checks a HOT_FREE frame and returns its HOT_FREE WAL entry (payload copied). */
    static WalEntry hotFree(DataService service, ByteBuf frame, ByteBufAllocator alloc, WalEntry.Completion completion)
            throws CsException {
        if (service.hot() == null) {
            throw new CsException(CsStatus.NOT_SUPPORTED, "this chunk server has no hot store");
        }
        long offsetBytes = DataFrame.offsetBytes(frame);
        long lengthBytes = DataFrame.lengthBytes(frame);
        if (lengthBytes <= 0 || lengthBytes > Integer.MAX_VALUE - BLOCK_SIZE_BYTES || offsetBytes < 0
                || ((offsetBytes | lengthBytes) & (BLOCK_SIZE_BYTES - 1)) != 0
                || DataFrame.payloadBytes(frame) != WalRecordFormat.HOT_SECTION_BYTES) {
            throw new CsException(CsStatus.INVALID, "hot free range " + offsetBytes + "+" + lengthBytes + " with "
                    + DataFrame.payloadBytes(frame) + " payload bytes (whole 4 KiB blocks, "
                    + WalRecordFormat.HOT_SECTION_BYTES + " bytes expected)");
        }
        ByteBuf payload = alloc.buffer(WalRecordFormat.HOT_SECTION_BYTES);
        payload.writeBytes(frame, frame.readerIndex() + DataFrame.HEADER_BYTES, WalRecordFormat.HOT_SECTION_BYTES);
        return new WalEntry(WalRecordFormat.TYPE_HOT_FREE, DataFrame.chunkUid(frame), offsetBytes, (int) lengthBytes,
                payload, completion);
    }

    /** Whether a READ of this range must merge hot blocks (so it is not served inline). */
    static boolean hasHot(DataService service, long chunkUid, long offsetBytes, int lengthBytes) {
        HotStore hot = service.hot();
        return hot != null && hot.any(chunkUid, offsetBytes >> BLOCK_SHIFT, (offsetBytes + lengthBytes) >> BLOCK_SHIFT);
    }

    /** Tries of a merged read before it gives up to the stripe master (strips kept changing under it). */
    private static final int MERGE_TRIES_MAX = 4;

    /**
     * A data column's READ with its hot blocks merged: appends to {@code out} the data then one CRC
     * per block, where every block whose hot copy here is newer than its strip (the read rule) is the
     * hot copy. Consistent without holding the chunklet while it reads: the hot side is held still
     * ({@link HotStore#mergeLock}), and the strip versions read before and after the cold read must
     * agree (else the read is tried again; after a few tries PENDING sends the client to the master).
     * A chunklet that keeps no strip versions has version 0 for every strip.
     */
    static void read(DataService service, long chunkUid, long offsetBytes, int lengthBytes, ByteBuf out)
            throws CsException {
        HotStore hot = service.hot();
        ChunkletStore store = service.store();
        long firstBlock = offsetBytes >> BLOCK_SHIFT;
        int blocks = lengthBytes >> BLOCK_SHIFT;
        int dataAt = out.writerIndex();
        hot.mergeLock().lock();
        try {
            for (int attempt = 0; attempt < MERGE_TRIES_MAX; attempt++) {
                ChunkletStore.StripVersions before = store.versions(chunkUid, offsetBytes, lengthBytes);
                out.writerIndex(dataAt);
                store.read(chunkUid, offsetBytes, lengthBytes, out);
                ChunkletStore.StripVersions after = store.versions(chunkUid, offsetBytes, lengthBytes);
                if (before.n() != after.n() || !java.util.Arrays.equals(before.versions(), after.versions())) {
                    continue;
                }
                if (after.n() > 1) {
                    return; // a parity column: its hot blocks are keyed apart (HotStore.PARITY_KEY_BASE)
                }
                for (int i = 0; i < blocks; i++) {
                    long coldVersion = after.n() == 0 ? 0 : after.versions()[i];
                    HotStore.HotBlock found = hot.readInto(chunkUid, firstBlock + i, coldVersion, out,
                            dataAt + i * BLOCK_SIZE_BYTES);
                    if (found != null) {
                        out.setInt(dataAt + lengthBytes + 4 * i, found.crc());
                    }
                }
                return;
            }
        } finally {
            hot.mergeLock().unlock();
        }
        throw new CsException(CsStatus.PENDING, "chunk " + Long.toHexString(chunkUid) + " range " + offsetBytes + "+"
                + lengthBytes + " kept changing while its hot blocks were merged; read it through the stripe master");
    }
}
