package io.basalt.chunkserver.recovery;

import io.basalt.common.io.DurableFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.zip.CRC32C;

/**
 * Where the scrubber is, kept in the data directory's {@code scrub} file so that a restart resumes a
 * pass instead of starting it again, and the schedule survives restarts. Replaced atomically
 * (write, fsync, rename). Big-endian; same table in docs/formats.md.
 *
 * <pre>
 *   0  u32  magic 0x42534352 "BSCR"
 *   4  u8   formatVersion (1)
 *   5  u8[3] reserved, 0
 *   8  u64  passStartMillis: when the current (or last) pass began; 0 never
 *  16  u64  cursorChunkUid: the next chunklet of the current pass is the first with uid >= this;
 *           0 = no pass running
 *  24  u64  lastPassEndMillis (0 never)
 *  32  u64  lastPassDamaged: damaged blocks found by the last finished pass
 *  40  u64  lastPassRepaired: of those, repaired from redundancy
 *  48  u64  passDamaged: found so far in the current pass
 *  56  u64  passRepaired
 *  64  u64  passBytes: bytes read so far in the current pass
 *  72  u32  crc32c of bytes [0, 72)
 * </pre>
 */
record ScrubState(long passStartMillis, long cursorChunkUid, long lastPassEndMillis, long lastPassDamaged,
        long lastPassRepaired, long passDamaged, long passRepaired, long passBytes) {
    static final int MAGIC = 0x42534352;
    static final int FORMAT_VERSION = 1;
    static final int BYTES = 76;
    static final ScrubState NEVER = new ScrubState(0, 0, 0, 0, 0, 0, 0, 0);

    boolean running() {
        return cursorChunkUid != 0;
    }

    static ScrubState read(Path file) throws IOException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            return NEVER;
        }
        ByteBuffer in = ByteBuffer.wrap(bytes);
        if (bytes.length != BYTES || in.getInt(0) != MAGIC || in.getInt(72) != crc(in)) {
            throw new IOException("scrub state " + file + " is damaged (length, magic or CRC); delete it to"
                    + " start the scrub schedule afresh");
        }
        if ((in.get(4) & 0xff) != FORMAT_VERSION) {
            throw new IOException("scrub state " + file + " has format version " + (in.get(4) & 0xff)
                    + "; this build knows " + FORMAT_VERSION);
        }
        return new ScrubState(in.getLong(8), in.getLong(16), in.getLong(24), in.getLong(32), in.getLong(40),
                in.getLong(48), in.getLong(56), in.getLong(64));
    }

    void write(Path file) throws IOException {
        ByteBuffer out = ByteBuffer.allocate(BYTES);
        out.putInt(0, MAGIC).put(4, (byte) FORMAT_VERSION).putLong(8, passStartMillis).putLong(16, cursorChunkUid)
                .putLong(24, lastPassEndMillis).putLong(32, lastPassDamaged).putLong(40, lastPassRepaired)
                .putLong(48, passDamaged).putLong(56, passRepaired).putLong(64, passBytes);
        out.putInt(72, crc(out));
        DurableFiles.replaceAtomically(file, out);
    }

    private static int crc(ByteBuffer buffer) {
        CRC32C crc = new CRC32C();
        crc.update(buffer.duplicate().position(0).limit(72));
        return (int) crc.getValue();
    }
}
