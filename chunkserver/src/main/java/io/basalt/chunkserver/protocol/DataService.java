package io.basalt.chunkserver.protocol;

import io.basalt.chunkserver.ec.StripeMaster;
import io.basalt.chunkserver.ChunkVersions;
import io.basalt.chunkserver.CsMetrics;
import io.basalt.chunkserver.store.ChunkletStore;
import io.basalt.chunkserver.wal.WalWriter;
import java.util.concurrent.ExecutorService;

/**
 * What every data connection of one chunk server shares: the store, its WAL, the version fences, the
 * reader threads, the CS-to-CS clients for replication, metrics and limits.
 *
 * @param stripes runs EC writes and reconstructions when this CS is a chunk's stripe master (null: none)
 * @param lengthMaxBytes largest read/write of one request (payload bound follows from it)
 * @param inFlightBytesMax per connection: above it the connection stops reading until replies drain
 * @param requestTimeoutMillis a request not answered by then gets TIMEOUT (a write's outcome unknown)
 */
public record DataService(ChunkletStore store, WalWriter wal, ChunkVersions versions, ExecutorService readers,
        ReplicaClients replicas, StripeMaster stripes, CsMetrics metrics, int lengthMaxBytes, long inFlightBytesMax,
        long requestTimeoutMillis) {

    /** Largest payload a frame may carry: data, its CRCs and a replica list. */
    public long payloadMaxBytes() {
        return lengthMaxBytes + (lengthMaxBytes / 4096) * 4L + 4096;
    }
}
