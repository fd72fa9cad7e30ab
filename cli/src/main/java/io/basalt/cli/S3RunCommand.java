package io.basalt.cli;

import io.basalt.client.ClientConfig;
import io.basalt.client.ClusterClient;
import io.basalt.client.object.ClusterObjectStore;
import io.basalt.client.object.MetaObjectIndex;
import io.basalt.common.metrics.MetricsServer;
import io.basalt.meta.api.MetaPeers;
import io.basalt.s3.gateway.S3Gateway;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.InetAddress;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code basalt s3 run}: an S3 gateway of a cluster. Stateless: object bytes go to the cluster's
 * object logs, names to meta, so any number of gateways can serve one cluster. Runs in the foreground
 * until SIGINT/SIGTERM, then finishes the requests in flight and gives its logs' leases back.
 */
@Command(name = "run", mixinStandardHelpOptions = true,
        description = {"Run an S3 gateway of a cluster (AWS S3 API, SigV4; users: basalt s3 user create).",
                "Example: basalt s3 run --meta 1@127.0.0.1:7101, then:",
                "  aws --endpoint-url http://127.0.0.1:9000 s3 mb s3://demo"})
final class S3RunCommand implements Callable<Integer> {
    private static final Logger log = LoggerFactory.getLogger(S3RunCommand.class);

    @Option(names = "--meta", paramLabel = "PEERS",
            description = "Meta members, " + MetaPeers.SYNTAX + " (default: $" + MetaOptions.ENV + ").")
    String meta;

    @Option(names = "--bind", defaultValue = "127.0.0.1", paramLabel = "HOST",
            description = "Address to listen on (default: ${DEFAULT-VALUE}; 0.0.0.0 for every interface).")
    String bind;

    @Option(names = "--port", defaultValue = "9000", paramLabel = "PORT",
            description = "HTTP port (default: ${DEFAULT-VALUE}; 0 picks a free one).")
    int port;

    @Option(names = "--metrics-port", defaultValue = "9811", paramLabel = "PORT",
            description = "Prometheus metrics port (default: ${DEFAULT-VALUE}; 0 disables).")
    int metricsPort;

    @Option(names = "--domain", paramLabel = "DOMAIN",
            description = "Base domain for virtual-hosted-style addressing (BUCKET.DOMAIN); repeatable"
                    + " (default: s3.localhost).")
    List<String> domains;

    @Option(names = "--region", defaultValue = "us-east-1", paramLabel = "REGION",
            description = "Region clients sign for (default: ${DEFAULT-VALUE}).")
    String region;

    @Option(names = "--default-policy", defaultValue = "ec4+2", paramLabel = "POLICY",
            description = "Storage policy of buckets created without x-basalt-storage-policy"
                    + " (default: ${DEFAULT-VALUE}).")
    String defaultPolicy;

    @Option(names = "--writer-id", paramLabel = "ID",
            description = "Who holds the leases of the object logs this gateway appends to (default:"
                    + " s3@HOST:PORT, or s3@HOST/pidPID with --port 0). Unique per gateway.")
    String writerId;

    @Option(names = "--inline-max", defaultValue = "8192", paramLabel = "BYTES",
            description = "Objects of at most this many bytes are kept in their index entry in meta"
                    + " instead of an object log (0..16384; 0: none; default: ${DEFAULT-VALUE}).")
    int inlineMax;

    @picocli.CommandLine.Mixin
    TlsOptions tls;

    @Override
    public Integer call() throws Exception {
        if (inlineMax < 0 || inlineMax > io.basalt.meta.model.s3.ObjectVersion.INLINE_BYTES_MAX) {
            throw new UserError("--inline-max " + inlineMax + " is out of range; pass 0.."
                    + io.basalt.meta.model.s3.ObjectVersion.INLINE_BYTES_MAX);
        }
        io.basalt.protocol.data.DataTls dataTls = tls.dataTls(io.basalt.common.tls.Role.GATEWAY, "S3 gateway",
                "basalt s3 run");
        String peers = meta != null ? meta : System.getenv(MetaOptions.ENV);
        if (peers == null || peers.isBlank()) {
            throw new UserError("no meta address; pass --meta 1@HOST:PORT,... or set " + MetaOptions.ENV);
        }
        PrometheusRegistry registry = new PrometheusRegistry();
        ShutdownSignal signal = ShutdownSignal.install();
        ClusterClient cluster = null;
        ClusterObjectStore store = null;
        MetricsServer metrics = null;
        S3Gateway gateway = null;
        try {
            try {
                cluster = ClusterClient.connect(peers, ClientConfig.defaults().withTls(dataTls), registry);
            } catch (IllegalArgumentException e) {
                throw new UserError("--meta: " + e.getMessage());
            }
            metrics = MetricsServer.start(registry, bind, metricsPort);
            String id = writerId != null ? writerId : "s3@" + InetAddress.getLocalHost().getHostName()
                    + (port != 0 ? ":" + port : "/pid" + ProcessHandle.current().pid());
            store = new ClusterObjectStore(cluster, new MetaObjectIndex(cluster.meta()), id, inlineMax);
            Set<String> baseDomains = new LinkedHashSet<>(domains == null ? List.of("s3.localhost") : domains);
            S3Gateway.Config defaults = S3Gateway.Config.defaults();
            S3Gateway.Config config = new S3Gateway.Config(bind, port, baseDomains, region, defaultPolicy,
                    defaults.clockSkewMax(), defaults.limits(), defaults.stopTimeout());
            try {
                gateway = S3Gateway.start(config, store, registry);
            } catch (RuntimeException e) {
                throw new UserError("cannot serve S3 on " + bind + ":" + port + ": " + e.getMessage()
                        + " (another process on that port? pick one with --port)");
            }
            System.out.printf("basalt: S3 gateway on http://%s:%d (meta %s, writer id %s%s)%n", bind,
                    gateway.port(), peers, id, metrics == null ? "" : ", metrics on port " + metrics.port());
            System.out.flush();
            signal.await();
            log.info("shutting down: finishing requests in flight");
            return 0;
        } finally {
            try {
                if (gateway != null) {
                    gateway.close();
                }
                if (store != null) {
                    store.close();
                }
                if (cluster != null) {
                    cluster.close();
                }
                if (metrics != null) {
                    metrics.close();
                }
                log.info("stopped");
            } finally {
                signal.cleanedUp();
            }
        }
    }
}
