package io.basalt.cli;

import io.basalt.common.Units;
import io.basalt.meta.api.CsView;
import io.basalt.meta.api.MetaRequest.Heartbeat.ScrubReport;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The scrub section of {@code basalt status}: per chunk server whether a pass runs (bytes read, damage
 * found and repaired so far) and the last finished pass's findings, from each server's heartbeat.
 */
final class ScrubStatus {
    private ScrubStatus() {}

    static List<Map<String, Object>> json(List<CsView> servers) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (CsView view : servers) {
            ScrubReport scrub = view.scrub();
            Map<String, Object> item = new LinkedHashMap<>();
            item.put("id", view.server().id());
            item.put("running", scrub.running());
            item.put("passBytes", scrub.passBytes());
            item.put("passDamaged", scrub.passDamaged());
            item.put("passRepaired", scrub.passRepaired());
            item.put("lastPassEnd", scrub.lastPassEndMillis() == 0 ? null
                    : Instant.ofEpochMilli(scrub.lastPassEndMillis()).toString());
            item.put("lastPassDamaged", scrub.lastPassDamaged());
            item.put("lastPassRepaired", scrub.lastPassRepaired());
            out.add(item);
        }
        return out;
    }

    /** Damaged blocks the last finished passes found that are not repaired (the line to worry about). */
    static long unrepaired(List<CsView> servers) {
        long total = 0;
        for (CsView view : servers) {
            total += view.scrub().lastPassDamaged() - view.scrub().lastPassRepaired();
        }
        return total;
    }

    static void print(List<CsView> servers) {
        TextTable table = new TextTable("  CS", "PASS NOW", "LAST PASS ENDED", "FOUND", "REPAIRED");
        for (CsView view : servers) {
            ScrubReport scrub = view.scrub();
            table.row("  " + view.server().id(),
                    scrub.running() ? Units.formatBytes(scrub.passBytes()) + " read, " + scrub.passDamaged()
                            + " damaged, " + scrub.passRepaired() + " repaired" : "-",
                    scrub.lastPassEndMillis() == 0 ? "never" : Instant.ofEpochMilli(scrub.lastPassEndMillis()),
                    scrub.lastPassDamaged(), scrub.lastPassRepaired());
        }
        long unrepaired = unrepaired(servers);
        System.out.println();
        System.out.println("scrub" + (unrepaired > 0 ? ": " + unrepaired + " damaged blocks NOT repaired by the last"
                + " passes (see the chunk servers' logs)" : ":"));
        table.print(System.out);
    }
}
