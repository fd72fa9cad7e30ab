package io.basalt.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.basalt.common.Units;
import io.basalt.meta.api.CsView;
import io.basalt.meta.api.MetaClient;
import io.basalt.meta.api.MetaException;
import io.basalt.meta.api.MetaStatus;
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

    record Report(MetaStatus meta, List<CsView> servers, List<Volume> volumes,
                  Map<Long, Long> degradedByVolume) {}

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
        if (options.json) {
            try {
                System.out.println(new ObjectMapper().writeValueAsString(json(report)));
            } catch (JsonProcessingException e) {
                throw new IllegalStateException("status as JSON: " + e.getMessage(), e);
            }
        } else {
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
        for (Volume volume : volumes) {
            degradedChunks(client, volume, statusById)
                    .ifPresent(count -> degradedByVolume.put(volume.id(), count));
        }
        return new Report(meta, servers, volumes, degradedByVolume);
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
        long degraded = 0;
        for (Chunk chunk : client.listChunks(volume.id())) {
            for (Chunklet chunklet : chunk.chunklets()) {
                CsStatus server = statusById.get(chunklet.csId());
                if (chunklet.state() != ChunkletState.UPTODATE
                        || (server != CsStatus.UP && server != CsStatus.FULL)) {
                    degraded++;
                    break;
                }
            }
        }
        return Optional.of(degraded);
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
        return total;
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
            volumes.add(item);
        }
        root.put("volumes", volumes);
        root.put("degradedChunks", degradedTotal(report));
        return root;
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
        TextTable servers = new TextTable("  ID", "HOST", "ADDRESS", "STATUS", "USED");
        for (CsView view : report.servers()) {
            ChunkServer cs = view.server();
            servers.row("  " + cs.id(), cs.host(), cs.address(), cs.status(),
                    bar(view.usedBytes(), cs.capacityBytes()));
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
        Long degraded = degradedTotal(report);
        System.out.println();
        System.out.println("degraded chunks: " + (degraded == null
                ? "n/a"
                : degraded));
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
