package io.basalt.chunkserver;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.basalt.protocol.data.BlockCrc;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** A real chunk server in-process, driven over TCP with {@link DataClient} and raw sockets. */
class ChunkServerTest {
    static final ByteBufAllocator ALLOC = PooledByteBufAllocator.DEFAULT;
    static final long UID = 0xc0ffeeL;

    Path root;
    EventLoopGroup group;
    final List<AutoCloseable> toClose = new ArrayList<>();

    @BeforeEach
    void setUp() throws IOException {
        root = Files.createTempDirectory("cs-server");
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

    ChunkServer start(String name, LocalMetaLink meta) throws IOException {
        ChunkServer.Config config = ChunkServer.Config.defaults(root.resolve(name)).withChunkletSize(64L << 20)
                .withWal(new io.basalt.chunkserver.wal.WalWriter.Config(8L << 20, 64, 4096, 64L << 20,
                        (1 << 20) + 2048));
        ChunkServer server = ChunkServer.start(config, meta, new PrometheusRegistry());
        toClose.add(server::closeQuietly);
        return server;
    }

    DataClient connect(ChunkServer server) throws IOException {
        DataClient client = DataClient.connect(group, "127.0.0.1:" + server.address().getPort(), 10_000, 2 << 20);
        toClose.add(client);
        return client;
    }

    static byte[] random(int bytes, long seed) {
        byte[] data = new byte[bytes];
        new Random(seed).nextBytes(data);
        return data;
    }

    static DataClient.Reply await(CompletableFuture<DataClient.Reply> reply) throws Exception {
        return reply.get(20, TimeUnit.SECONDS);
    }

    static DataClient.Reply write(DataClient client, long uid, long version, long offset, byte[] data) throws Exception {
        return await(client.request(DataFrame.TYPE_WRITE, uid, version, offset, data.length,
                DataClient.writePayload(ALLOC, data)));
    }

    static byte[] read(DataClient client, long uid, long version, long offset, int length) throws Exception {
        DataClient.Reply reply = await(client.request(DataFrame.TYPE_READ, uid, version, offset, length, null));
        try {
            assertThat(reply.status()).as(reply.message()).isEqualTo(CsStatus.OK);
            ByteBuf payload = reply.payload();
            assertThat(payload.readableBytes()).isEqualTo(length + length / 1024);
            for (int i = 0; i < length / 4096; i++) {
                assertThat(payload.getInt(length + 4 * i)).isEqualTo(BlockCrc.of(payload, i * 4096, 4096));
            }
            return ByteBufUtil.getBytes(payload, 0, length);
        } finally {
            reply.release();
        }
    }

    @Test
    void pipelinedWritesAndReadsOverTheWire() throws Exception {
        ChunkServer server = start("cs1", new LocalMetaLink("test"));
        DataClient client = connect(server);
        List<CompletableFuture<DataClient.Reply>> replies = new ArrayList<>();
        for (int i = 0; i < 64; i++) {
            byte[] data = random(8192, i);
            replies.add(client.request(DataFrame.TYPE_WRITE, UID, 0, i * 8192L, data.length,
                    DataClient.writePayload(ALLOC, data)));
        }
        for (CompletableFuture<DataClient.Reply> reply : replies) {
            DataClient.Reply r = await(reply);
            assertThat(r.status()).as(r.message()).isEqualTo(CsStatus.OK);
            r.release();
        }
        assertThat(server.wal().syncCount()).as("group commit: fewer syncs than writes").isLessThan(64);
        for (int i = 0; i < 64; i++) {
            assertThat(read(client, UID, 0, i * 8192L, 8192)).isEqualTo(random(8192, i));
        }
        assertThat(read(client, UID + 1, 0, 0, 4096)).containsOnly(0);
        DataClient.Reply trim = await(client.request(DataFrame.TYPE_TRIM, UID, 0, 0, 8192, null));
        assertThat(trim.status()).isEqualTo(CsStatus.OK);
        trim.release();
        assertThat(read(client, UID, 0, 0, 8192)).containsOnly(0);
        DataClient.Reply info = await(client.request(DataFrame.TYPE_INFO, UID, 0, 0, 0, null));
        assertThat(info.status()).isEqualTo(CsStatus.OK);
        assertThat(info.payload().getLong(8)).as("written blocks").isEqualTo(126);
        info.release();
        DataClient.Reply flush = await(client.request(DataFrame.TYPE_FLUSH, UID, 0, 0, 0, null));
        assertThat(flush.status()).isEqualTo(CsStatus.OK);
        flush.release();
    }

    @Test
    void aDeletedChunkLosesItsChunkletAndStaysFencedUntilPlacedHereAgain() throws Exception {
        LocalMetaLink meta = new LocalMetaLink("test");
        ChunkServer server = start("cs1", meta);
        DataClient client = connect(server);
        meta.pushVersion(UID, 2);
        DataClient.Reply ok = write(client, UID, 2, 0, random(4096, 1));
        assertThat(ok.status()).as(ok.message()).isEqualTo(CsStatus.OK);
        ok.release();
        Path chunklets = root.resolve("cs1").resolve("chunklets");
        try (Stream<Path> files = Files.list(chunklets)) {
            assertThat(files.count()).isEqualTo(2); // .data and .meta
        }
        long usedBefore = server.store().usedBytes();
        assertThat(usedBefore).isPositive();

        meta.pushDeleted(UID);
        assertThat(server.store().info(UID).exists()).isFalse();
        assertThat(server.store().usedBytes()).isZero();
        try (Stream<Path> files = Files.list(chunklets)) {
            assertThat(files.toList()).isEmpty();
        }
        assertThat(server.versions().deleted(UID)).isTrue();
        for (long version : new long[] {1, 2, 3}) {
            DataClient.Reply refused = write(client, UID, version, 0, random(4096, 2));
            assertThat(refused.status()).isEqualTo(CsStatus.STALE_VERSION);
            assertThat(refused.message()).contains("removed from this chunk server");
            refused.release();
        }
        meta.pushDeleted(UID); // again: nothing more to do
        server.close();

        // After a restart the chunklet stays gone and the tombstone still fences.
        LocalMetaLink meta2 = new LocalMetaLink("test");
        ChunkServer again = start("cs1", meta2);
        DataClient client2 = connect(again);
        assertThat(again.store().info(UID).exists()).isFalse();
        try (Stream<Path> files = Files.list(chunklets)) {
            assertThat(files.toList()).isEmpty();
        }
        DataClient.Reply stillRefused = write(client2, UID, 4, 0, random(4096, 3));
        assertThat(stillRefused.status()).isEqualTo(CsStatus.STALE_VERSION);
        stillRefused.release();
        // Meta places the chunk here again (recovery): a new version replaces the tombstone.
        meta2.pushVersion(UID, 5);
        assertThat(read(client2, UID, 5, 0, 4096)).isEqualTo(new byte[4096]);
        DataClient.Reply back = write(client2, UID, 5, 0, random(4096, 4));
        assertThat(back.status()).as(back.message()).isEqualTo(CsStatus.OK);
        back.release();
        assertThat(read(client2, UID, 5, 0, 4096)).isEqualTo(random(4096, 4));
    }

    @Test
    void staleVersionsAreRefusedAndTheFenceSurvivesARestart() throws Exception {
        LocalMetaLink meta = new LocalMetaLink("test");
        ChunkServer server = start("cs1", meta);
        DataClient client = connect(server);
        meta.pushVersion(UID, 4);
        DataClient.Reply stale = write(client, UID, 3, 0, random(4096, 1));
        assertThat(stale.status()).isEqualTo(CsStatus.STALE_VERSION);
        assertThat(stale.message()).contains("stale chunk version 3 < 4");
        stale.release();
        DataClient.Reply staleRead = await(client.request(DataFrame.TYPE_READ, UID, 2, 0, 4096, null));
        assertThat(staleRead.status()).isEqualTo(CsStatus.STALE_VERSION);
        staleRead.release();
        DataClient.Reply ok = write(client, UID, 4, 0, random(4096, 1));
        assertThat(ok.status()).isEqualTo(CsStatus.OK);
        ok.release();
        meta.pushVersion(UID, 2); // versions never go back
        assertThat(server.versions().known(UID)).isEqualTo(4);
        // A request newer than the known version is served, and tells the link to pull.
        int hints = meta.versionsBehindHints();
        DataClient.Reply newer = write(client, UID, 5, 0, random(4096, 1));
        assertThat(newer.status()).isEqualTo(CsStatus.OK);
        newer.release();
        assertThat(meta.versionsBehindHints()).isEqualTo(hints + 1);
        DataClient.Reply current = write(client, UID, 4, 0, random(4096, 1));
        assertThat(current.status()).isEqualTo(CsStatus.OK);
        current.release();
        assertThat(meta.versionsBehindHints()).isEqualTo(hints + 1);
        // INFO is not fenced, but a newer version in it is the same hint (snapshot create polls
        // INFO with the new versions so that servers pull them at once); an older one is not.
        for (long version : new long[] {6, 3}) {
            DataClient.Reply info = await(client.request(DataFrame.TYPE_INFO, UID, version, 0, 0, null));
            assertThat(info.status()).isEqualTo(CsStatus.OK);
            info.release();
        }
        assertThat(meta.versionsBehindHints()).isEqualTo(hints + 2);
        server.close();
        ChunkServer again = start("cs1", new LocalMetaLink("test"));
        DataClient client2 = connect(again);
        DataClient.Reply stillStale = write(client2, UID, 3, 0, random(4096, 2));
        assertThat(stillStale.status()).isEqualTo(CsStatus.STALE_VERSION);
        stillStale.release();
        assertThat(read(client2, UID, 4, 0, 4096)).isEqualTo(random(4096, 1));
    }

    @Test
    void aBadCrcIsRefusedAndTheConnectionGoesOn() throws Exception {
        ChunkServer server = start("cs1", new LocalMetaLink("test"));
        DataClient client = connect(server);
        ByteBuf payload = DataClient.writePayload(ALLOC, random(8192, 3));
        payload.setByte(5000, payload.getByte(5000) ^ 0x10);
        DataClient.Reply bad = await(client.request(DataFrame.TYPE_WRITE, UID, 0, 0, 8192, payload));
        assertThat(bad.status()).isEqualTo(CsStatus.BAD_CRC);
        assertThat(bad.message()).contains("block at offset 4096");
        bad.release();
        assertThat(read(client, UID, 0, 0, 8192)).containsOnly(0); // nothing applied
        DataClient.Reply unaligned = await(client.request(DataFrame.TYPE_READ, UID, 0, 100, 4096, null));
        assertThat(unaligned.status()).isEqualTo(CsStatus.INVALID);
        unaligned.release();
        DataClient.Reply ok = write(client, UID, 0, 0, random(8192, 3));
        assertThat(ok.status()).isEqualTo(CsStatus.OK);
        ok.release();
    }

    @Test
    void malformedFramesCloseOnlyTheirConnection() throws Exception {
        ChunkServer server = start("cs1", new LocalMetaLink("test"));
        DataClient good = connect(server);
        int port = server.address().getPort();
        // Bad magic: closed without an answer.
        try (Socket socket = new Socket("127.0.0.1", port)) {
            socket.setSoTimeout(5000);
            byte[] junk = new byte[DataFrame.HEADER_BYTES];
            new Random(1).nextBytes(junk);
            socket.getOutputStream().write(junk);
            assertThat(socket.getInputStream().read()).isEqualTo(-1);
        }
        // Over-long frame: answered PROTOCOL, then closed.
        try (Socket socket = new Socket("127.0.0.1", port)) {
            socket.setSoTimeout(5000);
            ByteBuf header = Unpooled.buffer();
            DataFrame.writeHeader(header, DataFrame.TYPE_WRITE, 0, 77, UID, 0, 0, 4096, 64L << 20, 0);
            socket.getOutputStream().write(ByteBufUtil.getBytes(header));
            header.release();
            byte[] reply = socket.getInputStream().readAllBytes();
            ByteBuf frame = Unpooled.wrappedBuffer(reply);
            assertThat(DataFrame.requestId(frame)).isEqualTo(77);
            assertThat(DataFrame.status(frame)).isEqualTo(CsStatus.PROTOCOL.code);
            assertThat(DataFrame.errorMessage(frame)).contains("max");
        }
        // Dropped mid-frame.
        try (Socket socket = new Socket("127.0.0.1", port)) {
            ByteBuf f = Unpooled.buffer();
            DataFrame.writeHeader(f, DataFrame.TYPE_WRITE, 0, 1, UID, 0, 0, 4096, 4100, 0);
            f.writeZero(1000);
            socket.getOutputStream().write(ByteBufUtil.getBytes(f));
            f.release();
        }
        DataClient.Reply ok = write(good, UID, 0, 0, random(4096, 9));
        assertThat(ok.status()).isEqualTo(CsStatus.OK);
        ok.release();
        assertThat(read(connect(server), UID, 0, 0, 4096)).isEqualTo(random(4096, 9));
    }

    @Test
    void identityIsKeptAndAnotherClusterOrFormatIsRefused() throws Exception {
        ChunkServer server = start("cs1", new LocalMetaLink("test"));
        int csId = server.csId();
        server.close();
        ChunkServer again = start("cs1", new LocalMetaLink("test"));
        assertThat(again.csId()).isEqualTo(csId);
        again.close();
        assertThatThrownBy(() -> start("cs1", new LocalMetaLink("other")))
                .isInstanceOf(IOException.class).hasMessageContaining("belongs to cluster")
                .hasMessageContaining("use an empty --data directory");
        Path identity = root.resolve("cs1").resolve("identity");
        ByteBuffer bytes = ByteBuffer.wrap(Files.readAllBytes(identity)).order(ByteOrder.BIG_ENDIAN);
        bytes.put(4, (byte) 9);
        CRC32C crc = new CRC32C();
        crc.update(bytes.duplicate().limit(44));
        bytes.putInt(44, (int) crc.getValue());
        Files.write(identity, bytes.array());
        assertThatThrownBy(() -> start("cs1", new LocalMetaLink("test")))
                .isInstanceOf(IOException.class).hasMessageContaining("format version 9; this build knows 1");
    }

    @Test
    void aFullDiskIsRefusedCleanlyAndReportedToMetaWhileReadsGoOn() throws Exception {
        Tmpfs tmpfs = Tmpfs.mount("12m");
        toClose.add(tmpfs);
        Path mount = tmpfs.path();
        LocalMetaLink meta = new LocalMetaLink("test");
        ChunkServer.Config config = new ChunkServer.Config(mount.resolve("cs"), "127.0.0.1", 0, null, "h", "z",
                64L << 20, 1 << 20, 64L << 20, 30_000,
                new io.basalt.chunkserver.wal.WalWriter.Config(2L << 20, 64, 4096, 2L << 20, (1 << 20) + 2048),
                100, 2, io.basalt.chunkserver.recovery.RecoveryWorker.Config.defaults(),
                io.basalt.chunkserver.recovery.Scrubber.Config.defaults(), 0, null, 0, null);
        ChunkServer server = ChunkServer.start(config, meta, new PrometheusRegistry());
        toClose.add(server::closeQuietly);
        DataClient client = connect(server);
        int acknowledged = 0;
        DataClient.Reply refused = null;
        for (int i = 0; i < 256; i++) {
            DataClient.Reply r = write(client, UID, 0, i * 65536L, random(65536, i));
            if (r.status() != CsStatus.OK) {
                refused = r;
                break;
            }
            r.release();
            acknowledged++;
        }
        assertThat(refused).as("a 12 MiB disk fills up").isNotNull();
        assertThat(refused.status()).isEqualTo(CsStatus.NO_SPACE);
        assertThat(refused.message()).contains("no space");
        refused.release();
        for (int i = 0; i < acknowledged; i++) {
            assertThat(read(client, UID, 0, i * 65536L, 65536)).isEqualTo(random(65536, i));
        }
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        while (meta.lastHealth() != MetaLink.Health.FULL && System.nanoTime() < deadline) {
            Thread.sleep(50);
        }
        assertThat(meta.lastHealth()).as("heartbeat health").isEqualTo(MetaLink.Health.FULL);
        assertThat(meta.lastUsedBytes()).isEqualTo(acknowledged * 65536L);
        // Trim frees space; writes work again.
        DataClient.Reply trim = await(client.request(DataFrame.TYPE_TRIM, UID, 0, 0, 16 * 65536, null));
        assertThat(trim.status()).as(trim.message()).isEqualTo(CsStatus.OK);
        trim.release();
        DataClient.Reply again = write(client, UID, 0, 0, random(65536, 100));
        assertThat(again.status()).as(again.message()).isEqualTo(CsStatus.OK);
        again.release();
    }

    @Test
    void aFirstStartThatFailsOnATakenPortCanBeRetried() throws Exception {
        ChunkServer other = start("cs-other", new LocalMetaLink("test"));
        ChunkServer.Config config = ChunkServer.Config.defaults(root.resolve("cs1")).withChunkletSize(64L << 20)
                .withPort(other.address().getPort());
        assertThatThrownBy(() -> ChunkServer.start(config, new LocalMetaLink("test"), new PrometheusRegistry()))
                .isInstanceOf(IOException.class).hasMessageContaining("cannot listen");
        ChunkServer server = ChunkServer.start(config.withPort(0), new LocalMetaLink("test"), new PrometheusRegistry());
        toClose.add(server::closeQuietly);
        assertThat(server.csId()).isPositive();
        // A directory with data but no identity is still refused.
        server.close();
        Files.delete(root.resolve("cs1").resolve("identity"));
        Files.write(root.resolve("cs1").resolve("chunklets").resolve("0000000000000001.meta"), new byte[64]);
        assertThatThrownBy(() -> start("cs1", new LocalMetaLink("test"))).isInstanceOf(IOException.class)
                .hasMessageContaining("no identity file");
    }

    @Test
    void replicatedWritesReachEveryReplicaAndAFailedReplicaIsNamed() throws Exception {
        ChunkServer primary = start("cs1", new LocalMetaLink("test"));
        ChunkServer second = start("cs2", new LocalMetaLink("test"));
        ChunkServer third = start("cs3", new LocalMetaLink("test"));
        List<String> replicas = List.of("127.0.0.1:" + second.address().getPort(),
                "127.0.0.1:" + third.address().getPort());
        DataClient client = connect(primary);
        List<CompletableFuture<DataClient.Reply>> replies = new ArrayList<>();
        for (int i = 0; i < 16; i++) {
            byte[] data = random(4096, 50 + i);
            replies.add(client.request(DataFrame.TYPE_FORWARD, UID, 0, i * 4096L, data.length,
                    DataClient.forwardPayload(ALLOC, data, replicas)));
        }
        for (CompletableFuture<DataClient.Reply> reply : replies) {
            DataClient.Reply r = await(reply);
            assertThat(r.status()).as(r.message()).isEqualTo(CsStatus.OK);
            r.release();
        }
        for (ChunkServer server : List.of(primary, second, third)) {
            DataClient reader = connect(server);
            for (int i = 0; i < 16; i++) {
                assertThat(read(reader, UID, 0, i * 4096L, 4096)).isEqualTo(random(4096, 50 + i));
            }
        }
        third.close();
        DataClient.Reply failed = await(client.request(DataFrame.TYPE_FORWARD, UID, 0, 0, 4096,
                DataClient.forwardPayload(ALLOC, random(4096, 99), replicas)));
        assertThat(failed.status()).isEqualTo(CsStatus.REPLICA_FAILED);
        assertThat(failed.message()).contains("replica " + replicas.get(1)).doesNotContain("replica " + replicas.get(0));
        failed.release();
    }

    /**
     * The split a snapshot's fence left between replicas (docs/snapshots.md, "Fencing"): the primary,
     * not yet told the snapshot's version, accepts a write at the old one and relays it; a replica
     * already told refused it, so the snapshot's chunk kept it on the primary and the third replica
     * and not on that one. A version raised without a change of chunklets (writersFrom older than
     * it) now takes the relayed write, so every copy holds it; a client's own write at the old
     * version is still refused, and so is a relayed one once the chunklets changed (a recovery's
     * fence).
     */
    @Test
    void aWriteThePrimaryAcceptedBeforeASnapshotsVersionReachesTheReplicaThatHeardOfItFirst() throws Exception {
        List<LocalMetaLink> metas = List.of(new LocalMetaLink("test"), new LocalMetaLink("test"),
                new LocalMetaLink("test"));
        List<ChunkServer> servers = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            servers.add(start("cs" + (i + 1), metas.get(i)));
            metas.get(i).pushVersion(UID, 5);
        }
        List<String> replicas = List.of("127.0.0.1:" + servers.get(1).address().getPort(),
                "127.0.0.1:" + servers.get(2).address().getPort());
        metas.get(1).pushVersion(UID, 6, 5); // the snapshot's version reached the second replica only
        DataClient client = connect(servers.get(0));
        byte[] data = random(4096, 60);
        DataClient.Reply relayed = await(client.request(DataFrame.TYPE_FORWARD, UID, 5, 0, data.length,
                DataClient.forwardPayload(ALLOC, data, replicas)));
        assertThat(relayed.status()).as(relayed.message()).isEqualTo(CsStatus.OK);
        relayed.release();
        for (ChunkServer server : servers) {
            assertThat(read(connect(server), UID, 6, 0, 4096)).as("every copy holds it").isEqualTo(data);
        }
        DataClient.Reply direct = write(connect(servers.get(1)), UID, 5, 4096, random(4096, 61));
        assertThat(direct.status()).as("a client's own write at the old version").isEqualTo(CsStatus.STALE_VERSION);
        direct.release();
        metas.get(1).pushVersion(UID, 7); // the chunklets changed at 7: the fence of a recovery
        DataClient.Reply refused = await(client.request(DataFrame.TYPE_FORWARD, UID, 5, 8192, 4096,
                DataClient.forwardPayload(ALLOC, random(4096, 62), replicas)));
        assertThat(refused.status()).isEqualTo(CsStatus.REPLICA_FAILED);
        assertThat(refused.message()).contains("stale chunk version 5 < 7");
        refused.release();
    }

