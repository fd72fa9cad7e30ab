package io.basalt.client;

import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.LongSupplier;

/**
 * At most one log line per key per interval, for events that can repeat on every I/O of a degraded
 * chunk (a read through the stripe master, a read of a chunk the map calls unallocated): the first
 * is logged with what it was; later ones within the interval are counted and the count goes into the
 * next line. Enough to say, after a wrong or failed read, which path served it and when.
 */
final class ThrottledLog {
    /** Keys remembered at most; past it the map starts again (some counts are lost, no line is). */
    private static final int KEYS_MAX = 4096;

    private final long intervalNanos;
    private final LongSupplier nanoTime;
    private final ConcurrentHashMap<Object, long[]> lastAndSuppressed = new ConcurrentHashMap<>();

    ThrottledLog(long interval, TimeUnit unit) {
        this(interval, unit, System::nanoTime);
    }

    ThrottledLog(long interval, TimeUnit unit, LongSupplier nanoTime) {
        this.intervalNanos = unit.toNanos(interval);
        this.nanoTime = nanoTime;
    }

    /**
     * Whether to log an event for {@code key} now; -1 if not (it is counted), else the number of
     * events suppressed since the last line.
     */
    long admit(Object key) {
        long now = nanoTime.getAsLong();
        if (lastAndSuppressed.size() > KEYS_MAX) {
            lastAndSuppressed.clear();
        }
        long[] admitted = {-1};
        lastAndSuppressed.compute(key, (k, state) -> {
            if (state == null) {
                admitted[0] = 0;
                return new long[] {now, 0};
            }
            if (now - state[0] >= intervalNanos) {
                admitted[0] = state[1];
                state[0] = now;
                state[1] = 0;
            } else {
                state[1]++;
            }
            return state;
        });
        return admitted[0];
    }
}
