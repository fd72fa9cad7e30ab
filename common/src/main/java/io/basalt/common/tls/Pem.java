package io.basalt.common.tls;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyFactory;
import java.security.PrivateKey;
import java.security.cert.CertificateException;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.security.spec.PKCS8EncodedKeySpec;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;

/**
 * PEM files (RFC 7468): certificates ({@code CERTIFICATE}) and PKCS#8 private keys
 * ({@code PRIVATE KEY}), the forms OpenSSL, GnuTLS (nbdinfo, qemu) and Netty all read. The DER
 * inside is the JDK's: this class only wraps it in base64 lines.
 */
public final class Pem {
    private static final String KEY_LABEL = "PRIVATE KEY";

    private Pem() {}

    public static String encode(String label, byte[] der) {
        String body = Base64.getMimeEncoder(64, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(der);
        return "-----BEGIN " + label + "-----\n" + body + "\n-----END " + label + "-----\n";
    }

    /** Writes {@code certificates} (leaf first) to {@code file}, readable by all. */
    public static void writeCertificates(Path file, List<X509Certificate> certificates) throws IOException {
        StringBuilder text = new StringBuilder();
        try {
            for (X509Certificate certificate : certificates) {
                text.append(encode("CERTIFICATE", certificate.getEncoded()));
            }
        } catch (CertificateException e) {
            throw new IOException("cannot encode a certificate: " + e.getMessage(), e);
        }
        writeAtomically(file, text.toString(), "rw-r--r--");
    }

    /** Writes {@code key} (PKCS#8) to {@code file}, mode 0600: created so, never readable by others. */
    public static void writePrivateKey(Path file, PrivateKey key) throws IOException {
        writeAtomically(file, encode(KEY_LABEL, key.getEncoded()), "rw-------");
    }

    /**
     * Writes a P-256 key pair as PKCS#8 that carries the public key too, mode 0600. The JDK's own
     * encoding leaves the optional public key out of the inner ECPrivateKey, and GnuTLS (nbdinfo,
     * qemu) refuses such a file ("ASN1 parser: Element was not found"); Java and BoringSSL read
     * both. DER, every length fixed by the curve (RFC 5208, RFC 5915, RFC 5480):
     *
     * <pre>
     * 30 81 87                                  PrivateKeyInfo, 135 bytes
     *   02 01 00                                  version 0
     *   30 13 06 07 2A8648CE3D0201                AlgorithmIdentifier: id-ecPublicKey,
     *         06 08 2A8648CE3D030107                prime256v1
     *   04 6D                                     OCTET STRING, 109 bytes:
     *     30 6B                                     ECPrivateKey, 107 bytes
     *       02 01 01                                  version 1
     *       04 20 [32 bytes]                          privateKey, big-endian scalar
     *       A1 44 03 42 00 04 [32 bytes X][32 bytes Y]  [1] publicKey, uncompressed point
     * </pre>
     */
    public static void writeEcP256PrivateKey(Path file, java.security.interfaces.ECPrivateKey key,
            java.security.interfaces.ECPublicKey publicKey) throws IOException {
        byte[] head = java.util.HexFormat.of().parseHex("308187020100301306072a8648ce3d020106082a8648ce3d030107"
                + "046d306b0201010420");
        byte[] publicHead = java.util.HexFormat.of().parseHex("a144034200" + "04");
        java.io.ByteArrayOutputStream der = new java.io.ByteArrayOutputStream(138);
        der.writeBytes(head);
        der.writeBytes(unsigned32(key.getS()));
        der.writeBytes(publicHead);
        der.writeBytes(unsigned32(publicKey.getW().getAffineX()));
        der.writeBytes(unsigned32(publicKey.getW().getAffineY()));
        byte[] encoded = der.toByteArray();
        if (encoded.length != 138) {
            throw new IllegalStateException("P-256 PKCS#8 of " + encoded.length + " bytes (expected 138)");
        }
        writeAtomically(file, encode(KEY_LABEL, encoded), "rw-------");
    }

    /** A P-256 field element or scalar as exactly 32 big-endian bytes. */
    private static byte[] unsigned32(java.math.BigInteger value) {
        byte[] bytes = value.toByteArray();
        byte[] fixed = new byte[32];
        int copy = Math.min(bytes.length, 32);
        if (bytes.length > 33 || (bytes.length == 33 && bytes[0] != 0)) {
            throw new IllegalArgumentException("not a P-256 value: " + bytes.length + " bytes");
        }
        System.arraycopy(bytes, bytes.length - copy, fixed, 32 - copy, copy);
        return fixed;
    }

    /**
     * Writes a temporary file with its final mode from the start (a key is never briefly
     * world-readable), then renames it over {@code file}: a reader sees the old or the new file.
     */
    private static void writeAtomically(Path file, String text, String mode) throws IOException {
        io.basalt.common.io.DurableFiles.replaceAtomically(file, text, mode);
    }

    /** Writes {@code crl} to {@code file} (PEM "X509 CRL"), readable by all, atomically. */
    public static void writeCrl(Path file, java.security.cert.X509CRL crl) throws IOException {
        try {
            writeAtomically(file, encode("X509 CRL", crl.getEncoded()), "rw-r--r--");
        } catch (java.security.cert.CRLException e) {
            throw new IOException("cannot encode a CRL: " + e.getMessage(), e);
        }
    }

    /** The CRL in {@code file} (PEM or DER); its signature is not checked here. */
    public static java.security.cert.X509CRL readCrl(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            return (java.security.cert.X509CRL) CertificateFactory.getInstance("X.509").generateCRL(in);
        } catch (CertificateException | java.security.cert.CRLException e) {
            throw new IOException(file + " is not a PEM CRL file: " + e.getMessage(), e);
        }
    }

    /** Every certificate in {@code file}, in order. */
    public static List<X509Certificate> readCertificates(Path file) throws IOException {
        try (InputStream in = Files.newInputStream(file)) {
            List<X509Certificate> certificates = new ArrayList<>();
            for (var certificate : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                certificates.add((X509Certificate) certificate);
            }
            if (certificates.isEmpty()) {
                throw new IOException(file + " holds no certificate");
            }
            return certificates;
        } catch (CertificateException e) {
            throw new IOException(file + " is not a PEM certificate file: " + e.getMessage(), e);
        }
    }

    /** The PKCS#8 private key in {@code file}, of {@code algorithm} (EC, RSA: the certificate's). */
    public static PrivateKey readPrivateKey(Path file, String algorithm) throws IOException {
        String text = Files.readString(file, StandardCharsets.US_ASCII);
        String begin = "-----BEGIN " + KEY_LABEL + "-----";
        String end = "-----END " + KEY_LABEL + "-----";
        int from = text.indexOf(begin);
        int to = text.indexOf(end);
        if (from < 0 || to < from) {
            throw new IOException(file + " holds no PKCS#8 \"" + KEY_LABEL + "\" block");
        }
        byte[] der = Base64.getMimeDecoder().decode(text.substring(from + begin.length(), to));
        try {
            return KeyFactory.getInstance(algorithm).generatePrivate(new PKCS8EncodedKeySpec(der));
        } catch (GeneralSecurityException e) {
            throw new IOException(file + " is not a " + algorithm + " private key: " + e.getMessage(), e);
        }
    }

    /** Parses one DER certificate (for tests and callers holding bytes). */
    public static X509Certificate certificate(byte[] der) throws CertificateException {
        return (X509Certificate) CertificateFactory.getInstance("X.509")
                .generateCertificate(new ByteArrayInputStream(der));
    }
}
