package io.basalt.cli.cs;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.protocol.data.BlockCrc;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** Chunk server fault tests with real processes: kill -9, malformed frames, corrupt blocks. */
class ChunkServerFaultIT extends ChunkServerItBase {
    static final long UID = 0xfeed_0001L;

    CsProcess start(Path data) throws Exception {
        CsProcess cs = CsProcess.start(data, meta.peers());
        toClose.add(cs);
        return cs;
    }

    DataClient connect(CsProcess cs) throws IOException {
        return connect(cs, ItTls.adminTls());
    }

    /** {@code tls} null: plain TCP, to a chunk server run with --insecure. */
    DataClient connect(CsProcess cs, io.basalt.protocol.data.DataTls tls) throws IOException {
        DataClient client = DataClient.connect(group, io.netty.channel.socket.nio.NioSocketChannel.class,
                cs.address(), 20_000, 2 << 20, tls);
        toClose.add(client);
        return client;
    }

    /** A TLS socket to {@code cs} as the tests' admin, for writing raw frames through TLS. */
    static Socket tlsSocket(CsProcess cs) throws Exception {
        io.basalt.common.tls.TlsIdentity admin = io.basalt.common.tls.TlsIdentity.load(
                ItTls.dir(io.basalt.common.tls.Role.ADMIN));
        javax.net.ssl.SSLContext context = javax.net.ssl.SSLContext.getInstance("TLSv1.3");
        context.init(admin.keyManagers().getKeyManagers(), admin.trustManagers().getTrustManagers(), null);
        javax.net.ssl.SSLSocket socket = (javax.net.ssl.SSLSocket) context.getSocketFactory()
                .createSocket("127.0.0.1", cs.port);
        socket.startHandshake();
        return socket;
    }

        static byte[] block(long seed) {
        byte[] data = new byte[4096];
        new Random(seed).nextBytes(data);
        return data;
    }

    static byte[] read(DataClient client, long uid, long offset) throws Exception {
        DataClient.Reply reply = client.request(DataFrame.TYPE_READ, uid, 0, offset, 4096, null).get(20, TimeUnit.SECONDS);
        try {
            assertThat(reply.status()).as(reply.message()).isEqualTo(CsStatus.OK);
            ByteBuf payload = reply.payload();
            assertThat(payload.getInt(4096)).isEqualTo(BlockCrc.of(payload, 0, 4096));
            return ByteBufUtil.getBytes(payload, 0, 4096);
        } finally {
            reply.release();
        }
    }

    @Test
    void everyAcknowledgedWriteSurvivesKillDashNine() throws Exception {
        Path data = dir.resolve("cs");
        CsProcess cs = start(data);
        DataClient client = connect(cs);
        // Each write goes to its own block (seed = index), 32 in flight; the CS is killed mid-stream.
        ConcurrentHashMap<Integer, Boolean> acknowledged = new ConcurrentHashMap<>();
        Semaphore window = new Semaphore(32);
        List<CompletableFuture<?>> all = new ArrayList<>();
        // Killed once a few hundred writes are acknowledged (at least 2.5 s in), not at a fixed time:
        // a loaded machine may acknowledge almost nothing in the first seconds of a cold JVM.
        long startNanos = System.nanoTime();
        long killNoLaterNanos = startNanos + TimeUnit.SECONDS.toNanos(30);
        int sent = 0;
        for (int i = 0; i < 200_000 && System.nanoTime() < killNoLaterNanos
                && (acknowledged.size() < 300 || System.nanoTime() - startNanos < TimeUnit.MILLISECONDS.toNanos(2500));
                i++) {
            window.acquire();
            int index = i;
            CompletableFuture<DataClient.Reply> reply = client.request(DataFrame.TYPE_WRITE, UID + (i % 4), 0,
                    (long) (i / 4) * 4096, 4096, DataClient.writePayload(PooledByteBufAllocator.DEFAULT, block(i)));
            all.add(reply.whenComplete((r, error) -> {
                window.release();
                if (r != null) {
                    if (r.status() == CsStatus.OK) {
                        acknowledged.put(index, true);
                    }
                    r.release();
                }
            }));
            sent++;
        }
        cs.kill9();
        for (CompletableFuture<?> f : all) {
            try {
                f.get(30, TimeUnit.SECONDS);
            } catch (Exception expected) {
                // in flight when the process died
            }
        }
        assertThat(acknowledged.size()).as("writes acknowledged before the kill").isGreaterThan(20);
        CsProcess again = start(data);
        DataClient reader = connect(again);
        int unacknowledgedPresent = 0;
        for (int i = 0; i < sent; i++) {
            byte[] got = read(reader, UID + (i % 4), (long) (i / 4) * 4096);
            if (acknowledged.containsKey(i)) {
                assertThat(got).as("acknowledged write %d", i).isEqualTo(block(i));
            } else if (!java.util.Arrays.equals(got, new byte[4096])) {
                assertThat(got).as("unacknowledged write %d: all or nothing", i).isEqualTo(block(i));
                unacknowledgedPresent++;
            }
        }
        System.out.printf("kill -9: %d sent, %d acknowledged (all read back), %d unacknowledged also present%n",
                sent, acknowledged.size(), unacknowledgedPresent);
    }

