package io.basalt.meta.server;

import io.basalt.meta.api.MetaReply;
import io.basalt.meta.api.MetaRequest;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.ChunkServer;
import io.basalt.meta.model.Volume;
import io.basalt.meta.store.MetaStore;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/** A state machine without Ratis: entries are applied in order with a test-controlled clock. */
final class StandaloneMeta implements AutoCloseable {
    static final long CHUNK_SIZE_BYTES = 4L << 20;

    final MetaStateMachine stateMachine;
    long term = 1;
    long index = 0;
    long nowMillis = 1_700_000_000_000L;
    /** The state machine's monotonic clock (heartbeat ages). */
    long nowNanos = 100_000_000_000L;

    StandaloneMeta(Path dir) throws IOException {
        stateMachine = new MetaStateMachine(dir.resolve("db"), CHUNK_SIZE_BYTES, System::currentTimeMillis, () -> nowNanos);
        stateMachine.openStandalone();
    }

    MetaReply apply(MetaRequest request) {
        byte[] data = MetaStateMachine.entryData(nowMillis, CHUNK_SIZE_BYTES, request);
        return MetaReply.decode(stateMachine.applyEntry(term, ++index, data));
    }

    WireReader ok(MetaRequest request) {
        return apply(request).bodyOrThrow();
    }

    ChunkServer register(String host, long capacityBytes) {
        return ChunkServer.decode(ok(new MetaRequest.RegisterCs(0, host + ":7000", host, "z1",
                capacityBytes, "test")));
    }

    Volume create(String name, long sizeBytes, String policy) {
        return Volume.decode(ok(new MetaRequest.CreateVolume(name, sizeBytes, policy, 0)));
    }

    Chunk allocate(long volumeId, long chunkIndex) {
        return Chunk.decode(ok(new MetaRequest.AllocateChunk(volumeId, chunkIndex)));
    }

    MetaReply read(MetaRequest request) {
        return MetaReply.decode(stateMachine.readLocal(request));
    }

    Map<MetaStore.Table, List<MetaStore.Entry>> dump() {
        return stateMachine.dump();
    }

    @Override
    public void close() throws IOException {
        stateMachine.close();
    }
}
