package io.basalt.chunkserver.wal;

import static io.basalt.chunkserver.wal.WalRecordFormat.*;

import io.basalt.common.io.LinuxFiles;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads the WAL back on start: finds the checkpoint, walks the segments in LSN order, checks every
 * record (magic, bounds, CRC32C, LSN sequence) and hands the ones after the checkpoint to the sink.
 *
 * <p>The log ends at the first record that is not whole and valid in the <em>last</em> segment: a
 * torn or never-completed write (its batch was never acknowledged, since acknowledgement follows the
 * sync). That tail is cut: the file is truncated there and re-extended with zeroes and synced, so
 * that no stale record behind the cut can ever be mistaken for a new one. A bad record anywhere else
 * (a gap between segments, a valid CRC with a wrong LSN, an unknown format version) is not a torn
 * tail but damage to acknowledged data: replay stops with an exception naming file and offset.
 */
public final class WalReplay {
    private static final Logger log = LoggerFactory.getLogger(WalReplay.class);

    /** What replay found: where the writer continues. */
    public record Result(long checkpointLsn, long lastLsn, List<Path> segments, long tailOffsetBytes,
            long recordsApplied, long bytesCut) {}

    private WalReplay() {}

    /** Segment files of {@code walDir}, sorted by first LSN (the name is the zero-padded LSN). */
    static List<Path> segments(Path walDir) throws IOException {
        try (Stream<Path> files = Files.list(walDir)) {
            return files.filter(p -> p.getFileName().toString().endsWith(".wal")).sorted().toList();
        }
    }

    static Path segmentPath(Path walDir, long firstLsn) {
        return walDir.resolve(String.format("%020d.wal", firstLsn));
    }

