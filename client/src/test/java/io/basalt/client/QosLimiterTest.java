package io.basalt.client;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.client.QosLimiter.Kind;
import io.basalt.meta.model.VolumeQos;
import java.util.ArrayList;
import java.util.List;
import java.util.PriorityQueue;
import java.util.concurrent.CompletableFuture;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;

/**
 * The limiter against a hand-driven clock and timer: no real time passes, so rates are checked
 * exactly (the timer here is never late; the slack that absorbs real lateness is in the bounds).
 */
class QosLimiterTest {
    private static final long SECOND = 1_000_000_000L;

    /** A clock and a one-shot timer that run only when the test advances time. */
    static final class FakeTime implements QosLimiter.Timer {
        private record Task(long atNanos, long order, Runnable run) {}

        long nowNanos = 1_000 * SECOND; // not zero: nothing may assume the clock starts there
        private long order;
        private final PriorityQueue<Task> tasks = new PriorityQueue<>((a, b) -> a.atNanos != b.atNanos
                ? Long.compare(a.atNanos, b.atNanos) : Long.compare(a.order, b.order));

        @Override
        public void schedule(Runnable task, long delayNanos) {
            assertThat(delayNanos).isPositive();
            tasks.add(new Task(nowNanos + delayNanos, order++, task));
        }

        /** Runs every task due up to {@code untilNanos}, in time order, then sets the clock there. */
        void advanceTo(long untilNanos, Runnable afterEachTask) {
            while (!tasks.isEmpty() && tasks.peek().atNanos <= untilNanos) {
                Task task = tasks.poll();
                nowNanos = Math.max(nowNanos, task.atNanos);
                task.run.run();
                afterEachTask.run();
            }
            nowNanos = untilNanos;
        }

        void advanceBy(long nanos) {
            advanceTo(nowNanos + nanos, () -> { });
        }
    }

    private final List<long[]> throttled = new ArrayList<>();

    private QosLimiter limiter(VolumeQos qos, FakeTime time) {
        return new QosLimiter(qos, () -> time.nowNanos, time,
                (kind, waited) -> throttled.add(new long[] {kind.ordinal(), waited}));
    }

    private static VolumeQos iops(long iops, long burstMillis) {
        return new VolumeQos(iops, 0, 0, 0, 0, 0, burstMillis);
    }

    /**
     * A client keeping {@code depth} requests of {@code bytes} in flight against the limiter for
     * {@code seconds} (I/O itself takes no time); returns how many were admitted.
     */
    private static long closedLoop(QosLimiter limiter, FakeTime time, Kind kind, int depth,
                                   long bytes, long seconds) {
        long end = time.nowNanos + seconds * SECOND;
        long[] admitted = {0};
        int[] inFlight = {0};
        Runnable fill = () -> {
            while (inFlight[0] < depth) {
                CompletableFuture<Void> wait = limiter.admit(kind, bytes);
                if (wait == null) {
                    admitted[0]++;
                    continue;
                }
                inFlight[0]++;
                wait.thenRun(() -> {
                    inFlight[0]--;
                    admitted[0]++;
                });
            }
        };
        fill.run();
        time.advanceTo(end, fill);
        // Those still queued at the end were not admitted within the window.
        return admitted[0];
    }

    @Property(tries = 30)
    void aSaturatingClientGetsTheRatePlusTheBankNeverMore(
            @ForAll @LongRange(min = 1, max = 20_000) long rate,
            @ForAll @LongRange(min = 0, max = 3_000) long burstMillis,
            @ForAll @IntRange(min = 1, max = 64) int depth,
            @ForAll @LongRange(min = 1, max = 20) long seconds) {
        FakeTime time = new FakeTime();
        QosLimiter limiter = limiter(iops(rate, burstMillis), time);
        long admitted = closedLoop(limiter, time, Kind.READ, depth, 4096, seconds);
        double bank = rate * Math.max(burstMillis, QosLimiter.SLACK_MILLIS) / 1000.0;
        double expected = rate * seconds + bank;
        // A request may start at level 0 and take its cost (one past the bank), and the last
        // fractional token of the window may or may not have made a whole one.
        assertThat((double) admitted).isBetween(expected - 2, expected + 2);
    }

