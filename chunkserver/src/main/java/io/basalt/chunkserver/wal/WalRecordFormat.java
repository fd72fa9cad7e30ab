package io.basalt.chunkserver.wal;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32C;

/**
 * The WAL's on-disk layouts: segment header, record header, checkpoint file. All integers are
 * big-endian. The same tables are in {@code docs/formats.md}, "Chunk server"; change both together.
 *
 * <pre>
 * Segment header (32 bytes, at offset 0 of every segment file wal/NNNNNNNNNNNNNNNNNNNN.wal)
 *   0  u32  magic 0x42575347 "BWSG"
 *   4  u8   formatVersion: 3 fresh (preallocated) segment, 4 recycled segment (see below); this
 *           build also reads 1 and 2, the same without a salt (written by earlier builds)
 *   5  u8[3] reserved, 0
 *   8  u64  firstLsn: LSN of the first record in this segment; equals the number in the name
 *  16  u64  segmentBytes: preallocated size of the file
 *  24  u32  salt: random, nonzero, new for every segment (formats 3, 4; 0 in formats 1, 2)
 *  28  u32  crc32c of bytes [0, 28)
 *
 * Record (48-byte header + payload), back to back after the segment header. After the last record
 * a fresh segment (formatVersion 3) holds zeroes (preallocated), so a zero magic ends the log. A
 * recycled segment (formatVersion 4: a spare file NNNN.spare, renamed after its header was
 * rewritten with a new salt) holds the records of its previous life: their CRCs were computed with
 * another salt, so they fail it, and their lsn &lt; firstLsn; either ends the log. The salt is why
 * no bytes the writer did not write in this segment's life can pass as a record, not even a record
 * forged inside a client's old data: the salt is on the disk only. Records are formatVersion 2
 * (this build writes) or 1 (earlier builds: no chunk version, read as 0) in all segment formats.
 *   0  u32  magic 0x4257414C "BWAL"
 *   4  u8   formatVersion (2; 1 from earlier builds)
 *   5  u8   type: 1 WRITE, 2 TRIM, 3 WRITE_ZEROES, 4 DELETE_CHUNKLET (meta removed the chunk
 *           from this CS: its files go; offsetBytes and lengthBytes 0, no payload), 5-7 EC (below),
 *           8 FILL (recovery: blocks copied from a healthy replica, see {@link #TYPE_FILL}), 9 EC_FILL
 *           (recovery of an erasure-coded column, see {@link #TYPE_EC_FILL}), 10 REPAIR (scrub),
 *           11 WRITE_PLACED, 12 FILL_PLACED, 13 HOT_WRITE, 14 HOT_FREE (hot store, chunk-logical range)
 *   6  u16  chunkVersion, high 16 bits of 48 (formatVersion 2; 0 in 1)
 *   8  u64  lsn: previous record's + 1, starting at 1
 *  16  u64  chunkUid
 *  24  u64  offsetBytes in the chunklet (multiple of 4096)
 *  32  u32  lengthBytes (multiple of 4096)
 *  36  u32  payloadBytes: WRITE: lengthBytes + 4 * blocks (data, then one u32 CRC32C per
 *           4 KiB block, exactly as on the wire); TRIM, WRITE_ZEROES, DELETE_CHUNKLET: 0
 *  40  u32  chunkVersion, low 32 bits (formatVersion 2; 0 in 1): the chunk version the request
 *           carried (the fence it passed), recorded per block so that recovery can tell which
 *           blocks a client wrote after a rebuild began (docs/chunkserver.md, "Recovery")
 *  44  u32  crc32c of the segment's salt (u32, big-endian; nothing in formats 1, 2), then header
 *           bytes [0, 44), then the payload
 *  48       payload
 *
 * Checkpoint file wal/checkpoint (24 bytes, replaced atomically by rename)
 *   0  u32  magic 0x42574350 "BWCP"
 *   4  u8   formatVersion (1)
 *   5  u8[3] reserved
 *   8  u64  checkpointLsn: every record with lsn <= this is applied and forced in chunklet files
 *  16  u32  reserved, 0
 *  20  u32  crc32c of bytes [0, 20)
 * </pre>
 */
public final class WalRecordFormat {
    /** Segment header (lowest), checkpoint file and earliest record format version. */
    public static final int FORMAT_VERSION = 1;
    /** Record format version this build writes: 1 plus the chunk version in bytes 6-7 and 40-43. */
    public static final int RECORD_FORMAT_VERSION = 2;
    /** Chunk versions above this do not fit the record's 48 bits (meta bumps by one per event). */
    public static final long CHUNK_VERSION_MAX = (1L << 48) - 1;

