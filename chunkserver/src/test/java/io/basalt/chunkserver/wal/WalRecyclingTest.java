package io.basalt.chunkserver.wal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.basalt.protocol.data.CsException;
import io.basalt.protocol.data.CsStatus;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Segment recycling: retired segments become spares, rolls reuse them, and replay of a recycled
 * segment (old records after the new ones) gives exactly the acknowledged records, also after a torn
 * tail and after a crash at any step of a roll.
 */
class WalRecyclingTest {
    static final int PAYLOAD = 40;
    /** Records of 88 bytes, 11 to a segment, a checkpoint about every 6 records, two spares. */
    static final WalWriter.Config CONFIG = new WalWriter.Config(1024, 8, 64, 512, WalProperties.PAYLOAD_MAX, 2);

    Path dir;

    @BeforeEach
    void setUp() throws IOException {
        dir = Files.createTempDirectory("wal-recycle");
    }

    @AfterEach
    void tearDown() throws IOException {
        WalProperties.delete(dir);
    }

    /** The payload of the record with this number: distinct per record, so a stale one is told apart. */
    static byte[] payload(long n) {
        byte[] bytes = new byte[PAYLOAD];
        Arrays.fill(bytes, (byte) n);
        bytes[0] = (byte) (n >>> 8);
        return bytes;
    }

    static CompletableFuture<Long> submit(WalWriter wal, long n) {
        CompletableFuture<Long> done = new CompletableFuture<>();
        wal.submit(new WalEntry(WalRecordFormat.TYPE_WRITE, 1, (n % 16) * 4096, 4096,
                Unpooled.copiedBuffer(payload(n)), (e, error) -> {
                    if (error != null) {
                        done.completeExceptionally(error);
                    } else {
                        done.complete(e.lsn());
                    }
                }));
        return done;
    }

    /** Writes records {@code from..to-1} one by one (each its own batch), checking the LSN = number + 1. */
    static void write(WalWriter wal, long from, long to) throws Exception {
        for (long n = from; n < to; n++) {
            assertThat(submit(wal, n).get(10, TimeUnit.SECONDS)).isEqualTo(n + 1);
        }
    }

    /** Replays and checks that the log is exactly records 0..count-1 (those after the checkpoint applied). */
    WalReplay.Result assertReplaysExactly(long count) throws IOException {
        RecordingSink sink = new RecordingSink();
        WalReplay.Result result = WalReplay.replay(dir, sink, WalProperties.PAYLOAD_MAX);
        assertThat(result.lastLsn()).isEqualTo(count);
        long firstApplied = result.checkpointLsn() + 1;
        assertThat(sink.applied).hasSize((int) (count - result.checkpointLsn()));
        for (int i = 0; i < sink.applied.size(); i++) {
            RecordingSink.Applied applied = sink.applied.get(i);
            long lsn = firstApplied + i;
            assertThat(applied.lsn()).isEqualTo(lsn);
            assertThat(applied.payload()).as("payload of LSN %d", lsn).isEqualTo(payload(lsn - 1));
        }
        return result;
    }

    /** Where the records of a segment file start, by the replay rules (ends at a leftover). */
    static List<Integer> chain(ByteBuffer data) {
        long firstLsn = data.getLong(WalRecordFormat.SEGMENT_FIRST_LSN_OFFSET);
        List<Integer> starts = new ArrayList<>();
        int at = WalRecordFormat.SEGMENT_HEADER_BYTES;
        int end;
        while ((end = WalReplay.validRecordEnd(data, at, WalProperties.PAYLOAD_MAX, WalRecordFormat.salt(data))) > 0
                && data.getLong(at + WalRecordFormat.LSN_OFFSET) == firstLsn + starts.size()) {
            starts.add(at);
            at = end;
        }
        starts.add(at); // the end of the log in this segment
        return starts;
    }

