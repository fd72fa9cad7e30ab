package io.basalt.client;

import io.basalt.meta.model.VolumeQos;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.function.LongSupplier;

/**
 * The QoS limits of one open volume (docs/client.md, "QoS"): token buckets for operations and
 * bytes per second, reads and writes together and each alone, with a FIFO of the requests that
 * must wait. Only a volume with limits has one; {@link VolumeDevice} skips it entirely otherwise.
 *
 * <p>Design note.
 * <ul>
 *   <li>Buckets: each limit is a bucket that refills at the limit's rate up to a capacity of
 *       {@code rate × burst} (the burst allowance an idle volume banks). A request may start when
 *       every bucket it draws from is at or above zero, and then takes its cost (1 op, its bytes)
 *       even if that drives a bucket negative: a 32 MiB write against a 1 MiB/s limit goes, and
 *       the next request waits 32 s. So no request is too big to ever pass, and the long-run rate
 *       is exactly the limit.</li>
 *   <li>Slack: the capacity is at least {@link #SLACK_MILLIS} of the rate, whatever the burst. A
 *       timer fires late by up to a millisecond or so; with no room above zero the refill during
 *       that lateness would be lost on every wake, and the volume would run measurably below its
 *       limit at QD32 (one op per wake).</li>
 *   <li>Order: reads and writes queue apart, each first come first served, so a volume whose
 *       writes are held by a write limit still reads. A head blocked only by its own kind's
 *       bucket lets the other kind's head pass; a head blocked by a shared bucket (total ops or
 *       bytes) stops both queues, so the other kind cannot keep draining the shared bucket and
 *       starve it. Every request is eventually admitted: requests wait, they never fail.</li>
 *   <li>Memory: one small {@code Waiter} per waiting request and no data. The queue is bounded by
 *       what the callers keep in flight (the NBD gateway: 256 requests and 128 MiB per
 *       connection), whose payloads they hold anyway.</li>
 *   <li>Threads: all state is guarded by this object's monitor. Futures are completed outside
 *       it, so the I/O a release starts never runs under the lock. Waking is a one-shot timer
 *       ({@link Timer}) armed for the earliest moment a head could pass; the clock and timer are
 *       injected so tests drive time by hand.</li>
 * </ul>
 */
final class QosLimiter {
    /** The least capacity of a bucket, in milliseconds of its rate (see the class note). */
    static final long SLACK_MILLIS = 100;
    private static final long NANOS_PER_SECOND = 1_000_000_000L;

    enum Kind { READ, WRITE }

    /** A one-shot timer: runs {@code task} once, {@code delayNanos} from now. */
    interface Timer {
        void schedule(Runnable task, long delayNanos);
    }

    /** Told of every request that had to wait, with how long, when it is admitted. */
    interface Listener {
        void throttled(Kind kind, long waitedNanos);
    }

    // Bucket slots: the shared ones first, then per kind.
    private static final int TOTAL_OPS = 0;
    private static final int TOTAL_BYTES = 1;
    private static final int READ_OPS = 2;
    private static final int READ_BYTES = 3;
    private static final int WRITE_OPS = 4;
    private static final int WRITE_BYTES = 5;
    private static final int BUCKETS = 6;

    private enum Block { NONE, OWN, SHARED }

    private static final class Bucket {
        double ratePerSecond;
        double capacity;
        double level;
    }

    private record Waiter(Kind kind, long bytes, long sequence, long enqueuedNanos,
                          CompletableFuture<Void> admitted) {}

    private final LongSupplier nanoClock;
    private final Timer timer;
    private final Listener listener;
    private final Bucket[] buckets = new Bucket[BUCKETS];
    private final ArrayDeque<Waiter> reads = new ArrayDeque<>();
    private final ArrayDeque<Waiter> writes = new ArrayDeque<>();
    private VolumeQos limits;
    private long refilledNanos;
    private long nextSequence;
    /** When the armed timer fires; {@code Long.MAX_VALUE} when none is armed. */
    private long wakeAtNanos = Long.MAX_VALUE;
    private boolean released;

