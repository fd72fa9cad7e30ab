package io.basalt.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.basalt.common.Units;
import io.basalt.meta.api.CsView;
import io.basalt.meta.api.MetaClient;
import io.basalt.meta.api.MetaException;
import io.basalt.meta.api.MetaRequest.Heartbeat.RecoveryProgress;
import io.basalt.meta.api.MetaStatus;
import io.basalt.meta.api.StuckRecovery;
import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.ChunkServer;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.ChunkletState;
import io.basalt.meta.model.CsStatus;
import io.basalt.meta.model.Volume;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

/**
 * {@code basalt status}: the cluster's health on one screen — meta members and leader, chunk
 * servers with status and a capacity bar, volumes, and how many chunks are degraded.
 *
 * <p>A chunk is degraded when one of its chunklets is not UPTODATE or sits on a chunk server that
 * is not serving (not UP or FULL), counted from each volume's chunk list ({@code LIST_CHUNKS},
 * paged).
 *
 * <p>A recovery section appears while any chunk server reports recovery work or has RECOVERING
 * chunklets, or the leader's recoverer has stuck chunks: per chunk server a progress bar of the
 * bytes of its current work with rate and ETA, its RECOVERING chunklets and the bytes it rebuilt
 * and caught up so far; then why chunks stay degraded, one line per reason with a count.
 */
@Command(name = "status", mixinStandardHelpOptions = true,
        description = "Cluster health: meta members and leader, chunk servers, volumes, degraded"
                + " chunks. Exits 1 when meta does not answer.")
final class StatusCommand implements Runnable {
    /** Fail fast when meta is down: about 5 s of retries instead of the client's default 30 s. */
    private static final int RETRY_COUNT = 25;
    private static final int BAR_WIDTH = 20;

    @Mixin
    MetaOptions options;

    private static final int RECOVERY_BAR_WIDTH = 10;

    /** {@code recovery} null: a meta that does not know RECOVERY_STATUS (an older build). */
    /**
     * {@code noParityByVolume}: per erasure-coded volume, its chunks with no parity column that takes
     * writes (absent when none), whose new writes go to the data columns directly and so live on one
     * copy until a parity column is back (docs/chunkserver.md, "Writes with every parity column down").
     */
    record Report(MetaStatus meta, List<CsView> servers, List<Volume> volumes,
                  Map<Long, Long> degradedByVolume, MetaClient.RecoveryStatus recovery, ObjectStatus objects,
                  Map<Long, Long> noParityByVolume) {}

    @Override
    public void run() {
        String peers = options.peers();
        Report report = options.call(client -> {
            try {
                return collect(client);
            } catch (MetaException e) {
                // The client's own hint (basalt meta status) would fail the same way.
                String reason = e.getMessage();
                int hint = reason.indexOf("; check the meta peers");
                throw new UserError("meta at " + peers + " does not answer ("
                        + (hint < 0 ? reason : reason.substring(0, hint))
                        + "); is the cluster running? ./basalt up starts one here", e);
            }
        }, Duration.ofSeconds(2), RETRY_COUNT);
        String security = options.security();
        if (options.json) {
            try {
                Map<String, Object> root = json(report);
                if (security != null) {
                    root.put("security", security);
                }
                System.out.println(new ObjectMapper().writeValueAsString(root));
            } catch (JsonProcessingException e) {
                throw new IllegalStateException("status as JSON: " + e.getMessage(), e);
            }
        } else {
            if (ClusterFile.SECURITY_INSECURE.equals(security)) {
                System.out.println("security: INSECURE (started with --insecure): no TLS, anyone who reaches"
                        + " the ports can read and write data");
            } else if (security != null) {
                System.out.println("security: mutual TLS on every connection (meta, chunk servers, gateways,"
                        + " clients; certificates in DATA/tls); meta checks each request's role");
            }
            print(report);
        }
    }

    static Report collect(MetaClient client) {
        MetaStatus meta = client.status();
        List<CsView> servers = client.listCs();
        List<Volume> volumes = client.listVolumes();
        Map<Integer, CsStatus> statusById = new HashMap<>();
        for (CsView view : servers) {
            statusById.put(view.server().id(), view.server().status());
        }
        Map<Long, Long> degradedByVolume = new HashMap<>();
        Map<Long, Long> noParityByVolume = new HashMap<>();
        for (Volume volume : volumes) {
            List<Chunk> chunks = volume.chunkCount() == 0 ? List.of() : client.listChunks(volume.id());
            degradedByVolume.put(volume.id(), degraded(chunks, statusById));
            long noParity = withoutParity(chunks, io.basalt.meta.model.Policy.parse(volume.policyName()));
            if (noParity > 0) {
                noParityByVolume.put(volume.id(), noParity);
            }
        }
        MetaClient.RecoveryStatus recovery;
        try {
            recovery = client.recoveryStatus();
        } catch (MetaException e) {
            recovery = null;
        }
        return new Report(meta, servers, volumes, degradedByVolume, recovery,
                ObjectStatus.collect(client, statusById), noParityByVolume);
    }

