package io.basalt.chunkserver;

import io.basalt.chunkserver.recovery.RecoveryWorker;
import io.basalt.chunkserver.recovery.Scrubber;
import io.basalt.chunkserver.protocol.DataServer;
import io.basalt.chunkserver.protocol.DataService;
import io.basalt.chunkserver.ec.PendingResolver;
import io.basalt.chunkserver.ec.StripeMaster;
import io.basalt.chunkserver.ec.StripeVerifier;
import io.basalt.protocol.data.DataTls;
import io.basalt.protocol.data.ReplicaClients;
import io.basalt.chunkserver.ec.Freezer;
import io.basalt.chunkserver.hot.HotStore;
import io.basalt.chunkserver.hot.TieredSink;
import io.basalt.chunkserver.store.ChunkletStore;
import io.basalt.chunkserver.wal.WalWriter;
import io.basalt.common.ThreadNames;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.UUID;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One chunk server: a data directory ({@code identity}, {@code versions}, {@code wal/},
 * {@code chunklets/}), the WAL writer, the reader threads, the data-protocol listener and the link to
 * meta (registration, heartbeats every second, chunk versions).
 *
 * <p>Start order matters: the directory is locked and its identity and format checked before anything
 * is read or written; the WAL is replayed before the port opens, so the first request already sees
 * every acknowledged write.
 */
