package io.basalt.common.tls;

import static org.assertj.core.api.Assertions.assertThat;

import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Rotation without a restart: what a reissued certificate must be for the key manager to take it. */
class ReloadingKeyManagerTest {
    @TempDir
    Path dir;

    @Test
    void aReissuedCertificateIsPresentedAndABadOneIsNot() throws Exception {
        CertificateAuthority ca = CertificateAuthority.create(dir.resolve("ca"), "test", Duration.ofDays(1));
        Path holder = dir.resolve("cs3");
        BigInteger first = ca.issue(holder, Role.CHUNK_SERVER, "cs3", List.of(), Duration.ofDays(1)).getSerialNumber();
        ReloadingKeyManager keys = ReloadingKeyManager.load(holder, ca.certificate(), 0);
        String alias = keys.chooseEngineServerAlias("EC", null, null);
        assertThat(alias).isNotNull();
        assertThat(keys.getCertificateChain(alias)[0].getSerialNumber()).isEqualTo(first);

        // Reissued: presented from the next handshake on; the alias chosen before still resolves
        // to the old certificate and its key, together.
        BigInteger second = ca.issue(holder, Role.CHUNK_SERVER, "cs3", List.of(), Duration.ofDays(1)).getSerialNumber();
        String next = keys.chooseEngineServerAlias("EC", null, null);
        assertThat(keys.getCertificateChain(next)[0].getSerialNumber()).isEqualTo(second);
        assertThat(keys.certificate().getSerialNumber()).isEqualTo(second);
        assertThat(next).isNotEqualTo(alias);
        assertThat(keys.getCertificateChain(alias)[0].getSerialNumber()).isEqualTo(first);
        assertThat(keys.getPrivateKey(alias)).isNotEqualTo(keys.getPrivateKey(next));

        // Half a rotation (another key beside this certificate): not taken until the pair is whole.
        ca.issue(dir.resolve("other"), Role.CHUNK_SERVER, "cs3", List.of(), Duration.ofDays(1));
        Files.copy(dir.resolve("other").resolve(TlsIdentity.KEY_FILE), holder.resolve(TlsIdentity.KEY_FILE),
                StandardCopyOption.REPLACE_EXISTING);
        assertThat(keys.certificate().getSerialNumber()).isEqualTo(second);
        Files.copy(dir.resolve("other").resolve(TlsIdentity.CERT_FILE), holder.resolve(TlsIdentity.CERT_FILE),
                StandardCopyOption.REPLACE_EXISTING);
        BigInteger third = keys.certificate().getSerialNumber();
        assertThat(third).isNotEqualTo(second);

        // Another name, another role, another CA: refused, the certificate in use stays.
        ca.issue(holder, Role.CHUNK_SERVER, "cs4", List.of(), Duration.ofDays(1));
        assertThat(keys.certificate().getSerialNumber()).isEqualTo(third);
        ca.issue(holder, Role.GATEWAY, "cs3", List.of(), Duration.ofDays(1));
        assertThat(keys.certificate().getSerialNumber()).isEqualTo(third);
        CertificateAuthority.create(dir.resolve("other-ca"), "other", Duration.ofDays(1))
                .issue(holder, Role.CHUNK_SERVER, "cs3", List.of(), Duration.ofDays(1));
        assertThat(keys.certificate().getSerialNumber()).isEqualTo(third);
        assertThat(keys.getCertificateChain(keys.chooseEngineServerAlias("EC", null, null))[0].getSerialNumber())
                .isEqualTo(third);

        // TlsIdentity's own key managers are reloading ones.
        BigInteger fourth = ca.issue(holder, Role.CHUNK_SERVER, "cs3", List.of(), Duration.ofDays(1)).getSerialNumber();
        TlsIdentity identity = TlsIdentity.load(holder);
        assertThat(identity.presentedCertificate().getSerialNumber()).isEqualTo(fourth);
    }

    @Test
    void theKeyIsChosenOnlyForItsOwnKeyTypeAndForPeersThatTrustItsIssuer() throws Exception {
        CertificateAuthority ca = CertificateAuthority.create(dir.resolve("ca"), "test", Duration.ofDays(1));
        Path holder = dir.resolve("gw");
        ca.issue(holder, Role.GATEWAY, "gw", List.of(), Duration.ofDays(1));
        ReloadingKeyManager keys = ReloadingKeyManager.load(holder, ca.certificate(), 0);
        javax.security.auth.x500.X500Principal ours = ca.certificate().getSubjectX500Principal();
        javax.security.auth.x500.X500Principal theirs = new javax.security.auth.x500.X500Principal("CN=someone else");

        String alias = keys.chooseEngineClientAlias(new String[] {"RSA", "EC"}, new java.security.Principal[] {ours}, null);
        assertThat(alias).isNotNull();
        assertThat(keys.getPrivateKey(alias).getAlgorithm()).isEqualTo("EC");
        assertThat(keys.chooseEngineServerAlias("EC_EC", null, null)).isEqualTo(alias); // EC key, ECDSA-signed
        assertThat(keys.chooseEngineServerAlias("EC_RSA", null, null)).isNull();
        assertThat(keys.chooseEngineServerAlias("RSA", null, null)).isNull();
        assertThat(keys.chooseEngineClientAlias(new String[] {"EC"}, new java.security.Principal[] {theirs}, null))
                .isNull();
        assertThat(keys.getServerAliases("EC", null)).containsExactly(alias);
        assertThat(keys.getClientAliases("RSA", null)).isNull();
        assertThat(keys.getPrivateKey("self-99")).isNull();
        assertThat(keys.getCertificateChain("self-99")).isNull();
    }
}
