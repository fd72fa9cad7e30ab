package io.basalt.common.tls;

import io.basalt.common.io.FileStamp;
import java.io.IOException;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.Signature;
import java.security.cert.X509Certificate;
import java.util.List;
import javax.net.ssl.KeyManager;
import javax.net.ssl.KeyManagerFactory;
import javax.net.ssl.KeyManagerFactorySpi;
import javax.net.ssl.ManagerFactoryParameters;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedKeyManager;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The key manager of a holder that picks up a reissued certificate without a restart
 * (docs/security.md, "Rotation"). Each handshake (both the JDK's engine and BoringSSL's ask their
 * key manager on every handshake) first looks, at most once per check interval, whether
 * {@code cert.pem} or {@code key.pem} changed (modification time or size); if so it reads them
 * and, when they are a consistent pair for the same holder, presents the new certificate from then
 * on. Connections already open keep the session they have.
 *
 * <p>What a reload must pass, else the old certificate stays and one WARN line says why (once per
 * change of the files): the key matches the certificate (a rotation caught between writing the
 * key and the certificate is simply retried at the next check), the certificate chains to the
 * cluster CA this holder trusts, is valid now, and names the same holder and role as the one it
 * replaces (rotation renews; it does not rename: a chunk server's id is bound to its name).
 *
 * <p>Aliases carry a generation, and the previous material is kept, so a handshake that chose an
 * alias just before a reload still gets that alias' certificate and key together. Thread-safe.
 */
public final class ReloadingKeyManager extends X509ExtendedKeyManager {
    private static final Logger log = LoggerFactory.getLogger(ReloadingKeyManager.class);
    /** How often the files are looked at, at most: {@code -Dbasalt.tls.reloadCheckMillis}. */
    static final long CHECK_INTERVAL_MILLIS = Long.getLong("basalt.tls.reloadCheckMillis", 2000);

    /** One loaded certificate and key, behind a key manager whose alias names the generation. */
    private record Material(int generation, X509ExtendedKeyManager delegate, X509Certificate leaf, FileStamp stamp) {}

    private final Path directory;
    private final String holder;
    private final Role role;
    private final X509Certificate authority;
    private final FileStamp.Check check;
    private volatile Material current;
    private volatile Material previous;
    /** The files' stamp of the last refused reload, so that one change is reported once. */
    private FileStamp refused;

    private ReloadingKeyManager(Path directory, X509Certificate authority, Material first, long intervalMillis) {
        this.directory = directory;
        this.authority = authority;
        this.current = first;
        this.holder = Role.holderName(first.leaf());
        this.role = Role.of(first.leaf()).orElse(null);
        this.check = new FileStamp.Check(intervalMillis);
    }

    /** Reads {@code directory}'s certificate and key; they must be a pair, or an IOException says so. */
    static ReloadingKeyManager load(Path directory, X509Certificate authority) throws IOException {
        return load(directory, authority, CHECK_INTERVAL_MILLIS);
    }

    static ReloadingKeyManager load(Path directory, X509Certificate authority, long intervalMillis)
            throws IOException {
        return new ReloadingKeyManager(directory, authority, read(directory, 1), intervalMillis);
    }

    /** A factory whose only key manager is this one (what SSL contexts and Ratis' TLS config take). */
    KeyManagerFactory factory() {
        KeyManager[] managers = {this};
        KeyManagerFactorySpi spi = new KeyManagerFactorySpi() {
            @Override
            protected void engineInit(KeyStore keyStore, char[] password) {}

            @Override
            protected void engineInit(ManagerFactoryParameters parameters) {}

            @Override
            protected KeyManager[] engineGetKeyManagers() {
                return managers.clone();
            }
        };
        return new KeyManagerFactory(spi, java.security.Security.getProvider("SunJSSE"), "basalt-reloading") {};
    }

    /** The certificate presented now. */
    public X509Certificate certificate() {
        return material().leaf();
    }

    private static Material read(Path directory, int generation) throws IOException {
        FileStamp stamp = stamp(directory);
        List<X509Certificate> chain = Pem.readCertificates(directory.resolve(TlsIdentity.CERT_FILE));
        X509Certificate leaf = chain.getFirst();
        PrivateKey key = Pem.readPrivateKey(directory.resolve(TlsIdentity.KEY_FILE), leaf.getPublicKey().getAlgorithm());
        try {
            checkPair(leaf, key);
            return new Material(generation, new SingleKeyManager("self-" + generation, key,
                    chain.toArray(X509Certificate[]::new)), leaf, stamp);
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot use the credentials in " + directory + ": " + e.getMessage(), e);
        }
    }

    /** The key signs what the certificate's public key verifies: they are a pair. */
    private static void checkPair(X509Certificate leaf, PrivateKey key) throws GeneralSecurityException, IOException {
        String algorithm = switch (key.getAlgorithm()) {
            case "EC" -> "SHA256withECDSA";
            case "Ed25519", "EdDSA" -> "Ed25519";
            case "RSA" -> "SHA256withRSA";
            default -> null;
        };
        if (algorithm == null) {
            return; // an algorithm we do not issue: left to the handshake
        }
        byte[] probe = new byte[32];
        new SecureRandom().nextBytes(probe);
        Signature signer = Signature.getInstance(algorithm);
        signer.initSign(key);
        signer.update(probe);
        byte[] signature = signer.sign();
        Signature verifier = Signature.getInstance(algorithm);
        verifier.initVerify(leaf.getPublicKey());
        verifier.update(probe);
        if (!verifier.verify(signature)) {
            throw new IOException(TlsIdentity.KEY_FILE + " is not the key of " + TlsIdentity.CERT_FILE);
        }
    }

    private static FileStamp stamp(Path directory) throws IOException {
        return FileStamp.of(directory.resolve(TlsIdentity.CERT_FILE), directory.resolve(TlsIdentity.KEY_FILE));
    }

    /** The current material, after a look at the files when the check interval has passed. */
    private Material material() {
        if (check.due()) {
            reloadIfChanged();
        }
        return current;
    }

    /** Reads the files again if they changed; public for tools and tests that must not wait. */
    public synchronized void reloadIfChanged() {
        Material old = current;
        FileStamp stamp;
        try {
            stamp = stamp(directory);
        } catch (IOException e) {
            return; // a file is being replaced: look again at the next check
        }
        if (stamp.equals(old.stamp()) || stamp.equals(refused)) {
            return;
        }
        try {
            Material next = read(directory, old.generation() + 1);
            X509Certificate leaf = next.leaf();
            String name = Role.holderName(leaf);
            if (!name.equals(holder) || Role.of(leaf).orElse(null) != role) {
                throw new IOException("it names " + name + " (role " + Role.of(leaf).map(Role::label).orElse("none")
                        + "), not " + holder + " (role " + (role == null ? "none" : role.label())
                        + "): rotation renews a holder's certificate, it does not rename it");
            }
            leaf.checkValidity();
            leaf.verify(authority.getPublicKey());
            previous = old;
            current = next;
            refused = null;
            log.info("TLS: now presenting the reissued certificate of {} in {} (serial {}, valid until {});"
                    + " connections already open keep theirs", holder, directory, leaf.getSerialNumber().toString(16),
                    leaf.getNotAfter().toInstant());
        } catch (IOException | GeneralSecurityException | RuntimeException e) {
            if (!stamp.equals(refused)) {
                refused = stamp;
                log.warn("TLS: not taking the changed certificate in {}: {}; still presenting serial {} (looked at"
                        + " again when the files change)", directory, e.getMessage(),
                        old.leaf().getSerialNumber().toString(16));
            }
        }
    }

    /** The material whose key manager knows {@code alias}: the current one, or the one before it. */
    private X509ExtendedKeyManager owner(String alias) {
        Material now = current;
        if (alias == null || now.delegate().getPrivateKey(alias) != null) {
            return now.delegate();
        }
        Material before = previous;
        return before != null && before.delegate().getPrivateKey(alias) != null ? before.delegate() : now.delegate();
    }

    @Override
    public String[] getClientAliases(String keyType, Principal[] issuers) {
        return material().delegate().getClientAliases(keyType, issuers);
    }

    @Override
    public String chooseClientAlias(String[] keyType, Principal[] issuers, Socket socket) {
        return material().delegate().chooseClientAlias(keyType, issuers, socket);
    }

    @Override
    public String[] getServerAliases(String keyType, Principal[] issuers) {
        return material().delegate().getServerAliases(keyType, issuers);
    }

    @Override
    public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
        return material().delegate().chooseServerAlias(keyType, issuers, socket);
    }

    @Override
    public String chooseEngineClientAlias(String[] keyType, Principal[] issuers, SSLEngine engine) {
        return material().delegate().chooseEngineClientAlias(keyType, issuers, engine);
    }

    @Override
    public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
        return material().delegate().chooseEngineServerAlias(keyType, issuers, engine);
    }

    @Override
    public X509Certificate[] getCertificateChain(String alias) {
        return owner(alias).getCertificateChain(alias);
    }

    @Override
    public PrivateKey getPrivateKey(String alias) {
        return owner(alias).getPrivateKey(alias);
    }
}
