package io.basalt.meta.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.basalt.common.tls.CertificateAuthority;
import io.basalt.common.tls.Role;
import io.basalt.common.tls.TlsIdentity;
import io.basalt.meta.api.MetaClient;
import io.basalt.meta.api.MetaError;
import io.basalt.meta.api.MetaException;
import io.basalt.meta.api.MetaOp;
import io.basalt.meta.api.MetaPeers;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * One member over mutual TLS in this JVM: who may do what by certificate role, and how a refusal
 * reads. Refusals must be quick (no half-minute of retries) and leave everyone else served.
 */
class MetaTlsTest {
    @TempDir
    Path dir;

    @Test
    void rolesDecideWhatEachHolderMayDoAndOtherCasAreRefused() throws Exception {
        CertificateAuthority ca = CertificateAuthority.create(dir.resolve("ca"), "test", Duration.ofDays(1));
        for (Role role : Role.values()) {
            ca.issue(dir.resolve(role.label()), role, "t-" + role.label(), List.of(), Duration.ofDays(1));
        }
        CertificateAuthority other = CertificateAuthority.create(dir.resolve("other-ca"), "other", Duration.ofDays(1));
        other.issue(dir.resolve("stranger"), Role.ADMIN, "stranger", List.of(), Duration.ofDays(1));
        long expiredAfter = ca.issue(dir.resolve("expired"), Role.ADMIN, "old-admin", List.of(), Duration.ofMillis(1500))
                .getNotAfter().getTime();
        String peers = "1@127.0.0.1:" + MetaServerTest.freePort();
        MetaServer.Config config = new MetaServer.Config("1", "test", MetaPeers.parse(peers), dir.resolve("m1"),
                4L << 20, 1000, Duration.ofMillis(300), Duration.ofMinutes(10), Duration.ofSeconds(2),
                1 << 20, Duration.ofMinutes(5)).withTls(TlsIdentity.load(dir.resolve("meta")));
        try (MetaServer server = MetaServer.start(config);
             MetaClient plain = MetaClient.connect("test", MetaPeers.parse(peers), Duration.ofSeconds(3), 50, null);
             MetaClient admin = client(peers, "admin");
             MetaClient gateway = client(peers, "gateway");
             MetaClient chunkServer = client(peers, "cs");
             MetaClient stranger = client(peers, "stranger")) {
            admin.registerCs(0, "h0:7000", "h0", "z", 1L << 40, "t");
            admin.createVolume("vol", 64L << 20, "rep1", 0);

            long started = System.nanoTime();
            assertThatThrownBy(() -> gateway.createVolume("evil", 64L << 20, "rep1", 0))
                    .isInstanceOfSatisfying(MetaException.class, e -> assertThat(e.error()).isEqualTo(MetaError.FORBIDDEN))
                    .hasMessageContaining("CREATE_VOLUME by t-gateway (role gateway)")
                    .hasMessageContaining("needs an admin certificate");
            assertThatThrownBy(() -> gateway.deleteVolume("vol"))
                    .isInstanceOfSatisfying(MetaException.class, e -> assertThat(e.error()).isEqualTo(MetaError.FORBIDDEN));
            assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(10));
            // The gateway still reads volumes and maps; nothing it tried happened.
            assertThat(gateway.listVolumes()).extracting(v -> v.name()).containsExactly("vol");
            assertThat(gateway.getVolume("vol").name()).isEqualTo("vol");
            // A chunk server registers itself but may not create volumes either.
            assertThat(chunkServer.registerCs(0, "h1:7000", "h1", "z", 1L << 40, "t").id()).isPositive();
            assertThatThrownBy(() -> chunkServer.createVolume("evil2", 64L << 20, "rep1", 0))
                    .isInstanceOfSatisfying(MetaException.class, e -> assertThat(e.error()).isEqualTo(MetaError.FORBIDDEN))
                    .hasMessageContaining("a chunk server may only");

            // An expired certificate of this CA: refused like a stranger's.
            try (MetaClient expired = client(peers, "expired")) {
                Thread.sleep(Math.max(0, expiredAfter + 1000 - System.currentTimeMillis()));
                assertThatThrownBy(expired::listVolumes)
                        .isInstanceOfSatisfying(MetaException.class, e -> assertThat(e.error()).isEqualTo(MetaError.FORBIDDEN))
                        .hasMessageContaining("TLS with meta failed");
            }

            started = System.nanoTime();
            assertThatThrownBy(stranger::listVolumes)
                    .isInstanceOfSatisfying(MetaException.class, e -> assertThat(e.error()).isEqualTo(MetaError.FORBIDDEN))
                    .hasMessageContaining("TLS with meta failed");
            assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(10));

