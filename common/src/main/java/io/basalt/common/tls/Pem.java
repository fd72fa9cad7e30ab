package io.basalt.common.tls;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
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
     * Writes a temporary file with its final mode from the start (a key is never briefly
     * world-readable), then renames it over {@code file}: a reader sees the old or the new file.
     */
    private static void writeAtomically(Path file, String text, String mode) throws IOException {
        Path temporary = file.resolveSibling(file.getFileName() + ".tmp");
        Files.deleteIfExists(temporary);
        Files.createFile(temporary, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString(mode)));
        Files.writeString(temporary, text, StandardCharsets.US_ASCII);
        Files.move(temporary, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
                java.nio.file.StandardCopyOption.ATOMIC_MOVE);
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
