package io.basalt.cli;

import java.nio.file.Path;

/**
 * Where a cluster started by {@code basalt up} keeps its files and which ports it listens on.
 *
 * <p>Every port is an offset from one base, so {@code --port-base} moves the whole cluster and two
 * clusters (or a test) can share a machine. The default base, 7100, gives each daemon the default
 * port of its own verb:
 *
 * <pre>
 * daemon        port          default (base 7100)   offset
 * meta i        Raft/gRPC     7101..7103            base + i
 * cs i          data          7701..7709            base + 600 + i
 * s3 gateway    HTTP          9000                  base + 1900
 * nbd gateway   metrics       9810                  base + 2710
 * s3 gateway    metrics       9811                  base + 2711
 * cs i          metrics       9821..9829            base + 2720 + i
 * meta i        metrics       9831..9833            base + 2730 + i
 * nbd gateway   NBD           10809                 base + 3709
 * </pre>
 *
 * <p>Chunk server metrics (base + 2721..2729) end below meta metrics (base + 2731), which is why a
 * cluster on one machine has at most {@link #CHUNK_SERVERS_MAX} chunk servers: enough for rep3
 * across hosts and for ec6+3.
 *
 * <p>Files: {@code DIR/meta1..3}, {@code DIR/cs1..N} (data), {@code DIR/logs/NAME.log} (each
 * daemon's stdout and stderr), {@code DIR/cluster.json} ({@link ClusterFile}) and
 * {@code DIR/up.lock} (held by the running {@code up}).
 */
record UpLayout(Path dataDir, String bind, int portBase, int metaNodes, int chunkServers) {
    static final int PORT_BASE_DEFAULT = 7100;
    static final int CHUNK_SERVERS_MAX = 9;
    /** Highest offset used: the NBD port. */
    static final int PORT_SPAN = 3709;
    static final int PORT_BASE_MIN = 1024;
    static final int PORT_BASE_MAX = 65535 - PORT_SPAN;

    UpLayout {
        if (portBase < PORT_BASE_MIN || portBase > PORT_BASE_MAX) {
            throw new UserError("--port-base " + portBase + " (must be " + PORT_BASE_MIN + ".."
                    + PORT_BASE_MAX + ": the cluster uses ports up to base + " + PORT_SPAN + ")");
        }
        if (metaNodes != 1 && metaNodes != 3) {
            throw new UserError("--meta-nodes " + metaNodes + " (use 1, or 3 to survive a member"
                    + " failure)");
        }
        if (chunkServers < 1 || chunkServers > CHUNK_SERVERS_MAX) {
            throw new UserError("--chunkservers " + chunkServers + " (1.." + CHUNK_SERVERS_MAX
                    + " on one machine; rep3 needs 3)");
        }
    }

    int metaPort(int index) {
        return portBase + index;
    }

    int metaMetricsPort(int index) {
        return portBase + 2730 + index;
    }

    int csPort(int index) {
        return portBase + 600 + index;
    }

    int csMetricsPort(int index) {
        return portBase + 2720 + index;
    }

    int s3Port() {
        return portBase + 1900;
    }

    int s3MetricsPort() {
        return portBase + 2711;
    }

    /** Keys of the S3 user {@code up} creates on a cluster's first start (an AWS credentials file). */
    Path s3CredentialsFile() {
        return dataDir.resolve("s3-credentials");
    }

    int nbdPort() {
        return portBase + 3709;
    }

    int nbdMetricsPort() {
        return portBase + 2710;
    }

    /** The meta members as every verb takes them: {@code 1@BIND:7101,2@BIND:7102,...}. */
    String metaPeers() {
        StringBuilder peers = new StringBuilder();
        for (int i = 1; i <= metaNodes; i++) {
            if (i > 1) {
                peers.append(',');
            }
            peers.append(i).append('@').append(bind).append(':').append(metaPort(i));
        }
        return peers.toString();
    }

    /** A chunk server's host label: one per CS, so rep3 places across three "hosts". */
    static String csHostLabel(int index) {
        return "host" + index;
    }

    Path logDir() {
        return dataDir.resolve("logs");
    }

    Path logFile(String daemonName) {
        return logDir().resolve(daemonName + ".log");
    }

    Path clusterFile() {
        return dataDir.resolve(ClusterFile.FILE_NAME);
    }

    Path lockFile() {
        return dataDir.resolve("up.lock");
    }
}
