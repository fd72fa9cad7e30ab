package io.basalt.cli.cs;

import io.basalt.common.tls.CertificateAuthority;
import io.basalt.common.tls.Role;
import io.basalt.common.tls.TlsIdentity;
import io.basalt.protocol.data.DataTls;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

/**
 * One cluster CA per test JVM and an identity per role, so the multi-process tests run their
 * daemons with TLS on, as basalt up does: chunk servers get {@link #dir}(cs), gateways
 * (gateway), the tests' own data clients {@link #adminTls()}. Removed when the JVM exits.
 */
public final class ItTls {
    private static Path root;

    private ItTls() {}

    /** The identity directory of {@code role} (one holder per role: it-cs, it-gateway...). */
    public static synchronized Path dir(Role role) {
        try {
            if (root == null) {
                Path made = Files.createTempDirectory("basalt-it-tls");
                CertificateAuthority ca = CertificateAuthority.create(made.resolve("ca"), "it", Duration.ofDays(1));
                for (Role each : Role.values()) {
                    ca.issue(made.resolve(each.label()), each, "it-" + each.label(), List.of(), Duration.ofDays(1));
                }
                Runtime.getRuntime().addShutdownHook(new Thread(() -> delete(made)));
                root = made;
            }
            return root.resolve(role.label());
        } catch (IOException e) {
            throw new UncheckedIOException("cannot make the tests' certificates", e);
        }
    }

    /**
     * A further holder of {@code role} named {@code name}, signed by the tests' CA (another chunk
     * server's certificate, say); its identity directory.
     */
    public static synchronized Path issue(Role role, String name) {
        Path target = dir(role).resolveSibling("extra-" + name);
        try {
            if (!Files.exists(target)) {
                CertificateAuthority.open(root.resolve("ca")).issue(target, role, name, List.of(), Duration.ofDays(1));
            }
            return target;
        } catch (Exception e) {
            throw new IllegalStateException("cannot issue a certificate for " + name, e);
        }
    }

    /**
     * Reissues the certificate of {@code role}'s holder in place (same name, new key and serial),
     * as an operator rotating it would; running daemons pick it up (ReloadingKeyManager).
     */
    public static synchronized java.security.cert.X509Certificate reissue(Role role) {
        try {
            return CertificateAuthority.open(dir(role).resolveSibling("ca")).issue(dir(role), role, "it-" + role.label(),
                    List.of(), Duration.ofDays(1));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot reissue the certificate of " + role.label(), e);
        }
    }

    /**
     * Revokes the certificate now in {@code holder} and copies the CA's list into every holder
     * directory of the tests' CA, as {@code basalt cert revoke} does.
     */
    public static synchronized void revoke(Path holder) {
        try {
            CertificateAuthority ca = CertificateAuthority.open(root.resolve("ca"));
            ca.revoke(List.of(io.basalt.common.tls.Pem.readCertificates(holder.resolve(TlsIdentity.CERT_FILE))
                    .getFirst().getSerialNumber()));
            try (Stream<Path> holders = Files.list(root)) {
                for (Path each : holders.filter(p -> Files.isRegularFile(p.resolve(TlsIdentity.CERT_FILE))).toList()) {
                    ca.publishCrl(each);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException("cannot revoke " + holder, e);
        }
    }

    /** The {@code --tls-dir DIR} arguments of a daemon in {@code role}. */
    public static List<String> args(Role role) {
        return List.of("--tls-dir", dir(role).toString());
    }

    /** TLS for a test's own connections to chunk servers, as an admin. */
    public static DataTls adminTls() {
        try {
            return DataTls.of(TlsIdentity.load(dir(Role.ADMIN)), Set.of());
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void delete(Path dir) {
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        } catch (IOException ignored) {
            // a temp dir left behind is harmless
        }
    }
}
