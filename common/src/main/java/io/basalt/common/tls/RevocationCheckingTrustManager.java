package io.basalt.common.tls;

import io.basalt.common.io.FileStamp;
import java.io.IOException;
import java.math.BigInteger;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.cert.CertificateException;
import java.security.cert.X509CRL;
import java.security.cert.X509CRLEntry;
import java.security.cert.X509Certificate;
import java.util.Map;
import java.util.TreeMap;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedTrustManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The cluster CA's trust, minus the certificates it revoked (docs/security.md, "Revocation"): a
 * peer's chain is first checked as always (it must chain to the CA, be valid now), then its leaf's
 * serial against the CA's revocation list in this holder's directory ({@code crl.pem}, put there
 * by {@code basalt cert revoke} or by hand). The list is read at start and again when the file
 * changes (looked at, at most every check interval, on a handshake), so a running daemon refuses
 * a revoked certificate from its next handshake on; connections already open are not cut.
 *
 * <p>A list is used only if the CA signed it and names it as issuer; a file that is not one (being
 * copied, or forged) is refused with one WARN line and the list in use stays. No file: nothing
 * revoked. Thread-safe.
 */
public final class RevocationCheckingTrustManager extends X509ExtendedTrustManager {
    private static final Logger log = LoggerFactory.getLogger(RevocationCheckingTrustManager.class);

    /** A list in force: serial to revocation time. */
    private record Revoked(Map<BigInteger, java.util.Date> serials, FileStamp stamp) {}

    private static final Revoked NONE = new Revoked(Map.of(), null);

    private final X509ExtendedTrustManager delegate;
    private final Path file;
    private final X509Certificate authority;
    private final FileStamp.Check check;
    private volatile Revoked revoked = NONE;
    private FileStamp refused;

    RevocationCheckingTrustManager(X509ExtendedTrustManager delegate, Path directory, X509Certificate authority,
                                   long intervalMillis) {
        this.delegate = delegate;
        this.file = directory.resolve(TlsIdentity.CRL_FILE);
        this.authority = authority;
        this.check = new FileStamp.Check(intervalMillis);
        load(false);
    }

    /** Serials revoked in the list now in force. */
    public java.util.Set<BigInteger> revokedSerials() {
        return revoked.serials().keySet();
    }

    /** Reads the list again if its file changed; public for tools and tests that must not wait. */
    public void reloadIfChanged() {
        load(true);
    }

    /**
     * Reads the list if its file changed since last read; {@code announce}: log a change of what
     * is revoked (not at start: an admin verb's output stays one line).
     */
    private synchronized void load(boolean announce) {
        FileStamp stamp;
        try {
            stamp = FileStamp.of(file);
        } catch (java.nio.file.NoSuchFileException e) {
            revoked = NONE;
            return;
        } catch (IOException e) {
            return;
        }
        if (stamp.equals(revoked.stamp()) || stamp.equals(refused)) {
            return;
        }
        try {
            X509CRL crl = Pem.readCrl(file);
            if (!crl.getIssuerX500Principal().equals(authority.getSubjectX500Principal())) {
                throw new IOException("it was issued by " + crl.getIssuerX500Principal() + ", not this cluster's CA");
            }
            crl.verify(authority.getPublicKey());
            Map<BigInteger, java.util.Date> serials = new TreeMap<>();
            if (crl.getRevokedCertificates() != null) {
                for (X509CRLEntry entry : crl.getRevokedCertificates()) {
                    serials.put(entry.getSerialNumber(), entry.getRevocationDate());
                }
            }
            boolean changed = !serials.keySet().equals(revoked.serials().keySet());
            revoked = new Revoked(Map.copyOf(serials), stamp);
            refused = null;
            if (changed && announce) {
                log.info("TLS: {} certificate(s) revoked by the cluster CA now refused ({})", serials.size(), file);
            }
        } catch (IOException | GeneralSecurityException | RuntimeException e) {
            if (!stamp.equals(refused)) {
                refused = stamp;
                log.warn("TLS: not taking the revocation list {}: {}; the {} revocation(s) in force stay", file,
                        e.getMessage(), revoked.serials().size());
            }
        }
    }

    private void checkRevoked(X509Certificate[] chain) throws CertificateException {
        if (check.due()) {
            reloadIfChanged();
        }
        if (chain == null || chain.length == 0) {
            return; // the delegate has refused it already
        }
        java.util.Date when = revoked.serials().get(chain[0].getSerialNumber());
        if (when != null) {
            throw new CertificateException("the certificate of " + Role.holderName(chain[0]) + " (serial "
                    + chain[0].getSerialNumber().toString(16) + ") was revoked by the cluster CA on " + when.toInstant());
        }
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        delegate.checkClientTrusted(chain, authType);
        checkRevoked(chain);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType) throws CertificateException {
        delegate.checkServerTrusted(chain, authType);
        checkRevoked(chain);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        delegate.checkClientTrusted(chain, authType, socket);
        checkRevoked(chain);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, Socket socket) throws CertificateException {
        delegate.checkServerTrusted(chain, authType, socket);
        checkRevoked(chain);
    }

    @Override
    public void checkClientTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
            throws CertificateException {
        delegate.checkClientTrusted(chain, authType, engine);
        checkRevoked(chain);
    }

    @Override
    public void checkServerTrusted(X509Certificate[] chain, String authType, SSLEngine engine)
            throws CertificateException {
        delegate.checkServerTrusted(chain, authType, engine);
        checkRevoked(chain);
    }

    @Override
    public X509Certificate[] getAcceptedIssuers() {
        return delegate.getAcceptedIssuers();
    }
}
