package io.basalt.client;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.ChunkletRole;
import io.basalt.meta.model.ChunkletState;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The chunk map cache's rules for maps meta hands back (no meta call is made: nothing is looked up). */
class ChunkMapTest {
    static final long VOLUME = 1;
    static final long SNAPSHOT_LAYER = 7;

    static Chunk chunk(long uid, long volumeId, long index, long version) {
        return new Chunk(uid, volumeId, index, version, List.of(
                new Chunklet(0, 1, ChunkletRole.REPLICA, ChunkletState.UPTODATE),
                new Chunklet(1, 2, ChunkletRole.REPLICA, ChunkletState.UPTODATE)));
    }

    /**
     * A failure report answered after a snapshot create moved the chunk into the snapshot's layer
     * returns the frozen chunk at its new version: the volume must not take it as its own (its
     * writes would go on into the snapshot), but forget the chunk and ask meta again.
     */
    @Test
    void aMapOfAChunkThatMovedToAnotherLayerIsNotTakenAndTheEntryIsForgotten() {
        try (ClusterClient cluster = ClusterClient.connect("1@127.0.0.1:1", ClientConfig.defaults(),
                new PrometheusRegistry())) {
            ChunkMap map = new ChunkMap(cluster, VOLUME);
            map.preload(List.of(chunk(37, VOLUME, 3, 6), chunk(38, VOLUME, 4, 2)), 8);
            map.update(chunk(37, VOLUME, 3, 7)); // a report on the volume's own chunk: taken
            assertThat(map.cached(3)).contains(chunk(37, VOLUME, 3, 7));
            map.update(chunk(37, SNAPSHOT_LAYER, 3, 9)); // the same chunk, now the snapshot's
            assertThat(map.cached(3)).as("forgotten: the next try asks meta").isEmpty();
            map.update(chunk(99, SNAPSHOT_LAYER, 4, 3)); // another layer's chunk, not the one cached at 4: kept
            assertThat(map.cached(4)).contains(chunk(38, VOLUME, 4, 2));
        }
    }
}
