package io.basalt.chunkserver;

import io.basalt.chunkserver.wal.WalEntry;
import io.basalt.chunkserver.wal.WalWriter;
import java.io.IOException;
import java.io.InterruptedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * The sink the {@link MetaLink} delivers to: versions go to {@link ChunkVersions}; a chunk meta
 * removed from this CS also loses its chunklet, through a DELETE_CHUNKLET WAL record, so the
 * delete is ordered with the writes before and after it and survives a crash.
 *
 * <p>Order: the delete is durable in the WAL before the version becomes a tombstone. A crash in
 * between leaves the chunk known with a version, so the next full sync deletes it again (a no-op
 * on data already gone) instead of leaving a chunklet nobody would ever delete.
 *
 * <p>Blocks the caller until the WAL has the records: call it from the version puller, never from
 * an event loop.
 */
public final class ReclaimingVersionSink implements ChunkVersionSink {
    /** How long a pull waits for its deletes to be logged; a slower WAL fails the pull (retried). */
    static final long WAL_TIMEOUT_SECONDS = 30;

    private final ChunkVersions versions;
    private final WalWriter wal;

    public ReclaimingVersionSink(ChunkVersions versions, WalWriter wal) {
        this.versions = versions;
        this.wal = wal;
    }

    @Override
    public void chunkVersion(long chunkUid, long version) throws IOException {
        versions.chunkVersion(chunkUid, version);
    }

    @Override
    public void chunkDeleted(long chunkUid) throws IOException {
        chunkVersions(Map.of(), Set.of(chunkUid));
    }

    @Override
    public void chunkVersions(Map<Long, Long> updates, Set<Long> deleted) throws IOException {
        chunkVersions(updates, Map.of(), deleted);
    }

    @Override
    public void chunkVersions(Map<Long, Long> updates, Map<Long, Long> writersFrom, Set<Long> deleted)
            throws IOException {
        // Fenced in memory first: no request may see the chunklet while it goes.
        versions.removing(deleted);
        try {
            deleteChunklets(deleted);
            versions.chunkVersions(updates, writersFrom, deleted);
        } finally {
            versions.removed(deleted);
        }
    }

    @Override
    public Set<Long> knownChunkUids() {
        return versions.knownChunkUids();
    }

    private void deleteChunklets(Set<Long> chunkUids) throws IOException {
        List<CompletableFuture<Void>> logged = new ArrayList<>();
        for (long chunkUid : chunkUids) {
            if (versions.deleted(chunkUid)) {
                continue; // its delete was logged before the tombstone was written
            }
            CompletableFuture<Void> done = new CompletableFuture<>();
            wal.submit(WalEntry.deleteChunklet(chunkUid, (entry, error) -> {
                if (error == null) {
                    done.complete(null);
                } else {
                    done.completeExceptionally(error);
                }
            }));
            logged.add(done);
        }
        if (logged.isEmpty()) {
            return;
        }
        try {
            CompletableFuture.allOf(logged.toArray(CompletableFuture[]::new))
                    .get(WAL_TIMEOUT_SECONDS, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            throw new IOException("deleting " + logged.size() + " chunklets meta removed from this"
                    + " chunk server: " + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw new IOException("deleting " + logged.size() + " chunklets: the WAL did not log"
                    + " them within " + WAL_TIMEOUT_SECONDS + " s", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted while deleting chunklets");
        }
    }
}
