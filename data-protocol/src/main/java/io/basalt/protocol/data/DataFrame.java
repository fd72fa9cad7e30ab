package io.basalt.protocol.data;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32C;

/**
 * The chunk server data protocol frame (client to CS and CS to CS), read in place: static readers at
 * named offsets over a {@link ByteBuf} that starts at the frame's first byte, no object per frame.
 * Big-endian (Netty's default). Same table in {@code docs/formats.md}, "Chunk server".
 *
 * <pre>
 * Header (56 bytes)
 *   0  u32  magic 0x42435344 "BCSD"
 *   4  u8   formatVersion (1)
 *   5  u8   type: request 1 READ, 2 WRITE, 3 WRITE_ZEROES, 4 TRIM, 5 FLUSH, 6 INFO, 7 FORWARD,
 *           8 EC_WRITE, 9 EC_READ, 10 STRIP_READ, 11 PREPARE, 12 RESOLVE, 13 BLOCK_MAP, 14 STRIP_REBUILD,
 *           15 STRIP_REPAIR (formats.md: payloads);
 *           a reply has the request's type | 0x80
 *   6  u16  flags: bit 0 BACKGROUND (a request of recovery or scrub: the server serves it after
 *           client requests, see FLAG_BACKGROUND); bit 1 RELAYED (a WRITE a primary relays to a
 *           replica, see FLAG_RELAYED); other bits must be 0
 *   8  u64  requestId: chosen by the client, echoed in the reply; unique among its requests in flight
 *  16  u64  chunkUid
 *  24  u64  chunkVersion: the version the client holds (fencing)
 *  32  u64  offsetBytes in the chunklet (multiple of 4096)
 *  40  u32  lengthBytes (multiple of 4096; 0 for FLUSH and INFO)
 *  44  u32  payloadBytes following the header
 *  48  u16  status (replies: CsStatus code; requests: 0)
 *  50  u16  reserved, 0
 *  52  u32  headerCrc32c of bytes [0, 52)
 *  56       payload
 *
 * Payloads
 *   WRITE request, READ reply (OK): lengthBytes of data, then one u32 CRC32C per 4 KiB block
 *   FORWARD request: as WRITE, then the replica list: u8 count, count x (u8 n, n bytes "host:port"
 *     UTF-8), then u32 CRC32C of the list bytes
 *   INFO reply (OK): u64 knownVersion (-1: none), u64 writtenBlocks, u64 allocatedBytes, u64 lastLsn,
 *     u32 exists (0/1), u32 CRC32C of the preceding 36 bytes
 *   BLOCK_MAP reply (OK): per 4 KiB block of the range: u8 kind (0 never written, 1 zeroes, 2 data,
 *     3 damaged metadata), u64 block version, u32 CRC32C; then u32 CRC32C of those bytes
 *   error reply (status != OK): UTF-8 message, then u32 CRC32C of the message bytes
 *   everything else: empty
 * </pre>
 */
public final class DataFrame {
    public static final int MAGIC = 0x42435344;
    public static final int FORMAT_VERSION = 1;
    public static final int HEADER_BYTES = 56;

    public static final int MAGIC_OFFSET = 0;
    public static final int FORMAT_VERSION_OFFSET = 4;
    public static final int TYPE_OFFSET = 5;
    public static final int FLAGS_OFFSET = 6;
    /**
     * A request of background work (recovery, scrub) rather than of a client: a READ with it is served
     * from the chunk server's background lane (one read at a time, never on the threads client reads
     * use), so copying a chunklet away does not queue clients' reads behind 1 MiB recovery reads.
     */
    public static final int FLAG_BACKGROUND = 1;
    /**
     * A WRITE that a primary relays to a replica, having accepted it (fenced) at its version: the
     * replica fences it at the chunk's writersFrom rather than its version (ChunkVersions,
     * "relayed writes"), so that a version raised without a change of chunklets (a snapshot) does
     * not make one replica refuse what the primary and the others applied. Only chunk servers may
     * send it (FORBIDDEN for other roles).
     */
    public static final int FLAG_RELAYED = 2;
    /** Every flag this version knows; a request with another bit set is refused. */
    public static final int FLAGS_KNOWN = FLAG_BACKGROUND | FLAG_RELAYED;
    public static final int REQUEST_ID_OFFSET = 8;
    public static final int CHUNK_UID_OFFSET = 16;
    public static final int CHUNK_VERSION_OFFSET = 24;
    public static final int OFFSET_OFFSET = 32;
    public static final int LENGTH_OFFSET = 40;
    public static final int PAYLOAD_BYTES_OFFSET = 44;
    public static final int STATUS_OFFSET = 48;
    public static final int HEADER_CRC_OFFSET = 52;

