package io.basalt.chunkserver.store;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32C;

/**
 * The strip versions file of an erasure-coded chunklet ({@code DATA/chunklets/U.ver}): per 4 KiB block
 * (one strip), the version of a data strip, or for a parity strip the versions of the k data strips it
 * was computed from. Fixed layout like the block metadata sidecar, written by the same WAL apply and
 * forced by the same checkpoint; see {@code docs/formats.md}, "Strip versions file".
 *
 * <pre>
 * Header (32 bytes): u32 magic "BCSV", u8 formatVersion 1, 3 reserved, u64 chunkUid,
 *   u32 versionsPerBlock n, 8 reserved, u32 CRC32C of bytes [0, 28)
 * Entry i (8n + 4 bytes at 32 + i (8n + 4)): n x u64 version,
 *   u32 CRC32C of (u64 chunkUid, u64 i, the n versions); all zero: never written
 * </pre>
 */
final class StripVersionsFormat {
    static final int MAGIC = 0x42435356;
    static final int FORMAT_VERSION = 1;
    static final int HEADER_BYTES = 32;

    private StripVersionsFormat() {}

    static int entryBytes(int n) {
        return 8 * n + 4;
    }

    static ByteBuffer header(long chunkUid, int n) {
        ByteBuffer header = ByteBuffer.allocate(HEADER_BYTES).order(ByteOrder.BIG_ENDIAN);
        header.putInt(0, MAGIC);
        header.put(4, (byte) FORMAT_VERSION);
        header.putLong(8, chunkUid);
        header.putInt(16, n);
        CRC32C crc = new CRC32C();
        crc.update(header.duplicate().limit(28));
        header.putInt(28, (int) crc.getValue());
        return header;
    }

    /** The versions per block the header declares, 0 for a header of zeroes (never persisted). */
    static int checkHeader(ByteBuffer header, long chunkUid, String file) throws IOException {
        if (header.remaining() < HEADER_BYTES) {
            return 0;
        }
        boolean zero = true;
        for (int i = 0; i < HEADER_BYTES; i++) {
            zero &= header.get(i) == 0;
        }
        if (zero) {
            return 0;
        }
        CRC32C crc = new CRC32C();
        crc.update(header.duplicate().limit(28));
        if (header.getInt(0) != MAGIC || (int) crc.getValue() != header.getInt(28)) {
            throw new IOException(file + ": not a strip versions file, or its header fails its CRC32C");
        }
        if ((header.get(4) & 0xff) != FORMAT_VERSION) {
            throw new IOException(file + ": format version " + (header.get(4) & 0xff) + "; this build knows "
                    + FORMAT_VERSION);
        }
        if (header.getLong(8) != chunkUid) {
            throw new IOException(file + ": header names chunk " + Long.toHexString(header.getLong(8)));
        }
        int n = header.getInt(16);
        if (n < 1 || n > 32) {
            throw new IOException(file + ": " + n + " versions per block (1..32)");
        }
        return n;
    }

    static void putEntry(ByteBuffer entries, int at, long chunkUid, int block, int n, long[] versions, int from) {
        for (int j = 0; j < n; j++) {
            entries.putLong(at + 8 * j, versions[from + j]);
        }
        entries.putInt(at + 8 * n, entryCrc(chunkUid, block, n, versions, from));
    }

    /** Version of a block whose entry is damaged: matches nothing, so the strip is never trusted. */
    static final long DAMAGED = -1;

    /**
     * Reads entry {@code block} into {@code out[to..to + n)}. A damaged entry (torn by a crash before
     * its checkpoint, when replay rewrites it, or rotten) loads as {@link #DAMAGED}: a wrong version
     * could make reconstruction combine strips of different writes, an unmatched one cannot.
     */
    static void readEntry(ByteBuffer entries, int at, long chunkUid, int block, int n, long[] out, int to) {
        boolean zero = true;
        for (int j = 0; j < n; j++) {
            out[to + j] = entries.getLong(at + 8 * j);
            zero &= out[to + j] == 0;
        }
        int stored = entries.getInt(at + 8 * n);
        if (zero && stored == 0) {
            return;
        }
        if (stored != entryCrc(chunkUid, block, n, out, to)) {
            java.util.Arrays.fill(out, to, to + n, DAMAGED);
        }
    }

    private static int entryCrc(long chunkUid, int block, int n, long[] versions, int from) {
        ByteBuffer buffer = ByteBuffer.allocate(16 + 8 * n).order(ByteOrder.BIG_ENDIAN);
        buffer.putLong(chunkUid).putLong(block);
        for (int j = 0; j < n; j++) {
            buffer.putLong(versions[from + j]);
        }
        CRC32C crc = new CRC32C();
        crc.update(buffer.flip());
        return (int) crc.getValue();
    }
}