    QosLimiter(VolumeQos limits, LongSupplier nanoClock, Timer timer, Listener listener) {
        this.nanoClock = nanoClock;
        this.timer = timer;
        this.listener = listener;
        this.refilledNanos = nanoClock.getAsLong();
        configure(limits);
    }

    synchronized VolumeQos limits() {
        return limits;
    }

    /** Requests waiting now (both kinds). */
    synchronized int waiting() {
        return reads.size() + writes.size();
    }

    /**
     * Admits one request of {@code bytes}: null when it may start now (no allocation), else a
     * future that completes when it may. The future never fails.
     */
    CompletableFuture<Void> admit(Kind kind, long bytes) {
        Waiter waiter;
        List<Waiter> ready;
        synchronized (this) {
            long now = nanoClock.getAsLong();
            refill(now);
            if (released) {
                return null;
            }
            // Waiters that arrived earlier go first: drain them, then see whether this one fits.
            ready = reads.isEmpty() && writes.isEmpty() ? List.of() : drain(now);
            if (queue(kind).isEmpty() && block(kind) == Block.NONE) {
                take(kind, bytes);
                waiter = null;
            } else {
                waiter = new Waiter(kind, bytes, nextSequence++, now, new CompletableFuture<>());
                queue(kind).addLast(waiter);
                if (ready.isEmpty()) {
                    ready = drain(now);
                } else {
                    ready.addAll(drain(now));
                }
            }
        }
        complete(ready);
        return waiter == null ? null : waiter.admitted();
    }

    /** Takes new limits (a live change): levels are kept, clipped to the new capacities. */
    void update(VolumeQos newLimits) {
        List<Waiter> ready;
        synchronized (this) {
            long now = nanoClock.getAsLong();
            refill(now);
            configure(newLimits);
            ready = drain(now);
        }
        complete(ready);
    }

    /**
     * Admits every waiting request and every later one at once: for a volume whose limits were
     * removed (the device drops this limiter) or that is closing.
     */
    void releaseAll() {
        List<Waiter> ready = new ArrayList<>();
        long now;
        synchronized (this) {
            released = true;
            now = nanoClock.getAsLong();
            ready.addAll(reads);
            ready.addAll(writes);
            reads.clear();
            writes.clear();
        }
        complete(ready, now);
    }

    private void configure(VolumeQos newLimits) {
        this.limits = newLimits;
        long bankMillis = Math.max(newLimits.burstMillis(), SLACK_MILLIS);
        long[] rates = {newLimits.iops(), newLimits.bytesPerSecond(), newLimits.readIops(),
                newLimits.readBytesPerSecond(), newLimits.writeIops(),
                newLimits.writeBytesPerSecond()};
        for (int slot = 0; slot < BUCKETS; slot++) {
            if (rates[slot] <= 0) {
                buckets[slot] = null;
                continue;
            }
            Bucket bucket = buckets[slot];
            double capacity = rates[slot] * (bankMillis / 1000.0);
            if (bucket == null) {
                // A new limit starts with its burst banked, as a volume that was idle would.
                bucket = new Bucket();
                bucket.level = capacity;
                buckets[slot] = bucket;
            }
            bucket.ratePerSecond = rates[slot];
            bucket.capacity = capacity;
            bucket.level = Math.min(bucket.level, capacity);
        }
    }

    private void refill(long now) {
        long elapsed = now - refilledNanos;
        if (elapsed <= 0) {
            return;
        }
        refilledNanos = now;
        for (Bucket bucket : buckets) {
            if (bucket != null) {
                bucket.level = Math.min(bucket.capacity,
                        bucket.level + bucket.ratePerSecond * elapsed / NANOS_PER_SECOND);
            }
        }
    }

