package io.basalt.common.block;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Executor;

/**
 * Group commit for syncs: callers that ask for a sync while one is running share the next one.
 *
 * <p>Why it is correct: a caller asks only after its writes completed, so any sync that starts after
 * the request covers them. A request that arrives while sync N runs is not covered by N (N may have
 * started before its writes) and is put in batch N+1, which starts when N ends. So at most one sync
 * runs at a time, and under load each sync serves every request that arrived during the previous
 * one: the sync rate no longer caps FLUSH/FUA throughput at queue depth above one.
 *
 * <p>State ({@code pending}, {@code running}) is guarded by {@code this}.
 */
final class SyncBatcher {
    private final Runnable syncOperation;
    private final Executor executor;
    private CompletableFuture<Void> pending;
    private boolean running;

    SyncBatcher(Runnable syncOperation, Executor executor) {
        this.syncOperation = syncOperation;
        this.executor = executor;
    }

    /** Whether a sync is running or about to (a new caller would wait for the next one). */
    synchronized boolean isRunning() {
        return running;
    }

    /** Completes once a sync that started after this call has finished. */
    CompletableFuture<Void> sync() {
        CompletableFuture<Void> batch;
        boolean start;
        synchronized (this) {
            if (pending == null) {
                pending = new CompletableFuture<>();
            }
            batch = pending;
            start = !running;
            running = true;
        }
        if (start) {
            try {
                executor.execute(this::drain);
            } catch (RuntimeException e) {
                synchronized (this) {
                    running = false;
                    pending = null;
                }
                batch.completeExceptionally(e);
            }
        }
        return batch;
    }

    private void drain() {
        while (true) {
            CompletableFuture<Void> batch;
            synchronized (this) {
                batch = pending;
                pending = null;
                if (batch == null) {
                    running = false;
                    return;
                }
            }
            try {
                syncOperation.run();
                batch.complete(null);
            } catch (RuntimeException e) {
                batch.completeExceptionally(e);
            }
        }
    }
}
