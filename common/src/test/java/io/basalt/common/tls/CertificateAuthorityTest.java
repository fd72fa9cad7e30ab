package io.basalt.common.tls;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.cert.CertificateException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.util.List;
import javax.net.ssl.X509TrustManager;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CertificateAuthorityTest {
    @TempDir
    Path dir;

    @Test
    void issuedIdentityCarriesItsRoleAndIsTrustedOnlyByItsCa() throws Exception {
        CertificateAuthority ca = CertificateAuthority.create(dir.resolve("ca"), "test", Duration.ofDays(30));
        assertEquals("rw-------", PosixFilePermissions.toString(
                Files.getPosixFilePermissions(dir.resolve("ca").resolve(CertificateAuthority.CA_KEY_FILE))));
        ca.issue(dir.resolve("cs1"), Role.CHUNK_SERVER, "cs1", List.of("10.0.0.7", "node7"), Duration.ofDays(7));
        TlsIdentity identity = TlsIdentity.load(dir.resolve("cs1"));
        assertEquals(Role.CHUNK_SERVER, identity.role());
        assertEquals("cs1", identity.name());
        assertEquals("rw-------", PosixFilePermissions.toString(
                Files.getPosixFilePermissions(dir.resolve("cs1").resolve(TlsIdentity.KEY_FILE))));
        assertTrue(Files.isSymbolicLink(dir.resolve("cs1").resolve("client-key.pem")));
        X509Certificate certificate = identity.certificate();
        certificate.verify(ca.certificate().getPublicKey());
        assertTrue(certificate.getSubjectAlternativeNames().stream().anyMatch(n -> n.get(1).equals("node7")));
        assertTrue(certificate.getExtendedKeyUsage().containsAll(List.of("1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2")));

        // The key file is PKCS#8 with the public key inside (what GnuTLS needs): 138 bytes of DER
        // ending in the certificate's public point.
        String pem = Files.readString(dir.resolve("cs1").resolve(TlsIdentity.KEY_FILE));
        byte[] der = java.util.Base64.getMimeDecoder().decode(pem.replaceAll("-----[A-Z ]+-----", ""));
        assertEquals(138, der.length);
        var point = ((java.security.interfaces.ECPublicKey) certificate.getPublicKey()).getW();
        byte[] y = point.getAffineY().toByteArray();
        assertEquals(y[y.length - 1], der[137]);
        assertEquals("EC", certificate.getPublicKey().getAlgorithm());
        assertEquals(identity.certificate().getPublicKey(), certificate.getPublicKey());

        X509Certificate[] chain = {certificate, ca.certificate()};
        trustManager(identity).checkClientTrusted(chain, "EC");
        // Reopened from disk, the CA signs certificates the first identity trusts.
        CertificateAuthority.open(dir.resolve("ca")).issue(dir.resolve("gw"), Role.GATEWAY, "gw", List.of(),
                Duration.ofDays(1));
        trustManager(identity).checkClientTrusted(new X509Certificate[] {
                TlsIdentity.load(dir.resolve("gw")).certificate(), ca.certificate()}, "EC");

        CertificateAuthority other = CertificateAuthority.create(dir.resolve("other"), "other", Duration.ofDays(30));
        other.issue(dir.resolve("intruder"), Role.CHUNK_SERVER, "cs1", List.of(), Duration.ofDays(7));
        X509Certificate intruder = TlsIdentity.load(dir.resolve("intruder")).certificate();
        assertThrows(CertificateException.class, () -> trustManager(identity).checkClientTrusted(
                new X509Certificate[] {intruder, other.certificate()}, "EC"));
    }

    @Test
    void refusesToReplaceACaAndNamesTheFix() throws Exception {
        CertificateAuthority.create(dir.resolve("ca"), "test", Duration.ofDays(1));
        var error = assertThrows(java.io.IOException.class,
                () -> CertificateAuthority.create(dir.resolve("ca"), "test", Duration.ofDays(1)));
        assertTrue(error.getMessage().contains("already exists"), error.getMessage());
        var missing = assertThrows(java.io.IOException.class, () -> TlsIdentity.load(dir.resolve("nobody")));
        assertTrue(missing.getMessage().contains("basalt cert issue"), missing.getMessage());
    }

    @Test
    void rolesParseFromLabels() {
        assertEquals(Role.ADMIN, Role.parse("ADMIN"));
        assertThrows(IllegalArgumentException.class, () -> Role.parse("root"));
    }

    private static X509TrustManager trustManager(TlsIdentity identity) {
        return (X509TrustManager) identity.trustManagers().getTrustManagers()[0];
    }
}
