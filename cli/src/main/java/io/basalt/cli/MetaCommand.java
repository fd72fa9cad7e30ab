package io.basalt.cli;

import io.basalt.common.Units;
import io.basalt.meta.api.MetaPeers;
import io.basalt.meta.api.MetaStatus;
import io.basalt.meta.server.MetaServer;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.ratis.protocol.RaftPeer;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code basalt meta ...}: the metadata service. */
@Command(name = "meta", mixinStandardHelpOptions = true,
        description = "The metadata service (Raft-replicated, RocksDB state).",
        subcommands = {MetaCommand.Run.class, MetaCommand.Status.class})
final class MetaCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    @Command(name = "run", mixinStandardHelpOptions = true,
            description = "Run one meta member in the foreground. The first start with a given"
                    + " --peers list bootstraps the group; later starts recover from --data.")
    static final class Run implements Runnable {
        @Option(names = "--id", required = true, description = "This member's id in --peers.")
        String id;

        @Option(names = "--data", required = true, description = "Data directory of this member.")
        Path data;

        @Option(names = "--peers", required = true,
                description = "All members, " + MetaPeers.SYNTAX + ".")
        String peers;

        @Option(names = "--cluster", defaultValue = MetaPeers.DEFAULT_CLUSTER,
                description = "Cluster name; names the Raft group (default: ${DEFAULT-VALUE}).")
        String cluster;

        @Option(names = "--chunk-size", defaultValue = "1G",
                description = "Cluster default chunk size of new volumes (default: ${DEFAULT-VALUE}).")
        String chunkSize;

        @Option(names = "--snapshot-every", defaultValue = "10000",
                description = "Take a snapshot every N log entries (default: ${DEFAULT-VALUE}).")
        long snapshotEvery;

        @Option(names = "--election-timeout-ms", defaultValue = "1500",
                description = "Minimum Raft election timeout; the maximum is twice it"
                        + " (default: ${DEFAULT-VALUE}).")
        long electionTimeoutMillis;

        @Option(names = "--cs-unhealthy-after-ms", defaultValue = "3000",
                description = "Heartbeat silence before a chunk server is UNHEALTHY"
                        + " (default: ${DEFAULT-VALUE}).")
        long unhealthyAfterMillis;

        @Option(names = "--cs-down-after-ms", defaultValue = "60000",
                description = "Heartbeat silence before a chunk server is DOWN"
                        + " (default: ${DEFAULT-VALUE}).")
        long downAfterMillis;

        @Option(names = "--recovery-grace-ms", defaultValue = "30000",
                description = "Heartbeat silence of an UNHEALTHY chunk server before its chunklets"
                        + " are rebuilt elsewhere; a DOWN one's are at once"
                        + " (default: ${DEFAULT-VALUE}).")
        long recoveryGraceMillis;

        @Option(names = "--metrics-port", defaultValue = "9830",
                description = "Prometheus metrics port (default: ${DEFAULT-VALUE}; 0 disables).")
        int metricsPort;

        @picocli.CommandLine.Mixin
        TlsOptions tls;

        @Option(names = "--log-segment-size", defaultValue = "8M",
                description = "Raft log segment size; purging works per segment"
                        + " (default: ${DEFAULT-VALUE}).")
        String logSegmentSize;

        @Override
        public void run() {
            List<RaftPeer> peerList;
            long chunkSizeBytes;
            long segmentBytes;
            try {
                peerList = MetaPeers.parse(peers);
                MetaPeers.addressOf(peerList, id);
                chunkSizeBytes = Units.parseBytes(chunkSize);
                segmentBytes = Units.parseBytes(logSegmentSize);
            } catch (IllegalArgumentException e) {
                throw new UserError(e.getMessage());
            }
            if (chunkSizeBytes < 64 * 1024 || chunkSizeBytes % 4096 != 0) {
                throw new UserError("--chunk-size " + chunkSize
                        + ": use a multiple of 4K of at least 64K, e.g. 1G");
            }
            if (snapshotEvery < 1) {
                throw new UserError("--snapshot-every " + snapshotEvery + " (must be >= 1)");
            }
            if (electionTimeoutMillis < 100) {
                throw new UserError("--election-timeout-ms " + electionTimeoutMillis
                        + " (must be >= 100)");
            }
            if (recoveryGraceMillis < 0) {
                throw new UserError("--recovery-grace-ms " + recoveryGraceMillis
                        + " (must be >= 0)");
            }
            if (segmentBytes < 1024) {
                throw new UserError("--log-segment-size " + logSegmentSize + " (must be >= 1K)");
            }
            MetaServer.Config config = new MetaServer.Config(id, cluster, peerList, data,
                    chunkSizeBytes, snapshotEvery, Duration.ofMillis(electionTimeoutMillis),
                    Duration.ofMillis(unhealthyAfterMillis), Duration.ofMillis(downAfterMillis),
                    segmentBytes, Duration.ofMinutes(5), Duration.ofMillis(recoveryGraceMillis))
                    .withTls(tls.identity(io.basalt.common.tls.Role.META, "meta member", "basalt meta run"));
            boolean zgc = java.lang.management.ManagementFactory.getGarbageCollectorMXBeans().stream()
                    .anyMatch(gc -> gc.getName().startsWith("ZGC"));
            if (!zgc) {
                // GC pauses count against the election timeout; ZGC keeps them under a millisecond.
                org.slf4j.LoggerFactory.getLogger(MetaCommand.class).warn("meta {} is not running"
                        + " with ZGC; for short GC pauses start it with"
                        + " BASALT_JAVA_OPTS=\"-XX:-UseG1GC -XX:+UseZGC\" (see docs/meta.md)", id);
            }
            MetaServer server;
            try {
                server = MetaServer.start(config);
            } catch (java.io.IOException e) {
                throw new UserError("cannot start meta member " + id + ": " + e.getMessage(), e);
            }
            io.basalt.common.metrics.MetricsServer metrics;
            try {
                metrics = io.basalt.common.metrics.MetricsServer.start(metaMetrics(server),
                        MetaPeers.addressOf(peerList, id).getHostString(), metricsPort);
            } catch (RuntimeException | java.io.IOException e) {
                closeQuietly(server);
                throw e instanceof IllegalArgumentException ? new UserError(e.getMessage()) : new UserError(
                        "cannot serve metrics on port " + metricsPort + ": " + e.getMessage(), e);
            }
            Runtime.getRuntime().addShutdownHook(new Thread(() -> {
                if (metrics != null) {
                    metrics.close();
                }
                try {
                    server.close();
                } catch (java.io.IOException e) {
                    System.err.println("basalt: closing meta failed: " + e.getMessage());
                }
            }, "meta-shutdown"));
            ShutdownSignal.watchLifelineIfSupervised();
            try {
                server.awaitStop();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            if (server.failed()) {
                throw new UserError("meta member " + id + " stopped after its Raft server shut"
                        + " down; see the log above, then restart it (it recovers from " + data + ")");
            }
        }
    }

    /** What a meta member exports to Prometheus besides JVM metrics. */
    static io.prometheus.metrics.model.registry.PrometheusRegistry metaMetrics(MetaServer server) {
        io.basalt.meta.server.MetaStateMachine stateMachine = server.stateMachine();
        var registry = new io.prometheus.metrics.model.registry.PrometheusRegistry();
        io.prometheus.metrics.core.metrics.GaugeWithCallback.builder().name("basalt_meta_leader")
                .help("Whether this member is the Raft leader (1) or not (0)").callback(cb -> cb.call(stateMachine.leader() ? 1 : 0))
                .register(registry);
        io.prometheus.metrics.core.metrics.GaugeWithCallback.builder().name("basalt_meta_last_applied_index")
                .help("Raft log index of the last entry applied to the state machine")
                .callback(cb -> {
                    var applied = stateMachine.getLastAppliedTermIndex();
                    cb.call(applied == null ? -1 : applied.getIndex());
                })
                .register(registry);
        io.prometheus.metrics.core.metrics.CounterWithCallback.builder().name("basalt_meta_applied_entries_total")
                .help("Log entries applied since this process started").callback(cb -> cb.call(stateMachine.appliedCount()))
                .register(registry);
        io.prometheus.metrics.core.metrics.GaugeWithCallback.builder().name("basalt_meta_heartbeating_chunkservers")
                .help("Chunk servers with a heartbeat in this leader's memory (0 on followers)")
                .callback(cb -> cb.call(stateMachine.beats().size()))
                .register(registry);
        pairCounter(registry, "basalt_meta_refused_requests_total",
                "Requests refused because the holder's certificate role may not send them, by role and"
                        + " operation (each also logged once: who and why)", "role", "op", server::refusals);
        pairCounter(registry, "basalt_meta_applied_ops_total",
                "Log entries applied since start by operation and result (ok, refused)", "op", "result",
                stateMachine::appliedOps);
        pairCounter(registry, "basalt_meta_recovery_items_total",
                "Recovery items this member proposed as leader, by mode (rebuild, catchup, outdate, move)"
                        + " and outcome (changed, skipped, no_placement, last_copy)", "mode", "outcome",
                server::recoveryItemsProposed);
        io.prometheus.metrics.core.metrics.CounterWithCallback.builder()
                .name("basalt_meta_version_tombstones_collected_total")
                .help("Version-index tombstones this member collected as leader (their chunk server"
                        + " had applied them)")
                .callback(cb -> cb.call(server.tombstonesCollected()))
                .register(registry);
        io.prometheus.metrics.core.metrics.CounterWithCallback.builder().name("basalt_meta_admin_socket_requests_total")
                .help("Requests this member forwarded from its local admin socket (docs/security.md)")
                .callback(cb -> cb.call(server.adminSocket() == null ? 0 : server.adminSocket().requests()))
                .register(registry);
        io.prometheus.metrics.core.metrics.CounterWithCallback.builder().name("basalt_meta_admin_socket_refused_total")
                .help("Connections to the local admin socket closed because their peer was another user")
                .callback(cb -> cb.call(server.adminSocket() == null ? 0 : server.adminSocket().refusedPeers()))
                .register(registry);
        io.prometheus.metrics.core.metrics.GaugeWithCallback.builder().name("basalt_meta_recovery_stuck_chunks")
                .help("Chunks the last recoverer pass could not heal (no free failure domain, last copy);"
                        + " 0 on followers")
                .callback(cb -> cb.call(stateMachine.stuckRecoveryCount()))
                .register(registry);
        io.prometheus.metrics.core.metrics.GaugeWithCallback.builder().name("basalt_meta_cluster_recovery")
                .help("Recovery work the chunk servers report in their heartbeats, summed (leader only):"
                        + " active and queued chunklets, bytes per second")
                .labelNames("what")
                .callback(cb -> {
                    long active = 0;
                    long queued = 0;
                    long rate = 0;
                    for (var beat : stateMachine.beats().values()) {
                        active += beat.recovery().activeChunklets();
                        queued += beat.recovery().queuedChunklets();
                        rate += beat.recovery().bytesPerSecond();
                    }
                    cb.call(active, "active_chunklets");
                    cb.call(queued, "queued_chunklets");
                    cb.call(rate, "bytes_per_second");
                })
                .register(registry);
        return registry;
    }

    /** A counter labelled by two names, read from a map of [label1, label2] to count at each scrape. */
    private static void pairCounter(io.prometheus.metrics.model.registry.PrometheusRegistry registry, String name,
            String help, String label1, String label2,
            java.util.function.Supplier<java.util.Map<List<String>, Long>> counts) {
        io.prometheus.metrics.core.metrics.CounterWithCallback.builder().name(name).help(help)
                .labelNames(label1, label2)
                .callback(cb -> counts.get().forEach((key, count) -> cb.call(count, key.get(0), key.get(1))))
                .register(registry);
    }

    private static void closeQuietly(MetaServer server) {
        try {
            server.close();
        } catch (java.io.IOException e) {
            System.err.println("basalt: closing meta failed: " + e.getMessage());
        }
    }

    @Command(name = "status", mixinStandardHelpOptions = true,
            description = "Cluster id, members, leader, term and last applied index.")
    static final class Status implements Runnable {
        @Mixin
        MetaOptions options;

        @Override
        public void run() {
            MetaStatus status = options.call(client -> client.status());
            if (options.json) {
                List<String> members = new ArrayList<>();
                for (MetaStatus.Member member : status.members()) {
                    members.add(TextTable.object("id", member.id(), "address", member.address(),
                            "leader", member.leader(), "commitIndex", member.commitIndex()));
                }
                System.out.println(TextTable.object("clusterId", status.clusterId(),
                        "group", status.groupId(),
                        "leader", status.leaderId(), "term", status.term(),
                        "lastAppliedIndex", status.lastAppliedIndex(),
                        "commitIndex", status.commitIndex(), "members", TextTable.array(members)));
                return;
            }
            System.out.println("cluster " + (status.clusterId().isEmpty() ? "(no id yet)"
                    : status.clusterId()) + ", leader " + status.leaderId() + ", term "
                    + status.term()
                    + ", last applied index " + status.lastAppliedIndex() + ", commit index "
                    + status.commitIndex());
            TextTable table = new TextTable("ID", "ADDRESS", "ROLE", "COMMIT INDEX");
            for (MetaStatus.Member member : status.members()) {
                table.row(member.id(), member.address(), member.leader() ? "leader" : "follower",
                        member.commitIndex() < 0 ? "-" : member.commitIndex());
            }
            table.print(System.out);
        }
    }
}
