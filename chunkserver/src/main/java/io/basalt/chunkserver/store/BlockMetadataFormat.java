package io.basalt.chunkserver.store;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32C;

/**
 * Layout of a chunklet's block-metadata sidecar file {@code chunklets/<uid>.meta}: a fixed header,
 * then one fixed-size entry per 4 KiB block at a computable offset, so updating a block's metadata
 * is one positioned write and needs no index. Big-endian. Same table in {@code docs/formats.md}.
 *
 * <pre>
 * Header (64 bytes)
 *   0  u32  magic 0x42434C4D "BCLM"
 *   4  u8   formatVersion (2; a version-1 file from an earlier build is rewritten as 2 when opened)
 *   5  u8[3] reserved, 0
 *   8  u64  chunkUid
 *  16  u32  blockSizeBytes (4096)
 *  20  u8[40] reserved, 0
 *  60  u32  crc32c of bytes [0, 60)
 *
 * Entry i (24 bytes at 64 + 24 * i): block i = chunklet bytes [4096 * i, 4096 * (i + 1))
 *   0  u64  lsn: WAL LSN of the write that produced the block; 0 = no data (never written, or
 *           trimmed: the block reads as zeroes without disk I/O)
 *   8  u64  blockVersion: the chunk version of the request (write, trim, fill) that last set the
 *           block; 0 with lsn 0 = never touched. Recovery compares it across replicas.
 *  16  u32  blockCrc32c: CRC32C of the block's 4096 data bytes (0 when lsn is 0)
 *  20  u32  entryCrc32c: CRC32C of (chunkUid u64, i u64, lsn u64, blockVersion u64, blockCrc32c
 *           u32), so a torn entry or one written to the wrong place is detected
 * An all-zero entry means "never touched".
 *
 * Version 1 (earlier builds): 16-byte entries (u64 lsn, u32 blockCrc32c, u32 entryCrc32c of
 * (chunkUid, i, lsn, blockCrc32c)); no block version (read as 0).
 * </pre>
 *
 * <p>Why a sidecar and not RocksDB: the metadata of a block is 12 bytes at a fixed place, written in
 * the same WAL apply as the data and made durable by the same checkpoint; a fixed layout needs no
 * compaction, no second log and no JNI in the data path, and a torn entry is repaired by WAL replay
 * (the checkpoint only advances after the sidecar is forced).
 */
public final class BlockMetadataFormat {
    public static final int FORMAT_VERSION = 2;
    public static final int FORMAT_VERSION_1 = 1;
    public static final int MAGIC = 0x42434C4D;
    public static final int HEADER_BYTES = 64;
    public static final int ENTRY_BYTES = 24;
    public static final int ENTRY_BYTES_V1 = 16;
    public static final int HEADER_CHUNK_UID_OFFSET = 8;
    public static final int HEADER_BLOCK_SIZE_OFFSET = 16;
    public static final int HEADER_CRC_OFFSET = 60;
    public static final int ENTRY_LSN_OFFSET = 0;
    public static final int ENTRY_VERSION_OFFSET = 8;
    public static final int ENTRY_BLOCK_CRC_OFFSET = 16;
    public static final int ENTRY_CRC_OFFSET = 20;
    private static final int V1_BLOCK_CRC_OFFSET = 8;
    private static final int V1_ENTRY_CRC_OFFSET = 12;

    private BlockMetadataFormat() {}

    public static long entryOffset(long blockIndex) {
        return HEADER_BYTES + ENTRY_BYTES * blockIndex;
    }

    public static ByteBuffer header(long chunkUid, int blockSizeBytes) {
        ByteBuffer header = ByteBuffer.allocate(HEADER_BYTES).order(ByteOrder.BIG_ENDIAN);
        header.putInt(0, MAGIC);
        header.put(4, (byte) FORMAT_VERSION);
        header.putLong(HEADER_CHUNK_UID_OFFSET, chunkUid);
        header.putInt(HEADER_BLOCK_SIZE_OFFSET, blockSizeBytes);
        CRC32C crc = new CRC32C();
        crc.update(header.duplicate().limit(HEADER_CRC_OFFSET));
        header.putInt(HEADER_CRC_OFFSET, (int) crc.getValue());
        return header;
    }

    /**
     * Checks a header read from {@code file}; throws with a clear message for bad magic/CRC, an
     * unknown format version, or a chunk uid that does not match the file name. Returns the format
     * version (1 or 2).
     */
    public static int checkHeader(ByteBuffer header, long expectedChunkUid, String file) {
        header = header.duplicate().order(ByteOrder.BIG_ENDIAN);
        if (header.remaining() < HEADER_BYTES || header.getInt(0) != MAGIC) {
            throw new IllegalStateException("block metadata " + file + ": bad magic or short header");
        }
        CRC32C crc = new CRC32C();
        crc.update(header.duplicate().limit(HEADER_CRC_OFFSET));
        if (header.getInt(HEADER_CRC_OFFSET) != (int) crc.getValue()) {
            throw new IllegalStateException("block metadata " + file + ": header CRC mismatch");
        }
        int formatVersion = header.get(4) & 0xff;
        if (formatVersion != FORMAT_VERSION && formatVersion != FORMAT_VERSION_1) {
            throw new IllegalStateException("block metadata " + file + " has format version " + formatVersion
                    + "; this build knows " + FORMAT_VERSION_1 + " and " + FORMAT_VERSION);
        }
        long chunkUid = header.getLong(HEADER_CHUNK_UID_OFFSET);
        if (chunkUid != expectedChunkUid) {
            throw new IllegalStateException("block metadata " + file + " is for chunk " + Long.toHexString(chunkUid)
                    + ", not " + Long.toHexString(expectedChunkUid));
        }
        int blockSize = header.getInt(HEADER_BLOCK_SIZE_OFFSET);
        if (blockSize != 4096) {
            throw new IllegalStateException("block metadata " + file + " has block size " + blockSize + " (this build: 4096)");
        }
        return formatVersion;
    }

