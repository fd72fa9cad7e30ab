package io.basalt.chunkserver.recovery;

import java.util.function.LongSupplier;

/**
 * Paces recovery by what clients feel: the mean time this server's WAL takes to write and sync a
 * batch that carries client writes (each client write waits for exactly that, and recovery's fills
 * share the WAL, its batches and the disk). Batches of recovery records alone do not count: with no
 * client writing here, nobody is slowed down and recovery goes as fast as it is allowed to.
 *
 * <p>The policy, additive increase and multiplicative decrease once per {@link #WINDOW_NANOS}:
 * <ul>
 *   <li>the <em>baseline</em> is the mean batch time while no recovery runs here (an
 *       exponentially weighted mean over idle windows with enough client batches to say something), or,
 *       before the first such window, the lowest window mean seen during recovery;</li>
 *   <li>the <em>target</em> is {@code factor} times the baseline, and never below
 *       {@link #MIN_TARGET_NANOS} (a disk that syncs in 50 µs has noise above 2x);</li>
 *   <li>a window whose mean client batch time is above the target multiplies the rate by
 *       {@link #DECREASE}; any other window (client batches under the target, or none at all)
 *       adds a sixteenth of the maximum;</li>
 *   <li>the rate stays between {@code max / 64} (a rebuild never stops: lost redundancy is a risk
 *       too) and {@code max}, the configured {@code --recovery-bandwidth}; it starts at an eighth of
 *       the maximum, so a rebuild feels its way up instead of starting at full speed.</li>
 * </ul>
 * The pacer needs no thread of its own: the recovery threads call {@link #acquire} and the worker's
 * poller calls {@link #update} about once a second; both look at the WAL's counters once a window
 * has passed. Thread-safe.
 */
final class SyncLatencyPacer extends Throttle {
    static final long WINDOW_NANOS = 250_000_000L;
    static final long MIN_TARGET_NANOS = 1_000_000L;
    static final double DECREASE = 0.7;
    /** Fewer client batches than this in an idle window say nothing about the disk. */
    private static final long MIN_IDLE_BATCHES = 8;
    private static final double BASELINE_WEIGHT = 0.3;

    private final long maxRate;
    private final long minRate;
    private final double factor;
    private final LongSupplier batchCount;
    private final LongSupplier batchNanos;
    private final LongSupplier clock;

    private long windowStart;
    private long windowBatches;
    private long windowBatchNanos;
    private boolean windowRecovering;
    private double baselineNanos = Double.NaN;
    private double lowestWindowNanos = Double.MAX_VALUE;

    /**
     * @param maxRate the configured bandwidth, bytes a second (> 0)
     * @param factor the target as a multiple of the baseline (> 1)
     * @param batchCount the WAL's batches with client writes so far; {@code batchNanos}: their total
     *     time (write and sync)
     */
    SyncLatencyPacer(long maxRate, double factor, LongSupplier batchCount, LongSupplier batchNanos, LongSupplier clock) {
        super(Math.max(1, maxRate / 8));
        if (maxRate <= 0 || !(factor > 1)) {
            throw new IllegalArgumentException("recovery pacing: bandwidth " + maxRate + " bytes/s (must be > 0),"
                    + " latency factor " + factor + " (must be > 1)");
        }
        this.maxRate = maxRate;
        this.minRate = Math.max(1, maxRate / 64);
        this.factor = factor;
        this.batchCount = batchCount;
        this.batchNanos = batchNanos;
        this.clock = clock;
        long now = clock.getAsLong();
        this.windowStart = now;
        this.windowBatches = batchCount.getAsLong();
        this.windowBatchNanos = batchNanos.getAsLong();
    }

    @Override
    void acquire(long bytes) throws InterruptedException {
        update(clock.getAsLong(), true);
        super.acquire(bytes);
    }

    /** The target the last windows were held to, nanoseconds (for logs and tests). */
    synchronized long targetNanos() {
        double baseline = Double.isNaN(baselineNanos) ? lowestWindowNanos : baselineNanos;
        return baseline == Double.MAX_VALUE ? Long.MAX_VALUE : Math.max(MIN_TARGET_NANOS, (long) (baseline * factor));
    }

    /**
     * One look at the WAL's counters: {@code recovering} says whether recovery work is running on
     * this server (the recovery threads call this before every byte they copy, the worker's poller
     * about once a second in between).
     */
    synchronized void update(long now, boolean recovering) {
        long batches = batchCount.getAsLong();
        long nanos = batchNanos.getAsLong();
        if (recovering != windowRecovering) {
            // A window mixing both says nothing: start a clean one of the new kind.
            windowRecovering = recovering;
            if (recovering) {
                setRate(startRate());
            }
            startWindow(now, batches, nanos);
            return;
        }
        if (now - windowStart < WINDOW_NANOS) {
            return;
        }
        long count = batches - windowBatches;
        double mean = count == 0 ? 0 : (double) (nanos - windowBatchNanos) / count;
        if (!recovering) {
            // What clients see without recovery: the baseline.
            if (count >= MIN_IDLE_BATCHES) {
                baselineNanos = Double.isNaN(baselineNanos) ? mean
                        : (1 - BASELINE_WEIGHT) * baselineNanos + BASELINE_WEIGHT * mean;
            }
        } else {
            long rate = rate();
            if (count > 0) {
                lowestWindowNanos = Math.min(lowestWindowNanos, mean);
            }
            if (count > 0 && mean > targetNanos()) {
                rate = Math.max(minRate, (long) (rate * DECREASE));
            } else {
                rate = Math.min(maxRate, rate + maxRate / 16);
            }
            setRate(rate);
        }
        startWindow(now, batches, nanos);
    }

    private long startRate() {
        return Math.max(minRate, maxRate / 8);
    }

    private void startWindow(long now, long batches, long nanos) {
        windowStart = now;
        windowBatches = batches;
        windowBatchNanos = nanos;
    }
}
