package io.basalt.cli.it;

import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Snapshots taken and deleted while the {@link Thrasher} kills and pauses chunk servers and fio
 * writes the volumes (docs/snapshots.md). Every {@code every}, the next volume in turn gets a
 * snapshot (CREATE_SNAPSHOT and the fence, {@code Snapshots.create}), which is read whole through
 * the gateway; the snapshot before it is read again and must read the same (a snapshot never
 * changes, whatever its volume and the servers do), and the one before that is deleted (it becomes
 * a hidden layer the newer ones read through, and its shadowed blocks are reclaimed). So from the
 * first snapshot on, every fio run on the volume writes over layers and verifies through them:
 * reads of blocks written since the last snapshot, of blocks only the layers below hold, and of
 * blocks still in the hot tier. At the end ({@link #check}) every snapshot left reads as it did
 * when it was taken.
 *
 * <p>Threads: {@link #loop} runs on one thread of its own; {@link #check} after it ended.
 */
final class ThrashSnapshots {
    /** A snapshot taken, with its first read (kept on disk until it is deleted) and its digest. */
    private record Taken(String volume, String name, Path firstRead, String digest) {
        String export() {
            return volume + "@" + name;
        }
    }

    /** Reads a volume or snapshot (by export name) whole into a file. */
    @FunctionalInterface
    interface Reader {
        void copy(String export, Path file) throws Exception;
    }

    private final VolumeCluster cluster;
    private final List<String> volumes;
    private final Duration every;
    private final Reader reader;
    private final Path workDir;
    private final Consumer<String> say;
    private final Consumer<String> fail;
    private final Map<String, Deque<Taken>> kept = new LinkedHashMap<>();
    private int created;
    private int deleted;

    ThrashSnapshots(VolumeCluster cluster, List<String> volumes, Duration every, Reader reader, Path workDir,
            Consumer<String> say, Consumer<String> fail) {
        this.cluster = cluster;
        this.volumes = List.copyOf(volumes);
        this.every = every;
        this.reader = reader;
        this.workDir = workDir;
        this.say = say;
        this.fail = fail;
        volumes.forEach(volume -> kept.put(volume, new ArrayDeque<>()));
    }

    /** Takes, re-reads and deletes snapshots until {@code running} says stop or a check fails. */
    void loop(java.util.function.BooleanSupplier running) {
        try (io.basalt.client.ClusterClient client = io.basalt.client.ClusterClient.connect(cluster.meta.peers(),
                io.basalt.client.ClientConfig.defaults().withTls(io.basalt.cli.cs.ItTls.adminTls()),
                new io.prometheus.metrics.model.registry.PrometheusRegistry())) {
            for (int turn = 0; running.getAsBoolean(); turn++) {
                long wakeAt = System.nanoTime() + every.toNanos();
                while (running.getAsBoolean() && System.nanoTime() < wakeAt) {
                    Thread.sleep(200);
                }
                if (!running.getAsBoolean()) {
                    return;
                }
                if (!step(client, volumes.get(turn % volumes.size()))) {
                    return;
                }
            }
        } catch (Exception e) {
            fail.accept("the snapshot loop itself failed: " + e);
        }
    }

    /** One turn on {@code volume}; false when a check failed (the loop stops). */
    private boolean step(io.basalt.client.ClusterClient client, String volume) throws Exception {
        Deque<Taken> snapshots = kept.get(volume);
        String name = "t" + (++created);
        long started = System.nanoTime();
        io.basalt.client.Snapshots.Created made = io.basalt.client.Snapshots.create(client, volume, name,
                Duration.ofSeconds(30));
        Path firstRead = workDir.resolve("snapshot-" + volume + "@" + name + ".bin");
        reader.copy(volume + "@" + name, firstRead);
        Taken taken = new Taken(volume, name, firstRead, Thrasher.digest(firstRead));
        io.basalt.client.Snapshots.Reconciled reconciled = made.reconciled();
        say.accept(String.format(Locale.ROOT, "snapshot %s taken in %d ms (fence %d ms%s%s%s), read: %s",
                taken.export(), (System.nanoTime() - started) / 1_000_000, made.fenceMillis(),
                made.unconfirmedCsIds().isEmpty() ? "" : ", unconfirmed cs " + made.unconfirmedCsIds(),
                reconciled.replicasReported() == 0 ? "" : ", replicas caught up from their primary "
                        + reconciled.reportedByChunkUid(),
                (reconciled.uncomparedChunkUids().isEmpty() ? "" : ", " + reconciled.uncomparedChunkUids().size()
                        + " chunk(s) not compared") + (made.hotNotFrozenChunkUids().isEmpty() ? ""
                        : ", hot blocks of chunks " + made.hotNotFrozenChunkUids() + " not frozen"),
                taken.digest()));
        Taken previous = snapshots.peekLast();
        snapshots.addLast(taken);
        if (previous != null && !reReads(previous)) {
            return false;
        }
        while (snapshots.size() > 2) {
            Taken oldest = snapshots.removeFirst();
            client.meta().deleteSnapshot(oldest.volume(), oldest.name());
            java.nio.file.Files.deleteIfExists(oldest.firstRead());
            deleted++;
            io.basalt.client.LayerReclaim.Result freed = io.basalt.client.LayerReclaim.reclaim(client);
            say.accept("snapshot " + oldest.export() + " deleted (a hidden layer while newer ones read through it);"
                    + " reclaim trimmed " + freed.trimmedBytes() + " bytes");
        }
        return true;
    }

    /** Whether {@code taken} still reads as it did when it was taken; a failure otherwise. */
    private boolean reReads(Taken taken) throws Exception {
        Path now = workDir.resolve("snapshot-again.bin");
        try {
            reader.copy(taken.export(), now);
            String again = Thrasher.digest(now);
            if (again.equals(taken.digest())) {
                say.accept("snapshot " + taken.export() + " read again: the same " + again);
                return true;
            }
            fail.accept("snapshot " + taken.export() + " changed: read " + taken.digest() + " when taken, " + again
                    + " now; " + differences(taken.firstRead(), now) + "; " + whereIs(taken, firstDifference(
                    taken.firstRead(), now)));
            return false;
        } finally {
            java.nio.file.Files.deleteIfExists(now);
        }
    }

    /** The first 4 KiB block that differs between two reads, or -1. */
    private static long firstDifference(Path first, Path second) throws java.io.IOException {
        long at = java.util.Arrays.mismatch(java.nio.file.Files.readAllBytes(first),
                java.nio.file.Files.readAllBytes(second));
        return at < 0 ? -1 : at / 4096;
    }

    /**
     * Where volume block {@code block} of the snapshot lives, for the logs: which layer of its
     * chain holds a chunk at that index, the chunk's uid, version and chunklets, and the block's
     * stripe and column (erasure-coded).
     */
    private String whereIs(Taken taken, long block) {
        if (block < 0) {
            return "no block differs";
        }
        try {
            io.basalt.meta.api.MetaClient meta = cluster.client();
            io.basalt.meta.model.Volume layer = meta.getVolume(taken.export());
            StringBuilder out = new StringBuilder("block " + block + ":");
            while (layer != null) {
                long chunkIndex = block * 4096 / layer.chunkSizeBytes();
                long inChunk = block - chunkIndex * (layer.chunkSizeBytes() / 4096);
                io.basalt.meta.model.Policy policy = io.basalt.meta.model.Policy.parse(layer.policyName());
                var chunk = meta.getChunk(layer.id(), chunkIndex, false);
                out.append(" layer ").append(layer.name()).append(" chunk ").append(chunkIndex);
                if (chunk.isPresent()) {
                    out.append(" uid ").append(Long.toHexString(chunk.get().uid())).append(" version ")
                            .append(chunk.get().version());
                    if (policy.erasureCoded()) {
                        out.append(" stripe ").append(inChunk / policy.dataCount()).append(" column ")
                                .append(inChunk % policy.dataCount());
                    }
                    out.append(' ').append(chunk.get().chunklets());
                } else {
                    out.append(" (none)");
                }
                out.append(';');
                layer = layer.parentId() == 0 ? null : meta.getLayer(layer.parentId()).orElse(null);
            }
            return out.toString();
        } catch (RuntimeException e) {
            return "block " + block + ": " + e;
        }
    }

    /**
     * What a 4 KiB block holds, for a failure: zeroes, or the write fio's verify header names (fio's
     * struct verify_header: u16 magic 0xacca, u16 type, u32 len, u64 seed, u64 offset, u32 sec,
     * u32 nsec, u16 thread, u16 numberio, little-endian), whose time by fio's clock orders two
     * writes; else "other data".
     */
    private static String written(byte[] data, int at) {
        if (java.util.Arrays.equals(data, at, at + 4096, new byte[4096], 0, 4096)) {
            return "zeroes";
        }
        java.nio.ByteBuffer header = java.nio.ByteBuffer.wrap(data, at, 4096).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        if ((header.getShort(at) & 0xffff) != 0xacca) {
            return "other data";
        }
        long sec = header.getInt(at + 24) & 0xffffffffL;
        long nsec = header.getInt(at + 28) & 0xffffffffL;
        return String.format(Locale.ROOT, "fio write of offset %d at fio time %d.%09d numberio %d",
                header.getLong(at + 16), sec, nsec, header.getShort(at + 34) & 0xffff);
    }

    /** Which 4 KiB blocks differ between two reads: how many, and the first few (block, chunk-relative). */
    private static String differences(Path first, Path second) throws java.io.IOException {
        byte[] a = java.nio.file.Files.readAllBytes(first);
        byte[] b = java.nio.file.Files.readAllBytes(second);
        List<String> blocks = new ArrayList<>();
        int count = 0;
        for (int block = 0; block < Math.min(a.length, b.length) / 4096; block++) {
            if (java.util.Arrays.mismatch(a, block * 4096, block * 4096 + 4096, b, block * 4096, block * 4096 + 4096)
                    >= 0) {
                if (count++ < 12) {
                    blocks.add(block + " (then " + written(a, block * 4096) + ", now " + written(b, block * 4096) + ")");
                }
            }
        }
        return count + " blocks of 4 KiB differ (volume blocks " + blocks + (count > 12 ? ", ..." : "") + ")";
    }

    /** Every snapshot still kept reads as it did when taken (after the cluster healed). */
    void check() throws Exception {
        List<Taken> all = new ArrayList<>();
        kept.values().forEach(all::addAll);
        for (Taken taken : all) {
            reReads(taken);
        }
        say.accept("snapshots: " + created + " taken, " + deleted + " deleted, " + all.size() + " checked at the end");
    }

    int created() {
        return created;
    }
}