public final class ChunkServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ChunkServer.class);

    /** Everything a chunk server is configured with. */
    public record Config(Path dataDir, String bindHost, int port, String advertiseHost, String hostLabel,
            String zoneLabel, long chunkletSizeMaxBytes, int lengthMaxBytes, long inFlightBytesMax,
            long requestTimeoutMillis, WalWriter.Config wal, long heartbeatMillis, int readerThreads,
            RecoveryWorker.Config recovery, Scrubber.Config scrub, long capacityMaxBytes, Path hotDir,
            long hotCapacityBytes, DataTls tls) {

        /** 1 GiB chunklets, 1 MiB requests, 64 MiB in flight per connection, 30 s request timeout. */
        public static Config defaults(Path dataDir) {
            int lengthMaxBytes = 1 << 20;
            return new Config(dataDir, "127.0.0.1", 0, null, null, null, 1L << 30, lengthMaxBytes, 64L << 20,
                    30_000, WalWriter.Config.defaults(DataService.payloadMaxBytes(lengthMaxBytes)), 1000, 4,
                    RecoveryWorker.Config.defaults(), Scrubber.Config.defaults(), 0, null, 0, null);
        }

        public Config withPort(int port) {
            return new Config(dataDir, bindHost, port, advertiseHost, hostLabel, zoneLabel, chunkletSizeMaxBytes,
                    lengthMaxBytes, inFlightBytesMax, requestTimeoutMillis, wal, heartbeatMillis, readerThreads,
                    recovery, scrub, capacityMaxBytes, hotDir, hotCapacityBytes, tls);
        }

        public Config withLabels(String bindHost, String advertiseHost, String hostLabel, String zoneLabel) {
            return new Config(dataDir, bindHost, port, advertiseHost, hostLabel, zoneLabel, chunkletSizeMaxBytes,
                    lengthMaxBytes, inFlightBytesMax, requestTimeoutMillis, wal, heartbeatMillis, readerThreads,
                    recovery, scrub, capacityMaxBytes, hotDir, hotCapacityBytes, tls);
        }

        public Config withWal(WalWriter.Config wal) {
            return new Config(dataDir, bindHost, port, advertiseHost, hostLabel, zoneLabel, chunkletSizeMaxBytes,
                    lengthMaxBytes, inFlightBytesMax, requestTimeoutMillis, wal, heartbeatMillis, readerThreads,
                    recovery, scrub, capacityMaxBytes, hotDir, hotCapacityBytes, tls);
        }

        public Config withChunkletSize(long chunkletSizeMaxBytes) {
            return new Config(dataDir, bindHost, port, advertiseHost, hostLabel, zoneLabel, chunkletSizeMaxBytes,
                    lengthMaxBytes, inFlightBytesMax, requestTimeoutMillis, wal, heartbeatMillis, readerThreads,
                    recovery, scrub, capacityMaxBytes, hotDir, hotCapacityBytes, tls);
        }

        public Config withScrub(Scrubber.Config scrub) {
            return new Config(dataDir, bindHost, port, advertiseHost, hostLabel, zoneLabel, chunkletSizeMaxBytes,
                    lengthMaxBytes, inFlightBytesMax, requestTimeoutMillis, wal, heartbeatMillis, readerThreads,
                    recovery, scrub, capacityMaxBytes, hotDir, hotCapacityBytes, tls);
        }

        public Config withRecovery(RecoveryWorker.Config recovery) {
            return new Config(dataDir, bindHost, port, advertiseHost, hostLabel, zoneLabel, chunkletSizeMaxBytes,
                    lengthMaxBytes, inFlightBytesMax, requestTimeoutMillis, wal, heartbeatMillis, readerThreads,
                    recovery, scrub, capacityMaxBytes, hotDir, hotCapacityBytes, tls);
        }

        /**
         * At most {@code capacityMaxBytes} of the data directory's file system is this server's (0: all
         * of it): the capacity meta places and balances by, and the point at which it reports FULL. For
         * a disk shared with other things, or several servers on one file system (a laptop's cluster).
         */
        public Config withCapacity(long capacityMaxBytes) {
            if (capacityMaxBytes < 0) {
                throw new IllegalArgumentException("capacity " + capacityMaxBytes + " bytes (0: the whole disk)");
            }
            return new Config(dataDir, bindHost, port, advertiseHost, hostLabel, zoneLabel, chunkletSizeMaxBytes,
                    lengthMaxBytes, inFlightBytesMax, requestTimeoutMillis, wal, heartbeatMillis, readerThreads,
                    recovery, scrub, capacityMaxBytes, hotDir, hotCapacityBytes, tls);
        }

        /**
         * The hot store (docs/hot-tier.md) in {@code hotDir} (null: DATA/hot; another device when one is
         * faster) with room for {@code hotCapacityBytes} of hot data (0: 5% of this server's capacity,
         * the seed's figure: the working set of VM disks is 5-15%).
         */
        public Config withHot(Path hotDir, long hotCapacityBytes) {
            if (hotCapacityBytes < 0) {
                throw new IllegalArgumentException("hot capacity " + hotCapacityBytes + " bytes (0: 5% of the disk)");
            }
            return new Config(dataDir, bindHost, port, advertiseHost, hostLabel, zoneLabel, chunkletSizeMaxBytes,
                    lengthMaxBytes, inFlightBytesMax, requestTimeoutMillis, wal, heartbeatMillis, readerThreads,
                    recovery, scrub, capacityMaxBytes, hotDir, hotCapacityBytes, tls);
        }

        /** The capacity this server reports on a file system of {@code totalBytes}. */
        long capacity(long totalBytes) {
            return capacityMaxBytes == 0 ? totalBytes : Math.min(totalBytes, capacityMaxBytes);
        }

        /**
         * Serves and connects to other chunk servers over mutual TLS with {@code tls} (null: plain
         * TCP, for an --insecure cluster).
         */
        public Config withTls(DataTls tls) {
            return new Config(dataDir, bindHost, port, advertiseHost, hostLabel, zoneLabel, chunkletSizeMaxBytes,
                    lengthMaxBytes, inFlightBytesMax, requestTimeoutMillis, wal, heartbeatMillis, readerThreads,
                    recovery, scrub, capacityMaxBytes, hotDir, hotCapacityBytes, tls);
        }

        public Config withLimits(long inFlightBytesMax, long requestTimeoutMillis) {
            return new Config(dataDir, bindHost, port, advertiseHost, hostLabel, zoneLabel, chunkletSizeMaxBytes,
                    lengthMaxBytes, inFlightBytesMax, requestTimeoutMillis, wal, heartbeatMillis, readerThreads,
                    recovery, scrub, capacityMaxBytes, hotDir, hotCapacityBytes, tls);
        }
    }

    private final Config config;
    private final MetaLink meta;
    /** A prepared strip this old has missed its RESOLVE; its master is asked every interval. */
    static final long PENDING_RESOLVE_AGE_MILLIS = 10_000;
    static final long PENDING_RESOLVE_INTERVAL_MILLIS = 5_000;

    private final CsMetrics metrics;
    private final FileChannel lockChannel;
    private final FileLock lock;
    private final CsIdentity identity;
    private final ChunkletStore store;
    private final ChunkVersions versions;
    /** The hot store (docs/hot-tier.md); its records go through {@link #wal} with the chunklets'. */
    private final HotStore hot;
    private final Freezer freezer;
    private final WalWriter wal;
    private final ThreadPoolExecutor readers;
    /** Reads flagged BACKGROUND (other servers' recovery and scrub): one at a time, apart from client reads. */
    private final ThreadPoolExecutor backgroundReaders;
    private final EventLoopGroup group;
    private final ReplicaClients replicas;
    private final DataServer server;
    private final ScheduledExecutorService heartbeats;
    private final PendingResolver pendingResolver;
    private final RecoveryWorker recovery;
    private final Scrubber scrubber;
    private final FileStore fileStore;
    private volatile MetaLink.Health health = MetaLink.Health.OK;

    private ChunkServer(Config config, MetaLink meta, CsMetrics metrics, FileChannel lockChannel, FileLock lock,
            CsIdentity identity, ChunkletStore store, HotStore hot, Freezer freezer, ChunkVersions versions,
            WalWriter wal,
            ThreadPoolExecutor readers,
            ThreadPoolExecutor backgroundReaders, EventLoopGroup group, ReplicaClients replicas, DataServer server, ScheduledExecutorService heartbeats,
            PendingResolver pendingResolver, RecoveryWorker recovery, Scrubber scrubber, FileStore fileStore) {
        this.config = config;
        this.meta = meta;
        this.metrics = metrics;
        this.lockChannel = lockChannel;
        this.lock = lock;
        this.identity = identity;
        this.store = store;
        this.hot = hot;
        this.freezer = freezer;
        this.versions = versions;
        this.wal = wal;
        this.readers = readers;
        this.backgroundReaders = backgroundReaders;
        this.group = group;
        this.replicas = replicas;
        this.server = server;
        this.heartbeats = heartbeats;
        this.pendingResolver = pendingResolver;
        this.recovery = recovery;
        this.scrubber = scrubber;
        this.fileStore = fileStore;
    }

    /**
     * Starts a chunk server on {@code config.dataDir()}, formatting it on first start.
     *
     * @throws IOException with a one-line reason: directory in use, of another cluster, of an unknown
     *     format, WAL damaged beyond a torn tail, port taken
     */
    public static ChunkServer start(Config config, MetaLink meta, PrometheusRegistry registry) throws IOException {
        Path dataDir = config.dataDir();
        Files.createDirectories(dataDir);
        FileChannel lockChannel = FileChannel.open(dataDir.resolve("lock"), StandardOpenOption.CREATE,
                StandardOpenOption.WRITE);
        FileLock lock = lockChannel.tryLock();
        if (lock == null) {
            lockChannel.close();
            throw new IOException("data directory " + dataDir + " is in use by another chunk server");
        }
        CsMetrics metrics = new CsMetrics(registry);
        ChunkletStore store = null;
        HotStore hot = null;
        WalWriter wal = null;
        ThreadPoolExecutor readers = null;
        ThreadPoolExecutor backgroundReaders = null;
        EventLoopGroup group = null;
        ReplicaClients replicas = null;
        DataServer server = null;
        try {
            CsIdentity identity = CsIdentity.read(dataDir.resolve("identity"));
            UUID clusterId = meta.clusterId();
            if (identity != null && !identity.clusterId().equals(clusterId)) {
                throw new IOException("data directory " + dataDir + " belongs to cluster " + identity.clusterId()
                        + ", but meta serves cluster " + clusterId + "; use an empty --data directory for this cluster");
            }
            if (identity == null && (hasFiles(dataDir.resolve("wal"), ".wal") || hasFiles(dataDir.resolve("chunklets"), ""))) {
                // (An empty wal/ is what a first start that failed later, e.g. on a taken port, leaves.)
                throw new IOException("data directory " + dataDir + " holds WAL segments or chunklets but no identity"
                        + " file; it is not a chunk server directory this build can trust; use an empty --data directory");
            }
            store = ChunkletStore.open(dataDir.resolve("chunklets"), config.chunkletSizeMaxBytes(),
                    2 * config.wal().segmentBytes(), (chunkUid, offsetBytes) -> metrics.corruptBlocks.inc());
            ChunkletStore placedSource = store;
            io.prometheus.metrics.core.metrics.CounterWithCallback.builder()
                    .name("basalt_cs_placed_write_bytes_total")
                    .help("Data bytes of big first writes written once, in place, with only their"
                            + " metadata in the WAL")
                    .callback(cb -> cb.call(placedSource.placedWriteBytes()))
                    .register(registry);
            ChunkVersions versions = ChunkVersions.open(dataDir.resolve("versions"));
            Path hotDir = config.hotDir() != null ? config.hotDir() : dataDir.resolve("hot");
            io.basalt.chunkserver.hot.HotLocation.bind(dataDir, hotDir);
            long hotCapacity = config.hotCapacityBytes() != 0 ? config.hotCapacityBytes()
                    : Math.clamp(config.capacity(Files.getFileStore(hotDir).getTotalSpace()) / 20, 4096,
                            HotStore.CAPACITY_MAX_BYTES);
            hot = HotStore.open(hotDir, hotCapacity);
            HotStore hotSource = hot;
            io.prometheus.metrics.core.metrics.GaugeWithCallback.builder()
                    .name("basalt_cs_hot_used_bytes")
                    .help("Bytes of the hot store in use (hot blocks and slots reserved by writes in flight)")
                    .callback(cb -> cb.call(hotSource.usedSlots() * 4096.0))
                    .register(registry);
            io.prometheus.metrics.core.metrics.CounterWithCallback.builder()
                    .name("basalt_cs_hot_full_refusals_total")
                    .help("Hot writes refused because the hot store was full; each went to the stripes")
                    .callback(cb -> cb.call(hotSource.fullRefusals()))
                    .register(registry);
            io.prometheus.metrics.core.metrics.GaugeWithCallback.builder()
                    .name("basalt_cs_hot_capacity_bytes")
                    .help("Bytes the hot store may hold (--hot-capacity; default 5% of the disk)")
                    .callback(cb -> cb.call(hotSource.capacitySlots() * 4096.0))
                    .register(registry);
            wal = WalWriter.open(dataDir.resolve("wal"), new TieredSink(store, hot), config.wal(),
                    new WalWriter.Listener() {
                @Override
                public void synced(int entries, long bytes, long nanos) {
                    metrics.walSyncs.inc();
                    metrics.walRecords.inc(entries);
                    metrics.walBatchEntries.observe(entries);
                    metrics.walSyncLatency.observe(nanos / 1e9);
                }

                @Override
                public void rolled(boolean recycled) {
                    metrics.walSegments.labelValues(recycled ? "recycled" : "preallocated").inc();
                }
            });
            WalWriter queued = wal;
            io.prometheus.metrics.core.metrics.GaugeWithCallback.builder()
                    .name("basalt_cs_wal_queue_entries")
                    .help("WAL entries waiting for the writer; at the bound (4096) writes are refused BUSY, and"
                            + " background records already at three quarters")
                    .callback(cb -> cb.call(queued.queuedEntries()))
                    .register(registry);
            AtomicInteger readerNumber = new AtomicInteger();
            readers = new ThreadPoolExecutor(config.readerThreads(), config.readerThreads(), 0, TimeUnit.SECONDS,
                    new ArrayBlockingQueue<>(4096), r -> {
                        Thread thread = new Thread(r, ThreadNames.of("basalt-cs-reader-" + readerNumber.incrementAndGet()));
                        thread.setDaemon(true);
                        return thread;
                    });
            backgroundReaders = new ThreadPoolExecutor(1, 1, 0, TimeUnit.SECONDS, new ArrayBlockingQueue<>(4096),
                    r -> {
                        Thread thread = new Thread(r, ThreadNames.of("basalt-cs-background-reader"));
                        thread.setDaemon(true);
                        return thread;
                    });
            group = new MultiThreadIoEventLoopGroup(2, new DefaultThreadFactory(ThreadNames.of("basalt-cs-io"), true),
                    NioIoHandler.newFactory());
            DataService service = new DataService(store, wal, versions, readers, backgroundReaders, null, null, hot,
                    metrics,
                    config.lengthMaxBytes(), config.inFlightBytesMax(), config.requestTimeoutMillis());
            replicas = new ReplicaClients(group, io.netty.channel.socket.nio.NioSocketChannel.class,
                    config.requestTimeoutMillis(), service.payloadMaxBytes(), config.tls());
            // Its virtual threads end with their requests; closing the server and replicas ends those.
            StripeMaster stripes = new StripeMaster(store, wal, versions, replicas, metrics, hot);
            // Hot blocks folded into the EC stripes in the background (docs/hot-tier.md).
            Freezer freezer = stripes.freezer();
            io.prometheus.metrics.core.metrics.CounterWithCallback.builder()
                    .name("basalt_cs_hot_frozen_blocks_total")
                    .help("Hot blocks this stripe master wrote into EC stripes")
                    .callback(cb -> cb.call(freezer.frozenBlocks()))
                    .register(registry);
            io.prometheus.metrics.core.metrics.CounterWithCallback.builder()
                    .name("basalt_cs_hot_freeze_failures_total")
                    .help("Stripe freezes that failed (tried again on the next pass)")
                    .callback(cb -> cb.call(freezer.failures()))
                    .register(registry);
            service = new DataService(store, wal, versions, readers, backgroundReaders, replicas, stripes, hot, metrics,
                    config.lengthMaxBytes(),
                    config.inFlightBytesMax(), config.requestTimeoutMillis());
            server = DataServer.start(new InetSocketAddress(config.bindHost(), config.port()), group, service,
                    config.tls());
            String advertise = (config.advertiseHost() != null ? config.advertiseHost() : config.bindHost()) + ":"
                    + server.localAddress().getPort();
            FileStore fileStore = Files.getFileStore(dataDir);
            int csId = meta.register(identity == null ? 0 : identity.csId(), advertise, config.hostLabel(),
                    config.zoneLabel(), config.capacity(fileStore.getTotalSpace()));
            if (identity == null) {
                identity = new CsIdentity(csId, clusterId, System.currentTimeMillis());
                identity.write(dataDir.resolve("identity"));
                log.info("formatted {} as chunk server {} of cluster {}", dataDir, csId, clusterId);
            } else if (identity.csId() != csId) {
                throw new IOException("meta registered this chunk server as " + csId + " but " + dataDir
                        + " is chunk server " + identity.csId());
            }
            // Versions fence; a chunk meta removes from this CS also loses its chunklet (WAL-ordered).
            meta.subscribeVersions(csId, new ReclaimingVersionSink(versions, wal));
            versions.onBehind(meta::versionsBehind);
            ScheduledExecutorService heartbeats = Executors.newSingleThreadScheduledExecutor(r -> {
                Thread thread = new Thread(r, ThreadNames.of("basalt-cs-heartbeat"));
                thread.setDaemon(true);
                return thread;
            });
            // Prepared strips whose outcome never arrived (a restart, a lost RESOLVE): ask their master.
            PendingResolver pendingResolver = new PendingResolver(store, wal, versions, replicas, advertise, metrics);
            pendingResolver.start(PENDING_RESOLVE_INTERVAL_MILLIS, PENDING_RESOLVE_AGE_MILLIS);
            // Chunklets meta made RECOVERING here: rebuilt or caught up from their healthy replicas.
            RecoveryWorker recovery = new RecoveryWorker(meta, csId, config.recovery(), store, wal, versions, replicas,
                    metrics);
            recovery.start();
            // Every block read back on a schedule and repaired from redundancy when damaged.
            Scrubber scrubber = recovery.scrubber(config.scrub(), dataDir.resolve("scrub"),
                    new StripeVerifier(stripes, store, replicas));
            scrubber.start();
            // A restarted master's hot blocks are frozen without waiting for their chunk's next write.
            MetaLink metaLink = meta;
            int self = csId;
            freezer.layoutSource(uid -> {
                try {
                    return metaLink.chunkMap(uid, self);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
            freezer.start();
            ChunkServer chunkServer = new ChunkServer(config, meta, metrics, lockChannel, lock, identity, store, hot,
                    freezer,
                    versions, wal, readers, backgroundReaders, group, replicas, server, heartbeats, pendingResolver, recovery, scrubber,
                    fileStore);
            heartbeats.scheduleWithFixedDelay(chunkServer::heartbeat, 0, config.heartbeatMillis(),
                    TimeUnit.MILLISECONDS);
            log.info("chunk server {} serving {} on {}", csId, dataDir, advertise);
            return chunkServer;
        } catch (IOException | RuntimeException e) {
            if (server != null) {
                server.close();
            }
            if (replicas != null) {
                replicas.close();
            }
            if (group != null) {
                group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            }
            if (readers != null) {
                readers.shutdownNow();
            }
            if (backgroundReaders != null) {
                backgroundReaders.shutdownNow();
            }
            if (wal != null) {
                try {
                    wal.close();
                } catch (IOException closing) {
                    e.addSuppressed(closing);
                }
            }
            if (store != null) {
                store.close();
            }
            if (hot != null) {
                hot.close();
            }
            lock.release();
            lockChannel.close();
            throw e;
        }
    }

    private static boolean hasFiles(Path dir, String suffix) throws IOException {
        if (!Files.isDirectory(dir)) {
            return false;
        }
        try (java.util.stream.Stream<Path> files = Files.list(dir)) {
            return files.anyMatch(p -> p.getFileName().toString().endsWith(suffix));
        }
    }

    private long lastFrozenBlocks;
    private long lastFrozenAtNanos;

    /** The hot store's fill and the freezer's progress, its rate since the last heartbeat. */
    private MetaLink.HotReport hotReport() {
        long frozen = freezer == null ? 0 : freezer.frozenBlocks();
        long nowNanos = System.nanoTime();
        long perSecond = lastFrozenAtNanos == 0 || nowNanos == lastFrozenAtNanos ? 0
                : (frozen - lastFrozenBlocks) * 1_000_000_000L / (nowNanos - lastFrozenAtNanos);
        lastFrozenBlocks = frozen;
        lastFrozenAtNanos = nowNanos;
        return new MetaLink.HotReport(hot.usedSlots() * 4096L, hot.capacitySlots() * 4096L, frozen, perSecond,
                freezer == null ? 0 : freezer.failures());
    }

    /** One heartbeat pass: refresh disk gauges and health, tell meta. Never throws. */
    private void heartbeat() {
        try {
            long capacity = config.capacity(fileStore.getTotalSpace());
            long used = store.usedBytes();
            // Within a configured capacity, what is left of it counts as free even if the disk has more.
            long free = config.capacityMaxBytes() == 0 ? fileStore.getUsableSpace()
                    : Math.min(fileStore.getUsableSpace(), Math.max(0, capacity - used));
            metrics.diskUsedBytes.set(used);
            metrics.diskFreeBytes.set(free);
            MetaLink.Health now = wal.failure() != null ? MetaLink.Health.DISK_FAILED
                    : free < 2 * config.wal().segmentBytes() + config.lengthMaxBytes() ? MetaLink.Health.FULL
                    : MetaLink.Health.OK; // FULL: the largest write would be refused (WAL headroom)
            if (now != health) {
                log.warn("chunk server health {} -> {} (free {} bytes{})", health, now, free,
                        wal.failure() != null ? ", WAL failed: " + wal.failure().getMessage() : "");
                health = now;
            }
            Scrubber.Progress scrub = scrubber.progress();
            meta.heartbeat(identity.csId(), capacity, used, now, recovery.progress(), new MetaLink.ScrubReport(
                    scrub.running(), scrub.passBytes(), scrub.passDamaged(), scrub.passRepaired(),
                    scrub.lastPassEndMillis(), scrub.lastPassDamaged(), scrub.lastPassRepaired()), hotReport());
            if (heartbeatFailures > 0) {
                log.info("heartbeats to meta succeed again after {} failed", heartbeatFailures);
                heartbeatFailures = 0;
            }
        } catch (Exception e) {
            // Meta down or electing: one line on the first failure, then one per interval, so a
            // long outage does not flood the log; the daemon keeps serving and keeps trying.
            heartbeatFailures++;
            long nowNanos = System.nanoTime();
            if (heartbeatFailures == 1 || nowNanos - lastHeartbeatWarnNanos >= HEARTBEAT_WARN_INTERVAL_NANOS) {
                lastHeartbeatWarnNanos = nowNanos;
                log.warn("heartbeat to meta failed ({} in a row): {}", heartbeatFailures, e.getMessage());
            }
        }
    }

    /** At most one heartbeat failure warning per this interval (after the first). */
    private static final long HEARTBEAT_WARN_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(30);
    /** Owned by the heartbeat thread. */
    private long heartbeatFailures;
    private long lastHeartbeatWarnNanos;

    public int csId() {
        return identity.csId();
    }

    public InetSocketAddress address() {
        return server.localAddress();
    }

    public MetaLink.Health health() {
        return health;
    }

    public ChunkVersions versions() {
        return versions;
    }

    public WalWriter wal() {
        return wal;
    }

    /** Settles prepared strips whose outcome never arrived by asking their master (tests run a round). */
    public PendingResolver pendingResolver() {
        return pendingResolver;
    }

    public Scrubber scrubber() {
        return scrubber;
    }

    public CsMetrics metrics() {
        return metrics;
    }

    public ChunkletStore store() {
        return store;
    }

    /** The hot store (docs/hot-tier.md). */
    public HotStore hot() {
        return hot;
    }

    /** The freezer (docs/hot-tier.md): tests run passes of it. */
    public Freezer freezer() {
        return freezer;
    }

    private volatile boolean closed;

    /** {@link #close} for cleanup paths: logs instead of throwing; idempotent. */
    public void closeQuietly() {
        try {
            close();
        } catch (IOException | RuntimeException e) {
            log.warn("closing chunk server {}: {}", config.dataDir(), e.toString());
        }
    }

    /** Stops listening, finishes queued writes, checkpoints the WAL and closes the files. Idempotent. */
    @Override
    public synchronized void close() throws IOException {
        if (closed) {
            return;
        }
        closed = true;
        heartbeats.shutdownNow();
        pendingResolver.close();
        freezer.close();
        scrubber.close();
        recovery.close();
        server.close();
        replicas.close();
        try {
            wal.close();
        } finally {
            readers.shutdown();
            backgroundReaders.shutdownNow(); // recovery reads for other servers: they retry elsewhere
            try {
                readers.awaitTermination(10, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly();
            try {
                store.close();
            } finally {
                hot.close();
            }
            lock.release();
            lockChannel.close();
        }
    }
}
