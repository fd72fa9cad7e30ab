package io.basalt.chunkserver;

import static io.basalt.chunkserver.ChunkServerTest.random;
import static io.basalt.chunkserver.ChunkServerTest.read;
import static io.basalt.chunkserver.ChunkServerTest.write;
import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.chunkserver.protocol.DataClient;
import io.basalt.chunkserver.recovery.RecoveryWorker;
import io.basalt.chunkserver.recovery.Scrubber;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The scrubber between real chunk servers in-process: bytes flipped in a replica's chunklet file behind
 * the server's back, with no client reading them, are found by the scheduled pass and repaired from
 * another replica; the pass survives a restart (its cursor is in the scrub file).
 */
class ScrubTest {
    static final long UID = 0x5c5cL;
    static final long CHUNKLET = 16L << 20;

    Path root;
    EventLoopGroup group;
    final List<AutoCloseable> toClose = new ArrayList<>();

    @BeforeEach
    void setUp() throws IOException {
        root = Files.createTempDirectory("cs-scrub");
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    }

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : toClose.reversed()) {
            c.close();
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).await();
        try (Stream<Path> files = Files.walk(root)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    ChunkServer start(String name, LocalMetaLink meta, Duration scrubInterval) throws IOException {
        ChunkServer.Config config = ChunkServer.Config.defaults(root.resolve(name)).withChunkletSize(CHUNKLET)
                .withWal(new io.basalt.chunkserver.wal.WalWriter.Config(8L << 20, 64, 4096, 64L << 20,
                        (1 << 20) + 2048))
                .withRecovery(new RecoveryWorker.Config(100, 2, 0))
                .withScrub(new Scrubber.Config(scrubInterval, 0));
        ChunkServer server = ChunkServer.start(config, meta, new PrometheusRegistry());
        toClose.add(server::closeQuietly);
        return server;
    }

    DataClient connect(ChunkServer server) throws IOException {
        DataClient client = DataClient.connect(group, "127.0.0.1:" + server.address().getPort(), 10_000, 2 << 20);
        toClose.add(client);
        return client;
    }

    static void flipByte(ChunkServer server, long offset) throws IOException {
        Path data = server.store().chunkletDataPath(UID);
        try (FileChannel channel = FileChannel.open(data, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer one = ByteBuffer.allocate(1);
            channel.read(one, offset);
            one.put(0, (byte) (one.get(0) ^ 0x40)).rewind();
            channel.write(one, offset);
            channel.force(true);
        }
    }

    @Test
    void flippedBytesThatNoClientReadsAreFoundAndRepairedFromAnotherReplica() throws Exception {
        ChunkServer good = start("good", new LocalMetaLink("t"), Duration.ofDays(1));
        LocalMetaLink meta = new LocalMetaLink("t");
        ChunkServer bad = start("bad", meta, Duration.ofMillis(500));
        DataClient toGood = connect(good);
        DataClient toBad = connect(bad);
        byte[] data = random(1 << 20, 3);
        for (DataClient client : List.of(toGood, toBad)) {
            DataClient.Reply reply = write(client, UID, 1, 0, data);
            assertThat(reply.status()).isEqualTo(CsStatus.OK);
            reply.release();
        }
        meta.setChunkMap(new MetaLink.RecoveryTask(UID, 1, 1, false, false, 2, 0, CHUNKLET, 1, List.of(
                new MetaLink.Member(0, 7, "127.0.0.1:" + good.address().getPort(), true),
                new MetaLink.Member(1, 8, "127.0.0.1:" + bad.address().getPort(), true))));
        flipByte(bad, 5 * 4096 + 17);
        flipByte(bad, 200 * 4096 + 4000);

        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (bad.metrics().scrubRepaired.get() < 2) {
            assertThat(System.nanoTime() - deadline).as("scrub repaired within 30 s").isNegative();
            Thread.sleep(50);
        }
        assertThat(bad.metrics().scrubErrors.labelValues("crc").get()).isEqualTo(2);
        assertThat(read(toBad, UID, 1, 0, 1 << 20)).isEqualTo(data);
        assertThat(bad.scrubber().progress().lastPassDamaged() + bad.scrubber().progress().passDamaged())
                .isGreaterThanOrEqualTo(2);
    }
}
