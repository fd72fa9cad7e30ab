package io.basalt.chunkserver.wal;

import io.basalt.common.ThreadNames;
import static io.basalt.chunkserver.wal.WalRecordFormat.*;

import io.basalt.common.io.LinuxFiles;
import io.basalt.protocol.data.CsException;
import io.basalt.protocol.data.CsStatus;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The write-ahead log of one chunk server and its single writer thread, which does group commit.
 *
 * <p>Design note. Every mutation is a {@link WalEntry} put on a bounded queue. The writer thread
 * (named {@code basalt-wal-writer}) takes whatever is queued (up to {@link Config#batchEntriesMax}),
 * asks the store to reserve space for each ({@link WalSink#prepare}), appends them as records with one
 * gathering write, makes the batch durable with <em>one</em> {@code FileChannel.force(false)}
 * (fdatasync), applies them to the chunklet files and only then completes them. So at queue depth 32
 * about one sync serves up to 32 writes, and a reply always means "durable and readable".
 *
 * <p>Segments are preallocated to their full size (fallocate), so appending never changes the file
 * size and fdatasync has no metadata to write, and a full disk shows up when a segment is created
 * (the batch fails with NO_SPACE, nothing logged) rather than in the middle of a record. A new segment
 * is only written after the previous one was synced, so there is never a hole in the middle of the
 * log. Every {@link Config#checkpointIntervalBytes} the writer asks the store to force the chunklet
 * files, writes the checkpoint LSN (atomic rename) and retires the segments wholly behind it.
 *
 * <p>Recycling. A fallocated segment is one big unwritten extent, so every fdatasync into it also
 * commits the extent conversion to the filesystem journal (measured with fio on the CI disk: 4,194
 * fdatasync'd 4 KiB writes/s into a fallocated file against 7,301/s into one already written), and
 * zero-filling a new segment instead stalls the writer at every roll. So, like PostgreSQL's WAL files
 * and RocksDB's {@code recycle_log_file_num}, a retired segment is not deleted but renamed to a spare
 * ({@code NNNN.spare}, up to {@link Config#sparesMax}, the rest deleted), and a roll takes a spare
 * when there is one: it overwrites the header (formatVersion 4, the new firstLsn, a new salt),
 * syncs it, renames the file to the new segment's name and syncs the directory. The old records stay
 * in the file; {@link WalReplay} ends the log at the first one (its CRC was salted with another
 * salt, and its LSN is below the new firstLsn). The salt also keeps a record forged inside a
 * client's old data from passing as the next one (WalRecordFormat). The order
 * matters: the file takes a live name only with its new header durable, so a crash at any point of the
 * roll leaves either a spare (ignored by replay, rewritten when used) or a segment whose header says
 * where it starts; and the checkpoint syncs the directory after making spares, so a header is never
 * rewritten in a file whose old segment name could come back after a crash. A fresh WAL has no spares
 * and preallocates, as does a roll with none left; spares of another segment size are deleted.
 *
 * <p>A failed write or sync leaves the WAL in an unknown state (after a failed fsync the kernel may
 * have dropped the dirty pages): the WAL then refuses everything with UNAVAILABLE until the daemon is
 * restarted and replays; it never retries a sync and pretends.
 *
 * <p>Ownership: the segment channel, {@code nextLsn} and the batch state belong to the writer thread.
 * Other threads only call {@link #submit} (the queue is the hand-over) and read the volatile fields.
 */
public final class WalWriter implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(WalWriter.class);

    /**
     * Limits of one WAL. {@code sparesMax} bounds the retired segments kept for recycling: 4 covers
     * one checkpoint interval at the defaults (256 MiB = 4 segments retired at once) and holds at most
     * 4 segments of disk beyond the live ones; 0 turns recycling off.
     */
    public record Config(long segmentBytes, int batchEntriesMax, int queueEntriesMax, long checkpointIntervalBytes,
            int payloadMaxBytes, int sparesMax) {
        public static final int SPARES_MAX_DEFAULT = 4;

        public Config {
            if (segmentBytes < SEGMENT_HEADER_BYTES + HEADER_BYTES + payloadMaxBytes) {
                throw new IllegalArgumentException("WAL segment of " + segmentBytes
                        + " bytes cannot hold one record of payload " + payloadMaxBytes);
            }
            if (sparesMax < 0) {
                throw new IllegalArgumentException("WAL sparesMax " + sparesMax + " (min 0)");
            }
        }

        public Config(long segmentBytes, int batchEntriesMax, int queueEntriesMax, long checkpointIntervalBytes,
                int payloadMaxBytes) {
            this(segmentBytes, batchEntriesMax, queueEntriesMax, checkpointIntervalBytes, payloadMaxBytes,
                    SPARES_MAX_DEFAULT);
        }

        /** 64 MiB segments, batches of up to 64, checkpoint every 256 MiB, 4 spares. */
        public static Config defaults(int payloadMaxBytes) {
            return new Config(64L << 20, 64, 4096, 256L << 20, payloadMaxBytes);
        }

        public Config withSparesMax(int sparesMax) {
            return new Config(segmentBytes, batchEntriesMax, queueEntriesMax, checkpointIntervalBytes, payloadMaxBytes,
                    sparesMax);
        }
    }

    /** Hooks for metrics; called on the writer thread. */
    public interface Listener {
        void synced(int batchEntries, long batchBytes, long syncNanos);

        /** A new segment was started, in a recycled spare or a newly preallocated file. */
        default void rolled(boolean recycled) {}

        Listener NONE = (entries, bytes, nanos) -> {};
    }

    private final Path walDir;
    private final WalSink sink;
    private final Config config;
    private final Listener listener;
    private final ArrayBlockingQueue<WalEntry> queue;
    private final Thread thread;
    private final ByteBuffer headers;

    // Writer-thread state.
    private FileChannel segment;
    private Path segmentPath;
    private long segmentPosition;
    /** The current segment's record-CRC salt (0: a segment of format 1 or 2 continued after an upgrade). */
    private int segmentSalt;
    private long nextLsn;
    private long appliedLsn;
    private long checkpointLsn;
    private long bytesSinceCheckpoint;
    private final java.security.SecureRandom saltSource = new java.security.SecureRandom();
    private final ArrayDeque<Path> segments = new ArrayDeque<>();
    private final ArrayDeque<Path> spares = new ArrayDeque<>();

    /** Steps of a roll into a spare, in order; see {@link #rollSteps}. */
    enum RollStep { HEADER_WRITTEN, HEADER_SYNCED, RENAMED, DIRECTORY_SYNCED }

    /**
     * Called after each step of a roll into a spare. Tests throw here to stop the writer exactly
     * there, which leaves the files as a crash at that step would (minus what the lost page cache
     * would undo, which is the previous step's state).
     */
    interface RollSteps {
        void reached(RollStep step) throws IOException;
    }

    volatile RollSteps rollSteps = step -> {};

    /** Wakes the writer on close so it does not wait out its poll. */
    private static final WalEntry STOP = new WalEntry(TYPE_TRIM, 0, 0, 0, null, null);

    private volatile boolean running = true;
    private volatile Throwable failure;
    private volatile long durableLsn;
    private volatile long syncCount;
    private volatile long syncNanos;
    private volatile long lastSyncNanos;
    private volatile long foregroundBatches;
    private volatile long foregroundBatchNanos;
    private volatile long rollCount;
    private volatile long recycledRollCount;

    private WalWriter(Path walDir, WalSink sink, Config config, Listener listener, WalReplay.Result replayed)
            throws IOException {
        this.walDir = walDir;
        this.sink = sink;
        this.config = config;
        this.listener = listener;
        this.queue = new ArrayBlockingQueue<>(config.queueEntriesMax());
        this.headers = ByteBuffer.allocateDirect(HEADER_BYTES * config.batchEntriesMax()).order(ByteOrder.BIG_ENDIAN);
        this.nextLsn = replayed.lastLsn() + 1;
        this.appliedLsn = replayed.lastLsn();
        this.durableLsn = replayed.lastLsn();
        this.checkpointLsn = replayed.checkpointLsn();
        sink.checkpointed(checkpointLsn);
        segments.addAll(replayed.segments());
        for (Path spare : WalReplay.spares(walDir)) {
            if (spares.size() < config.sparesMax()) {
                spares.addLast(spare);
            } else {
                Files.deleteIfExists(spare); // fewer spares configured than last time
            }
        }
        if (!segments.isEmpty() && replayed.tailOffsetBytes() >= 0) {
            segmentPath = segments.peekLast();
            segment = FileChannel.open(segmentPath, StandardOpenOption.WRITE, StandardOpenOption.READ);
            segmentPosition = replayed.tailOffsetBytes();
            segmentSalt = replayed.tailSalt();
        }
        this.thread = Thread.ofPlatform().name(ThreadNames.of("basalt-wal-writer")).daemon(true).unstarted(this::run);
    }

    /**
     * Replays {@code walDir} into {@code sink} (creating the directory if needed) and starts the writer.
     *
     * @throws IOException when the WAL is damaged beyond a torn tail; the message says where
     */
    public static WalWriter open(Path walDir, WalSink sink, Config config, Listener listener) throws IOException {
        Files.createDirectories(walDir);
        WalReplay.Result replayed = WalReplay.replay(walDir, sink, config.payloadMaxBytes());
        WalWriter writer = new WalWriter(walDir, sink, config, listener, replayed);
        writer.thread.start();
        return writer;
    }

    /**
     * Queues {@code entry}; its completion runs on the writer thread once it is durable and applied,
     * or with an error. Never blocks: a full queue completes it at once with BUSY (the protocol
     * bounds bytes in flight per connection, so this means the disk is behind), and so does a
     * background entry while the queue is three quarters full.
     */
    public void submit(WalEntry entry) {
        Throwable failed = failure;
        if (failed != null || !running) {
            fail(entry, new CsException(CsStatus.UNAVAILABLE, failed != null
                    ? "WAL failed earlier (" + failed.getMessage() + "); restart the chunk server after checking the disk"
                    : "chunk server is shutting down"));
            return;
        }
        // Background work (recovery, scrub, the freezer's sweep) keeps a quarter of the queue free
        // for what clients wait for: a sweep that queued thousands of frees at once filled it, and
        // every client write then failed as if the server were gone (reported, its chunk degraded).
        if (!entry.foreground() && queue.remainingCapacity() <= config.queueEntriesMax() / 4) {
            fail(entry, new CsException(CsStatus.BUSY, "WAL queue three quarters full (" + queue.size()
                    + " entries): background work waits for client writes"));
            return;
        }
        if (!queue.offer(entry)) {
            logQueueFull();
            fail(entry, new CsException(CsStatus.BUSY, "WAL queue full (" + config.queueEntriesMax()
                    + " entries): the disk is behind; try again shortly"));
        }
    }

    private volatile long queueFullLoggedNanos = System.nanoTime() - QUEUE_FULL_LOG_NANOS;
    private static final long QUEUE_FULL_LOG_NANOS = 5_000_000_000L;

    /** Says, at most every 5 s, what fills a full queue (which kinds of record wait): where to look. */
    private void logQueueFull() {
        long now = System.nanoTime();
        long last = queueFullLoggedNanos;
        if (now - last < QUEUE_FULL_LOG_NANOS) {
            return;
        }
        queueFullLoggedNanos = now;
        java.util.Map<String, Integer> kinds = new java.util.TreeMap<>();
        long bytes = 0;
        for (WalEntry waiting : queue) {
            kinds.merge(WalRecordFormat.typeName(waiting.type()) + (waiting.logged ? "" : " (unlogged)"), 1, Integer::sum);
            bytes += waiting.lengthBytes();
        }
        log.warn("WAL queue full ({} entries, {} KiB of data): {}; last sync took {} ms", config.queueEntriesMax(),
                bytes >> 10, kinds, lastSyncNanos / 1_000_000);
    }

    /** Entries queued and not yet taken by the writer thread. */
    public int queuedEntries() {
        return queue.size();
    }

    /** LSN of the last record made durable. */
    public long durableLsn() {
        return durableLsn;
    }

    /** Number of syncs (fdatasync) done: with the write count it gives the group-commit factor. */
    public long syncCount() {
        return syncCount;
    }

    /** Time spent in those syncs, in nanoseconds: with {@link #syncCount} the mean sync latency. */
    public long syncNanos() {
        return syncNanos;
    }

    /**
     * Batches that carried at least one {@link WalEntry#foreground() client} entry: what recovery's
     * pace is measured against ({@code SyncLatencyPacer}).
     */
    public long foregroundBatches() {
        return foregroundBatches;
    }

    /** Time those batches took to write and sync, in nanoseconds: what their clients waited for. */
    public long foregroundBatchNanos() {
        return foregroundBatchNanos;
    }

    /** Number of segments started since open; with {@link #recycledRollCount} it shows recycling at work. */
    public long rollCount() {
        return rollCount;
    }

    /** Number of segments started in a recycled spare since open. */
    public long recycledRollCount() {
        return recycledRollCount;
    }

    /** Why the WAL stopped taking writes, or null. */
    public Throwable failure() {
        return failure;
    }

    private void run() {
        List<WalEntry> batch = new ArrayList<>(config.batchEntriesMax());
        while (running || !queue.isEmpty()) {
            try {
                WalEntry first = queue.poll(100, TimeUnit.MILLISECONDS);
                if (first == null || first == STOP) {
                    continue;
                }
                batch.add(first);
                queue.drainTo(batch, config.batchEntriesMax() - 1);
                try {
                    writeBatch(batch);
                } finally {
                    sink.batchEnded();
                }
                if (bytesSinceCheckpoint >= config.checkpointIntervalBytes()) {
                    checkpoint();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            } catch (Exception e) {
                // writeBatch completes its entries itself; this is a failed checkpoint or a bug.
                failWal(e);
            } finally {
                batch.clear();
            }
        }
        WalEntry left;
        while ((left = queue.poll()) != null) {
            if (left == STOP) {
                continue;
            }
            fail(left, new CsException(CsStatus.UNAVAILABLE, "chunk server is shutting down"));
        }
    }

    private void writeBatch(List<WalEntry> batch) {
        // 0. An unlogged RESOLVE is logged after all when the batch syncs anyway (WalEntry.unlogged).
        boolean syncs = false;
        for (WalEntry entry : batch) {
            syncs |= entry != STOP && entry.logged;
        }
        for (WalEntry entry : batch) {
            if (syncs && entry != STOP && entry.ridesAlong) {
                entry.logged = true;
            }
        }
        // 1. Reserve; entries the store refuses are answered now and not logged.
        int kept = 0;
        for (int i = 0; i < batch.size(); i++) {
            WalEntry entry = batch.get(i);
            if (entry == STOP) {
                continue;
            }
            if (failure != null) {
                fail(entry, new CsException(CsStatus.UNAVAILABLE, "WAL failed: " + failure.getMessage()));
                continue;
            }
            try {
                sink.prepare(entry);
                batch.set(kept++, entry);
            } catch (CsException e) {
                fail(entry, e);
            } catch (RuntimeException e) {
                fail(entry, new CsException(CsStatus.IO_ERROR, "preparing " + entry + ": " + e));
            }
        }
        batch.subList(kept, batch.size()).clear();
        if (batch.isEmpty()) {
            return;
        }
        // 1b. Data the store wrote in place (big first writes) must be durable before any record
        //     that makes it visible is: one fdatasync per chunklet file, before the WAL's own.
        try {
            sink.forcePlaced();
        } catch (IOException | RuntimeException e) {
            // Nothing of this batch is logged, so no record points at data that may be lost; but
            // the data disk just failed a sync, so the store takes no more writes.
            failWal(e);
            CsException error = new CsException(CsStatus.IO_ERROR, "syncing data written in place"
                    + " failed: " + e.getMessage());
            for (WalEntry entry : batch) {
                fail(entry, error);
            }
            return;
        }
        // 2. Append and sync, one sub-batch per segment: a batch never straddles a segment roll, so
        //    a full disk at roll time fails only entries that were not written at all.
        int from = 0;
        while (from < batch.size()) {
            if (segment == null || segmentPosition + recordBytes(batch.get(from)) > config.segmentBytes()) {
                try {
                    rollSegment();
                } catch (IOException | RuntimeException e) {
                    boolean noSpace = e instanceof IOException io && (LinuxFiles.isNoSpace(io) || isNoSpaceMessage(io));
                    if (!noSpace) {
                        failWal(e);
                    }
                    CsException error = noSpace
                            ? new CsException(CsStatus.NO_SPACE, "no space left for a new WAL segment in " + walDir)
                            : new CsException(CsStatus.IO_ERROR, "creating a WAL segment in " + walDir + " failed: "
                                    + e.getMessage());
                    for (int i = from; i < batch.size(); i++) {
                        fail(batch.get(i), error);
                    }
                    return;
                }
            }
            int to = from;
            long position = segmentPosition;
            while (to < batch.size() && position + recordBytes(batch.get(to)) <= config.segmentBytes()) {
                position += recordBytes(batch.get(to));
                to++;
            }
            assert to > from : "a record larger than an empty segment";
            if (!appendSyncApply(batch.subList(from, to))) {
                CsException error = new CsException(CsStatus.UNAVAILABLE, "WAL failed: " + failure.getMessage());
                for (int i = to; i < batch.size(); i++) {
                    fail(batch.get(i), error);
                }
                return;
            }
            from = to;
        }
    }

    private static int recordBytes(WalEntry entry) {
        return entry.logged ? HEADER_BYTES + entry.payloadBytes() : 0;
    }

    /**
     * Appends {@code entries} (they fit in the current segment) with one gathering write, syncs once,
     * applies and completes them. Returns false when the WAL failed (entries completed with errors).
     */
    private boolean appendSyncApply(List<WalEntry> entries) {
        long firstLsn = nextLsn;
        long batchBytes = 0;
        try {
            headers.clear();
            List<ByteBuffer> gather = new ArrayList<>(entries.size() * 2);
            long start = segmentPosition;
            int logged = 0;
            boolean foreground = false;
            for (WalEntry entry : entries) {
                if (!entry.logged) {
                    entry.lsn = Math.max(1, nextLsn - 1); // shares the last LSN: a block's "written" mark
                    continue;
                }
                logged++;
                foreground |= entry.foreground();
                entry.lsn = nextLsn++;
                int headerAt = headers.position();
                putHeader(headers, entry.recordType(), entry.lsn, entry.chunkUid, entry.offsetBytes,
                        entry.lengthBytes, entry.payloadBytes(), entry.chunkVersion);
                ByteBuffer header = headers.duplicate().position(headerAt).limit(headerAt + HEADER_BYTES);
                ByteBuffer[] payload = entry.loggedPayload();
                headers.putInt(headerAt + CRC_OFFSET, recordCrc(segmentSalt, header, payload));
                headers.position(headerAt + HEADER_BYTES);
                gather.add(header);
                for (ByteBuffer part : payload) {
                    gather.add(part);
                }
                batchBytes += recordBytes(entry);
            }
            if (logged > 0) {
                ByteBuffer[] buffers = gather.toArray(ByteBuffer[]::new);
                long writeStart = System.nanoTime();
                segment.position(start);
                long written = 0;
                while (written < batchBytes) {
                    written += segment.write(buffers);
                }
                segmentPosition = start + batchBytes;
                long syncStart = System.nanoTime();
                segment.force(false);
                long syncNanos = System.nanoTime() - syncStart;
                syncCount++;
                this.syncNanos += syncNanos;
                lastSyncNanos = syncNanos;
                if (foreground) {
                    foregroundBatches++;
                    foregroundBatchNanos += System.nanoTime() - writeStart;
                }
                durableLsn = nextLsn - 1;
                listener.synced(logged, batchBytes, syncNanos);
            }
        } catch (IOException | RuntimeException e) {
            // The segment's state is unknown (and after a failed fsync, so is the page cache's).
            nextLsn = firstLsn;
            failWal(e);
            CsException error = new CsException(CsStatus.IO_ERROR, "WAL write failed in " + walDir + ": "
                    + e.getMessage());
            for (WalEntry entry : entries) {
                fail(entry, error);
            }
            return false;
        }
        bytesSinceCheckpoint += batchBytes;
        // 3. Apply in LSN order and complete.
        for (WalEntry entry : entries) {
            CsException error = null;
            try {
                sink.apply(entry);
                appliedLsn = Math.max(appliedLsn, entry.lsn);
            } catch (IOException | RuntimeException e) {
                // Durable in the WAL but not in the chunklet: reads would disagree with the log, so
                // the store takes no more writes until a restart replays.
                failWal(e);
                error = new CsException(CsStatus.IO_ERROR, "applying " + entry + " failed: " + e.getMessage());
            }
            complete(entry, error);
        }
        return true;
    }

    private static boolean isNoSpaceMessage(IOException e) {
        String message = e.getMessage();
        return message != null && message.contains("No space left on device");
    }

    /**
     * Syncs the current segment and starts a new one named by the next LSN, in a spare if there is one
     * (see the class note), else preallocated. On ENOSPC the half-made file is removed and the error
     * propagates (the batch fails, nothing logged).
     */
    private void rollSegment() throws IOException {
        if (segment != null) {
            segment.force(false);
            segment.close();
            segment = null;
        }
        Path path = WalReplay.segmentPath(walDir, nextLsn);
        int salt = newSalt();
        FileChannel channel = null;
        Path spare;
        while (channel == null && (spare = spares.pollFirst()) != null) {
            channel = recycle(spare, path, salt);
        }
        boolean recycled = channel != null;
        if (!recycled) {
            channel = createPreallocated(path, salt);
        }
        segmentSalt = salt;
        segment = channel;
        segmentPath = path;
        segmentPosition = SEGMENT_HEADER_BYTES;
        segments.addLast(path);
        rollCount++;
        if (recycled) {
            recycledRollCount++;
        }
        listener.rolled(recycled);
    }

    /**
     * Turns {@code spare} into the segment {@code path}: new header, synced, then the rename, then the
     * directory sync. Returns null (spare deleted) when the spare is not of the configured size.
     */
    private FileChannel recycle(Path spare, Path path, int salt) throws IOException {
        FileChannel channel = FileChannel.open(spare, StandardOpenOption.WRITE, StandardOpenOption.READ);
        try {
            if (channel.size() != config.segmentBytes()) {
                // Left by a run with another segment size: the roll decisions assume the configured one.
                log.info("WAL: deleting spare {} of {} bytes (segments are {} bytes now)", spare, channel.size(),
                        config.segmentBytes());
                channel.close();
                Files.deleteIfExists(spare);
                return null;
            }
            ByteBuffer header = segmentHeader(nextLsn, config.segmentBytes(), true, salt);
            while (header.hasRemaining()) {
                channel.write(header, header.position());
            }
            rollSteps.reached(RollStep.HEADER_WRITTEN);
            // fdatasync is enough: the size does not change, and the rename below is a directory
            // change synced on its own.
            channel.force(false);
            rollSteps.reached(RollStep.HEADER_SYNCED);
            Files.move(spare, path, StandardCopyOption.ATOMIC_MOVE);
            rollSteps.reached(RollStep.RENAMED);
            forceDirectory(walDir);
            rollSteps.reached(RollStep.DIRECTORY_SYNCED);
            return channel;
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    private FileChannel createPreallocated(Path path, int salt) throws IOException {
        FileChannel channel = FileChannel.open(path, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE,
                StandardOpenOption.READ);
        try {
            preallocate(channel, path, config.segmentBytes());
            ByteBuffer header = segmentHeader(nextLsn, config.segmentBytes(), false, salt);
            while (header.hasRemaining()) {
                channel.write(header, header.position());
            }
            channel.force(true);
            forceDirectory(walDir);
        } catch (IOException | RuntimeException e) {
            channel.close();
            Files.deleteIfExists(path);
            throw e;
        }
        return channel;
    }

    /**
     * A new segment's salt: random and nonzero. It need not be secret from this host, only unknown
     * to clients, whose old data a recycled segment still holds (see WalRecordFormat).
     */
    private int newSalt() {
        int salt;
        do {
            salt = saltSource.nextInt();
        } while (salt == 0);
        return salt;
    }

    private static void preallocate(FileChannel channel, Path path, long bytes) throws IOException {
        if (LinuxFiles.available()) {
            int fd = LinuxFiles.open(path, true);
            try {
                LinuxFiles.fallocate(fd, 0, 0, bytes, path.toString());
                return;
            } catch (IOException e) {
                if (!LinuxFiles.isUnsupported(e)) {
                    throw e;
                }
            } finally {
                LinuxFiles.close(fd);
            }
        }
        WalReplay.zero(channel, path, 0, bytes); // no fallocate: write the zeroes
    }

    /** Forces applied state, records the checkpoint and retires segments wholly behind it. */
    private void checkpoint() throws IOException {
        if (appliedLsn == checkpointLsn) {
            return;
        }
        sink.checkpoint();
        // Records the store still needs (pending EC strips live only in their PREPARE record) stay
        // in the log: the checkpoint stops short of them, and replay repeats what follows in order.
        long lsn = Math.min(appliedLsn, sink.retainFromLsn() - 1);
        bytesSinceCheckpoint = 0;
        if (lsn <= checkpointLsn) {
            return;
        }
        io.basalt.common.io.DurableFiles.replaceAtomically(walDir.resolve("checkpoint"), WalRecordFormat.checkpoint(lsn));
        checkpointLsn = lsn;
        sink.checkpointed(lsn);
        // A segment can go when the next one starts at or before checkpointLsn + 1.
        boolean madeSpare = false;
        while (segments.size() > 1) {
            Path oldest = segments.peekFirst();
            Path second = segments.stream().skip(1).findFirst().orElseThrow();
            if (WalReplay.nameLsn(second) > lsn + 1) {
                break;
            }
            segments.removeFirst();
            Path spare = WalReplay.sparePath(walDir, WalReplay.nameLsn(oldest));
            if (spares.size() < config.sparesMax() && Files.size(oldest) == config.segmentBytes()
                    && !spares.contains(spare)) {
                Files.move(oldest, spare, StandardCopyOption.ATOMIC_MOVE);
                spares.addLast(spare);
                madeSpare = true;
            } else {
                Files.deleteIfExists(oldest);
            }
        }
        if (madeSpare) {
            // Before any header is rewritten in a spare, its spare name must be durable: an old
            // segment name coming back after a crash with a new header inside would be refused.
            forceDirectory(walDir);
        }
        log.debug("WAL checkpoint at LSN {}; {} segments left, {} spares", lsn, segments.size(), spares.size());
    }

    static void forceDirectory(Path dir) throws IOException {
        try (FileChannel channel = FileChannel.open(dir, StandardOpenOption.READ)) {
            channel.force(true);
        }
    }

    private void failWal(Throwable e) {
        if (failure == null) {
            log.error("WAL in {} failed; refusing writes until restart", walDir, e);
            failure = e;
        }
    }

    private static void fail(WalEntry entry, CsException error) {
        complete(entry, error);
    }

    private static void complete(WalEntry entry, CsException error) {
        try {
            if (entry.completion != null) {
                entry.completion.done(entry, error);
            }
        } catch (RuntimeException e) {
            log.error("WAL completion of {} threw", entry, e);
        } finally {
            if (entry.payload != null) {
                entry.payload.release();
            }
        }
    }

    /**
     * Stops the writer like a crash would (tests): no checkpoint, no sync beyond what completed
     * entries already had; queued entries fail. The files stay as they are for a replay.
     */
    public void abandon() throws IOException {
        running = false;
        queue.offer(STOP);
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        if (segment != null) {
            segment.close();
        }
    }

    /**
     * Stops taking entries, finishes the queued ones, checkpoints (so the next start replays
     * little) and closes.
     */
    @Override
    public void close() throws IOException {
        running = false;
        queue.offer(STOP);
        try {
            thread.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            if (failure == null) {
                checkpoint();
            }
        } finally {
            if (segment != null) {
                segment.close();
            }
        }
    }
}
