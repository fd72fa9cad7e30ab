package io.basalt.client;

import static io.basalt.protocol.data.BlockCrc.BLOCK_SHIFT;
import static io.basalt.protocol.data.BlockCrc.BLOCK_SIZE_BYTES;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Reads through a chain of layers (docs/snapshots.md, "Reads"): a block the top layer's own chunk
 * never wrote comes from its parent layer, and so on down; a block a layer trimmed or zeroed is
 * zeroes there and does not fall through.
 *
 * <p>Design note. A layer answers one piece (inside one chunk) at a time with its own data and,
 * from the same try, which blocks it holds and which parent it had after that try: a snapshot
 * moves a chunk out of the top layer and changes the parent pointer in one meta entry, and the
 * device learns the pointer before it can see the chunk gone ({@code VolumeDevice}'s refresh), so
 * the pair a piece reports is always one of the two consistent views (before the snapshot: own
 * chunk, old parent; after: no own chunk or a new one, new parent) and either reads the same
 * bytes. The chain's layers below the top never change, so their answers can be cached.
 */
final class LayerReader {
    private LayerReader() {}

    /** What a layer's own chunks answered for one piece. */
    record Own(long offsetBytes, int lengthBytes, BitSet absent, long parentId) {
        /** No parent in this view: the blocks the layer never wrote are zeroes (already set). */
        boolean complete() {
            return parentId == 0 || absent.isEmpty();
        }
    }

    /** One layer of a chain; implemented by {@code VolumeDevice} and by in-memory test layers. */
    interface Layer {
        long sizeBytes();

        /**
         * Reads the layer's own blocks of the aligned range into {@code destination} at
         * {@code destinationIndex} (blocks it never wrote as zeroes) and reports, per piece, which
         * blocks it does not hold (absent) and its parent in the same view.
         */
        CompletableFuture<List<Own>> readOwn(long offsetBytes, int lengthBytes, ByteBuf destination,
                int destinationIndex);

        /** The layer with id {@code layerId} (a parent named by {@link Own#parentId}). */
        CompletableFuture<Layer> layer(long layerId);
    }

    /** Reads the aligned range of {@code top} through its chain into {@code destination}. */
    static CompletableFuture<Void> read(Layer top, long offsetBytes, int lengthBytes, ByteBuf destination,
            int destinationIndex) {
        if ((offsetBytes & (BLOCK_SIZE_BYTES - 1)) != 0 || (lengthBytes & (BLOCK_SIZE_BYTES - 1)) != 0) {
            throw new IllegalArgumentException("unaligned layered read of " + lengthBytes + " at " + offsetBytes);
        }
        // A layer smaller than the one above it (the volume grew after the snapshot): past its end
        // the blocks are zeroes, as they were when the upper layer grew.
        long own = Math.max(0, Math.min(lengthBytes, top.sizeBytes() - offsetBytes));
        if (own < lengthBytes) {
            fill(destination, destinationIndex + (int) own, lengthBytes - (int) own);
        }
        if (own == 0) {
            return CompletableFuture.completedFuture(null);
        }
        return top.readOwn(offsetBytes, (int) own, destination, destinationIndex).thenCompose(pieces -> {
            List<CompletableFuture<Void>> below = new ArrayList<>();
            for (Own piece : pieces) {
                if (piece.complete()) {
                    continue;
                }
                int blocks = piece.lengthBytes() >> BLOCK_SHIFT;
                for (int run = piece.absent().nextSetBit(0); run >= 0 && run < blocks;
                        run = piece.absent().nextSetBit(run)) {
                    int runEnd = piece.absent().nextClearBit(run);
                    runEnd = Math.min(runEnd, blocks);
                    long runOffset = piece.offsetBytes() + ((long) run << BLOCK_SHIFT);
                    int runBytes = (runEnd - run) << BLOCK_SHIFT;
                    int at = destinationIndex + (int) (runOffset - offsetBytes);
                    below.add(top.layer(piece.parentId()).thenCompose(parent ->
                            readInto(parent, runOffset, runBytes, destination, at)));
                    run = runEnd;
                }
            }
            return CompletableFuture.allOf(below.toArray(CompletableFuture[]::new));
        });
    }

    /** Reads a run from {@code layer} through a buffer of its own, then copies it in (any thread). */
    private static CompletableFuture<Void> readInto(Layer layer, long offsetBytes, int lengthBytes,
            ByteBuf destination, int destinationIndex) {
        ByteBuf run = PooledByteBufAllocator.DEFAULT.directBuffer(lengthBytes, lengthBytes);
        CompletableFuture<Void> read;
        try {
            read = read(layer, offsetBytes, lengthBytes, run, 0);
        } catch (RuntimeException e) {
            read = CompletableFuture.failedFuture(e);
        }
        return read.whenComplete((ignored, error) -> {
            try {
                if (error == null) {
                    // Pieces answer on different threads: the same rule as VolumeDevice's strips
                    // (each copies through its own NIO view; setBytes is not safe from several).
                    if (destination.nioBufferCount() == 1) {
                        destination.nioBuffer(destinationIndex, lengthBytes).put(run.nioBuffer(0, lengthBytes));
                    } else {
                        synchronized (destination) {
                            destination.setBytes(destinationIndex, run, 0, lengthBytes);
                        }
                    }
                }
            } finally {
                run.release();
            }
        });
    }

    private static void fill(ByteBuf destination, int index, int lengthBytes) {
        if (destination.nioBufferCount() == 1) {
            java.nio.ByteBuffer view = destination.nioBuffer(index, lengthBytes);
            while (view.hasRemaining()) {
                view.put((byte) 0);
            }
        } else {
            synchronized (destination) {
                destination.setZero(index, lengthBytes);
            }
        }
    }
}