    /**
     * Degraded chunks of {@code volume}: a chunklet that is not UPTODATE, or on a chunk server that
     * is not serving (a FULL one still serves its data). Always known; the Optional stays for a
     * later cap on huge volumes.
     */
    static Optional<Long> degradedChunks(MetaClient client, Volume volume,
                                         Map<Integer, CsStatus> statusById) {
        if (volume.chunkCount() == 0) {
            return Optional.of(0L);
        }
        return Optional.of(degraded(client.listChunks(volume.id()), statusById));
    }

    /** Of {@code chunks}, those with a chunklet that is not UPTODATE or on a server not serving. */
    private static long degraded(List<Chunk> chunks, Map<Integer, CsStatus> statusById) {
        long degraded = 0;
        for (Chunk chunk : chunks) {
            for (Chunklet chunklet : chunk.chunklets()) {
                CsStatus server = statusById.get(chunklet.csId());
                if (chunklet.state() != ChunkletState.UPTODATE
                        || (server != CsStatus.UP && server != CsStatus.FULL)) {
                    degraded++;
                    break;
                }
            }
        }
        return degraded;
    }

    /** Of an erasure-coded volume's {@code chunks}, those where no parity column takes writes. */
    static long withoutParity(List<Chunk> chunks, io.basalt.meta.model.Policy policy) {
        if (!policy.erasureCoded()) {
            return 0;
        }
        return chunks.stream().filter(chunk -> chunk.chunklets().stream().noneMatch(c -> c.index() >= policy.dataCount()
                && (c.state() == ChunkletState.UPTODATE || c.state() == ChunkletState.RECOVERING
                        || c.state() == ChunkletState.MIGRATING))).count();
    }

    /** Total degraded chunks, or null when a volume was too large to scan. */
    static Long degradedTotal(Report report) {
        long total = 0;
        for (Volume volume : report.volumes()) {
            Long count = report.degradedByVolume().get(volume.id());
            if (count == null) {
                return null;
            }
            total += count;
        }
        Long objects = report.objects().degradedChunks();
        return objects == null ? null : total + objects;
    }

    static Map<String, Object> json(Report report) {
        Map<String, Object> root = new LinkedHashMap<>();
        Map<String, Object> meta = new LinkedHashMap<>();
        meta.put("group", report.meta().groupId());
        meta.put("leader", report.meta().leaderId());
        meta.put("term", report.meta().term());
        meta.put("lastAppliedIndex", report.meta().lastAppliedIndex());
        List<Object> members = new ArrayList<>();
        for (MetaStatus.Member member : report.meta().members()) {
            Map<String, Object> item = new LinkedHashMap<>();
            item.put("id", member.id());
            item.put("address", member.address());
            item.put("leader", member.leader());
            item.put("commitIndex", member.commitIndex());
            members.add(item);
        }
        meta.put("members", members);
        root.put("meta", meta);
        List<Object> servers = new ArrayList<>();
        long up = 0;
        for (CsView view : report.servers()) {
            ChunkServer cs = view.server();
            up += cs.status() == CsStatus.UP ? 1 : 0;
            Map<String, Object> item = new LinkedHashMap<>();
            item.put("id", cs.id());
            item.put("host", cs.host());
            item.put("zone", cs.zone());
            item.put("address", cs.address());
            item.put("status", cs.status().name());
            item.put("capacityBytes", cs.capacityBytes());
            item.put("usedBytes", view.usedBytes());
            item.put("allocatedBytes", cs.allocatedBytes());
            item.put("heartbeatAgeMillis", view.heartbeatAgeMillis());
            item.put("chunklets", view.chunklets());
            servers.add(item);
        }
        root.put("chunkServers", servers);
        root.put("chunkServersUp", up);
        List<Object> volumes = new ArrayList<>();
        for (Volume volume : report.volumes()) {
            Map<String, Object> item = new LinkedHashMap<>();
            item.put("id", volume.id());
            item.put("name", volume.name());
            item.put("sizeBytes", volume.sizeBytes());
            item.put("policy", volume.policyName());
            item.put("allocatedBytes", volume.allocatedBytes());
            item.put("rawBytes", VolumeCommand.rawBytes(volume));
            item.put("chunks", volume.chunkCount());
            item.put("chunkSlots", volume.chunkSlots());
            item.put("degradedChunks", report.degradedByVolume().get(volume.id()));
            item.put("chunksWithoutParity", report.noParityByVolume().getOrDefault(volume.id(), 0L));
            volumes.add(item);
        }
        root.put("volumes", volumes);
        root.put("objects", report.objects().json());
        root.put("degradedChunks", degradedTotal(report));
        root.put("recovery", recoveryJson(report));
        root.put("scrub", ScrubStatus.json(report.servers()));
        root.put("hotTier", HotStatus.json(report.servers()));
        return root;
    }

