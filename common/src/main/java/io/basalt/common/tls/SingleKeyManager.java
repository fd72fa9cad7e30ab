package io.basalt.common.tls;

import java.net.Socket;
import java.security.Principal;
import java.security.PrivateKey;
import java.security.cert.X509Certificate;
import java.util.Locale;
import javax.net.ssl.SSLEngine;
import javax.net.ssl.X509ExtendedKeyManager;

/**
 * A key manager over one private key and its certificate chain, held in memory under one alias.
 *
 * <p>Why not the JDK's: its key managers only take a {@code KeyStore}, and a PKCS#12 key store
 * encrypts every private key put into it (PBKDF2, 10,000 HMAC-SHA256 rounds) and decrypts it again
 * for the key manager. For a key that never leaves memory that is pure cost: it was the largest
 * single item in a JFR profile of a chunk server's start, and 50-80 ms of CPU measured alone (C1),
 * in every daemon and every admin verb, which all load an identity (docs/performance.md).
 *
 * <p>Choosing follows the JDK's rules where they matter for one key: the key type asked for
 * ({@code "EC"}, {@code "RSA"}, or {@code "EC_EC"}-style key and signature types) must be the key's,
 * and when the peer names acceptable issuers, some certificate of the chain must be issued by one of
 * them. Anything else (curve against signature scheme) the TLS engine checks after choosing, as it
 * does with the JDK's key manager.
 */
final class SingleKeyManager extends X509ExtendedKeyManager {
    private final String alias;
    private final PrivateKey key;
    private final X509Certificate[] chain;

    SingleKeyManager(String alias, PrivateKey key, X509Certificate[] chain) {
        if (chain.length == 0) {
            throw new IllegalArgumentException("an empty certificate chain for " + alias);
        }
        this.alias = alias;
        this.key = key;
        this.chain = chain.clone();
    }

    /** Whether this key serves {@code keyType} for a peer that accepts {@code issuers} (null: any). */
    boolean serves(String keyType, Principal[] issuers) {
        if (keyType == null) {
            return false;
        }
        int separator = keyType.indexOf('_');
        String keyAlgorithm = separator < 0 ? keyType : keyType.substring(0, separator);
        if (!sameKeyAlgorithm(keyAlgorithm, key.getAlgorithm())) {
            return false;
        }
        if (separator >= 0) {
            String signedWith = keyType.substring(separator + 1).toUpperCase(Locale.ROOT);
            if (!chain[0].getSigAlgName().toUpperCase(Locale.ROOT).contains("WITH" + signedWith)) {
                return false;
            }
        }
        if (issuers == null || issuers.length == 0) {
            return true;
        }
        for (X509Certificate certificate : chain) {
            for (Principal issuer : issuers) {
                if (certificate.getIssuerX500Principal().equals(issuer)) {
                    return true;
                }
            }
        }
        return false;
    }

    private static boolean sameKeyAlgorithm(String asked, String held) {
        if (asked.equalsIgnoreCase(held)) {
            return true;
        }
        // The JDK names an Ed25519 key "EdDSA" (or "Ed25519"); engines may ask for either.
        return isEdDsa(asked) && isEdDsa(held);
    }

    private static boolean isEdDsa(String algorithm) {
        return algorithm.equalsIgnoreCase("EdDSA") || algorithm.equalsIgnoreCase("Ed25519");
    }

    private String choose(String[] keyTypes, Principal[] issuers) {
        if (keyTypes != null) {
            for (String keyType : keyTypes) {
                if (serves(keyType, issuers)) {
                    return alias;
                }
            }
        }
        return null;
    }

    private String[] aliases(String keyType, Principal[] issuers) {
        return serves(keyType, issuers) ? new String[] {alias} : null;
    }

    @Override
    public String[] getClientAliases(String keyType, Principal[] issuers) {
        return aliases(keyType, issuers);
    }

    @Override
    public String chooseClientAlias(String[] keyTypes, Principal[] issuers, Socket socket) {
        return choose(keyTypes, issuers);
    }

    @Override
    public String chooseEngineClientAlias(String[] keyTypes, Principal[] issuers, SSLEngine engine) {
        return choose(keyTypes, issuers);
    }

    @Override
    public String[] getServerAliases(String keyType, Principal[] issuers) {
        return aliases(keyType, issuers);
    }

    @Override
    public String chooseServerAlias(String keyType, Principal[] issuers, Socket socket) {
        return choose(new String[] {keyType}, issuers);
    }

    @Override
    public String chooseEngineServerAlias(String keyType, Principal[] issuers, SSLEngine engine) {
        return choose(new String[] {keyType}, issuers);
    }

    @Override
    public X509Certificate[] getCertificateChain(String asked) {
        return alias.equals(asked) ? chain.clone() : null;
    }

    @Override
    public PrivateKey getPrivateKey(String asked) {
        return alias.equals(asked) ? key : null;
    }

    @Override
    public String toString() {
        return "SingleKeyManager[" + alias + ", " + chain[0].getSubjectX500Principal() + ", "
                + chain.length + " certificates]";
    }
}
