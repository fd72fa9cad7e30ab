package io.basalt.cli;

import io.basalt.chunkserver.ChunkServer;
import io.basalt.chunkserver.MetaLink;
import io.basalt.chunkserver.recovery.RecoveryWorker;
import io.basalt.chunkserver.recovery.Scrubber;
import io.basalt.common.Units;
import io.basalt.common.metrics.MetricsServer;
import io.basalt.meta.api.MetaPeers;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine;

/**
 * {@code basalt cs run}: one chunk server daemon over one data directory. Formats the directory on
 * first start, replays its WAL on every start, serves the data protocol and Prometheus metrics, and
 * runs in the foreground until SIGINT/SIGTERM (then finishes queued writes and checkpoints).
 *
 * <p>Meta: {@link MetaClientLink} over the members given with {@code --meta} (the same peer syntax
 * as the admin verbs). On first start the CS takes meta's cluster id and the id meta assigns; on
 * every later start it must find the same cluster. It waits for meta as long as it takes, and then
 * pulls its chunk versions from meta (see {@link MetaClientLink}).
 *
 * <p>Also runnable on its own ({@link #main}) so the multi-process tests do not depend on where it
 * is registered under {@code basalt cs}.
 */
@Command(name = "run", mixinStandardHelpOptions = true,
        description = {"Run a chunk server over one data directory (one per disk).",
                "Example: basalt cs run --data /srv/basalt/cs1 --meta 1@10.0.0.1:7100 --host rack1-node3 --port 7701"})
public final class ChunkServerRunCommand implements Callable<Integer> {
    private static final Logger log = LoggerFactory.getLogger(ChunkServerRunCommand.class);
    @Option(names = "--data", required = true, paramLabel = "DIR",
            description = "Data directory (created and formatted on first start).")
    Path data;

    @Option(names = "--meta", required = true, paramLabel = "ID@HOST:PORT[,...]",
            description = "Meta members, " + MetaPeers.SYNTAX + ".")
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

    @Option(names = "--recovery-bandwidth", defaultValue = "256M", paramLabel = "BYTES",
            description = "Most bytes a second this server copies to recover chunklets (0: no limit;"
                    + " default: ${DEFAULT-VALUE}). Recovery also yields while clients are busy here"
                    + " (see --recovery-latency-factor).")
    String recoveryBandwidth;

    // The default can be set with -Dbasalt.cs.recoveryLatencyFactor (BASALT_JAVA_OPTS reaches the
    // servers basalt up starts; bench/recovery.sh compares paced and fixed rates that way).
    @Option(names = "--recovery-latency-factor", defaultValue = "${sys:basalt.cs.recoveryLatencyFactor:-2}",
            paramLabel = "X",
            description = "Recovery slows down while this server's WAL syncs (what every client write waits for)"
                    + " take more than X times as long as without recovery, and speeds up again below it, up to"
                    + " --recovery-bandwidth (0: a fixed rate; default: ${DEFAULT-VALUE}).")
    double recoveryLatencyFactor;

    @Option(names = "--recovery-concurrency", defaultValue = "2",
            description = "Chunklets this server recovers at once (default: ${DEFAULT-VALUE}).")
    int recoveryConcurrency;

    @Option(names = "--scrub-interval-ms", defaultValue = "604800000", paramLabel = "MS",
            description = "How often a scrub pass starts, reading every written block back (default: a week).")
    long scrubIntervalMillis;

    @Option(names = "--scrub-rate", defaultValue = "32M", paramLabel = "BYTES",
            description = "Most bytes a second the scrubber reads (0: no limit; default: ${DEFAULT-VALUE}).")
    String scrubRate;

    @Option(names = "--capacity", defaultValue = "0", paramLabel = "BYTES",
            description = "Most of the data directory's disk this server uses, e.g. 500G (default: 0, all of"
                    + " it). Meta places and balances chunklets by it; the server reports FULL when it is used up.")
    String capacity;

    @Option(names = "--hot-dir", paramLabel = "DIR",
            description = "Where the hot store of erasure-coded volumes' small writes lives (default: DATA/hot);"
                    + " a faster device when there is one. It belongs to this server: a later start with another"
                    + " or an empty directory is refused.")
    Path hotDir;

    @Option(names = "--hot-capacity", defaultValue = "0", paramLabel = "BYTES",
            description = "Most bytes the hot store holds, e.g. 20G (default: 0, 5% of the disk). When it is"
                    + " full, small writes go straight to the stripes.")
    String hotCapacity;

