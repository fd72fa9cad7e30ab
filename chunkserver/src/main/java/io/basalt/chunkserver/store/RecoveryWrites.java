package io.basalt.chunkserver.store;

import static io.basalt.protocol.data.BlockCrc.BLOCK_SHIFT;
import static io.basalt.protocol.data.BlockCrc.BLOCK_SIZE_BYTES;

import io.basalt.chunkserver.wal.WalRecordFormat;
import io.netty.buffer.ByteBuf;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * How the WAL's recovery and repair records change a chunklet (applied on the WAL writer thread, and
 * again in replay, in WAL order with client writes): FILL and EC_FILL from a recovery, REPAIR from the
 * scrubber. Each has a guard that makes a client write that reached the chunklet first win.
 */
final class RecoveryWrites {
    private RecoveryWrites() {}

    /**
     * Applies a recovery FILL (WalRecordFormat.TYPE_FILL): each block of [first, first + count) takes
     * the kind, version, CRC and data its source had, but only where this chunklet's own version of the
     * block is below {@code guardVersion} (the chunk version at which the recovery began). Every client
     * write or trim that reached this chunklet since then passed that fence and carries a version at
     * least that high, so a block a client wrote after the source was read is never overwritten, and
     * replay, applying the same records in the same order, decides exactly the same.
     */
    static void fill(ChunkletStore store, long chunkUid, int first, int count, ByteBuf payload, long lsn,
            long guardVersion) throws IOException {
        fill(store, chunkUid, first, count, payload, lsn, guardVersion, false);
    }

    /**
     * As above; {@code dataInPlace}: the data blocks were written to their places before the record
     * was logged (a FILL_PLACED, or a FILL the store placed), so only the metadata is written.
     */
    static void fill(ChunkletStore store, long chunkUid, int first, int count, ByteBuf payload, long lsn,
            long guardVersion, boolean dataInPlace) throws IOException {
        Chunklet chunklet = store.chunkletForWrite(chunkUid);
        int sectionAt = payload.readerIndex();
        int dataAt = sectionAt + count * WalRecordFormat.FILL_BLOCK_BYTES;
        chunklet.lock.writeLock().lock();
        try {
            int dataIndex = dataAt;
            long filled = 0;
            for (int i = 0; i < count; i++) {
                int at = sectionAt + i * WalRecordFormat.FILL_BLOCK_BYTES;
                int kind = payload.getUnsignedByte(at);
                long version = payload.getLong(at + 1);
                int crc = payload.getInt(at + 9);
                int block = first + i;
                boolean apply = kind != ChunkletStore.FILL_SKIP && chunklet.blockVersion(block) < guardVersion;
                if (apply) {
                    long position = (long) block << BLOCK_SHIFT;
                    if (kind == ChunkletStore.FILL_DATA) {
                        if (!dataInPlace) {
                            ByteBuffer data = payload.nioBuffer(dataIndex, BLOCK_SIZE_BYTES);
                            while (data.hasRemaining()) {
                                position += chunklet.data.write(data, position);
                            }
                        }
                        chunklet.setBlocks(block, 1, lsn, new int[] {crc}, version);
                        filled += BLOCK_SIZE_BYTES;
                    } else {
                        store.punch(chunklet, position, BLOCK_SIZE_BYTES);
                        chunklet.setBlocks(block, 1, 0, null, kind == ChunkletStore.FILL_UNTOUCHED ? 0 : version);
                    }
                }
                if (kind == ChunkletStore.FILL_DATA) {
                    dataIndex += BLOCK_SIZE_BYTES;
                }
            }
            store.bytesSinceWriteback += filled;
        } finally {
            chunklet.lock.writeLock().unlock();
        }
    }

