package io.basalt.client;

import io.basalt.meta.model.Volume;
import java.util.concurrent.TimeUnit;
import java.util.function.LongConsumer;

/**
 * {@code basalt volume flatten vm2} (docs/snapshots.md, "Flatten"): copies into a volume every
 * block it reads through its parent layers, then detaches the parent, so the snapshot it was
 * cloned from can be deleted.
 *
 * <p>Design note. The flatten takes the volume's lease, so it is the only writer: a block absent
 * in the top layer cannot be written by anyone else between the read from below and the copy.
 * (A gateway holding the lease makes it fail, naming the holder.) Steps of {@link #STEP_BYTES}
 * go in order; each copies only what is still absent, so a flatten that stopped (killed, a chunk
 * server gone) is resumed by running it again. Detaching is one meta entry that checks the parent
 * is still the one the copy read from.
 */
public final class Flatten {
    /** Bytes examined per step: a few requests per chunk server, progress every step. */
    static final int STEP_BYTES = 8 << 20;

    private Flatten() {}

    /** What a flatten did. */
    public record Result(Volume volume, long copiedBytes, long examinedBytes) {}

    /**
     * Blocking. {@code progress} receives the bytes examined so far after every step. Fails with
     * an {@link IllegalArgumentException} (one line) when the volume has no parent layer.
     */
    public static Result run(ClusterClient cluster, String volume, String clientId, LongConsumer progress)
            throws Exception {
        VolumeDevice device = cluster.open(volume, clientId).get(60, TimeUnit.SECONDS);
        try {
            long parentId = device.volume().parentId();
            if (parentId == 0) {
                throw new IllegalArgumentException("volume \"" + volume + "\" reads through no snapshot: nothing"
                        + " to flatten");
            }
            long sizeBytes = device.sizeBytes();
            long copied = 0;
            for (long at = 0; at < sizeBytes; at += STEP_BYTES) {
                int length = (int) Math.min(STEP_BYTES, sizeBytes - at);
                copied += device.copyUp(at, length).get(10, TimeUnit.MINUTES);
                progress.accept(at + length);
            }
            Volume detached = cluster.meta().detachParent(volume, parentId);
            return new Result(detached, copied, sizeBytes);
        } finally {
            device.close();
        }
    }
}
