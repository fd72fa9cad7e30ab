package io.basalt.cli;

import io.basalt.common.tls.CertificateAuthority;
import io.basalt.common.tls.Pem;
import io.basalt.common.tls.Role;
import io.basalt.common.tls.TlsIdentity;
import io.basalt.protocol.data.DataTls;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.cert.X509Certificate;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The certificates of a cluster on disk: {@code TLS/ca} holds the CA ({@code ca-key.pem} 0600,
 * {@code ca-cert.pem}), {@code TLS/NAME} each holder's identity directory ({@link TlsIdentity}).
 * {@code basalt up} keeps them under {@code DATA/tls}: the CA on first start, then a certificate
 * for each daemon and the admin CLI that has none, one about to expire, or one of an older CA.
 */
final class ClusterCertificates {
    static final String DIR_NAME = "tls";
    static final String CA_DIR_NAME = "ca";
    static final String ADMIN_NAME = "admin";
    static final Duration CA_VALIDITY = Duration.ofDays(3650);
    static final Duration LEAF_VALIDITY = Duration.ofDays(365);
    /** up renews a certificate this close to its end, so a cluster restarted now and then never sees one expire. */
    static final Duration RENEW_BEFORE = Duration.ofDays(30);

    private ClusterCertificates() {}

    static Path root(Path dataDir) {
        return dataDir.resolve(DIR_NAME);
    }

    static Path caDir(Path root) {
        return root.resolve(CA_DIR_NAME);
    }

    /**
     * Makes what {@code holders} (name → role) lack under {@code root}, each reachable at
     * {@code hosts}; returns the names issued now.
     */
    static List<String> ensure(Path root, String clusterName, Map<String, Role> holders, List<String> hosts)
            throws IOException {
        CertificateAuthority ca = CertificateAuthority.existsIn(caDir(root))
                ? CertificateAuthority.open(caDir(root))
                : CertificateAuthority.create(caDir(root), clusterName, CA_VALIDITY);
        List<String> issued = new java.util.ArrayList<>();
        for (var holder : holders.entrySet()) {
            Path dir = root.resolve(holder.getKey());
            if (!current(dir, ca.certificate(), holder.getValue())) {
                ca.issue(dir, holder.getValue(), holder.getKey(), hosts, LEAF_VALIDITY);
                issued.add(holder.getKey());
            }
        }
        return issued;
    }

    /**
     * What {@code basalt up} needs on every start: the CA, and a certificate for each meta member,
     * chunk server, both gateways and the admin CLI, reachable at the bind address and this host's
     * name. Returns the names issued now (all of them on a first start, then only renewals).
     */
    static List<String> ensureForUp(UpLayout layout) throws IOException {
        Map<String, Role> holders = new java.util.LinkedHashMap<>();
        for (int i = 1; i <= layout.metaNodes(); i++) {
            holders.put("meta" + i, Role.META);
        }
        for (int i = 1; i <= layout.chunkServers(); i++) {
            holders.put("cs" + i, Role.CHUNK_SERVER);
        }
        holders.put("nbd", Role.GATEWAY);
        holders.put("s3", Role.GATEWAY);
        holders.put(ADMIN_NAME, Role.ADMIN);
        return ensure(root(layout.dataDir()), layout.dataDir().getFileName().toString(), holders, upHosts(layout));
    }

    /** The names a basalt up daemon is reached at: its bind address and, if not loopback, this host. */
    static List<String> upHosts(UpLayout layout) {
        List<String> hosts = new java.util.ArrayList<>(List.of(layout.bind()));
        try {
            hosts.add(java.net.InetAddress.getLocalHost().getHostName());
        } catch (java.net.UnknownHostException e) {
            // No name of its own: the bind address and localhost are enough on this machine.
        }
        return hosts;
    }

    /**
     * Whether {@code dir} holds a certificate of {@code role}, signed by {@code ca}, not about to
     * expire, with an EC key: holders made before EC P-256 had Ed25519 keys, which BoringSSL (the
     * data protocol's provider) cannot use, so up reissues them.
     */
    private static boolean current(Path dir, X509Certificate ca, Role role) {
        try {
            X509Certificate certificate = Pem.readCertificates(dir.resolve(TlsIdentity.CERT_FILE)).getFirst();
            certificate.verify(ca.getPublicKey());
            return Role.of(certificate).orElse(null) == role
                    && "EC".equals(certificate.getPublicKey().getAlgorithm())
                    && certificate.getNotAfter().toInstant().isAfter(Instant.now().plus(RENEW_BEFORE))
                    && Files.isRegularFile(dir.resolve(TlsIdentity.KEY_FILE));
        } catch (IOException | GeneralSecurityException e) {
            return false;
        }
    }

    /**
     * The admin CLI's TLS for the cluster of {@code basalt up} in {@code dataDir}: null when it
     * runs --insecure, else its admin identity (a one-line error naming the fix if it is missing).
     */
    static DataTls adminTls(Path dataDir, ClusterFile cluster) {
        TlsIdentity identity = adminIdentity(dataDir, cluster);
        try {
            return identity == null ? null : DataTls.of(identity, Set.of());
        } catch (IOException e) {
            throw new UserError(e.getMessage(), e);
        }
    }

    /** As {@link #adminTls}, the identity itself (for meta too). */
    static TlsIdentity adminIdentity(Path dataDir, ClusterFile cluster) {
        if (cluster != null && cluster.insecure()) {
            return null;
        }
        Path dir = root(dataDir).resolve(ADMIN_NAME);
        try {
            return TlsIdentity.load(dir);
        } catch (IOException e) {
            throw new UserError("no admin certificate for the cluster in " + dataDir.toAbsolutePath() + " ("
                    + e.getMessage() + ")");
        }
    }
}