    /**
     * Segment header formatVersion of a recycled segment without a salt (earlier builds): after its
     * last record come the previous life's records (lsn &lt; firstLsn), which end the log. A distinct
     * version so that a build that does not know recycling refuses the segment by name ("format
     * version 2") instead of calling the old records damage.
     */
    public static final int SEGMENT_FORMAT_VERSION_RECYCLED = 2;
    /** Segment header formatVersion of a fresh segment with a salt: what this build writes. */
    public static final int SEGMENT_FORMAT_VERSION_SALTED = 3;
    /**
     * Segment header formatVersion of a recycled segment with a salt. New versions, not a flag in a
     * reserved byte, because a build that knew only 1 and 2 would check the salted CRCs without the
     * salt, take every record for a torn tail and cut acknowledged data; this way it refuses to start.
     */
    public static final int SEGMENT_FORMAT_VERSION_SALTED_RECYCLED = 4;
    public static final int SEGMENT_SALT_OFFSET = 24;

    public static final int SEGMENT_MAGIC = 0x42575347;
    public static final int SEGMENT_HEADER_BYTES = 32;
    public static final int SEGMENT_FIRST_LSN_OFFSET = 8;
    public static final int SEGMENT_SIZE_OFFSET = 16;
    public static final int SEGMENT_CRC_OFFSET = 28;

    public static final int RECORD_MAGIC = 0x4257414C;
    public static final int HEADER_BYTES = 48;
    public static final int MAGIC_OFFSET = 0;
    public static final int FORMAT_VERSION_OFFSET = 4;
    public static final int TYPE_OFFSET = 5;
    public static final int LSN_OFFSET = 8;
    public static final int CHUNK_UID_OFFSET = 16;
    public static final int OFFSET_OFFSET = 24;
    public static final int LENGTH_OFFSET = 32;
    public static final int PAYLOAD_BYTES_OFFSET = 36;
    public static final int CHUNK_VERSION_HIGH_OFFSET = 6;
    public static final int CHUNK_VERSION_LOW_OFFSET = 40;
    public static final int CRC_OFFSET = 44;

    public static final int CHECKPOINT_MAGIC = 0x42574350;
    public static final int CHECKPOINT_BYTES = 24;

    public static final int TYPE_WRITE = 1;
    public static final int TYPE_TRIM = 2;
    public static final int TYPE_WRITE_ZEROES = 3;
    /**
     * Logged like a write so that it is ordered with them: writes before it are applied and then
     * deleted, a write after it starts a new chunklet, and replay repeats exactly that. A build
     * without this type stops at such a record ("unknown type 4") rather than skip it.
     */
    public static final int TYPE_DELETE_CHUNKLET = 4;
    /**
     * Erasure coding (docs/formats.md, "EC section"): a strip written but not yet decided (kept
     * pending, not applied, until a RESOLVE or a later record's decided generations settle it).
     */
    public static final int TYPE_EC_PREPARE = 5;
    /** The stripe master's own strips of a decided transaction, with their versions: applied at once. */
    public static final int TYPE_EC_WRITE = 6;
    /** Settles pending strips of a range (commit or abort); payload: an EC section only. */
    public static final int TYPE_EC_RESOLVE = 7;
    /**
     * Recovery: blocks copied from a healthy replica into this (RECOVERING) chunklet. The record's
     * chunk version is the version at which the recovery began: a block is filled only if the
     * chunklet's own version of it is below that, i.e. no client write or trim that passed that
     * fence has reached it, so a fill never overwrites what a client wrote after the copy was read.
     * Payload: per block u8 kind (0 never written, 1 zeroes, 2 data, 4 skip), u64 block version, u32
     * CRC32C (big-endian, 13 bytes a block), then the 4 KiB data of every kind-2 block in order.
     */
    public static final int TYPE_FILL = 8;
    /**
     * Recovery of an erasure-coded column: strips rebuilt by the stripe master (STRIP_REBUILD) for this
     * RECOVERING column. A strip is written only if the versions it carries are newer (by their
     * highest) than the column's own, so a strip that a write committed here after the master rebuilt
     * it is kept. Payload: u8 n (versions per strip), u8[3] 0, u8 per block (1 included, 0 skipped), then
     * per included block 4096 bytes, u32 CRC32C, n u64 versions.
     */
    public static final int TYPE_EC_FILL = 9;
    /**
     * Scrub repair of one damaged block (offset: the block, length 4096): a good copy from redundancy,
     * applied only if the block's LSN is still the one the scrubber saw damaged. Payload: u64 expected
     * LSN (-1: a damaged metadata entry), u8 n (EC strip versions; 0 replicated), u8 kind (0 never
     * written, 1 zeroes, 2 data), u64 block version, u32 CRC32C, n u64 strip versions, then 4096 bytes
     * of data for kind 2.
     */
    public static final int TYPE_REPAIR = 10;
    /**
     * A big first write whose data went straight to its place in the chunklet file, made durable
     * there (fdatasync) before this record was appended: the record carries only the metadata, one
     * u32 CRC32C per 4 KiB block (payload 4 × blocks), and applying it makes the blocks visible.
     * Only ever for blocks no metadata entry refers to (never written or trimmed), so a crash before
     * the record leaves them unwritten whatever the file holds, and one after it finds the data
     * durable. Live entries are WRITEs that {@link WalEntry#markPlaced() the store placed}; a build
     * without this type stops at such a record ("unknown type 11") rather than skip it.
     */
    public static final int TYPE_WRITE_PLACED = 11;
    /**
     * A recovery FILL into blocks that hold no data, its data blocks written in place and synced
     * before this record (as {@link #TYPE_WRITE_PLACED}); the payload is the FILL's per-block section
     * only ({@link #FILL_BLOCK_BYTES} a block), applied with the FILL's guard.
     */
    public static final int TYPE_FILL_PLACED = 12;
    /**
     * Hot store (docs/hot-tier.md): small writes of an erasure-coded chunk kept as replicas in
     * redirect-on-write slots. The header's offsetBytes and lengthBytes are the chunk-logical range
     * (not a chunklet's). Payload: the data, one u32 CRC32C per 4 KiB block, then a hot section:
     * u8 hotFormatVersion (1), u8[3] 0, u64 seq, then one u32 slot per block (chosen by the hot
     * store at prepare, in log order, so that replay repeats the placement without an allocator).
     * The record's own CRC covers it all. A build without this type stops at it ("unknown type 13").
     */
    public static final int TYPE_HOT_WRITE = 13;
    /**
     * Frees the hot entries of a chunk-logical range whose seq is at most the record's (a freeze
     * made them older than the cold strips). Payload: u8 hotFormatVersion (1), u8[3] 0, u64 seqMax.
     */
    public static final int TYPE_HOT_FREE = 14;
    /** Version of the hot section in HOT_WRITE and HOT_FREE payloads; a reader refuses others. */
    public static final int HOT_FORMAT_VERSION = 1;
    /** Bytes of a HOT_WRITE's hot section before its slots, and of a HOT_FREE payload. */
    public static final int HOT_SECTION_BYTES = 12;

