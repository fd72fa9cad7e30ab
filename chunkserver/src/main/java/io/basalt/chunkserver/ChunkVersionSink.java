package io.basalt.chunkserver;

import java.io.IOException;
import java.util.Map;
import java.util.Set;

/**
 * Where meta's chunk version updates land (through a {@link MetaLink}). Durable when the call
 * returns: a fence must survive a restart.
 */
public interface ChunkVersionSink {
    /** Meta says {@code chunkUid} is now at {@code version} (on creation and on every change). */
    void chunkVersion(long chunkUid, long version) throws IOException;

    /** Meta says the chunk is gone from this CS. */
    void chunkDeleted(long chunkUid) throws IOException;

    /**
     * Many updates at once (a pull from meta): {@code versions} as {@link #chunkVersion}, then
     * {@code deleted} as {@link #chunkDeleted}; the two never share a uid. Implementations make
     * it one durable write; this default applies them one by one.
     */
    default void chunkVersions(Map<Long, Long> versions, Set<Long> deleted) throws IOException {
        for (Map.Entry<Long, Long> entry : versions.entrySet()) {
            chunkVersion(entry.getKey(), entry.getValue());
        }
        for (long chunkUid : deleted) {
            chunkDeleted(chunkUid);
        }
    }

    /**
     * As {@link #chunkVersions(Map, Set)}, with each updated chunk's writersFrom where meta gave one
     * older than its version (ChunkVersions, "relayed writes"); sinks that keep no such thing
     * ignore them.
     */
    default void chunkVersions(Map<Long, Long> versions, Map<Long, Long> writersFrom, Set<Long> deleted)
            throws IOException {
        chunkVersions(versions, deleted);
    }

    /** Every chunk this sink holds a version of: a full sync deletes those meta no longer lists. */
    Set<Long> knownChunkUids();
}
