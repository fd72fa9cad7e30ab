package io.basalt.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code basalt cs add}: one more chunk server for a running {@code basalt up} cluster.
 *
 * <p>Design note. It reads {@code DIR/cluster.json}, takes the next index n (host label
 * {@code host<n>}, data {@code DIR/cs<n>}, ports as {@link UpLayout} lays them out) and starts
 * {@code basalt cs run} for it as a detached process (setsid, log in {@code DIR/logs/cs<n>.log});
 * the new server registers with meta itself and the balancer fills it. It is recorded by its
 * data directory: the next {@code basalt up} on DIR counts the {@code cs<i>} directories that
 * have an identity file and starts them all ({@link UpCommand}), so there is no second record to
 * keep in step with the running {@code up}, which rewrites cluster.json. The running {@code up}
 * does not supervise it; it stops with its own SIGTERM or when {@code up} next restarts the
 * cluster (then as one of its own).
 */
@Command(name = "add", mixinStandardHelpOptions = true,
        description = "Start one more chunk server for the cluster of basalt up in DIR (the"
                + " balancer moves chunklets to it); the next basalt up on DIR starts it too.")
final class CsAddCommand implements Callable<Integer> {
    @Option(names = "--data", paramLabel = "DIR",
            description = "The directory of basalt up (default: $" + ClusterFile.DATA_ENV + ", else ./"
                    + ClusterFile.DATA_DIR_DEFAULT + ").")
    Path data;

    @Override
    public Integer call() throws Exception {
        if (data == null) {
            // Like the other admin verbs: --data, else $BASALT_DATA, else ./basalt-data.
            String env = System.getenv(ClusterFile.DATA_ENV);
            data = Path.of(env != null && !env.isBlank() ? env : ClusterFile.DATA_DIR_DEFAULT);
        }
        ClusterFile cluster = ClusterFile.readIfExists(data);
        if (cluster == null || !cluster.upRunning()) {
            throw new UserError("no running cluster in " + data.toAbsolutePath()
                    + "; start one with ./basalt up --data " + data);
        }
        int index = Math.max(cluster.chunkServers(), UpCommand.csDirsWithIdentity(data)) + 1;
        if (index > UpLayout.CHUNK_SERVERS_MAX) {
            throw new UserError("the cluster in " + data + " has " + (index - 1) + " chunk servers"
                    + " (basalt up lays out at most " + UpLayout.CHUNK_SERVERS_MAX + "); start more"
                    + " by hand: basalt cs run --meta " + cluster.metaPeers() + " --data DIR"
                    + " --host LABEL --port PORT");
        }
        UpLayout layout = new UpLayout(data, cluster.bind(), cluster.portBase(),
                cluster.metaNodes(), index);
        Path csDir = data.resolve("cs" + index);
        Files.createDirectories(csDir);
        List<String> arguments = new ArrayList<>(List.of("cs", "run",
                "--data", csDir.toString(), "--meta", cluster.metaPeers(),
                "--host", UpLayout.csHostLabel(index), "--bind", layout.bind(),
                "--port", String.valueOf(layout.csPort(index)),
                "--metrics-port", String.valueOf(layout.csMetricsPort(index))));
        if (cluster.insecure()) {
            arguments.add("--insecure");
        } else {
            Path tlsRoot = ClusterCertificates.root(data);
            ClusterCertificates.ensure(tlsRoot, data.getFileName().toString(),
                    java.util.Map.of("cs" + index, io.basalt.common.tls.Role.CHUNK_SERVER),
                    ClusterCertificates.upHosts(layout));
            arguments.addAll(List.of("--tls-dir", tlsRoot.resolve("cs" + index).toString()));
        }
        DaemonProcess server = new DaemonProcess("cs" + index, "cs", index, layout.csPort(index),
                layout.csMetricsPort(index), csDir, layout.logFile("cs" + index), arguments);
        server.start();
        System.out.println("started chunk server cs" + index + " (pid " + server.pid() + ", "
                + layout.bind() + ":" + layout.csPort(index) + ", host " + UpLayout.csHostLabel(index)
                + ", log " + layout.logFile("cs" + index) + "); watch it fill: basalt cs list");
        return 0;
    }
}
