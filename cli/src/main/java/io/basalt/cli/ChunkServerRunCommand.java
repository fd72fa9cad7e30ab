package io.basalt.cli;

import io.basalt.chunkserver.ChunkServer;
import io.basalt.chunkserver.LocalMetaLink;
import io.basalt.chunkserver.MetaLink;
import io.basalt.common.metrics.MetricsServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code basalt cs run}: one chunk server daemon over one data directory. Formats the directory on
 * first start, replays its WAL on every start, serves the data protocol and Prometheus metrics, and
 * runs in the foreground until SIGINT/SIGTERM (then finishes queued writes and checkpoints).
 *
 * <p>Meta: until the adapter over the meta client is wired (see issue 6 notes), {@code --meta} is
 * checked but used for nothing yet: a local stand-in ({@link LocalMetaLink}, cluster "local-standin") is used: ids are
 * local, no chunk versions arrive.
 * A warning says so on every start.
 *
 * <p>Also runnable on its own ({@link #main}) so the multi-process tests do not depend on where it
 * is registered under {@code basalt cs}.
 */
@Command(name = "run", mixinStandardHelpOptions = true,
        description = {"Run a chunk server over one data directory (one per disk).",
                "Example: basalt cs run --data /srv/basalt/cs1 --meta 10.0.0.1:9700 --host rack1-node3 --port 7701"})
public final class ChunkServerRunCommand implements Callable<Integer> {
    private static final Logger log = LoggerFactory.getLogger(ChunkServerRunCommand.class);
    /** Cluster name of the local meta stand-in; replaced by meta's cluster id once the adapter is wired. */
    static final String LOCAL_CLUSTER = "local-standin";

    @Option(names = "--data", required = true, paramLabel = "DIR",
            description = "Data directory (created and formatted on first start).")
    Path data;

    @Option(names = "--meta", required = true, paramLabel = "HOST:PORT[,...]", description = "Meta service peers.")
    String meta;

    @Option(names = "--host", paramLabel = "LABEL", description = "Host label (failure domain; default: the machine's name).")
    String hostLabel;

    @Option(names = "--zone", paramLabel = "LABEL", description = "Zone label (failure domain).")
    String zoneLabel;

    @Option(names = "--bind", defaultValue = "127.0.0.1", description = "Address to listen on (default: ${DEFAULT-VALUE}).")
    String bind;

    @Option(names = "--advertise", paramLabel = "HOST", description = "Address others reach this CS at (default: --bind).")
    String advertise;

    @Option(names = "--port", defaultValue = "7700", description = "Data protocol port (default: ${DEFAULT-VALUE}; 0 picks one).")
    int port;

    @Option(names = "--metrics-port", defaultValue = "9820", description = "Prometheus metrics port (default: ${DEFAULT-VALUE}; 0 disables).")
    int metricsPort;

    @Override
    public Integer call() throws Exception {
        if (port < 0 || port > 65535) {
            throw new UserError("--port " + port + " is not a TCP port (0-65535)");
        }
        if (meta.isBlank()) {
            throw new UserError("--meta is empty; give the meta peers as HOST:PORT[,...]");
        }
        String host = hostLabel != null ? hostLabel : java.net.InetAddress.getLocalHost().getHostName();
        PrometheusRegistry registry = new PrometheusRegistry();
        // The stand-in names one fixed cluster, not one per --meta spelling: adding a peer to --meta
        // must not make the directory "another cluster's".
        log.warn("meta link not wired yet: running with a local stand-in instead of meta at {} (cluster \"{}\";"
                + " no registration, heartbeats or chunk versions from meta)", meta, LOCAL_CLUSTER);
        MetaLink metaLink = new LocalMetaLink(LOCAL_CLUSTER);
        ChunkServer.Config config = ChunkServer.Config.defaults(data).withPort(port)
                .withLabels(bind, advertise, host, zoneLabel);
        ShutdownSignal signal = ShutdownSignal.install();
        ChunkServer server = null;
        MetricsServer metrics = null;
        try {
            try {
                server = ChunkServer.start(config, metaLink, registry);
            } catch (IOException e) {
                throw new UserError(e.getMessage(), e);
            }
            metrics = MetricsServer.start(registry, bind, metricsPort);
            System.out.printf("basalt: chunk server %d serving %s on %s:%d%s%n", server.csId(), data, bind,
                    server.address().getPort(), metrics == null ? "" : " (metrics on port " + metrics.port() + ")");
            System.out.flush();
            signal.await();
            log.info("shutting down: finishing queued writes");
            return 0;
        } finally {
            try {
                if (server != null) {
                    server.close();
                }
                if (metrics != null) {
                    metrics.close();
                }
                metaLink.close();
            } finally {
                signal.cleanedUp();
            }
        }
    }

    /** Runs {@code cs run} alone: {@code java -cp ... io.basalt.cli.ChunkServerRunCommand --data ...}. */
    public static void main(String[] args) {
        CommandLine commandLine = new CommandLine(new ChunkServerRunCommand());
        commandLine.setExecutionExceptionHandler(new UserErrorHandler());
        int exitCode = commandLine.execute(args);
        // After SIGTERM the shutdown hook is waiting for this thread: System.exit here would block
        // behind it (exit during shutdown waits for the hooks), so a clean stop just returns.
        if (exitCode != 0) {
            System.exit(exitCode);
        }
    }
}
