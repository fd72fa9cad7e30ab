package io.basalt.chunkserver.ec;

import static org.assertj.core.api.Assertions.assertThat;
import io.basalt.chunkserver.ChunkServer;
import io.basalt.chunkserver.LocalMetaLink;
import io.basalt.chunkserver.store.ChunkletStore;
import io.basalt.ec.ErasureCodec;
import io.basalt.ec.ErasureCodecs;
import io.basalt.protocol.data.BlockCrc;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import io.basalt.protocol.data.EcLayout;
import io.basalt.protocol.data.EcSection;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Six in-process chunk servers holding the columns of one ec4+2 chunk, and the client side of the
 * stripe-master protocol: EC writes and reads, plain strip reads, a parity check of every stripe.
 * Shared by the stripe master's tests and the erasure-coded recovery tests.
 */
abstract class EcFixture {
    static final int K = 4;
    static final int M = 2;
    static final int S = 4096;
    static final long UID = 0xec42L;
    static final int REGION_BYTES = 2 << 20; // of the chunk, in which the random ops land

    Path root;
    EventLoopGroup group;
    final ChunkServer[] servers = new ChunkServer[K + M];
    final DataClient[] clients = new DataClient[K + M];
    final PrometheusRegistry[] registries = new PrometheusRegistry[K + M];
    final List<AutoCloseable> toClose = new ArrayList<>();
    final ErasureCodec codec = ErasureCodecs.create(K, M);

    @BeforeEach
    void setUp() throws IOException {
        root = Files.createTempDirectory("ec-master");
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        for (int i = 0; i < K + M; i++) {
            start(i, 0);
        }
    }

    /** How often the next server started runs a scrub pass. */
    java.time.Duration scrubInterval = java.time.Duration.ofDays(1);

    /** Hot store capacity of the next server started (0: the default, 5% of the disk). */
    long hotCapacityBytes;

    /** The chunk version the fixture's requests carry (0: not fenced). */
    long chunkVersion;

    /** Every server knows the chunk at {@code version}, and the fixture's requests carry it. */
    void fenceEverywhere(long version) throws IOException {
        for (int i = 0; i < K + M; i++) {
            servers[i].versions().chunkVersion(UID, version);
        }
        chunkVersion = version;
    }

    void start(int column, int port) throws IOException {
        start(column, port, new LocalMetaLink("test"), "cs" + column);
    }

    /** Starts a chunk server for {@code column} on directory {@code name}, talking to {@code meta}. */
    void start(int column, int port, LocalMetaLink meta, String name) throws IOException {
        ChunkServer.Config config = ChunkServer.Config.defaults(root.resolve(name)).withChunkletSize(16L << 20)
                .withWal(new io.basalt.chunkserver.wal.WalWriter.Config(8L << 20, 64, 4096, 64L << 20,
                        io.basalt.chunkserver.protocol.DataService.payloadMaxBytes(1 << 20)))
                .withPort(port).withRecovery(new io.basalt.chunkserver.recovery.RecoveryWorker.Config(100, 2, 0))
                .withScrub(new io.basalt.chunkserver.recovery.Scrubber.Config(scrubInterval, 0))
                .withHot(null, hotCapacityBytes);
        registries[column] = new PrometheusRegistry();
        servers[column] = ChunkServer.start(config, meta, registries[column]);
        clients[column] = DataClient.connect(group, address(column), 20_000, 2 << 20);
    }

    void stop(int column) throws Exception {
        clients[column].close();
        servers[column].close();
    }

    String address(int column) {
        return "127.0.0.1:" + servers[column].address().getPort();
    }

