package io.basalt.chunkserver.recovery;

import io.basalt.chunkserver.ChunkVersions;
import io.basalt.chunkserver.store.ChunkletStore;
import io.basalt.chunkserver.wal.WalWriter;
import io.basalt.protocol.data.ReplicaClients;
import java.util.concurrent.Executor;

/** What one chunklet recovery uses of its chunk server; provided by {@link RecoveryWorker}. */
interface RecoveryContext {
    int csId();

    ChunkletStore store();

    WalWriter wal();

    ChunkVersions versions();

    ReplicaClients clients();

    /** Runs a recovery's parallel reads (one lane per source). */
    Executor executor();

    Throttle throttle();

    /** Counts data bytes copied into a chunklet, as catch-up or rebuild. */
    void recordCopied(boolean catchUp, long bytes);

    void recordMapBytes(long bytes);
}
