package io.basalt.common.block;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

class SyncBatcherTest {

    @Test
    void requestsDuringASyncShareTheNextOne() throws Exception {
        ExecutorService executor = Executors.newSingleThreadExecutor();
        try {
            AtomicInteger syncs = new AtomicInteger();
            CountDownLatch firstSyncStarted = new CountDownLatch(1);
            CountDownLatch releaseFirstSync = new CountDownLatch(1);
            SyncBatcher batcher = new SyncBatcher(() -> {
                if (syncs.incrementAndGet() == 1) {
                    firstSyncStarted.countDown();
                    await(releaseFirstSync);
                }
            }, executor);

            CompletableFuture<Void> first = batcher.sync();
            assertThat(firstSyncStarted.await(5, TimeUnit.SECONDS)).isTrue();
            List<CompletableFuture<Void>> waiting = new ArrayList<>();
            for (int i = 0; i < 100; i++) {
                waiting.add(batcher.sync());
            }
            // None of them may complete with the sync that started before they asked.
            assertThat(waiting).noneMatch(CompletableFuture::isDone);
            releaseFirstSync.countDown();

            first.get(5, TimeUnit.SECONDS);
            CompletableFuture.allOf(waiting.toArray(CompletableFuture[]::new)).get(5, TimeUnit.SECONDS);
            assertThat(syncs.get()).isEqualTo(2);
        } finally {
            executor.shutdownNow();
        }
    }

    @Test
    void aFailedSyncFailsItsBatchOnly() throws Exception {
        ExecutorService executor = Executors.newSingleThreadExecutor();
        try {
            AtomicInteger calls = new AtomicInteger();
            SyncBatcher batcher = new SyncBatcher(() -> {
                if (calls.incrementAndGet() == 1) {
                    throw new BlockDeviceException(BlockDeviceException.Kind.IO, "disk on fire");
                }
            }, executor);
            CompletableFuture<Void> failed = batcher.sync();
            assertThat(failed).failsWithin(5, TimeUnit.SECONDS);
            assertThat(batcher.sync()).succeedsWithin(5, TimeUnit.SECONDS);
        } finally {
            executor.shutdownNow();
        }
    }

    private static void await(CountDownLatch latch) {
        try {
            latch.await(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
