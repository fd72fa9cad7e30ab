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

    /** Three (or two) replicas with their own links, each link's map naming its server's chunklet. */
    record Replicas(List<ChunkServer> servers, List<LocalMetaLink> links, List<DataClient> clients) {}

    Replicas replicas(int count, Duration scrubInterval) throws Exception {
        List<ChunkServer> started = new java.util.ArrayList<>();
        List<LocalMetaLink> links = new java.util.ArrayList<>();
        List<DataClient> clients = new java.util.ArrayList<>();
        for (int i = 0; i < count; i++) {
            LocalMetaLink link = new LocalMetaLink("t", 10 + i);
            links.add(link);
            started.add(start("r" + i, link, scrubInterval));
            clients.add(connect(started.get(i)));
        }
        List<MetaLink.Member> members = new java.util.ArrayList<>();
        for (int i = 0; i < count; i++) {
            members.add(new MetaLink.Member(i, 10 + i, "127.0.0.1:" + started.get(i).address().getPort(), true));
        }
        for (int i = 0; i < count; i++) {
            links.get(i).setChunkMap(new MetaLink.RecoveryTask(UID, 1, 1, false, false, count, 0, CHUNKLET, i,
                    members));
        }
        return new Replicas(started, links, clients);
    }

    static void put(DataClient client, long offset, byte[] data) throws Exception {
        DataClient.Reply reply = write(client, UID, 1, offset, data);
        assertThat(reply.status()).isEqualTo(CsStatus.OK);
        reply.release();
    }

    /** Waits until every server has finished two more passes than now: one begun after this call. */
    static void awaitTwoMorePasses(List<ChunkServer> servers) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        double[] now = servers.stream().mapToDouble(server -> server.metrics().scrubPasses.get()).toArray();
        for (int i = 0; i < servers.size(); i++) {
            while (servers.get(i).metrics().scrubPasses.get() < now[i] + 2) {
                assertThat(System.nanoTime() - deadline).as("scrub passes within 30 s").isNegative();
                Thread.sleep(50);
            }
        }
    }

    @Test
    void aReplicaHoldingOtherDataThanTheMajorityAtRestIsRepairedFromIt() throws Exception {
        // Blocks that pass their own CRC on every replica, but one replica holds other data at the same
        // version (a write applied differently): only a comparison between replicas can find it.
        Replicas r = replicas(3, Duration.ofMillis(300));
        byte[] good = random(64 << 10, 5);
        byte[] other = random(16 << 10, 6);
        put(r.clients().get(0), 0, good);
        put(r.clients().get(1), 0, good);
        put(r.clients().get(2), 0, good);
        put(r.clients().get(2), 8 << 12, other); // blocks 8..11 of replica 2 only

        awaitTwoMorePasses(r.servers());
        ChunkServer minority = r.servers().get(2);
        assertThat(minority.metrics().scrubErrors.labelValues("divergent").get()).isEqualTo(4);
        assertThat(minority.metrics().scrubRepaired.get()).isEqualTo(4);
        assertThat(read(r.clients().get(2), UID, 1, 0, 64 << 10)).isEqualTo(good);
        for (int i = 0; i < 2; i++) {
            assertThat(r.servers().get(i).metrics().scrubErrors.labelValues("divergent").get()).isZero();
            assertThat(read(r.clients().get(i), UID, 1, 0, 64 << 10)).isEqualTo(good);
        }
        assertThat(r.links().get(2).failuresReported()).isEmpty();
    }

    @Test
    void twoReplicasThatDisagreeAtTheSameVersionAreReportedNotGuessed() throws Exception {
        Replicas r = replicas(2, Duration.ofMillis(300));
        byte[] a = random(8 << 10, 7);
        byte[] b = random(8 << 10, 8);
        put(r.clients().get(0), 0, a);
        put(r.clients().get(1), 0, b);

        awaitTwoMorePasses(r.servers());
        for (int i = 0; i < 2; i++) {
            ChunkServer server = r.servers().get(i);
            assertThat(server.metrics().scrubErrors.labelValues("divergent").get()).isGreaterThanOrEqualTo(2);
            assertThat(server.metrics().scrubUnrepaired.get()).isGreaterThanOrEqualTo(2);
            assertThat(server.metrics().scrubRepaired.get()).isZero();
        }
        assertThat(read(r.clients().get(0), UID, 1, 0, 8 << 10)).isEqualTo(a);
        assertThat(read(r.clients().get(1), UID, 1, 0, 8 << 10)).isEqualTo(b);
    }

    @Test
    void aReplicaThatLacksAWriteTheOthersHoldAsksMetaForACatchUp() throws Exception {
        // Replica 2 never got the write of blocks 4..5: no LSN to guard a REPAIR with (a trim would
        // look the same), so it reports its chunklet and the recoverer catches it up in place.
        Replicas r = replicas(3, Duration.ofMillis(300));
        byte[] base = random(16 << 10, 9);
        for (DataClient client : r.clients()) {
            put(client, 0, base);
        }
        byte[] missed = random(8 << 10, 10);
        put(r.clients().get(0), 4 << 12, missed);
        put(r.clients().get(1), 4 << 12, missed);

        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (r.links().get(2).failuresReported().isEmpty()) {
            assertThat(System.nanoTime() - deadline).as("reported within 30 s").isNegative();
            Thread.sleep(50);
        }
        assertThat(r.links().get(2).failuresReported()).contains(UID);
        assertThat(r.links().get(0).failuresReported()).isEmpty();
        assertThat(r.links().get(1).failuresReported()).isEmpty();
        assertThat(read(r.clients().get(2), UID, 1, 0, 16 << 10)).isEqualTo(base);
    }
}