    static long readCheckpoint(Path walDir) throws IOException {
        Path file = walDir.resolve("checkpoint");
        if (!Files.exists(file)) {
            return 0;
        }
        ByteBuffer buffer = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.BIG_ENDIAN);
        if (buffer.capacity() != CHECKPOINT_BYTES || buffer.getInt(0) != CHECKPOINT_MAGIC
                || buffer.getInt(20) != crc(buffer, 0, 20)) {
            throw new IOException("WAL checkpoint " + file + " is damaged (" + buffer.capacity()
                    + " bytes, bad magic or CRC); it is replaced atomically, so the disk is suspect");
        }
        int formatVersion = buffer.get(4) & 0xff;
        if (formatVersion != FORMAT_VERSION) {
            throw new IOException("WAL checkpoint " + file + " has format version " + formatVersion
                    + "; this build knows " + FORMAT_VERSION);
        }
        return buffer.getLong(8);
    }

    /** Replays {@code walDir} into {@code sink}; see the class note for what is cut and what stops. */
    public static Result replay(Path walDir, WalSink sink, int payloadMaxBytes) throws IOException {
        long checkpointLsn = readCheckpoint(walDir);
        List<Path> segments = new ArrayList<>(segments(walDir));
        long expectedLsn = checkpointLsn + 1;
        long applied = 0;
        long tailOffset = -1;
        long bytesCut = 0;
        boolean first = true;
        for (int i = 0; i < segments.size(); i++) {
            Path segment = segments.get(i);
            boolean last = i == segments.size() - 1;
            try (FileChannel channel = FileChannel.open(segment, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                long size = channel.size();
                ByteBuffer header = ByteBuffer.allocate(SEGMENT_HEADER_BYTES).order(ByteOrder.BIG_ENDIAN);
                readFully(channel, header, 0);
                boolean headerOk = size >= SEGMENT_HEADER_BYTES && header.getInt(0) == SEGMENT_MAGIC
                        && header.getInt(SEGMENT_CRC_OFFSET) == crc(header, 0, SEGMENT_CRC_OFFSET);
                if (!headerOk) {
                    if (last) {
                        // A segment whose creation did not finish (crash between create and sync):
                        // it never held an acknowledged record.
                        log.warn("WAL: removing unfinished segment {} ({} bytes)", segment, size);
                        channel.close();
                        Files.delete(segment);
                        segments.remove(i);
                        break;
                    }
                    throw new IOException("WAL segment " + segment + " has a damaged header but is not the last one");
                }
                int formatVersion = header.get(4) & 0xff;
                if (formatVersion != FORMAT_VERSION) {
                    throw new IOException("WAL segment " + segment + " has format version " + formatVersion
                            + "; this build knows " + FORMAT_VERSION);
                }
                long firstLsn = header.getLong(SEGMENT_FIRST_LSN_OFFSET);
                if (first) {
                    if (firstLsn > expectedLsn) {
                        throw new IOException("WAL gap: checkpoint is at LSN " + checkpointLsn
                                + " but the oldest segment " + segment + " starts at LSN " + firstLsn);
                    }
                    expectedLsn = firstLsn;
                    first = false;
                } else if (firstLsn != expectedLsn) {
                    throw new IOException("WAL gap: the segment before " + segment + " ends before LSN "
                            + expectedLsn + " but " + segment + " starts at LSN " + firstLsn
                            + " (a record inside the previous segment is damaged)");
                }
                ByteBuffer data = channel.map(FileChannel.MapMode.READ_ONLY, 0, size).order(ByteOrder.BIG_ENDIAN);
                long position = SEGMENT_HEADER_BYTES;
                while (true) {
                    int end = validRecordEnd(data, (int) position, payloadMaxBytes);
                    if (end < 0) {
                        break;
                    }
                    int at = (int) position;
                    int formatVersionOfRecord = data.get(at + FORMAT_VERSION_OFFSET) & 0xff;
                    int type = data.get(at + TYPE_OFFSET) & 0xff;
                    long lsn = data.getLong(at + LSN_OFFSET);
                    if (formatVersionOfRecord != FORMAT_VERSION) {
                        throw new IOException("WAL record at " + segment + " offset " + at + " has format version "
                                + formatVersionOfRecord + "; this build knows " + FORMAT_VERSION);
                    }
                    if (!knownType(type) || lsn != expectedLsn) {
                        throw new IOException("WAL record at " + segment + " offset " + at + " passes its CRC but has "
                                + (knownType(type) ? "LSN " + lsn + " where " + expectedLsn + " was expected"
                                        : "unknown type " + type));
                    }
                    if (lsn > checkpointLsn) {
                        int payloadBytes = data.getInt(at + PAYLOAD_BYTES_OFFSET);
                        WalEntry entry = new WalEntry(type, data.getLong(at + CHUNK_UID_OFFSET),
                                data.getLong(at + OFFSET_OFFSET), data.getInt(at + LENGTH_OFFSET),
                                WalRecordFormat.hasPayload(type) ? Unpooled.wrappedBuffer(
                                        data.slice(at + HEADER_BYTES, payloadBytes)) : null, null);
                        entry.lsn = lsn;
                        sink.apply(entry);
                        applied++;
                    }
                    expectedLsn++;
                    position = end;
                }
                if (last) {
                    tailOffset = position;
                    bytesCut = cutTail(channel, segment, position, size, data);
                }
            }
        }
        if (tailOffset < 0 && !segments.isEmpty()) {
            // The last segment was unfinished and removed; continue in a new one.
            tailOffset = -1;
        }
        long lastLsn = expectedLsn - 1;
        if (lastLsn < checkpointLsn) {
            lastLsn = checkpointLsn;
        }
        log.info("WAL replay: checkpoint LSN {}, last LSN {}, {} records applied, {} bytes cut from the tail",
                checkpointLsn, lastLsn, applied, bytesCut);
        return new Result(checkpointLsn, lastLsn, List.copyOf(segments), tailOffset, applied, bytesCut);
    }

    /**
     * The end offset of a whole, valid record at {@code at}, or -1 when there is none (end of log):
     * too few bytes for a header, wrong magic, a payload size beyond the limit or the file, or a CRC
     * mismatch.
     */
    static int validRecordEnd(ByteBuffer data, int at, int payloadMaxBytes) {
        if (data.limit() - at < HEADER_BYTES || data.getInt(at + MAGIC_OFFSET) != RECORD_MAGIC) {
            return -1;
        }
        int payloadBytes = data.getInt(at + PAYLOAD_BYTES_OFFSET);
        if (payloadBytes < 0 || payloadBytes > payloadMaxBytes || data.limit() - at - HEADER_BYTES < payloadBytes) {
            return -1;
        }
        int stored = data.getInt(at + CRC_OFFSET);
        int computed = recordCrc(data.duplicate().position(at),
                data.duplicate().limit(at + HEADER_BYTES + payloadBytes).position(at + HEADER_BYTES));
        return stored == computed ? at + HEADER_BYTES + payloadBytes : -1;
    }

    /**
     * Zeroes the segment from {@code cutOffset} to its end if anything non-zero is there, and syncs:
     * afterwards the log provably ends at the cut.
     */
    private static long cutTail(FileChannel channel, Path segment, long cutOffset, long size, ByteBuffer data)
            throws IOException {
        long dirtyEnd = cutOffset;
        for (long p = size - 1; p >= cutOffset; p--) {
            if (data.get((int) p) != 0) {
                dirtyEnd = p + 1;
                break;
            }
        }
        if (dirtyEnd == cutOffset) {
            return 0;
        }
        log.warn("WAL: cutting a torn tail of {} at offset {} ({} bytes that are not a whole valid record)",
                segment, cutOffset, dirtyEnd - cutOffset);
        zero(channel, segment, cutOffset, dirtyEnd - cutOffset);
        channel.force(true);
        return dirtyEnd - cutOffset;
    }

    static void zero(FileChannel channel, Path file, long offsetBytes, long lengthBytes) throws IOException {
        ByteBuffer zeroes = ByteBuffer.allocateDirect(1 << 16);
        long position = offsetBytes;
        long end = offsetBytes + lengthBytes;
        while (position < end) {
            zeroes.clear().limit((int) Math.min(zeroes.capacity(), end - position));
            position += channel.write(zeroes, position);
        }
    }

    static void readFully(FileChannel channel, ByteBuffer buffer, long position) throws IOException {
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, position + buffer.position());
            if (n < 0) {
                break;
            }
        }
        buffer.flip();
        if (buffer.limit() < buffer.capacity()) {
            buffer.limit(buffer.capacity());
        }
    }

    static boolean fallocateAvailable() {
        return LinuxFiles.available();
    }
}