    public static final int TYPE_READ = 1;
    public static final int TYPE_WRITE = 2;
    public static final int TYPE_WRITE_ZEROES = 3;
    public static final int TYPE_TRIM = 4;
    public static final int TYPE_FLUSH = 5;
    public static final int TYPE_INFO = 6;
    public static final int TYPE_FORWARD = 7;
    /** Client to stripe master: write a chunk-logical range of an EC chunk (docs/formats.md). */
    public static final int TYPE_EC_WRITE = 8;
    /** Client to stripe master: read a chunk-logical range, reconstructing what a strip cannot give. */
    public static final int TYPE_EC_READ = 9;
    /** Master to a column: read strips with their versions, settling pending ones first. */
    public static final int TYPE_STRIP_READ = 10;
    /** Master to a column: log strips of a transaction as pending (phase one). */
    public static final int TYPE_PREPARE = 11;
    /** Master to a column: commit or abort a transaction's pending strips (phase two). */
    public static final int TYPE_RESOLVE = 12;
    /** Recovery: the block map (kind, version, CRC per block) of a range, metadata only. */
    public static final int TYPE_BLOCK_MAP = 13;
    /** Recovery: a column's strips as the stripe master decides them, rebuilt from the others. */
    public static final int TYPE_STRIP_REBUILD = 14;
    /**
     * Scrub, stripe master to a column: replace one strip that does not fit its stripe, only if it
     * still has the versions the master checked. Payload: u8 n, u8[3] 0, n u64 versions, 4096 bytes,
     * u32 CRC32C.
     */
    public static final int TYPE_STRIP_REPAIR = 15;
    /**
     * Client to stripe master (hot tier, docs/hot-tier.md): write part of one stripe of an EC chunk
     * to the hot replicas. Chunk-logical range inside one stripe, not the whole stripe; payload as
     * EC_WRITE (data, CRCs, EC layout). HOT_FULL: nothing written, write it as EC_WRITE.
     */
    public static final int TYPE_HOT_WRITE = 16;
    /**
     * Stripe master to a hot replica: log these blocks in the hot store. Range: the block keys (a
     * parity column: chunk-logical; a data column: its chunklet offset). Payload: data, CRCs, then
     * u8 hotFormatVersion (1), u8[3] 0, u64 seq.
     */
    public static final int TYPE_HOT_PUT = 17;
    /**
     * Stripe master to a hot replica, after a freeze committed: drop the hot blocks of the range (block
     * keys, as HOT_PUT) whose seq is at most the given one. Payload: u8 hotFormatVersion (1), u8[3] 0,
     * u64 seqMax.
     */
    public static final int TYPE_HOT_FREE = 18;
    /**
     * Client to a data column of an EC chunk while no parity column takes writes (every one
     * OUTDATED, so there is no stripe master): write these strips of this column alone
     * (docs/chunkserver.md, "Writes with every parity column down"). Range: the column's own blocks
     * (chunklet offset, as STRIP_READ). Payload: data, one CRC32C per block, then a
     * {@link StripWriteSection} (this column and the addresses of every data column).
     */
    public static final int TYPE_STRIP_WRITE = 19;
    /**
     * To the stripe master of an EC chunk: freeze now, whatever their age, the stripes of the range
     * (chunk-logical, whole stripes) that hold hot blocks there, with the layout the payload carries
     * (an EC layout, learned as the chunk's newest); answered once they are frozen. Snapshot create
     * sends it for the chunks it froze: a hot write in flight across the create that some replica
     * refused (the chunk's version moved on) left copies on the others, which a later freeze would
     * otherwise fold into the snapshot after it was first read (docs/snapshots.md).
     */
    public static final int TYPE_HOT_FREEZE = 20;
    /** The format version of a STRIP_WRITE's section ({@link StripWriteSection}). */
    public static final int STRIP_WRITE_FORMAT_VERSION = 1;
    public static final int REPLY = 0x80;

