package io.basalt.common.tls;

import java.io.IOException;
import java.math.BigInteger;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.GeneralSecurityException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.PrivateKey;
import java.security.SecureRandom;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Duration;
import java.time.Instant;
import java.util.Date;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.Vector;
import sun.security.util.ObjectIdentifier;
import sun.security.x509.AlgorithmId;
import sun.security.x509.AuthorityKeyIdentifierExtension;
import sun.security.x509.BasicConstraintsExtension;
import sun.security.x509.CertificateAlgorithmId;
import sun.security.x509.CertificateExtensions;
import sun.security.x509.CertificateSerialNumber;
import sun.security.x509.CertificateValidity;
import sun.security.x509.CertificateVersion;
import sun.security.x509.CertificateX509Key;
import sun.security.x509.DNSName;
import sun.security.x509.ExtendedKeyUsageExtension;
import sun.security.x509.GeneralName;
import sun.security.x509.GeneralNames;
import sun.security.x509.IPAddressName;
import sun.security.x509.KeyIdentifier;
import sun.security.x509.KeyUsageExtension;
import sun.security.x509.SubjectAlternativeNameExtension;
import sun.security.x509.SubjectKeyIdentifierExtension;
import sun.security.x509.X500Name;
import sun.security.x509.X509CertImpl;
import sun.security.x509.X509CertInfo;

/**
 * The cluster's certificate authority: a CA key and self-signed certificate in one directory, and
 * the certificates it signs for meta members, chunk servers, gateways and admins (role in the
 * subject's OU, see {@link Role}).
 *
 * <p>Design note. The JDK signs and encodes X.509 itself ({@code sun.security.x509}, the code
 * behind keytool -gencert); BouncyCastle's certificate builder (bcpkix) is not among the build's
 * dependencies, and hand-written ASN.1 is what we will not own. The price: this module compiles
 * with {@code --add-exports java.base/sun.security.{x509,util}} (so without {@code --release}, see
 * common/pom.xml) and the JVMs that issue (basalt up, basalt cert, tests) run with the same
 * exports. Readers of certificates use only public JDK API.
 *
 * <p>Keys: the CA's is EC P-256 (signatures with ECDSA-SHA256; only Java reads its key file).
 * Holders' keys are EC P-256 too (ECDSA in the handshake), written as PKCS#8 with the public key
 * inside ({@link Pem#writeEcP256PrivateKey}) because GnuTLS (nbdinfo, qemu) reads their key files
 * too and refuses the JDK's encoding, which leaves it out. Before, holders' keys were Ed25519 (its
 * PKCS#8 every stack reads), but BoringSSL, the data protocol's TLS provider (DataTls), offers no
 * Ed25519 signature algorithm and refuses such a peer (NO_COMMON_SIGNATURE_ALGORITHMS); older
 * Ed25519 identities still load, and basalt up reissues them (ClusterCertificates). RSA stays out:
 * a GnuTLS client (3.7) does not offer an RSA certificate to a JDK server, whose TLS 1.3
 * certificate request lists RSA only as RSA-PSS.
 * Leaf certificates carry serverAuth and clientAuth (a chunk server serves and connects),
 * and the subject alternative names the holder is reached at (localhost and 127.0.0.1 always, for
 * the tools on the same machine).
 */
public final class CertificateAuthority {
    public static final String CA_KEY_FILE = "ca-key.pem";
    public static final String CA_CERT_FILE = TlsIdentity.CA_CERT_FILE;
    /** The CA's certificate revocation list, also copied into holders' directories. */
    public static final String CRL_FILE = TlsIdentity.CRL_FILE;
    private static final String SIGNATURE = "SHA256withECDSA";
    /** Backdated so a peer whose clock is a little behind the CA's still accepts a fresh certificate. */
    private static final Duration CLOCK_SKEW = Duration.ofHours(1);
    private static final String SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
    private static final String CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";

    private final Path directory;
    private final X509Certificate certificate;
    private final PrivateKey key;
    private final SecureRandom random = new SecureRandom();

    private CertificateAuthority(Path directory, X509Certificate certificate, PrivateKey key) {
        this.directory = directory;
        this.certificate = certificate;
        this.key = key;
    }

    public X509Certificate certificate() {
        return certificate;
    }

    public Path directory() {
        return directory;
    }

    public static boolean existsIn(Path directory) {
        return Files.isRegularFile(directory.resolve(CA_CERT_FILE));
    }

