package io.basalt.chunkserver.ec;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.chunkserver.ChunkServer;
import io.basalt.chunkserver.LocalMetaLink;
import io.basalt.protocol.data.BlockCrc;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import io.basalt.protocol.data.EcLayout;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterContainer;
import net.jqwik.api.lifecycle.BeforeContainer;

/**
 * Model-based property of the stripe logic (ec4+2, so that one-strip writes take the parity delta, six in-process chunk servers, one fresh chunk per
 * try): random sequences of partial and full-stripe writes, zero writes (what a trim of an EC volume
 * is) and reads at random offsets, while up to m columns fail for good on the way (left out of the
 * layout from then on, as meta marks a reported column OUTDATED; at least one parity column stays to
 * be master) — every read through the master equals an in-memory model byte for byte, and so does
 * the final read of the whole region.
 */
class StripeMasterProperties {
    static final int K = 4;
    static final int M = 2;
    static final int S = 4096;
    static final int REGION_BLOCKS = 96; // 24 stripes

    static Path root;
    static EventLoopGroup group;
    static final ChunkServer[] servers = new ChunkServer[K + M];
    static final DataClient[] clients = new DataClient[K + M];
    static final AtomicLong nextUid = new AtomicLong(0x5eed00);

    @BeforeContainer
    static void start() throws Exception {
        root = Files.createTempDirectory("ec-props");
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        for (int i = 0; i < K + M; i++) {
            ChunkServer.Config config = ChunkServer.Config.defaults(root.resolve("cs" + i)).withChunkletSize(4L << 20)
                    .withWal(new io.basalt.chunkserver.wal.WalWriter.Config(8L << 20, 64, 4096, 64L << 20,
                            io.basalt.chunkserver.protocol.DataService.payloadMaxBytes(1 << 20)));
            servers[i] = ChunkServer.start(config, new LocalMetaLink("test"), new PrometheusRegistry());
            clients[i] = DataClient.connect(group, "127.0.0.1:" + servers[i].address().getPort(), 20_000, 2 << 20);
        }
    }

    @AfterContainer
    static void stop() throws Exception {
        for (int i = 0; i < K + M; i++) {
            if (clients[i] != null) {
                clients[i].close();
            }
            if (servers[i] != null) {
                servers[i].closeQuietly();
            }
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).await();
        try (Stream<Path> files = Files.walk(root)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    /** One step: kind 0 write, 1 zero write, 2 read; column {@code fails} fails before it (-1: none). */
    record Op(int kind, int firstBlock, int blocks, long seed, int fails) {}

    @Provide
    Arbitrary<List<Op>> ops() {
        Arbitrary<Op> op = Combinators.combine(
                Arbitraries.integers().between(0, 2),
                Arbitraries.integers().between(0, REGION_BLOCKS - 1),
                Arbitraries.integers().between(1, 24),
                Arbitraries.longs(),
                Arbitraries.integers().between(-20, K + M - 1))
                .as((kind, first, blocks, seed, fails) -> new Op(kind, first,
                        Math.min(blocks, REGION_BLOCKS - first), seed, Math.max(-1, fails)));
        return op.list().ofMinSize(5).ofMaxSize(30);
    }

    @Property(tries = 20)
    void readsThroughTheMasterMatchTheModel(@ForAll("ops") List<Op> ops) throws Exception {
        long uid = nextUid.getAndIncrement();
        byte[] model = new byte[REGION_BLOCKS * S];
        boolean[] failed = new boolean[K + M];
        int failures = 0;
        for (Op op : ops) {
            if (op.fails() >= 0 && !failed[op.fails()] && failures < M
                    && !(op.fails() >= K && (failed[K] || failed[K + 1]))) {
                failed[op.fails()] = true;
                failures++;
            }
            EcLayout layout = layout(failed);
            int offset = op.firstBlock() * S;
            int length = op.blocks() * S;
            if (op.kind() == 2) {
                assertThat(read(uid, layout, offset, length)).as("%s", op)
                        .isEqualTo(Arrays.copyOfRange(model, offset, offset + length));
                continue;
            }
            byte[] data = new byte[length];
            if (op.kind() == 0) {
                new Random(op.seed()).nextBytes(data);
            }
            write(uid, layout, offset, data);
            System.arraycopy(data, 0, model, offset, length);
        }
        assertThat(read(uid, layout(failed), 0, model.length)).isEqualTo(model);
    }

    /** Every column but the failed ones; the master is the first parity column not failed. */
    static EcLayout layout(boolean[] failed) {
        List<String> addresses = new ArrayList<>();
        List<Boolean> usable = new ArrayList<>();
        for (int i = 0; i < K + M; i++) {
            addresses.add("127.0.0.1:" + servers[i].address().getPort());
            usable.add(!failed[i]);
        }
        return new EcLayout(K, M, failed[K] ? K + 1 : K, addresses, usable);
    }

    static void write(long uid, EcLayout layout, long offset, byte[] data) throws Exception {
        ByteBuf payload = Unpooled.buffer();
        payload.writeBytes(data);
        for (int i = 0; i < data.length / S; i++) {
            payload.writeInt(BlockCrc.of(ByteBuffer.wrap(data, i * S, S)));
        }
        layout.writeTo(payload);
        DataClient.Reply reply = clients[layout.masterIndex()].request(DataFrame.TYPE_EC_WRITE, uid, 0, offset,
                data.length, payload).get(30, TimeUnit.SECONDS);
        try {
            assertThat(reply.status()).as(reply.message()).isEqualTo(CsStatus.OK);
        } finally {
            reply.release();
        }
    }

    static byte[] read(long uid, EcLayout layout, long offset, int length) throws Exception {
        ByteBuf payload = Unpooled.buffer();
        layout.writeTo(payload);
        DataClient.Reply reply = clients[layout.masterIndex()].request(DataFrame.TYPE_EC_READ, uid, 0, offset, length,
                payload).get(30, TimeUnit.SECONDS);
        try {
            assertThat(reply.status()).as(reply.message()).isEqualTo(CsStatus.OK);
            return ByteBufUtil.getBytes(reply.payload(), reply.payload().readerIndex(), length);
        } finally {
            reply.release();
        }
    }
}