    static ByteBuffer read(Path file) throws IOException {
        return ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.BIG_ENDIAN);
    }

    static int formatVersion(ByteBuffer segment) {
        return segment.get(4) & 0xff;
    }

    /**
     * A record from an earlier life sits where the segment's records end: its magic, an LSN below the
     * segment's first, and a CRC that fails this life's salt.
     */
    static boolean oldRecordAtEnd(ByteBuffer segment) {
        int end = chain(segment).getLast();
        return segment.getInt(end + WalRecordFormat.MAGIC_OFFSET) == WalRecordFormat.RECORD_MAGIC
                && segment.getLong(end + WalRecordFormat.LSN_OFFSET)
                        < segment.getLong(WalRecordFormat.SEGMENT_FIRST_LSN_OFFSET)
                && WalReplay.validRecordEnd(segment, end, WalProperties.PAYLOAD_MAX, WalRecordFormat.salt(segment)) < 0;
    }

    /**
     * Writes {@code first} records, then on until the last segment is a recycled one holding at least
     * {@code recordsMin} (see {@link #writeIntoARecycledSegment}), and stops the writer as a crash
     * would; returns the record count.
     */
    long crashInARecycledSegment(int first, int recordsMin) throws Exception {
        WalWriter wal = WalWriter.open(dir, new RecordingSink(), CONFIG, WalWriter.Listener.NONE);
        write(wal, 0, first);
        long count = writeIntoARecycledSegment(wal, dir, first, recordsMin);
        wal.abandon();
        return count;
    }

    /**
     * Writes until the last segment is a recycled one holding at least {@code recordsMin} records, none
     * of them behind the checkpoint (a torn write is never behind it); returns the record count.
     */
    static long writeIntoARecycledSegment(WalWriter wal, Path dir, long from, int recordsMin) throws Exception {
        long n = from;
        while (true) {
            write(wal, n, n + 1);
            n++;
            ByteBuffer last = read(WalReplay.segments(dir).getLast());
            if (WalRecordFormat.isRecycled(formatVersion(last))
                    && chain(last).size() - 1 >= recordsMin && WalReplay.readCheckpoint(dir) <= n - recordsMin) {
                return n;
            }
            assertThat(n).as("a recycled segment within 200 records").isLessThan(from + 200);
        }
    }

    @Test
    void recycledSegmentsReplayToExactlyTheAcknowledgedRecords() throws Exception {
        WalWriter wal = WalWriter.open(dir, new RecordingSink(), CONFIG, WalWriter.Listener.NONE);
        write(wal, 0, 100);
        assertThat(wal.recycledRollCount()).as("rolls into spares").isGreaterThan(3);
        assertThat(WalReplay.spares(dir)).hasSizeLessThanOrEqualTo(2);
        long count = writeIntoARecycledSegment(wal, dir, 100, 3);
        wal.abandon();
        ByteBuffer last = read(WalReplay.segments(dir).getLast());
        assertThat(oldRecordAtEnd(last)).as("the old records are still there, right after the new ones").isTrue();
        WalReplay.Result result = assertReplaysExactly(count);
        assertThat(result.bytesCut()).as("nothing to cut after a clean end").isZero();
        assertThat(result.tailOffsetBytes()).isEqualTo((long) chain(last).getLast());
        assertThat(read(WalReplay.segments(dir).getLast())).as("replay leaves the old records alone").isEqualTo(last);

        // The writer continues where the new records end, and a clean close and reopen sees it all.
        wal = WalWriter.open(dir, new RecordingSink(), CONFIG, WalWriter.Listener.NONE);
        write(wal, count, count + 1);
        wal.abandon();
        ByteBuffer after = read(WalReplay.segments(dir).getLast());
        assertThat(chain(after)).hasSize(chain(last).size() + 1);
        assertReplaysExactly(count + 1);
        wal = WalWriter.open(dir, new RecordingSink(), CONFIG, WalWriter.Listener.NONE);
        write(wal, count + 1, count + 60);
        wal.close();
        assertReplaysExactly(count + 60);
    }

    /**
     * The batch being written at a crash: its first record torn, its second whole. Replay ends the log
     * before the torn one and must invalidate the whole one, which sits exactly where a new record of
     * the same size ends, with the very LSN replay expects next.
     */
    @Test
    void aTornTailInARecycledSegmentIsCutWithoutZeroingTheOldRecords() throws Exception {
        long count = crashInARecycledSegment(60, 4);
        Path lastPath = WalReplay.segments(dir).getLast();
        ByteBuffer last = read(lastPath);
        List<Integer> chain = chain(last);
        int torn = chain.get(chain.size() - 3);
        int whole = chain.get(chain.size() - 2);
        byte[] bytes = last.array().clone();
        bytes[torn + WalRecordFormat.HEADER_BYTES + 3] ^= 0x40;
        Files.write(lastPath, bytes);

        WalReplay.Result result = assertReplaysExactly(count - 2);
        assertThat(result.tailOffsetBytes()).isEqualTo((long) torn);
        assertThat(result.bytesCut()).as("only up to the end of the unfinished batch").isEqualTo((long) chain.getLast() - torn);
        ByteBuffer cut = read(lastPath);
        assertThat(Arrays.copyOfRange(cut.array(), torn, chain.getLast())).containsOnly(0);
        assertThat(Arrays.copyOfRange(cut.array(), chain.getLast(), cut.capacity()))
                .as("the old records behind the batch are left as they were")
                .isEqualTo(Arrays.copyOfRange(last.array(), chain.getLast(), last.capacity()));

        WalWriter wal = WalWriter.open(dir, new RecordingSink(), CONFIG, WalWriter.Listener.NONE);
        write(wal, count - 2, count - 1); // same size as the torn record: it ends where the whole one began
        wal.abandon();
        assertThat(chain(read(lastPath)).get(chain.size() - 2)).isEqualTo(whole);
        assertReplaysExactly(count - 1);
    }

    /** Stop the writer at each step of a roll into a spare; each must leave a replayable WAL. */
    @ParameterizedTest
    @EnumSource(WalWriter.RollStep.class)
    void aCrashAtAnyStepOfARollIntoASpareLeavesAReplayableWal(WalWriter.RollStep step) throws Exception {
        WalWriter wal = WalWriter.open(dir, new RecordingSink(), CONFIG, WalWriter.Listener.NONE);
        long n = 0;
        while (WalReplay.spares(dir).isEmpty()) {
            write(wal, n, n + 1);
            n++;
        }
        wal.rollSteps = reached -> {
            if (reached == step) {
                throw new IOException("crash at " + step + " (injected)");
            }
        };
        long acknowledged = n;
        while (true) {
            CompletableFuture<Long> ack = submit(wal, n);
            try {
                ack.get(10, TimeUnit.SECONDS);
                acknowledged = ++n;
            } catch (ExecutionException e) {
                assertThat(e.getCause()).isInstanceOfSatisfying(CsException.class,
                        error -> assertThat(error.status()).isEqualTo(CsStatus.IO_ERROR));
                break;
            }
        }
        wal.abandon();
        Path newName = WalReplay.segmentPath(dir, acknowledged + 1);
        boolean renamed = step.compareTo(WalWriter.RollStep.RENAMED) >= 0;
        assertThat(Files.exists(newName)).isEqualTo(renamed);
        WalReplay.Result result = assertReplaysExactly(acknowledged);
        if (renamed) {
            assertThat(result.segments().getLast()).isEqualTo(newName);
            assertThat(result.tailOffsetBytes()).isEqualTo((long) WalRecordFormat.SEGMENT_HEADER_BYTES);
        }

        // Restarted, the writer uses the half-made spare or the new segment and goes on.
        wal = WalWriter.open(dir, new RecordingSink(), CONFIG, WalWriter.Listener.NONE);
        write(wal, acknowledged, acknowledged + 40);
        assertThat(wal.recycledRollCount()).isPositive();
        wal.abandon();
        assertReplaysExactly(acknowledged + 40);
    }

    /**
     * A checkpoint retires several segments (renames to spares, deletes) with one directory sync at
     * the end; a crash before it may keep any subset of those changes. Replay skips what is wholly
     * behind the checkpoint, so a gap there is no damage.
     */
    @Test
    void aCrashWhileACheckpointRetiresSegmentsLeavesAReplayableWalWhateverSurvived() throws Exception {
        WalWriter.Config noCheckpointUntilClose = new WalWriter.Config(1024, 8, 64, Long.MAX_VALUE,
                WalProperties.PAYLOAD_MAX, 2);
        WalWriter wal = WalWriter.open(dir, new RecordingSink(), noCheckpointUntilClose, WalWriter.Listener.NONE);
        write(wal, 0, 60);
        List<Path> before = WalReplay.segments(dir);
        assertThat(before).hasSizeGreaterThan(4);
        java.util.Map<Path, byte[]> saved = new java.util.HashMap<>();
        for (Path segment : before) {
            saved.put(segment, Files.readAllBytes(segment));
        }
        wal.close(); // checkpoint at LSN 60: all but the last segment retired, 2 of them as spares
        assertThat(WalReplay.spares(dir)).hasSize(2);
        // Undo the retirement of the 2nd and 4th oldest only, as if those renames or deletes were lost.
        for (int undone : new int[] {1, 3}) {
            Path segment = before.get(undone);
            Path spare = WalReplay.sparePath(dir, WalReplay.nameLsn(segment));
            if (Files.exists(spare)) {
                Files.move(spare, segment);
            } else {
                Files.write(segment, saved.get(segment));
            }
        }
        assertReplaysExactly(60);
        wal = WalWriter.open(dir, new RecordingSink(), CONFIG, WalWriter.Listener.NONE);
        write(wal, 60, 120);
        wal.abandon();
        assertReplaysExactly(120);
    }

    @Test
    void aRecycledFileUnderASegmentNameWithItsOldHeaderIsRefused() throws Exception {
        WalWriter wal = WalWriter.open(dir, new RecordingSink(), CONFIG, WalWriter.Listener.NONE);
        long n = 0;
        while (WalReplay.spares(dir).isEmpty()) {
            write(wal, n, n + 1);
            n++;
        }
        wal.abandon();
        // What renaming before rewriting the header would leave after a crash: never done.
        Path spare = WalReplay.spares(dir).getFirst();
        Path segment = WalReplay.segmentPath(dir, n + 1);
        Files.move(spare, segment);
        assertThatThrownBy(() -> WalReplay.replay(dir, new RecordingSink(), WalProperties.PAYLOAD_MAX))
                .isInstanceOf(IOException.class)
                .hasMessageContaining(segment.getFileName() + " has a header for first LSN "
                        + WalReplay.nameLsn(spare));
    }

    @Test
    void aStaleLookingRecordInAFreshSegmentIsDamage() throws Exception {
        WalWriter wal = WalWriter.open(dir, new RecordingSink(), CONFIG.withSparesMax(0), WalWriter.Listener.NONE);
        write(wal, 0, 3);
        wal.abandon();
        // Copy record 1 (LSN 1) over where record 4 would go: CRC-valid, LSN below expected.
        Path segment = WalReplay.segments(dir).getLast();
        byte[] bytes = Files.readAllBytes(segment);
        int recordBytes = WalRecordFormat.HEADER_BYTES + PAYLOAD;
        int end = WalRecordFormat.SEGMENT_HEADER_BYTES + 3 * recordBytes;
        System.arraycopy(bytes, WalRecordFormat.SEGMENT_HEADER_BYTES, bytes, end, recordBytes);
        Files.write(segment, bytes);
        assertThatThrownBy(() -> WalReplay.replay(dir, new RecordingSink(), WalProperties.PAYLOAD_MAX))
                .isInstanceOf(IOException.class).hasMessageContaining("LSN 1 where 4 was expected");
    }

    @Test
    void sparesAreBoundedAndOfTheConfiguredSegmentSize() throws Exception {
        WalWriter wal = WalWriter.open(dir, new RecordingSink(), CONFIG.withSparesMax(0), WalWriter.Listener.NONE);
        write(wal, 0, 60);
        assertThat(WalReplay.spares(dir)).as("recycling off: retired segments are deleted").isEmpty();
        assertThat(wal.recycledRollCount()).isZero();
        wal.close();

        // No checkpoint until close, which then retires about 6 segments at once: 3 stay as spares.
        wal = WalWriter.open(dir, new RecordingSink(), new WalWriter.Config(1024, 8, 64, Long.MAX_VALUE,
                WalProperties.PAYLOAD_MAX, 3), WalWriter.Listener.NONE);
        write(wal, 60, 130);
        wal.close();
        assertThat(WalReplay.spares(dir)).hasSize(3);
        assertThat(WalReplay.segments(dir)).hasSize(1);

        // Fewer spares configured now: the extra one goes at open. Spares of another size are
        // deleted when a roll would take them, and the roll preallocates instead.
        List<Path> spares = WalReplay.spares(dir);
        for (Path spare : spares) {
            try (var channel = java.nio.channels.FileChannel.open(spare, java.nio.file.StandardOpenOption.WRITE)) {
                channel.truncate(512);
            }
        }
        wal = WalWriter.open(dir, new RecordingSink(), CONFIG.withSparesMax(2), WalWriter.Listener.NONE);
        assertThat(WalReplay.spares(dir)).isEqualTo(spares.subList(0, 2));
        long n = 130;
        while (wal.rollCount() == 0) {
            write(wal, n, n + 1);
            n++;
        }
        assertThat(wal.recycledRollCount()).isZero();
        assertThat(WalReplay.spares(dir)).isEmpty();
        assertThat(formatVersion(read(WalReplay.segments(dir).getLast())))
                .isEqualTo(WalRecordFormat.SEGMENT_FORMAT_VERSION_SALTED);
        wal.abandon();
        assertReplaysExactly(n);
    }

    /**
     * A recycled segment still holds its previous life, client data included, behind the end of the
     * log. A client that planted a well-formed record there (magic, the next LSN, a CRC it can compute)
     * must not get it replayed after a crash: the CRC is salted with the segment's own salt.
     */
    @Test
    void aRecordForgedInARecycledSegmentsOldDataIsNotReplayed() throws Exception {
        long count = crashInARecycledSegment(40, 3);
        Path last = WalReplay.segments(dir).getLast();
        ByteBuffer segment = read(last);
        int end = chain(segment).getLast();
        ByteBuffer forged = ByteBuffer.allocate(WalRecordFormat.HEADER_BYTES + PAYLOAD).order(ByteOrder.BIG_ENDIAN);
        WalRecordFormat.putHeader(forged, WalRecordFormat.TYPE_WRITE, count + 1, 1, 0, 4096, PAYLOAD, 0);
        forged.position(WalRecordFormat.HEADER_BYTES).put(payload(count)).position(0);
        forged.putInt(WalRecordFormat.CRC_OFFSET, WalRecordFormat.recordCrc(0, forged.duplicate(),
                ByteBuffer.wrap(payload(count))));
        segment.put(end, forged, 0, forged.capacity());
        Files.write(last, segment.array());

        assertReplaysExactly(count);
        // What an unsalted log would have done with it: taken it as the next record.
        assertThat(WalReplay.validRecordEnd(segment, end, WalProperties.PAYLOAD_MAX, 0)).isPositive();
    }

    /** Segments of formats 1 and 2 (no salt, earlier builds) replay, and the writer continues in them. */
    @Test
    void segmentsWithoutASaltReplayAndTheWriterContinuesThem() throws Exception {
        long count = crashInARecycledSegment(40, 3);
        for (Path segment : WalReplay.segments(dir)) {
            Files.write(segment, unsalted(read(segment)).array());
        }
        assertThat(formatVersion(read(WalReplay.segments(dir).getLast())))
                .isEqualTo(WalRecordFormat.SEGMENT_FORMAT_VERSION_RECYCLED);
        assertReplaysExactly(count);

        WalWriter wal = WalWriter.open(dir, new RecordingSink(), CONFIG, WalWriter.Listener.NONE);
        write(wal, count, count + 1);
        wal.abandon();
        ByteBuffer last = read(WalReplay.segments(dir).getLast());
        assertThat(WalRecordFormat.salt(last)).as("continued in the unsalted segment").isZero();
        assertReplaysExactly(count + 1);
    }

    /** {@code segment} as an earlier build wrote it: format 1 or 2, no salt, records' CRCs without one. */
    private static ByteBuffer unsalted(ByteBuffer segment) {
        int salt = WalRecordFormat.salt(segment);
        List<Integer> starts = chain(segment);
        for (int i = 0; i + 1 < starts.size(); i++) {
            int at = starts.get(i);
            int payloadBytes = segment.getInt(at + WalRecordFormat.PAYLOAD_BYTES_OFFSET);
            assertThat(WalReplay.validRecordEnd(segment, at, WalProperties.PAYLOAD_MAX, salt)).isPositive();
            ByteBuffer payload = segment.duplicate().position(at + WalRecordFormat.HEADER_BYTES)
                    .limit(at + WalRecordFormat.HEADER_BYTES + payloadBytes);
            segment.putInt(at + WalRecordFormat.CRC_OFFSET,
                    WalRecordFormat.recordCrc(0, segment.duplicate().position(at), payload));
        }
        boolean recycled = WalRecordFormat.isRecycled(formatVersion(segment));
        int legacyVersion = recycled ? WalRecordFormat.SEGMENT_FORMAT_VERSION_RECYCLED : WalRecordFormat.FORMAT_VERSION;
        segment.put(4, (byte) legacyVersion);
        segment.putInt(WalRecordFormat.SEGMENT_SALT_OFFSET, 0);
        segment.putInt(WalRecordFormat.SEGMENT_CRC_OFFSET,
                WalRecordFormat.crc(segment, 0, WalRecordFormat.SEGMENT_CRC_OFFSET));
        return segment;
    }
}
