package io.basalt.chunkserver;

import io.basalt.chunkserver.wal.WalWriter;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.stream.Stream;

/**
 * Group-commit benchmark (not a test): durable writes/s against one in-process chunk server (or a
 * 3-replica set through FORWARD) at a given queue depth, with WAL syncs per write; or, with OP
 * {@code read}, checksum-verified reads/s of random blocks of a region written first (64 MiB,
 * read from the primary: a read goes to one replica). Run by {@code bench/cs.sh}. Args:
 * DIR[:DIR...] QD SECONDS BLOCK_BYTES REPLICAS(1|3) [OP(write|read), default write]; with several
 * directories (one per disk) the servers take them in turn.
 *
 * <p>System properties (all optional) to see WAL segment recycling, which starts only after a
 * checkpoint has retired segments (256 MiB of WAL at the defaults): {@code basalt.bench.warmupSeconds}
 * (same workload, not measured, default 0), {@code basalt.bench.walSegmentMiB} (default 64),
 * {@code basalt.bench.walCheckpointMiB} (default 256), {@code basalt.bench.walSpares} (default 4; 0 turns
 * recycling off). The output adds the WAL syncs/s and the segments started (and how many of them were
 * recycled spares) during the measured seconds, the first server's mean WAL sync time; with
 * {@code basalt.bench.diskStat} (the data disks' /sys/dev/block/MAJ:MIN/stat, comma-separated) also
 * what the disks were given to write, per write and per second.
 *
 * <p>{@code basalt.bench.tls=true}: every connection (client to primary, primary to replicas) is the
 * data protocol's mutual TLS, with certificates of a CA made for the run; the output says
 * {@code "tls":true}. Run it beside a run without to see what TLS costs on the data path alone.
 */