    /** An INFO reply: ends with contentDigest and the CRC32C (docs/formats.md). */
    public static final int INFO_PAYLOAD_BYTES = 56;
    /** An INFO reply of a server from before the content digest: no contentDigest. */
    public static final int INFO_PAYLOAD_BYTES_V2 = 48;
    /** An INFO reply of a server from before the hot tier: no hotBytes, no contentDigest. */
    public static final int INFO_PAYLOAD_BYTES_V1 = 40;
    /** Where an INFO reply (of {@link #INFO_PAYLOAD_BYTES}) carries the chunklet's content digest. */
    public static final int INFO_CONTENT_DIGEST_OFFSET = 44;

    private DataFrame() {}

    public static int magic(ByteBuf frame) {
        return frame.getInt(frame.readerIndex() + MAGIC_OFFSET);
    }

    public static int formatVersion(ByteBuf frame) {
        return frame.getUnsignedByte(frame.readerIndex() + FORMAT_VERSION_OFFSET);
    }

    public static int type(ByteBuf frame) {
        return frame.getUnsignedByte(frame.readerIndex() + TYPE_OFFSET);
    }

    public static int flags(ByteBuf frame) {
        return frame.getUnsignedShort(frame.readerIndex() + FLAGS_OFFSET);
    }

    public static long requestId(ByteBuf frame) {
        return frame.getLong(frame.readerIndex() + REQUEST_ID_OFFSET);
    }

    public static long chunkUid(ByteBuf frame) {
        return frame.getLong(frame.readerIndex() + CHUNK_UID_OFFSET);
    }

    public static long chunkVersion(ByteBuf frame) {
        return frame.getLong(frame.readerIndex() + CHUNK_VERSION_OFFSET);
    }

    public static long offsetBytes(ByteBuf frame) {
        return frame.getLong(frame.readerIndex() + OFFSET_OFFSET);
    }

    /** Unsigned length as a long (lengths above 2^31 are refused by the handler, not misread). */
    public static long lengthBytes(ByteBuf frame) {
        return frame.getUnsignedInt(frame.readerIndex() + LENGTH_OFFSET);
    }

    public static long payloadBytes(ByteBuf frame) {
        return frame.getUnsignedInt(frame.readerIndex() + PAYLOAD_BYTES_OFFSET);
    }

    public static int status(ByteBuf frame) {
        return frame.getUnsignedShort(frame.readerIndex() + STATUS_OFFSET);
    }

    public static int headerCrc(ByteBuf frame) {
        return frame.getInt(frame.readerIndex() + HEADER_CRC_OFFSET);
    }

    /** CRC32C of header bytes [0, 52) of the frame at {@code index}. */
    public static int computeHeaderCrc(ByteBuf buf, int index) {
        CRC32C crc = new CRC32C();
        crc.update(buf.nioBuffer(index, HEADER_CRC_OFFSET));
        return (int) crc.getValue();
    }

    /**
     * Writes a complete header at the writer index of {@code out} (which advances by 56), CRC
     * included; the caller then writes {@code payloadBytes} of payload.
     */
    public static void writeHeader(ByteBuf out, int type, int flags, long requestId, long chunkUid, long chunkVersion,
            long offsetBytes, long lengthBytes, long payloadBytes, int status) {
        int at = out.writerIndex();
        out.writeInt(MAGIC);
        out.writeByte(FORMAT_VERSION);
        out.writeByte(type);
        out.writeShort(flags);
        out.writeLong(requestId);
        out.writeLong(chunkUid);
        out.writeLong(chunkVersion);
        out.writeLong(offsetBytes);
        out.writeInt((int) lengthBytes);
        out.writeInt((int) payloadBytes);
        out.writeShort(status);
        out.writeShort(0);
        out.writeInt(computeHeaderCrc(out, at));
    }