    /** Bytes of a FILL payload's per-block section entry. */
    public static final int FILL_BLOCK_BYTES = 13;

    private WalRecordFormat() {}

    /** Writes a record header into {@code header} (48 bytes from its position) except the CRC. */
    static void putHeader(ByteBuffer header, int type, long lsn, long chunkUid, long offsetBytes,
            int lengthBytes, int payloadBytes, long chunkVersion) {
        if (chunkVersion < 0 || chunkVersion > CHUNK_VERSION_MAX) {
            throw new IllegalArgumentException("chunk version " + chunkVersion + " does not fit 48 bits");
        }
        int base = header.position();
        header.order(ByteOrder.BIG_ENDIAN);
        header.putInt(base + MAGIC_OFFSET, RECORD_MAGIC);
        header.put(base + FORMAT_VERSION_OFFSET, (byte) RECORD_FORMAT_VERSION);
        header.put(base + TYPE_OFFSET, (byte) type);
        header.putShort(base + CHUNK_VERSION_HIGH_OFFSET, (short) (chunkVersion >>> 32));
        header.putLong(base + LSN_OFFSET, lsn);
        header.putLong(base + CHUNK_UID_OFFSET, chunkUid);
        header.putLong(base + OFFSET_OFFSET, offsetBytes);
        header.putInt(base + LENGTH_OFFSET, lengthBytes);
        header.putInt(base + PAYLOAD_BYTES_OFFSET, payloadBytes);
        header.putInt(base + CHUNK_VERSION_LOW_OFFSET, (int) chunkVersion);
        header.putInt(base + CRC_OFFSET, 0);
    }

    /** The chunk version of the record whose header is at {@code at} (0 in a formatVersion 1 record). */
    static long chunkVersion(ByteBuffer data, int at) {
        if ((data.get(at + FORMAT_VERSION_OFFSET) & 0xff) < RECORD_FORMAT_VERSION) {
            return 0;
        }
        return ((data.getShort(at + CHUNK_VERSION_HIGH_OFFSET) & 0xffffL) << 32)
                | (data.getInt(at + CHUNK_VERSION_LOW_OFFSET) & 0xffffffffL);
    }

    /**
     * The record CRC: the segment's {@code salt} (none when 0: segment formats 1 and 2), header bytes
     * [0, 44), then the payload buffers' remaining bytes.
     */
    static int recordCrc(int salt, ByteBuffer headerAt, ByteBuffer... payload) {
        CRC32C crc = new CRC32C();
        if (salt != 0) {
            crc.update(salt >>> 24);
            crc.update(salt >>> 16);
            crc.update(salt >>> 8);
            crc.update(salt);
        }
        crc.update(headerAt.duplicate().limit(headerAt.position() + CRC_OFFSET));
        for (ByteBuffer part : payload) {
            crc.update(part.duplicate());
        }
        return (int) crc.getValue();
    }

