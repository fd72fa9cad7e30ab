package io.basalt.protocol.data;

import io.netty.buffer.ByteBuf;
import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32C;

/**
 * The erasure-coding part of a PREPARE, EC_COMMIT_WRITE, RESOLVE or STRIP_READ (on the wire after the
 * data and its CRCs, and in the WAL record's payload the same way): which transaction, what it does
 * with pending strips, and the strip versions. Layout in {@code docs/formats.md}, "EC section".
 *
 * <pre>
 *   u8   versionsPerBlock n (1 for a data chunklet, k for a parity one, 0: none carried)
 *   u8   mode: 0 NONE, 1 COMMIT txid, 2 ABORT txid, 3 BY_DECIDED, 4 ABORT_ALL, 5 PEEK
 *   u16  masterBytes
 *   u64  txid (the transaction's strip version g)
 *   masterBytes  "host:port" of the stripe master (UTF-8; may be empty)
 *   blocks x n x u64  versions of each block after the write
 *   blocks x u64      decided generation per block (mode BY_DECIDED), or the version of the
 *                     block's pending strip, 0 for none (mode PEEK, in a reply); else absent
 *   u32  CRC32C of the preceding bytes of the section
 * </pre>
 *
 * <p>Modes say what happens to strips already pending (prepared, undecided) in the range before
 * anything else: BY_DECIDED commits a pending block whose transaction version equals the block's
 * decided generation and aborts it otherwise (the master's parity is the record of what was
 * decided); ABORT_ALL aborts every pending block in the range (the master's own column, which
 * never keeps a pending strip of its own decisions); COMMIT and ABORT settle one transaction.
 * PEEK (STRIP_READ only) settles nothing: the column answers, under its own stripe locks, with its
 * committed versions and which transaction each block has pending; a new stripe master asks so to
 * learn how an earlier master decided (StripeMaster, "termination"). PEEK_HELD (STRIP_READ only) is
 * a PEEK that asks which blocks are held, for reads through snapshot layers: the request's txid
 * carries the versions per strip the asker expects (1 at a data column, k at a parity column), and
 * each version in the answer is raised to the seq of the server's hot copy of the block, so a block
 * written only to the hot tier counts as written.
 */
public record EcSection(int versionsPerBlock, int mode, long txid, String master, long[] versions, long[] decided) {
    public static final int MODE_NONE = 0;
    public static final int MODE_COMMIT = 1;
    public static final int MODE_ABORT = 2;
    public static final int MODE_BY_DECIDED = 3;
    public static final int MODE_ABORT_ALL = 4;
    public static final int MODE_PEEK = 5;
    public static final int MODE_PEEK_HELD = 6;
    /**
     * The range a STRIP_READ in a PEEK mode may name (a read names at most the server's request
     * length): a peek moves only versions, so a stripe master asks about a whole 16 MiB column at once.
     */
    public static final long PEEK_RANGE_BYTES_MAX = 16L << 20;
    /** Versions per block at most: the widest parity vector (k ≤ 32 in the codec). */
    public static final int VERSIONS_PER_BLOCK_MAX = 32;

    public static EcSection none() {
        return new EcSection(0, MODE_NONE, 0, "", new long[0], new long[0]);
    }

    public static EcSection settle(long txid, boolean commit) {
        return new EcSection(0, commit ? MODE_COMMIT : MODE_ABORT, txid, "", new long[0], new long[0]);
    }

    public static EcSection byDecided(long[] decided) {
        return new EcSection(0, MODE_BY_DECIDED, 0, "", new long[0], decided);
    }

    /**
     * A PEEK_HELD request for {@code blocks} strips at a column that keeps {@code versionsPerStrip}
     * versions of each (1: a data column; k: a parity column).
     */
    public static EcSection peekHeld(int blocks, int versionsPerStrip) {
        return new EcSection(0, MODE_PEEK_HELD, versionsPerStrip, "", new long[0], new long[blocks]);
    }

    /** Whether this is a PEEK of either kind: it settles nothing and is answered with versions. */
    public boolean peeks() {
        return mode == MODE_PEEK || mode == MODE_PEEK_HELD;
    }