    /**
     * Creates a CA in {@code directory} (made mode 0700; the key file 0600). Refuses to replace one:
     * every certificate it signed would stop being trusted.
     */
    public static CertificateAuthority create(Path directory, String clusterName, Duration validity)
            throws IOException {
        if (existsIn(directory)) {
            throw new IOException("a CA already exists in " + directory.toAbsolutePath()
                    + "; remove the directory first to start a new one (every certificate it signed stops working)");
        }
        createPrivateDirectory(directory);
        try {
            KeyPair pair = newKeyPair();
            X500Name subject = new X500Name("CN=basalt cluster CA " + clusterName + ", O=basalt");
            CertificateExtensions extensions = new CertificateExtensions();
            extensions.setExtension(BasicConstraintsExtension.NAME, new BasicConstraintsExtension(true, true, 0));
            KeyUsageExtension usage = new KeyUsageExtension();
            usage.set(KeyUsageExtension.KEY_CERTSIGN, true);
            usage.set(KeyUsageExtension.CRL_SIGN, true);
            extensions.setExtension(KeyUsageExtension.NAME, usage);
            extensions.setExtension(SubjectKeyIdentifierExtension.NAME,
                    new SubjectKeyIdentifierExtension(new KeyIdentifier(pair.getPublic()).getIdentifier()));
            X509Certificate certificate = sign(subject, subject, pair, pair.getPrivate(), validity, extensions,
                    new SecureRandom());
            Pem.writePrivateKey(directory.resolve(CA_KEY_FILE), pair.getPrivate());
            Pem.writeCertificates(directory.resolve(CA_CERT_FILE), List.of(certificate));
            return new CertificateAuthority(directory, certificate, pair.getPrivate());
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot create the CA: " + e.getMessage(), e);
        }
    }

    /** The CA in {@code directory}. */
    public static CertificateAuthority open(Path directory) throws IOException {
        if (!existsIn(directory)) {
            throw new IOException("no CA in " + directory.toAbsolutePath() + "; create one with: basalt cert init");
        }
        X509Certificate certificate = Pem.readCertificates(directory.resolve(CA_CERT_FILE)).getFirst();
        PrivateKey key = Pem.readPrivateKey(directory.resolve(CA_KEY_FILE), certificate.getPublicKey().getAlgorithm());
        return new CertificateAuthority(directory, certificate, key);
    }

    /**
     * Issues a certificate for {@code name} in {@code role}, reachable as {@code hosts} (names or
     * addresses, besides localhost and 127.0.0.1), into the identity directory {@code target}
     * (layout in {@link TlsIdentity}); replaces what was there.
     */
    public X509Certificate issue(Path target, Role role, String name, List<String> hosts, Duration validity)
            throws IOException {
        if (name.isBlank() || name.contains(",") || name.contains("=") || name.contains("+")) {
            throw new IllegalArgumentException("certificate name \"" + name + "\" must be a plain word (no , = +)");
        }
        createPrivateDirectory(target);
        try {
            KeyPair pair = newHolderKeyPair();
            X500Name subject = new X500Name("CN=" + name + ", OU=" + role.label() + ", O=basalt");
            CertificateExtensions extensions = new CertificateExtensions();
            extensions.setExtension(BasicConstraintsExtension.NAME, new BasicConstraintsExtension(true, false, -1));
            KeyUsageExtension usage = new KeyUsageExtension();
            usage.set(KeyUsageExtension.DIGITAL_SIGNATURE, true);
            extensions.setExtension(KeyUsageExtension.NAME, usage);
            Vector<ObjectIdentifier> purposes = new Vector<>();
            purposes.add(ObjectIdentifier.of(SERVER_AUTH));
            purposes.add(ObjectIdentifier.of(CLIENT_AUTH));
            extensions.setExtension(ExtendedKeyUsageExtension.NAME, new ExtendedKeyUsageExtension(purposes));
            extensions.setExtension(SubjectAlternativeNameExtension.NAME,
                    new SubjectAlternativeNameExtension(alternativeNames(hosts)));
            extensions.setExtension(SubjectKeyIdentifierExtension.NAME,
                    new SubjectKeyIdentifierExtension(new KeyIdentifier(pair.getPublic()).getIdentifier()));
            extensions.setExtension(AuthorityKeyIdentifierExtension.NAME, new AuthorityKeyIdentifierExtension(
                    new KeyIdentifier(certificate.getPublicKey()), null, null));
            X500Name issuer = new X500Name(certificate.getSubjectX500Principal().getName());
            X509Certificate issued = sign(subject, issuer, pair, key, validity, extensions, random);
            Pem.writeEcP256PrivateKey(target.resolve(TlsIdentity.KEY_FILE),
                    (java.security.interfaces.ECPrivateKey) pair.getPrivate(),
                    (java.security.interfaces.ECPublicKey) pair.getPublic());
            Pem.writeCertificates(target.resolve(TlsIdentity.CERT_FILE), List.of(issued, certificate));
            Pem.writeCertificates(target.resolve(TlsIdentity.CA_CERT_FILE), List.of(certificate));
            publishCrl(target);
            for (String link : TlsIdentity.GNUTLS_LINKS) {
                Path linkPath = target.resolve(link);
                Files.deleteIfExists(linkPath);
                Files.createSymbolicLink(linkPath, Path.of(link.endsWith("key.pem")
                        ? TlsIdentity.KEY_FILE : TlsIdentity.CERT_FILE));
            }
            return issued;
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot issue a certificate for " + name + ": " + e.getMessage(), e);
        }
    }

