package io.basalt.cli;

import io.basalt.common.Units;
import io.basalt.meta.model.Volume;
import io.basalt.meta.model.VolumeQos;
import java.io.Console;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code basalt volume ...}: block volumes. */
@Command(name = "volume", mixinStandardHelpOptions = true,
        description = "Create, list, inspect, resize, limit (QoS), tier, snapshot, clone and delete block volumes.",
        subcommands = {VolumeCommand.Create.class, VolumeCommand.ListVolumes.class,
                VolumeCommand.Info.class, VolumeCommand.Resize.class, VolumeCommand.Qos.class,
                VolumeCommand.HotTier.class,
                VolumeCommand.Delete.class, VolumeCommand.Verify.class, SnapshotCommand.class,
                SnapshotCommand.Rollback.class, SnapshotCommand.Clone.class, SnapshotCommand.Diff.class,
                SnapshotCommand.Flatten.class})
final class VolumeCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    static long parseSize(String text, String option) {
        try {
            return Units.parseBytes(text);
        } catch (IllegalArgumentException e) {
            throw new UserError(option + ": " + e.getMessage());
        }
    }

    static String json(Volume volume) {
        return TextTable.object(jsonFields(volume).toArray());
    }

    static List<Object> jsonFields(Volume volume) {
        return new java.util.ArrayList<>(List.of("id", volume.id(), "name", volume.name(),
                "sizeBytes", volume.sizeBytes(), "blockSizeBytes", volume.blockSizeBytes(),
                "policy", volume.policyName(), "chunkSizeBytes", volume.chunkSizeBytes(),
                "chunks", volume.chunkCount(), "allocatedBytes", volume.allocatedBytes(),
                "rawBytes", rawBytes(volume),
                "created", Instant.ofEpochMilli(volume.createdMillis()).toString(),
                "qos", new TextTable.RawJson(QosOptions.json(volume.qos())), "hotTier", volume.hotTier(),
                "parentLayerId", volume.parentId()));
    }

    /**
     * What the volume's own chunks hold on the chunk servers, asked of each chunklet (INFO, metadata
     * only): the data once, every chunklet's bytes (replicas and parity: the real raw figure, where
     * "raw on disk" above counts whole chunks), and the hot copies waiting for the freezer. After a
     * freeze the hot bytes go to 0 and the raw bytes to about 1.5x the data for ec4+2.
     */
    static String spaceLine(io.basalt.client.LayerSpace.Space space) {
        String ratio = space.dataBytes() == 0 ? ""
                : String.format(java.util.Locale.ROOT, " (%.2fx)", (double) (space.rawBytes() + space.hotBytes())
                        / space.dataBytes());
        return "stored on the chunk servers: " + Units.formatBytes(space.dataBytes()) + " of data, "
                + Units.formatBytes(space.rawBytes()) + " in chunklets + " + Units.formatBytes(space.hotBytes())
                + " hot copies = " + Units.formatBytes(space.rawBytes() + space.hotBytes()) + " raw" + ratio
                + (space.unanswered() > 0 ? "; " + space.unanswered() + " of " + space.chunklets()
                        + " chunklets did not answer (not counted)" : "");
    }

    static void printInfo(Volume volume, boolean asJson) {
        if (asJson) {
            System.out.println(json(volume));
            return;
        }
        TextTable table = new TextTable("FIELD", "VALUE");
        table.row("name", volume.name());
        table.row("id", volume.id());
        table.row("size", Units.formatBytes(volume.sizeBytes()) + " (" + volume.sizeBytes() + " bytes)");
        table.row("policy", volume.policyName());
        table.row("block size", volume.blockSizeBytes());
        table.row("chunk size", Units.formatBytes(volume.chunkSizeBytes()));
        table.row("chunks", volume.chunkCount() + " of " + volume.chunkSlots() + " allocated");
        table.row("allocated", Units.formatBytes(volume.allocatedBytes()));
        table.row("raw on disk", Units.formatBytes(rawBytes(volume)) + rawRatio(volume));
        table.row("created", Instant.ofEpochMilli(volume.createdMillis()));
        table.row("qos", QosOptions.summary(volume.qos()));
        if (io.basalt.meta.model.Policy.parse(volume.policyName()).erasureCoded() && !volume.isSnapshot()) {
            table.row("hot tier", volume.hotTier() ? "on (small writes to replicas, frozen into stripes later)"
                    : "off (every write to the stripes; basalt volume hot-tier " + volume.name() + " on)");
        }
        if (volume.parentId() != 0) {
            table.row("parent layer", "id " + volume.parentId() + " (blocks this volume never wrote read from there)");
        }
        table.print(System.out);
    }

    @Command(name = "create", mixinStandardHelpOptions = true, description = "Create a thin volume.")
    static final class Create implements Runnable {
        @Mixin
        MetaOptions options;

        @Parameters(index = "0", paramLabel = "NAME", description = "Volume name.")
        String name;

        @Option(names = "--size", required = true, description = "Size, e.g. 10G, 512M, 1T.")
        String size;

        @Option(names = "--policy", defaultValue = "rep3",
                description = "rep1|rep2|rep3|ecK+M[@cs|@host|@zone] (default: ${DEFAULT-VALUE}).")
        String policy;

        @Option(names = "--chunk-size", description = "Chunk size (default: the cluster's).")
        String chunkSize;

        @Mixin
        QosOptions qos;

        @Option(names = "--hot-tier", negatable = true, description = "ecK+M: small writes land on m+1 replicas"
                + " (replica latency) and are frozen into the stripes in the background (docs/hot-tier.md); on by"
                + " default for ecK+M, --no-hot-tier sends every write to the stripes. Not for repN.")
        Boolean hotTier;

        @Override
        public void run() {
            long sizeBytes = parseSize(size, "--size");
            long chunkSizeBytes = chunkSize == null ? 0 : parseSize(chunkSize, "--chunk-size");
            VolumeQos limits = qos.limits();
            int features = hotTier(policy, hotTier) ? Volume.FEATURE_HOT_TIER : 0;
            Volume volume = options.call(c -> c.createVolume(name, sizeBytes, policy, chunkSizeBytes, limits,
                    features));
            if (options.json) {
                System.out.println(json(volume));
            } else {
                System.out.println("created volume " + volume.name() + ": "
                        + Units.formatBytes(volume.sizeBytes()) + ", " + volume.policyName()
                        + (volume.qos().limited() ? ", QoS " + QosOptions.summary(volume.qos()) : "")
                        + (volume.hotTier() ? ", hot tier on" : ""));
            }
        }
    }

    /**
     * Whether a new volume of {@code policy} gets the hot tier: as asked, else on for erasure-coded
     * volumes (their small writes at replica speed, the same space once frozen: docs/performance.md)
     * and off for replicated ones. A policy that does not parse is left to meta to refuse.
     */
    static boolean hotTier(String policy, Boolean asked) {
        if (asked != null) {
            return asked;
        }
        try {
            return io.basalt.meta.model.Policy.parse(policy).erasureCoded();
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    @Command(name = "hot-tier", mixinStandardHelpOptions = true,
            description = {"Turn an erasure-coded volume's hot tier on or off, live: gateways that have it"
                    + " open follow within about 2 s.",
                    "On: writes smaller than a stripe land on m+1 replicas and the freezer folds them into the"
                    + " stripes later (docs/hot-tier.md). Off: every new write goes to the stripes; what is"
                    + " hot is still read and frozen.",
                    "Example: basalt volume hot-tier vm1 on"})
    static final class HotTier implements Runnable {
        @Mixin
        MetaOptions options;

        @Parameters(index = "0", paramLabel = "NAME")
        String name;

        @Parameters(index = "1", paramLabel = "on|off")
        String state;

        @Override
        public void run() {
            boolean on = switch (state) {
                case "on" -> true;
                case "off" -> false;
                default -> throw new UserError("hot-tier " + name + " " + state + ": say on or off");
            };
            Volume volume = options.call(c -> c.setVolumeFeatures(name, on ? Volume.FEATURE_HOT_TIER : 0,
                    on ? 0 : Volume.FEATURE_HOT_TIER));
            if (options.json) {
                System.out.println(json(volume));
            } else {
                System.out.println("volume " + volume.name() + " hot tier: " + (volume.hotTier() ? "on" : "off"));
            }
        }
    }

    /**
     * Bytes the volume's allocated chunks take on the chunk servers' disks: every chunklet of every
     * allocated chunk (k + m chunklets of chunk/k bytes for ec(k, m), N full copies for repN), so
     * ec4+2 shows 1.5x its allocated bytes and rep3 3x.
     */
    static String rawRatio(Volume volume) {
        return volume.allocatedBytes() == 0 ? ""
                : String.format(java.util.Locale.ROOT, " (%.2fx allocated)", (double) rawBytes(volume) / volume.allocatedBytes());
    }

    static long rawBytes(Volume volume) {
        io.basalt.meta.model.Policy policy = io.basalt.meta.model.Policy.parse(volume.policyName());
        return volume.chunkCount() * policy.chunkletSizeBytes(volume.chunkSizeBytes()) * policy.width();
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "List volumes.")
    static final class ListVolumes implements Runnable {
        @Mixin
        MetaOptions options;

        @Override
        public void run() {
            List<Volume> volumes = options.call(c -> c.listVolumes());
            if (options.json) {
                List<String> items = new ArrayList<>();
                for (Volume volume : volumes) {
                    items.add(json(volume));
                }
                System.out.println(TextTable.array(items).json());
                return;
            }
            TextTable table = new TextTable("NAME", "SIZE", "POLICY", "ALLOCATED", "RAW", "CHUNKS", "QOS");
            for (Volume volume : volumes) {
                table.row(volume.name(), Units.formatBytes(volume.sizeBytes()), volume.policyName(),
                        Units.formatBytes(volume.allocatedBytes()), Units.formatBytes(rawBytes(volume)),
                        volume.chunkCount(), QosOptions.summary(volume.qos()));
            }
            table.print(System.out);
        }
    }

    @Command(name = "info", mixinStandardHelpOptions = true, description = "Show one volume.")
    static final class Info implements Runnable {
        @Mixin
        MetaOptions options;

        @Parameters(index = "0", paramLabel = "NAME")
        String name;

        @Override
        public void run() {
            Volume volume = options.call(c -> c.getVolume(name));
            // Per snapshot: what its own chunks store (the blocks written between it and the one below)
            // and what it holds exclusively (no layer reads through to it: freed by deleting it).
            List<Volume> snapshots = options.json || volume.isSnapshot() ? List.of()
                    : options.call(c -> c.listSnapshots(volume.name()));
            // Everything asked of the chunk servers (metadata only) over one cluster connection.
            List<String> snapshotLines = new ArrayList<>();
            io.basalt.client.LayerSpace.Space space = volume.chunkCount() == 0 && snapshots.isEmpty() ? null
                    : SnapshotCommand.withCluster(options, cluster -> {
                        if (!snapshots.isEmpty()) {
                            java.util.Map<Long, Long> exclusive = io.basalt.client.LayerReclaim.exclusiveBytes(
                                    cluster, snapshots);
                            for (Volume snapshot : snapshots) {
                                snapshotLines.add("snapshot " + snapshot.name() + ": "
                                        + SnapshotCommand.stored(io.basalt.client.LayerSpace.of(cluster, snapshot))
                                        + " stored in " + snapshot.chunkCount() + " chunks, "
                                        + SnapshotCommand.exclusive(exclusive.get(snapshot.id())) + " exclusively");
                            }
                        }
                        return volume.chunkCount() == 0 ? null : io.basalt.client.LayerSpace.of(cluster, volume);
                    });
            if (options.json) {
                List<Object> fields = jsonFields(volume);
                if (space != null) {
                    fields.addAll(List.of("storedBytes", space.dataBytes(), "storedRawBytes", space.rawBytes(),
                            "hotBytes", space.hotBytes(), "storedUnanswered", space.unanswered()));
                }
                System.out.println(TextTable.object(fields.toArray()));
                return;
            }
            printInfo(volume, false);
            if (space != null) {
                System.out.println(spaceLine(space));
            }
            if (!volume.isSnapshot() && volume.parentId() != 0) {
                options.call(c -> c.getFlatten(volume.name())).ifPresent(progress -> System.out.println(
                        "flatten: " + SnapshotCommand.progressLine(progress)));
            }
            snapshotLines.forEach(System.out::println);
        }
    }

    @Command(name = "verify", mixinStandardHelpOptions = true,
            description = {"Check an erasure-coded volume: every stripe's parity re-encoded from its data and"
                    + " compared, and the strip versions parity records compared with the data's.",
                    "Exit code 0: consistent; 1: a stripe disagrees (each is named) or the check failed."})
    static final class Verify implements java.util.concurrent.Callable<Integer> {
        @Mixin
        MetaOptions options;

        @Parameters(index = "0", paramLabel = "NAME")
        String name;

        @Override
        public Integer call() throws Exception {
            String peers = options.peers();
            MetaOptions.quietRatis();
            try (io.basalt.client.ClusterClient cluster = io.basalt.client.ClusterClient.connect(peers,
                    io.basalt.client.ClientConfig.defaults().withTls(options.dataTls()),
                    new io.prometheus.metrics.model.registry.PrometheusRegistry())) {
                long started = System.nanoTime();
                io.basalt.client.EcVerifier.Report report;
                boolean showProgress = !options.json && System.console() != null;
                long[] lastShown = {0};
                try {
                    report = io.basalt.client.EcVerifier.verify(cluster, name, done -> {
                        long now = System.nanoTime();
                        if (showProgress && now - lastShown[0] > 500_000_000L) {
                            lastShown[0] = now;
                            System.err.print("\rverifying " + name + ": " + done + " stripes");
                        }
                    });
                } catch (IllegalArgumentException | io.basalt.meta.api.MetaException e) {
                    throw new UserError(e.getMessage(), e);
                }
                double seconds = (System.nanoTime() - started) / 1e9;
                if (options.json) {
                    System.out.println(TextTable.object("volume", name, "stripesChecked", report.stripesChecked(),
                            "stripesDegraded", report.stripesDegraded(), "stripesPending", report.stripesPending(),
                            "mismatches", report.mismatches(), "problems",
                            TextTable.array(report.problems().stream().map(TextTable::quote).toList())));
                } else {
                    if (showProgress) {
                        System.err.println();
                    }
                    report.problems().forEach(System.out::println);
                    System.out.printf(java.util.Locale.ROOT, "%s: %d stripes checked, %d mismatched, %d skipped"
                            + " (degraded), %d skipped (undecided write pending) in %.1f s%n", name,
                            report.stripesChecked(), report.mismatches(), report.stripesDegraded(),
                            report.stripesPending(), seconds);
                }
                return report.consistent() ? 0 : 1;
            }
        }
    }

    @Command(name = "resize", mixinStandardHelpOptions = true,
            description = "Grow a volume; shrinking needs --shrink and confirmation.")
    static final class Resize implements Runnable {
        @Mixin
        MetaOptions options;

        @Parameters(index = "0", paramLabel = "NAME")
        String name;

        @Option(names = "--size", required = true, description = "New size, e.g. 20G.")
        String size;

        @Option(names = "--shrink", description = "Allow making the volume smaller (data past"
                + " the new end is discarded).")
        boolean shrink;

        @Option(names = "--yes", description = "Confirm a shrink without asking.")
        boolean yes;

        @Override
        public void run() {
            long sizeBytes = parseSize(size, "--size");
            if (shrink && !yes) {
                Volume current = options.call(c -> c.getVolume(name));
                if (sizeBytes < current.sizeBytes()) {
                    Console console = System.console();
                    if (console == null) {
                        throw new UserError("shrinking volume \"" + name + "\" discards data past "
                                + Units.formatBytes(sizeBytes) + "; add --yes to confirm");
                    }
                    String answer = console.readLine("Shrink %s from %s to %s and discard the"
                            + " data past the end? Type the volume name to confirm: ", name,
                            Units.formatBytes(current.sizeBytes()), Units.formatBytes(sizeBytes));
                    if (answer == null || !answer.trim().equals(name)) {
                        throw new UserError("not confirmed; volume \"" + name + "\" unchanged");
                    }
                }
            }
            Volume volume = options.call(c -> c.resizeVolume(name, sizeBytes, shrink));
            if (options.json) {
                System.out.println(json(volume));
            } else {
                System.out.println("volume " + volume.name() + " is now "
                        + Units.formatBytes(volume.sizeBytes()));
            }
        }
    }

    @Command(name = "qos", mixinStandardHelpOptions = true,
            description = {"Set or clear a volume's QoS limits, live: gateways that have it open apply"
                    + " them within about 2 s, without reconnecting.",
                    "Limits not named stay as they are; 'none' removes one, --clear removes all.",
                    "Example: basalt volume qos vm1 --iops 2000 --bw 200M --burst 5s"})
    static final class Qos implements Runnable {
        @Mixin
        MetaOptions options;

        @Parameters(index = "0", paramLabel = "NAME")
        String name;

        @Mixin
        QosOptions qos;

        @Option(names = "--clear", description = "Remove every limit (and reset the burst to 1s).")
        boolean clear;

        @Override
        public void run() {
            if (clear && qos.given()) {
                throw new UserError("--clear removes every limit; give it alone, or name the limits to"
                        + " change without it");
            }
            if (!clear && !qos.given()) {
                throw new UserError("nothing to change; give --iops, --bw, --read-iops, --write-iops,"
                        + " --read-bw, --write-bw, --burst or --clear (see: basalt volume qos --help)");
            }
            VolumeQos change = clear ? VolumeQos.CLEAR_ALL : qos.change();
            Volume volume = options.call(c -> c.setVolumeQos(name, change));
            if (options.json) {
                System.out.println(json(volume));
            } else {
                System.out.println("volume " + volume.name() + " QoS: " + QosOptions.summary(volume.qos()));
            }
        }
    }

    @Command(name = "delete", mixinStandardHelpOptions = true, description = "Delete a volume.")
    static final class Delete implements Runnable {
        @Mixin
        MetaOptions options;

        @Parameters(index = "0", paramLabel = "NAME")
        String name;

        @Option(names = "--force", description = "Delete even while a client (a gateway) has the volume open;"
                + " its I/O then fails.")
        boolean force;

        @Override
        public void run() {
            Volume volume = options.call(c -> c.deleteVolume(name, force));
            if (options.json) {
                System.out.println(json(volume));
            } else {
                System.out.println("deleted volume " + volume.name());
            }
        }
    }
}