public final class CsBench {
    public static void main(String[] args) throws Exception {
        // DIR may list one directory per server (DIR1:DIR2:DIR3, one disk each); servers take them in turn.
        List<Path> roots = new ArrayList<>();
        for (String dir : args[0].split(":")) {
            roots.add(Files.createTempDirectory(Path.of(dir), "cs-bench"));
        }
        int queueDepth = Integer.parseInt(args[1]);
        int seconds = Integer.parseInt(args[2]);
        int blockBytes = Integer.parseInt(args[3]);
        int replicaCount = Integer.parseInt(args[4]);
        boolean reads = args.length > 5 && args[5].equals("read");
        EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        List<ChunkServer> servers = new ArrayList<>();
        io.basalt.protocol.data.DataTls serverTls = null;
        io.basalt.protocol.data.DataTls clientTls = null;
        if (Boolean.getBoolean("basalt.bench.tls")) {
            Path tlsDir = roots.get(0).resolve("tls");
            var ca = io.basalt.common.tls.CertificateAuthority.create(tlsDir.resolve("ca"), "bench",
                    java.time.Duration.ofDays(1));
            ca.issue(tlsDir.resolve("cs"), io.basalt.common.tls.Role.CHUNK_SERVER, "cs", List.of(),
                    java.time.Duration.ofDays(1));
            ca.issue(tlsDir.resolve("client"), io.basalt.common.tls.Role.GATEWAY, "client", List.of(),
                    java.time.Duration.ofDays(1));
            serverTls = io.basalt.protocol.data.DataTls.of(io.basalt.common.tls.TlsIdentity.load(tlsDir.resolve("cs")));
            clientTls = io.basalt.protocol.data.DataTls.of(
                    io.basalt.common.tls.TlsIdentity.load(tlsDir.resolve("client")), java.util.Set.of());
        }
        try {
            int warmupSeconds = Integer.getInteger("basalt.bench.warmupSeconds", 0);
            long walSegmentBytes = 0;
            for (int i = 0; i < replicaCount; i++) {
                ChunkServer.Config config = ChunkServer.Config.defaults(roots.get(i % roots.size()).resolve("cs" + i));
                WalWriter.Config wal = config.wal();
                wal = new WalWriter.Config(Long.getLong("basalt.bench.walSegmentMiB", wal.segmentBytes() >> 20) << 20,
                        wal.batchEntriesMax(), wal.queueEntriesMax(),
                        Long.getLong("basalt.bench.walCheckpointMiB", wal.checkpointIntervalBytes() >> 20) << 20,
                        wal.payloadMaxBytes(), Integer.getInteger("basalt.bench.walSpares", wal.sparesMax()));
                walSegmentBytes = wal.segmentBytes();
                servers.add(ChunkServer.start(config.withWal(wal).withTls(serverTls), new LocalMetaLink("bench"),
                        new PrometheusRegistry()));
            }
            List<String> replicas = servers.stream().skip(1).map(s -> "127.0.0.1:" + s.address().getPort()).toList();
            DataClient client = DataClient.connect(group, io.netty.channel.socket.nio.NioSocketChannel.class,
                    "127.0.0.1:" + servers.get(0).address().getPort(), 30_000, 4 << 20, clientTls);
            byte[] data = new byte[blockBytes];
            new Random(1).nextBytes(data);
            Semaphore window = new Semaphore(queueDepth);
            if (reads) {
                read(client, window, queueDepth, seconds, blockBytes, data, replicas, replicaCount);
                client.close();
                return;
            }
            long offsetMax = (1L << 30) / blockBytes;
            long writes = 0;
            long warmupEnd = System.nanoTime() + TimeUnit.SECONDS.toNanos(warmupSeconds);
            while (System.nanoTime() < warmupEnd) {
                write(client, window, replicaCount, blockBytes, data, replicas, (writes++ % offsetMax) * blockBytes);
            }
            window.acquire(queueDepth);
            window.release(queueDepth);
            WalWriter firstWal = servers.get(0).wal();
            long syncsBefore = firstWal.syncCount();
            long syncNanosBefore = firstWal.syncNanos();
            long sectorsBefore = sectorsWritten();
            long rollsBefore = firstWal.rollCount();
            long recycledBefore = firstWal.recycledRollCount();
            long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
            long start = System.nanoTime();
            long warmupWrites = writes;
            while (System.nanoTime() < end) {
                write(client, window, replicaCount, blockBytes, data, replicas, (writes++ % offsetMax) * blockBytes);
            }
            window.acquire(queueDepth);
            double elapsed = (System.nanoTime() - start) / 1e9;
            writes -= warmupWrites;
            long syncs = firstWal.syncCount() - syncsBefore;
            double syncMeanMicros = (firstWal.syncNanos() - syncNanosBefore) / 1e3 / Math.max(1, syncs);
            long sectors = sectorsBefore < 0 ? -1 : sectorsWritten() - sectorsBefore;
            System.out.printf("{\"target\":\"cs\",\"tls\":" + Boolean.getBoolean("basalt.bench.tls") + ",\"op\":\"write\",\"replicas\":%d,\"qd\":%d,\"block_bytes\":%d,\"writes_per_s\":%.0f,"
                    + "\"mib_per_s\":%.1f,\"wal_syncs_per_write\":%.3f,\"wal_syncs_per_s\":%.0f,"
                    + "\"wal_sync_mean_us\":%.0f,"
                    + "\"warmup_s\":%d,"
                    + "\"wal_segment_mib\":%d,\"segments_started\":%d,\"segments_recycled\":%d,"
                    + "\"disk_kib_per_write\":%.1f,\"disk_mib_per_s\":%.0f}%n", replicaCount,
                    queueDepth, blockBytes, writes / elapsed, writes * (double) blockBytes / elapsed / (1 << 20),
                    syncs / (double) writes, syncs / elapsed, syncMeanMicros, warmupSeconds,
                    walSegmentBytes >> 20, firstWal.rollCount() - rollsBefore,
                    firstWal.recycledRollCount() - recycledBefore,
                    sectors < 0 ? -1 : sectors * 512.0 / 1024 / writes,
                    sectors < 0 ? -1 : sectors * 512.0 / elapsed / (1 << 20));
            client.close();
        } finally {
            for (ChunkServer server : servers) {
                server.closeQuietly();
            }
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).await();
            for (Path root : roots) {
                try (Stream<Path> files = Files.walk(root)) {
                    for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                        Files.deleteIfExists(p);
                    }
                }
            }
        }
    }

    /**
     * Sectors (512 bytes) written so far to the block devices named by {@code basalt.bench.diskStat}
     * (their /sys/dev/block/MAJ:MIN/stat files, comma-separated, set by bench/cs.sh), -1 if not given: what every replica's WAL,
     * chunklet data, metadata and the file system itself wrote, the disk's real load per write.
     */
    private static long sectorsWritten() throws java.io.IOException {
        String stats = System.getProperty("basalt.bench.diskStat");
        if (stats == null || stats.isEmpty()) {
            return -1;
        }
        long sectors = 0;
        for (String stat : stats.split(",")) {
            sectors += Long.parseLong(Files.readString(Path.of(stat)).trim().split("\\s+")[6]);
        }
        return sectors;
    }

    /** Writes a 64 MiB region, then reads random blocks of it for {@code seconds}. */
    private static void read(DataClient client, Semaphore window, int queueDepth, int seconds, int blockBytes,
            byte[] data, List<String> replicas, int replicaCount) throws InterruptedException {
        long regionBlocks = (64L << 20) / blockBytes;
        for (long block = 0; block < regionBlocks; block++) {
            write(client, window, replicaCount, blockBytes, data, replicas, block * blockBytes);
        }
        window.acquire(queueDepth);
        window.release(queueDepth);
        Random random = new Random(2);
        AtomicLong failed = new AtomicLong();
        long reads = 0;
        long start = System.nanoTime();
        long end = start + TimeUnit.SECONDS.toNanos(seconds);
        while (System.nanoTime() < end) {
            window.acquire();
            long offset = random.nextLong(regionBlocks) * blockBytes;
            client.request(DataFrame.TYPE_READ, 1, 0, offset, blockBytes, null).whenComplete((r, e) -> {
                window.release();
                if (r != null) {
                    if (r.status() != CsStatus.OK) {
                        failed.incrementAndGet();
                        System.err.println("read failed: " + r.status() + " " + r.message());
                    }
                    r.release();
                }
            });
            reads++;
        }
        window.acquire(queueDepth);
        double elapsed = (System.nanoTime() - start) / 1e9;
        System.out.printf("{\"target\":\"cs\",\"tls\":" + Boolean.getBoolean("basalt.bench.tls") + ",\"op\":\"read\",\"replicas\":%d,\"qd\":%d,\"block_bytes\":%d,"
                + "\"reads_per_s\":%.0f,\"mib_per_s\":%.1f,\"failed\":%d}%n", replicaCount, queueDepth, blockBytes,
                reads / elapsed, reads * (double) blockBytes / elapsed / (1 << 20), failed.get());
    }

    private static void write(DataClient client, Semaphore window, int replicaCount, int blockBytes, byte[] data,
            List<String> replicas, long offset) throws InterruptedException {
        window.acquire();
        CompletableFuture<DataClient.Reply> reply = replicaCount == 1
                ? client.request(DataFrame.TYPE_WRITE, 1, 0, offset, blockBytes,
                        DataClient.writePayload(PooledByteBufAllocator.DEFAULT, data))
                : client.request(DataFrame.TYPE_FORWARD, 1, 0, offset, blockBytes,
                        DataClient.forwardPayload(PooledByteBufAllocator.DEFAULT, data, replicas));
        reply.whenComplete((r, e) -> {
            window.release();
            if (r != null) {
                if (r.status() != CsStatus.OK) {
                    System.err.println("write failed: " + r.status() + " " + r.message());
                }
                r.release();
            }
        });
    }
}
