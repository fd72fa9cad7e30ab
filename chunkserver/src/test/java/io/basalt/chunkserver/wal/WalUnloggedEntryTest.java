package io.basalt.chunkserver.wal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.Unpooled;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * An unlogged entry (a RESOLVE from the stripe master) is applied in WAL order but costs no sync,
 * takes no LSN of its own and is not in the log: replay after a crash does not see it. Unless its
 * batch syncs anyway for other records: then it is logged, for free, and replay settles it.
 */
class WalUnloggedEntryTest {
    Path dir;

    @BeforeEach
    void setUp() throws Exception {
        dir = Files.createTempDirectory("wal-unlogged");
    }

    @AfterEach
    void tearDown() throws Exception {
        WalProperties.delete(dir);
    }

    @Test
    void anUnloggedResolveIsAppliedInOrderWithoutASyncAndIsNotReplayed() throws Exception {
        RecordingSink sink = new RecordingSink();
        WalWriter wal = WalWriter.open(dir, sink, WalRecyclingTest.CONFIG, WalWriter.Listener.NONE);
        WalRecyclingTest.write(wal, 0, 1);
        long syncs = wal.syncCount();
        long syncNanos = wal.syncNanos();
        assertThat(syncNanos).as("the write's sync took time").isPositive();
        CompletableFuture<Long> resolved = new CompletableFuture<>();
        wal.submit(new WalEntry(WalRecordFormat.TYPE_EC_RESOLVE, 1, 0, 4096, Unpooled.copiedBuffer(new byte[20]),
                (e, error) -> {
                    if (error != null) {
                        resolved.completeExceptionally(error);
                    } else {
                        resolved.complete(e.lsn());
                    }
                }).unlogged());
        assertThat(resolved.get(10, TimeUnit.SECONDS)).as("shares the last LSN").isEqualTo(1);
        assertThat(wal.syncCount()).as("no sync of its own").isEqualTo(syncs);
        assertThat(wal.syncNanos()).isEqualTo(syncNanos);
        assertThat(sink.applied).extracting(RecordingSink.Applied::type)
                .containsExactly(WalRecordFormat.TYPE_WRITE, WalRecordFormat.TYPE_EC_RESOLVE);
        WalRecyclingTest.write(wal, 1, 2); // the next record still gets LSN 2: no gap
        wal.abandon();

        RecordingSink replayed = new RecordingSink();
        WalReplay.Result result = WalReplay.replay(dir, replayed, WalProperties.PAYLOAD_MAX);
        assertThat(result.lastLsn()).isEqualTo(2);
        assertThat(replayed.applied).extracting(RecordingSink.Applied::type)
                .containsExactly(WalRecordFormat.TYPE_WRITE, WalRecordFormat.TYPE_WRITE);
    }

    @Test
    void aResolveInABatchThatSyncsAnywayIsLoggedAndReplayed() throws Exception {
        RecordingSink recorded = new RecordingSink();
        java.util.concurrent.CountDownLatch gate = new java.util.concurrent.CountDownLatch(1);
        WalSink sink = new WalSink() {
            @Override
            public void prepare(WalEntry entry) throws io.basalt.protocol.data.CsException {
                if (entry.offsetBytes() == 0 && entry.type() == WalRecordFormat.TYPE_WRITE) {
                    try {
                        gate.await(); // holds the first batch while the next one queues up
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                }
                recorded.prepare(entry);
            }

            @Override
            public void apply(WalEntry entry) throws java.io.IOException {
                recorded.apply(entry);
            }

            @Override
            public void checkpoint() {
                recorded.checkpoint();
            }
        };
        WalWriter wal = WalWriter.open(dir, sink, WalRecyclingTest.CONFIG, WalWriter.Listener.NONE);
        CompletableFuture<Long> first = WalRecyclingTest.submit(wal, 0);
        Thread.sleep(200); // the writer is in the first batch, waiting at the gate
        CompletableFuture<Long> resolved = new CompletableFuture<>();
        wal.submit(new WalEntry(WalRecordFormat.TYPE_EC_RESOLVE, 1, 4096, 4096, Unpooled.copiedBuffer(new byte[20]),
                (e, error) -> resolved.complete(error != null ? -1 : e.lsn())).unlogged());
        CompletableFuture<Long> second = WalRecyclingTest.submit(wal, 1); // the same batch as the RESOLVE
        long syncs = wal.syncCount();
        gate.countDown();
        assertThat(first.get(10, TimeUnit.SECONDS)).isEqualTo(1);
        assertThat(resolved.get(10, TimeUnit.SECONDS)).as("a record of its own").isEqualTo(2);
        assertThat(second.get(10, TimeUnit.SECONDS)).isEqualTo(3);
        assertThat(wal.syncCount() - syncs).as("one sync for each batch, none for the RESOLVE").isEqualTo(2);
        wal.abandon();

        RecordingSink replayed = new RecordingSink();
        WalReplay.replay(dir, replayed, WalProperties.PAYLOAD_MAX);
        assertThat(replayed.applied).extracting(RecordingSink.Applied::type).containsExactly(
                WalRecordFormat.TYPE_WRITE, WalRecordFormat.TYPE_EC_RESOLVE, WalRecordFormat.TYPE_WRITE);
    }

    @Test
    void onlyAResolveMaySkipTheLog() {
        WalEntry write = new WalEntry(WalRecordFormat.TYPE_WRITE, 1, 0, 4096, Unpooled.buffer(4100), (e, error) -> {});
        assertThatThrownBy(write::unlogged).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("only an EC_RESOLVE");
    }
}