    @AfterEach
    void tearDown() throws Exception {
        for (int i = 0; i < K + M; i++) {
            clients[i].close();
            servers[i].closeQuietly();
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).await();
        try (Stream<Path> files = Files.walk(root)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    EcLayout layout(boolean... usable) {
        List<String> addresses = new ArrayList<>();
        List<Boolean> use = new ArrayList<>();
        for (int i = 0; i < K + M; i++) {
            addresses.add(address(i));
            use.add(usable.length == 0 || usable[i]);
        }
        int master = K;
        while (!use.get(master)) {
            master++;
        }
        return new EcLayout(K, M, master, addresses, use);
    }

    DataClient.Reply ecWrite(EcLayout layout, long offset, byte[] data) throws Exception {
        ByteBuf payload = Unpooled.buffer();
        payload.writeBytes(data);
        for (int i = 0; i < data.length / S; i++) {
            payload.writeInt(BlockCrc.of(ByteBuffer.wrap(data, i * S, S)));
        }
        layout.writeTo(payload);
        return clients[layout.masterIndex()].request(DataFrame.TYPE_EC_WRITE, UID, chunkVersion, offset, data.length, payload)
                .get(30, TimeUnit.SECONDS);
    }

    void ecWriteOk(EcLayout layout, long offset, byte[] data) throws Exception {
        DataClient.Reply reply = ecWrite(layout, offset, data);
        try {
            assertThat(reply.status()).as(reply.message()).isEqualTo(CsStatus.OK);
        } finally {
            reply.release();
        }
    }

    /** HOT_WRITE (part of one stripe) to the layout's master (docs/hot-tier.md). */
    DataClient.Reply hotWrite(EcLayout layout, long offset, byte[] data) throws Exception {
        ByteBuf payload = Unpooled.buffer();
        payload.writeBytes(data);
        for (int i = 0; i < data.length / S; i++) {
            payload.writeInt(BlockCrc.of(ByteBuffer.wrap(data, i * S, S)));
        }
        layout.writeTo(payload);
        return clients[layout.masterIndex()].request(DataFrame.TYPE_HOT_WRITE, UID, chunkVersion, offset, data.length,
                payload).get(30, TimeUnit.SECONDS);
    }

    void hotWriteOk(EcLayout layout, long offset, byte[] data) throws Exception {
        DataClient.Reply reply = hotWrite(layout, offset, data);
        try {
            assertThat(reply.status()).as(reply.message()).isEqualTo(CsStatus.OK);
        } finally {
            reply.release();
        }
    }

    byte[] ecRead(EcLayout layout, long offset, int length) throws Exception {
        ByteBuf payload = Unpooled.buffer();
        layout.writeTo(payload);
        DataClient.Reply reply = clients[layout.masterIndex()].request(DataFrame.TYPE_EC_READ, UID, chunkVersion, offset, length,
                payload).get(30, TimeUnit.SECONDS);
        try {
            assertThat(reply.status()).as(reply.message()).isEqualTo(CsStatus.OK);
            ByteBuf out = reply.payload();
            for (int i = 0; i < length / S; i++) {
                assertThat(out.getInt(out.readerIndex() + length + 4 * i))
                        .isEqualTo(BlockCrc.of(out, out.readerIndex() + i * S, S));
            }
            return ByteBufUtil.getBytes(out, out.readerIndex(), length);
        } finally {
            reply.release();
        }
    }

    /** Plain READ of one strip from its data column: what a client does first. */
    DataClient.Reply directRead(long logicalOffset) throws Exception {
        long stripe = logicalOffset / (K * S);
        int column = (int) (logicalOffset / S % K);
        return clients[column].request(DataFrame.TYPE_READ, UID, chunkVersion, stripe * S, S, null).get(30, TimeUnit.SECONDS);
    }

    /** A plain READ of the block's data column; PENDING (its RESOLVE is on the way) is asked again. */
    byte[] direct(long logicalOffset) throws Exception {
        DataClient.Reply reply = directRead(logicalOffset);
        for (int i = 0; i < 200 && reply.status() == CsStatus.PENDING; i++) {
            reply.release();
            Thread.sleep(10);
            reply = directRead(logicalOffset);
        }
        try {
            assertThat(reply.status()).as(reply.message()).isEqualTo(CsStatus.OK);
            ByteBuf out = reply.payload();
            assertThat(out.getInt(out.readerIndex() + S)).isEqualTo(BlockCrc.of(out, out.readerIndex(), S));
            return ByteBufUtil.getBytes(out, out.readerIndex(), S);
        } finally {
            reply.release();
        }
    }

    /** A STRIP_READ in a PEEK {@code mode} of stripes at {@code column} ({@code width}: PEEK_HELD's txid). */
    DataClient.Reply peekReply(int column, int firstStripe, int stripes, int mode, int width) throws Exception {
        io.basalt.protocol.data.EcSection ask = new io.basalt.protocol.data.EcSection(0, mode, width, "", new long[0],
                new long[stripes]);
        ByteBuf payload = Unpooled.buffer(ask.encodedBytes());
        ask.writeTo(payload);
        if (mode == io.basalt.protocol.data.EcSection.MODE_PEEK_HELD && width > 1) {
            // As a client asks a stripe master: with the layout that names it (it may have copies to settle).
            List<String> addresses = new ArrayList<>();
            for (int i = 0; i < K + M; i++) {
                addresses.add(address(i));
            }
            new EcLayout(K, M, column, addresses, java.util.Collections.nCopies(K + M, true)).writeTo(payload);
        }
        return clients[column].request(DataFrame.TYPE_STRIP_READ, UID, chunkVersion, (long) firstStripe * S,
                (long) stripes * S, payload).get(30, TimeUnit.SECONDS);
    }

    /** As {@link #peekReply}, answered OK in the mode asked. */
    io.basalt.protocol.data.EcSection peek(int column, int firstStripe, int stripes, int mode, int width)
            throws Exception {
        DataClient.Reply reply = peekReply(column, firstStripe, stripes, mode, width);
        try {
            assertThat(reply.status()).as(reply.message()).isEqualTo(CsStatus.OK);
            ByteBuf out = reply.payload();
            io.basalt.protocol.data.EcSection view = io.basalt.protocol.data.EcSection.read(out, out.readerIndex(),
                    out.readableBytes(), stripes);
            assertThat(view.mode()).isEqualTo(mode);
            return view;
        } finally {
            reply.release();
        }
    }

    /** Every stripe in [0, stripes): parity re-encoded from the data columns equals what is stored. */
    void verifyParity(int stripes) throws Exception {
        for (int s = 0; s < stripes; s++) {
            byte[][] strips = new byte[K + M][];
            long[][] versions = new long[K + M][];
            for (int col = 0; col < K + M; col++) {
                Strip strip = readStrip(col, s);
                strips[col] = strip.data();
                versions[col] = strip.versions();
            }
            assertStripeAgrees(codec, s, strips, versions);
        }
    }

    /**
     * One stripe's strips (k data, then m parity) and their versions, as STRIP_READ gives them: each
     * parity strip re-encodes from the data strips and records exactly the data strips' versions.
     */
    static void assertStripeAgrees(ErasureCodec codec, int stripe, byte[][] strips, long[][] versions) {
        MemorySegment[] data = new MemorySegment[K];
        for (int c = 0; c < K; c++) {
            data[c] = MemorySegment.ofBuffer(ByteBuffer.allocateDirect(S).put(strips[c]).flip());
        }
        MemorySegment[] parity = new MemorySegment[M];
        for (int p = 0; p < M; p++) {
            parity[p] = MemorySegment.ofBuffer(ByteBuffer.allocateDirect(S));
        }
        codec.encode(data, parity, 0, S);
        for (int p = 0; p < M; p++) {
            assertThat(parity[p].toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)).as("stripe %d parity %d", stripe, p)
                    .isEqualTo(strips[K + p]);
            long[] vector = versions[K + p];
            for (int c = 0; c < K; c++) {
                long dataVersion = versions[c].length == 0 ? 0 : versions[c][0];
                long recorded = vector.length == 0 ? 0 : vector[c];
                assertThat(recorded).as("stripe %d parity %d version of column %d", stripe, p, c)
                        .isEqualTo(dataVersion);
            }
        }
    }

    static byte[] random(Random random, int bytes) {
        byte[] data = new byte[bytes];
        random.nextBytes(data);
        return data;
    }

    record Strip(byte[] data, long[] versions) {}

    /**
     * Strip {@code stripe} of column {@code col} with its versions (plain STRIP_READ), once the column
     * holds no pending strip there: RESOLVEs, and the master's commit of its own strips, follow the
     * answer to a write.
     */
    Strip readStrip(int col, int stripe) throws Exception {
        DataClient.Reply reply;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            ByteBuf section = Unpooled.buffer();
            EcSection.none().writeTo(section);
            reply = clients[col].request(DataFrame.TYPE_STRIP_READ, UID, chunkVersion, (long) stripe * S, S, section)
                    .get(30, TimeUnit.SECONDS);
            if (reply.status() != CsStatus.PENDING || System.nanoTime() > deadline) {
                break;
            }
            reply.release();
            Thread.sleep(10);
        }
        try {
            assertThat(reply.status()).as(reply.message()).isEqualTo(CsStatus.OK);
            ByteBuf p = reply.payload();
            return new Strip(ByteBufUtil.getBytes(p, p.readerIndex(), S),
                    EcSection.read(p, p.readerIndex() + S + 4, p.readableBytes() - S - 4, 1).versions());
        } finally {
            reply.release();
        }
    }

}
