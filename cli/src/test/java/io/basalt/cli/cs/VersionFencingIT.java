package io.basalt.cli.cs;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.chunkserver.ChunkVersions;
import io.basalt.meta.api.CsView;
import io.basalt.meta.api.MetaClient;
import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.CsHealth;
import io.basalt.meta.model.Volume;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import io.netty.buffer.PooledByteBufAllocator;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * Version fencing end to end: a real meta and a real {@code cs run} process. Meta places a chunk
 * on the CS, a lease move bumps its version, and within seconds the CS, having pulled its version
 * index ({@code MetaClientLink}), refuses a write at the old version with STALE_VERSION and takes
 * one at the new version. A volume deleted while the CS is down is deleted by the full sync of the
 * next start: its chunklet files go and a tombstone keeps fencing it. The heartbeat's health code
 * shows in {@code cs list}.
 */
class VersionFencingIT extends ChunkServerItBase {
    static final Duration FENCE_WITHIN = Duration.ofSeconds(15);

    CsProcess start(Path data) throws Exception {
        CsProcess cs = CsProcess.start(data, meta.peers(), "fence-host");
        toClose.add(cs);
        return cs;
    }

    static CsStatus write(DataClient data, Chunk chunk, long version) throws Exception {
        DataClient.Reply reply = data.request(DataFrame.TYPE_WRITE, chunk.uid(), version, 0, 4096,
                DataClient.writePayload(PooledByteBufAllocator.DEFAULT, new byte[4096]))
                .get(20, TimeUnit.SECONDS);
        try {
            return reply.status();
        } finally {
            reply.release();
        }
    }

    @Test
    void aLeaseMoveFencesTheOldVersionOnTheChunkServer() throws Exception {
        Path dataDir = dir.resolve("cs");
        CsProcess cs = start(dataDir);
        try (MetaClient client = meta.client()) {
            CsView view = awaitHealth(client, cs.csId);
            assertThat(view.health()).isEqualTo(CsHealth.OK);
            assertThat(view.server().status()).isEqualTo(io.basalt.meta.model.CsStatus.UP);

            Volume volume = client.createVolume("fenced", 64L << 20, "rep1", 0);
            Chunk placed = client.getChunk(volume.id(), 0, true).orElseThrow();
            assertThat(placed.chunklets()).singleElement()
                    .satisfies(c -> assertThat(c.csId()).isEqualTo(cs.csId));
            // A takes the lease (a first lease fences too), B takes it over: two bumps.
            client.acquireLease(volume.id(), "client-a", Duration.ofMinutes(1));
            client.releaseLease(volume.id(), "client-a");
            client.acquireLease(volume.id(), "client-b", Duration.ofMinutes(1));
            Chunk moved = client.getChunk(volume.id(), 0, false).orElseThrow();
            assertThat(moved.version()).isEqualTo(placed.version() + 2);
            assertThat(client.listChunks(volume.id())).containsExactly(moved);

            DataClient data = connectTo(cs);
            long deadline = System.nanoTime() + FENCE_WITHIN.toNanos();
            CsStatus stale;
            do {
                stale = write(data, moved, moved.version() - 1);
                if (stale != CsStatus.STALE_VERSION) {
                    Thread.sleep(100);
                }
            } while (stale != CsStatus.STALE_VERSION && System.nanoTime() < deadline);
            assertThat(stale).as("a write at the version before the move within %s; cs log:%n%s",
                    FENCE_WITHIN, cs.output).isEqualTo(CsStatus.STALE_VERSION);
            assertThat(write(data, moved, placed.version())).isEqualTo(CsStatus.STALE_VERSION);
            assertThat(write(data, moved, moved.version())).isEqualTo(CsStatus.OK);

            // Deleted while the CS is down: the next start's full sync forgets the chunk.
            cs.close();
            client.deleteVolume("fenced", true); // client B still holds its lease
            CsProcess again = start(dataDir);
            deadline = System.nanoTime() + FENCE_WITHIN.toNanos();
            while (!again.output.toString().contains("full pull")
                    && System.nanoTime() < deadline) {
                Thread.sleep(100);
            }
            assertThat(again.output.toString()).contains("full pull");
            assertThat(write(connectTo(again), moved, moved.version()))
                    .as("a deleted chunk stays fenced").isEqualTo(CsStatus.STALE_VERSION);
            again.close();
            ChunkVersions versions = ChunkVersions.open(dataDir.resolve("versions"));
            assertThat(versions.deleted(moved.uid())).isTrue();
            assertThat(versions.known(moved.uid())).isEqualTo(-1);
            try (Stream<Path> files = Files.list(dataDir.resolve("chunklets"))) {
                assertThat(files.toList()).as("the chunklet's files are freed").isEmpty();
            }
        }
    }

    DataClient connectTo(CsProcess cs) throws Exception {
        DataClient data = DataClient.connect(group, io.netty.channel.socket.nio.NioSocketChannel.class, cs.address(), 20_000, 2 << 20, ItTls.adminTls());
        toClose.add(data);
        return data;
    }

    static CsView awaitHealth(MetaClient client, int csId) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        while (true) {
            for (CsView view : client.listCs()) {
                if (view.server().id() == csId && view.health() != null) {
                    return view;
                }
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("no heartbeat from chunk server " + csId);
            }
            Thread.sleep(200);
        }
    }
}
