package io.basalt.client;

import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.Chunklet;
import io.netty.buffer.ByteBuf;
import java.util.concurrent.CompletableFuture;

/**
 * One try of a piece of I/O inside one chunk, as the chunk's layout needs it: {@link
 * ReplicatedPieces} (every replica, through the primary) or {@link EcPieces} (data columns and
 * the stripe master). A try fails with an {@link AttemptFailure} that {@link ChunkRetries} acts on.
 */
interface ChunkPieces {
    /** Reads whole blocks of {@code chunk} into {@code destination} at {@code destinationIndex}, CRC-checked. */
    CompletableFuture<Void> read(Chunk chunk, long chunkOffset, int lengthBytes, ByteBuf destination,
            int destinationIndex);

    /**
     * Writes {@code lengthBytes} of {@code data} from {@code dataIndex} (retained for the request,
     * not released); {@code crcs[firstBlock..]} are its blocks' CRC32Cs, computed at entry.
     */
    CompletableFuture<Void> write(Chunk chunk, long chunkOffset, ByteBuf data, int dataIndex, int lengthBytes,
            int[] crcs, int firstBlock);

    /** TRIM or WRITE_ZEROES ({@code type}, a DataFrame type) of whole blocks. */
    CompletableFuture<Void> zero(int type, Chunk chunk, long chunkOffset, int lengthBytes);

    /**
     * The chunklet that answers which blocks the chunk holds ({@link BlockPresence}); null for an
     * erasure-coded chunk with no UPTODATE parity column, whose data columns answer for themselves.
     */
    Chunklet presenceSource(Chunk chunk);
}
