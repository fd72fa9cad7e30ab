package io.basalt.cli;

import io.basalt.common.Units;
import io.basalt.meta.api.CsView;
import io.basalt.meta.api.MetaRequest.Heartbeat.HotReport;
import io.basalt.meta.model.Volume;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The hot-tier section of {@code basalt status} (docs/hot-tier.md): per chunk server the hot blocks it
 * holds against its hot store's capacity, and the freezer's progress (blocks folded into stripes since
 * the server started, its recent rate, failed attempts), from each server's heartbeat. Shown when a
 * volume has the hot tier on or a server still holds hot data.
 */
final class HotStatus {
    private HotStatus() {}

    static boolean shown(List<CsView> servers, List<Volume> volumes) {
        return volumes.stream().anyMatch(Volume::hotTier)
                || servers.stream().anyMatch(v -> v.hot().usedBytes() > 0 || v.hot().frozenBlocksTotal() > 0);
    }

    /** Bytes of hot copies the servers hold, all together (m + 1 per hot block: raw, not logical). */
    static long held(List<CsView> servers) {
        return servers.stream().mapToLong(v -> v.hot().usedBytes()).sum();
    }

    /** Blocks per second the servers' freezers fold, all together. */
    static long rate(List<CsView> servers) {
        return servers.stream().mapToLong(v -> v.hot().frozenBlocksPerSecond()).sum();
    }

    static Map<String, Object> json(List<CsView> servers) {
        List<Map<String, Object>> items = new ArrayList<>();
        for (CsView view : servers) {
            HotReport hot = view.hot();
            Map<String, Object> item = new LinkedHashMap<>();
            item.put("id", view.server().id());
            item.put("usedBytes", hot.usedBytes());
            item.put("capacityBytes", hot.capacityBytes());
            item.put("frozenBlocksTotal", hot.frozenBlocksTotal());
            item.put("frozenBlocksPerSecond", hot.frozenBlocksPerSecond());
            item.put("freezeFailuresTotal", hot.freezeFailuresTotal());
            items.add(item);
        }
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("usedBytes", held(servers));
        out.put("frozenBlocksPerSecond", rate(servers));
        out.put("servers", items);
        return out;
    }

    static void print(List<CsView> servers) {
        TextTable table = new TextTable("  CS", "HOT DATA HELD", "FROZEN SINCE START", "FREEZING NOW", "FAILED");
        for (CsView view : servers) {
            HotReport hot = view.hot();
            table.row("  " + view.server().id(),
                    view.heartbeatAgeMillis() < 0 ? "-" : StatusCommand.bar(hot.usedBytes(), hot.capacityBytes()),
                    Units.formatBytes(hot.frozenBlocksTotal() * 4096),
                    hot.frozenBlocksPerSecond() == 0 ? "-" : Units.formatBytes(hot.frozenBlocksPerSecond() * 4096) + "/s",
                    hot.freezeFailuresTotal());
        }
        long held = held(servers);
        long rate = rate(servers);
        System.out.println();
        // Hot data is held on m + 1 servers per block (the master's copy, the other parity columns'
        // and the data column's), so the total is raw bytes, not logical.
        System.out.println("hot tier: " + (held == 0 ? "nothing waiting to be frozen"
                : Units.formatBytes(held) + " of hot copies waiting to be frozen into stripes"
                        + (rate > 0 ? ", freezer at " + Units.formatBytes(rate * 4096) + "/s" : "")));
        table.print(System.out);
    }
}
