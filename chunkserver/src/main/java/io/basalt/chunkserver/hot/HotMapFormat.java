package io.basalt.chunkserver.hot;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.zip.CRC32C;

/**
 * The hot store's extent map as of a checkpoint, {@code HOT/hot.map}, replaced atomically. All
 * integers big-endian; the same table is in docs/formats.md ("Hot store"). Change both together.
 *
 * <pre>
 *   0  u32  magic 0x42484D50 "BHMP"
 *   4  u8   formatVersion (1)
 *   5  u8[3] reserved, 0
 *   8  u64  lsn: the map holds every hot record with lsn &lt;= this (replay applies only later ones)
 *  16  u64  entryCount
 *  24  entryCount entries of 32 bytes, each:
 *         0  u64  chunkUid
 *         8  u64  block: the chunk-logical 4 KiB block
 *        16  u32  slot in hot.data (byte offset slot * 4096)
 *        20  u64  seq (newest wins; one order with the EC strip versions)
 *        28  u32  crc32c of the block's 4096 bytes
 *  end  u32  crc32c of every byte before it
 * </pre>
 */
final class HotMapFormat {
    static final int MAGIC = 0x42484D50;
    static final int FORMAT_VERSION = 1;
    static final int HEADER_BYTES = 24;
    static final int LSN_OFFSET = 8;
    static final int COUNT_OFFSET = 16;
    static final int ENTRY_BYTES = 32;
    static final int ENTRY_UID = 0;
    static final int ENTRY_BLOCK = 8;
    static final int ENTRY_SLOT = 16;
    static final int ENTRY_SEQ = 20;
    static final int ENTRY_CRC = 28;
    /** Bound on what a reader allocates for a map file (2^26 entries: 256 GiB of hot data). */
    static final long ENTRIES_MAX = 1L << 26;

    /** One map entry, as written and read. */
    record Entry(long chunkUid, long block, int slot, long seq, int crc) {}

    /** The decoded file: its LSN and entries. */
    record Snapshot(long lsn, java.util.List<Entry> entries) {}

    private HotMapFormat() {}

    static ByteBuffer encode(long lsn, java.util.List<Entry> entries) {
        ByteBuffer buffer = ByteBuffer.allocate(HEADER_BYTES + entries.size() * ENTRY_BYTES + 4)
                .order(ByteOrder.BIG_ENDIAN);
        buffer.putInt(0, MAGIC);
        buffer.put(4, (byte) FORMAT_VERSION);
        buffer.putLong(LSN_OFFSET, lsn);
        buffer.putLong(COUNT_OFFSET, entries.size());
        int at = HEADER_BYTES;
        for (Entry entry : entries) {
            buffer.putLong(at + ENTRY_UID, entry.chunkUid());
            buffer.putLong(at + ENTRY_BLOCK, entry.block());
            buffer.putInt(at + ENTRY_SLOT, entry.slot());
            buffer.putLong(at + ENTRY_SEQ, entry.seq());
            buffer.putInt(at + ENTRY_CRC, entry.crc());
            at += ENTRY_BYTES;
        }
        buffer.putInt(at, crc(buffer, at));
        return buffer;
    }

    /** Decodes {@code buffer} (the whole file); {@code file} names it in errors. */
    static Snapshot decode(ByteBuffer buffer, Path file) throws IOException {
        buffer.order(ByteOrder.BIG_ENDIAN);
        if (buffer.remaining() < HEADER_BYTES + 4 || buffer.getInt(0) != MAGIC) {
            throw new IOException("hot map " + file + " is not a hot map (" + buffer.remaining() + " bytes)");
        }
        int formatVersion = buffer.get(4) & 0xff;
        if (formatVersion != FORMAT_VERSION) {
            throw new IOException("hot map " + file + " has format version " + formatVersion + "; this build knows "
                    + FORMAT_VERSION);
        }
        long count = buffer.getLong(COUNT_OFFSET);
        if (count < 0 || count > ENTRIES_MAX || buffer.remaining() != HEADER_BYTES + count * ENTRY_BYTES + 4) {
            throw new IOException("hot map " + file + " has " + buffer.remaining() + " bytes for " + count
                    + " entries");
        }
        int end = (int) (HEADER_BYTES + count * ENTRY_BYTES);
        if (buffer.getInt(end) != crc(buffer, end)) {
            throw new IOException("hot map " + file + " fails its CRC32C: damaged; the hot store cannot be trusted");
        }
        java.util.List<Entry> entries = new java.util.ArrayList<>((int) count);
        for (int at = HEADER_BYTES; at < end; at += ENTRY_BYTES) {
            entries.add(new Entry(buffer.getLong(at + ENTRY_UID), buffer.getLong(at + ENTRY_BLOCK),
                    buffer.getInt(at + ENTRY_SLOT), buffer.getLong(at + ENTRY_SEQ), buffer.getInt(at + ENTRY_CRC)));
        }
        return new Snapshot(buffer.getLong(LSN_OFFSET), entries);
    }

    private static int crc(ByteBuffer buffer, int end) {
        CRC32C crc = new CRC32C();
        crc.update(buffer.duplicate().position(0).limit(end));
        return (int) crc.getValue();
    }
}
