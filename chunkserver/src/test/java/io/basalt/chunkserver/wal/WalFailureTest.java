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
import java.util.concurrent.CompletableFuture;
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
        CompletableFuture<Long> done = new CompletableFuture<>();
        wal.submit(new WalEntry(WalRecordFormat.TYPE_WRITE, 1, i * 4096L, 4096, Unpooled.copiedBuffer(new byte[40]),
                (e, error) -> {
                    if (error != null) {
                        done.completeExceptionally(error);
                    } else {
                        done.complete(e.lsn());
                    }
                }));
        return done;
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