    public static String typeName(int type) {
        return switch (type) {
            case TYPE_WRITE -> "WRITE";
            case TYPE_TRIM -> "TRIM";
            case TYPE_WRITE_ZEROES -> "WRITE_ZEROES";
            case TYPE_DELETE_CHUNKLET -> "DELETE_CHUNKLET";
            case TYPE_EC_PREPARE -> "EC_PREPARE";
            case TYPE_EC_WRITE -> "EC_WRITE";
            case TYPE_EC_RESOLVE -> "EC_RESOLVE";
            case TYPE_FILL -> "FILL";
            case TYPE_EC_FILL -> "EC_FILL";
            case TYPE_REPAIR -> "REPAIR";
            case TYPE_WRITE_PLACED -> "WRITE_PLACED";
            case TYPE_FILL_PLACED -> "FILL_PLACED";
            case TYPE_HOT_WRITE -> "HOT_WRITE";
            case TYPE_HOT_FREE -> "HOT_FREE";
            default -> "type " + type;
        };
    }

    static boolean knownType(int type) {
        return type >= TYPE_WRITE && type <= TYPE_HOT_FREE;
    }

    /** Types whose record carries a payload (the others carry none). */
    public static boolean hasPayload(int type) {
        return type == TYPE_WRITE || type == TYPE_EC_PREPARE || type == TYPE_EC_WRITE || type == TYPE_EC_RESOLVE
                || type == TYPE_FILL || type == TYPE_EC_FILL || type == TYPE_REPAIR || type == TYPE_WRITE_PLACED
                || type == TYPE_FILL_PLACED || type == TYPE_HOT_WRITE || type == TYPE_HOT_FREE;
    }

    /** Types the hot store applies (the chunklet store never sees them). */
    public static boolean isHot(int type) {
        return type == TYPE_HOT_WRITE || type == TYPE_HOT_FREE;
    }

    /** Types whose payload starts with block data and CRCs. */
    public static boolean carriesBlocks(int type) {
        return type == TYPE_WRITE || type == TYPE_EC_PREPARE || type == TYPE_EC_WRITE;
    }

    /** A segment header: a salted fresh one, or with {@code recycled} a salted recycled one. */
    static ByteBuffer segmentHeader(long firstLsn, long segmentBytes, boolean recycled, int salt) {
        if (salt == 0) {
            throw new IllegalArgumentException("a segment salt is nonzero");
        }
        ByteBuffer header = ByteBuffer.allocate(SEGMENT_HEADER_BYTES).order(ByteOrder.BIG_ENDIAN);
        header.putInt(0, SEGMENT_MAGIC);
        header.put(4, (byte) (recycled ? SEGMENT_FORMAT_VERSION_SALTED_RECYCLED : SEGMENT_FORMAT_VERSION_SALTED));
        header.putLong(SEGMENT_FIRST_LSN_OFFSET, firstLsn);
        header.putLong(SEGMENT_SIZE_OFFSET, segmentBytes);
        header.putInt(SEGMENT_SALT_OFFSET, salt);
        header.putInt(SEGMENT_CRC_OFFSET, crc(header, 0, SEGMENT_CRC_OFFSET));
        return header;
    }

    /** Whether a segment of header {@code formatVersion} holds a previous life's records after its own. */
    static boolean isRecycled(int formatVersion) {
        return formatVersion == SEGMENT_FORMAT_VERSION_RECYCLED
                || formatVersion == SEGMENT_FORMAT_VERSION_SALTED_RECYCLED;
    }

    /** The record-CRC salt of the segment whose header is at offset 0 of {@code segment}: 0 for formats 1, 2. */
    static int salt(ByteBuffer segment) {
        int formatVersion = segment.get(4) & 0xff;
        return formatVersion >= SEGMENT_FORMAT_VERSION_SALTED ? segment.getInt(SEGMENT_SALT_OFFSET) : 0;
    }

    static ByteBuffer checkpoint(long checkpointLsn) {
        ByteBuffer buffer = ByteBuffer.allocate(CHECKPOINT_BYTES).order(ByteOrder.BIG_ENDIAN);
        buffer.putInt(0, CHECKPOINT_MAGIC);
        buffer.put(4, (byte) FORMAT_VERSION);
        buffer.putLong(8, checkpointLsn);
        buffer.putInt(20, crc(buffer, 0, 20));
        return buffer;
    }

    static int crc(ByteBuffer buffer, int from, int to) {
        CRC32C crc = new CRC32C();
        crc.update(buffer.duplicate().limit(to).position(from));
        return (int) crc.getValue();
    }
}