    /** Whether the recovery section is shown: work reported, RECOVERING chunklets or stuck. */
    static boolean recoveryShown(Report report) {
        for (CsView view : report.servers()) {
            if (view.recovery().active() || view.recoveringChunklets() > 0) {
                return true;
            }
        }
        return report.recovery() != null && report.recovery().stuckTotal() > 0;
    }

    static Map<String, Object> recoveryJson(Report report) {
        Map<String, Object> recovery = new LinkedHashMap<>();
        long recovering = 0;
        List<Object> servers = new ArrayList<>();
        for (CsView view : report.servers()) {
            recovering += view.recoveringChunklets();
            RecoveryProgress progress = view.recovery();
            if (!progress.active() && view.recoveringChunklets() == 0) {
                continue;
            }
            Map<String, Object> item = new LinkedHashMap<>();
            item.put("id", view.server().id());
            item.put("recoveringChunklets", view.recoveringChunklets());
            item.put("activeChunklets", progress.activeChunklets());
            item.put("queuedChunklets", progress.queuedChunklets());
            item.put("bytesDone", progress.bytesDone());
            item.put("bytesTotal", progress.bytesTotal());
            item.put("bytesPerSecond", progress.bytesPerSecond());
            item.put("etaSeconds", etaSeconds(progress));
            item.put("rebuiltBytesTotal", progress.rebuiltBytesTotal());
            item.put("catchUpBytesTotal", progress.catchUpBytesTotal());
            servers.add(item);
        }
        recovery.put("active", recoveryShown(report));
        recovery.put("recoveringChunklets", recovering);
        recovery.put("servers", servers);
        recovery.put("stuckChunks", report.recovery() == null ? null
                : report.recovery().stuckTotal());
        List<Object> reasons = new ArrayList<>();
        for (Map.Entry<String, Long> entry : stuckReasons(report).entrySet()) {
            Map<String, Object> item = new LinkedHashMap<>();
            item.put("reason", entry.getKey());
            item.put("chunks", entry.getValue());
            reasons.add(item);
        }
        recovery.put("stuckReasons", reasons);
        return recovery;
    }

    /** "OUTCOME: reason" -> chunks, most frequent first (of the stuck chunks meta listed). */
    static Map<String, Long> stuckReasons(Report report) {
        Map<String, Long> counts = new HashMap<>();
        if (report.recovery() != null) {
            for (StuckRecovery stuck : report.recovery().stuck()) {
                counts.merge(stuck.outcome() + ": " + stuck.reason(), 1L, Long::sum);
            }
        }
        Map<String, Long> sorted = new LinkedHashMap<>();
        counts.entrySet().stream()
                .sorted(Map.Entry.<String, Long>comparingByValue().reversed()
                        .thenComparing(Map.Entry.comparingByKey()))
                .forEach(entry -> sorted.put(entry.getKey(), entry.getValue()));
        return sorted;
    }

    /** Seconds left at the current rate, or null when there is no rate yet. */
    static Long etaSeconds(RecoveryProgress progress) {
        if (progress.bytesPerSecond() <= 0) {
            return null;
        }
        long left = Math.max(0, progress.bytesTotal() - progress.bytesDone());
        return (left + progress.bytesPerSecond() - 1) / progress.bytesPerSecond();
    }

    /** {@code [#####.....] 1.2 GiB / 2.0 GiB  85 MiB/s  ETA 10 s}. */
    static String recoveryBar(RecoveryProgress progress) {
        long total = Math.max(0, progress.bytesTotal());
        long done = Math.min(Math.max(0, progress.bytesDone()), total);
        int filled = total == 0 ? 0
                : (int) Math.round((double) done / total * RECOVERY_BAR_WIDTH);
        Long eta = etaSeconds(progress);
        return "[" + "#".repeat(filled) + ".".repeat(RECOVERY_BAR_WIDTH - filled) + "] "
                + Units.formatBytes(done) + " / " + Units.formatBytes(total) + "  "
                + Units.formatBytes(Math.max(0, progress.bytesPerSecond())) + "/s  ETA "
                + (eta == null ? "-" : eta + " s");
    }

