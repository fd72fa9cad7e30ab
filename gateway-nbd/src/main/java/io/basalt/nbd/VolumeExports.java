package io.basalt.nbd;

import io.basalt.client.ClusterClient;
import io.basalt.client.VolumeDevice;
import io.basalt.common.Units;
import io.basalt.meta.api.MetaError;
import io.basalt.meta.api.MetaException;
import io.basalt.meta.model.Volume;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Every volume of the cluster as an NBD export of the same name.
 *
 * <p>Design note. All sessions of one volume on this gateway share one {@link VolumeDevice} and so
 * one lease (the gateway is one client): multi-conn clients such as nbdcopy open several
 * connections to one export, and since the device has no cache a flush on one covers writes on all.
 * The device is opened (lease taken) by the first session and closed (lease released) when the last
 * one ends. Another gateway, or anything else holding the lease, makes the open fail with the
 * holder's name. A session that joins an open device re-reads the volume's record first, so a
 * volume grown while open is offered at its new size on new connections (docs/client.md, "Live
 * changes"); sessions already connected keep the size they negotiated.
 */
public final class VolumeExports implements NbdExports {
    private static final Logger log = LoggerFactory.getLogger(VolumeExports.class);

    private final ClusterClient cluster;
    private final String clientId;
    private final Map<String, Shared> open = new HashMap<>();
    /**
     * Closes in progress (the lease being released), by volume; guarded by {@code open}'s monitor.
     * A new session waits for it: the release must not land after a new session's acquire, since
     * both are this gateway's client id and the release would drop the new lease.
     */
    private final Map<String, CompletableFuture<Void>> closing = new HashMap<>();

    /** One volume's device and how many sessions use it; guarded by {@code open}'s monitor. */
    private static final class Shared {
        final CompletableFuture<VolumeDevice> device;
        int sessions;

        Shared(CompletableFuture<VolumeDevice> device) {
            this.device = device;
        }
    }

    public VolumeExports(ClusterClient cluster, String clientId) {
        this.cluster = cluster;
        this.clientId = clientId;
    }

    @Override
    public CompletableFuture<List<ExportInfo>> list() {
        return cluster.listVolumes().thenApply(volumes -> volumes.stream().map(VolumeExports::info).toList());
    }

    @Override
    public CompletableFuture<Optional<ExportInfo>> describe(String name) {
        return cluster.findVolume(name).thenApply(volume -> volume.map(VolumeExports::info));
    }

    @Override
    public CompletableFuture<OpenExport> open(String name) {
        if (name.isEmpty()) {
            return CompletableFuture.failedFuture(new UnknownExportException(name));
        }
        Shared shared;
        synchronized (open) {
            shared = open.get(name);
            if (shared == null || shared.device.isCompletedExceptionally()) {
                CompletableFuture<Void> closed = closing.getOrDefault(name, CompletableFuture.completedFuture(null));
                shared = new Shared(closed.exceptionally(error -> null)
                        // A snapshot (vm1@s1) is exported read-only and takes no lease: it never
                        // changes, and its volume's writer keeps its own (docs/snapshots.md).
                        .thenCompose(ignored -> name.indexOf('@') >= 0 ? cluster.openReadOnly(name)
                                : cluster.open(name, clientId)));
                open.put(name, shared);
                Shared opened = shared;
                shared.device.whenComplete((device, error) -> {
                    if (error != null) {
                        synchronized (open) {
                            open.remove(name, opened);
                        }
                    } else {
                        log.info("opened volume \"{}\" ({}, {}): {}", name,
                                Units.formatBytes(device.sizeBytes()), device.volume().policyName(),
                                device.isReadOnly() ? "read-only, no lease" : "lease taken as " + clientId);
                    }
                });
            }
            shared.sessions++;
        }
        Shared session = shared;
        boolean alreadyOpen = shared.device.isDone() && !shared.device.isCompletedExceptionally();
        CompletableFuture<VolumeDevice> ready = !alreadyOpen ? shared.device
                // A volume open for an earlier session: read its record again so this session is
                // offered the current size (a grow since then); on a meta error, the known record.
                : shared.device.thenCompose(device -> device.refreshVolume().handle((volume, error) -> {
                    if (error != null) {
                        log.warn("volume \"{}\": could not re-read its size for a new session ({}); offering"
                                + " {} bytes", name, error.getMessage(), device.sizeBytes());
                    }
                    return device;
                }));
        return ready.handle((device, error) -> {
            if (error != null) {
                synchronized (open) {
                    session.sessions--;
                }
                Throwable cause = error instanceof CompletionException && error.getCause() != null
                        ? error.getCause() : error;
                if (cause instanceof MetaException meta && meta.error() == MetaError.NOT_FOUND) {
                    throw new UnknownExportException(name);
                }
                throw cause instanceof RuntimeException runtime ? runtime : new CompletionException(cause);
            }
            return new OpenExport(info(device.volume()), device, () -> release(name, session));
        });
    }

    private void release(String name, Shared session) {
        VolumeDevice device;
        CompletableFuture<Void> close = new CompletableFuture<>();
        synchronized (open) {
            if (--session.sessions > 0 || open.get(name) != session) {
                return;
            }
            open.remove(name);
            device = session.device.join();
            closing.put(name, close); // in the same critical section, so no open slips between
        }
        // Releasing the lease is a meta call: off the event loop that ended the session.
        Thread.ofVirtual().name("basalt-nbd-close").start(() -> {
            try {
                device.close();
                log.info("closed volume \"{}\": lease released", name);
            } catch (RuntimeException e) {
                log.warn("closing volume \"{}\": {}", name, e.toString());
            } finally {
                synchronized (open) {
                    closing.remove(name, close);
                }
                close.complete(null);
            }
        });
    }

    /** Closes every open volume (releases the leases); for shutdown, after the sessions drained. */
    public void closeAll() {
        List<Shared> all;
        synchronized (open) {
            all = List.copyOf(open.values());
            open.clear();
        }
        for (Shared shared : all) {
            if (shared.device.isDone() && !shared.device.isCompletedExceptionally()) {
                shared.device.join().close();
            }
        }
    }

    private static ExportInfo info(Volume volume) {
        return new ExportInfo(volume.name(), volume.policyName() + (volume.isSnapshot() ? " snapshot, " : " volume, ")
                + Units.formatBytes(volume.sizeBytes()),
                volume.sizeBytes(), volume.isSnapshot(), true, volume.blockSizeBytes(), volume.blockSizeBytes(),
                VolumeDevice.PAYLOAD_BYTES_MAX, true);
    }
}
