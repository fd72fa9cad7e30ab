package io.basalt.common.tls;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.TrustManagerFactory;

/**
 * One holder's TLS credentials, read from its identity directory (made by {@code basalt cert
 * issue} or {@code basalt up}):
 *
 * <pre>
 *   DIR/ca-cert.pem    the cluster CA's certificate: the only one trusted
 *   DIR/cert.pem       this holder's certificate (role in its OU), then the CA's
 *   DIR/key.pem        its private key, PKCS#8, mode 0600
 *   DIR/crl.pem        the CA's revocation list (optional): certificates refused although signed
 *   DIR/client-cert.pem, client-key.pem, server-cert.pem, server-key.pem
 *                      links to the two above, the names GnuTLS tools (nbdinfo, qemu) look for
 * </pre>
 *
 * The key managers present {@code cert.pem}, and pick up a reissued one without a restart
 * ({@link ReloadingKeyManager}; {@link #certificate()} stays the one read at start); the trust
 * managers accept only chains to the CA (no system CAs: a certificate from any other authority is
 * refused).
 */
public record TlsIdentity(Path directory, X509Certificate certificate, Role role, X509Certificate authority,
                          KeyManagerFactory keyManagers, TrustManagerFactory trustManagers) {
    public static final String CA_CERT_FILE = "ca-cert.pem";
    public static final String CERT_FILE = "cert.pem";
    public static final String KEY_FILE = "key.pem";
    /** The cluster CA's revocation list, when it revoked anything (optional). */
    public static final String CRL_FILE = "crl.pem";
    /** The names GnuTLS-based tools (nbdinfo, nbdcopy, qemu's tls-creds-x509) read in a directory. */
    public static final List<String> GNUTLS_LINKS = List.of("client-cert.pem", "client-key.pem",
            "server-cert.pem", "server-key.pem");

    /** Holder name (certificate CN), e.g. cs3. */
    public String name() {
        return Role.holderName(certificate);
    }

    /** The certificate presented now (a reissued one once it was picked up). */
    public X509Certificate presentedCertificate() {
        return ((ReloadingKeyManager) keyManagers.getKeyManagers()[0]).certificate();
    }

    /** The trust manager in force: the CA, minus what it revoked. */
    public RevocationCheckingTrustManager trust() {
        return (RevocationCheckingTrustManager) trustManagers.getTrustManagers()[0];
    }

    private static TrustManagerFactory factory(javax.net.ssl.TrustManager trust) {
        javax.net.ssl.TrustManager[] managers = {trust};
        javax.net.ssl.TrustManagerFactorySpi spi = new javax.net.ssl.TrustManagerFactorySpi() {
            @Override
            protected void engineInit(KeyStore keyStore) {}

            @Override
            protected void engineInit(javax.net.ssl.ManagerFactoryParameters parameters) {}

            @Override
            protected javax.net.ssl.TrustManager[] engineGetTrustManagers() {
                return managers.clone();
            }
        };
        return new TrustManagerFactory(spi, java.security.Security.getProvider("SunJSSE"), "basalt-revocation") {};
    }

    /** Reads the identity in {@code directory}; an IOException names the missing or bad file. */
    public static TlsIdentity load(Path directory) throws IOException {
        for (String file : List.of(CA_CERT_FILE, CERT_FILE, KEY_FILE)) {
            if (!Files.isRegularFile(directory.resolve(file))) {
                throw new IOException("no " + file + " in " + directory.toAbsolutePath()
                        + "; make one with: basalt cert issue --role ROLE --name NAME");
            }
        }
        X509Certificate authority = Pem.readCertificates(directory.resolve(CA_CERT_FILE)).getFirst();
        List<X509Certificate> chain = Pem.readCertificates(directory.resolve(CERT_FILE));
        X509Certificate certificate = chain.getFirst();
        Role role = Role.of(certificate).orElseThrow(() -> new IOException(directory.resolve(CERT_FILE)
                + " names no Basalt role (OU=meta|cs|gateway|admin): " + certificate.getSubjectX500Principal()));
        // Reads cert.pem and key.pem again when they change (rotation without a restart).
        ReloadingKeyManager keyManager = ReloadingKeyManager.load(directory, authority);
        try {
            KeyStore trusted = KeyStore.getInstance("PKCS12");
            trusted.load(null, null);
            trusted.setCertificateEntry("cluster-ca", authority);
            TrustManagerFactory pkix = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            pkix.init(trusted);
            javax.net.ssl.X509ExtendedTrustManager caTrust = null;
            for (javax.net.ssl.TrustManager each : pkix.getTrustManagers()) {
                if (each instanceof javax.net.ssl.X509ExtendedTrustManager x509) {
                    caTrust = x509;
                }
            }
            if (caTrust == null) {
                throw new IOException("no X.509 trust manager for " + directory);
            }
            // ... minus what the CA revoked (crl.pem here, read again when it changes).
            RevocationCheckingTrustManager trust = new RevocationCheckingTrustManager(caTrust, directory, authority,
                    ReloadingKeyManager.CHECK_INTERVAL_MILLIS);
            return new TlsIdentity(directory, certificate, role, authority, keyManager.factory(), factory(trust));
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot use the credentials in " + directory + ": " + e.getMessage(), e);
        }
    }
}
