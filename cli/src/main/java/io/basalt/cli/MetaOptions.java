package io.basalt.cli;

import io.basalt.meta.api.MetaClient;
import io.basalt.meta.api.MetaException;
import io.basalt.meta.api.MetaPeers;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.function.Function;
import picocli.CommandLine.Option;

/** Options every admin verb that talks to meta shares: where meta is, and output format. */
final class MetaOptions {
    static final String ENV = "BASALT_META";
    /** The admin certificate's directory for a cluster reached by --meta / $BASALT_META. */
    static final String TLS_ENV = "BASALT_TLS_DIR";

    @Option(names = "--meta", paramLabel = "PEERS",
            description = "Meta members, " + MetaPeers.SYNTAX + " (default: $" + ENV
                    + ", else the cluster of basalt up; see --data).")
    String meta;

    @Option(names = "--data", paramLabel = "DIR",
            description = "Find meta in DIR/cluster.json, written by basalt up (default: $"
                    + ClusterFile.DATA_ENV + ", else ./" + ClusterFile.DATA_DIR_DEFAULT + ")."
                    + " --meta and $" + ENV + " come first.")
    Path data;

    @Option(names = "--json", description = "Print JSON instead of a table.")
    boolean json;

    @Option(names = "--tls-dir", paramLabel = "DIR",
            description = "An admin certificate (basalt cert issue --role admin): mutual TLS to meta and chunk"
                    + " servers (default: $" + TLS_ENV + "; else, without --meta, DATA/tls/admin of the basalt up"
                    + " cluster, see --data; else plain text).")
    Path tlsDir;

