package io.basalt.chunkserver.protocol;

import io.basalt.chunkserver.ec.StripeMaster;
import io.basalt.chunkserver.ChunkVersions;
import io.basalt.chunkserver.CsMetrics;
import io.basalt.chunkserver.hot.HotStore;
import io.basalt.chunkserver.store.ChunkletStore;
import io.basalt.chunkserver.wal.WalWriter;
import io.basalt.protocol.data.ReplicaClients;
import java.util.concurrent.ExecutorService;

/**
 * What every data connection of one chunk server shares: the store, its WAL, the version fences, the
 * reader threads, the CS-to-CS clients for replication, metrics and limits.
 *
 * @param backgroundReaders reads flagged BACKGROUND (recovery, scrub): one lane, apart from {@code readers}
 * @param stripes runs EC writes and reconstructions when this CS is a chunk's stripe master (null: none)
 * @param hot the hot store (docs/hot-tier.md): HOT_PUT, and hot blocks merged into READs (null: none)
 * @param lengthMaxBytes largest read/write of one request (payload bound follows from it)
 * @param inFlightBytesMax per connection: above it the connection stops reading until replies drain
 * @param requestTimeoutMillis a request not answered by then gets TIMEOUT (a write's outcome unknown)
 */
public record DataService(ChunkletStore store, WalWriter wal, ChunkVersions versions, ExecutorService readers,
        ExecutorService backgroundReaders, ReplicaClients replicas, StripeMaster stripes, HotStore hot, CsMetrics metrics, int lengthMaxBytes, long inFlightBytesMax,
        long requestTimeoutMillis) {

    /** Largest payload a frame may carry: data, its CRCs and a replica list or EC section/layout. */
    public long payloadMaxBytes() {
        return payloadMaxBytes(lengthMaxBytes);
    }

    /**
     * Also the largest WAL record payload. The 12 KiB above data and CRCs bound a replica list, an EC
     * layout (33 columns of up to 255-byte addresses: under 9 KiB) and an EC section (at most 256
     * strips per request: versions and decided generations under 5 KiB).
     */
    public static int payloadMaxBytes(int lengthMaxBytes) {
        return lengthMaxBytes + (lengthMaxBytes / 4096) * 4 + 12 * 1024;
    }
}
