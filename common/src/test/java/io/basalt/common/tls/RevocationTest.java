package io.basalt.common.tls;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The CA's revocation list: signed, cumulative, published to holders, and what they refuse. */
class RevocationTest {
    @TempDir
    Path dir;

    @Test
    void aRevokedCertificateIsRefusedOnceTheListIsInTheHoldersDirectory() throws Exception {
        CertificateAuthority ca = CertificateAuthority.create(dir.resolve("ca"), "test", Duration.ofDays(1));
        X509Certificate alice = ca.issue(dir.resolve("alice"), Role.ADMIN, "alice", List.of(), Duration.ofDays(1));
        X509Certificate bob = ca.issue(dir.resolve("bob"), Role.GATEWAY, "bob", List.of(), Duration.ofDays(1));
        ca.issue(dir.resolve("cs1"), Role.CHUNK_SERVER, "cs1", List.of(), Duration.ofDays(1));
        RevocationCheckingTrustManager trust = TlsIdentity.load(dir.resolve("cs1")).trust();
        X509Certificate[] aliceChain = {alice, ca.certificate()};
        X509Certificate[] bobChain = {bob, ca.certificate()};
        trust.checkClientTrusted(aliceChain, "EC");
        assertThat(ca.crl()).isNull();

        ca.revoke(List.of(alice.getSerialNumber()));
        trust.checkClientTrusted(aliceChain, "EC"); // not published to this holder yet
        ca.publishCrl(dir.resolve("cs1"));
        trust.reloadIfChanged();
        assertThatThrownBy(() -> trust.checkClientTrusted(aliceChain, "EC")).isInstanceOf(CertificateException.class)
                .hasMessageContaining("the certificate of alice (serial " + alice.getSerialNumber().toString(16)
                        + ") was revoked by the cluster CA");
        trust.checkClientTrusted(bobChain, "EC");

        // Cumulative: a second revocation keeps the first.
        ca.revoke(List.of(bob.getSerialNumber()));
        assertThat(ca.crl().getRevokedCertificates()).hasSize(2);
        ca.publishCrl(dir.resolve("cs1"));
        trust.reloadIfChanged();
        assertThat(trust.revokedSerials()).containsExactlyInAnyOrder(alice.getSerialNumber(), bob.getSerialNumber());
        assertThatThrownBy(() -> trust.checkServerTrusted(bobChain, "ECDHE_ECDSA")).hasMessageContaining("revoked");

        // A list another CA signed is not taken: what was revoked stays revoked.
        CertificateAuthority other = CertificateAuthority.create(dir.resolve("other"), "other", Duration.ofDays(1));
        other.revoke(List.of(java.math.BigInteger.ONE));
        other.publishCrl(dir.resolve("cs1"));
        trust.reloadIfChanged();
        assertThat(trust.revokedSerials()).hasSize(2);

        // A holder issued afterwards gets the list with its certificate.
        ca.issue(dir.resolve("cs2"), Role.CHUNK_SERVER, "cs2", List.of(), Duration.ofDays(1));
        assertThat(TlsIdentity.load(dir.resolve("cs2")).trust().revokedSerials()).hasSize(2);
    }
}