            // Plain text against TLS: closed without a word by the server, which alone would look
            // like a restarting member (50 retries); the client asks once and says what to pass.
            started = System.nanoTime();
            assertThatThrownBy(plain::listVolumes)
                    .isInstanceOfSatisfying(MetaException.class, e -> assertThat(e.error()).isEqualTo(MetaError.FORBIDDEN))
                    .hasMessageContaining("speaks TLS and this client has no certificate")
                    .hasMessageContaining("--tls-dir");
            assertThat(Duration.ofNanos(System.nanoTime() - started)).isLessThan(Duration.ofSeconds(8));

            assertThat(admin.listVolumes()).extracting(v -> v.name()).containsExactly("vol");
            assertThat(server.refusals()).containsEntry(List.of("gateway", "CREATE_VOLUME"), 1L)
                    .containsEntry(List.of("gateway", "DELETE_VOLUME"), 1L)
                    .containsEntry(List.of("cs", "CREATE_VOLUME"), 1L);
        }
    }

    /**
     * A chunk server's id is bound to the name in the certificate that first registered it; another
     * chunk server's certificate can then neither register it, heartbeat for it nor claim its name
     * (docs/security.md, "Own chunklets only").
     */
    @Test
    void aChunkServerSpeaksOnlyForItsOwnId() throws Exception {
        CertificateAuthority ca = CertificateAuthority.create(dir.resolve("ca"), "test", Duration.ofDays(1));
        ca.issue(dir.resolve("meta"), Role.META, "m1", List.of(), Duration.ofDays(1));
        ca.issue(dir.resolve("admin"), Role.ADMIN, "admin", List.of(), Duration.ofDays(1));
        ca.issue(dir.resolve("cs-a"), Role.CHUNK_SERVER, "cs-a", List.of(), Duration.ofDays(1));
        ca.issue(dir.resolve("cs-b"), Role.CHUNK_SERVER, "cs-b", List.of(), Duration.ofDays(1));
        String peers = "1@127.0.0.1:" + MetaServerTest.freePort();
        MetaServer.Config config = new MetaServer.Config("1", "test", MetaPeers.parse(peers), dir.resolve("m1"),
                4L << 20, 1000, Duration.ofMillis(300), Duration.ofMinutes(10), Duration.ofSeconds(2),
                1 << 20, Duration.ofMinutes(5)).withTls(TlsIdentity.load(dir.resolve("meta")));
        try (MetaServer server = MetaServer.start(config);
             MetaClient admin = client(peers, "admin");
             MetaClient a = client(peers, "cs-a");
             MetaClient b = client(peers, "cs-b")) {
            int idA = a.registerCs(0, "h1:7000", "h1", "z", 1L << 40, "t").id();
            int idB = b.registerCs(0, "h2:7000", "h2", "z", 1L << 40, "t").id();
            assertThat(a.heartbeat(idA, 1L << 40, 0, io.basalt.meta.model.CsHealth.OK).status()).isNotNull();
            assertThat(a.registerCs(idA, "h1:7001", "h1", "z", 1L << 40, "t").address()).isEqualTo("h1:7001");

            // b's certificate, a's id: refused by meta's state, which binds ids to holders.
            assertThatThrownBy(() -> b.heartbeat(idA, 1L << 40, 0, io.basalt.meta.model.CsHealth.OK))
                    .isInstanceOfSatisfying(MetaException.class, e -> assertThat(e.error()).isEqualTo(MetaError.FORBIDDEN))
                    .hasMessageContaining("heartbeat for cs " + idA + " refused: cs " + idA
                            + " belongs to certificate cs-a, and this request comes from certificate cs-b");
            assertThatThrownBy(() -> b.registerCs(idA, "evil:7000", "h1", "z", 1L << 40, "t"))
                    .isInstanceOfSatisfying(MetaException.class, e -> assertThat(e.error()).isEqualTo(MetaError.FORBIDDEN))
                    .hasMessageContaining("belongs to certificate cs-a");
            // Claiming a's name with b's certificate: refused before the request reaches Ratis.
            assertThatThrownBy(() -> b.call(new io.basalt.meta.api.MetaRequest.RegisterCs(idA, "evil:7000", "h1",
                    "z", 1L << 40, "t", "cs-a")))
                    .isInstanceOfSatisfying(MetaException.class, e -> assertThat(e.error()).isEqualTo(MetaError.FORBIDDEN))
                    .hasMessageContaining("speaks only for itself");
            // An admin certificate claims no chunk server name, so it cannot heartbeat for one either.
            assertThatThrownBy(() -> admin.heartbeat(idB, 1L << 40, 0, io.basalt.meta.model.CsHealth.OK))
                    .isInstanceOfSatisfying(MetaException.class, e -> assertThat(e.error()).isEqualTo(MetaError.FORBIDDEN))
                    .hasMessageContaining("belongs to certificate cs-b");

            // Nothing of the refused registrations happened; everyone else is still served.
            assertThat(admin.listCs()).filteredOn(cs -> cs.server().id() == idA)
                    .extracting(cs -> cs.server().address()).containsExactly("h1:7001");
            assertThat(b.heartbeat(idB, 1L << 40, 0, io.basalt.meta.model.CsHealth.OK).status()).isNotNull();
            assertThat(server.refusals()).containsEntry(List.of("cs", "REGISTER_CS"), 1L);
        }
    }

    @Test
    void thePolicyTable() {
        assertThat(MetaAuthorizer.refusal(Role.ADMIN, MetaOp.DELETE_VOLUME)).isNull();
        assertThat(MetaAuthorizer.refusal(Role.META, MetaOp.NEW_LEADER_EPOCH)).isNull();
        assertThat(MetaAuthorizer.refusal(Role.GATEWAY, MetaOp.ACQUIRE_LEASE)).isNull();
        assertThat(MetaAuthorizer.refusal(Role.GATEWAY, MetaOp.GET_CHUNK_MAP)).isNull();
        assertThat(MetaAuthorizer.refusal(Role.GATEWAY, MetaOp.PUT_OBJECT)).isNull();
        assertThat(MetaAuthorizer.refusal(Role.GATEWAY, MetaOp.HEARTBEAT)).contains("only a chunk server");
        assertThat(MetaAuthorizer.refusal(Role.GATEWAY, MetaOp.CREATE_S3_USER)).contains("admin certificate");
        assertThat(MetaAuthorizer.refusal(Role.CHUNK_SERVER, MetaOp.HEARTBEAT)).isNull();
        assertThat(MetaAuthorizer.refusal(Role.CHUNK_SERVER, MetaOp.RECOVERY_DONE)).isNull();
        assertThat(MetaAuthorizer.refusal(Role.CHUNK_SERVER, MetaOp.INIT_CLUSTER_ID)).isNull();
        assertThat(MetaAuthorizer.refusal(Role.CHUNK_SERVER, MetaOp.ACQUIRE_LEASE)).isNotNull();
        // Every write op is placed deliberately: an admin op, or one a gateway or chunk server may send.
        for (MetaOp op : MetaOp.values()) {
            if (op.isWrite()) {
                assertThat(MetaAuthorizer.refusal(Role.GATEWAY, op) == null
                        || MetaAuthorizer.refusal(Role.CHUNK_SERVER, op) == null
                        || MetaAuthorizer.refusal(Role.GATEWAY, op).contains("admin certificate"))
                        .as(op.name()).isTrue();
            }
        }
    }

    private MetaClient client(String peers, String holder) throws Exception {
        return MetaClient.connect("test", MetaPeers.parse(peers), Duration.ofSeconds(3), 50,
                TlsIdentity.load(dir.resolve(holder)));
    }
}
