package io.basalt.chunkserver.wal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.basalt.protocol.data.CsException;
import io.basalt.protocol.data.CsStatus;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.ArrayList;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** What the WAL does with damage it must not paper over, and with a disk that fails. */
class WalFailureTest {
    Path dir;

    @BeforeEach
    void setUp() throws IOException {
        dir = Files.createTempDirectory("wal-fail");
    }

    @AfterEach
    void tearDown() throws IOException {
        WalProperties.delete(dir);
    }

    static CompletableFuture<Long> submit(WalWriter wal, int i) {
        return submit(wal, i, false);
    }

    static CompletableFuture<Long> submit(WalWriter wal, int i, boolean background) {
        CompletableFuture<Long> done = new CompletableFuture<>();
        WalEntry entry = new WalEntry(WalRecordFormat.TYPE_WRITE, 1, i * 4096L, 4096, Unpooled.copiedBuffer(new byte[40]),
                (e, error) -> {
                    if (error != null) {
                        done.completeExceptionally(error);
                    } else {
                        done.complete(e.lsn());
                    }
                });
        wal.submit(background ? entry.background() : entry);
        return done;
    }

    @Test
    void aFullQueueAnswersBusyAndBackgroundWorkYieldsAQuarterOfItToClients() throws Exception {
        CountDownLatch diskBack = new CountDownLatch(1);
        CountDownLatch stalled = new CountDownLatch(1);
        RecordingSink recorded = new RecordingSink();
        WalSink slow = new WalSink() {
            @Override
            public void prepare(WalEntry entry) {
                stalled.countDown();
                try {
                    diskBack.await(); // the writer holds its batch here: the queue fills behind it
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }

            @Override
            public void apply(WalEntry entry) throws IOException {
                recorded.apply(entry);
            }

            @Override
            public void checkpoint() {}
        };
        WalWriter.Config config = new WalWriter.Config(1 << 20, 1, 16, Long.MAX_VALUE, WalProperties.PAYLOAD_MAX);
        WalWriter wal = WalWriter.open(dir, slow, config, WalWriter.Listener.NONE);
        try {
            List<CompletableFuture<Long>> accepted = new ArrayList<>();
            accepted.add(submit(wal, 0));
            stalled.await(10, TimeUnit.SECONDS); // taken by the writer: the queue is empty again
            for (int i = 1; i <= 12; i++) {
                accepted.add(submit(wal, i, i % 2 == 0)); // to three quarters: background still in
            }
            CompletableFuture<Long> background = submit(wal, 13, true);
            assertThat(background).isCompletedExceptionally();
            assertBusy(background, "background work waits");
            for (int i = 14; i <= 17; i++) {
                accepted.add(submit(wal, i)); // the quarter kept for clients
            }
            CompletableFuture<Long> full = submit(wal, 18);
            assertBusy(full, "WAL queue full");
            assertThat(accepted).noneMatch(CompletableFuture::isDone);
            diskBack.countDown();
            for (CompletableFuture<Long> done : accepted) {
                assertThat(done.get(10, TimeUnit.SECONDS)).isPositive();
            }
            assertThat(submit(wal, 19, true).get(10, TimeUnit.SECONDS)).isPositive(); // room again
            assertThat(wal.failure()).isNull();
        } finally {
            diskBack.countDown();
            wal.close();
        }
    }

    private static void assertBusy(CompletableFuture<Long> refused, String words) {
        assertThatThrownBy(() -> refused.get(10, TimeUnit.SECONDS)).cause()
                .isInstanceOfSatisfying(CsException.class, e -> {
                    assertThat(e.status()).isEqualTo(CsStatus.BUSY);
                    assertThat(e.getMessage()).contains(words);
                });
    }

    @Test
    void aDamagedRecordBeforeTheLastSegmentStopsReplayNamingTheGap() throws Exception {
        WalWriter wal = WalWriter.open(dir, new RecordingSink(), WalProperties.config(), WalWriter.Listener.NONE);
        for (int i = 0; i < 60; i++) {
            submit(wal, i).get(10, TimeUnit.SECONDS);
        }
        wal.abandon();
        List<Path> segments = WalReplay.segments(dir);
        assertThat(segments.size()).isGreaterThan(2);
        Path first = segments.getFirst();
        byte[] bytes = Files.readAllBytes(first);
        bytes[WalRecordFormat.SEGMENT_HEADER_BYTES + WalRecordFormat.HEADER_BYTES + 5] ^= 1; // inside record 2
        Files.write(first, bytes);
        assertThatThrownBy(() -> WalReplay.replay(dir, new RecordingSink(), WalProperties.PAYLOAD_MAX))
                .isInstanceOf(IOException.class).hasMessageContaining("WAL gap")
                .hasMessageContaining(segments.get(1).getFileName().toString());
    }

    @Test
    void anUnknownRecordFormatVersionIsRefusedClearly() throws Exception {
        WalWriter wal = WalWriter.open(dir, new RecordingSink(), WalProperties.config(), WalWriter.Listener.NONE);
        submit(wal, 0).get(10, TimeUnit.SECONDS);
        wal.abandon();
        Path segment = WalReplay.segments(dir).getFirst();
        ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(segment));
        int at = WalRecordFormat.SEGMENT_HEADER_BYTES;
        bytes.put(at + WalRecordFormat.FORMAT_VERSION_OFFSET, (byte) 7);
        int payloadBytes = bytes.getInt(at + WalRecordFormat.PAYLOAD_BYTES_OFFSET);
        bytes.putInt(at + WalRecordFormat.CRC_OFFSET, WalRecordFormat.recordCrc(WalRecordFormat.salt(bytes),
                bytes.duplicate().position(at),
                bytes.duplicate().position(at + WalRecordFormat.HEADER_BYTES)
                        .limit(at + WalRecordFormat.HEADER_BYTES + payloadBytes)));
        Files.write(segment, bytes.array());
        assertThatThrownBy(() -> WalReplay.replay(dir, new RecordingSink(), WalProperties.PAYLOAD_MAX))
                .isInstanceOf(IOException.class).hasMessageContaining("format version 7; this build knows 1");
    }