    /**
     * INFO, which a snapshot create and a recovery poll until every server of a chunk reports the
     * new version, reports it at a primary only once the writes it accepted at the old version are
     * through its replicas: else such a write could still land on a replica after the create
     * returned, and the snapshot would read differently later.
     */
    @Test
    void infoReportsANewVersionOnlyOnceThePrimarysWritesOfTheOldOneAreThrough() throws Exception {
        LocalMetaLink meta = new LocalMetaLink("test");
        ChunkServer primary = start("cs1", meta);
        meta.pushVersion(UID, 5);
        try (java.net.ServerSocket silent = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            DataClient client = connect(primary);
            CompletableFuture<DataClient.Reply> pending = client.request(DataFrame.TYPE_FORWARD, UID, 5, 0, 4096,
                    DataClient.forwardPayload(ALLOC, random(4096, 63), List.of("127.0.0.1:" + silent.getLocalPort())));
            java.net.Socket accepted = silent.accept(); // the relayed write arrives and is never answered
            meta.pushVersion(UID, 6);
            assertThat(infoVersion(client)).as("a write of version 5 is still in flight").isEqualTo(5);
            accepted.close();
            DataClient.Reply failed = await(pending);
            assertThat(failed.status()).isEqualTo(CsStatus.REPLICA_FAILED);
            failed.release();
            assertThat(infoVersion(client)).isEqualTo(6);
        }
    }

    private static long infoVersion(DataClient client) throws Exception {
        DataClient.Reply info = await(client.request(DataFrame.TYPE_INFO, UID, 0, 0, 0, null));
        try {
            assertThat(info.status()).isEqualTo(CsStatus.OK);
            return io.basalt.protocol.data.InfoReply.read(info.payload()).knownVersion();
        } finally {
            info.release();
        }
    }
}
