package io.basalt.client;

import static io.basalt.protocol.data.BlockCrc.BLOCK_SHIFT;
import static io.basalt.protocol.data.BlockCrc.BLOCK_SIZE_BYTES;

import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.ChunkletState;
import io.basalt.meta.model.Policy;
import io.basalt.meta.model.Volume;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;

/**
 * Changed-block tracking (docs/snapshots.md, "Diff"): the extents that differ between an older
 * snapshot and a newer snapshot or the live volume, from metadata only. Everything written after
 * the older point lives in the layers above it, so the extents are the union of the blocks those
 * layers hold (written, trimmed or zeroed), asked of the chunk servers as reads do
 * ({@link BlockPresence}); no data is read or compared. A block written and then written back to
 * its old bytes is reported (as {@code rbd diff} does).
 */
public final class LayerDiff {
    /** Chunk range asked per BLOCK_MAP: 64 MiB is 16,384 blocks, about 213 KiB of reply. */
    static final int RANGE_BYTES_MAX = 64 << 20;
    /**
     * Chunklet range of one PEEK (erasure-coded): a STRIP_READ is bounded like a read (1 MiB by
     * default), so a request covers k MiB of the chunk.
     */
    static final int PEEK_CHUNKLET_BYTES_MAX = 1 << 20;

    private LayerDiff() {}

    /** A run of changed bytes, in volume offsets. */
    public record Extent(long offsetBytes, long lengthBytes) {}

    /** What a diff found, and how much metadata it examined. */
    public record Result(List<Extent> extents, int layers, int chunks, long changedBytes) {}

    /**
     * Blocking: the extents changed between snapshot {@code from} ({@code vm1@s1}) and {@code to}
     * (a newer snapshot {@code vm1@s2} or the volume {@code vm1}). Fails with an
     * {@link IllegalArgumentException} (one line) when {@code from} is not below {@code to}.
     */
    public static Result diff(ClusterClient cluster, String from, String to) {
        Volume older = cluster.meta().getVolume(from);
        Volume newer = cluster.meta().getVolume(to);
        if (!older.isSnapshot()) {
            throw new IllegalArgumentException("\"" + from + "\" is not a snapshot; give the older point as"
                    + " VOLUME@SNAPSHOT, e.g. basalt volume diff vm1@s1 vm1");
        }
        List<Volume> above = new ArrayList<>();
        Volume layer = newer;
        int depthMax = 100_000;
        while (layer.id() != older.id()) {
            above.add(layer);
            if (layer.parentId() == 0 || above.size() > depthMax) {
                throw new IllegalArgumentException(from + " is not below " + to + " (a diff goes from an older"
                        + " snapshot to a newer snapshot or the volume); see: basalt volume snapshot list "
                        + older.name().substring(0, older.name().indexOf('@')));
            }
            long parentId = layer.parentId();
            layer = cluster.meta().getLayer(parentId).orElseThrow(() -> new IllegalStateException(
                    "layer " + parentId + " below " + to + " is gone"));
        }
        // Union per chunk index of the blocks each layer holds, in block units.
        TreeMap<Long, BitSet> held = new TreeMap<>();
        int chunks = 0;
        long sizeBytes = newer.sizeBytes();
        for (Volume layerAbove : above) {
            Policy policy = Policy.parse(layerAbove.policyName());
            BlockPresence presence = new BlockPresence(cluster, policy, LayerDiff::check);
            for (Chunk chunk : cluster.meta().listChunks(layerAbove.id())) {
                chunks++;
                BitSet blocks = held.computeIfAbsent(chunk.index(), index -> new BitSet());
                long chunkBytes = Math.min(layerAbove.chunkSizeBytes(),
                        layerAbove.sizeBytes() - chunk.index() * layerAbove.chunkSizeBytes());
                Chunklet source = policy.erasureCoded() ? ChunkRoles.parityMaster(chunk, policy.dataCount())
                        : readable(chunk);
                List<CompletableFuture<Void>> asks = new ArrayList<>();
                int rangeBytes = policy.erasureCoded() ? PEEK_CHUNKLET_BYTES_MAX * policy.dataCount()
                        : RANGE_BYTES_MAX;
                for (long at = 0; at < chunkBytes; at += rangeBytes) {
                    long offset = at;
                    int length = (int) Math.min(rangeBytes, chunkBytes - at);
                    asks.add(presence.absent(chunk, source, offset, length).thenAccept(absent -> {
                        int count = length >> BLOCK_SHIFT;
                        int first = (int) (offset >> BLOCK_SHIFT);
                        synchronized (blocks) {
                            for (int i = absent.nextClearBit(0); i < count; i = absent.nextClearBit(i + 1)) {
                                blocks.set(first + i);
                            }
                        }
                    }));
                }
                CompletableFuture.allOf(asks.toArray(CompletableFuture[]::new)).join();
            }
        }
        List<Extent> extents = new ArrayList<>();
        long changed = 0;
        long chunkSize = newer.chunkSizeBytes();
        Extent open = null;
        for (var entry : held.entrySet()) {
            BitSet blocks = entry.getValue();
            long base = entry.getKey() * chunkSize;
            for (int run = blocks.nextSetBit(0); run >= 0; run = blocks.nextSetBit(run)) {
                int runEnd = blocks.nextClearBit(run);
                long offset = base + ((long) run << BLOCK_SHIFT);
                long length = Math.min((long) (runEnd - run) << BLOCK_SHIFT, sizeBytes - offset);
                if (length <= 0) {
                    break;
                }
                if (open != null && open.offsetBytes() + open.lengthBytes() == offset) {
                    open = new Extent(open.offsetBytes(), open.lengthBytes() + length);
                    extents.set(extents.size() - 1, open);
                } else {
                    open = new Extent(offset, length);
                    extents.add(open);
                }
                changed += length;
                run = runEnd;
            }
        }
        return new Result(extents, above.size(), chunks, changed);
    }

    private static void check(Chunklet target, String address, String op, io.basalt.protocol.data.DataClient.Reply reply,
            Throwable error) {
        if (error != null) {
            throw new IllegalStateException(op + " at chunk server " + target.csId() + " (" + address + "): "
                    + error.getMessage(), error);
        }
        if (reply.status() != io.basalt.protocol.data.CsStatus.OK) {
            throw new IllegalStateException(op + " at chunk server " + target.csId() + " (" + address + "): "
                    + reply.status() + " " + reply.message());
        }
    }

    private static Chunklet readable(Chunk chunk) {
        for (Chunklet chunklet : chunk.chunklets()) {
            if (chunklet.state() == ChunkletState.UPTODATE) {
                return chunklet;
            }
        }
        throw new IllegalStateException("chunk " + Long.toHexString(chunk.uid()) + " has no up-to-date replica: "
                + chunk.chunklets());
    }


    static {
        assert RANGE_BYTES_MAX % BLOCK_SIZE_BYTES == 0 && PEEK_CHUNKLET_BYTES_MAX % BLOCK_SIZE_BYTES == 0;
    }
}