    /**
     * Adds {@code serials} to the CA's revocation list ({@link #CRL_FILE} in its directory, made if
     * none): a new CRL with every serial revoked so far, signed by the CA, written atomically.
     * Holders refuse a revoked certificate once the CRL is in their directory
     * ({@link #publishCrl}). Returns the new list.
     */
    public java.security.cert.X509CRL revoke(List<BigInteger> serials) throws IOException {
        java.util.Map<BigInteger, Date> revoked = new java.util.TreeMap<>();
        java.security.cert.X509CRL current = crl();
        if (current != null && current.getRevokedCertificates() != null) {
            for (java.security.cert.X509CRLEntry entry : current.getRevokedCertificates()) {
                revoked.put(entry.getSerialNumber(), entry.getRevocationDate());
            }
        }
        Date now = new Date();
        for (BigInteger serial : serials) {
            revoked.putIfAbsent(serial, now);
        }
        try {
            java.security.cert.X509CRLEntry[] entries = revoked.entrySet().stream()
                    .map(e -> new sun.security.x509.X509CRLEntryImpl(e.getKey(), e.getValue()))
                    .toArray(java.security.cert.X509CRLEntry[]::new);
            X500Name issuer = new X500Name(certificate.getSubjectX500Principal().getName());
            // Valid as long as the CA: holders check the signature and the issuer, not freshness,
            // since nothing fetches a CRL over the network here (the files are pushed).
            sun.security.x509.X509CRLImpl.TBSCertList list = new sun.security.x509.X509CRLImpl.TBSCertList(issuer, now,
                    certificate.getNotAfter(), entries);
            java.security.cert.X509CRL crl = sun.security.x509.X509CRLImpl.newSigned(list, key, SIGNATURE);
            Pem.writeCrl(directory.resolve(CRL_FILE), crl);
            return crl;
        } catch (GeneralSecurityException e) {
            throw new IOException("cannot sign the revocation list: " + e.getMessage(), e);
        }
    }

    /** The CA's revocation list, or null when nothing was ever revoked. */
    public java.security.cert.X509CRL crl() throws IOException {
        Path file = directory.resolve(CRL_FILE);
        return Files.isRegularFile(file) ? Pem.readCrl(file) : null;
    }

    /** Copies the CA's revocation list (if any) into the holder directory {@code target}. */
    public void publishCrl(Path target) throws IOException {
        java.security.cert.X509CRL crl = crl();
        if (crl != null) {
            Pem.writeCrl(target.resolve(CRL_FILE), crl);
        }
    }

    private static GeneralNames alternativeNames(List<String> hosts) throws IOException {
        Set<String> all = new LinkedHashSet<>(List.of("localhost", "127.0.0.1"));
        all.addAll(hosts);
        GeneralNames names = new GeneralNames();
        for (String host : all) {
            if (host.isBlank()) {
                continue;
            }
            boolean literal = host.contains(":") || host.chars().allMatch(c -> c == '.' || Character.isDigit(c));
            if (literal) {
                // An address literal: InetAddress parses it without a lookup.
                names.add(new GeneralName(new IPAddressName(InetAddress.ofLiteral(host).getAddress())));
            } else {
                names.add(new GeneralName(new DNSName(host)));
            }
        }
        return names;
    }

    private static X509Certificate sign(X500Name subject, X500Name issuer, KeyPair subjectKeys, PrivateKey signer,
            Duration validity, CertificateExtensions extensions, SecureRandom random)
            throws IOException, GeneralSecurityException {
        Instant now = Instant.now();
        X509CertInfo info = new X509CertInfo();
        info.setVersion(new CertificateVersion(CertificateVersion.V3));
        // 127 random bits: serials must be unique per CA and positive (RFC 5280 4.1.2.2).
        info.setSerialNumber(new CertificateSerialNumber(new BigInteger(127, random)));
        info.setAlgorithmId(new CertificateAlgorithmId(AlgorithmId.get(SIGNATURE)));
        info.setSubject(subject);
        info.setIssuer(issuer);
        info.setValidity(new CertificateValidity(Date.from(now.minus(CLOCK_SKEW)), Date.from(now.plus(validity))));
        info.setKey(new CertificateX509Key(subjectKeys.getPublic()));
        info.setExtensions(extensions);
        return X509CertImpl.newSigned(info, signer, SIGNATURE);
    }

    private static KeyPair newKeyPair() throws GeneralSecurityException {
        KeyPairGenerator generator = KeyPairGenerator.getInstance("EC");
        generator.initialize(new ECGenParameterSpec("secp256r1"));
        return generator.generateKeyPair();
    }

    private static KeyPair newHolderKeyPair() throws GeneralSecurityException {
        return newKeyPair();
    }

    private static void createPrivateDirectory(Path directory) throws IOException {
        if (!Files.isDirectory(directory)) {
            Files.createDirectories(directory, PosixFilePermissions.asFileAttribute(
                    PosixFilePermissions.fromString("rwx------")));
        }
    }
}