    /** Rewrites the payload size and status of a header written earlier at {@code at}, and its CRC. */
    public static void patchHeader(ByteBuf out, int at, long payloadBytes, int status) {
        out.setInt(at + PAYLOAD_BYTES_OFFSET, (int) payloadBytes);
        out.setShort(at + STATUS_OFFSET, status);
        out.setInt(at + HEADER_CRC_OFFSET, computeHeaderCrc(out, at));
    }

    /** An error reply to {@code requestType}/{@code requestId}: status and a one-line message. */
    public static ByteBuf errorReply(ByteBufAllocator alloc, int requestType, long requestId, long chunkUid,
            int status, String message) {
        byte[] text = message.getBytes(StandardCharsets.UTF_8);
        ByteBuf out = alloc.buffer(HEADER_BYTES + text.length + 4);
        writeHeader(out, requestType | REPLY, 0, requestId, chunkUid, 0, 0, 0, text.length + 4L, status);
        out.writeBytes(text);
        CRC32C crc = new CRC32C();
        crc.update(text);
        out.writeInt((int) crc.getValue());
        return out;
    }

    /** The message of an error reply's payload (checks its CRC). */
    public static String errorMessage(ByteBuf frame) {
        int payloadAt = frame.readerIndex() + HEADER_BYTES;
        int payloadBytes = (int) payloadBytes(frame);
        if (payloadBytes < 4) {
            return "(no message)";
        }
        byte[] text = new byte[payloadBytes - 4];
        frame.getBytes(payloadAt, text);
        CRC32C crc = new CRC32C();
        crc.update(text);
        if ((int) crc.getValue() != frame.getInt(payloadAt + text.length)) {
            return "(message fails its CRC32C)";
        }
        return new String(text, StandardCharsets.UTF_8);
    }

    /**
     * Whether only a chunk server may send requests of {@code type}: the stripe master's two
     * phases to its columns (PREPARE, RESOLVE), recovery's and scrub's strip rebuilds and repairs,
     * and the stripe master's hot copies and frees. A gateway or an admin tool sends what a client
     * sends (reads, writes, EC writes through the stripe master, INFO, BLOCK_MAP, STRIP_READ), so a
     * stolen gateway certificate cannot write pending strips or hot copies behind a master's back.
     */
    public static boolean chunkServerOnly(int type) {
        return type == TYPE_PREPARE || type == TYPE_RESOLVE || type == TYPE_STRIP_REBUILD
                || type == TYPE_STRIP_REPAIR || type == TYPE_HOT_PUT || type == TYPE_HOT_FREE;
    }

    public static String typeName(int type) {
        return switch (type & ~REPLY) {
            case TYPE_READ -> "read";
            case TYPE_WRITE -> "write";
            case TYPE_WRITE_ZEROES -> "write_zeroes";
            case TYPE_TRIM -> "trim";
            case TYPE_FLUSH -> "flush";
            case TYPE_INFO -> "info";
            case TYPE_FORWARD -> "forward";
            case TYPE_EC_WRITE -> "ec_write";
            case TYPE_EC_READ -> "ec_read";
            case TYPE_STRIP_READ -> "strip_read";
            case TYPE_PREPARE -> "prepare";
            case TYPE_RESOLVE -> "resolve";
            case TYPE_BLOCK_MAP -> "block_map";
            case TYPE_STRIP_REPAIR -> "strip_repair";
            case TYPE_HOT_WRITE -> "hot_write";
            case TYPE_HOT_PUT -> "hot_put";
            case TYPE_HOT_FREE -> "hot_free";
            case TYPE_STRIP_REBUILD -> "strip_rebuild";
            case TYPE_STRIP_WRITE -> "strip_write";
            case TYPE_HOT_FREEZE -> "hot_freeze";
            default -> "unknown";
        };
    }
}
