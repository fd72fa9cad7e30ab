package io.basalt.chunkserver;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
import java.util.zip.CRC32C;

/**
 * The identity file {@code DATA/identity}: which chunk server this directory is and which cluster it
 * belongs to. Written once on first start (atomically), checked on every start. Big-endian:
 * <pre>
 *   0  u32  magic 0x42435349 "BCSI"
 *   4  u8   formatVersion (1): the format of the whole data directory (identity, WAL, chunklets)
 *   5  u8[3] reserved, 0
 *   8  u32  csId (assigned by meta)
 *  12  u32  reserved, 0
 *  16  u64  clusterId, most significant half of the UUID
 *  24  u64  clusterId, least significant half
 *  32  u64  createdMillis (Unix epoch)
 *  40  u32  reserved, 0
 *  44  u32  crc32c of bytes [0, 44)
 * </pre>
 */
public record CsIdentity(int csId, UUID clusterId, long createdMillis) {
    public static final int MAGIC = 0x42435349;
    public static final int FORMAT_VERSION = 1;
    public static final int BYTES = 48;

    /**
     * Reads {@code file}, or returns null when it does not exist.
     *
     * @throws IOException with a one-line reason: damaged, or an unknown format version
     */
    public static CsIdentity read(Path file) throws IOException {
        if (!Files.exists(file)) {
            return null;
        }
        ByteBuffer buffer = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.BIG_ENDIAN);
        if (buffer.capacity() != BYTES || buffer.getInt(0) != MAGIC) {
            throw new IOException(file + " is not a Basalt chunk server identity file (bad magic or size "
                    + buffer.capacity() + "); is --data pointing at the right directory?");
        }
        CRC32C crc = new CRC32C();
        crc.update(buffer.duplicate().limit(44));
        if ((int) crc.getValue() != buffer.getInt(44)) {
            throw new IOException(file + " fails its CRC32C: the identity file is damaged");
        }
        int formatVersion = buffer.get(4) & 0xff;
        if (formatVersion != FORMAT_VERSION) {
            throw new IOException("data directory " + file.getParent() + " has format version " + formatVersion
                    + "; this build knows " + FORMAT_VERSION + " (use a matching basalt version)");
        }
        return new CsIdentity(buffer.getInt(8), new UUID(buffer.getLong(16), buffer.getLong(24)), buffer.getLong(32));
    }

    /** Writes this identity to {@code file} atomically (temp file, fsync, rename, fsync dir). */
    public void write(Path file) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(BYTES).order(ByteOrder.BIG_ENDIAN);
        buffer.putInt(0, MAGIC);
        buffer.put(4, (byte) FORMAT_VERSION);
        buffer.putInt(8, csId);
        buffer.putLong(16, clusterId.getMostSignificantBits());
        buffer.putLong(24, clusterId.getLeastSignificantBits());
        buffer.putLong(32, createdMillis);
        CRC32C crc = new CRC32C();
        crc.update(buffer.duplicate().limit(44));
        buffer.putInt(44, (int) crc.getValue());
        io.basalt.common.io.DurableFiles.replaceAtomically(file, buffer);
    }
}