    public int encodedBytes() {
        return 1 + 1 + 2 + 8 + master.getBytes(StandardCharsets.UTF_8).length + 8 * versions.length
                + 8 * decided.length + 4;
    }

    public void writeTo(ByteBuf out) {
        int at = out.writerIndex();
        byte[] masterBytes = master.getBytes(StandardCharsets.UTF_8);
        out.writeByte(versionsPerBlock);
        out.writeByte(mode);
        out.writeShort(masterBytes.length);
        out.writeLong(txid);
        out.writeBytes(masterBytes);
        for (long version : versions) {
            out.writeLong(version);
        }
        for (long generation : decided) {
            out.writeLong(generation);
        }
        CRC32C crc = new CRC32C();
        crc.update(out.nioBuffer(at, out.writerIndex() - at));
        out.writeInt((int) crc.getValue());
    }

    /**
     * The length of the section at {@code at} from its header (for a STRIP_READ whose payload goes on
     * after it: a PEEK_HELD at a stripe master may carry the chunk's layout, docs/formats.md);
     * {@link #read} then checks it whole.
     */
    public static int lengthAt(ByteBuf in, int at, int bytes, int blocks) throws CsException {
        if (bytes < 16) {
            throw new CsException(CsStatus.INVALID, "EC section of " + bytes + " bytes (at least 16)");
        }
        long length = fieldsLength(in, at, blocks);
        if (length > bytes) {
            throw new CsException(CsStatus.INVALID, "EC section of " + length + " bytes by its header in a payload of "
                    + bytes);
        }
        return (int) length;
    }

    /** The bytes the section at {@code at} needs by its header's n, mode and masterBytes, CRC included. */
    private static long fieldsLength(ByteBuf in, int at, int blocks) {
        int n = in.getUnsignedByte(at);
        int mode = in.getUnsignedByte(at + 1);
        int decidedCount = mode == MODE_BY_DECIDED || mode == MODE_PEEK || mode == MODE_PEEK_HELD ? blocks : 0;
        return 16L + in.getUnsignedShort(at + 2) + 8L * n * blocks + 8L * decidedCount;
    }

    /** Parses the section of {@code bytes} bytes at {@code at}, for a range of {@code blocks} blocks. */
    public static EcSection read(ByteBuf in, int at, int bytes, int blocks) throws CsException {
        if (bytes < 16) {
            throw new CsException(CsStatus.INVALID, "EC section of " + bytes + " bytes (at least 16)");
        }
        CRC32C crc = new CRC32C();
        crc.update(in.nioBuffer(at, bytes - 4));
        if ((int) crc.getValue() != in.getInt(at + bytes - 4)) {
            throw new CsException(CsStatus.BAD_CRC, "EC section fails its crc32c");
        }
        int n = in.getUnsignedByte(at);
        int mode = in.getUnsignedByte(at + 1);
        int masterBytes = in.getUnsignedShort(at + 2);
        long txid = in.getLong(at + 4);
        if (n > VERSIONS_PER_BLOCK_MAX || mode > MODE_PEEK_HELD) {
            throw new CsException(CsStatus.INVALID, "EC section with " + n + " versions per block (max "
                    + VERSIONS_PER_BLOCK_MAX + ") or unknown mode " + mode);
        }
        int decidedCount = mode == MODE_BY_DECIDED || mode == MODE_PEEK || mode == MODE_PEEK_HELD ? blocks : 0;
        long expected = fieldsLength(in, at, blocks);
        if (expected != bytes) {
            throw new CsException(CsStatus.INVALID, "EC section of " + bytes + " bytes; its fields need "
                    + expected + " for " + blocks + " blocks");
        }
        int p = at + 12;
        String master = in.toString(p, masterBytes, StandardCharsets.UTF_8);
        p += masterBytes;
        long[] versions = new long[n * blocks];
        for (int i = 0; i < versions.length; i++, p += 8) {
            versions[i] = in.getLong(p);
        }
        long[] decided = new long[decidedCount];
        for (int i = 0; i < decided.length; i++, p += 8) {
            decided[i] = in.getLong(p);
        }
        return new EcSection(n, mode, txid, master, versions, decided);
    }
}
