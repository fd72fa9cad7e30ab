package io.basalt.chunkserver;

import java.io.IOException;

/**
 * Where meta's chunk version updates land (through a {@link MetaLink}). Durable when the call
 * returns: a fence must survive a restart.
 */
public interface ChunkVersionSink {
    /** Meta says {@code chunkUid} is now at {@code version} (on creation and on every change). */
    void chunkVersion(long chunkUid, long version) throws IOException;

    /** Meta says the chunk is gone from this CS. */
    void chunkDeleted(long chunkUid) throws IOException;
}
