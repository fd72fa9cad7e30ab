package io.basalt.chunkserver.recovery;

/**
 * A token bucket for recovery bytes: {@code bytesPerSecond} on average, bursts up to one second's
 * worth. {@link #acquire} blocks the calling (recovery) thread until its bytes fit; 0 means no limit.
 * Thread-safe.
 */
class Throttle {
    private final long bytesPerSecond;
    private double tokens;
    private long lastNanos = System.nanoTime();

    Throttle(long bytesPerSecond) {
        if (bytesPerSecond < 0) {
            throw new IllegalArgumentException("recovery bandwidth " + bytesPerSecond + " bytes/s (must be >= 0)");
        }
        this.bytesPerSecond = bytesPerSecond;
        this.tokens = bytesPerSecond;
    }

    void acquire(long bytes) throws InterruptedException {
        if (bytesPerSecond == 0) {
            return;
        }
        long waitNanos;
        synchronized (this) {
            long now = System.nanoTime();
            tokens = Math.min(bytesPerSecond, tokens + (now - lastNanos) * 1e-9 * bytesPerSecond);
            lastNanos = now;
            tokens -= bytes; // may go negative: the debt is paid by waiting
            waitNanos = tokens >= 0 ? 0 : (long) (-tokens / bytesPerSecond * 1e9);
        }
        if (waitNanos > 0) {
            Thread.sleep(waitNanos / 1_000_000, (int) (waitNanos % 1_000_000));
        }
    }
}
