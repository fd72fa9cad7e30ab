package io.basalt.chunkserver.recovery;

/**
 * A token bucket for recovery bytes: {@code bytesPerSecond} on average, bursts up to one second's
 * worth. {@link #acquire} blocks the calling (recovery) thread until its bytes fit; 0 means no limit.
 * The rate may be changed while threads wait ({@link SyncLatencyPacer} does). Thread-safe.
 */
class Throttle {
    private long bytesPerSecond;
    private double tokens;
    private long lastNanos = System.nanoTime();

    Throttle(long bytesPerSecond) {
        if (bytesPerSecond < 0) {
            throw new IllegalArgumentException("recovery bandwidth " + bytesPerSecond + " bytes/s (must be >= 0)");
        }
        this.bytesPerSecond = bytesPerSecond;
        this.tokens = bytesPerSecond;
    }

    /** The current rate in bytes a second (0: no limit). */
    synchronized long rate() {
        return bytesPerSecond;
    }

    /** Changes the rate from now on; tokens above one second's worth of the new rate are dropped. */
    synchronized void setRate(long bytesPerSecond) {
        if (bytesPerSecond <= 0) {
            throw new IllegalArgumentException("a paced rate must be > 0 bytes/s, not " + bytesPerSecond);
        }
        refill(System.nanoTime());
        this.bytesPerSecond = bytesPerSecond;
        tokens = Math.min(tokens, bytesPerSecond);
    }

    void acquire(long bytes) throws InterruptedException {
        long waitNanos;
        synchronized (this) {
            if (bytesPerSecond == 0) {
                return;
            }
            refill(System.nanoTime());
            tokens -= bytes; // may go negative: the debt is paid by waiting
            waitNanos = tokens >= 0 ? 0 : (long) (-tokens / bytesPerSecond * 1e9);
        }
        if (waitNanos > 0) {
            Thread.sleep(waitNanos / 1_000_000, (int) (waitNanos % 1_000_000));
        }
    }

    private void refill(long now) {
        tokens = Math.min(bytesPerSecond, tokens + (now - lastNanos) * 1e-9 * bytesPerSecond);
        lastNanos = now;
    }
}
