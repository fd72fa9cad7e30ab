package io.basalt.client;

import io.basalt.meta.api.MetaError;
import io.basalt.meta.api.MetaException;
import io.basalt.meta.model.Lease;
import io.basalt.meta.model.Volume;
import java.time.Duration;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The exclusive writer lease of an open volume: taken at open, renewed every third of its duration,
 * released at close.
 *
 * <p>Design note. The lease is judged on meta's clock; the client cannot read that clock, so it
 * counts from when it sent the renewal: it stops trusting the lease {@code duration} after the last
 * renewal that succeeded was <em>sent</em>, which is never later than meta's expiry. Past that,
 * writes fail (the volume is "fenced") until a renewal succeeds again. A renewal refused because
 * another client holds the lease, or because the volume is gone, fences the device for good. The
 * chunk servers' version check is the second wall: meta raises every chunk's version when the lease
 * moves, so even a client paused past its lease cannot write once the servers know the new versions.
 */
final class VolumeLease {
    private static final Logger log = LoggerFactory.getLogger(VolumeLease.class);

    private final ClusterClient cluster;
    private final Volume volume;
    private final String clientId;
    private final Duration duration;
    private volatile long validUntilNanos;
    private volatile String lostReason;
    private ScheduledFuture<?> renewal;

    private VolumeLease(ClusterClient cluster, Volume volume, String clientId, Duration duration) {
        this.cluster = cluster;
        this.volume = volume;
        this.clientId = clientId;
        this.duration = duration;
    }

    /** Takes the lease (blocking meta call); throws {@link MetaException} LEASE_HELD when held. */
    static VolumeLease acquire(ClusterClient cluster, Volume volume, String clientId) {
        VolumeLease lease = new VolumeLease(cluster, volume, clientId, cluster.config().leaseDuration());
        long sentNanos = System.nanoTime();
        cluster.meta().acquireLease(volume.id(), clientId, lease.duration);
        lease.validUntilNanos = sentNanos + lease.duration.toNanos();
        long periodMillis = Math.max(100, lease.duration.toMillis() / 3);
        lease.renewal = cluster.scheduler().scheduleWithFixedDelay(lease::renewAsync, periodMillis,
                periodMillis, TimeUnit.MILLISECONDS);
        return lease;
    }

    /**
     * No lease at all: for a reader of a volume another client writes (an object gateway reading an
     * object log: objects are immutable once named, so reads need no writer's lease). Every write is
     * refused with the reason; release does nothing.
     */
    static VolumeLease none(ClusterClient cluster, Volume volume) {
        VolumeLease lease = new VolumeLease(cluster, volume, null, Duration.ZERO);
        lease.lostReason = "volume \"" + volume.name() + "\" is open read-only here";
        return lease;
    }

    boolean readOnly() {
        return clientId == null;
    }

    /** Null while the lease can be trusted; otherwise why writes are refused. */
    String fencedReason() {
        String lost = lostReason;
        if (lost != null) {
            return lost;
        }
        if (System.nanoTime() - validUntilNanos > 0) {
            return "the lease on volume \"" + volume.name() + "\" expired: meta could not be reached to renew it";
        }
        return null;
    }

    private void renewAsync() {
        if (lostReason != null) {
            return;
        }
        long sentNanos = System.nanoTime();
        cluster.callMeta("renew_lease", () -> {
            Lease lease = cluster.meta().acquireLease(volume.id(), clientId, duration);
            return lease;
        }).whenComplete((lease, error) -> {
            if (error == null) {
                validUntilNanos = sentNanos + duration.toNanos();
                return;
            }
            Throwable cause = error.getCause() != null ? error.getCause() : error;
            if (cause instanceof MetaException meta
                    && (meta.error() == MetaError.LEASE_HELD || meta.error() == MetaError.NOT_FOUND)) {
                lostReason = meta.error() == MetaError.NOT_FOUND
                        ? "volume \"" + volume.name() + "\" was deleted"
                        : "lost the lease on volume \"" + volume.name() + "\": " + meta.getMessage();
                log.error("{}; writes to it now fail", lostReason);
            } else {
                log.warn("renewing the lease on volume \"{}\" failed: {} (valid for {} ms more)", volume.name(),
                        cause.getMessage(), TimeUnit.NANOSECONDS.toMillis(validUntilNanos - System.nanoTime()));
            }
        });
    }

    /** Stops renewing and gives the lease back (best effort: it expires anyway). */
    void release() {
        if (renewal != null) {
            renewal.cancel(false);
        }
        if (lostReason != null) {
            return;
        }
        lostReason = "volume \"" + volume.name() + "\" is closed";
        try {
            cluster.meta().releaseLease(volume.id(), clientId);
        } catch (MetaException e) {
            log.warn("releasing the lease on volume \"{}\": {}", volume.name(), e.getMessage());
        }
    }
}
