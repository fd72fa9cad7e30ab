package io.basalt.client;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

class ThrottledLogTest {
    @Test
    void theFirstEventOfAKeyIsLoggedAndLaterOnesWithinTheIntervalAreCountedIntoTheNextLine() throws Exception {
        ThrottledLog throttled = new ThrottledLog(200, TimeUnit.MILLISECONDS);
        assertThat(throttled.admit("a")).isZero();
        assertThat(throttled.admit("a")).isEqualTo(-1);
        assertThat(throttled.admit("a")).isEqualTo(-1);
        assertThat(throttled.admit("b")).as("another key has its own interval").isZero();
        Thread.sleep(250);
        assertThat(throttled.admit("a")).as("two suppressed since the last line").isEqualTo(2);
        assertThat(throttled.admit("a")).isEqualTo(-1);
    }
}
