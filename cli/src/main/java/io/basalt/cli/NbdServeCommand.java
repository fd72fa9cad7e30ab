package io.basalt.cli;

import io.basalt.common.Units;
import io.basalt.common.block.FileBlockDevice;
import io.basalt.common.metrics.MetricsServer;
import io.basalt.nbd.NbdExports;
import io.basalt.nbd.NbdMetrics;
import io.basalt.nbd.NbdServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.InetSocketAddress;
import java.nio.file.Path;
import java.util.OptionalLong;
import java.util.concurrent.Callable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code basalt nbd serve}: exports one file over NBD, like {@code qemu-nbd} or {@code nbdkit file}.
 * Runs in the foreground until SIGINT/SIGTERM, then finishes in-flight requests, flushes and exits.
 */
@Command(name = "serve", mixinStandardHelpOptions = true,
        description = {"Export a file over NBD (like qemu-nbd): sparse, TRIM punches holes, block status shows holes.",
                "Example: basalt nbd serve --file disk.img --size 10G, then: nbdinfo nbd://127.0.0.1:10809/"})
final class NbdServeCommand implements Callable<Integer> {
    private static final Logger log = LoggerFactory.getLogger(NbdServeCommand.class);

    @Mixin
    NbdListenOptions listen;

    @Option(names = "--file", required = true, paramLabel = "PATH", description = "File to export; created sparse if missing (needs --size).")
    Path file;

    @Option(names = "--size", paramLabel = "SIZE", description = "Size of a new file, e.g. 10G, 512M. For an existing file, must match if given.")
    String size;

    @Option(names = "--export", defaultValue = "", paramLabel = "NAME", description = "Export name (default: the default export \"\"). The export also answers as \"\".")
    String exportName;

    @Option(names = "--read-only", description = "Refuse writes (EPERM); the file is opened read-only.")
    boolean readOnly;

    @Option(names = "--io-threads", defaultValue = "8", description = "Threads doing file I/O (default: ${DEFAULT-VALUE}).")
    int ioThreads;

    /*
     * A connection stays on one event loop, which copies its small writes into the page cache and
     * runs its flushes when it has nothing else in flight (as nbdkit's connection thread does; the
     * hand-offs cost more than the work). So, unlike the cluster daemons (STYLE 6), this tool gives
     * connections their own loops: with up to this many, none waits for another's disk work.
     */
    @Option(names = "--event-loops", defaultValue = "16", paramLabel = "N",
            description = "Threads serving connections, one connection each up to N (default: ${DEFAULT-VALUE}).")
    int eventLoops;

    /** How file writes and syncs are done: on the event loop's io_uring, or on I/O threads. */
    enum FileIo { auto, io_uring, threads }

    /** Overrides --file-io's default (tests run every NBD test on both paths with it). */
    static final String FILE_IO_PROPERTY = "basalt.nbd.fileIo";

    @Option(names = "--file-io", paramLabel = "MODE",
            description = {"File writes and syncs: auto (io_uring if the kernel allows it, else threads),",
                    "io_uring (fail if unavailable), threads (the I/O thread pool).",
                    "Default: auto, or the system property " + FILE_IO_PROPERTY + "."})
    FileIo fileIo;

    @Override
    public Integer call() throws Exception {
        if (eventLoops < 1 || eventLoops > 1024) {
            throw new UserError("--event-loops " + eventLoops + " is out of range; give 1 to 1024 (default 16)");
        }
        InetSocketAddress address = listen.address();
        NbdServer.Transport transport = chooseTransport();
        OptionalLong sizeBytes = size == null ? OptionalLong.empty() : OptionalLong.of(Units.parseBytes(size));
        PrometheusRegistry registry = new PrometheusRegistry();
        ShutdownSignal signal = ShutdownSignal.install();
        FileBlockDevice device = null;
        MetricsServer metrics = null;
        NbdServer server = null;
        boolean createdFile = !java.nio.file.Files.exists(file);
        boolean serving = false;
        try {
            device = FileBlockDevice.open(file, sizeBytes, readOnly, ioThreads);
            metrics = MetricsServer.start(registry, listen.bind, listen.metricsPort);
            NbdExports exports = NbdExports.single(exportName, file.getFileName().toString(), device);
            try {
                server = NbdServer.start(address, exports, new NbdMetrics(registry),
                        device.maximumPayloadBytes(), eventLoops, transport);
            } catch (java.io.IOException e) {
                throw listen.cannotListen(e);
            }
            String host = listen.uriHost();
            System.out.printf("basalt: serving %s (%s%s) as nbd://%s:%d/%s%n", file, Units.formatBytes(device.sizeBytes()),
                    readOnly ? ", read-only" : "", host, server.localAddress().getPort(), exportName);
            System.out.flush();
            serving = true;
            signal.await();
            log.info("shutting down: finishing in-flight requests");
            return 0;
        } finally {
            try {
                if (server != null) {
                    server.close();
                }
                if (device != null) {
                    device.close(); // the last flush: its failure is this command's failure
                    if (createdFile && !serving) {
                        // We made the file and never served it (e.g. the port was taken): leave no trace.
                        java.nio.file.Files.deleteIfExists(file);
                    }
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

    /**
     * Picks the event loops' transport, which decides where file writes run, and says so in one
     * line: io_uring saves two thread hand-offs per write (docs/performance.md).
     */
    private NbdServer.Transport chooseTransport() {
        FileIo mode = fileIo;
        if (mode == null) {
            String property = System.getProperty(FILE_IO_PROPERTY, FileIo.auto.name());
            try {
                mode = FileIo.valueOf(property);
            } catch (IllegalArgumentException e) {
                throw new UserError("-D" + FILE_IO_PROPERTY + "=" + property + " is not one of auto, io_uring, threads");
            }
        }
        String unavailable = mode == FileIo.threads ? "disabled by --file-io threads"
                : readOnly ? "read-only export" : NbdServer.Transport.ioUringUnavailableReason();
        if (unavailable == null) {
            log.info("file I/O: io_uring");
            return NbdServer.Transport.IO_URING;
        }
        if (mode == FileIo.io_uring) {
            throw new UserError("--file-io io_uring: io_uring is unavailable (" + unavailable
                    + "); use --file-io auto or threads");
        }
        log.info("file I/O: thread pool (io_uring unavailable: {})", unavailable);
        return NbdServer.Transport.withoutIoUring();
    }
}