    @Property(tries = 30)
    void bandwidthIsMetredInBytesAndBigRequestsRunIntoDebtNotDeadlock(
            @ForAll @LongRange(min = 4096, max = 1L << 30) long bytesPerSecond,
            @ForAll @IntRange(min = 1, max = 32) int depth,
            @ForAll @LongRange(min = 4096, max = 32L << 20) long requestBytes,
            @ForAll @LongRange(min = 1, max = 10) long seconds) {
        FakeTime time = new FakeTime();
        QosLimiter limiter = limiter(new VolumeQos(0, 0, 0, bytesPerSecond, 0, 0, 0), time);
        long admitted = closedLoop(limiter, time, Kind.WRITE, depth, requestBytes, seconds);
        double bank = bytesPerSecond * QosLimiter.SLACK_MILLIS / 1000.0;
        double allowance = bytesPerSecond * seconds + bank;
        // Every request but the last started with every bucket at or above zero.
        assertThat((double) (admitted - 1) * requestBytes).isLessThanOrEqualTo(allowance);
        assertThat((double) (admitted + 1) * requestBytes).isGreaterThanOrEqualTo(allowance);
    }

    @Example
    void aBurstIsBankedWhileIdleAndSpentAtOnceThenTheRateHolds() {
        FakeTime time = new FakeTime();
        QosLimiter limiter = limiter(iops(100, 2_000), time);
        time.advanceBy(10 * SECOND); // idle: the bank fills to 2 s of the rate, no more
        int immediate = 0;
        while (limiter.admit(Kind.READ, 4096) == null) {
            immediate++;
        }
        assertThat(immediate).isEqualTo(201); // 200 banked, and one more may start at level 0
        assertThat(limiter.waiting()).isEqualTo(1);
        time.advanceBy(9 * SECOND / 1000);
        assertThat(limiter.waiting()).isEqualTo(1);
        time.advanceBy(2 * SECOND / 1000);
        assertThat(limiter.waiting()).isZero();
    }

