package io.basalt.client;

import static io.basalt.protocol.data.BlockCrc.BLOCK_SHIFT;

import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.Policy;
import io.basalt.meta.model.Volume;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * Freeing the blocks of deleted snapshots that nothing reads any more, and the space each snapshot
 * holds exclusively (docs/snapshots.md, "Space").
 *
 * <p>Design note. A layer is read only by its children (the layers whose parent it is), and only
 * for the blocks a child does not hold itself. So the blocks a layer holds that <em>every</em>
 * child holds too are read by no one: they are <em>shadowed</em>. For a deleted snapshot (a hidden
 * layer) they are garbage, and {@link #reclaim} trims them on every replica (the chunk server
 * punches the hole and stops counting them). For a named snapshot they are what deleting it would
 * free now: its exclusive space ({@link #exclusiveBytes}); a snapshot no layer reads through holds
 * everything exclusively.
 *
 * <p>Why a trim at any moment is safe (and so a kill -9 at any step leaves every volume reading
 * what it read, and running it again finishes the job): the shadowed set of a hidden layer only
 * grows. A hidden layer gets no new child (nothing can be cloned from or rolled back to it; a
 * snapshot of a child takes the child's chunks, the same blocks); a child only gains blocks (writes,
 * trims and zeroes all leave the block held), or stops being a child (rollback, delete, flatten),
 * which leaves fewer readers. A child's block counts as held only when every readable replica
 * holds it, so that no recovery from a replica that missed an unacknowledged write can make the
 * block fall through to a trimmed one. A chunk whose answers fail or go stale (a chunk moved by a
 * snapshot meanwhile) is skipped; the next run takes it.
 *
 * <p>Erasure-coded hidden layers have no per-column trim that keeps parity consistent; their
 * shadowed strips are zeroed through the stripe master instead (an EC write at the layer's chunk
 * version, under the master's stripe locks, so a child reading a neighbouring strip of the same
 * stripe reads it as always). A data column keeps an all-zero strip as a hole, so the data space
 * is freed; the parity of a stripe is freed only once all its strips are zeroes. Zeroed strips no
 * longer count as holding data (their column's block map says hole), so a second run finds
 * nothing. What could not be zeroed (no stripe master, a refused write) is counted in
 * {@link Result#shadowedEcBytes} and left for the next run.
 */
public final class LayerReclaim {
    /** Per chunk's presence asks or trims: a chunk server that does not answer skips the chunk. */
    private static final long ASK_TIMEOUT_SECONDS = 60;

    private LayerReclaim() {}

    /**
     * What a {@link #reclaim} did: hidden layers examined, bytes freed (once: every replica trims
     * them, or an erasure-coded layer's data columns hole them), shadowed bytes of erasure-coded
     * layers that could not be zeroed, and chunks skipped (an answer failed: run again).
     */
    public record Result(int hiddenLayers, long trimmedBytes, long shadowedEcBytes, int skippedChunks) {}

    /** Blocking: trims the shadowed blocks of every hidden layer of the cluster. */
    public static Result reclaim(ClusterClient cluster) {
        List<Volume> layers = cluster.meta().listLayers();
        Map<Long, List<Volume>> children = childrenOf(layers);
        int hidden = 0;
        long trimmed = 0;
        long shadowedEc = 0;
        int skipped = 0;
        for (Volume layer : layers) {
            if (!layer.isSnapshot() || !layer.name().startsWith(".layer.")) {
                continue;
            }
            List<Volume> readers = children.getOrDefault(layer.id(), List.of());
            if (readers.isEmpty()) {
                continue; // meta frees a hidden layer nothing reads through, chunks and all
            }
            hidden++;
            boolean ec = Policy.parse(layer.policyName()).erasureCoded();
            for (Chunk chunk : cluster.meta().listChunks(layer.id())) {
                Optional<BitSet> shadowed = shadowed(cluster, layer, chunk, readers);
                if (shadowed.isEmpty()) {
                    skipped++;
                    continue;
                }
                long bytes = (long) shadowed.get().cardinality() << BLOCK_SHIFT;
                if (bytes > 0) {
                    if (ec ? zeroEc(cluster, Policy.parse(layer.policyName()), chunk, shadowed.get())
                            : trim(cluster, chunk, shadowed.get())) {
                        trimmed += bytes;
                    } else {
                        skipped++;
                        if (ec) {
                            shadowedEc += bytes;
                        }
                    }
                }
            }
        }
        return new Result(hidden, trimmed, shadowedEc, skipped);
    }

    /**
     * Blocking: per snapshot (in the order given), the bytes it holds that no layer reads through
     * to it, i.e. what deleting it would free now; -1 for one whose answers failed.
     */
    public static Map<Long, Long> exclusiveBytes(ClusterClient cluster, List<Volume> snapshots) {
        Map<Long, List<Volume>> children = childrenOf(cluster.meta().listLayers());
        Map<Long, Long> exclusive = new LinkedHashMap<>();
        for (Volume snapshot : snapshots) {
            List<Volume> readers = children.getOrDefault(snapshot.id(), List.of());
            long bytes = 0;
            for (Chunk chunk : cluster.meta().listChunks(snapshot.id())) {
                Optional<BitSet> shadowed = shadowed(cluster, snapshot, chunk, readers);
                if (shadowed.isEmpty()) {
                    bytes = -1;
                    break;
                }
                bytes += (long) shadowed.get().cardinality() << BLOCK_SHIFT;
            }
            exclusive.put(snapshot.id(), bytes);
        }
        return exclusive;
    }

    private static Map<Long, List<Volume>> childrenOf(List<Volume> layers) {
        Map<Long, List<Volume>> children = new HashMap<>();
        for (Volume layer : layers) {
            if (layer.parentId() != 0) {
                children.computeIfAbsent(layer.parentId(), id -> new ArrayList<>()).add(layer);
            }
        }
        return children;
    }

    /**
     * The blocks of {@code chunk} (of {@code layer}) that hold data in it and that every reader
     * holds (data or zeroes) in its own chunk at the same index (all its data blocks when there is
     * no reader); empty when an answer failed. A block already trimmed holds no data: it is not
     * counted again.
     */
    private static Optional<BitSet> shadowed(ClusterClient cluster, Volume layer, Chunk chunk, List<Volume> readers) {
        long chunkBytes = Math.min(layer.chunkSizeBytes(), layer.sizeBytes() - chunk.index() * layer.chunkSizeBytes());
        if (chunkBytes <= 0) {
            return Optional.of(new BitSet());
        }
        try {
            BitSet result = held(cluster, layer, chunk, chunkBytes, false, true);
            for (Volume reader : readers) {
                if (result.isEmpty()) {
                    break;
                }
                Optional<Chunk> readerChunk = cluster.meta().getChunk(reader.id(), chunk.index(), false);
                if (readerChunk.isEmpty()) {
                    return Optional.of(new BitSet()); // it reads every block of this chunk through
                }
                result.and(held(cluster, reader, readerChunk.get(), chunkBytes, true, false));
            }
            return Optional.of(result);
        } catch (RuntimeException e) {
            return Optional.empty();
        }
    }

    /**
     * The blocks of the first {@code chunkBytes} of {@code chunk} that {@code layer} holds: of a
     * replicated chunk, on its primary, or with {@code everyReplica} on every readable replica
     * (the intersection); of an erasure-coded one, at its stripe master. With {@code dataOnly},
     * zeroed blocks (trimmed: no space on disk) do not count as held.
     */
    private static BitSet held(ClusterClient cluster, Volume layer, Chunk chunk, long chunkBytes,
            boolean everyReplica, boolean dataOnly) {
        Policy policy = Policy.parse(layer.policyName());
        BlockPresence presence = new BlockPresence(cluster, policy, LayerReclaim::check);
        List<Chunklet> sources = new ArrayList<>();
        if (policy.erasureCoded()) {
            sources.add(ChunkRoles.ecMaster(chunk, policy.dataCount()));
        } else if (everyReplica) {
            chunk.chunklets().stream().filter(ChunkRoles::readable).forEach(sources::add);
        } else {
            sources.add(ChunkRoles.primary(chunk));
        }
        if (sources.isEmpty()) {
            throw new IllegalStateException("chunk " + Long.toHexString(chunk.uid()) + " has no readable chunklet");
        }
        int blocks = (int) (chunkBytes >> BLOCK_SHIFT);
        BitSet held = new BitSet(blocks);
        held.set(0, blocks);
        int rangeBytes = policy.erasureCoded() ? LayerDiff.PEEK_CHUNKLET_BYTES_MAX * policy.dataCount()
                : LayerDiff.RANGE_BYTES_MAX;
        for (Chunklet source : sources) {
            List<CompletableFuture<Void>> asks = new ArrayList<>();
            for (long at = 0; at < chunkBytes; at += rangeBytes) {
                long offset = at;
                int length = (int) Math.min(rangeBytes, chunkBytes - at);
                asks.add(presence.absent(chunk, source, offset, length, dataOnly).thenAccept(absent -> {
                    int first = (int) (offset >> BLOCK_SHIFT);
                    synchronized (held) {
                        for (int i = absent.nextSetBit(0); i >= 0 && i < length >> BLOCK_SHIFT;
                                i = absent.nextSetBit(i + 1)) {
                            held.clear(first + i);
                        }
                    }
                }));
            }
            try {
                CompletableFuture.allOf(asks.toArray(CompletableFuture[]::new))
                        .get(ASK_TIMEOUT_SECONDS, TimeUnit.SECONDS);
            } catch (Exception e) {
                throw new IllegalStateException("presence of chunk " + Long.toHexString(chunk.uid()) + ": "
                        + ChunkRetries.rootMessage(e), e);
            }
        }
        return held;
    }

    /**
     * Writes zeroes over the runs of {@code blocks} (chunk-logical) of an erasure-coded chunk,
     * through its stripe master: each data column then keeps those strips as holes, and parity of
     * a stripe wholly zeroed becomes a hole too. False when the master refused one run.
     */
    private static boolean zeroEc(ClusterClient cluster, Policy policy, Chunk chunk, BitSet blocks) {
        int runBlocksMax = cluster.config().requestBytesMax() >> BLOCK_SHIFT;
        List<CompletableFuture<Boolean>> writes = new ArrayList<>();
        for (int run = blocks.nextSetBit(0); run >= 0; ) {
            int runEnd = Math.min(blocks.nextClearBit(run), run + runBlocksMax);
            writes.add(EcPieces.zeroThroughMaster(cluster, policy, chunk, (long) run << BLOCK_SHIFT,
                    (runEnd - run) << BLOCK_SHIFT));
            run = blocks.nextSetBit(runEnd);
        }
        return awaitAll(writes);
    }

    private static boolean awaitAll(List<CompletableFuture<Boolean>> steps) {
        try {
            CompletableFuture.allOf(steps.toArray(CompletableFuture[]::new)).get(ASK_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (Exception e) {
            return false;
        }
        return steps.stream().allMatch(CompletableFuture::join);
    }

    /** Trims the runs of {@code blocks} in every replica of {@code chunk}; false when one refused. */
    private static boolean trim(ClusterClient cluster, Chunk chunk, BitSet blocks) {
        int runBlocksMax = cluster.config().requestBytesMax() >> BLOCK_SHIFT;
        List<CompletableFuture<Boolean>> trims = new ArrayList<>();
        for (Chunklet chunklet : chunk.chunklets()) {
            if (!ChunkRoles.takesWrites(chunklet)) {
                continue; // an OUTDATED chunklet is being replaced; its bytes go with it
            }
            for (int run = blocks.nextSetBit(0); run >= 0; ) {
                int runEnd = Math.min(blocks.nextClearBit(run), run + runBlocksMax);
                long offset = (long) run << BLOCK_SHIFT;
                long length = (long) (runEnd - run) << BLOCK_SHIFT;
                trims.add(cluster.directory().address(chunklet.csId()).thenCompose(address -> cluster.connections()
                        .request(address, DataFrame.TYPE_TRIM, chunk.uid(), chunk.version(), offset, length, null))
                        .handle((reply, error) -> {
                            try {
                                return error == null && reply.status() == CsStatus.OK;
                            } finally {
                                ChunkRetries.release(reply);
                            }
                        }));
                run = blocks.nextSetBit(runEnd);
            }
        }
        return awaitAll(trims);
    }

    private static void check(Chunklet target, String address, String op, DataClient.Reply reply, Throwable error) {
        if (error != null) {
            throw new IllegalStateException(op + " at chunk server " + target.csId() + " (" + address + "): "
                    + error.getMessage(), error);
        }
        if (reply.status() != CsStatus.OK) {
            throw new IllegalStateException(op + " at chunk server " + target.csId() + " (" + address + "): "
                    + reply.status() + " " + reply.message());
        }
    }
}