    static void printRecovery(Report report) {
        long recovering = report.servers().stream().mapToLong(CsView::recoveringChunklets).sum();
        System.out.println();
        System.out.println("recovery: " + recovering + " chunklet" + (recovering == 1 ? "" : "s")
                + " RECOVERING");
        TextTable servers = new TextTable("  CS", "RECOVERING", "ACTIVE", "QUEUED", "PROGRESS",
                "REBUILT", "CAUGHT UP");
        boolean any = false;
        for (CsView view : report.servers()) {
            RecoveryProgress progress = view.recovery();
            if (!progress.active() && view.recoveringChunklets() == 0) {
                continue;
            }
            any = true;
            servers.row("  " + view.server().id(), view.recoveringChunklets(),
                    progress.activeChunklets(), progress.queuedChunklets(),
                    progress.active() ? recoveryBar(progress) : "-",
                    Units.formatBytes(progress.rebuiltBytesTotal()),
                    Units.formatBytes(progress.catchUpBytesTotal()));
        }
        if (any) {
            servers.print(System.out);
        }
        Map<String, Long> reasons = stuckReasons(report);
        if (!reasons.isEmpty()) {
            System.out.println("  stuck chunks: " + report.recovery().stuckTotal());
            for (Map.Entry<String, Long> entry : reasons.entrySet()) {
                System.out.println("    " + entry.getValue() + " x " + entry.getKey());
            }
        }
    }

    static void print(Report report) {
        MetaStatus meta = report.meta();
        System.out.println("meta: leader " + (meta.leaderId().isEmpty() ? "NONE" : meta.leaderId())
                + ", term " + meta.term() + ", last applied index " + meta.lastAppliedIndex());
        TextTable members = new TextTable("  MEMBER", "ADDRESS", "ROLE");
        for (MetaStatus.Member member : meta.members()) {
            members.row("  " + member.id(), member.address(), member.leader() ? "leader" : "follower");
        }
        members.print(System.out);

        long up = report.servers().stream().filter(v -> v.server().status() == CsStatus.UP).count();
        System.out.println();
        System.out.println("chunk servers: " + up + " of " + report.servers().size() + " UP");
        TextTable servers = new TextTable("  ID", "HOST", "ADDRESS", "STATUS", "USED", "CHUNKLETS");
        for (CsView view : report.servers()) {
            ChunkServer cs = view.server();
            servers.row("  " + cs.id(), cs.host(), cs.address(), cs.status(),
                    bar(view.usedBytes(), cs.capacityBytes()), view.chunklets()
                            + (cs.status() == CsStatus.DRAINING ? " left to move" : ""));
        }
        servers.print(System.out);

        System.out.println();
        System.out.println("volumes: " + report.volumes().size());
        if (!report.volumes().isEmpty()) {
            TextTable volumes = new TextTable("  NAME", "SIZE", "POLICY", "ALLOCATED", "RAW", "DEGRADED");
            for (Volume volume : report.volumes()) {
                Long degraded = report.degradedByVolume().get(volume.id());
                volumes.row("  " + volume.name(), Units.formatBytes(volume.sizeBytes()),
                        volume.policyName(), Units.formatBytes(volume.allocatedBytes()),
                        Units.formatBytes(VolumeCommand.rawBytes(volume)),
                        degraded == null ? "n/a" : degraded + " of " + volume.chunkCount());
            }
            volumes.print(System.out);
        }
        System.out.println();
        report.objects().print(System.out);
        Long degraded = degradedTotal(report);
        System.out.println();
        System.out.println("degraded chunks: " + (degraded == null
                ? "n/a"
                : degraded));
        long withoutParity = report.noParityByVolume().values().stream().mapToLong(Long::longValue).sum();
        if (withoutParity > 0) {
            System.out.println("  " + withoutParity + " of them with no parity column taking writes: their new writes"
                    + " are on one copy (the data column) until a parity column is back");
        }
        if (recoveryShown(report)) {
            printRecovery(report);
        }
        ScrubStatus.print(report.servers());
        if (HotStatus.shown(report.servers(), report.volumes())) {
            HotStatus.print(report.servers());
        }
    }

    /** {@code [#####...............]  1.2 GiB of 98 GiB (5%)}; "-" without a heartbeat yet. */
    static String bar(long usedBytes, long capacityBytes) {
        if (usedBytes < 0 || capacityBytes <= 0) {
            return "- (no heartbeat yet) of " + Units.formatBytes(Math.max(0, capacityBytes));
        }
        double fraction = Math.min(1.0, (double) usedBytes / capacityBytes);
        int filled = (int) Math.round(fraction * BAR_WIDTH);
        if (usedBytes > 0 && filled == 0) {
            filled = 1;
        }
        return "[" + "#".repeat(filled) + ".".repeat(BAR_WIDTH - filled) + "]  "
                + Units.formatBytes(usedBytes) + " of " + Units.formatBytes(capacityBytes)
                + String.format(Locale.ROOT, " (%.0f%%)", fraction * 100);
    }
}
