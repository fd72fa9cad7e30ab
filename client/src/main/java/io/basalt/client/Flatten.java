package io.basalt.client;

import static io.basalt.protocol.data.BlockCrc.BLOCK_SHIFT;
import static io.basalt.protocol.data.BlockCrc.BLOCK_SIZE_BYTES;

import io.basalt.meta.model.FlattenProgress;
import io.basalt.meta.model.Volume;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.PooledByteBufAllocator;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.LongConsumer;

/**
 * Flatten (docs/snapshots.md, "Flatten"): copies into a volume every block it reads through its
 * parent layers, then detaches the parent, so the snapshot it was cloned from can be deleted.
 *
 * <p>Design note. Who copies is whoever holds the volume's lease: the gateway that has it open
 * ({@link FlattenWorker}, in the background, after {@link #request}), or {@link #run} in the
 * foreground when no one has it. Each step of {@link #STEP_BYTES} holds the device's write gate
 * alone ({@link VolumeDevice#copyUpExclusive}), so no write of the lease holder lands between the
 * read of a block from below and its copy; the step copies only what the top layer still lacks,
 * so any step may be run again. After every step the cursor goes to meta (SET_FLATTEN), so a
 * flatten stopped by a kill or a restart (of the copier or of the meta leader) resumes there;
 * detaching is one meta entry that checks the parent is still the one the copy read from.
 */
public final class Flatten {
    /** Bytes examined per step in the foreground: a few requests per chunk server, progress every step. */
    static final int STEP_BYTES = 8 << 20;
    /**
     * Per step in the background: client writes wait while a step holds the write gate, so a step
     * is kept to about what one request moves.
     */
    static final int BACKGROUND_STEP_BYTES = 2 << 20;
    private static final ByteBufAllocator ALLOC = PooledByteBufAllocator.DEFAULT;

    private Flatten() {}

    /** What a flatten did. */
    public record Result(Volume volume, long copiedBytes, long examinedBytes) {}

    /** Writes whole blocks at an aligned offset (the readable bytes of {@code data}). */
    @FunctionalInterface
    interface BlockWriter {
        CompletableFuture<Void> write(long offsetBytes, ByteBuf data);
    }

    /**
     * Asks for a flatten of {@code volume} by whoever holds its lease (a gateway copies in the
     * background); keeps a request already under way for the same parent. Fails with an
     * {@link IllegalArgumentException} (one line) when the volume has no parent layer.
     */
    public static FlattenProgress request(ClusterClient cluster, String volume) {
        Volume current = cluster.meta().getVolume(volume);
        if (current.parentId() == 0) {
            throw new IllegalArgumentException("volume \"" + volume + "\" reads through no snapshot: nothing"
                    + " to flatten");
        }
        Optional<FlattenProgress> known = cluster.meta().getFlatten(volume);
        if (known.isPresent() && known.get().parentId() == current.parentId()) {
            return known.get();
        }
        return cluster.meta().setFlatten(volume, current.parentId(), 0, 0, true);
    }

    /**
     * Blocking: takes the lease and flattens in this process, from the cursor of a flatten under
     * way for the same parent (else from 0). {@code progress} receives the bytes examined so far
     * after every step. Fails with an {@link IllegalArgumentException} (one line) when the volume
     * has no parent layer, and with LEASE_HELD when a gateway has it open (then use
     * {@link #request}).
     */
    public static Result run(ClusterClient cluster, String volume, String clientId, LongConsumer progress)
            throws Exception {
        VolumeDevice device = cluster.openForFlatten(volume, clientId).get(60, TimeUnit.SECONDS);
        try {
            long parentId = device.volume().parentId();
            if (parentId == 0) {
                throw new IllegalArgumentException("volume \"" + volume + "\" reads through no snapshot: nothing"
                        + " to flatten");
            }
            Optional<FlattenProgress> known = cluster.meta().getFlatten(volume);
            FlattenProgress from = known.isPresent() && known.get().parentId() == parentId ? known.get()
                    : cluster.meta().setFlatten(volume, parentId, 0, 0, true);
            return steps(cluster, device, from, STEP_BYTES, progress, () -> false);
        } finally {
            device.close();
        }
    }

    /**
     * Blocking: the steps of a flatten of {@code device}'s volume from {@code from}'s cursor, each
     * recorded in meta, then the detach. Returns null when {@code stop} said so between steps.
     */
    static Result steps(ClusterClient cluster, VolumeDevice device, FlattenProgress from, int stepBytes,
            LongConsumer progress, BooleanSupplier stop) throws Exception {
        String volume = device.volume().name();
        long parentId = from.parentId();
        long sizeBytes = device.sizeBytes();
        long copied = from.copiedBytes();
        // The cursor is where a step ended (of this size or another): round down, a step may be redone.
        for (long at = from.cursorBytes() / stepBytes * stepBytes; at < sizeBytes; at += stepBytes) {
            if (stop.getAsBoolean()) {
                return null;
            }
            int length = (int) Math.min(stepBytes, sizeBytes - at);
            copied += device.copyUpExclusive(at, length).get(10, TimeUnit.MINUTES);
            cluster.meta().setFlatten(volume, parentId, at + length, copied, false);
            progress.accept(at + length);
        }
        Volume detached = cluster.meta().detachParent(volume, parentId);
        device.refreshVolume().get(60, TimeUnit.SECONDS);
        return new Result(detached, copied, sizeBytes);
    }

    /**
     * One step of a flatten: writes into the device's own chunks every non-zero block of the
     * aligned range that it reads through its parent layers; completes with the bytes written. An
     * all-zero block is left absent: once the parent is detached it reads as zeroes anyway, and the
     * volume stays thin. The caller holds the lease and the write gate alone, so no other write
     * races the copy; run again, a step copies only what is still absent (resumable).
     */
    static CompletableFuture<Long> copyUp(VolumeDevice device, long offsetBytes, int lengthBytes,
            BlockWriter writer) {
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
                                .thenCompose(read -> writeNonZero(writer, runOffset, below, runBytes))
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
    private static CompletableFuture<Long> writeNonZero(BlockWriter writer, long offsetBytes, ByteBuf data,
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
                writes.add(writer.write(offsetBytes + ((long) start << BLOCK_SHIFT),
                        data.slice(start << BLOCK_SHIFT, bytes))); // data is released after all complete
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
