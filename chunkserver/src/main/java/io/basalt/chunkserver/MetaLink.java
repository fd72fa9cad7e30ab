package io.basalt.chunkserver;

import java.io.IOException;
import java.util.UUID;

/**
 * What the chunk server needs from the metadata service, kept small so the daemon can be tested with
 * a fake and so the adapter over {@code io.basalt.meta.api.MetaClient} (branch {@code meta}) is thin.
 */
public interface MetaLink extends AutoCloseable {
    /** The id of the cluster meta serves; compared with the data directory's identity. */
    UUID clusterId() throws IOException;

    /**
     * Registers this CS: {@code csId} is the id from the identity file, or 0 on first start (meta
     * assigns one). Returns the id to use (and store).
     */
    int register(int csId, String address, String hostLabel, String zoneLabel, long capacityBytes) throws IOException;

    /** One heartbeat: capacity, used bytes, health. Called every second by the daemon. */
    void heartbeat(int csId, long capacityBytes, long usedBytes, Health health) throws IOException;

    /**
     * Starts delivering chunk versions for this CS to {@code sink}: everything meta knows now, then
     * every change.
     */
    void subscribeVersions(int csId, ChunkVersionSink sink) throws IOException;

    /**
     * A request came with a chunk version newer than the one this CS knows: its view is behind,
     * pull now. Called on an event loop, possibly for every such request: must only signal (and
     * coalesce), never block.
     */
    default void versionsBehind() {}

    /** Health as reported to meta. */
    enum Health { OK, FULL, DISK_FAILED }

    @Override
    void close() throws IOException;
}
