package io.basalt.meta.model;

import io.basalt.meta.api.MalformedMessageException;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;
import java.util.zip.CRC32C;

/**
 * A flatten of a volume under way (docs/snapshots.md, "Flatten"): how far the copy-up got, kept in
 * meta so that whoever holds the volume's lease (the gateway in the background, or the CLI in the
 * foreground) resumes from {@code cursorBytes} after a restart of itself or of the meta leader.
 * Requested with cursor 0; cleared when the parent is detached (done), or when the volume gets
 * another parent (rollback) or is deleted.
 *
 * <p>Record (RocksDB table {@code flatten}, key u64 volumeId; docs/formats.md "Flatten progress"):
 * <pre>
 *   0  u8   formatVersion (1)
 *   1  i64  parentId       the layer being copied up from (a progress for another is stale)
 *   9  i64  sizeBytes      of the volume when requested
 *  17  i64  cursorBytes    every block below it is in the volume's own chunks (or all-zero)
 *  25  i64  copiedBytes    written by the copy so far
 *  33  i64  startedMillis  when it was requested (meta's clock)
 *  41  i64  updatedMillis  the last progress (meta's clock)
 *  49  u32  CRC32C of bytes [0, 49)
 * </pre>
 */
public record FlattenProgress(long parentId, long sizeBytes, long cursorBytes, long copiedBytes,
                              long startedMillis, long updatedMillis) {
    public static final int FORMAT_VERSION = 1;
    public static final int ENCODED_BYTES = 53;

    public void encode(WireWriter out) {
        WireWriter body = new WireWriter(ENCODED_BYTES);
        body.u8(FORMAT_VERSION).i64(parentId).i64(sizeBytes).i64(cursorBytes).i64(copiedBytes)
                .i64(startedMillis).i64(updatedMillis);
        byte[] bytes = body.toByteArray();
        CRC32C crc = new CRC32C();
        crc.update(bytes);
        out.bytes(bytes).i32((int) crc.getValue());
    }

    public byte[] toByteArray() {
        WireWriter out = new WireWriter(ENCODED_BYTES);
        encode(out);
        return out.toByteArray();
    }

    public static FlattenProgress decode(WireReader in) {
        byte[] bytes = in.bytes(ENCODED_BYTES - 4);
        int crcSent = in.i32();
        CRC32C crc = new CRC32C();
        crc.update(bytes);
        if ((int) crc.getValue() != crcSent) {
            throw new MalformedMessageException("flatten progress record fails its CRC32C");
        }
        WireReader body = new WireReader(bytes);
        int formatVersion = body.u8();
        if (formatVersion != FORMAT_VERSION) {
            throw new MalformedMessageException("flatten progress record format " + formatVersion
                    + " (this build reads " + FORMAT_VERSION + ")");
        }
        return new FlattenProgress(body.i64(), body.i64(), body.i64(), body.i64(), body.i64(), body.i64());
    }

    /** Bytes examined per second since the start; 0 before the first step. */
    public double bytesPerSecond() {
        long elapsed = updatedMillis - startedMillis;
        return elapsed <= 0 ? 0 : cursorBytes * 1000.0 / elapsed;
    }

    /** Seconds left at the rate so far; -1 when not known yet. */
    public long etaSeconds() {
        double rate = bytesPerSecond();
        return rate <= 0 ? -1 : (long) Math.ceil((sizeBytes - cursorBytes) / rate);
    }
}
