package io.basalt.client.object;

import io.basalt.client.Windowed;
import io.basalt.meta.model.s3.ObjectExtent;
import io.basalt.meta.model.s3.ObjectLog;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentSkipListMap;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The writer of one object log (docs/objects.md, "Where the bytes are"): hands out space append-only
 * from its cursor, keeps meta's reservation ahead of it, remembers which bodies are still uncommitted,
 * and trims what deletes freed. One per storage policy per gateway; its device holds the log volume's
 * lease, so no other gateway writes the log meanwhile.
 *
 * <p>The reservation rule that makes a crash leak nothing: before the cursor passes meta's
 * {@code reservedMark}, the mark is advanced (by {@link #RESERVE_STEP_BYTES}) together with the lowest
 * offset of any body not yet committed ({@code oldestInFlight}). Bytes this writer wrote that no object
 * owns can then only lie in [oldestInFlight, reservedMark), which the next writer trims first
 * ({@link #takeOver}).
 */
final class LogWriter implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(LogWriter.class);
    /**
     * How far ahead of the cursor meta's reservation runs: one meta write per 64 MiB appended, and at
     * most about this much never-written space trimmed by the next writer after a crash (a trim of an
     * erasure-coded chunk's range is written through its stripe master, so it is not free: 1 GiB took
     * 39 s on the 2-core test machine).
     */
    static final long RESERVE_STEP_BYTES = 64L << 20;
    static final int ALIGNMENT = ObjectExtent.ALIGNMENT;
    /**
     * Space of this size or more starts on a stripe boundary of the log's policy. An EC write covering
     * whole stripes is encoded directly; one that starts or ends inside a stripe makes the stripe master
     * read the rest and commit the stripe again, and neighbouring writes that share an edge stripe wait
     * for each other there. Without this, a 64 MiB body after one 4 KiB object made all sixty-four of its
     * 1 MiB writes straddle stripes. The skipped space (under one stripe) is never written, so in a thin
     * volume it costs nothing; small bodies stay packed (WriteCombiner merges them into whole stripes).
     */
    static final long STRIPE_ALIGNED_BYTES_MIN = WriteCombiner.SMALL_WRITE_BYTES_MAX;
    private static final int GAPS_PER_CALL = 1000;
    /** Freed extents trimmed at once (each a few pieces at a time: VolumeDevice.ZERO_PIECES_IN_FLIGHT_MAX). */
    private static final int TRIMS_IN_FLIGHT_MAX = 4;

    /** The log is full: open another. */
    static final class LogFullException extends Exception {
        LogFullException(String message) {
            super(message);
        }
    }

    private final ObjectIndex index;
    private final String writer;
    private final LogDevice device;
    private final WriteCombiner combiner;
    private final long logId;
    private final long reserveStepBytes;
    private final long stripeBytes;
    private long cursor;
    private long reservedMark;
    /** Start offsets of bodies not yet committed or aborted, with how many start there. */
    private final ConcurrentSkipListMap<Long, Integer> inFlight = new ConcurrentSkipListMap<>();
    private volatile boolean full;

    private LogWriter(ObjectIndex index, String writer, LogDevice device, ObjectLog objectLog, long reserveStepBytes,
            long stripeBytes) {
        if (stripeBytes < ALIGNMENT || stripeBytes % ALIGNMENT != 0) {
            throw new IllegalArgumentException("stripeBytes " + stripeBytes + " (must be a multiple of " + ALIGNMENT + ")");
        }
        this.reserveStepBytes = reserveStepBytes;
        this.stripeBytes = stripeBytes;
        this.index = index;
        this.writer = writer;
        this.device = device;
        this.combiner = new WriteCombiner(device, PooledByteBufAllocator.DEFAULT);
        this.logId = objectLog.id();
        this.reservedMark = objectLog.reservedMark();
        this.cursor = objectLog.reservedMark();
    }

    /**
     * Becomes the writer of {@code objectLog} (its device already holds the lease): first trims every
     * range a crashed earlier writer may have left unowned, then appends from the reserved mark on
     * (space below it is never reused).
     */
    static LogWriter takeOver(ObjectIndex index, String writer, LogDevice device, ObjectLog objectLog,
            long stripeBytes) {
        return takeOver(index, writer, device, objectLog, RESERVE_STEP_BYTES, stripeBytes);
    }

    /**
     * As {@link #takeOver(ObjectIndex, String, LogDevice, ObjectLog, long)}, reserving {@code reserveStepBytes}
     * at a time; large space starts on multiples of {@code stripeBytes} (the policy's data bytes per stripe).
     */
    static LogWriter takeOver(ObjectIndex index, String writer, LogDevice device, ObjectLog objectLog,
            long reserveStepBytes, long stripeBytes) {
        long from = objectLog.oldestInFlight();
        long to = objectLog.reservedMark();
        long trimmed = 0;
        while (from < to) {
            List<ObjectExtent> gaps = index.objectLogGaps(objectLog.id(), from, to, GAPS_PER_CALL);
            if (gaps.isEmpty()) {
                break;
            }
            for (ObjectExtent gap : gaps) {
                device.trim(gap.offset(), gap.length()).join();
                trimmed += gap.length();
            }
            ObjectExtent last = gaps.get(gaps.size() - 1);
            from = last.offset() + last.length();
            if (gaps.size() < GAPS_PER_CALL) {
                break;
            }
        }
        if (trimmed > 0) {
            log.info("object log {}: trimmed {} bytes an earlier writer left uncommitted in [{}, {})", objectLog.id(),
                    trimmed, objectLog.oldestInFlight(), to);
        }
        return new LogWriter(index, writer, device, objectLog, reserveStepBytes, stripeBytes);
    }

    long logId() {
        return logId;
    }

    LogDevice device() {
        return device;
    }

    /**
     * Writes {@code data} (aligned; released here) at {@code offset} of the log, durable when the future
     * completes; small writes are combined with their neighbours ({@link WriteCombiner}).
     */
    CompletableFuture<Void> write(long offset, ByteBuf data) {
        return combiner.write(offset, data);
    }

    boolean full() {
        return full;
    }

    /**
     * Space for {@code bytes} (rounded up to 4 KiB) at the returned offset. {@code firstOfBody}: this is
     * a new body's first space, which stays in flight until {@link #settled}. Blocks while meta's
     * reservation is advanced.
     */
    synchronized long allocate(long bytes, boolean firstOfBody) throws LogFullException {
        long aligned = align(bytes);
        long start = aligned >= STRIPE_ALIGNED_BYTES_MIN ? (cursor + stripeBytes - 1) / stripeBytes * stripeBytes
                : cursor;
        long end = start + aligned;
        if (end > device.sizeBytes()) {
            full = true;
            throw new LogFullException("object log " + logId + " is full (" + device.sizeBytes() + " bytes)");
        }
        if (firstOfBody) {
            inFlight.merge(start, 1, Integer::sum);
        }
        if (end > reservedMark) {
            long mark = (end + reserveStepBytes - 1) / reserveStepBytes * reserveStepBytes;
            mark = Math.min(mark, device.sizeBytes());
            long oldest = inFlight.isEmpty() ? start : Math.min(inFlight.firstKey(), start);
            try {
                index.reserveObjectLog(logId, writer, mark, oldest);
            } catch (RuntimeException e) {
                if (firstOfBody) {
                    settled(start);
                }
                throw e;
            }
            reservedMark = mark;
        }
        cursor = end;
        return start;
    }

    /** A body that began at {@code start} is committed or aborted: it no longer holds the reservation back. */
    void settled(long start) {
        inFlight.computeIfPresent(start, (key, count) -> count == 1 ? null : count - 1);
    }

    /** Trims [offset, offset + length) in the background (an aborted body, an unused tail); failures are logged. */
    void trimLater(long offset, long length) {
        if (length <= 0) {
            return;
        }
        device.trim(offset, align(length)).whenComplete((ignored, error) -> {
            if (error != null) {
                log.warn("object log {}: trimming {} bytes at {} failed ({}); the next writer of the log trims them",
                        logId, length, offset, error.toString());
            }
        });
    }

    /**
     * Trims what deletes freed in this log and tells meta; returns how many extents. Called periodically.
     */
    int trimFreed() {
        List<ObjectExtent> frees = index.objectLogFrees(logId, GAPS_PER_CALL);
        if (frees.isEmpty()) {
            return 0;
        }
        // A few extents at a time, each trimmed a few pieces at a time by the device: the extents of
        // a deleted multi-GiB object, sent at once, took every byte of the gateway's direct memory.
        Windowed.run(frees.iterator(), TRIMS_IN_FLIGHT_MAX,
                free -> device.trim(free.offset(), align(free.length()))).join();
        index.objectExtentsFreed(logId, frees.stream().map(ObjectExtent::offset).toList());
        return frees.size();
    }

    static long align(long bytes) {
        return (bytes + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    }

    @Override
    public void close() {
        device.close();
    }
}
