package io.basalt.client;

import java.util.Iterator;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Function;

/**
 * Runs an asynchronous task for each item, at most {@code window} of them in flight, each started
 * only when a slot frees up. Why: a TRIM of a whole erasure-coded volume is thousands of pieces, and
 * each carries its zero bytes (4 MiB) to a stripe master; sent all at once they took every byte of
 * direct memory a gateway has (an S3 gateway freeing a 2 GiB object died of it). Tasks are made
 * lazily, so a range of millions of pieces costs no more memory than its window.
 */
public final class Windowed {
    private Windowed() {}

    /**
     * Completes once every started task has ended: normally when all succeeded, else with the first
     * failure (no task is started after one failed).
     */
    public static <T> CompletableFuture<Void> run(Iterator<T> items, int window,
            Function<? super T, CompletableFuture<Void>> task) {
        if (window < 1) {
            throw new IllegalArgumentException("window " + window + " (at least 1)");
        }
        AtomicReference<Throwable> failure = new AtomicReference<>();
        CompletableFuture<?>[] ends = new CompletableFuture<?>[window];
        for (int i = 0; i < window; i++) {
            CompletableFuture<Void> end = new CompletableFuture<>();
            ends[i] = end;
            lane(items, task, failure, end);
        }
        return CompletableFuture.allOf(ends).thenRun(() -> {
            Throwable first = failure.get();
            if (first != null) {
                throw first instanceof CompletionException c ? c : new CompletionException(first);
            }
        });
    }

    /** One slot: starts tasks one after another; a loop while they end at once, so no deep stack. */
    private static <T> void lane(Iterator<T> items, Function<? super T, CompletableFuture<Void>> task,
            AtomicReference<Throwable> failure, CompletableFuture<Void> end) {
        while (true) {
            T item;
            synchronized (items) {
                if (failure.get() != null || !items.hasNext()) {
                    end.complete(null);
                    return;
                }
                item = items.next();
            }
            CompletableFuture<Void> started;
            try {
                started = task.apply(item);
            } catch (RuntimeException e) {
                started = CompletableFuture.failedFuture(e);
            }
            if (!started.isDone()) {
                started.whenComplete((ignored, error) -> {
                    if (error != null) {
                        failure.compareAndSet(null, error);
                    }
                    lane(items, task, failure, end);
                });
                return;
            }
            try {
                started.join();
            } catch (CompletionException | java.util.concurrent.CancellationException e) {
                failure.compareAndSet(null, e);
            }
        }
    }
}
