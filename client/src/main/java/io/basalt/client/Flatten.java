package io.basalt.client;

import static io.basalt.protocol.data.BlockCrc.BLOCK_SHIFT;
import static io.basalt.protocol.data.BlockCrc.BLOCK_SIZE_BYTES;

import io.basalt.meta.model.Volume;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
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

    private static final ByteBufAllocator ALLOC = PooledByteBufAllocator.DEFAULT;

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
                copied += copyUp(device, at, length).get(10, TimeUnit.MINUTES);
                progress.accept(at + length);
            }
            Volume detached = cluster.meta().detachParent(volume, parentId);
            return new Result(detached, copied, sizeBytes);
        } finally {
            device.close();
        }
    }

    /**
     * One step of a flatten: writes into the device's own chunks every non-zero block of the
     * aligned range that it reads through its parent layers; completes with the bytes written. An
     * all-zero block is left absent: once the parent is detached it reads as zeroes anyway, and the
     * volume stays thin. The caller holds the lease, so no other write races the copy; run again, a
     * step copies only what is still absent (resumable).
     */
    static CompletableFuture<Long> copyUp(VolumeDevice device, long offsetBytes, int lengthBytes) {
        ByteBuf own = ALLOC.directBuffer(lengthBytes, lengthBytes);
        return device.readOwn(offsetBytes, lengthBytes, own, 0).thenCompose(pieces -> {
            List<CompletableFuture<Long>> copies = new ArrayList<>();
            for (LayerReader.Own piece : pieces) {
                if (piece.complete()) {
                    continue;
                }
                int blocks = piece.lengthBytes() >> BLOCK_SHIFT;
                for (int run = piece.absent().nextSetBit(0); run >= 0 && run < blocks;
                        run = piece.absent().nextSetBit(run)) {
                    int runEnd = Math.min(piece.absent().nextClearBit(run), blocks);
                    long runOffset = piece.offsetBytes() + ((long) run << BLOCK_SHIFT);
                    int runBytes = (runEnd - run) << BLOCK_SHIFT;
                    copies.add(device.parentLayer(piece.parentId()).thenCompose(parent -> {
                        ByteBuf below = ALLOC.directBuffer(runBytes, runBytes);
                        return LayerReader.read(parent, runOffset, runBytes, below, 0)
                                .thenCompose(read -> writeNonZero(device, runOffset, below, runBytes))
                                .whenComplete((written, error) -> below.release());
                    }));
                    run = runEnd;
                }
            }
            return CompletableFuture.allOf(copies.toArray(CompletableFuture[]::new))
                    .thenApply(ignored -> copies.stream().mapToLong(CompletableFuture::join).sum());
        }).whenComplete((done, error) -> own.release());
    }

    /** Writes the runs of non-zero blocks of {@code data} (indices unchanged) at {@code offsetBytes}. */
    private static CompletableFuture<Long> writeNonZero(VolumeDevice device, long offsetBytes, ByteBuf data,
            int lengthBytes) {
        List<CompletableFuture<Void>> writes = new ArrayList<>();
        long written = 0;
        int blocks = lengthBytes >> BLOCK_SHIFT;
        int block = 0;
        while (block < blocks) {
            while (block < blocks && isZeroBlock(data, block << BLOCK_SHIFT)) {
                block++;
            }
            int start = block;
            while (block < blocks && !isZeroBlock(data, block << BLOCK_SHIFT)) {
                block++;
            }
            if (block > start) {
                int bytes = (block - start) << BLOCK_SHIFT;
                writes.add(device.write(offsetBytes + ((long) start << BLOCK_SHIFT),
                        data.slice(start << BLOCK_SHIFT, bytes), false)); // data is released after all complete
                written += bytes;
            }
        }
        long total = written;
        return CompletableFuture.allOf(writes.toArray(CompletableFuture[]::new)).thenApply(ignored -> total);
    }

    private static boolean isZeroBlock(ByteBuf data, int index) {
        for (int i = 0; i < BLOCK_SIZE_BYTES; i += 8) {
            if (data.getLong(index + i) != 0) {
                return false;
            }
        }
        return true;
    }
}
