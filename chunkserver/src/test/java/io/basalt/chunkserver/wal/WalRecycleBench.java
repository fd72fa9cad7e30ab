package io.basalt.chunkserver.wal;

import io.netty.buffer.Unpooled;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Recycled against fallocated WAL segments (a measurement, not a test): two WALs in one process, one
 * recycling (4 spares, written until its rolls take spares) and one not (every segment fallocated),
 * written at QD1 with 4 KiB records in alternating 1-second slices, so that a shared, noisy machine
 * hits both alike; with one record per batch, records/s = fdatasyncs/s. 4 MiB segments and a
 * checkpoint every 8 MiB, so that both roll often. One line per slice, then the totals.
 * Args: DIR SLICES.
 */
public final class WalRecycleBench {
    private static final WalSink NO_STORE = new WalSink() {
        @Override
        public void prepare(WalEntry entry) {}

        @Override
        public void apply(WalEntry entry) {}

        @Override
        public void checkpoint() {}
    };

    private static long writeFor(WalWriter wal, byte[] payload, long durationNanos) throws Exception {
        long endNanos = System.nanoTime() + durationNanos;
        long records = 0;
        while (System.nanoTime() < endNanos) {
            CompletableFuture<Void> done = new CompletableFuture<>();
            wal.submit(new WalEntry(WalRecordFormat.TYPE_WRITE, 1, 0, 4096, Unpooled.wrappedBuffer(payload),
                    (entry, error) -> {
                        if (error != null) {
                            done.completeExceptionally(error);
                        } else {
                            done.complete(null);
                        }
                    }));
            done.get(30, TimeUnit.SECONDS);
            records++;
        }
        return records;
    }

    public static void main(String[] args) throws Exception {
        Path root = Files.createTempDirectory(Path.of(args[0]), "wal-recycle-bench");
        int slices = Integer.parseInt(args[1]);
        byte[] payload = new byte[4096 + 4];
        WalWriter.Config config = new WalWriter.Config(4L << 20, 64, 4096, 8L << 20, payload.length, 4);
        WalWriter recycling = WalWriter.open(root.resolve("recycling"), NO_STORE, config, WalWriter.Listener.NONE);
        WalWriter fallocating = WalWriter.open(root.resolve("fallocating"), NO_STORE, config.withSparesMax(0),
                WalWriter.Listener.NONE);
        try {
            while (recycling.recycledRollCount() < 2) {
                writeFor(recycling, payload, TimeUnit.MILLISECONDS.toNanos(200));
            }
            long rollsBefore = recycling.rollCount();
            long recycledBefore = recycling.recycledRollCount();
            long fallocatedRollsBefore = fallocating.rollCount();
            long recycledRecords = 0;
            long fallocatedRecords = 0;
            double ratioSum = 0;
            int recycledFaster = 0;
            long sliceNanos = TimeUnit.SECONDS.toNanos(1);
            for (int i = 0; i < slices; i++) {
                long recycled;
                long fallocated;
                if (i % 2 == 0) {
                    recycled = writeFor(recycling, payload, sliceNanos);
                    fallocated = writeFor(fallocating, payload, sliceNanos);
                } else {
                    fallocated = writeFor(fallocating, payload, sliceNanos);
                    recycled = writeFor(recycling, payload, sliceNanos);
                }
                recycledRecords += recycled;
                fallocatedRecords += fallocated;
                ratioSum += recycled / (double) Math.max(1, fallocated);
                recycledFaster += recycled > fallocated ? 1 : 0;
                System.out.printf("{\"slice\":%d,\"load1\":%s,\"recycled_syncs_per_s\":%d,\"fallocated_syncs_per_s\":%d}%n",
                        i, Files.readString(Path.of("/proc/loadavg")).split(" ")[0], recycled, fallocated);
            }
            System.out.printf("{\"slices\":%d,\"recycled_syncs_per_s\":%d,\"fallocated_syncs_per_s\":%d,"
                    + "\"mean_slice_ratio\":%.2f,\"recycled_faster_slices\":%d,\"recycled_rolls\":\"%d of %d\","
                    + "\"fallocated_rolls\":%d}%n", slices, recycledRecords / slices, fallocatedRecords / slices,
                    ratioSum / slices, recycledFaster, recycling.recycledRollCount() - recycledBefore,
                    recycling.rollCount() - rollsBefore, fallocating.rollCount() - fallocatedRollsBefore);
        } finally {
            recycling.abandon();
            fallocating.abandon();
            try (Stream<Path> files = Files.walk(root)) {
                for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }
}
