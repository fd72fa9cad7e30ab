package io.basalt.cli;

import io.basalt.client.ClientConfig;
import io.basalt.client.ClusterClient;
import io.basalt.client.LayerReclaim;
import io.basalt.client.LayerSpace;
import io.basalt.client.Snapshots;
import io.basalt.common.Units;
import io.basalt.meta.api.MetaException;
import io.basalt.meta.model.Volume;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code basalt volume snapshot ...}: read-only point-in-time layers of a volume (docs/snapshots.md). */
@Command(name = "snapshot", mixinStandardHelpOptions = true,
        description = {"Create, list and delete snapshots of a volume: VOLUME@SNAPSHOT, e.g. vm1@s1.",
                "A snapshot is metadata only (no data is copied) and is exported read-only over NBD"
                        + " as nbd://HOST:PORT/vm1@s1."},
        subcommands = {SnapshotCommand.Create.class, SnapshotCommand.ListSnapshots.class,
                SnapshotCommand.Delete.class, SnapshotCommand.Reclaim.class})
final class SnapshotCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** Runs {@code action} with a data-path client of the cluster (chunk servers asked directly). */
    static <T> T withCluster(MetaOptions options, java.util.function.Function<ClusterClient, T> action) {
        MetaOptions.quietRatis();
        try (ClusterClient cluster = ClusterClient.connect(options.peers(),
                ClientConfig.defaults().withTls(options.dataTls()),
                new PrometheusRegistry())) {
            return action.apply(cluster);
        } catch (MetaException e) {
            throw new UserError(e.getMessage(), e);
        }
    }

    /** "vm1@s1" split in two; a one-line error naming the form otherwise. */
    static String[] split(String fullName) {
        int at = fullName.indexOf('@');
        if (at <= 0 || at == fullName.length() - 1 || fullName.indexOf('@', at + 1) >= 0) {
            throw new UserError("\"" + fullName + "\": give the snapshot as VOLUME@SNAPSHOT, e.g. vm1@s1");
        }
        return new String[] {fullName.substring(0, at), fullName.substring(at + 1)};
    }

    static String json(Volume snapshot) {
        return TextTable.object("id", snapshot.id(), "name", snapshot.name(),
                "snapshot", snapshot.snapshotName(), "sizeBytes", snapshot.sizeBytes(),
                "chunks", snapshot.chunkCount(), "allocatedBytes", snapshot.allocatedBytes(),
                "created", Instant.ofEpochMilli(snapshot.createdMillis()).toString());
    }

    /**
     * {@link #json(Volume)} with the bytes its own chunks hold (data once, and raw on every
     * chunklet) and the bytes it holds exclusively (-1: not known, a chunk server did not answer).
     */
    static String json(Volume snapshot, LayerSpace.Space stored, long exclusiveBytes) {
        return TextTable.object("id", snapshot.id(), "name", snapshot.name(),
                "snapshot", snapshot.snapshotName(), "sizeBytes", snapshot.sizeBytes(),
                "chunks", snapshot.chunkCount(), "allocatedBytes", snapshot.allocatedBytes(),
                "storedBytes", stored.dataBytes(), "storedRawBytes", stored.rawBytes(),
                "storedUnanswered", stored.unanswered(), "exclusiveBytes", exclusiveBytes,
                "created", Instant.ofEpochMilli(snapshot.createdMillis()).toString());
    }

    static String stored(LayerSpace.Space space) {
        return Units.formatBytes(space.dataBytes())
                + (space.unanswered() > 0 ? " (" + space.unanswered() + " chunklets unanswered)" : "");
    }

    static String exclusive(long bytes) {
        return bytes < 0 ? "unknown (a chunk server did not answer)" : Units.formatBytes(bytes);
    }

    @Command(name = "create", mixinStandardHelpOptions = true,
            description = "Snapshot a volume now: every write acknowledged before is in it, none issued after.")
    static final class Create implements java.util.concurrent.Callable<Integer> {
        @Mixin
        MetaOptions options;

        @Parameters(index = "0", paramLabel = "VOLUME@SNAPSHOT")
        String fullName;

        @Option(names = "--fence-timeout-seconds", defaultValue = "30",
                description = "How long to wait for every chunk server to refuse the old writer (default: ${DEFAULT-VALUE}).")
        int fenceTimeoutSeconds;

        @Override
        public Integer call() throws Exception {
            String[] parts = split(fullName);
            if (fenceTimeoutSeconds <= 0) {
                throw new UserError("--fence-timeout-seconds " + fenceTimeoutSeconds + ": must be > 0");
            }
            Duration timeout = Duration.ofSeconds(fenceTimeoutSeconds);
            String peers = options.peers();
            MetaOptions.quietRatis();
            Snapshots.Created created;
            try (ClusterClient cluster = ClusterClient.connect(peers,
                    ClientConfig.defaults().withTls(options.dataTls()), new PrometheusRegistry())) {
                created = Snapshots.create(cluster, parts[0], parts[1], timeout);
            } catch (MetaException e) {
                throw new UserError(e.getMessage(), e);
            }
            Volume snapshot = created.snapshot();
            if (options.json) {
                System.out.println(json(snapshot));
            } else {
                System.out.println("created snapshot " + snapshot.name() + ": "
                        + Units.formatBytes(snapshot.sizeBytes()) + ", " + snapshot.chunkCount() + " chunks, fenced in "
                        + created.fenceMillis() + " ms");
            }
            Snapshots.Reconciled reconciled = created.reconciled();
            if (reconciled.replicasReported() > 0) {
                System.out.println("  " + reconciled.replicasReported() + " replica(s) of "
                        + reconciled.reportedByChunkUid().size() + " chunk(s) held a write that failed across the"
                        + " create on part of the copies; they are caught up from each chunk's primary (see: basalt status)");
            }
            int exit = 0;
            if (!created.unconfirmedCsIds().isEmpty()) {
                System.err.println("warning: chunk servers " + created.unconfirmedCsIds() + " did not confirm the"
                        + " new chunk versions within " + fenceTimeoutSeconds + " s; a write still reaching them may land in"
                        + " the snapshot (see: basalt cs list)");
                exit = 2;
            }
            if (!created.hotNotFrozenChunkUids().isEmpty()) {
                System.err.println("warning: the hot blocks of " + created.hotNotFrozenChunkUids().size()
                        + " erasure-coded chunk(s) could not be frozen (no stripe master answered); a small write in"
                        + " flight during the create may still appear in the snapshot later (see: basalt status)");
                exit = 2;
            }
            if (!reconciled.uncomparedChunkUids().isEmpty()) {
                System.err.println("warning: the replicas of " + reconciled.uncomparedChunkUids().size() + " chunk(s)"
                        + " did not settle in time (a replica still being rebuilt, or a chunk server that did not"
                        + " answer); if a write in flight during the"
                        + " create failed on part of them, the snapshot may read differently once another replica"
                        + " serves it, until the scrubber compares them (see: basalt cs list)");
                exit = 2;
            }
            return exit;
        }
    }

    @Command(name = "list", mixinStandardHelpOptions = true, description = "List a volume's snapshots, oldest first.")
    static final class ListSnapshots implements Runnable {
        @Mixin
        MetaOptions options;

        @Parameters(index = "0", paramLabel = "VOLUME")
        String volume;

        @Override
        public void run() {
            List<Volume> snapshots = options.call(c -> c.listSnapshots(volume));
            // What each snapshot's own chunks hold on the chunk servers (INFO per chunklet), not
            // meta's whole-chunk count: the blocks written between it and the snapshot below.
            // EXCLUSIVE: what deleting it would free now (the blocks no layer reads through to it).
            List<LayerSpace.Space> stored = new ArrayList<>();
            java.util.Map<Long, Long> exclusive = snapshots.isEmpty() ? java.util.Map.of()
                    : withCluster(options, cluster -> {
                        for (Volume snapshot : snapshots) {
                            stored.add(LayerSpace.of(cluster, snapshot));
                        }
                        return LayerReclaim.exclusiveBytes(cluster, snapshots);
                    });
            if (options.json) {
                List<String> rows = new ArrayList<>();
                for (int i = 0; i < snapshots.size(); i++) {
                    rows.add(json(snapshots.get(i), stored.get(i), exclusive.get(snapshots.get(i).id())));
                }
                System.out.println(TextTable.array(rows).json());
                return;
            }
            TextTable table = new TextTable("NAME", "SIZE", "CHUNKS", "ALLOCATED", "STORED", "EXCLUSIVE", "CREATED");
            for (int i = 0; i < snapshots.size(); i++) {
                Volume snapshot = snapshots.get(i);
                table.row(snapshot.name(), Units.formatBytes(snapshot.sizeBytes()), snapshot.chunkCount(),
                        Units.formatBytes(snapshot.allocatedBytes()), stored(stored.get(i)),
                        exclusive(exclusive.get(snapshot.id())), Instant.ofEpochMilli(snapshot.createdMillis()));
            }
            table.print(System.out);
        }
    }

    @Command(name = "delete", mixinStandardHelpOptions = true,
            description = "Delete a snapshot (refused while clones read from it).")
    static final class Delete implements Runnable {
        @Mixin
        MetaOptions options;

        @Parameters(index = "0", paramLabel = "VOLUME@SNAPSHOT")
        String fullName;

        @Override
        public void run() {
            String[] parts = split(fullName);
            Volume deleted = options.call(c -> c.deleteSnapshot(parts[0], parts[1]));
            // Its layer stays (hidden) while a layer above reads through it; the blocks every layer
            // above holds itself are freed now (meta freed a layer no one reads, chunks and all).
            String freed;
            try {
                freed = describe(withCluster(options, LayerReclaim::reclaim));
            } catch (RuntimeException e) {
                // The delete is done; what is left is only space: say how to get it back.
                freed = "freeing its blocks failed (" + e.getMessage() + "); run: basalt volume snapshot reclaim";
            }
            if (options.json) {
                System.out.println(json(deleted));
            } else {
                System.out.println("deleted snapshot " + deleted.name() + "; " + freed);
            }
        }
    }

    static String describe(LayerReclaim.Result reclaimed) {
        return "freed " + Units.formatBytes(reclaimed.trimmedBytes()) + " no layer reads any more (per copy)"
                + (reclaimed.shadowedEcBytes() > 0 ? "; " + Units.formatBytes(reclaimed.shadowedEcBytes())
                        + " of erasure-coded layers not zeroed yet (no stripe master answered)" : "")
                + (reclaimed.skippedChunks() > 0 ? "; " + reclaimed.skippedChunks() + " chunks skipped (a chunk"
                        + " server did not answer): run again: basalt volume snapshot reclaim" : "");
    }

    @Command(name = "reclaim", mixinStandardHelpOptions = true,
            description = "Free the blocks of deleted snapshots that no layer reads any more (snapshot delete"
                    + " does it; run this to finish one that was interrupted). Safe at any time.")
    static final class Reclaim implements Runnable {
        @Mixin
        MetaOptions options;

        @Override
        public void run() {
            LayerReclaim.Result reclaimed = withCluster(options, LayerReclaim::reclaim);
            if (options.json) {
                System.out.println(TextTable.object("hiddenLayers", reclaimed.hiddenLayers(),
                        "trimmedBytes", reclaimed.trimmedBytes(), "shadowedEcBytes", reclaimed.shadowedEcBytes(),
                        "skippedChunks", reclaimed.skippedChunks()));
            } else {
                System.out.println(reclaimed.hiddenLayers() + " deleted snapshot layers still read through; "
                        + describe(reclaimed));
            }
        }
    }

    @Command(name = "rollback", mixinStandardHelpOptions = true,
            description = "Make a volume what it was at a snapshot (its writes since are dropped); refused while a"
                    + " gateway has it open.")
    static final class Rollback implements Runnable {
        @Mixin
        MetaOptions options;

        @Parameters(index = "0", paramLabel = "VOLUME@SNAPSHOT")
        String fullName;

        @Override
        public void run() {
            String[] parts = split(fullName);
            Volume volume = options.call(c -> c.rollbackVolume(parts[0], parts[1]));
            if (options.json) {
                System.out.println(VolumeCommand.json(volume));
            } else {
                System.out.println("volume " + volume.name() + " rolled back to " + fullName);
            }
        }
    }

    @Command(name = "clone", mixinStandardHelpOptions = true,
            description = "Create a writable volume that starts as a snapshot (no data copied).")
    static final class Clone implements Runnable {
        @Mixin
        MetaOptions options;

        @Parameters(index = "0", paramLabel = "VOLUME@SNAPSHOT")
        String fullName;

        @Parameters(index = "1", paramLabel = "NEW-VOLUME")
        String cloneName;

        @Override
        public void run() {
            String[] parts = split(fullName);
            Volume clone = options.call(c -> c.cloneVolume(parts[0], parts[1], cloneName));
            if (options.json) {
                System.out.println(VolumeCommand.json(clone));
            } else {
                System.out.println("created volume " + clone.name() + " as a clone of " + fullName + ": "
                        + Units.formatBytes(clone.sizeBytes()) + ", " + clone.policyName());
            }
        }
    }

    @Command(name = "diff", mixinStandardHelpOptions = true,
            description = {"List the extents that changed from an older snapshot to a newer one or the volume"
                    + " (metadata only, like rbd diff): OFFSET and LENGTH in bytes.",
                    "Example: basalt volume diff vm1@s1 vm1@s2; basalt volume diff vm1@s1 vm1"})
    static final class Diff implements Runnable {
        @Mixin
        MetaOptions options;

        @Parameters(index = "0", paramLabel = "FROM", description = "The older snapshot, VOLUME@SNAPSHOT.")
        String from;

        @Parameters(index = "1", paramLabel = "TO", description = "A newer snapshot of the volume, or the volume.")
        String to;

        @Override
        public void run() {
            split(from);
            String peers = options.peers();
            MetaOptions.quietRatis();
            long started = System.nanoTime();
            io.basalt.client.LayerDiff.Result result;
            try (ClusterClient cluster = ClusterClient.connect(peers,
                    ClientConfig.defaults().withTls(options.dataTls()), new PrometheusRegistry())) {
                result = io.basalt.client.LayerDiff.diff(cluster, from, to);
            } catch (MetaException e) {
                throw new UserError(e.getMessage(), e);
            } catch (IllegalArgumentException | IllegalStateException e) {
                throw new UserError(e.getMessage(), e);
            }
            long millis = (System.nanoTime() - started) / 1_000_000;
            if (options.json) {
                System.out.println(TextTable.object("from", from, "to", to, "changedBytes", result.changedBytes(),
                        "layers", result.layers(), "chunks", result.chunks(), "extents", TextTable.array(
                                result.extents().stream().map(e -> TextTable.object("offset", e.offsetBytes(),
                                        "length", e.lengthBytes())).toList())));
                return;
            }
            TextTable table = new TextTable("OFFSET", "LENGTH");
            for (io.basalt.client.LayerDiff.Extent extent : result.extents()) {
                table.row(extent.offsetBytes(), extent.lengthBytes());
            }
            table.print(System.out);
            System.err.println(result.extents().size() + " extents, " + Units.formatBytes(result.changedBytes())
                    + " changed (" + result.layers() + " layers, " + result.chunks() + " chunks examined in "
                    + millis + " ms)");
        }
    }

    @Command(name = "flatten", mixinStandardHelpOptions = true,
            description = {"Copy into a clone (or a volume with snapshots) every block it reads from below, then"
                    + " detach it, so the snapshot can be deleted.",
                    "When no gateway has the volume open, it runs here (with its lease); when one has, that gateway"
                            + " copies in the background (see basalt volume info, or --wait). Progress is kept in"
                            + " meta: an interrupted flatten resumes where it stopped."})
    static final class Flatten implements Runnable {
        @Mixin
        MetaOptions options;

        @Parameters(index = "0", paramLabel = "VOLUME")
        String volume;

        @Option(names = "--wait", description = "When a gateway copies in the background, follow its progress"
                + " until the volume is flat; if the gateway closes the volume before the end, finish it here.")
        boolean waitForIt;

        @Override
        public void run() {
            String peers = options.peers();
            MetaOptions.quietRatis();
            boolean showProgress = !options.json && System.console() != null;
            io.basalt.client.Flatten.Result result;
            long started = System.nanoTime();
            try (ClusterClient cluster = ClusterClient.connect(peers,
                    ClientConfig.defaults().withTls(options.dataTls()), new PrometheusRegistry())) {
                try {
                    result = runHere(cluster, showProgress);
                } catch (Exception e) {
                    if (!leaseHeld(e)) {
                        throw e;
                    }
                    // A gateway has it open: it copies in the background (its writes and the copy
                    // must not race, and only the lease holder may write).
                    io.basalt.meta.model.FlattenProgress requested = io.basalt.client.Flatten.request(cluster, volume);
                    if (!waitForIt) {
                        printRequested(requested);
                        return;
                    }
                    result = followUntilFlat(cluster, showProgress);
                    if (result == null) {
                        return;
                    }
                }
            } catch (MetaException | IllegalArgumentException e) {
                throw new UserError(e.getMessage(), e);
            } catch (UserError e) {
                throw e;
            } catch (java.util.concurrent.ExecutionException e) {
                Throwable cause = e.getCause() == null ? e : e.getCause();
                throw new UserError("flatten of \"" + volume + "\" failed: " + cause.getMessage()
                        + "; run it again to resume", e);
            } catch (Exception e) {
                throw new UserError("flatten of \"" + volume + "\" failed: " + e.getMessage()
                        + "; run it again to resume", e);
            }
            if (showProgress) {
                System.err.println();
            }
            long millis = (System.nanoTime() - started) / 1_000_000;
            if (options.json) {
                System.out.println(TextTable.object("volume", volume, "copiedBytes", result.copiedBytes(),
                        "examinedBytes", result.examinedBytes(), "millis", millis));
            } else {
                System.out.println("flattened " + volume + ": " + Units.formatBytes(result.copiedBytes())
                        + " copied up in " + millis + " ms; it no longer reads through a snapshot");
            }
        }

        /** Flattens here, with the volume's lease (LEASE_HELD when a gateway has it open). */
        private io.basalt.client.Flatten.Result runHere(ClusterClient cluster, boolean showProgress) throws Exception {
            long size = cluster.meta().getVolume(volume).sizeBytes();
            return io.basalt.client.Flatten.run(cluster, volume, "flatten-" + ProcessHandle.current().pid(), done -> {
                if (showProgress) {
                    System.err.printf(java.util.Locale.ROOT, "\rflattening %s: %d%%", volume,
                            done * 100 / Math.max(1, size));
                }
            });
        }

        private static boolean leaseHeld(Throwable error) {
            for (Throwable cause = error; cause != null; cause = cause.getCause()) {
                if (cause instanceof MetaException meta && meta.error() == io.basalt.meta.api.MetaError.LEASE_HELD) {
                    return true;
                }
            }
            return false;
        }

        private void printRequested(io.basalt.meta.model.FlattenProgress requested) {
            if (options.json) {
                System.out.println(progressJson(volume, requested));
            } else {
                System.out.println("flatten of " + volume + " requested: the gateway that has it open copies it in the"
                        + " background (" + progressLine(requested) + "); follow it: basalt volume flatten " + volume
                        + " --wait");
            }
        }

        /**
         * Polls meta once a second until the volume has no parent, printing the progress. A flatten
         * whose cursor has not moved for {@link #TAKE_OVER_AFTER_NANOS} is tried here: when the
         * gateway that copied closed the volume (nobody would resume it until the next open), this
         * process takes the lease and finishes from the cursor, and returns what it did; null when the
         * gateway finished it.
         */
        private io.basalt.client.Flatten.Result followUntilFlat(ClusterClient cluster, boolean showProgress)
                throws Exception {
            boolean terminal = !options.json && System.console() != null;
            long lastCursor = -1;
            long stalledSince = System.nanoTime();
            while (true) {
                Volume current = cluster.meta().getVolume(volume);
                if (current.parentId() == 0) {
                    if (terminal) {
                        System.err.println();
                    }
                    System.out.println(options.json ? TextTable.object("volume", volume, "flat", true)
                            : "flattened " + volume + " in the background; it no longer reads through a snapshot");
                    return null;
                }
                java.util.Optional<io.basalt.meta.model.FlattenProgress> progress = cluster.meta().getFlatten(volume);
                if (progress.isEmpty()) {
                    throw new UserError("the flatten of \"" + volume + "\" was dropped (the volume was rolled back);"
                            + " run it again: basalt volume flatten " + volume);
                }
                if (terminal) {
                    System.err.print("\rflattening " + volume + ": " + progressLine(progress.get()) + "   ");
                }
                long now = System.nanoTime();
                if (progress.get().cursorBytes() != lastCursor) {
                    lastCursor = progress.get().cursorBytes();
                    stalledSince = now;
                } else if (now - stalledSince > TAKE_OVER_AFTER_NANOS) {
                    try {
                        io.basalt.client.Flatten.Result here = runHere(cluster, showProgress);
                        if (terminal) {
                            System.err.println();
                        }
                        System.err.println("the gateway stopped copying (it closed the volume): finished here from "
                                + Units.formatBytes(lastCursor));
                        return here;
                    } catch (IllegalArgumentException flatMeanwhile) {
                        stalledSince = now; // the gateway's last step landed just now: the next poll says so
                    } catch (Exception e) {
                        if (!leaseHeld(e)) {
                            throw e;
                        }
                        stalledSince = now; // the gateway still has it open: it copies on
                    }
                }
                Thread.sleep(1000);
            }
        }
    }

    /** How long a background flatten's cursor may stand still before {@code flatten --wait} tries it itself. */
    static final long TAKE_OVER_AFTER_NANOS = java.util.concurrent.TimeUnit.SECONDS.toNanos(5);

    /** "40% (16.0 MiB of 40.0 MiB), 2.1 MiB copied, 8.0 MiB/s, ETA 3 s". */
    static String progressLine(io.basalt.meta.model.FlattenProgress progress) {
        long percent = progress.cursorBytes() * 100 / Math.max(1, progress.sizeBytes());
        long eta = progress.etaSeconds();
        return percent + "% (" + Units.formatBytes(progress.cursorBytes()) + " of "
                + Units.formatBytes(progress.sizeBytes()) + "), " + Units.formatBytes(progress.copiedBytes())
                + " copied, " + Units.formatBytes((long) progress.bytesPerSecond()) + "/s"
                + (eta >= 0 ? ", ETA " + eta + " s" : ", waiting for the first step");
    }

    static String progressJson(String volume, io.basalt.meta.model.FlattenProgress progress) {
        return TextTable.object("volume", volume, "flat", false, "cursorBytes", progress.cursorBytes(),
                "sizeBytes", progress.sizeBytes(), "copiedBytes", progress.copiedBytes(),
                "bytesPerSecond", (long) progress.bytesPerSecond(), "etaSeconds", progress.etaSeconds());
    }
}
