package io.basalt.client;

import io.basalt.meta.model.FlattenProgress;
import io.basalt.meta.model.Volume;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runs a flatten requested for a volume ({@link Flatten#request}) in the process that holds its
 * lease, in the background: the NBD gateway that has it open. While the volume reads through a
 * parent, it looks for a request in meta every {@link #POLL_MILLIS}, and runs the steps from the
 * recorded cursor, with a pause between steps so that client I/O (which waits while a step holds
 * the write gate) gets its turn. A gateway restarted, or a meta leader changed, resumes at the
 * cursor the next time the volume is open.
 *
 * <p>Owned by its own virtual thread; {@link #stop} is called by the device's close.
 */
final class FlattenWorker implements Runnable {
    private static final Logger log = LoggerFactory.getLogger(FlattenWorker.class);
    /** How often an open layered volume asks meta whether a flatten was requested. */
    static final long POLL_MILLIS = 2_000;
    /** Between steps: the gate is free for client writes meanwhile. */
    static final long STEP_PAUSE_MILLIS = 20;
    /** At most one warning per this interval for a failing pass. */
    private static final long WARN_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(30);

    private final ClusterClient cluster;
    private final VolumeDevice device;
    private final Thread thread;
    private volatile boolean stopped;
    private long lastWarnNanos;

    private FlattenWorker(ClusterClient cluster, VolumeDevice device) {
        this.cluster = cluster;
        this.device = device;
        this.thread = Thread.ofVirtual().name("basalt-flatten-" + device.volume().name()).unstarted(this);
    }

    static FlattenWorker start(ClusterClient cluster, VolumeDevice device) {
        FlattenWorker worker = new FlattenWorker(cluster, device);
        worker.thread.start();
        return worker;
    }

    void stop() {
        stopped = true;
        thread.interrupt();
    }

    @Override
    public void run() {
        while (!stopped) {
            try {
                pass();
                Thread.sleep(POLL_MILLIS);
            } catch (InterruptedException e) {
                return;
            } catch (Exception e) {
                if (stopped) {
                    return;
                }
                long now = System.nanoTime();
                if (lastWarnNanos == 0 || now - lastWarnNanos >= WARN_INTERVAL_NANOS) {
                    lastWarnNanos = now;
                    log.warn("flatten of volume \"{}\": {}; tried again from its cursor", device.volume().name(),
                            ChunkRetries.rootMessage(e));
                }
                try {
                    Thread.sleep(POLL_MILLIS);
                } catch (InterruptedException interrupted) {
                    return;
                }
            }
        }
    }

    /** One look for a request, and the whole flatten when there is one. */
    private void pass() throws Exception {
        Volume volume = device.volume();
        if (volume.parentId() == 0) {
            return;
        }
        Optional<FlattenProgress> requested = cluster.meta().getFlatten(volume.name());
        if (requested.isEmpty() || requested.get().parentId() != volume.parentId()) {
            return;
        }
        FlattenProgress from = requested.get();
        log.info("flattening volume \"{}\" in the background from {} of {} bytes", volume.name(),
                from.cursorBytes(), from.sizeBytes());
        Flatten.Result done = Flatten.steps(cluster, device, from, Flatten.BACKGROUND_STEP_BYTES, examined -> pause(),
                () -> stopped);
        if (done != null) {
            log.info("flattened volume \"{}\": {} bytes copied up; it no longer reads through a snapshot",
                    volume.name(), done.copiedBytes());
        }
    }

    private void pause() {
        try {
            Thread.sleep(STEP_PAUSE_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt(); // the next step's get() sees it; stop() was called
        }
    }
}