    /**
     * Applies an EC_FILL (WalRecordFormat.TYPE_EC_FILL): each included strip is written, with its
     * versions, only if its highest version is above the highest this column holds for that block.
     * Every committed write of a stripe gets a transaction version above all versions the stripe had,
     * and RECOVERING columns take part in writes, so a strip a write committed here after the master
     * rebuilt it carries a higher version and is kept; replay decides the same, in WAL order.
     */
    static void ecFill(ChunkletStore store, long chunkUid, int first, int count, ByteBuf payload, long lsn,
            long chunkVersion) throws IOException {
        int at = payload.readerIndex();
        int n = payload.getUnsignedByte(at);
        int flagsAt = at + 4;
        int stripAt = flagsAt + count;
        store.chunkletForWrite(chunkUid); // created here when the column is new
        for (int i = 0; i < count; i++) {
            if (payload.getUnsignedByte(flagsAt + i) == 0) {
                continue;
            }
            int versionsAt = stripAt + BLOCK_SIZE_BYTES + 4;
            long[] versions = new long[n];
            long incoming = 0;
            for (int j = 0; j < n; j++) {
                versions[j] = payload.getLong(versionsAt + 8 * j);
                incoming = Math.max(incoming, versions[j]);
            }
            if (store.newestVersion(chunkUid, first + i) < incoming) {
                store.writeBlocks(chunkUid, first + i, 1, payload, stripAt, lsn, chunkVersion, n, versions, 0);
                store.supersedePending(chunkUid, first + i, incoming);
            }
            stripAt = versionsAt + 8 * n;
        }
    }

    /**
     * Applies a REPAIR (WalRecordFormat.TYPE_REPAIR): one block found damaged by the scrubber, replaced
     * by a good copy from redundancy, only if the block's LSN is still the one the scrubber saw: a
     * client write (or trim) that reached it since made it good again, and wins.
     */
    static void repair(ChunkletStore store, long chunkUid, int block, ByteBuf payload, long lsn) throws IOException {
        Chunklet chunklet = store.chunklet(chunkUid);
        if (chunklet == null) {
            return; // deleted since: nothing to repair
        }
        int at = payload.readerIndex();
        long expectedLsn = payload.getLong(at);
        int n = payload.getUnsignedByte(at + 8);
        int kind = payload.getUnsignedByte(at + 9);
        long version = payload.getLong(at + 10);
        int crc = payload.getInt(at + 18);
        long[] versions = new long[n];
        for (int j = 0; j < n; j++) {
            versions[j] = payload.getLong(at + 22 + 8 * j);
        }
        int dataAt = at + 22 + 8 * n;
        chunklet.lock.readLock().lock();
        boolean unchanged;
        try {
            unchanged = !chunklet.deleted && chunklet.lsn(block) == expectedLsn;
        } finally {
            chunklet.lock.readLock().unlock();
        }
        if (!unchanged) {
            return;
        }
        if (n > 0) {
            // An erasure-coded strip: data, CRC and versions as a committed strip (zeroes become a hole).
            ByteBuf strip = payload.alloc().buffer(BLOCK_SIZE_BYTES + 4);
            try {
                if (kind == ChunkletStore.FILL_DATA) {
                    strip.writeBytes(payload, dataAt, BLOCK_SIZE_BYTES);
                } else {
                    strip.writeZero(BLOCK_SIZE_BYTES);
                }
                strip.writeInt(crc);
                store.writeBlocks(chunkUid, block, 1, strip, 0, lsn, version, n, versions, 0);
            } finally {
                strip.release();
            }
            return;
        }
        chunklet.lock.writeLock().lock();
        try {
            long position = (long) block << BLOCK_SHIFT;
            if (kind == ChunkletStore.FILL_DATA) {
                ByteBuffer data = payload.nioBuffer(dataAt, BLOCK_SIZE_BYTES);
                while (data.hasRemaining()) {
                    position += chunklet.data.write(data, position);
                }
                chunklet.setBlocks(block, 1, lsn, new int[] {crc}, version);
            } else {
                store.punch(chunklet, position, BLOCK_SIZE_BYTES);
                chunklet.setBlocks(block, 1, 0, null, kind == ChunkletStore.FILL_UNTOUCHED ? 0 : version);
            }
        } finally {
            chunklet.lock.writeLock().unlock();
        }
    }
}