    @Test
    void malformedFramesCloseOnlyTheirConnection() throws Exception {
        // Raw frames reach the frame decoder inside TLS (an admin's certificate), as any client's
        // do; a plain-text peer is refused before its first frame (DataTlsTest).
        CsProcess cs = start(dir.resolve("cs"));
        DataClient good = connect(cs);
        DataClient.Reply first = good.request(DataFrame.TYPE_WRITE, UID, 0, 0, 4096,
                DataClient.writePayload(PooledByteBufAllocator.DEFAULT, block(1))).get(20, TimeUnit.SECONDS);
        assertThat(first.status()).isEqualTo(CsStatus.OK);
        first.release();
        // Bad magic.
        try (Socket socket = tlsSocket(cs)) {
            socket.setSoTimeout(10_000);
            byte[] junk = new byte[DataFrame.HEADER_BYTES];
            new Random(7).nextBytes(junk);
            socket.getOutputStream().write(junk);
            assertThat(socket.getInputStream().read()).isEqualTo(-1);
        }
        // Bad header CRC.
        try (Socket socket = tlsSocket(cs)) {
            socket.setSoTimeout(10_000);
            ByteBuf f = Unpooled.buffer();
            DataFrame.writeHeader(f, DataFrame.TYPE_READ, 0, 1, UID, 0, 0, 4096, 0, 0);
            f.setByte(20, f.getByte(20) ^ 1);
            socket.getOutputStream().write(ByteBufUtil.getBytes(f));
            f.release();
            assertThat(socket.getInputStream().read()).isEqualTo(-1);
        }
        // Over-long frame: answered, then closed.
        try (Socket socket = tlsSocket(cs)) {
            socket.setSoTimeout(10_000);
            ByteBuf f = Unpooled.buffer();
            DataFrame.writeHeader(f, DataFrame.TYPE_WRITE, 0, 31, UID, 0, 0, 4096, 1L << 30, 0);
            socket.getOutputStream().write(ByteBufUtil.getBytes(f));
            f.release();
            ByteBuf reply = Unpooled.wrappedBuffer(socket.getInputStream().readAllBytes());
            assertThat(DataFrame.requestId(reply)).isEqualTo(31);
            assertThat(DataFrame.status(reply)).isEqualTo(CsStatus.PROTOCOL.code);
        }
        // Dropped mid-frame.
        try (Socket socket = tlsSocket(cs)) {
            ByteBuf f = Unpooled.buffer();
            DataFrame.writeHeader(f, DataFrame.TYPE_WRITE, 0, 1, UID, 0, 0, 4096, 4100, 0);
            f.writeZero(2000);
            socket.getOutputStream().write(ByteBufUtil.getBytes(f));
            f.release();
        }
        // A bad data CRC is answered and the connection goes on.
        ByteBuf payload = DataClient.writePayload(PooledByteBufAllocator.DEFAULT, block(2));
        payload.setByte(10, payload.getByte(10) ^ 1);
        DataClient.Reply badCrc = good.request(DataFrame.TYPE_WRITE, UID, 0, 4096, 4096, payload).get(20, TimeUnit.SECONDS);
        assertThat(badCrc.status()).isEqualTo(CsStatus.BAD_CRC);
        badCrc.release();
        assertThat(cs.alive()).isTrue();
        assertThat(read(good, UID, 0)).isEqualTo(block(1));
        assertThat(read(connect(cs), UID, 0)).isEqualTo(block(1));
    }

    @Test
    void aFlippedByteInAChunkletIsReportedNeverReturned() throws Exception {
        Path data = dir.resolve("cs");
        CsProcess cs = start(data);
        DataClient client = connect(cs);
        for (int i = 0; i < 4; i++) {
            DataClient.Reply r = client.request(DataFrame.TYPE_WRITE, UID, 0, i * 4096L, 4096,
                    DataClient.writePayload(PooledByteBufAllocator.DEFAULT, block(10 + i))).get(20, TimeUnit.SECONDS);
            assertThat(r.status()).isEqualTo(CsStatus.OK);
            r.release();
        }
        Path chunklet = data.resolve("chunklets").resolve(String.format("%016x.data", UID));
        try (FileChannel channel = FileChannel.open(chunklet, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer one = ByteBuffer.allocate(1);
            channel.read(one, 3 * 4096 + 7);
            one.put(0, (byte) (one.get(0) ^ 0x80)).rewind();
            channel.write(one, 3 * 4096 + 7);
        }
        DataClient.Reply reply = client.request(DataFrame.TYPE_READ, UID, 0, 0, 4 * 4096, null).get(20, TimeUnit.SECONDS);
        assertThat(reply.status()).isEqualTo(CsStatus.CORRUPT_BLOCK);
        assertThat(reply.message()).contains("corrupt block: chunklet " + String.format("%016x", UID))
                .contains("offset 12288");
        reply.release();
        assertThat(read(client, UID, 0)).isEqualTo(block(10));
    }
}