    @Test
    void aFailedApplyStopsWritesButNotTheProcessAndReplayRecovers() throws Exception {
        RecordingSink recorded = new RecordingSink();
        WalSink failing = new WalSink() {
            int applies;

            @Override
            public void prepare(WalEntry entry) {}

            @Override
            public void apply(WalEntry entry) throws IOException {
                if (++applies == 3) {
                    throw new IOException("Input/output error (injected EIO)");
                }
                recorded.apply(entry);
            }

            @Override
            public void checkpoint() {}
        };
        WalWriter wal = WalWriter.open(dir, failing, WalProperties.config(), WalWriter.Listener.NONE);
        submit(wal, 0).get(10, TimeUnit.SECONDS);
        submit(wal, 1).get(10, TimeUnit.SECONDS);
        assertThatThrownBy(() -> submit(wal, 2).get(10, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                .cause().isInstanceOfSatisfying(CsException.class, e -> {
                    assertThat(e.status()).isEqualTo(CsStatus.IO_ERROR);
                    assertThat(e.getMessage()).contains("injected EIO");
                });
        assertThatThrownBy(() -> submit(wal, 3).get(10, TimeUnit.SECONDS)).cause()
                .isInstanceOfSatisfying(CsException.class, e -> {
                    assertThat(e.status()).isEqualTo(CsStatus.UNAVAILABLE);
                    assertThat(e.getMessage()).contains("restart the chunk server");
                });
        assertThat(wal.failure()).isNotNull();
        wal.close(); // no checkpoint after a failure
        // The third record was durable: a restart replays it.
        RecordingSink replayed = new RecordingSink();
        WalReplay.replay(dir, replayed, WalProperties.PAYLOAD_MAX);
        assertThat(replayed.applied).hasSize(3);
    }
}
