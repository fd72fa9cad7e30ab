package io.basalt.chunkserver.wal;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.Unpooled;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The WAL counts the batches clients wait for (recovery's pacing signal): a batch of recovery
 * records alone is not one of them.
 */
class WalForegroundBatchTest {
    Path dir;

    @BeforeEach
    void setUp() throws Exception {
        dir = Files.createTempDirectory("wal-foreground");
    }

    @AfterEach
    void tearDown() throws Exception {
        WalProperties.delete(dir);
    }

    @Test
    void onlyBatchesWithAClientRecordCountAsForeground() throws Exception {
        WalWriter wal = WalWriter.open(dir, new RecordingSink(), WalRecyclingTest.CONFIG, WalWriter.Listener.NONE);
        try {
            for (int type : new int[] {WalRecordFormat.TYPE_FILL, WalRecordFormat.TYPE_EC_FILL,
                    WalRecordFormat.TYPE_REPAIR}) {
                CompletableFuture<Void> done = new CompletableFuture<>();
                wal.submit(new WalEntry(type, 1, 0, 4096, Unpooled.copiedBuffer(WalRecyclingTest.payload(type)), (e, error) -> {
                    if (error != null) {
                        done.completeExceptionally(error);
                    } else {
                        done.complete(null);
                    }
                }));
                done.get(10, TimeUnit.SECONDS);
            }
            assertThat(wal.syncCount()).as("each recovery record synced").isEqualTo(3);
            assertThat(wal.foregroundBatches()).isZero();
            assertThat(wal.foregroundBatchNanos()).isZero();
            WalRecyclingTest.write(wal, 3, 4);
            assertThat(wal.foregroundBatches()).isEqualTo(1);
            assertThat(wal.foregroundBatchNanos()).as("at least its sync").isGreaterThanOrEqualTo(
                    wal.syncNanos() / wal.syncCount() / 100).isPositive();
        } finally {
            wal.abandon();
        }
    }
}
