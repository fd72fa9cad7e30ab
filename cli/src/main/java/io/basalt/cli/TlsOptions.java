package io.basalt.cli;

import io.basalt.common.tls.Role;
import io.basalt.common.tls.TlsIdentity;
import io.basalt.protocol.data.DataTls;
import java.io.IOException;
import java.nio.file.Path;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Option;

/**
 * {@code --tls-dir} / {@code --insecure}, shared by the daemons ({@code meta run}, {@code cs run},
 * {@code nbd run}, {@code s3 run}): the one identity serves meta's gRPC and the data protocol. One of the two is required: a daemon never
 * falls back to plain text by itself, and plain text is said aloud at start (stderr and log).
 */
final class TlsOptions {
    private static final Logger log = LoggerFactory.getLogger(TlsOptions.class);

    @Option(names = "--tls-dir", paramLabel = "DIR",
            description = "This daemon's certificate, key and the cluster CA (made by: basalt cert issue;"
                    + " basalt up makes them under DATA/tls). Every connection (meta, data) is mutual TLS.")
    Path tlsDir;

    @Option(names = "--insecure",
            description = "No TLS: plain TCP, anyone who reaches the port is served. For benchmarks and"
                    + " trusted labs only; said at start and in basalt status.")
    boolean insecure;

    /**
     * The data protocol's TLS for a daemon of {@code role} (null with --insecure, after the
     * warning); a one-line user error when neither option is given or the certificate has another role.
     */
    DataTls dataTls(Role role, String daemon, String command) {
        TlsIdentity identity = identity(role, daemon, command);
        if (identity == null) {
            return null;
        }
        try {
            return role == Role.CHUNK_SERVER ? DataTls.of(identity) : DataTls.of(identity, Set.of());
        } catch (IOException e) {
            throw new UserError(e.getMessage(), e);
        }
    }

    /**
     * The daemon's identity for meta and the data protocol (null with --insecure, after the
     * warning); a one-line user error when neither option is given or the certificate has another role.
     */
    TlsIdentity identity(Role role, String daemon, String command) {
        if (insecure && tlsDir != null) {
            throw new UserError("--insecure and --tls-dir contradict each other; pass one (see: " + command
                    + " --help)");
        }
        if (insecure) {
            warnInsecure(daemon);
            return null;
        }
        if (tlsDir == null) {
            throw new UserError(daemon + " needs a certificate: pass --tls-dir DIR (made by: basalt cert issue --role "
                    + role.label() + " --name NAME), or --insecure for plain TCP");
        }
        TlsIdentity identity;
        try {
            identity = TlsIdentity.load(tlsDir);
        } catch (IOException e) {
            throw new UserError("--tls-dir: " + e.getMessage(), e);
        }
        if (identity.role() != role) {
            throw new UserError("--tls-dir " + tlsDir + " holds a certificate of role " + identity.role().label()
                    + " (" + identity.name() + "); the " + daemon + " needs one of role " + role.label()
                    + " (basalt cert issue --role " + role.label() + ")");
        }
        return identity;
    }

    static void warnInsecure(String daemon) {
        String warning = "WARNING: " + daemon + " runs with --insecure: no TLS, no certificates; anyone who"
                + " reaches its ports can read and overwrite data. For benchmarks and trusted labs only.";
        System.err.println("basalt: " + warning);
        log.warn(warning);
    }
}
