package io.basalt.meta.bench;

import io.basalt.meta.api.MetaClient;
import io.basalt.meta.model.ChunkServer;
import io.basalt.meta.model.Volume;
import java.util.Arrays;
import java.util.Locale;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongConsumer;

/**
 * Load generator for {@code bench/meta.sh}: drives a running meta group through one shared
 * {@link MetaClient} from {@code threads} virtual threads and prints ops/s and p50/p99/max
 * latency per operation. Measures, never asserts.
 *
 * <p>Usage: {@code MetaBench PEERS OPS_PER_PHASE THREADS LABEL}
 */
public final class MetaBench {
    private MetaBench() {}

    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: MetaBench PEERS OPS_PER_PHASE THREADS LABEL");
            System.exit(2);
        }
        String peers = args[0];
        int ops = Integer.parseInt(args[1]);
        int threads = Integer.parseInt(args[2]);
        String label = args[3];
        try (MetaClient client = MetaClient.connect(peers)) {
            int[] csIds = new int[3];
            for (int i = 0; i < 3; i++) {
                ChunkServer cs = client.registerCs(0, "bench" + i + ":7000", "bench-host" + i,
                        "z", 1L << 50, "bench");
                csIds[i] = cs.id();
            }
            String prefix = "b" + Long.toString(System.nanoTime(), 36);
            // Warm up the JIT and the connections.
            run(client, Math.min(200, ops), threads, i -> client.createVolume(prefix + "w" + i,
                    1L << 30, "rep3", 1L << 20));
            System.out.printf(Locale.ROOT, "%-8s %-24s %8s %10s %9s %9s %9s%n", "members",
                    "operation", "ops", "ops/s", "p50 ms", "p99 ms", "max ms");
            report(label, "volume create", run(client, ops, threads,
                    i -> client.createVolume(prefix + "v" + i, 1L << 40, "rep3", 1L << 20)));
            Volume volume = client.getVolume(prefix + "v0");
            report(label, "GetChunk allocating", run(client, ops, threads,
                    i -> client.getChunk(volume.id(), i, true)));
            report(label, "GetChunk read (exists)", run(client, ops, threads,
                    i -> client.getChunk(volume.id(), i % Math.max(1, ops), false)));
            report(label, "heartbeat", run(client, ops, threads,
                    i -> client.heartbeat(csIds[(int) (i % 3)], 1L << 50, i,
                            io.basalt.meta.model.CsHealth.OK)));
        }
    }

    /** Latencies in nanoseconds, plus the wall time of the whole phase as the last element. */
    private static long[] run(MetaClient client, int ops, int threads, LongConsumer op)
            throws Exception {
        long[] latencies = new long[ops + 1];
        AtomicLong next = new AtomicLong();
        long start = System.nanoTime();
        try (ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor()) {
            Future<?>[] workers = new Future<?>[threads];
            for (int t = 0; t < threads; t++) {
                workers[t] = pool.submit(() -> {
                    for (long i; (i = next.getAndIncrement()) < ops; ) {
                        long began = System.nanoTime();
                        op.accept(i);
                        latencies[(int) i] = System.nanoTime() - began;
                    }
                    return null;
                });
            }
            for (Future<?> worker : workers) {
                worker.get();
            }
        }
        latencies[ops] = System.nanoTime() - start;
        return latencies;
    }

    private static void report(String label, String name, long[] result) {
        int ops = result.length - 1;
        long wallNanos = result[ops];
        long[] sorted = Arrays.copyOf(result, ops);
        Arrays.sort(sorted);
        System.out.printf(Locale.ROOT, "%-8s %-24s %8d %10.0f %9.2f %9.2f %9.2f%n", label, name,
                ops, ops / (wallNanos / 1e9), sorted[ops / 2] / 1e6,
                sorted[Math.min(ops - 1, (int) Math.ceil(ops * 0.99) - 1)] / 1e6,
                sorted[ops - 1] / 1e6);
    }
}
