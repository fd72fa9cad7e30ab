package io.basalt.client;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class WriteGateTest {

    @Test
    void sharedHoldersPassTogetherAndAnExclusiveOneWaitsForThemAlone() {
        WriteGate gate = new WriteGate();
        assertThat(gate.enterShared()).isDone();
        assertThat(gate.enterShared()).isDone();
        CompletableFuture<Void> exclusive = gate.enterExclusive();
        assertThat(exclusive).isNotDone();
        // Later shared ones queue behind the exclusive one: it cannot starve.
        CompletableFuture<Void> lateShared = gate.enterShared();
        assertThat(lateShared).isNotDone();
        gate.exitShared();
        assertThat(exclusive).isNotDone();
        gate.exitShared();
        assertThat(exclusive).isDone();
        assertThat(lateShared).isNotDone();
        CompletableFuture<Void> secondExclusive = gate.enterExclusive();
        gate.exitExclusive();
        assertThat(lateShared).isDone();
        assertThat(secondExclusive).isNotDone();
        gate.exitShared();
        assertThat(secondExclusive).isDone();
        gate.exitExclusive();
        assertThat(gate.enterExclusive()).isDone();
    }

    @Test
    void noSharedHolderOverlapsAnExclusiveOneUnderConcurrency() throws Exception {
        WriteGate gate = new WriteGate();
        AtomicInteger shared = new AtomicInteger();
        AtomicInteger exclusive = new AtomicInteger();
        AtomicInteger violations = new AtomicInteger();
        ExecutorService pool = Executors.newFixedThreadPool(8);
        List<CompletableFuture<Void>> all = new ArrayList<>();
        for (int i = 0; i < 4000; i++) {
            boolean alone = i % 10 == 0;
            all.add(CompletableFuture.runAsync(() -> { }, pool).thenCompose(ignored -> {
                CompletableFuture<Void> entered = alone ? gate.enterExclusive() : gate.enterShared();
                return entered.thenRunAsync(() -> {
                    if (alone) {
                        if (exclusive.incrementAndGet() != 1 || shared.get() != 0) {
                            violations.incrementAndGet();
                        }
                        Thread.onSpinWait();
                        exclusive.decrementAndGet();
                        gate.exitExclusive();
                    } else {
                        shared.incrementAndGet();
                        if (exclusive.get() != 0) {
                            violations.incrementAndGet();
                        }
                        shared.decrementAndGet();
                        gate.exitShared();
                    }
                }, pool);
            }));
        }
        CompletableFuture.allOf(all.toArray(CompletableFuture[]::new)).get(60, TimeUnit.SECONDS);
        pool.shutdownNow();
        assertThat(violations.get()).isZero();
    }
}
