package io.basalt.cli;

import io.basalt.common.tls.CertificateAuthority;
import io.basalt.common.tls.Pem;
import io.basalt.common.tls.Role;
import io.basalt.common.tls.TlsIdentity;
import java.io.IOException;
import java.math.BigInteger;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code basalt cert init|issue|list|revoke}: the cluster's certificate authority for deployments
 * beyond {@code basalt up} (which does all of this by itself under DATA/tls). Files as in
 * {@link ClusterCertificates}; the trust model is docs/security.md.
 */
@Command(name = "cert", mixinStandardHelpOptions = true,
        description = {"Manage the cluster's certificates: a certificate authority (CA) and one certificate per"
                + " meta member, chunk server, gateway and admin, each carrying its role.",
                "basalt up makes all of them by itself under DATA/tls; these verbs are for daemons on other hosts.",
                "Example: basalt cert init --dir /etc/basalt/tls; basalt cert issue --dir /etc/basalt/tls"
                        + " --role cs --name cs7 --host node7.example --host 10.0.0.7;"
                        + " then: basalt cs run --tls-dir /etc/basalt/tls/cs7 ..."},
        subcommands = {CertCommand.Init.class, CertCommand.Issue.class, CertCommand.ListCerts.class,
                CertCommand.Revoke.class})