    /**
     * Admin verbs print one result or one error line: Ratis' INFO chatter and its retry stack
     * traces go, and its shaded Netty is kept off sun.misc.Unsafe (JDK 25 warns about it). The TLS
     * identity's notes (a certificate or revocation list picked up again) are a daemon's business:
     * only their warnings reach an operator's terminal.
     */
    static void quietRatis() {
        System.setProperty("org.apache.ratis.thirdparty.io.netty.noUnsafe", "true");
        System.setProperty("io.netty.noUnsafe", "true");
        ((ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger("org.apache.ratis"))
                .setLevel(ch.qos.logback.classic.Level.OFF);
        ((ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger("io.basalt.common.tls"))
                .setLevel(ch.qos.logback.classic.Level.WARN);
        GRPC_JUL_LOGGER.setLevel(java.util.logging.Level.WARNING);
    }

    /** Held so the JDK logger (and its level) is not garbage collected. */
    private static final java.util.logging.Logger GRPC_JUL_LOGGER =
            java.util.logging.Logger.getLogger("org.apache.ratis.thirdparty.io.grpc");

    /**
     * The meta peers: --meta, else $BASALT_META, else the cluster.json of a running
     * {@code basalt up} in --data, $BASALT_DATA or ./basalt-data (in that order), so that on a
     * machine running {@code ./basalt up} the admin verbs need no flags.
     */
    String peers() {
        if (meta != null && !meta.isBlank()) {
            return meta;
        }
        String fromEnv = System.getenv(ENV);
        if (fromEnv != null && !fromEnv.isBlank()) {
            return fromEnv;
        }
        String dataEnv = System.getenv(ClusterFile.DATA_ENV);
        boolean explicitDir = data != null || (dataEnv != null && !dataEnv.isBlank());
        Path dir = data != null ? data : explicitDir ? Path.of(dataEnv)
                : Path.of(ClusterFile.DATA_DIR_DEFAULT);
        String upCommand = explicitDir ? "./basalt up --data " + dir : "./basalt up";
        String orMeta = ", or pass --meta 1@HOST:PORT,... (or set " + ENV + ")";
        ClusterFile cluster = ClusterFile.readIfExists(dir);
        if (cluster == null) {
            throw new UserError("no meta address and no cluster in " + dir.toAbsolutePath()
                    + "; start a cluster with " + upCommand + orMeta);
        }
        if (!cluster.upRunning()) {
            throw new UserError("the cluster in " + dir.toAbsolutePath() + " is not running;"
                    + " start it with " + upCommand + orMeta);
        }
        return cluster.metaPeers();
    }

    /**
     * The admin's identity, for meta and chunk servers: --tls-dir, else $BASALT_TLS_DIR, else for
     * the basalt up cluster of the data directory (no --meta, no $BASALT_META) its DATA/tls/admin
     * unless it runs --insecure; null (plain text) for a cluster named by --meta with neither.
     */
    io.basalt.common.tls.TlsIdentity identity() {
        Path dir = tlsDir;
        String option = "--tls-dir";
        String tlsEnv = System.getenv(TLS_ENV);
        if (dir == null && tlsEnv != null && !tlsEnv.isBlank()) {
            dir = Path.of(tlsEnv);
            option = "$" + TLS_ENV;
        }
        if (dir != null) {
            try {
                return io.basalt.common.tls.TlsIdentity.load(dir);
            } catch (IOException e) {
                throw new UserError(option + ": " + e.getMessage(), e);
            }
        }
        if ((meta != null && !meta.isBlank()) || (System.getenv(ENV) != null && !System.getenv(ENV).isBlank())) {
            return null;
        }
        String dataEnv = System.getenv(ClusterFile.DATA_ENV);
        Path dataDir = data != null ? data : dataEnv != null && !dataEnv.isBlank() ? Path.of(dataEnv)
                : Path.of(ClusterFile.DATA_DIR_DEFAULT);
        return ClusterCertificates.adminIdentity(dataDir, ClusterFile.readIfExists(dataDir));
    }

    /** The admin's TLS for the data protocol (verbs that read chunk servers): see {@link #identity()}. */
    io.basalt.protocol.data.DataTls dataTls() {
        io.basalt.common.tls.TlsIdentity identity = identity();
        if (identity == null) {
            return null;
        }
        try {
            return io.basalt.protocol.data.DataTls.of(identity, java.util.Set.of());
        } catch (IOException e) {
            throw new UserError(e.getMessage(), e);
        }
    }

    /**
     * How the basalt up cluster of the data directory runs ({@link ClusterFile#security}: tls or
     * insecure), or null when the verb was pointed elsewhere (--meta, $BASALT_META) or the file
     * does not say.
     */
    String security() {
        if ((meta != null && !meta.isBlank()) || System.getenv(ENV) != null && !System.getenv(ENV).isBlank()) {
            return null;
        }
        String dataEnv = System.getenv(ClusterFile.DATA_ENV);
        Path dir = data != null ? data : dataEnv != null && !dataEnv.isBlank() ? Path.of(dataEnv)
                : Path.of(ClusterFile.DATA_DIR_DEFAULT);
        ClusterFile cluster = ClusterFile.readIfExists(dir);
        return cluster == null ? null : cluster.security();
    }

    /** Longest an admin verb waits on a meta member's admin socket (the member retries inside it). */
    private static final Duration LOCAL_DEADLINE_MAX = Duration.ofSeconds(60);

    /**
     * A client of the admin socket of a meta member of the basalt up cluster of the data directory
     * (docs/security.md, "The local admin socket"), or null: when the verb was pointed elsewhere
     * (--meta, $BASALT_META) or given a certificate (--tls-dir, $BASALT_TLS_DIR), when no member's
     * socket answers (not running, or a meta from before the socket), the verb goes over TLS as
     * before. Most of an admin verb's second went to the TLS and gRPC set-up this skips.
     */
    private MetaClient localClient(Duration requestTimeout, int retryCount) {
        if (meta != null && !meta.isBlank() || tlsDir != null || !blank(System.getenv(ENV))
                || !blank(System.getenv(TLS_ENV))) {
            return null;
        }
        String dataEnv = System.getenv(ClusterFile.DATA_ENV);
        Path dir = data != null ? data : !blank(dataEnv) ? Path.of(dataEnv) : Path.of(ClusterFile.DATA_DIR_DEFAULT);
        ClusterFile cluster = ClusterFile.readIfExists(dir);
        if (cluster == null || !cluster.upRunning()) {
            return null;
        }
        Duration deadline = requestTimeout.multipliedBy(retryCount + 1L);
        if (deadline.compareTo(LOCAL_DEADLINE_MAX) > 0) {
            deadline = LOCAL_DEADLINE_MAX;
        }
        for (ClusterFile.Daemon daemon : cluster.daemons()) {
            if (!"meta".equals(daemon.role()) || daemon.data() == null) {
                continue;
            }
            Path socket = Path.of(daemon.data()).resolve(io.basalt.meta.api.AdminSocketFrame.SOCKET_FILE);
            if (!java.nio.file.Files.exists(socket)) {
                continue;
            }
            try {
                return MetaClient.connectLocal(socket, deadline);
            } catch (IOException | RuntimeException e) {
                // A socket left by a member that is not running: the next member, or TLS.
            }
        }
        return null;
    }

    private static boolean blank(String value) {
        return value == null || value.isBlank();
    }

    /** Runs {@code action} with a connected client; refusals become one-line user errors. */
    <T> T call(Function<MetaClient, T> action) {
        return call(action, MetaClient.REQUEST_TIMEOUT, MetaClient.RETRY_COUNT);
    }

    /**
     * Like {@link #call(Function)} with a client that gives up after {@code retryCount} retries
     * (each {@link MetaClient#RETRY_SLEEP} apart) instead of riding out an election for 30 s.
     */
    <T> T call(Function<MetaClient, T> action, Duration requestTimeout, int retryCount) {
        MetaClient local = localClient(requestTimeout, retryCount);
        MetaClient client;
        if (local != null) {
            client = local;
        } else {
            quietRatis();
            try {
                client = MetaClient.connect(MetaPeers.DEFAULT_CLUSTER, MetaPeers.parse(peers()),
                        requestTimeout, retryCount, identity());
            } catch (IllegalArgumentException e) {
                throw new UserError(e.getMessage());
            }
        }
        try (client) {
            return action.apply(client);
        } catch (MetaException e) {
            throw new UserError(e.getMessage(), e);
        } catch (IOException e) {
            throw new UserError("closing the meta client failed: " + e.getMessage(), e);
        }
    }
}