    private ArrayDeque<Waiter> queue(Kind kind) {
        return kind == Kind.READ ? reads : writes;
    }

    private static int opsSlot(Kind kind) {
        return kind == Kind.READ ? READ_OPS : WRITE_OPS;
    }

    private static int bytesSlot(Kind kind) {
        return kind == Kind.READ ? READ_BYTES : WRITE_BYTES;
    }

    private Block block(Kind kind) {
        if (negative(TOTAL_OPS) || negative(TOTAL_BYTES)) {
            return Block.SHARED;
        }
        return negative(opsSlot(kind)) || negative(bytesSlot(kind)) ? Block.OWN : Block.NONE;
    }

    private boolean negative(int slot) {
        return buckets[slot] != null && buckets[slot].level < 0;
    }

    private void take(Kind kind, long bytes) {
        charge(TOTAL_OPS, 1);
        charge(TOTAL_BYTES, bytes);
        charge(opsSlot(kind), 1);
        charge(bytesSlot(kind), bytes);
    }

    private void charge(int slot, long cost) {
        if (buckets[slot] != null) {
            buckets[slot].level -= cost;
        }
    }

    /** Nanoseconds until every bucket {@code kind} draws from is at or above zero. */
    private long nanosUntilClear(Kind kind) {
        long wait = 0;
        for (int slot : new int[] {TOTAL_OPS, TOTAL_BYTES, opsSlot(kind), bytesSlot(kind)}) {
            Bucket bucket = buckets[slot];
            if (bucket != null && bucket.level < 0) {
                double nanos = -bucket.level / bucket.ratePerSecond * NANOS_PER_SECOND;
                wait = Math.max(wait, (long) Math.ceil(nanos));
            }
        }
        return Math.max(1, wait);
    }

    /** Admits what may go now, in order (class note); arms the timer for the rest. */
    private List<Waiter> drain(long now) {
        List<Waiter> ready = List.of();
        while (true) {
            Waiter read = reads.peekFirst();
            Waiter write = writes.peekFirst();
            if (read == null && write == null) {
                break;
            }
            Waiter first = write == null || (read != null && read.sequence() < write.sequence())
                    ? read : write;
            Waiter second = first == read ? write : read;
            Waiter admitted = null;
            Block firstBlock = block(first.kind());
            if (firstBlock == Block.NONE) {
                admitted = first;
            } else if (firstBlock == Block.OWN && second != null
                    && block(second.kind()) == Block.NONE) {
                admitted = second;
            }
            if (admitted == null) {
                long delay = nanosUntilClear(first.kind());
                if (firstBlock == Block.OWN && second != null) {
                    delay = Math.min(delay, nanosUntilClear(second.kind()));
                }
                arm(now, delay);
                break;
            }
            queue(admitted.kind()).removeFirst();
            take(admitted.kind(), admitted.bytes());
            if (ready.isEmpty()) {
                ready = new ArrayList<>();
            }
            ready.add(admitted);
        }
        return ready;
    }

    private void arm(long now, long delayNanos) {
        long at = now + delayNanos;
        if (wakeAtNanos != Long.MAX_VALUE && wakeAtNanos - at <= 0) {
            return; // an earlier (or equal) wake is armed; it re-arms as needed
        }
        wakeAtNanos = at;
        timer.schedule(this::wake, delayNanos);
    }

    private void wake() {
        List<Waiter> ready;
        synchronized (this) {
            long now = nanoClock.getAsLong();
            wakeAtNanos = Long.MAX_VALUE;
            refill(now);
            ready = drain(now);
        }
        complete(ready);
    }

    private void complete(List<Waiter> ready) {
        if (!ready.isEmpty()) {
            complete(ready, nanoClock.getAsLong());
        }
    }

    private void complete(List<Waiter> ready, long now) {
        for (Waiter waiter : ready) {
            listener.throttled(waiter.kind(), now - waiter.enqueuedNanos());
            waiter.admitted().complete(null);
        }
    }
}
