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
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads the WAL back on start: finds the checkpoint, walks the segments in LSN order, checks every
 * record (magic, bounds, CRC32C, LSN sequence) and hands the ones after the checkpoint to the sink.
 *
 * <p>The log ends at the first record that is not whole and valid in the <em>last</em> segment: a
 * torn or never-completed write (its batch was never acknowledged, since acknowledgement follows the
 * sync). A bad record anywhere else (a gap between segments, a valid CRC with a wrong LSN, an unknown
 * format version) is not a torn tail but damage to acknowledged data: replay stops with an exception
 * naming file and offset.
 *
 * <p>Recycled segments (header formatVersion 4, or 2 from earlier builds, see {@link WalWriter}) hold
 * the records of their previous life after the new ones. In format 4 those fail the CRC, which is
 * salted with the segment's own salt (WalRecordFormat), so the log ends there as at a torn record.
 * In format 2 they are whole and pass their CRC, but every one has an LSN below the segment's
 * firstLsn (LSNs only grow, and a segment becomes a spare only once all of it is behind the
 * checkpoint), so such a record ends the segment's records exactly like a zero magic does. In a
 * non-last segment the next segment's firstLsn must then continue the sequence (else "WAL gap"); a
 * valid record with any other wrong LSN (at or above firstLsn but not the expected one), or any
 * stale-looking record in a fresh segment, stays damage.
 *
 * <p>The cut. The writer continues at the end of the log, so whatever lies behind it must never be
 * read as a new record later: a later replay reaches a position behind today's cut only after new,
 * valid records that end exactly there. A record behind the cut is dangerous only if it could pass
 * as the expected one then, that is, if its LSN is at least the segment's firstLsn; leftovers of the
 * previous life cannot (their LSN is below firstLsn, hence below every LSN expected later in this
 * segment), and bytes that form no CRC-valid record cannot either. The only current-life records
 * behind a cut are those of the batch that was being written at the crash (pages of it may have
 * reached the disk while an earlier record's did not). So replay scans from the cut to the end of the
 * segment at every byte offset, zeroes from the cut to the end of the last CRC-valid record with
 * lsn &ge; firstLsn it finds (usually nothing, at most about one batch) and syncs. It does not zero
 * the rest of the segment as it once did: in a recycled segment that is up to a whole segment of old
 * records on every restart. After each replay the invariant holds again: behind the end of the log
 * there is no CRC-valid record with lsn &ge; firstLsn, so a torn new record that happens to end where
 * an old one begins cannot make the old one part of the log.
 */
public final class WalReplay {
    private static final Logger log = LoggerFactory.getLogger(WalReplay.class);

    /**
     * What replay found: where the writer continues ({@code tailOffsetBytes} in the last segment, -1 in
     * a new one) and that segment's record-CRC salt (0 for segment formats 1 and 2).
     */
    public record Result(long checkpointLsn, long lastLsn, List<Path> segments, long tailOffsetBytes,
            int tailSalt, long recordsApplied, long bytesCut) {}

    private WalReplay() {}

    private static final Pattern SEGMENT_NAME = Pattern.compile("\\d{20}\\.wal");
    private static final Pattern SPARE_NAME = Pattern.compile("\\d{20}\\.spare");

    /** Segment files of {@code walDir}, sorted by first LSN (the name is the zero-padded LSN). */
    static List<Path> segments(Path walDir) throws IOException {
        return matching(walDir, SEGMENT_NAME);
    }

    /**
     * Spare files of {@code walDir} (old segments kept for recycling), oldest life first. Replay never
     * reads them; the writer owns them.
     */
    static List<Path> spares(Path walDir) throws IOException {
        return matching(walDir, SPARE_NAME);
    }

    private static List<Path> matching(Path walDir, Pattern name) throws IOException {
        try (Stream<Path> files = Files.list(walDir)) {
            return files.filter(p -> name.matcher(p.getFileName().toString()).matches()).sorted().toList();
        }
    }

    static Path segmentPath(Path walDir, long firstLsn) {
        return walDir.resolve(String.format("%020d.wal", firstLsn));
    }

    /** A spare keeps the first LSN of its last life in its name, which keeps spare names unique. */
    static Path sparePath(Path walDir, long previousFirstLsn) {
        return walDir.resolve(String.format("%020d.spare", previousFirstLsn));
    }

    /** The LSN in a segment's or spare's name. */
    static long nameLsn(Path file) {
        String name = file.getFileName().toString();
        return Long.parseLong(name.substring(0, 20));
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
        int tailSalt = 0;
        long bytesCut = 0;
        boolean first = true;
        // Segments wholly behind the checkpoint (the next one starts at or before checkpointLsn + 1)
        // are not read: nothing in them is applied, and a checkpoint retires several at once without
        // a directory sync between them, so after a crash any subset of them may still be there (a
        // gap among them is no loss). The writer retires them again at its next checkpoint.
        int from = 0;
        while (from + 1 < segments.size() && nameLsn(segments.get(from + 1)) <= checkpointLsn + 1) {
            from++;
        }
        Map<Long, Long> lastDeletes = lastDeletes(segments.subList(from, segments.size()), checkpointLsn,
                payloadMaxBytes);
        long skipped = 0;
        for (int i = from; i < segments.size(); i++) {
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
                if (formatVersion < FORMAT_VERSION || formatVersion > SEGMENT_FORMAT_VERSION_SALTED_RECYCLED) {
                    throw new IOException("WAL segment " + segment + " has format version " + formatVersion
                            + "; this build knows " + FORMAT_VERSION + " to " + SEGMENT_FORMAT_VERSION_SALTED_RECYCLED);
                }
                boolean recycled = isRecycled(formatVersion);
                int salt = WalRecordFormat.salt(header);
                long firstLsn = header.getLong(SEGMENT_FIRST_LSN_OFFSET);
                if (firstLsn != nameLsn(segment)) {
                    // The writer rewrites a recycled file's header before the file takes a segment
                    // name, so no crash leaves this; an old header under a new name would make its
                    // leftovers look current.
                    throw new IOException("WAL segment " + segment + " has a header for first LSN " + firstLsn
                            + ", not the LSN in its name");
                }
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
                    int end = validRecordEnd(data, (int) position, payloadMaxBytes, salt);
                    if (end < 0) {
                        break;
                    }
                    int at = (int) position;
                    int formatVersionOfRecord = data.get(at + FORMAT_VERSION_OFFSET) & 0xff;
                    int type = data.get(at + TYPE_OFFSET) & 0xff;
                    long lsn = data.getLong(at + LSN_OFFSET);
                    if (recycled && lsn < firstLsn) {
                        break; // a leftover of the file's previous life: the end of this segment's records
                    }
                    if (formatVersionOfRecord < FORMAT_VERSION || formatVersionOfRecord > RECORD_FORMAT_VERSION) {
                        throw new IOException("WAL record at " + segment + " offset " + at + " has format version "
                                + formatVersionOfRecord + "; this build knows " + FORMAT_VERSION + " to "
                                + RECORD_FORMAT_VERSION);
                    }
                    if (!knownType(type) || lsn != expectedLsn) {
                        throw new IOException("WAL record at " + segment + " offset " + at + " passes its CRC but has "
                                + (knownType(type) ? "LSN " + lsn + " where " + expectedLsn + " was expected"
                                        : "unknown type " + type));
                    }
                    long chunkUid = data.getLong(at + CHUNK_UID_OFFSET);
                    if (lsn > checkpointLsn && supersededByDelete(type, chunkUid, lsn, lastDeletes)) {
                        skipped++;
                    } else if (lsn > checkpointLsn) {
                        int payloadBytes = data.getInt(at + PAYLOAD_BYTES_OFFSET);
                        WalEntry entry = new WalEntry(type, data.getLong(at + CHUNK_UID_OFFSET),
                                data.getLong(at + OFFSET_OFFSET), data.getInt(at + LENGTH_OFFSET),
                                WalRecordFormat.hasPayload(type) ? Unpooled.wrappedBuffer(
                                        data.slice(at + HEADER_BYTES, payloadBytes)) : null, null);
                        entry.lsn = lsn;
                        entry.chunkVersion = WalRecordFormat.chunkVersion(data, at);
                        sink.apply(entry);
                        applied++;
                    }
                    expectedLsn++;
                    position = end;
                }
                if (last) {
                    tailOffset = position;
                    tailSalt = salt;
                    bytesCut = cutTail(channel, segment, position, data, firstLsn, payloadMaxBytes, salt);
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
        log.info("WAL replay: checkpoint LSN {}, last LSN {}, {} records applied, {} of deleted chunklets skipped,"
                + " {} bytes cut from the tail", checkpointLsn, lastLsn, applied, skipped, bytesCut);
        return new Result(checkpointLsn, lastLsn, List.copyOf(segments), tailOffset, tailSalt, applied, bytesCut);
    }

    /**
     * Whether a record is of a chunklet that a later DELETE_CHUNKLET in this replay removes: skipped.
     * Meta may place a chunk on this server again after removing it (another column of it, or the
     * same one rebuilt), and the new chunklet has the same name; the old one's records would land in
     * it (seen in ThrashIT: a parity column's record with 4 versions per block replayed into the data
     * column that replaced it, and the chunk server could not start). The delete that follows wipes
     * whatever they would write, so skipping them changes nothing else; every record of the new
     * chunklet comes after the delete and is replayed (nothing is written in place into a chunk until
     * the checkpoint passes its delete, so all of it is in these records). Hot-store records are
     * always replayed: the hot store is not the chunklet, and sweeps its dead blocks itself.
     */
    private static boolean supersededByDelete(int type, long chunkUid, long lsn, Map<Long, Long> lastDeletes) {
        if (type == WalRecordFormat.TYPE_DELETE_CHUNKLET || WalRecordFormat.isHot(type)) {
            return false;
        }
        Long delete = lastDeletes.get(chunkUid);
        return delete != null && lsn < delete;
    }

    /**
     * The LSN of the last DELETE_CHUNKLET of each chunk among the records replay will apply (after
     * {@code checkpointLsn}, up to the first record that is not valid or not the next LSN, where
     * replay stops too). A first, read-only pass over the segments replay reads.
     */
    static Map<Long, Long> lastDeletes(List<Path> segments, long checkpointLsn, int payloadMaxBytes)
            throws IOException {
        Map<Long, Long> deletes = new HashMap<>();
        long expectedLsn = -1;
        for (Path segment : segments) {
            try (FileChannel channel = FileChannel.open(segment, StandardOpenOption.READ)) {
                long size = channel.size();
                if (size < SEGMENT_HEADER_BYTES) {
                    return deletes; // replay itself decides what such a segment means
                }
                ByteBuffer data = channel.map(FileChannel.MapMode.READ_ONLY, 0, size).order(ByteOrder.BIG_ENDIAN);
                if (data.getInt(0) != SEGMENT_MAGIC || data.getInt(SEGMENT_CRC_OFFSET) != crc(data, 0, SEGMENT_CRC_OFFSET)) {
                    return deletes;
                }
                boolean recycled = isRecycled(data.get(4) & 0xff);
                int salt = WalRecordFormat.salt(data);
                long firstLsn = data.getLong(SEGMENT_FIRST_LSN_OFFSET);
                int position = SEGMENT_HEADER_BYTES;
                while (true) {
                    int end = validRecordEnd(data, position, payloadMaxBytes, salt);
                    if (end < 0) {
                        break;
                    }
                    long lsn = data.getLong(position + LSN_OFFSET);
                    if (recycled && lsn < firstLsn) {
                        break;
                    }
                    if (expectedLsn >= 0 && lsn != expectedLsn) {
                        return deletes; // replay stops here with an error, or at the end of the log
                    }
                    if (lsn > checkpointLsn && (data.get(position + TYPE_OFFSET) & 0xff)
                            == WalRecordFormat.TYPE_DELETE_CHUNKLET) {
                        deletes.put(data.getLong(position + CHUNK_UID_OFFSET), lsn);
                    }
                    expectedLsn = lsn + 1;
                    position = end;
                }
            }
        }
        return deletes;
    }

    /**
     * The end offset of a whole, valid record at {@code at}, or -1 when there is none (end of log):
     * too few bytes for a header, wrong magic, a payload size beyond the limit or the file, or a CRC
     * mismatch.
     */
    static int validRecordEnd(ByteBuffer data, int at, int payloadMaxBytes, int salt) {
        if (data.limit() - at < HEADER_BYTES || data.getInt(at + MAGIC_OFFSET) != RECORD_MAGIC) {
            return -1;
        }
        int payloadBytes = data.getInt(at + PAYLOAD_BYTES_OFFSET);
        if (payloadBytes < 0 || payloadBytes > payloadMaxBytes || data.limit() - at - HEADER_BYTES < payloadBytes) {
            return -1;
        }
        int stored = data.getInt(at + CRC_OFFSET);
        int computed = recordCrc(salt, data.duplicate().position(at),
                data.duplicate().limit(at + HEADER_BYTES + payloadBytes).position(at + HEADER_BYTES));
        return stored == computed ? at + HEADER_BYTES + payloadBytes : -1;
    }

    /**
     * Zeroes the segment from {@code cutOffset} to the end of the last CRC-valid record with
     * lsn &ge; {@code firstLsn} that starts at or after it, at any byte offset, and syncs; returns the
     * bytes zeroed. Afterwards nothing behind the cut can pass as a record of this segment's life (see
     * the class note); older leftovers and bytes that are no valid record stay, untouched.
     */
    private static long cutTail(FileChannel channel, Path segment, long cutOffset, ByteBuffer data, long firstLsn,
            int payloadMaxBytes, int salt) throws IOException {
        int dirtyEnd = (int) cutOffset;
        int lastStart = data.limit() - HEADER_BYTES;
        for (int at = (int) cutOffset; at <= lastStart; at++) {
            // The magic's first byte is a cheap filter: most offsets fail it.
            if (data.get(at) != (byte) (RECORD_MAGIC >>> 24) || data.getInt(at + MAGIC_OFFSET) != RECORD_MAGIC
                    || data.getLong(at + LSN_OFFSET) < firstLsn) {
                continue;
            }
            int end = validRecordEnd(data, at, payloadMaxBytes, salt);
            if (end > dirtyEnd) {
                dirtyEnd = end;
            }
        }
        if (dirtyEnd == cutOffset) {
            return 0;
        }
        log.warn("WAL: cutting a torn tail of {} at offset {} ({} bytes up to the end of the last record of"
                + " the unfinished batch)", segment, cutOffset, dirtyEnd - cutOffset);
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