    @Example
    void readsAndWritesHaveTheirOwnLimitsAndOneDoesNotHoldTheOther() {
        FakeTime time = new FakeTime();
        QosLimiter limiter = limiter(new VolumeQos(0, 0, 10, 0, 0, 0, 0), time);
        List<CompletableFuture<Void>> writes = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            writes.add(limiter.admit(Kind.WRITE, 4096));
        }
        assertThat(writes.stream().filter(w -> w != null).count()).isEqualTo(18); // bank of 1 + 1
        // Reads are not limited: they pass at once while writes queue.
        for (int i = 0; i < 1000; i++) {
            assertThat(limiter.admit(Kind.READ, 1 << 20)).isNull();
        }
        time.advanceBy(SECOND);
        assertThat(limiter.waiting()).isEqualTo(8);
    }

    @Example
    void aTotalLimitIsSharedAndServedInArrivalOrderAcrossKinds() {
        FakeTime time = new FakeTime();
        QosLimiter limiter = limiter(new VolumeQos(10, 1000, 0, 0, 0, 0, 0), time);
        List<String> order = new ArrayList<>();
        // Drain the bank first.
        while (limiter.admit(Kind.READ, 4096) == null) {
            order.add("bank");
        }
        order.clear();
        List<CompletableFuture<Void>> all = new ArrayList<>();
        for (int i = 0; i < 10; i++) {
            Kind kind = i % 3 == 0 ? Kind.WRITE : Kind.READ;
            String name = kind + "-" + i;
            CompletableFuture<Void> wait = limiter.admit(kind, 4096);
            assertThat(wait).isNotNull();
            wait.thenRun(() -> order.add(name));
            all.add(wait);
        }
        time.advanceBy(2 * SECOND);
        assertThat(order).containsExactly("WRITE-0", "READ-1", "READ-2", "WRITE-3", "READ-4",
                "READ-5", "WRITE-6", "READ-7", "READ-8", "WRITE-9");
        assertThat(all).allMatch(CompletableFuture::isDone);
    }

    @Property(tries = 40)
    void waitersOfOneKindAreAdmittedFirstComeFirstServed(
            @ForAll @IntRange(min = 2, max = 300) int count,
            @ForAll @LongRange(min = 1, max = 1000) long rate) {
        FakeTime time = new FakeTime();
        QosLimiter limiter = limiter(new VolumeQos(0, 0, rate, 0, 0, 0, 0), time);
        while (limiter.admit(Kind.WRITE, 1) == null) {
            // spend the bank
        }
        throttled.clear(); // jqwik runs every try on one instance
        List<Integer> order = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int id = i;
            limiter.admit(Kind.WRITE, 1).thenRun(() -> order.add(id));
        }
        time.advanceBy((count / rate + 2) * SECOND);
        assertThat(order).hasSize(count).isSorted();
        // Everyone who waited was counted with a wait that grows with its place in the queue
        // (the first entry is the bank-spending loop's last request).
        assertThat(throttled).hasSize(count + 1);
        assertThat(throttled.getLast()[1]).isGreaterThanOrEqualTo(throttled.get(1)[1]);
    }

    @Example
    void aHeadHeldByItsOwnLimitLetsTheOtherKindPassButASharedLimitHoldsBoth() {
        FakeTime time = new FakeTime();
        QosLimiter limiter = limiter(new VolumeQos(0, 0, 1, 0, 0, 0, 0), time);
        while (limiter.admit(Kind.WRITE, 4096) == null) {
            // spend the write bank
        }
        CompletableFuture<Void> write = limiter.admit(Kind.WRITE, 4096);
        assertThat(write).isNotDone();
        assertThat(limiter.admit(Kind.READ, 4096)).isNull(); // not queued behind the write
        limiter.update(new VolumeQos(1, 0, 1, 0, 0, 0, 0)); // now a shared limit too
        while (limiter.admit(Kind.READ, 4096) == null) {
            // spend the total bank
        }
        CompletableFuture<Void> read = limiter.admit(Kind.READ, 4096);
        time.advanceBy(SECOND / 2);
        assertThat(read).isNotDone();
        assertThat(write).isNotDone();
        time.advanceBy(5 * SECOND);
        assertThat(read).isDone();
        assertThat(write).isDone();
    }

    @Example
    void liveChangesApplyToWaitersAndRemovingTheLimitsReleasesEveryone() {
        FakeTime time = new FakeTime();
        QosLimiter limiter = limiter(iops(1, 0), time);
        while (limiter.admit(Kind.READ, 4096) == null) {
            // spend the bank
        }
        List<CompletableFuture<Void>> waits = new ArrayList<>();
        for (int i = 0; i < 100; i++) {
            waits.add(limiter.admit(Kind.READ, 4096));
        }
        // The loop's last request waits first (0.9 s: the bank was 0.1 op), then the next 1 s later.
        time.advanceBy(2 * SECOND);
        long done = waits.stream().filter(CompletableFuture::isDone).count();
        assertThat(done).isEqualTo(1);
        limiter.update(iops(50, 0)); // raised: the queue drains at the new rate
        time.advanceBy(SECOND);
        done = waits.stream().filter(CompletableFuture::isDone).count();
        assertThat(done).isBetween(1L + 49, 1L + 51);
        limiter.releaseAll();
        assertThat(waits).allMatch(CompletableFuture::isDone);
        assertThat(limiter.admit(Kind.READ, 4096)).isNull();
        assertThat(limiter.admit(Kind.WRITE, 1L << 30)).isNull();
    }

    @Example
    void lowerLimitsClipTheBank() {
        FakeTime time = new FakeTime();
        QosLimiter limiter = limiter(iops(1000, 10_000), time);
        time.advanceBy(20 * SECOND);
        limiter.update(iops(10, 0)); // bank clipped to 100 ms of 10/s: one op
        int immediate = 0;
        while (limiter.admit(Kind.READ, 4096) == null) {
            immediate++;
        }
        assertThat(immediate).isEqualTo(2);
    }
}
