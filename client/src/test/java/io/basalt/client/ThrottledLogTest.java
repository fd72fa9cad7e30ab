package io.basalt.client;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class ThrottledLogTest {
    @Test
    void theFirstEventOfAKeyIsLoggedAndLaterOnesWithinTheIntervalAreCountedIntoTheNextLine() {
        AtomicLong clock = new AtomicLong();
        ThrottledLog throttled = new ThrottledLog(5, TimeUnit.SECONDS, clock::get);
        assertThat(throttled.admit("a")).isZero();
        clock.addAndGet(TimeUnit.SECONDS.toNanos(1));
        assertThat(throttled.admit("a")).isEqualTo(-1);
        assertThat(throttled.admit("a")).isEqualTo(-1);
        assertThat(throttled.admit("b")).as("another key has its own interval").isZero();
        clock.addAndGet(TimeUnit.SECONDS.toNanos(4));
        assertThat(throttled.admit("a")).as("two suppressed since the last line").isEqualTo(2);
        assertThat(throttled.admit("a")).isEqualTo(-1);
        assertThat(throttled.admit("b")).as("b's interval began a second later").isEqualTo(-1);
    }
}
