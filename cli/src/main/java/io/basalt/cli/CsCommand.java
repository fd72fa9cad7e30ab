package io.basalt.cli;

import io.basalt.common.Units;
import io.basalt.meta.api.CsView;
import io.basalt.meta.model.ChunkServer;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code basalt cs ...}: chunk servers as meta knows them. */
@Command(name = "cs", mixinStandardHelpOptions = true,
        description = "Chunk servers.",
        subcommands = {ChunkServerRunCommand.class, CsCommand.ListCs.class, CsCommand.Register.class})
final class CsCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    @Command(name = "list", mixinStandardHelpOptions = true,
            description = "Chunk servers: id, address, host, status, health, capacity, used.")
    static final class ListCs implements Runnable {
        @Mixin
        MetaOptions options;

        @Override
        public void run() {
            List<CsView> servers = options.call(c -> c.listCs());
            if (options.json) {
                List<String> items = new ArrayList<>();
                for (CsView view : servers) {
                    ChunkServer cs = view.server();
                    items.add(TextTable.object("id", cs.id(), "address", cs.address(),
                            "host", cs.host(), "zone", cs.zone(), "status", cs.status().name(),
                            "capacityBytes", cs.capacityBytes(), "allocatedBytes", cs.allocatedBytes(),
                            "usedBytes", view.usedBytes(), "heartbeatAgeMillis",
                            view.heartbeatAgeMillis(), "health",
                            view.health() == null ? "" : view.health().name(),
                            "version", cs.softwareVersion()));
                }
                System.out.println(TextTable.array(items).json());
                return;
            }
            TextTable table = new TextTable("ID", "ADDRESS", "HOST", "ZONE", "STATUS", "HEALTH",
                    "CAPACITY", "ALLOCATED", "USED", "HEARTBEAT");
            for (CsView view : servers) {
                ChunkServer cs = view.server();
                table.row(cs.id(), cs.address(), cs.host(), cs.zone(), cs.status(),
                        view.health() == null ? "-" : view.health(),
                        Units.formatBytes(cs.capacityBytes()), Units.formatBytes(cs.allocatedBytes()),
                        view.usedBytes() < 0 ? "-" : Units.formatBytes(view.usedBytes()),
                        view.heartbeatAgeMillis() < 0 ? "-" : view.heartbeatAgeMillis() + " ms ago");
            }
            table.print(System.out);
        }
    }

    @Command(name = "register", mixinStandardHelpOptions = true,
            description = "Register a chunk server with meta by hand (chunk servers do this"
                    + " themselves on start); prints its id.")
    static final class Register implements Runnable {
        @Mixin
        MetaOptions options;

        @Option(names = "--address", required = true, description = "HOST:PORT of its data port.")
        String address;

        @Option(names = "--host", required = true, description = "Host label (failure domain).")
        String host;

        @Option(names = "--zone", defaultValue = "default", description = "Zone label.")
        String zone;

        @Option(names = "--capacity", required = true, description = "Capacity, e.g. 1T.")
        String capacity;

        @Option(names = "--id", defaultValue = "0", description = "Existing id to re-register.")
        int id;

        @Override
        public void run() {
            long capacityBytes = VolumeCommand.parseSize(capacity, "--capacity");
            ChunkServer cs = options.call(c -> c.registerCs(id, address, host, zone, capacityBytes,
                    "manual"));
            if (options.json) {
                System.out.println(TextTable.object("id", cs.id(), "address", cs.address(),
                        "host", cs.host(), "status", cs.status().name()));
            } else {
                System.out.println("registered chunk server " + cs.id() + " at " + cs.address());
            }
        }
    }
}
