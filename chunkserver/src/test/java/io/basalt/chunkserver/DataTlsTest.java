package io.basalt.chunkserver;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.basalt.common.tls.CertificateAuthority;
import io.basalt.common.tls.Role;
import io.basalt.common.tls.TlsIdentity;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import io.basalt.protocol.data.DataTls;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.io.InputStream;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Mutual TLS on the data protocol with real chunk servers in-process: who is refused (no
 * certificate, another CA, a role that may not connect, a server that is no chunk server) and
 * that the server goes on serving everyone else, replication included.
 */
class DataTlsTest {
    static final ByteBufAllocator ALLOC = PooledByteBufAllocator.DEFAULT;
    static final long UID = 0x7150L;

    Path root;
    EventLoopGroup group;
    CertificateAuthority ca;
    final List<AutoCloseable> toClose = new ArrayList<>();

    @BeforeEach
    void setUp() throws IOException {
        root = Files.createTempDirectory("cs-tls");
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        ca = CertificateAuthority.create(root.resolve("ca"), "test", Duration.ofDays(1));
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

    DataTls identity(CertificateAuthority authority, Role role, String name) throws IOException {
        Path dir = root.resolve("id-" + name);
        authority.issue(dir, role, name, List.of(), Duration.ofDays(1));
        return DataTls.of(TlsIdentity.load(dir));
    }

    ChunkServer start(String name, DataTls tls) throws IOException {
        ChunkServer.Config config = ChunkServer.Config.defaults(root.resolve(name)).withChunkletSize(64L << 20)
                .withWal(new io.basalt.chunkserver.wal.WalWriter.Config(8L << 20, 64, 4096, 64L << 20,
                        (1 << 20) + 2048)).withTls(tls);
        ChunkServer server = ChunkServer.start(config, new LocalMetaLink("test"), new PrometheusRegistry());
        toClose.add(server::closeQuietly);
        return server;
    }

    DataClient connect(ChunkServer server, DataTls tls) throws IOException {
        DataClient client = DataClient.connect(group, NioSocketChannel.class, address(server), 10_000, 2 << 20, tls);
        toClose.add(client);
        return client;
    }

    static String address(ChunkServer server) {
        return "127.0.0.1:" + server.address().getPort();
    }

    static DataClient.Reply await(CompletableFuture<DataClient.Reply> reply) throws Exception {
        return reply.get(20, TimeUnit.SECONDS);
    }

    static byte[] random(long seed) {
        byte[] data = new byte[4096];
        new Random(seed).nextBytes(data);
        return data;
    }

    static byte[] read(DataClient client, long offset) throws Exception {
        DataClient.Reply reply = await(client.request(DataFrame.TYPE_READ, UID, 0, offset, 4096, null));
        try {
            assertThat(reply.status()).as(reply.message()).isEqualTo(CsStatus.OK);
            byte[] data = new byte[4096];
            reply.payload().getBytes(0, data);
            return data;
        } finally {
            reply.release();
        }
    }

    @Test
    void replicatesOverTlsAndRefusesStrangersWhileServingOthers() throws Exception {
        DataTls primaryTls = identity(ca, Role.CHUNK_SERVER, "cs1");
        ChunkServer primary = start("cs1", primaryTls);
        ChunkServer second = start("cs2", identity(ca, Role.CHUNK_SERVER, "cs2"));
        DataClient gateway = connect(primary, identity(ca, Role.GATEWAY, "nbd"));

        // A FORWARD makes the primary open a TLS connection of its own to the replica.
        DataClient.Reply written = await(gateway.request(DataFrame.TYPE_FORWARD, UID, 0, 0, 4096,
                DataClient.forwardPayload(ALLOC, random(1), List.of(address(second)))));
        assertThat(written.status()).as(written.message()).isEqualTo(CsStatus.OK);
        written.release();
        assertThat(read(connect(second, identity(ca, Role.ADMIN, "admin")), 0)).isEqualTo(random(1));

        // No certificate: a plain-text client gets its connection closed, nothing else.
        try (Socket plain = new Socket("127.0.0.1", primary.address().getPort())) {
            plain.setSoTimeout(10_000);
            plain.getOutputStream().write(new byte[DataFrame.HEADER_BYTES]);
            InputStream in = plain.getInputStream();
            assertThat(in.readAllBytes()).isEmpty();
        }
        // A client that speaks TLS and trusts the CA but presents no certificate of its own.
        SSLContext anonymous = SSLContext.getInstance("TLSv1.3");
        anonymous.init(null, TlsIdentity.load(root.resolve("id-cs1")).trustManagers().getTrustManagers(), null);
        try (SSLSocket socket = (SSLSocket) anonymous.getSocketFactory().createSocket("127.0.0.1",
                primary.address().getPort())) {
            socket.setSoTimeout(10_000);
            socket.startHandshake(); // TLS 1.3: the server's verdict on the client comes after
            assertThatThrownBy(() -> {
                socket.getOutputStream().write(new byte[DataFrame.HEADER_BYTES]);
                socket.getOutputStream().flush();
                if (socket.getInputStream().read() < 0) {
                    throw new IOException("closed by the server");
                }
            }).isInstanceOf(IOException.class);
        }

        CertificateAuthority other = CertificateAuthority.create(root.resolve("other-ca"), "other", Duration.ofDays(1));
        DataTls stranger = identity(other, Role.CHUNK_SERVER, "cs9");
        assertThatThrownBy(() -> connect(primary, stranger)).isInstanceOf(IOException.class)
                .hasMessageContaining(address(primary));

        // A meta certificate is of this cluster but may not use the data protocol.
        assertThatThrownBy(() -> read(connect(primary, identity(ca, Role.META, "meta1")), 0))
                .hasRootCauseInstanceOf(IOException.class);

        // A gateway's certificate cannot pass for a chunk server: its client refuses it.
        ChunkServer impostor = start("fake", identity(ca, Role.GATEWAY, "fake"));
        assertThatThrownBy(() -> connect(impostor, identity(ca, Role.ADMIN, "admin2")))
                .isInstanceOf(IOException.class).hasMessageContaining("not a chunk server's");

        assertThat(primaryTls.refusals()).isGreaterThanOrEqualTo(4);
        // Those who belong are still served, on the connection they had and on new ones.
        assertThat(read(gateway, 0)).isEqualTo(random(1));
        assertThat(read(connect(primary, identity(ca, Role.CHUNK_SERVER, "cs3")), 0)).isEqualTo(random(1));
    }

    /**
     * Frame types only chunk servers send each other (two-phase EC steps, strip rebuild and repair,
     * hot copies and frees, relayed writes) are refused FORBIDDEN to a gateway or an admin
     * certificate, and nothing is applied; a chunk server's certificate passes that check.
     */
    @Test
    void aGatewayMayNotSendTheFramesOnlyChunkServersSend() throws Exception {
        ChunkServer server = start("cs1", identity(ca, Role.CHUNK_SERVER, "cs1"));
        DataClient gateway = connect(server, identity(ca, Role.GATEWAY, "nbd"));
        DataClient admin = connect(server, identity(ca, Role.ADMIN, "admin"));
        DataTls peerTls = identity(ca, Role.CHUNK_SERVER, "cs2");
        for (int type : new int[] {DataFrame.TYPE_PREPARE, DataFrame.TYPE_RESOLVE, DataFrame.TYPE_STRIP_REBUILD,
                DataFrame.TYPE_STRIP_REPAIR, DataFrame.TYPE_HOT_PUT, DataFrame.TYPE_HOT_FREE}) {
            for (DataClient client : List.of(gateway, admin)) {
                DataClient.Reply refused = await(client.request(type, UID, 0, 0, 4096, null));
                assertThat(refused.status()).as(DataFrame.typeName(type)).isEqualTo(CsStatus.FORBIDDEN);
                assertThat(refused.message()).contains("may not send " + DataFrame.typeName(type));
                refused.release();
            }
            // A fresh connection each time: a malformed step may be a PROTOCOL error that closes it.
            DataClient.Reply checked = await(connect(server, peerTls).request(type, UID, 0, 0, 4096, null));
            assertThat(checked.status()).as(DataFrame.typeName(type)).isNotEqualTo(CsStatus.FORBIDDEN);
            checked.release();
        }
        // A WRITE flagged as relayed by a primary (fenced at writersFrom, not the version) likewise.
        DataClient.Reply relayed = await(gateway.request(DataFrame.TYPE_WRITE, DataFrame.FLAG_RELAYED, UID, 0, 0,
                4096, DataClient.writePayload(ALLOC, random(3))));
        assertThat(relayed.status()).isEqualTo(CsStatus.FORBIDDEN);
        assertThat(relayed.message()).contains("may not send write relayed");
        relayed.release();
        // What clients send stays open to a gateway, on the same connection.
        DataClient.Reply written = await(gateway.request(DataFrame.TYPE_WRITE, UID, 0, 0, 4096,
                DataClient.writePayload(ALLOC, random(2))));
        assertThat(written.status()).as(written.message()).isEqualTo(CsStatus.OK);
        written.release();
        assertThat(read(gateway, 0)).isEqualTo(random(2));
    }

    /** An expired certificate of this CA is refused like a stranger's; the others go on. */
    @Test
    void anExpiredCertificateIsRefused() throws Exception {
        DataTls serverTls = identity(ca, Role.CHUNK_SERVER, "cs1");
        ChunkServer server = start("cs1", serverTls);
        Path expiredDir = root.resolve("id-expired");
        ca.issue(expiredDir, Role.GATEWAY, "old-nbd", List.of(), Duration.ofMillis(1500));
        DataTls expired = DataTls.of(TlsIdentity.load(expiredDir));
        Thread.sleep(2000);
        assertThatThrownBy(() -> read(connect(server, expired), 0)).isInstanceOf(Exception.class);
        assertThat(serverTls.refusals()).isEqualTo(1);
        DataClient.Reply written = await(connect(server, identity(ca, Role.GATEWAY, "nbd")).request(DataFrame.TYPE_WRITE,
                UID, 0, 0, 4096, DataClient.writePayload(ALLOC, random(3))));
        assertThat(written.status()).as(written.message()).isEqualTo(CsStatus.OK);
        written.release();
    }
}
