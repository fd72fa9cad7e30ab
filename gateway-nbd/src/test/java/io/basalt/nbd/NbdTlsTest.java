package io.basalt.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.basalt.common.tls.CertificateAuthority;
import io.basalt.common.tls.Role;
import io.basalt.common.tls.TlsIdentity;
import io.basalt.protocol.data.DataTls;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.EnumSet;
import java.util.List;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLSocket;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * NBD_OPT_STARTTLS against the server in-process: require refuses options before TLS, the upgrade
 * works with a certificate of the cluster CA, and a stranger's certificate is refused while the
 * server goes on serving.
 */
class NbdTlsTest {
    @TempDir
    Path dir;
    private NbdServer server;
    private CertificateAuthority ca;
    private DataTls gatewayTls;
    private io.netty.channel.EventLoopGroup group;

    @BeforeEach
    void setUp() throws Exception {
        ca = CertificateAuthority.create(dir.resolve("ca"), "test", Duration.ofDays(1));
        ca.issue(dir.resolve("nbd"), Role.GATEWAY, "nbd", List.of(), Duration.ofDays(1));
        ca.issue(dir.resolve("admin"), Role.ADMIN, "admin", List.of(), Duration.ofDays(1));
        gatewayTls = DataTls.of(TlsIdentity.load(dir.resolve("nbd")), EnumSet.allOf(Role.class));
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close(1000);
        }
        if (group != null) {
            group.shutdownGracefully(0, 1, java.util.concurrent.TimeUnit.SECONDS).awaitUninterruptibly();
        }
    }

    private void start(NbdTls.Mode mode) throws Exception {
        start(mode, NbdAccess.OPEN);
    }

    private void start(NbdTls.Mode mode, NbdAccess access) throws Exception {
        MemoryBlockDevice device = new MemoryBlockDevice(1 << 20, false);
        if (group == null) {
            group = NbdServer.newEventLoopGroup(1);
        }
        server = NbdServer.start(new java.net.InetSocketAddress("127.0.0.1", 0),
                NbdExports.single("disk", "test disk", device), new NbdMetrics(new PrometheusRegistry()),
                device.maximumPayloadBytes(), group,
                new NbdTls(mode, mode == NbdTls.Mode.OFF ? null : gatewayTls, access));
    }

    /** A raw NBD client: greeting and flags done, ready for options. */
    private Socket connect() throws IOException {
        Socket socket = new Socket("127.0.0.1", server.localAddress().getPort());
        socket.setSoTimeout(10_000);
        DataInputStream in = new DataInputStream(socket.getInputStream());
        assertThat(in.readLong()).isEqualTo(NbdProtocol.NBDMAGIC);
        assertThat(in.readLong()).isEqualTo(NbdProtocol.IHAVEOPT);
        in.readUnsignedShort();
        new DataOutputStream(socket.getOutputStream()).writeInt(
                NbdProtocol.FLAG_C_FIXED_NEWSTYLE | NbdProtocol.FLAG_C_NO_ZEROES);
        return socket;
    }

    /** Sends {@code option} without data, returns the reply types up to the final one (ACK or error). */
    private static List<Integer> option(InputStream input, OutputStream output, int option) throws IOException {
        return option(input, output, option, new byte[0]);
    }

    /** INFO of {@code export} (no information requests); the reply types. */
    private static List<Integer> info(Socket socket, String export) throws IOException {
        byte[] name = export.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        byte[] data = java.nio.ByteBuffer.allocate(4 + name.length + 2).putInt(name.length).put(name).putShort((short) 0)
                .array();
        return option(socket.getInputStream(), socket.getOutputStream(), NbdProtocol.OPT_INFO, data);
    }

    private static List<Integer> option(InputStream input, OutputStream output, int option, byte[] data)
            throws IOException {
        output.write(NbdWire.bytes(NbdWire.option(option, data)));
        output.flush();
        DataInputStream in = new DataInputStream(input);
        List<Integer> types = new java.util.ArrayList<>();
        while (true) {
            assertThat(in.readLong()).isEqualTo(NbdProtocol.OPTION_REPLY_MAGIC);
            assertThat(in.readInt()).isEqualTo(option);
            int type = in.readInt();
            in.readNBytes(in.readInt());
            types.add(type);
            if (type != NbdProtocol.REP_SERVER && type != NbdProtocol.REP_INFO) {
                return types;
            }
        }
    }

    private SSLSocket upgrade(Socket plain, Path identity) throws Exception {
        assertThat(option(plain.getInputStream(), plain.getOutputStream(), NbdProtocol.OPT_STARTTLS))
                .containsExactly(NbdProtocol.REP_ACK);
        TlsIdentity client = TlsIdentity.load(identity);
        SSLContext context = SSLContext.getInstance("TLSv1.3");
        context.init(client.keyManagers().getKeyManagers(),
                TlsIdentity.load(dir.resolve("admin")).trustManagers().getTrustManagers(), null);
        SSLSocket tls = (SSLSocket) context.getSocketFactory().createSocket(plain, "127.0.0.1",
                plain.getPort(), true);
        tls.startHandshake();
        return tls;
    }

    @Test
    void requireRefusesOptionsBeforeStartTlsAndServesInsideIt() throws Exception {
        start(NbdTls.Mode.REQUIRE);
        try (Socket plain = connect()) {
            assertThat(option(plain.getInputStream(), plain.getOutputStream(), NbdProtocol.OPT_LIST))
                    .containsExactly(NbdProtocol.REP_ERR_TLS_REQD);
            try (SSLSocket tls = upgrade(plain, dir.resolve("admin"))) {
                assertThat(option(tls.getInputStream(), tls.getOutputStream(), NbdProtocol.OPT_LIST))
                        .containsExactly(NbdProtocol.REP_SERVER, NbdProtocol.REP_ACK);
                assertThat(option(tls.getInputStream(), tls.getOutputStream(), NbdProtocol.OPT_STARTTLS))
                        .containsExactly(NbdProtocol.REP_ERR_INVALID);
            }
        }
    }

    @Test
    void aCertificateOfAnotherCaIsRefusedAndOthersAreStillServed() throws Exception {
        start(NbdTls.Mode.REQUIRE);
        CertificateAuthority other = CertificateAuthority.create(dir.resolve("other"), "other", Duration.ofDays(1));
        other.issue(dir.resolve("stranger"), Role.ADMIN, "stranger", List.of(), Duration.ofDays(1));
        assertRefused(dir.resolve("stranger"));
        assertThat(gatewayTls.refusals()).isEqualTo(1);
        assertServed(dir.resolve("admin"));
    }

    /**
     * --allow: only the listed certificates see and open the export; another certificate of the
     * cluster and a plain-text client are refused it (ERR_POLICY) and do not see it in LIST.
     */
    @Test
    void anExportWithAClientListOpensOnlyForThoseCertificates() throws Exception {
        ca.issue(dir.resolve("alice"), Role.ADMIN, "alice", List.of(), Duration.ofDays(1));
        start(NbdTls.Mode.OPTIONAL, NbdAccess.parse(List.of("disk=alice,bob")));
        try (Socket plain = connect()) {
            assertThat(option(plain.getInputStream(), plain.getOutputStream(), NbdProtocol.OPT_LIST))
                    .containsExactly(NbdProtocol.REP_ACK);
            assertThat(info(plain, "disk")).containsExactly(NbdProtocol.REP_ERR_POLICY);
            try (SSLSocket tls = upgrade(plain, dir.resolve("admin"))) {
                assertThat(option(tls.getInputStream(), tls.getOutputStream(), NbdProtocol.OPT_LIST))
                        .containsExactly(NbdProtocol.REP_ACK);
                assertThat(info(tls, "disk")).containsExactly(NbdProtocol.REP_ERR_POLICY);
            }
        }
        try (Socket plain = connect(); SSLSocket tls = upgrade(plain, dir.resolve("alice"))) {
            assertThat(option(tls.getInputStream(), tls.getOutputStream(), NbdProtocol.OPT_LIST))
                    .containsExactly(NbdProtocol.REP_SERVER, NbdProtocol.REP_ACK);
            assertThat(info(tls, "disk")).endsWith(NbdProtocol.REP_ACK).contains(NbdProtocol.REP_INFO);
        }
    }

    /**
     * Rotation: the gateway's certificate reissued in its directory is presented to the next
     * client (through the provider in use, BoringSSL where it loads), while a session opened
     * before goes on with the old one.
     */
    @Test
    void aReissuedCertificateIsPresentedToNewClientsWithoutARestart() throws Exception {
        start(NbdTls.Mode.REQUIRE);
        try (Socket plain = connect(); SSLSocket before = upgrade(plain, dir.resolve("admin"))) {
            java.math.BigInteger first = serial(before);
            java.math.BigInteger second = ca.issue(dir.resolve("nbd"), Role.GATEWAY, "nbd", List.of(),
                    Duration.ofDays(1)).getSerialNumber();
            ((io.basalt.common.tls.ReloadingKeyManager) gatewayTls.identity().keyManagers().getKeyManagers()[0])
                    .reloadIfChanged();
            try (Socket plain2 = connect(); SSLSocket after = upgrade(plain2, dir.resolve("admin"))) {
                assertThat(serial(after)).isEqualTo(second).isNotEqualTo(first);
                assertThat(option(after.getInputStream(), after.getOutputStream(), NbdProtocol.OPT_LIST))
                        .containsExactly(NbdProtocol.REP_SERVER, NbdProtocol.REP_ACK);
            }
            assertThat(option(before.getInputStream(), before.getOutputStream(), NbdProtocol.OPT_LIST))
                    .containsExactly(NbdProtocol.REP_SERVER, NbdProtocol.REP_ACK);
        }
    }

    /** Revocation: once the CA's list is in the gateway's directory, the next handshake is refused. */
    @Test
    void aRevokedClientCertificateIsRefusedFromTheNextHandshakeOn() throws Exception {
        start(NbdTls.Mode.REQUIRE);
        java.math.BigInteger mallory = ca.issue(dir.resolve("mallory"), Role.ADMIN, "mallory", List.of(),
                Duration.ofDays(1)).getSerialNumber();
        try (Socket plain = connect(); SSLSocket tls = upgrade(plain, dir.resolve("mallory"))) {
            assertThat(option(tls.getInputStream(), tls.getOutputStream(), NbdProtocol.OPT_LIST))
                    .containsExactly(NbdProtocol.REP_SERVER, NbdProtocol.REP_ACK);
        }
        ca.revoke(List.of(mallory));
        ca.publishCrl(dir.resolve("nbd"));
        gatewayTls.identity().trust().reloadIfChanged();
        assertRefused(dir.resolve("mallory"));
        assertThat(gatewayTls.refusals()).isEqualTo(1);
        assertServed(dir.resolve("admin"));
    }

    /** An expired client certificate of this CA is refused; others are still served. */
    @Test
    void anExpiredClientCertificateIsRefused() throws Exception {
        start(NbdTls.Mode.REQUIRE);
        long notAfter = ca.issue(dir.resolve("old"), Role.ADMIN, "old", List.of(), Duration.ofMillis(1500))
                .getNotAfter().getTime();
        Thread.sleep(Math.max(0, notAfter + 1000 - System.currentTimeMillis()));
        assertRefused(dir.resolve("old"));
        assertThat(gatewayTls.refusals()).isEqualTo(1);
        assertServed(dir.resolve("admin"));
    }

    /** A client with the identity in {@code identity} is refused during or right after the handshake. */
    private void assertRefused(Path identity) throws IOException {
        try (Socket plain = connect()) {
            assertThatThrownBy(() -> {
                try (SSLSocket tls = upgrade(plain, identity)) {
                    option(tls.getInputStream(), tls.getOutputStream(), NbdProtocol.OPT_LIST);
                }
            }).isInstanceOf(IOException.class);
        }
    }

    /** A client with the identity in {@code identity} upgrades and lists the export. */
    private void assertServed(Path identity) throws Exception {
        try (Socket plain = connect(); SSLSocket tls = upgrade(plain, identity)) {
            assertThat(option(tls.getInputStream(), tls.getOutputStream(), NbdProtocol.OPT_LIST))
                    .containsExactly(NbdProtocol.REP_SERVER, NbdProtocol.REP_ACK);
        }
    }

    private static java.math.BigInteger serial(SSLSocket socket) throws IOException {
        return ((java.security.cert.X509Certificate) socket.getSession().getPeerCertificates()[0]).getSerialNumber();
    }

    @Test
    void optionalServesPlainAndOffRefusesStartTls() throws Exception {
        start(NbdTls.Mode.OPTIONAL);
        try (Socket plain = connect()) {
            assertThat(option(plain.getInputStream(), plain.getOutputStream(), NbdProtocol.OPT_LIST))
                    .containsExactly(NbdProtocol.REP_SERVER, NbdProtocol.REP_ACK);
        }
        server.close(1000);
        start(NbdTls.Mode.OFF);
        try (Socket plain = connect()) {
            assertThat(option(plain.getInputStream(), plain.getOutputStream(), NbdProtocol.OPT_STARTTLS))
                    .containsExactly(NbdProtocol.REP_ERR_UNSUP);
        }
    }
}
