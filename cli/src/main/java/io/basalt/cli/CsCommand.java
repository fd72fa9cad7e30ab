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
        subcommands = {ChunkServerRunCommand.class, ChunkServerHostCommand.class, CsCommand.ListCs.class, CsCommand.Register.class,
                CsCommand.Drain.class, CsCommand.Remove.class, CsAddCommand.class})
final class CsCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    @Command(name = "list", mixinStandardHelpOptions = true,
            description = "Chunk servers: id, address, host, status, health, capacity, used,"
                    + " chunklets held (a draining server's: left to move).")
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
                            "chunklets", view.chunklets(),
                            "recoveringChunklets", view.recoveringChunklets(),
                            "version", cs.softwareVersion()));
                }
                System.out.println(TextTable.array(items).json());
                return;
            }
            TextTable table = new TextTable("ID", "ADDRESS", "HOST", "ZONE", "STATUS", "HEALTH",
                    "CAPACITY", "ALLOCATED", "USED", "CHUNKLETS", "HEARTBEAT");
            for (CsView view : servers) {
                ChunkServer cs = view.server();
                table.row(cs.id(), cs.address(), cs.host(), cs.zone(), cs.status(),
                        view.health() == null ? "-" : view.health(),
                        Units.formatBytes(cs.capacityBytes()), Units.formatBytes(cs.allocatedBytes()),
                        view.usedBytes() < 0 ? "-" : Units.formatBytes(view.usedBytes()),
                        view.chunklets() + (cs.status() == io.basalt.meta.model.CsStatus.DRAINING
                                ? " to move" : ""),
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

    @Command(name = "drain", mixinStandardHelpOptions = true,
            description = "Move every chunklet off a chunk server (it gets no new ones), a"
                    + " bounded number at a time; then: basalt cs remove ID. --cancel: back to UP.")
    static final class Drain implements Runnable {
        @Mixin
        MetaOptions options;

        @CommandLine.Parameters(paramLabel = "ID", description = "Chunk server id (basalt cs list).")
        int id;

        @Option(names = "--cancel", description = "Stop draining: the server is UP again (moves"
                + " under way finish).")
        boolean cancel;

        @Override
        public void run() {
            ChunkServer cs = options.call(c -> c.drainCs(id, cancel));
            if (options.json) {
                System.out.println(TextTable.object("id", cs.id(), "status", cs.status().name()));
            } else if (cancel) {
                System.out.println("cs " + cs.id() + " is " + cs.status() + " again");
            } else {
                System.out.println("cs " + cs.id() + " is " + cs.status() + ": its chunklets move"
                        + " to other servers; watch: basalt cs list; when it holds none:"
                        + " basalt cs remove " + cs.id());
            }
        }
    }

    @Command(name = "remove", mixinStandardHelpOptions = true,
            description = "Forget a chunk server that holds no chunklets (drained, or dead and"
                    + " rebuilt elsewhere). Its id is never reused.")
    static final class Remove implements Runnable {
        @Mixin
        MetaOptions options;

        @CommandLine.Parameters(paramLabel = "ID", description = "Chunk server id (basalt cs list).")
        int id;

        @Override
        public void run() {
            ChunkServer cs = options.call(c -> c.removeCs(id));
            if (options.json) {
                System.out.println(TextTable.object("id", cs.id(), "removed", true));
            } else {
                System.out.println("removed cs " + cs.id() + " (" + cs.address() + ", host "
                        + cs.host() + "); stop its process if it still runs");
            }
        }
    }
}
