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
    static final LocalMetaLink[] metas = new LocalMetaLink[K + M];

    @BeforeContainer
    static void start() throws Exception {
        root = Files.createTempDirectory("ec-props");
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        for (int i = 0; i < K + M; i++) {
            ChunkServer.Config config = ChunkServer.Config.defaults(root.resolve("cs" + i)).withChunkletSize(4L << 20)
                    .withWal(new io.basalt.chunkserver.wal.WalWriter.Config(8L << 20, 64, 4096, 64L << 20,
                            io.basalt.chunkserver.protocol.DataService.payloadMaxBytes(1 << 20)));
            metas[i] = new LocalMetaLink("test");
            servers[i] = ChunkServer.start(config.withRecovery(new io.basalt.chunkserver.recovery.RecoveryWorker.Config(
                    100, 2, 0)), metas[i], new PrometheusRegistry());
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

    /** As {@link #ops}, 1 to 3 blocks each and no failures: the small writes of a VM's disk. */
    @Provide
    Arbitrary<List<Op>> smallOps() {
        Arbitrary<Op> op = Combinators.combine(
                Arbitraries.integers().between(0, 2),
                Arbitraries.integers().between(0, REGION_BLOCKS - 1),
                Arbitraries.integers().between(1, 3),
                Arbitraries.longs())
                .as((kind, first, blocks, seed) -> new Op(kind, first, Math.min(blocks, REGION_BLOCKS - first), seed, -1));
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

    /**
     * The same with both parity columns lost for a stretch (docs/chunkserver.md, "Writes with every
     * parity column down"): writes through the master (phase 1), then, with no parity column, writes
     * split by column and sent to each data column directly (STRIP_WRITE) and reads of the data
     * columns (phase 2); then the parity columns come back with the strips they held before, the
     * first encoded from the data columns and the second caught up through it, and writes and reads
     * go through the master again (phase 3). Every read equals the model, and at the end every
     * stripe's parity re-encodes from its data and records exactly the data columns' versions.
     */
    @Property(tries = 8)
    void writesWithEveryParityColumnDownAreKeptWhenTheParityComesBack(@ForAll("ops") List<Op> before,
            @ForAll("smallOps") List<Op> without, @ForAll("ops") List<Op> after) throws Exception {
        long uid = nextUid.getAndIncrement();
        byte[] model = new byte[REGION_BLOCKS * S];
        EcLayout all = layout(new boolean[K + M]);
        for (Op op : before) {
            apply(uid, all, 0, op, model);
        }
        for (Op op : without) {
            int offset = op.firstBlock() * S;
            int length = op.blocks() * S;
            if (op.kind() == 2) {
                for (int block = op.firstBlock(); block < op.firstBlock() + op.blocks(); block++) {
                    assertThat(plainRead(uid, block)).as("%s block %d", op, block)
                            .isEqualTo(Arrays.copyOfRange(model, block * S, (block + 1) * S));
                }
                continue;
            }
            byte[] data = new byte[length];
            if (op.kind() == 0) {
                new Random(op.seed()).nextBytes(data);
            }
            for (int c = 0; c < K; c++) {
                directWrite(uid, c, offset, data);
            }
            System.arraycopy(data, 0, model, offset, length);
        }
        // Meta marks the parity columns RECOVERING at a new version; the first is encoded from the data.
        long version = 1;
        for (ChunkServer server : servers) {
            server.versions().chunkVersion(uid, version);
        }
        int done = metas[K].recoveriesDone().size();
        metas[K].addRecoveryTask(task(uid, version, K, true));
        awaitRecovery(metas[K], done);
        done = metas[K + 1].recoveriesDone().size();
        metas[K + 1].addRecoveryTask(task(uid, version, K + 1, false));
        awaitRecovery(metas[K + 1], done);
        for (Op op : after) {
            apply(uid, all, version, op, model);
        }
        assertThat(read(uid, all, version, 0, model.length)).isEqualTo(model);
        for (int stripe = 0; stripe < REGION_BLOCKS / K; stripe++) {
            assertStripeConsistent(uid, version, stripe);
        }
    }

    /** A write, zero write or read of {@code op} through the master of {@code layout}, checked against the model. */
    static void apply(long uid, EcLayout layout, long version, Op op, byte[] model) throws Exception {
        int offset = op.firstBlock() * S;
        int length = op.blocks() * S;
        if (op.kind() == 2) {
            assertThat(read(uid, layout, version, offset, length)).as("%s", op)
                    .isEqualTo(Arrays.copyOfRange(model, offset, offset + length));
            return;
        }
        byte[] data = new byte[length];
        if (op.kind() == 0) {
            new Random(op.seed()).nextBytes(data);
        }
        write(uid, layout, version, offset, data);
        System.arraycopy(data, 0, model, offset, length);
    }

    /** A catch-up task of parity column {@code column}, the other parity column RECOVERING ({@code otherRecovering}) or UPTODATE. */
    static io.basalt.chunkserver.MetaLink.RecoveryTask task(long uid, long version, int column, boolean otherRecovering) {
        List<io.basalt.chunkserver.MetaLink.Member> members = new ArrayList<>();
        for (int i = 0; i < K + M; i++) {
            boolean parity = i >= K;
            boolean recovering = i == column || (parity && otherRecovering);
            members.add(new io.basalt.chunkserver.MetaLink.Member(i, 100 + i, "127.0.0.1:" + servers[i].address().getPort(),
                    !recovering, recovering && i != column));
        }
        return new io.basalt.chunkserver.MetaLink.RecoveryTask(uid, version, version, true, true, K, M, 4L << 20, column,
                members);
    }

    static void awaitRecovery(LocalMetaLink meta, int doneBefore) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (meta.recoveriesDone().size() == doneBefore) {
            assertThat(System.nanoTime() - deadline).as("recovery did not finish within 60 s").isNegative();
            Thread.sleep(20);
        }
    }

    /** Column {@code column}'s strips of the range [offset, offset + data.length) as one STRIP_WRITE. */
    static void directWrite(long uid, int column, int offset, byte[] data) throws Exception {
        int firstBlock = offset / S;
        int blocks = data.length / S;
        List<Integer> stripes = new ArrayList<>();
        for (int block = firstBlock; block < firstBlock + blocks; block++) {
            if (block % K == column) {
                stripes.add(block / K);
            }
        }
        if (stripes.isEmpty()) {
            return;
        }
        ByteBuf payload = Unpooled.buffer();
        for (int stripe : stripes) {
            payload.writeBytes(data, (stripe * K + column) * S - offset, S);
        }
        for (int stripe : stripes) {
            payload.writeInt(BlockCrc.of(ByteBuffer.wrap(data, (stripe * K + column) * S - offset, S)));
        }
        List<String> addresses = new ArrayList<>();
        for (int c = 0; c < K; c++) {
            addresses.add("127.0.0.1:" + servers[c].address().getPort());
        }
        io.basalt.protocol.data.StripWriteSection.write(payload, column, K, M, addresses);
        DataClient.Reply reply = clients[column].request(DataFrame.TYPE_STRIP_WRITE, uid, 0, (long) stripes.get(0) * S,
                stripes.size() * S, payload).get(30, TimeUnit.SECONDS);
        try {
            assertThat(reply.status()).as(reply.message()).isEqualTo(CsStatus.OK);
        } finally {
            reply.release();
        }
    }

    /** Block {@code block} (chunk-logical) read from its data column (READ). */
    static byte[] plainRead(long uid, int block) throws Exception {
        DataClient.Reply reply = pendingAskedAgain(() -> clients[block % K].request(DataFrame.TYPE_READ, uid, 0,
                (long) (block / K) * S, S, null));
        try {
            assertThat(reply.status()).as(reply.message()).isEqualTo(CsStatus.OK);
            return ByteBufUtil.getBytes(reply.payload(), reply.payload().readerIndex(), S);
        } finally {
            reply.release();
        }
    }

    /**
     * A request's reply, asked again (up to 10 s) while it is PENDING: the RESOLVE of a write through
     * the master reaches its columns after the write was answered.
     */
    static DataClient.Reply pendingAskedAgain(java.util.concurrent.Callable<java.util.concurrent.CompletableFuture<
            DataClient.Reply>> request) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (true) {
            DataClient.Reply reply = request.call().get(30, TimeUnit.SECONDS);
            if (reply.status() != CsStatus.PENDING || System.nanoTime() > deadline) {
                return reply;
            }
            reply.release();
            Thread.sleep(10);
        }
    }

    /** Stripe {@code stripe}: each parity strip re-encodes from the data strips and records their versions. */
    static void assertStripeConsistent(long uid, long version, int stripe) throws Exception {
        byte[][] strips = new byte[K + M][];
        long[][] versions = new long[K + M][];
        for (int col = 0; col < K + M; col++) {
            ByteBuf section = Unpooled.buffer();
            io.basalt.protocol.data.EcSection.none().writeTo(section);
            int column = col;
            DataClient.Reply reply = pendingAskedAgain(() -> clients[column].request(DataFrame.TYPE_STRIP_READ, uid,
                    version, (long) stripe * S, S, section.retainedDuplicate()));
            section.release();
            try {
                assertThat(reply.status()).as("stripe %d column %d: %s", stripe, col, reply.message())
                        .isEqualTo(CsStatus.OK);
                ByteBuf p = reply.payload();
                strips[col] = ByteBufUtil.getBytes(p, p.readerIndex(), S);
                io.basalt.protocol.data.EcSection got = io.basalt.protocol.data.EcSection.read(p, p.readerIndex() + S + 4,
                        p.readableBytes() - S - 4, 1);
                versions[col] = got.versions();
            } finally {
                reply.release();
            }
        }
        EcFixture.assertStripeAgrees(io.basalt.ec.ErasureCodecs.create(K, M), stripe, strips, versions);
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
        write(uid, layout, 0, offset, data);
    }

    static void write(long uid, EcLayout layout, long version, long offset, byte[] data) throws Exception {
        ByteBuf payload = Unpooled.buffer();
        payload.writeBytes(data);
        for (int i = 0; i < data.length / S; i++) {
            payload.writeInt(BlockCrc.of(ByteBuffer.wrap(data, i * S, S)));
        }
        layout.writeTo(payload);
        DataClient.Reply reply = clients[layout.masterIndex()].request(DataFrame.TYPE_EC_WRITE, uid, version, offset,
                data.length, payload).get(30, TimeUnit.SECONDS);
        try {
            assertThat(reply.status()).as(reply.message()).isEqualTo(CsStatus.OK);
        } finally {
            reply.release();
        }
    }

    static byte[] read(long uid, EcLayout layout, long offset, int length) throws Exception {
        return read(uid, layout, 0, offset, length);
    }

    static byte[] read(long uid, EcLayout layout, long version, long offset, int length) throws Exception {
        ByteBuf payload = Unpooled.buffer();
        layout.writeTo(payload);
        DataClient.Reply reply = clients[layout.masterIndex()].request(DataFrame.TYPE_EC_READ, uid, version, offset, length,
                payload).get(30, TimeUnit.SECONDS);
        try {
            assertThat(reply.status()).as(reply.message()).isEqualTo(CsStatus.OK);
            return ByteBufUtil.getBytes(reply.payload(), reply.payload().readerIndex(), length);
        } finally {
            reply.release();
        }
    }
}