    @CommandLine.Mixin
    TlsOptions tls;

    @Override
    public Integer call() throws Exception {
        io.basalt.protocol.data.DataTls dataTls = tls.dataTls(io.basalt.common.tls.Role.CHUNK_SERVER,
                "chunk server", "basalt cs run");
        if (port < 0 || port > 65535) {
            throw new UserError("--port " + port + " is not a TCP port (0-65535)");
        }
        RecoveryWorker.Config recovery;
        Scrubber.Config scrub;
        long capacityBytes;
        long hotCapacityBytes;
        try {
            capacityBytes = Units.parseBytes(capacity);
            hotCapacityBytes = Units.parseBytes(hotCapacity);
            if (hotCapacityBytes != 0 && hotCapacityBytes < 4096) {
                throw new IllegalArgumentException("--hot-capacity " + hotCapacity + " is less than one 4 KiB block");
            }
            if (hotCapacityBytes > io.basalt.chunkserver.hot.HotStore.CAPACITY_MAX_BYTES) {
                throw new IllegalArgumentException("--hot-capacity " + hotCapacity + " is more than a hot store holds ("
                        + Units.formatBytes(io.basalt.chunkserver.hot.HotStore.CAPACITY_MAX_BYTES) + ")");
            }
            recovery = new RecoveryWorker.Config(1000, recoveryConcurrency,
                    Units.parseBytes(recoveryBandwidth), recoveryLatencyFactor);
            scrub = new Scrubber.Config(Duration.ofMillis(scrubIntervalMillis), Units.parseBytes(scrubRate));
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage() + " (see: basalt cs run --help)");
        }
        String host = hostLabel != null ? hostLabel : java.net.InetAddress.getLocalHost().getHostName();
        PrometheusRegistry registry = new PrometheusRegistry();
        String version = BasaltCommand.class.getPackage().getImplementationVersion();
        MetaLink metaLink;
        try {
            metaLink = MetaClientLink.connect(meta, version == null ? "dev" : version,
                    dataTls == null ? null : dataTls.identity());
        } catch (IllegalArgumentException e) {
            throw new UserError("--meta: " + e.getMessage());
        }
        ChunkServer.Config config = ChunkServer.Config.defaults(data).withPort(port)
                .withLabels(bind, advertise, host, zoneLabel).withRecovery(recovery).withScrub(scrub)
                .withCapacity(capacityBytes).withHot(hotDir, hotCapacityBytes).withTls(dataTls);
        ShutdownSignal signal = ShutdownSignal.install();
        ChunkServer server = null;
        MetricsServer metrics = null;
        try {
            if (!awaitMeta(metaLink, signal)) {
                return 0;
            }
            try {
                server = ChunkServer.start(config, metaLink, registry);
            } catch (IOException e) {
                throw new UserError(describeStartFailure(data, e), e);
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

    /**
     * Waits until meta answers (its cluster id), however long it takes: a chunk server started
     * beside meta (basalt up, a host booting) must not die because meta is still electing. One log
     * line per failed try (each try already rides out about 30 s of Ratis retries). False when a
     * stop signal came first.
     */
    private static boolean awaitMeta(MetaLink metaLink, ShutdownSignal signal) throws InterruptedException {
        for (int attempt = 1; ; attempt++) {
            try {
                metaLink.clusterId();
                return true;
            } catch (IOException e) {
                log.warn("meta is not answering yet (try {}): {}; still trying", attempt, e.getMessage());
            }
            if (signal.await(1000)) {
                return false;
            }
        }
    }

    /**
     * One line for a start that failed on the disk. The JDK's file errors name only the path
     * ("/etc/passwd" for a --data that is a file), so the kind of error is added when the message
     * says nothing else.
     */
    static String describeStartFailure(Path data, IOException e) {
        String message = e.getMessage() == null ? "" : e.getMessage();
        if (e instanceof java.nio.file.FileSystemException fs && (fs.getReason() == null || message.equals(fs.getFile()))) {
            String kind = switch (e) {
                case java.nio.file.FileAlreadyExistsException ignored -> "exists and is not a directory";
                case java.nio.file.NotDirectoryException ignored -> "is not a directory";
                case java.nio.file.AccessDeniedException ignored -> "permission denied";
                case java.nio.file.NoSuchFileException ignored -> "no such file or directory";
                default -> e.getClass().getSimpleName();
            };
            message = (fs.getFile() == null ? "" : fs.getFile() + ": ") + kind;
        }
        return "cannot start a chunk server on --data " + data + ": " + message;
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
