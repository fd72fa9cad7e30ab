package io.basalt.chunkserver;

import static io.basalt.chunkserver.ChunkServerTest.random;
import static io.basalt.chunkserver.ChunkServerTest.read;
import static io.basalt.chunkserver.ChunkServerTest.write;
import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.chunkserver.recovery.RecoveryWorker;
import io.basalt.chunkserver.recovery.Scrubber;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
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

    InProcessServers servers;

    @BeforeEach
    void setUp() throws IOException {
        servers = new InProcessServers("cs-scrub", CHUNKLET);
    }

    @AfterEach
    void tearDown() throws Exception {
        servers.close();
    }

    ChunkServer start(String name, LocalMetaLink meta, Duration scrubInterval) throws IOException {
        return servers.start(name, meta, config -> config.withRecovery(new RecoveryWorker.Config(100, 2, 0))
                .withScrub(new Scrubber.Config(scrubInterval, 0)));
    }

    DataClient connect(ChunkServer server) throws IOException {
        return servers.connect(server);
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