    public static int entryCrc(long chunkUid, long blockIndex, long lsn, long version, int blockCrc) {
        CRC32C crc = new CRC32C();
        ByteBuffer scratch = ByteBuffer.allocate(36).order(ByteOrder.BIG_ENDIAN);
        scratch.putLong(chunkUid).putLong(blockIndex).putLong(lsn).putLong(version).putInt(blockCrc).flip();
        crc.update(scratch);
        return (int) crc.getValue();
    }

    private static int entryCrcV1(long chunkUid, long blockIndex, long lsn, int blockCrc) {
        CRC32C crc = new CRC32C();
        ByteBuffer scratch = ByteBuffer.allocate(28).order(ByteOrder.BIG_ENDIAN);
        scratch.putLong(chunkUid).putLong(blockIndex).putLong(lsn).putInt(blockCrc).flip();
        crc.update(scratch);
        return (int) crc.getValue();
    }

    /**
     * Writes entry {@code blockIndex} at {@code at} in {@code buffer}: lsn 0 and version 0 write all
     * zeroes (never touched); lsn 0 with a version is a block that reads as zeroes since that version.
     */
    public static void putEntry(ByteBuffer buffer, int at, long chunkUid, long blockIndex, long lsn, long version,
            int blockCrc) {
        if (lsn == 0 && version == 0) {
            buffer.putLong(at, 0).putLong(at + 8, 0).putLong(at + 16, 0);
            return;
        }
        if (lsn == 0) {
            blockCrc = 0;
        }
        buffer.putLong(at + ENTRY_LSN_OFFSET, lsn);
        buffer.putLong(at + ENTRY_VERSION_OFFSET, version);
        buffer.putInt(at + ENTRY_BLOCK_CRC_OFFSET, blockCrc);
        buffer.putInt(at + ENTRY_CRC_OFFSET, entryCrc(chunkUid, blockIndex, lsn, version, blockCrc));
    }

    /** Result of decoding one entry. */
    public static final long LSN_CORRUPT = -1;

    /** One decoded entry: {@code lsn} 0 for no data, {@link #LSN_CORRUPT} when its CRC does not match. */
    public record Entry(long lsn, long version, int blockCrc) {
        static final Entry UNTOUCHED = new Entry(0, 0, 0);
        static final Entry CORRUPT = new Entry(LSN_CORRUPT, 0, 0);
    }

    /** Decodes entry {@code blockIndex} at {@code at} of a file of {@code formatVersion}. */
    public static Entry entry(ByteBuffer buffer, int at, long chunkUid, long blockIndex, int formatVersion) {
        if (formatVersion == FORMAT_VERSION_1) {
            long lsn = buffer.getLong(at + ENTRY_LSN_OFFSET);
            int blockCrc = buffer.getInt(at + V1_BLOCK_CRC_OFFSET);
            int entryCrc = buffer.getInt(at + V1_ENTRY_CRC_OFFSET);
            if (lsn == 0 && blockCrc == 0 && entryCrc == 0) {
                return Entry.UNTOUCHED;
            }
            if (lsn <= 0 || entryCrc != entryCrcV1(chunkUid, blockIndex, lsn, blockCrc)) {
                return Entry.CORRUPT;
            }
            return new Entry(lsn, 0, blockCrc);
        }
        long lsn = buffer.getLong(at + ENTRY_LSN_OFFSET);
        long version = buffer.getLong(at + ENTRY_VERSION_OFFSET);
        int blockCrc = buffer.getInt(at + ENTRY_BLOCK_CRC_OFFSET);
        int entryCrc = buffer.getInt(at + ENTRY_CRC_OFFSET);
        if (lsn == 0 && version == 0 && blockCrc == 0 && entryCrc == 0) {
            return Entry.UNTOUCHED;
        }
        if (lsn < 0 || version < 0 || entryCrc != entryCrc(chunkUid, blockIndex, lsn, version, blockCrc)) {
            return Entry.CORRUPT;
        }
        return new Entry(lsn, version, blockCrc);
    }

    /** Bytes of one entry in a file of {@code formatVersion}. */
    public static int entryBytes(int formatVersion) {
        return formatVersion == FORMAT_VERSION_1 ? ENTRY_BYTES_V1 : ENTRY_BYTES;
    }
}
