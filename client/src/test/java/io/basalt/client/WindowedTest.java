package io.basalt.client;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;

class WindowedTest {
    /** Tasks that end only when the test completes them, counting how many run at once. */
    static final class Pending {
        final List<CompletableFuture<Void>> started = new ArrayList<>();
        final AtomicInteger running = new AtomicInteger();
        int most;

        synchronized Supplier<CompletableFuture<Void>> task() {
            return () -> {
                synchronized (this) {
                    most = Math.max(most, running.incrementAndGet());
                    CompletableFuture<Void> f = new CompletableFuture<>();
                    started.add(f);
                    return f.whenComplete((ignored, error) -> running.decrementAndGet());
                }
            };
        }

        synchronized CompletableFuture<Void> first(int index) {
            return started.get(index);
        }
    }

    @Test
    void neverMoreThanTheWindowInFlightAndEveryTaskRuns() {
        Pending pending = new Pending();
        List<Supplier<CompletableFuture<Void>>> tasks = IntStream.range(0, 50).mapToObj(i -> pending.task()).toList();
        CompletableFuture<Void> all = Windowed.run(tasks.iterator(), 4, Supplier::get);
        for (int i = 0; i < 50; i++) {
            assertThat(pending.started).hasSizeLessThanOrEqualTo(i + 4);
            assertThat(all).isNotDone();
            pending.first(i).complete(null);
        }
        assertThat(all).succeedsWithin(5, TimeUnit.SECONDS);
        assertThat(pending.started).hasSize(50);
        assertThat(pending.most).isEqualTo(4);
    }

    @Test
    void aFailureStartsNothingMoreAndFailsTheWholeOnceTheStartedEnd() {
        Pending pending = new Pending();
        List<Supplier<CompletableFuture<Void>>> tasks = IntStream.range(0, 20).mapToObj(i -> pending.task()).toList();
        CompletableFuture<Void> all = Windowed.run(tasks.iterator(), 3, Supplier::get);
        pending.first(1).completeExceptionally(new IllegalStateException("piece 1 failed"));
        assertThat(pending.started).as("nothing started after the failure").hasSize(3);
        assertThat(all).as("the two still running are waited for").isNotDone();
        pending.first(0).complete(null);
        pending.first(2).complete(null);
        assertThat(all).failsWithin(5, TimeUnit.SECONDS).withThrowableThat().withMessageContaining("piece 1 failed");
        assertThat(pending.started).hasSize(3);
    }

    @Test
    void aMillionTasksThatEndAtOnceRunInALoopNotADeepStack() {
        AtomicInteger ran = new AtomicInteger();
        java.util.Iterator<Supplier<CompletableFuture<Void>>> tasks = new java.util.Iterator<>() {
            int left = 1_000_000;

            @Override
            public boolean hasNext() {
                return left > 0;
            }

            @Override
            public Supplier<CompletableFuture<Void>> next() {
                left--;
                return () -> {
                    ran.incrementAndGet();
                    return CompletableFuture.completedFuture(null);
                };
            }
        };
        Windowed.run(tasks, 4, Supplier::get).join();
        assertThat(ran).hasValue(1_000_000);
    }

    @Test
    void aTaskThatThrowsIsAFailure() {
        List<Supplier<CompletableFuture<Void>>> tasks = List.of(() -> {
            throw new IllegalArgumentException("bad piece");
        });
        assertThat(Windowed.run(tasks.iterator(), 2, Supplier::get)).failsWithin(1, TimeUnit.SECONDS)
                .withThrowableThat().withMessageContaining("bad piece");
        List<Supplier<CompletableFuture<Void>>> none = List.of();
        assertThat(Windowed.run(none.iterator(), 2, Supplier::get)).isCompleted();
        assertThatThrownBy(() -> Windowed.run(none.iterator(), 0, Supplier::get))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
