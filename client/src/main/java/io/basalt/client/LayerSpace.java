package io.basalt.client;

import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.ChunkletState;
import io.basalt.meta.model.Policy;
import io.basalt.meta.model.Volume;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataFrame;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

/**
 * The space a layer's own chunks hold on the chunk servers (docs/snapshots.md, "Space"): what each
 * chunklet says it wrote (INFO: written 4 KiB blocks), not meta's whole-chunk count. A clone holds
 * only the blocks it wrote, a snapshot only the blocks written to the volume before it and after
 * the snapshot below it; the blocks a layer reads through its parents are counted in the parents.
 *
 * <p>Metadata only: one INFO per chunklet, all in flight at once.
 */
public final class LayerSpace {
    private LayerSpace() {}

    /**
     * What a layer holds: {@code dataBytes}, the blocks it holds once (a replica's, or the sum of an
     * erasure-coded chunk's data columns), and {@code rawBytes}, what every chunklet of it holds
     * on disk (replicas and parity included), and {@code hotBytes}, the hot copies of its blocks the
     * chunk servers hold until the freezer folds them into stripes (docs/hot-tier.md). {@code chunklets} were asked; {@code unanswered} of
     * them could not be (down): their bytes are missing from both sums.
     */
    public record Space(long dataBytes, long rawBytes, long hotBytes, int chunklets, int unanswered) {}

    /** Blocking: asks every chunklet of every chunk of {@code layer}. */
    public static Space of(ClusterClient cluster, Volume layer) {
        Policy policy = Policy.parse(layer.policyName());
        List<Chunk> chunks = cluster.meta().listChunks(layer.id());
        List<CompletableFuture<long[]>> asks = new ArrayList<>();
        List<Boolean> counted = new ArrayList<>();
        for (Chunk chunk : chunks) {
            // The data once: a replicated chunk's first readable replica; an EC chunk's data columns.
            Chunklet dataSource = policy.erasureCoded() ? null
                    : chunk.chunklets().stream().filter(ChunkRoles::readable).findFirst().orElse(null);
            for (Chunklet chunklet : chunk.chunklets()) {
                if (chunklet.state() == ChunkletState.OUTDATED) {
                    continue; // being replaced: its bytes are stale and go away
                }
                asks.add(allocatedBytes(cluster, chunk, chunklet));
                counted.add(policy.erasureCoded() ? chunklet.index() < policy.dataCount() : chunklet == dataSource);
            }
        }
        long data = 0;
        long raw = 0;
        long hot = 0;
        int unanswered = 0;
        for (int i = 0; i < asks.size(); i++) {
            long[] bytes;
            try {
                bytes = asks.get(i).get(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                bytes = null;
            }
            if (bytes == null) {
                unanswered++;
                continue;
            }
            raw += bytes[0];
            hot += bytes[1];
            if (counted.get(i)) {
                data += bytes[0];
            }
        }
        return new Space(data, raw, hot, asks.size(), unanswered);
    }

    /**
     * The chunklet's allocated bytes and the bytes of the chunk's hot blocks its server holds (INFO;
     * 0 from a server of a build before the hot tier), or null when its server cannot answer.
     */
    private static CompletableFuture<long[]> allocatedBytes(ClusterClient cluster, Chunk chunk, Chunklet chunklet) {
        return cluster.directory().address(chunklet.csId()).thenCompose(address -> cluster.connections()
                .request(address, DataFrame.TYPE_INFO, chunk.uid(), chunk.version(), 0, 0, null))
                .handle((reply, error) -> {
                    if (error != null) {
                        return null;
                    }
                    try {
                        io.basalt.protocol.data.InfoReply info = reply.status() == CsStatus.OK
                                ? io.basalt.protocol.data.InfoReply.read(reply.payload()) : null;
                        return info == null ? null : new long[] {info.allocatedBytes(), info.hotBytes()};
                    } finally {
                        ChunkRetries.release(reply);
                    }
                });
    }
}
