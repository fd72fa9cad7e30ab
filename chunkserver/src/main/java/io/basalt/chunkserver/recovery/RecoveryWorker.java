package io.basalt.chunkserver.recovery;

import io.basalt.chunkserver.ec.StripeVerifier;
import io.basalt.chunkserver.ChunkVersions;
import io.basalt.chunkserver.CsMetrics;
import io.basalt.chunkserver.MetaLink;
import io.basalt.chunkserver.store.ChunkletStore;
import io.basalt.chunkserver.wal.WalWriter;
import io.basalt.common.ThreadNames;
import io.basalt.protocol.data.ReplicaClients;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The chunk server's side of self-healing: asks meta which chunklets it must recover (those meta made
 * RECOVERING here), runs up to {@code concurrency} of them at once, and reports each one done, which
 * makes meta mark it UPTODATE.
 *
 * <p>Priority and throttling policy: client I/O first. Recovery reads are paced by a token bucket
 * ({@code bandwidthBytesPerSecond}, default 256 MiB/s per recovering server), at most
 * {@code concurrency} chunklets at once (default 2), one read in flight per source per chunklet;
 * and before every read the worker yields while this server has more than
 * {@link #CLIENT_BUSY_REQUESTS} requests in flight (up to 200 ms per read), so a burst of client I/O
 * slows recovery down instead of queueing behind it. Fills go through the same WAL as client writes
 * and share its group commit.
 *
 * <p>Everything a recovery has done is in the chunklet (blocks filled) and everything it must do is
 * in meta (the RECOVERING chunklet and its start version), so a restart of this server or of the
 * meta leader resumes it: the next diff finds the filled blocks equal and copies only the rest.
 */
public final class RecoveryWorker implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(RecoveryWorker.class);
    /** Client requests in flight on this server above which recovery reads wait. */
    static final long CLIENT_BUSY_REQUESTS = 32;
    private static final long RETRY_AFTER_FAILURE_NANOS = TimeUnit.SECONDS.toNanos(5);
    private static final long RETRY_AFTER_RESTART_NANOS = TimeUnit.MILLISECONDS.toNanos(250);

    /**
     * Settings: how often to ask meta, how many chunklets at once, how many bytes a second at most,
     * and the WAL sync latency, as a multiple of its latency without recovery, above which recovery
     * slows down ({@link SyncLatencyPacer}; 0: a fixed rate, {@code bandwidthBytesPerSecond}).
     */
    public record Config(long pollMillis, int concurrency, long bandwidthBytesPerSecond, double latencyFactor) {
        /** The default latency factor: the bound on client p99 during a rebuild is 2x. */
        public static final double DEFAULT_LATENCY_FACTOR = 2.0;

        public static Config defaults() {
            return new Config(1000, 2, 256L << 20, DEFAULT_LATENCY_FACTOR);
        }

        public Config(long pollMillis, int concurrency, long bandwidthBytesPerSecond) {
            this(pollMillis, concurrency, bandwidthBytesPerSecond, DEFAULT_LATENCY_FACTOR);
        }

        public Config {
            if (pollMillis <= 0 || concurrency <= 0 || bandwidthBytesPerSecond < 0
                    || !(latencyFactor == 0 || latencyFactor > 1)) {
                throw new IllegalArgumentException("recovery: poll " + pollMillis + " ms, concurrency " + concurrency
                        + ", bandwidth " + bandwidthBytesPerSecond + " bytes/s, latency factor " + latencyFactor
                        + " (poll and concurrency > 0, bandwidth >= 0, latency factor 0 or > 1)");
            }
        }

        /** Whether recovery is paced by WAL sync latency (it needs a bandwidth to pace). */
        boolean paced() {
            return latencyFactor > 0 && bandwidthBytesPerSecond > 0;
        }
    }

    private final MetaLink meta;
    private final int csId;
    private final Config config;
    private final CsMetrics metrics;
    private final Context context;
    private final ChunkletStore store;
    private final WalWriter wal;
    private final ChunkVersions versions;
    private final ReplicaClients clients;
    private final LongSupplier clientRequests;
    private final ExecutorService runners = Executors.newVirtualThreadPerTaskExecutor();
    /** Recovery's rate, paced by the WAL's sync latency; null when the rate is fixed. */
    private final SyncLatencyPacer pacer;
    private final Map<Long, Running> running = new ConcurrentHashMap<>();
    /** When a failed recovery may be tried again; the poller's. */
    private final Map<Long, Long> retryAfterNanos = new ConcurrentHashMap<>();
    private final AtomicLong rebuiltBytes = new AtomicLong();
    private final AtomicLong catchUpBytes = new AtomicLong();
    /** Released when a recovery ends, so the poller starts the next one without waiting a whole poll. */
    private final java.util.concurrent.Semaphore wake = new java.util.concurrent.Semaphore(0);
    private volatile int queued;
    private volatile long queuedBytes;
    private final Thread poller;
    private volatile boolean closed;
    /** For the rate: copied bytes at the last progress report. */
    private long lastCopied;
    private long lastReportNanos = System.nanoTime();
    private volatile long bytesPerSecond;

    private record Running(MetaLink.RecoveryTask task, ReplicaRecovery.Progress progress, long startNanos) {}

    public RecoveryWorker(MetaLink meta, int csId, Config config, ChunkletStore store, WalWriter wal,
            ChunkVersions versions, ReplicaClients clients, CsMetrics metrics) {
        this.meta = meta;
        this.csId = csId;
        this.config = config;
        this.metrics = metrics;
        this.store = store;
        this.wal = wal;
        this.versions = versions;
        this.clients = clients;
        this.clientRequests = () -> (long) metrics.requestsInFlight.get();
        this.pacer = config.paced()
                ? new SyncLatencyPacer(config.bandwidthBytesPerSecond(), config.latencyFactor(),
                        wal::foregroundBatches, wal::foregroundBatchNanos, System::nanoTime)
                : null;
        this.context = new Context(csId, store, wal, versions, clients, runners,
                pacer != null ? pacer : new Throttle(config.bandwidthBytesPerSecond()), clientRequests);
        this.poller = Thread.ofPlatform().daemon().name(ThreadNames.of("basalt-cs-recovery")).unstarted(this::pollLoop);
    }

    public void start() {
        poller.start();
    }

    private void pollLoop() {
        long failures = 0;
        while (!closed) {
            try {
                poll();
                failures = 0;
                if (pacer != null) {
                    pacer.update(System.nanoTime(), !running.isEmpty());
                    metrics.recoveryPace.set(running.isEmpty() ? 0 : pacer.rate());
                }
            } catch (IOException e) {
                if (failures++ == 0) {
                    log.warn("asking meta for recovery work failed: {}", e.getMessage());
                }
            } catch (RuntimeException e) {
                log.error("recovery poll failed", e);
            }
            try {
                wake.tryAcquire(config.pollMillis(), TimeUnit.MILLISECONDS);
                wake.drainPermits();
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    /** One round: start what meta lists and is not running yet, within the concurrency limit. */
    void poll() throws IOException {
        List<MetaLink.RecoveryTask> tasks = meta.recoveryTasks(csId);
        long now = System.nanoTime();
        int waiting = 0;
        long waitingBytes = 0;
        for (MetaLink.RecoveryTask task : tasks) {
            if (running.containsKey(task.chunkUid())) {
                continue;
            }
            Long retry = retryAfterNanos.get(task.chunkUid());
            if (running.size() >= config.concurrency() || (retry != null && now - retry < 0)) {
                waiting++;
                waitingBytes += task.chunkletSizeBytes();
                continue;
            }
            Running run = new Running(task, new ReplicaRecovery.Progress(), now);
            running.put(task.chunkUid(), run);
            metrics.recoveryActive.set(running.size());
            runners.execute(() -> recover(run));
        }
        queued = waiting;
        queuedBytes = waitingBytes;
        retryAfterNanos.keySet().removeIf(uid -> tasks.stream().noneMatch(t -> t.chunkUid() == uid));
    }

    private void recover(Running run) {
        MetaLink.RecoveryTask task = run.task();
        String kind = task.catchUp() ? "catchup" : "rebuild";
        String chunk = Long.toHexString(task.chunkUid());
        log.info("chunk {}: {} of {} {} started (version {}, {} UPTODATE sources)", chunk,
                task.catchUp() ? "catch-up" : "rebuild", task.erasureCoded() ? "column" : "chunklet",
                task.targetIndex(), task.startVersion(),
                task.members().stream().filter(m -> m.upToDate() && m.index() != task.targetIndex()).count());
        String outcome = "failed";
        try {
            if (task.erasureCoded()) {
                new EcRecovery(task, context, run.progress()).run();
            } else {
                new ReplicaRecovery(task, context, run.progress()).run();
            }
            meta.recoveryDone(task.chunkUid(), csId, task.startVersion());
            outcome = "done";
            log.info("chunk {}: {} of {} {} done in {} ms: {} blocks copied, {} bytes of block maps read",
                    chunk, kind, task.erasureCoded() ? "column" : "chunklet", task.targetIndex(), (System.nanoTime() - run.startNanos()) / 1_000_000,
                    run.progress().blocksCopied, run.progress().mapBytes);
        } catch (MetaLink.StaleRecoveryException e) {
            outcome = "stale";
            log.info("chunk {}: {} dropped: {}", chunk, kind, e.getMessage());
        } catch (RecoveryIo.StaleTaskException e) {
            outcome = "restarted";
            log.info("chunk {}: {} of {} {} restarts at the chunk's new version: {}", chunk, kind,
                    task.erasureCoded() ? "column" : "chunklet", task.targetIndex(), e.getMessage());
        } catch (IOException | RuntimeException e) {
            log.warn("chunk {}: {} of chunklet {} failed, retried in 5 s: {}", chunk, kind, task.targetIndex(),
                    e.toString());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            outcome = "stopped";
        } finally {
            if (outcome.equals("failed") || outcome.equals("stopped")) {
                retryAfterNanos.put(task.chunkUid(), System.nanoTime() + RETRY_AFTER_FAILURE_NANOS);
            } else if (outcome.equals("restarted")) {
                // Soon, not at once: should meta still list the old version, this never spins.
                retryAfterNanos.put(task.chunkUid(), System.nanoTime() + RETRY_AFTER_RESTART_NANOS);
            }
            running.remove(task.chunkUid());
            metrics.recoveryActive.set(running.size());
            metrics.recoveryChunklets.labelValues(kind, outcome).inc();
            wake.release(); // a slot is free: ask meta for the next task now, not at the next poll
        }
    }

    /**
     * A scrubber for this server, sharing the recovery machinery (repairs go through the same WAL
     * records and protocol) with its own pace ({@code config.bytesPerSecond()}, yielding to clients).
     * Not started.
     */
    public Scrubber scrubber(Scrubber.Config config, java.nio.file.Path stateFile, StripeVerifier stripes)
            throws IOException {
        return new Scrubber(meta, csId, store, new Context(csId, store, wal, versions, clients, runners,
                new Throttle(config.bytesPerSecond()), clientRequests), metrics, config, stateFile, stripes);
    }

    /** What this server reports of its recovery work in the next heartbeat. */
    public MetaLink.RecoveryProgress progress() {
        long done = 0;
        long total = queuedBytes;
        for (Running run : running.values()) {
            done += run.progress().bytesDone;
            total += run.progress().bytesTotal == 0 ? run.task().chunkletSizeBytes() : run.progress().bytesTotal;
        }
        long copied = rebuiltBytes.get() + catchUpBytes.get();
        long now = System.nanoTime();
        synchronized (this) {
            long elapsed = now - lastReportNanos;
            if (elapsed >= TimeUnit.MILLISECONDS.toNanos(500)) {
                bytesPerSecond = (long) ((copied - lastCopied) * 1e9 / elapsed);
                lastCopied = copied;
                lastReportNanos = now;
            }
        }
        return new MetaLink.RecoveryProgress(running.size(), queued, done, total, bytesPerSecond, rebuiltBytes.get(),
                catchUpBytes.get());
    }

    @Override
    public void close() {
        closed = true;
        poller.interrupt();
        runners.shutdownNow();
    }

    /** The worker's {@link RecoveryContext}: the server's parts, the throttle that yields to clients. */
    private final class Context implements RecoveryContext {
        private final int csId;
        private final ChunkletStore store;
        private final WalWriter wal;
        private final ChunkVersions versions;
        private final ReplicaClients clients;
        private final ExecutorService executor;
        private final Throttle throttle;

        Context(int csId, ChunkletStore store, WalWriter wal, ChunkVersions versions, ReplicaClients clients,
                ExecutorService executor, Throttle bandwidth, LongSupplier clientRequests) {
            this.csId = csId;
            this.store = store;
            this.wal = wal;
            this.versions = versions;
            this.clients = clients;
            this.executor = executor;
            this.throttle = new Throttle(0) {
                @Override
                void acquire(long bytes) throws InterruptedException {
                    for (int i = 0; i < 40 && clientRequests.getAsLong() > CLIENT_BUSY_REQUESTS; i++) {
                        Thread.sleep(5); // clients are busy here: let them go first
                    }
                    bandwidth.acquire(bytes);
                }
            };
        }

        @Override
        public int csId() {
            return csId;
        }

        @Override
        public ChunkletStore store() {
            return store;
        }

        @Override
        public WalWriter wal() {
            return wal;
        }

        @Override
        public ChunkVersions versions() {
            return versions;
        }

        @Override
        public ReplicaClients clients() {
            return clients;
        }

        @Override
        public java.util.concurrent.Executor executor() {
            return executor;
        }

        @Override
        public Throttle throttle() {
            return throttle;
        }

        @Override
        public void recordCopied(boolean catchUp, long bytes) {
            (catchUp ? catchUpBytes : rebuiltBytes).addAndGet(bytes);
            metrics.recoveryBytes.labelValues(catchUp ? "catchup" : "rebuild").inc(bytes);
        }

        @Override
        public void recordMapBytes(long bytes) {
            metrics.recoveryMapBytes.inc(bytes);
        }
    }
}
