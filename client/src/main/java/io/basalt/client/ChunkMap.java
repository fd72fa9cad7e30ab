package io.basalt.client;

import io.basalt.meta.model.Chunk;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The client's cache of one volume's chunk maps, by chunk index: a chunk, or "not allocated".
 *
 * <p>Design note. "Not allocated" is cached too, which is what lets reads of never-written ranges
 * return zeroes without any round trip. It is safe because the client holds the volume's exclusive
 * lease: only it allocates chunks of this volume. Everything else that changes a chunk (a failure
 * report, a lease move, a new meta leader) raises the chunk's version, chunk servers refuse the old
 * one, and the refusal makes the client {@link #refresh} the entry. Concurrent lookups of one index
 * share one meta call; a failed call is not cached.
 */
final class ChunkMap {
    private final ClusterClient cluster;
    private final long volumeId;
    private final ConcurrentHashMap<Long, CompletableFuture<Optional<Chunk>>> entries = new ConcurrentHashMap<>();

    ChunkMap(ClusterClient cluster, long volumeId) {
        this.cluster = cluster;
        this.volumeId = volumeId;
    }

    /** The chunk at {@code index}, empty when it was never written. */
    CompletableFuture<Optional<Chunk>> lookup(long index) {
        CompletableFuture<Optional<Chunk>> cached = entries.get(index);
        if (cached != null && !cached.isCompletedExceptionally()) {
            return cached;
        }
        return fetch(index, false, cached);
    }

    /** The chunk at {@code index}, placed by meta first when it does not exist (a first write). */
    CompletableFuture<Chunk> allocate(long index) {
        return lookup(index).thenCompose(found -> {
            if (found.isPresent()) {
                return CompletableFuture.completedFuture(found.get());
            }
            return fetch(index, true, entries.get(index)).thenApply(Optional::orElseThrow);
        });
    }

    /**
     * Fetches {@code index} again from meta unless the cache already holds a version newer than
     * {@code staleVersion} (another piece refreshed it first).
     */
    CompletableFuture<Optional<Chunk>> refresh(long index, long staleVersion) {
        CompletableFuture<Optional<Chunk>> cached = entries.get(index);
        if (cached != null && cached.isDone() && !cached.isCompletedExceptionally()) {
            Optional<Chunk> chunk = cached.join();
            if (chunk.isPresent() && chunk.get().version() > staleVersion) {
                return cached;
            }
        } else if (cached != null && !cached.isDone()) {
            return cached;
        }
        return fetch(index, false, cached);
    }

    /**
     * Takes a map meta returned (from a failure report) when it is newer than the cached one. A chunk
     * that is no longer this volume's (a snapshot create moved it into the snapshot's layer while the
     * report was on its way) is not taken, and the entry that named it is dropped, so the next try
     * asks meta for this volume's chunk at that index (a new one is allocated on the first write).
     * Taking it sent the writer's later writes into the frozen chunk at its new version, which every
     * chunk server accepted: the snapshot changed under its readers (the thrasher: 3,829 blocks of a
     * rep3 snapshot, seed 37071181518505, session 24).
     */
    void update(Chunk chunk) {
        if (chunk.volumeId() != volumeId) {
            entries.computeIfPresent(chunk.index(), (index, cached) -> holds(cached, chunk.uid()) ? null : cached);
            return;
        }
        entries.compute(chunk.index(), (index, cached) -> {
            if (cached != null && cached.isDone() && !cached.isCompletedExceptionally()) {
                Optional<Chunk> known = cached.join();
                if (known.isPresent() && known.get().version() >= chunk.version()) {
                    return cached;
                }
            }
            return CompletableFuture.completedFuture(Optional.of(chunk));
        });
    }

    private static boolean holds(CompletableFuture<Optional<Chunk>> cached, long uid) {
        return cached.isDone() && !cached.isCompletedExceptionally()
                && cached.join().map(known -> known.uid() == uid).orElse(false);
    }

    /** The cached chunk at {@code index} without asking meta: empty when none is cached (tests). */
    Optional<Chunk> cached(long index) {
        CompletableFuture<Optional<Chunk>> cached = entries.get(index);
        return cached != null && cached.isDone() && !cached.isCompletedExceptionally() ? cached.join()
                : Optional.empty();
    }

    /**
     * Fills the cache at open from the volume's whole map, read after the lease was taken: every
     * index not in it is known to be unallocated, so reads of never-written chunks need no meta
     * call at all, even the first time.
     */
    void preload(Iterable<Chunk> chunks, long slots) {
        for (Chunk chunk : chunks) {
            update(chunk);
        }
        CompletableFuture<Optional<Chunk>> absent = CompletableFuture.completedFuture(Optional.empty());
        for (long index = 0; index < slots; index++) {
            entries.putIfAbsent(index, absent);
        }
    }

    /** Drops every entry at or past {@code slots}: the volume shrank and meta removed those chunks. */
    void forgetFrom(long slots) {
        entries.keySet().removeIf(index -> index >= slots);
    }

    private CompletableFuture<Optional<Chunk>> fetch(long index, boolean allocate,
            CompletableFuture<Optional<Chunk>> expected) {
        CompletableFuture<Optional<Chunk>> mine = new CompletableFuture<>();
        CompletableFuture<Optional<Chunk>> winner;
        if (expected == null) {
            winner = entries.putIfAbsent(index, mine);
        } else {
            winner = entries.replace(index, expected, mine) ? null : entries.get(index);
        }
        if (winner != null) {
            // Someone else is fetching or has just fetched it; wait for theirs (unless allocating,
            // where their answer may be "not allocated").
            if (!allocate) {
                return winner;
            }
            return winner.thenCompose(found -> found.isPresent()
                    ? CompletableFuture.completedFuture(found) : fetch(index, true, entries.get(index)));
        }
        cluster.callMeta(allocate ? "allocate_chunk" : "get_chunk",
                () -> cluster.meta().getChunk(volumeId, index, allocate)).whenComplete((found, error) -> {
                    if (error != null) {
                        entries.remove(index, mine);
                        mine.completeExceptionally(error);
                    } else {
                        mine.complete(found);
                    }
                });
        return mine;
    }
}
