package io.basalt.chunkserver.protocol;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.chunkserver.ChunkVersions;
import io.basalt.chunkserver.CsMetrics;
import io.basalt.chunkserver.store.ChunkletStore;
import io.basalt.chunkserver.wal.WalEntry;
import io.basalt.chunkserver.wal.WalSink;
import io.basalt.chunkserver.wal.WalWriter;
import io.basalt.protocol.data.CsException;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Request timeouts, the in-flight byte bound and closing, with a disk that stalls on command. */
class DataServerLimitsTest {
    Path dir;
    EventLoopGroup group;
    ExecutorService readers;
    ChunkletStore store;
    WalWriter wal;
    DataServer server;
    DataClient client;
    CsMetrics metrics;
    volatile CountDownLatch stall = new CountDownLatch(0);

    /** Delegates to the store, but the writer thread waits on {@link #stall} first. */
    final class StallingSink implements WalSink {
        @Override
        public void prepare(WalEntry entry) throws CsException {
            try {
                stall.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            store.prepare(entry);
        }

        @Override
        public void apply(WalEntry entry) throws IOException {
            store.apply(entry);
        }

        @Override
        public void checkpoint() throws IOException {
            store.checkpoint();
        }
    }

    void start(long inFlightBytesMax, long requestTimeoutMillis) throws IOException {
        dir = Files.createTempDirectory("cs-limits");
        group = new MultiThreadIoEventLoopGroup(2, NioIoHandler.newFactory());
        readers = Executors.newFixedThreadPool(2);
        store = ChunkletStore.open(dir.resolve("chunklets"), 64L << 20, 0, ChunkletStore.Listener.NONE);
        wal = WalWriter.open(dir.resolve("wal"), new StallingSink(), new WalWriter.Config(8L << 20, 64, 4096,
                1L << 40, (1 << 20) + 2048), WalWriter.Listener.NONE);
        metrics = new CsMetrics(new PrometheusRegistry());
        DataService service = new DataService(store, wal, ChunkVersions.open(dir.resolve("versions")), readers, readers, null, null,
                null, metrics, 1 << 20, inFlightBytesMax, requestTimeoutMillis);
        server = DataServer.start(new InetSocketAddress("127.0.0.1", 0), group, service);
        client = DataClient.connect(group, "127.0.0.1:" + server.localAddress().getPort(), 30_000, 2 << 20);
    }

    @BeforeEach
    void setUp() {}

    @AfterEach
    void tearDown() throws Exception {
        stall.countDown();
        if (client != null) {
            client.close();
        }
        if (server != null) {
            server.close();
        }
        if (wal != null) {
            wal.close();
        }
        if (store != null) {
            store.close();
        }
        if (readers != null) {
            readers.shutdownNow();
        }
        if (group != null) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).await();
        }
        if (dir != null) {
            try (Stream<Path> files = Files.walk(dir)) {
                for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }

    CompletableFuture<DataClient.Reply> write(long offset, int bytes) {
        return client.request(DataFrame.TYPE_WRITE, 1, 0, offset, bytes,
                DataClient.writePayload(PooledByteBufAllocator.DEFAULT, new byte[bytes]));
    }

    @Test
    void aStalledRequestIsAnsweredTimeoutAndTheConnectionGoesOn() throws Exception {
        start(64L << 20, 300);
        stall = new CountDownLatch(1);
        long startNanos = System.nanoTime();
        DataClient.Reply reply = write(0, 4096).get(10, TimeUnit.SECONDS);
        assertThat(reply.status()).isEqualTo(CsStatus.TIMEOUT);
        assertThat(reply.message()).contains("not done within 300 ms").contains("outcome is unknown");
        reply.release();
        assertThat(System.nanoTime() - startNanos).isLessThan(TimeUnit.SECONDS.toNanos(5));
        stall.countDown(); // the late completion is dropped, not sent twice
        DataClient.Reply next = write(4096, 4096).get(10, TimeUnit.SECONDS);
        assertThat(next.status()).as(next.message()).isEqualTo(CsStatus.OK);
        next.release();
    }

    @Test
    void aConnectionStopsReadingAboveItsInFlightBound() throws Exception {
        long bound = 64 << 10;
        start(bound, 60_000);
        stall = new CountDownLatch(1);
        List<CompletableFuture<DataClient.Reply>> replies = new ArrayList<>();
        for (int i = 0; i < 128; i++) {
            replies.add(write(i * 8192L, 8192)); // 1 MiB in total, 16 times the bound
        }
        Thread.sleep(500);
        double inFlight = metrics.bytesInFlight.get();
        // At most the bound plus what one socket read (64 KiB) had already buffered.
        assertThat(inFlight).isGreaterThan(0).isLessThanOrEqualTo(bound + (64 << 10) + 8192 + 256);
        stall.countDown();
        for (CompletableFuture<DataClient.Reply> reply : replies) {
            DataClient.Reply r = reply.get(30, TimeUnit.SECONDS);
            assertThat(r.status()).as(r.message()).isEqualTo(CsStatus.OK);
            r.release();
        }
        assertThat(metrics.bytesInFlight.get()).isZero();
    }

    @Test
    void aConnectionStopsReadingAboveItsInFlightRequestCount() throws Exception {
        start(64L << 20, 60_000);
        stall = new CountDownLatch(1);
        List<CompletableFuture<DataClient.Reply>> replies = new ArrayList<>();
        for (int i = 0; i < 3000; i++) { // 56-byte TRIMs: far below the byte bound
            replies.add(client.request(DataFrame.TYPE_TRIM, 1, 0, (i % 1000) * 4096L, 4096, null));
        }
        Thread.sleep(500);
        // At most the bound plus what one 64 KiB socket read had already buffered (~1170 frames).
        assertThat(metrics.requestsInFlight.get()).isGreaterThan(0)
                .isLessThanOrEqualTo(DataServerHandler.IN_FLIGHT_REQUESTS_MAX + (64 << 10) / DataFrame.HEADER_BYTES + 1);
        stall.countDown();
        for (CompletableFuture<DataClient.Reply> reply : replies) {
            DataClient.Reply r = reply.get(30, TimeUnit.SECONDS);
            assertThat(r.status()).as(r.message()).isEqualTo(CsStatus.OK);
            r.release();
        }
    }

    @Test
    void closingTheServerClosesItsConnectionsSoAPeersRequestInFlightFailsAtOnce() throws Exception {
        start(64L << 20, 60_000);
        stall = new CountDownLatch(1);
        CompletableFuture<DataClient.Reply> stuck = write(0, 4096);
        Thread.sleep(200); // taken, and waiting on the disk
        assertThat(stuck).isNotDone();
        server.close();
        // Not after the 60 s request timeout, nor the client's 30 s: the connection is gone.
        assertThat(stuck).failsWithin(5, TimeUnit.SECONDS).withThrowableOfType(java.util.concurrent.ExecutionException.class)
                .withMessageContaining("closed");
        assertThat(client.isOpen()).isFalse();
    }
}
