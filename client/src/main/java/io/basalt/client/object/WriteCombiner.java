package io.basalt.client.object;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;

/**
 * Group commit for small writes into one object log: writes below {@link #SMALL_WRITE_BYTES_MAX}
 * queue by offset while {@link #COMBINED_IN_FLIGHT_MAX} combined writes are out, and each time one
 * ends, the queued writes whose ranges touch (the log hands out space append-only, so concurrent
 * small bodies sit side by side) go out as one device write of up to {@link #COMBINED_BYTES_MAX}.
 * Every member's future completes with that write; a failure fails them all (each body then aborts
 * and trims its own range, as for a lone write).
 *
 * <p>Why: in an erasure-coded log a lone 4 KiB body is a partial-stripe write, which the stripe
 * master turns into a read-modify-write and a two-phase commit through six WALs; concurrent small
 * bodies land in the same stripes and wait for each other there. Thirty-two 4 KiB bodies written
 * as one 128 KiB write cost eight full-stripe encodes and one commit round instead of thirty-two
 * read-modify-writes. A write that finds fewer than {@link #COMBINED_IN_FLIGHT_MAX} out goes at once,
 * so a lone client waits for nothing extra. Large writes (a 1 MiB piece of a big body) are already
 * full stripes and go straight to the device.
 *
 * <p>The combined buffer is a copy (at most 1 MiB, of small writes only): the device computes a
 * CRC32C per 4 KiB block over one contiguous buffer. State is guarded by {@code this}; device
 * calls are made outside the lock.
 */
final class WriteCombiner {
    /** Writes this size or larger are not combined. 64 KiB: four full ec4+2 stripes. */
    static final int SMALL_WRITE_BYTES_MAX = 64 << 10;
    /** Largest combined write: the unit LogBody writes large bodies in. */
    static final int COMBINED_BYTES_MAX = LogBody.WRITE_BYTES;
    /**
     * Combined writes out at once. Two: one is being committed while the next gathers; more would
     * split the queue into smaller batches without adding throughput (the writes share the same
     * chunk servers and stripes).
     */
    static final int COMBINED_IN_FLIGHT_MAX = 2;

    private record Pending(long offset, ByteBuf data, CompletableFuture<Void> done) {
        long end() {
            return offset + data.readableBytes();
        }
    }

    private final LogDevice device;
    private final ByteBufAllocator alloc;
    private final TreeMap<Long, Pending> queued = new TreeMap<>();
    private int inFlight;
    private long combinedWrites;
    private long combinedMembers;

    WriteCombiner(LogDevice device, ByteBufAllocator alloc) {
        this.device = device;
        this.alloc = alloc;
    }

    /** Writes {@code data} (aligned; released here) at {@code offset}, durable when the future completes. */
    CompletableFuture<Void> write(long offset, ByteBuf data) {
        if (data.readableBytes() >= SMALL_WRITE_BYTES_MAX) {
            return device.write(offset, data);
        }
        Pending pending = new Pending(offset, data, new CompletableFuture<>());
        List<List<Pending>> batches;
        synchronized (this) {
            Pending clash = queued.putIfAbsent(offset, pending);
            if (clash != null) {
                data.release();
                return CompletableFuture.failedFuture(new IllegalStateException(
                        "two writes queued at offset " + offset + " of one object log"));
            }
            batches = takeBatches();
        }
        batches.forEach(this::issue);
        return pending.done();
    }

    /** Combined writes issued so far and the small writes they carried (for tests and metrics). */
    synchronized long[] combinedCounts() {
        return new long[] {combinedWrites, combinedMembers};
    }

    /** Takes batches off the queue while fewer than the limit are out. Caller holds the lock. */
    private List<List<Pending>> takeBatches() {
        List<List<Pending>> batches = new ArrayList<>();
        while (inFlight < COMBINED_IN_FLIGHT_MAX && !queued.isEmpty()) {
            List<Pending> batch = new ArrayList<>();
            Pending first = queued.pollFirstEntry().getValue();
            batch.add(first);
            long end = first.end();
            int bytes = first.data().readableBytes();
            for (Map.Entry<Long, Pending> next = queued.firstEntry();
                    next != null && next.getKey() == end
                            && bytes + next.getValue().data().readableBytes() <= COMBINED_BYTES_MAX;
                    next = queued.firstEntry()) {
                queued.pollFirstEntry();
                batch.add(next.getValue());
                end = next.getValue().end();
                bytes += next.getValue().data().readableBytes();
            }
            inFlight++;
            combinedWrites++;
            combinedMembers += batch.size();
            batches.add(batch);
        }
        return batches;
    }

    private void issue(List<Pending> batch) {
        CompletableFuture<Void> written;
        try {
            written = deviceWrite(batch);
        } catch (RuntimeException e) {
            written = CompletableFuture.failedFuture(e);
        }
        written.whenComplete((ignored, error) -> {
            List<List<Pending>> next;
            synchronized (this) {
                inFlight--;
                next = takeBatches();
            }
            for (Pending pending : batch) {
                if (error == null) {
                    pending.done().complete(null);
                } else {
                    pending.done().completeExceptionally(error);
                }
            }
            next.forEach(this::issue);
        });
    }

    private CompletableFuture<Void> deviceWrite(List<Pending> batch) {
        if (batch.size() == 1) {
            return device.write(batch.getFirst().offset(), batch.getFirst().data());
        } else {
            int bytes = 0;
            for (Pending pending : batch) {
                bytes += pending.data().readableBytes();
            }
            ByteBuf combined = alloc.directBuffer(bytes, bytes);
            for (Pending pending : batch) {
                combined.writeBytes(pending.data(), pending.data().readerIndex(), pending.data().readableBytes());
                pending.data().release();
            }
            return device.write(batch.getFirst().offset(), combined);
        }
    }
}