final class CertCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** --dir, defaulting to the tls directory of the basalt up cluster. */
    static final class DirOption {
        @Option(names = "--dir", paramLabel = "DIR",
                description = "The cluster's certificate directory: the CA in DIR/ca, each holder in DIR/NAME"
                        + " (default: $" + ClusterFile.DATA_ENV + "/tls, else ./" + ClusterFile.DATA_DIR_DEFAULT
                        + "/tls, where basalt up keeps its own).")
        Path dir;

        Path resolve() {
            if (dir != null) {
                return dir;
            }
            String data = System.getenv(ClusterFile.DATA_ENV);
            return ClusterCertificates.root(Path.of(data != null && !data.isBlank() ? data
                    : ClusterFile.DATA_DIR_DEFAULT));
        }
    }

    @Command(name = "init", mixinStandardHelpOptions = true,
            description = {"Create the cluster's certificate authority in DIR/ca (key file mode 600)."
                    + " Refused if one exists: every certificate it signed would stop working.",
                    "Example: basalt cert init --dir /etc/basalt/tls --name prod"})
    static final class Init implements Runnable {
        @CommandLine.Mixin
        DirOption dir;

        @Option(names = "--name", defaultValue = "basalt", paramLabel = "CLUSTER",
                description = "Cluster name in the CA's subject (default: ${DEFAULT-VALUE}).")
        String name;

        @Option(names = "--days", defaultValue = "3650", description = "Validity in days (default: ${DEFAULT-VALUE}).")
        int days;

        @Override
        public void run() {
            Path caDir = ClusterCertificates.caDir(dir.resolve());
            try {
                CertificateAuthority ca = CertificateAuthority.create(caDir, name, Duration.ofDays(days));
                System.out.printf("basalt: CA \"%s\" in %s (valid until %s); next: basalt cert issue --dir %s"
                        + " --role ROLE --name NAME%n", ca.certificate().getSubjectX500Principal().getName(), caDir,
                        ca.certificate().getNotAfter().toInstant(), dir.resolve());
            } catch (IOException e) {
                throw new UserError(e.getMessage(), e);
            }
        }
    }

    @Command(name = "issue", mixinStandardHelpOptions = true,
            description = {"Sign a certificate for one holder into DIR/NAME (or --out): cert.pem, key.pem (mode 600),"
                    + " ca-cert.pem, and the file names GnuTLS tools read (client-cert.pem, server-key.pem...).",
                    "Roles: meta (a meta member), cs (a chunk server), gateway (NBD or S3 gateway),"
                            + " admin (an operator or the admin CLI). Issuing again replaces the certificate.",
                    "Example: basalt cert issue --role gateway --name nbd2 --host gw2.example"})
    static final class Issue implements Runnable {
        @CommandLine.Mixin
        DirOption dir;

        @Option(names = "--role", required = true, paramLabel = "meta|cs|gateway|admin",
                description = "What the holder may do (docs/security.md).")
        String role;

        @Option(names = "--name", required = true, description = "Holder name, e.g. cs7 (the certificate's CN).")
        String name;

        @Option(names = "--host", paramLabel = "HOST",
                description = "A name or address the holder is reached at (repeatable); localhost and 127.0.0.1"
                        + " are always in. Clients check a chunk server's certificate names the address they dial.")
        List<String> hosts = new ArrayList<>();

        @Option(names = "--days", defaultValue = "365", description = "Validity in days (default: ${DEFAULT-VALUE}).")
        int days;

        @Option(names = "--out", paramLabel = "DIR", description = "Write here instead of DIR/NAME.")
        Path out;

        @Override
        public void run() {
            Role parsed;
            try {
                parsed = Role.parse(role);
            } catch (IllegalArgumentException e) {
                throw new UserError("--role: " + e.getMessage());
            }
            Path root = dir.resolve();
            Path target = out != null ? out : root.resolve(name);
            try {
                X509Certificate issued = CertificateAuthority.open(ClusterCertificates.caDir(root))
                        .issue(target, parsed, name, hosts, Duration.ofDays(days));
                System.out.printf("basalt: %s (role %s) in %s, valid until %s%n", name, parsed.label(), target,
                        issued.getNotAfter().toInstant());
            } catch (IllegalArgumentException e) {
                throw new UserError("--name: " + e.getMessage());
            } catch (IOException e) {
                throw new UserError(e.getMessage(), e);
            }
        }
    }

    @Command(name = "revoke", mixinStandardHelpOptions = true,
            description = {"Revoke certificates: the CA adds them to its signed revocation list (DIR/ca/crl.pem) and"
                    + " copies the list into every holder directory in DIR; running daemons refuse them from their"
                    + " next handshake (within seconds). Connections already open are not cut.",
                    "On other hosts, copy DIR/ca/crl.pem into each holder directory (as crl.pem).",
                    "To replace a holder's certificate rather than ban the holder: basalt cert issue again (same"
                            + " name), then revoke the old serial shown by basalt cert list.",
                    "Example: basalt cert revoke --name nbd2; basalt cert revoke --serial 4c96df1e36c2ac6b"})
    static final class Revoke implements Runnable {
        @CommandLine.Mixin
        DirOption dir;

        @Option(names = "--name", paramLabel = "NAME",
                description = "Revoke the certificate now in DIR/NAME (repeatable).")
        List<String> names = new ArrayList<>();

        @Option(names = "--serial", paramLabel = "HEX",
                description = "Revoke the certificate with this serial number, in hex (repeatable): one no longer"
                        + " on this machine, or replaced by a reissue.")
        List<String> serials = new ArrayList<>();

        @Override
        public void run() {
            if (names.isEmpty() && serials.isEmpty()) {
                throw new UserError("name what to revoke: --name NAME or --serial HEX (see: basalt cert list)");
            }
            Path root = dir.resolve();
            List<BigInteger> revoked = new ArrayList<>();
            List<String> what = new ArrayList<>();
            for (String serial : serials) {
                try {
                    revoked.add(new BigInteger(serial.replace(":", ""), 16));
                    what.add("serial " + serial);
                } catch (NumberFormatException e) {
                    throw new UserError("--serial " + serial + ": not a hexadecimal serial number");
                }
            }
            for (String name : names) {
                Path file = root.resolve(name).resolve(TlsIdentity.CERT_FILE);
                if (!Files.isRegularFile(file)) {
                    throw new UserError("--name " + name + ": no certificate in " + file.getParent()
                            + " (see: basalt cert list; a certificate not on this machine: --serial HEX)");
                }
                try {
                    BigInteger serial = Pem.readCertificates(file).getFirst().getSerialNumber();
                    revoked.add(serial);
                    what.add(name + " (serial " + serial.toString(16) + ")");
                } catch (IOException e) {
                    throw new UserError(e.getMessage(), e);
                }
            }
            try {
                CertificateAuthority ca = CertificateAuthority.open(ClusterCertificates.caDir(root));
                int total = ca.revoke(revoked).getRevokedCertificates().size();
                int published = 0;
                for (Path holder : holders(root)) {
                    ca.publishCrl(holder);
                    published++;
                }
                System.out.printf("basalt: revoked %s; %d certificate(s) revoked in all; the list is in %s and in %d"
                        + " holder directories under %s: daemons using them refuse these certificates from their next"
                        + " handshake. Other hosts: copy %s into each holder directory.%n", String.join(", ", what),
                        total, ca.directory().resolve(CertificateAuthority.CRL_FILE), published, root,
                        ca.directory().resolve(CertificateAuthority.CRL_FILE));
            } catch (IOException e) {
                throw new UserError(e.getMessage(), e);
            }
        }
    }

    /** The holder directories in {@code root}: those with a cert.pem. */
    static List<Path> holders(Path root) {
        try (Stream<Path> entries = Files.list(root)) {
            return entries.filter(p -> Files.isRegularFile(p.resolve(TlsIdentity.CERT_FILE))).sorted().toList();
        } catch (IOException e) {
            throw new UserError("cannot list " + root + ": " + e.getMessage(), e);
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true,
            description = {"List the certificates in DIR: holder, role, expiry, and whether the CA in DIR/ca"
                    + " signed it.", "Example: basalt cert list --dir /etc/basalt/tls"})
    static final class ListCerts implements Runnable {
        @CommandLine.Mixin
        DirOption dir;

        @Option(names = "--json", description = "Print JSON instead of a table.")
        boolean json;

        @Override
        public void run() {
            Path root = dir.resolve();
            Path caDir = ClusterCertificates.caDir(root);
            X509Certificate ca;
            java.security.cert.X509CRL crl;
            try {
                CertificateAuthority authority = CertificateAuthority.open(caDir);
                ca = authority.certificate();
                crl = authority.crl();
            } catch (IOException e) {
                throw new UserError(e.getMessage(), e);
            }
            List<Path> holders = holders(root);
            TextTable table = new TextTable("NAME", "ROLE", "SERIAL", "NOT AFTER", "STATUS", "DIR");
            List<String> items = new ArrayList<>();
            for (Path holder : holders) {
                String holderName;
                String roleLabel;
                String notAfter;
                String status;
                String serial = "-";
                try {
                    X509Certificate certificate = Pem.readCertificates(holder.resolve(TlsIdentity.CERT_FILE)).getFirst();
                    holderName = Role.holderName(certificate);
                    roleLabel = Role.of(certificate).map(Role::label).orElse("-");
                    notAfter = certificate.getNotAfter().toInstant().toString();
                    serial = certificate.getSerialNumber().toString(16);
                    status = crl != null && crl.isRevoked(certificate) ? "REVOKED" : status(certificate, ca);
                } catch (IOException e) {
                    holderName = holder.getFileName().toString();
                    roleLabel = "-";
                    notAfter = "-";
                    status = "unreadable: " + e.getMessage();
                }
                table.row(holderName, roleLabel, serial, notAfter, status, holder);
                items.add(TextTable.object("name", holderName, "role", roleLabel, "serial", serial, "notAfter",
                        notAfter, "status", status, "dir", holder.toString()));
            }
            if (json) {
                System.out.println(TextTable.array(items).json());
            } else {
                table.print(System.out);
            }
        }

        static String status(X509Certificate certificate, X509Certificate ca) {
            try {
                certificate.verify(ca.getPublicKey());
            } catch (GeneralSecurityException e) {
                return "not signed by this CA";
            }
            Instant notAfter = certificate.getNotAfter().toInstant();
            if (notAfter.isBefore(Instant.now())) {
                return "EXPIRED";
            }
            long days = Duration.between(Instant.now(), notAfter).toDays();
            return days < ClusterCertificates.RENEW_BEFORE.toDays() ? "expires in " + days + " days" : "ok";
        }
    }
}
