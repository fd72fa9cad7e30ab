package io.basalt.client;

import io.basalt.meta.model.Volume;
import io.basalt.meta.model.VolumeQos;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What of an open volume may change while it is open: its size (resize) and its QoS limits
 * ({@code basalt volume qos}), and the {@link QosLimiter} that enforces them.
 *
 * <p>Design note. Meta pushes nothing to clients, so an open volume polls its record every
 * {@link ClientConfig#volumeRefreshMillis} (a leader read, no log entry); the NBD gateway also
 * refreshes when a new connection opens a volume already open, so the connection is offered the
 * current size. The limiter is null for a volume without limits: {@link VolumeDevice} then takes
 * no lock and allocates nothing for QoS. Limits set on an unlimited volume install a limiter,
 * changed limits update it in place (levels kept, waiters re-examined), removed limits release
 * every waiter. Guarded by this object's monitor; readers read the volatile fields.
 */
final class LiveVolume {
    private static final Logger log = LoggerFactory.getLogger(LiveVolume.class);

    private final ClusterClient cluster;
    private final ChunkMap chunks;
    private volatile Volume volume;
    private volatile QosLimiter limiter;
    private ScheduledFuture<?> refresher;
    private boolean closed;
    private volatile boolean refreshFailing;

    LiveVolume(ClusterClient cluster, Volume volume, ChunkMap chunks) {
        this.cluster = cluster;
        this.chunks = chunks;
        this.volume = volume;
        apply(volume);
    }

    Volume volume() {
        return volume;
    }

    /** Null for a volume without limits. */
    QosLimiter limiter() {
        return limiter;
    }

    /** Starts polling; internal volumes (object logs) have no limits or resizes and are not polled. */
    synchronized void startRefresh() {
        long periodMillis = cluster.config().volumeRefreshMillis();
        if (periodMillis <= 0 || volume.name().startsWith(".") || closed) {
            return;
        }
        refresher = cluster.scheduler().scheduleWithFixedDelay(() -> refresh().whenComplete((fresh, error) -> {
            if (error == null) {
                refreshFailing = false;
                return;
            }
            Throwable cause = error instanceof CompletionException && error.getCause() != null
                    ? error.getCause() : error;
            // Once per streak: meta being away is logged by the lease, not every 2 s per volume.
            if (!refreshFailing) {
                refreshFailing = true;
                log.warn("re-reading volume \"{}\" from meta failed: {} (size and QoS changes wait)",
                        volume.name(), cause.toString());
            }
        }), periodMillis, periodMillis, TimeUnit.MILLISECONDS);
    }

    /** Reads the record from meta and takes it; completes with the record in force. */
    CompletableFuture<Volume> refresh() {
        String name = volume.name();
        return cluster.callMeta("refresh_volume", () -> cluster.meta().getVolume(name)).thenApply(fresh -> {
            apply(fresh);
            return volume;
        });
    }

    /**
     * Takes a newer record of this volume. A record of another id (the volume was deleted and the
     * name reused) is ignored: the lease renewal fences the device. A shrink drops the cached maps
     * of the chunks past the new end (meta removed them); a grow needs nothing, the new chunks'
     * maps are looked up when I/O reaches them.
     */
    void apply(Volume fresh) {
        Runnable afterwards;
        synchronized (this) {
            Volume current = volume;
            if (closed || fresh.id() != current.id()) {
                return;
            }
            if (fresh.sizeBytes() != current.sizeBytes()) {
                if (fresh.chunkSlots() < current.chunkSlots()) {
                    chunks.forgetFrom(fresh.chunkSlots());
                }
                log.info("volume \"{}\" is now {} bytes (was {})", fresh.name(), fresh.sizeBytes(),
                        current.sizeBytes());
            }
            volume = fresh;
            afterwards = applyQos(fresh.qos());
        }
        // Outside the monitor: released waiters start their I/O on this thread.
        afterwards.run();
    }

    /** Stops polling and lets every waiting request go (it then fails as closed). */
    void close() {
        QosLimiter current;
        synchronized (this) {
            closed = true;
            if (refresher != null) {
                refresher.cancel(false);
            }
            current = limiter;
        }
        if (current != null) {
            current.releaseAll();
        }
    }

    /** Installs, changes or drops the limiter; returns what must run outside the monitor. */
    private Runnable applyQos(VolumeQos qos) {
        assert Thread.holdsLock(this);
        QosLimiter current = limiter;
        if (!qos.limited()) {
            if (current == null) {
                return () -> { };
            }
            limiter = null;
            log.info("volume \"{}\": QoS limits removed", volume.name());
            return current::releaseAll;
        }
        if (current == null) {
            limiter = newLimiter(qos);
            log.info("volume \"{}\": QoS limits {}", volume.name(), qos);
            return () -> { };
        }
        if (current.limits().equals(qos)) {
            return () -> { };
        }
        log.info("volume \"{}\": QoS limits now {}", volume.name(), qos);
        return () -> current.update(qos);
    }

    private QosLimiter newLimiter(VolumeQos qos) {
        ClientMetrics metrics = cluster.metrics();
        String name = volume.name();
        var readSeconds = metrics.qosThrottledSeconds.labelValues(name, "read");
        var writeSeconds = metrics.qosThrottledSeconds.labelValues(name, "write");
        var readRequests = metrics.qosThrottledRequests.labelValues(name, "read");
        var writeRequests = metrics.qosThrottledRequests.labelValues(name, "write");
        ScheduledExecutorService scheduler = cluster.scheduler();
        return new QosLimiter(qos, System::nanoTime,
                (task, delayNanos) -> scheduler.schedule(task, delayNanos, TimeUnit.NANOSECONDS),
                (kind, waitedNanos) -> {
                    double seconds = waitedNanos / 1e9;
                    if (kind == QosLimiter.Kind.READ) {
                        readSeconds.inc(seconds);
                        readRequests.inc();
                    } else {
                        writeSeconds.inc(seconds);
                        writeRequests.inc();
                    }
                });
    }
}
