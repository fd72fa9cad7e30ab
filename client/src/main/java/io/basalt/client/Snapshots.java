package io.basalt.client;

import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.Volume;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.CompletableFuture;

/**
 * Creating a snapshot so that no write acknowledged after it returns is in it (docs/snapshots.md,
 * "Fencing").
 *
 * <p>Design note. CREATE_SNAPSHOT moves the volume's chunks into the snapshot layer and raises
 * their versions in one Raft entry, but chunk servers learn new versions asynchronously (their
 * version index, pulled after a heartbeat). Until a chunk server knows, the lease holder's writes
 * at the old version still land in the frozen chunk. So creation is not done when meta answers:
 * it is done when every chunk server of every frozen chunk says (INFO) that it knows the new
 * version; from then on any request at the old version is refused STALE_VERSION, the writer looks
 * the chunk up again, finds it gone from its volume and writes into a fresh chunk of the new top
 * layer. A write acknowledged before the create was invoked is in the snapshot (it was durable on
 * every chunklet before the move); one invoked after it returned is refused by the fence and
 * lands above; one in flight across the create may be on either side, as with any crash.
 */
public final class Snapshots {
    private static final long POLL_MILLIS = 50;

    private Snapshots() {}

    /**
     * What {@link #create} did: the snapshot, the chunk servers that never confirmed the fence, and
     * the erasure-coded chunks whose hot blocks could not be frozen (no stripe master answered).
     */
    public record Created(Volume snapshot, List<Integer> unconfirmedCsIds, long fenceMillis,
                          List<Long> hotNotFrozenChunkUids, Reconciled reconciled) {}

    /**
     * What {@link #reconcile} did: the replicas whose content differed from their chunk's primary
     * (reported, so they catch up from it), per chunk uid, and the chunks it could not compare (a
     * replica did not answer, or answered without a digest).
     */
    public record Reconciled(java.util.Map<Long, List<Integer>> reportedByChunkUid, List<Long> uncomparedChunkUids) {
        static final Reconciled NONE = new Reconciled(java.util.Map.of(), List.of());

        public int replicasReported() {
            return reportedByChunkUid.values().stream().mapToInt(List::size).sum();
        }
    }

    /** Blocking: creates {@code volume@snapshot} and waits until the old version is refused everywhere. */
    public static Created create(ClusterClient cluster, String volume, String snapshot, Duration fenceTimeout)
            throws InterruptedException {
        Volume created = cluster.meta().createSnapshot(volume, snapshot);
        long started = System.nanoTime();
        long deadline = started + fenceTimeout.toNanos();
        List<Chunk> pending = new ArrayList<>(cluster.meta().listChunks(created.id()));
        TreeSet<Integer> lagging = new TreeSet<>();
        for (int round = 0; ; round++) {
            // Each round asks of the chunks as meta has them now: a chunklet meta marked OUTDATED
            // meanwhile (its server reported by a writer, or declared down by the recoverer) is no
            // longer waited for; a chunk gone from the layer needs no fence.
            if (round > 0) {
                java.util.Map<Long, Chunk> current = new java.util.HashMap<>();
                for (Chunk chunk : cluster.meta().listChunks(created.id())) {
                    current.put(chunk.uid(), chunk);
                }
                pending = pending.stream().map(chunk -> current.get(chunk.uid())).filter(java.util.Objects::nonNull)
                        .collect(java.util.stream.Collectors.toCollection(ArrayList::new));
            }
            List<CompletableFuture<List<Integer>>> asks = new ArrayList<>();
            for (Chunk chunk : pending) {
                asks.add(notYetKnownAt(cluster, chunk));
            }
            List<Chunk> still = new ArrayList<>();
            lagging.clear();
            for (int i = 0; i < pending.size(); i++) {
                List<Integer> unconfirmed = asks.get(i).join();
                if (!unconfirmed.isEmpty()) {
                    still.add(pending.get(i));
                    lagging.addAll(unconfirmed);
                }
            }
            pending = still;
            if (pending.isEmpty() || System.nanoTime() > deadline) {
                break;
            }
            // Chunk servers pull new versions after a heartbeat (about a second): ask again soon.
            Thread.sleep(POLL_MILLIS);
        }
        long fenceMillis = (System.nanoTime() - started) / 1_000_000;
        // The freeze gets what is left of the fence's time, and at least HOT_FREEZE_MIN_NANOS.
        List<Long> hotNotFrozen = freezeHot(cluster, created,
                Math.max(deadline, System.nanoTime() + HOT_FREEZE_MIN_NANOS));
        return new Created(created, List.copyOf(lagging), fenceMillis, hotNotFrozen, reconcile(cluster, created,
                Math.max(deadline, System.nanoTime() + RECONCILE_MIN_NANOS)));
    }

    /**
     * Makes the replicas of the snapshot's replicated chunks read the same (docs/snapshots.md,
     * "Fencing", step 6). A write that failed on part of its replicas (the primary died while
     * relaying it) leaves them different until the client's retry rewrites the block; the retry of
     * a write in flight across the create goes to the volume's new layer, so in the frozen chunk the
     * difference would stay, and the snapshot would read one way from the primary and another once
     * a different replica serves it. After the fence nothing writes a frozen chunk, so each UPTODATE
     * replica's content digest (INFO) is final: a replica whose digest differs from the primary's
     * (where reads go) is reported to meta, which makes it OUTDATED, and the recoverer catches it up
     * from the replicas that agree with the primary, copying only the blocks that differ. Either
     * state of such a write is crash-consistent; the primary's is the one readers saw from the
     * start.
     */
    static Reconciled reconcile(ClusterClient cluster, Volume snapshot, long deadlineNanos) throws InterruptedException {
        io.basalt.meta.model.Policy policy = io.basalt.meta.model.Policy.parse(snapshot.policyName());
        if (policy.erasureCoded()) {
            return Reconciled.NONE; // columns settle by the two-phase commit; hot writes by HOT_FREEZE
        }
        java.util.Map<Long, List<Integer>> reported = new java.util.TreeMap<>();
        while (true) {
            List<Long> unsettled = reconcileRound(cluster, snapshot, reported);
            if (unsettled.isEmpty()) {
                return new Reconciled(reported, List.of());
            }
            if (System.nanoTime() > deadlineNanos) {
                return new Reconciled(reported, unsettled);
            }
            Thread.sleep(RECONCILE_POLL_MILLIS);
        }
    }

    /**
     * One round of {@link #reconcile} over the chunks as meta has them now; returns the chunks not
     * settled yet. A chunk is settled when no replica of it is being filled (RECOVERING or
     * MIGRATING) and every UPTODATE replica's digest equals the primary's. One being filled is
     * waited for, then compared like the others: its copy may have come, in part, from a replica
     * that held a write the primary never got (a rebuild reads from every UPTODATE replica), and a
     * replica reported in an earlier round is caught up only from those that agree with the primary
     * (it is then compared again). Before, a replica rebuilt across the create escaped the
     * comparison and served a mix once it became the primary (the thrasher, seed
     * 3118633932018774959, session 24: 60 blocks of a rep3 snapshot).
     */
    private static List<Long> reconcileRound(ClusterClient cluster, Volume snapshot,
            java.util.Map<Long, List<Integer>> reported) {
        List<Chunk> chunks = cluster.meta().listChunks(snapshot.id());
        List<Long> unsettled = new ArrayList<>();
        List<List<Chunklet>> compared = new ArrayList<>();
        List<List<CompletableFuture<Long>>> digests = new ArrayList<>();
        for (Chunk chunk : chunks) {
            boolean filling = chunk.chunklets().stream()
                    .anyMatch(c -> c.state() == io.basalt.meta.model.ChunkletState.RECOVERING
                            || c.state() == io.basalt.meta.model.ChunkletState.MIGRATING);
            List<Chunklet> upToDate = chunk.chunklets().stream()
                    .filter(c -> c.state() == io.basalt.meta.model.ChunkletState.UPTODATE).toList();
            List<CompletableFuture<Long>> asks = new ArrayList<>();
            if (filling) {
                unsettled.add(chunk.uid());
            } else if (upToDate.size() > 1) {
                for (Chunklet chunklet : upToDate) {
                    asks.add(contentDigest(cluster, chunk, chunklet));
                }
            }
            compared.add(upToDate);
            digests.add(asks);
        }
        for (int i = 0; i < chunks.size(); i++) {
            List<CompletableFuture<Long>> asks = digests.get(i);
            if (asks.isEmpty()) {
                continue;
            }
            List<Long> values = asks.stream().map(CompletableFuture::join).toList();
            if (values.contains(null)) {
                unsettled.add(chunks.get(i).uid()); // a replica did not answer: asked again next round
                continue;
            }
            Chunk chunk = chunks.get(i);
            long primary = values.get(0); // upToDate keeps chunk order: its first is ChunkRoles.primary
            List<Integer> differing = new ArrayList<>();
            for (int r = 1; r < values.size(); r++) {
                if (values.get(r) != primary) {
                    differing.add(compared.get(i).get(r).csId());
                }
            }
            if (differing.isEmpty()) {
                continue;
            }
            unsettled.add(chunk.uid());
            for (int csId : differing) {
                try {
                    chunk = cluster.meta().reportFailure(chunk.uid(), chunk.version(), csId);
                } catch (io.basalt.meta.api.MetaException e) {
                    break; // asked again next round
                }
                List<Integer> ofChunk = reported.computeIfAbsent(chunk.uid(), uid -> new ArrayList<>());
                if (!ofChunk.contains(csId)) {
                    ofChunk.add(csId); // a replica reported again in a later round counts once
                }
            }
        }
        return unsettled;
    }

    /** A chunklet's content digest from its server's INFO, or null (no answer, or a server without digests). */
    private static CompletableFuture<Long> contentDigest(ClusterClient cluster, Chunk chunk, Chunklet chunklet) {
        return cluster.directory().address(chunklet.csId()).thenCompose(address -> cluster.connections()
                .request(address, DataFrame.TYPE_INFO, chunk.uid(), chunk.version(), 0, 0, null))
                .handle((reply, error) -> {
                    if (error != null || reply == null) {
                        return null;
                    }
                    try {
                        io.basalt.protocol.data.InfoReply info = reply.status() == CsStatus.OK && reply.payload() != null
                                ? io.basalt.protocol.data.InfoReply.read(reply.payload()) : null;
                        return info == null || !info.hasDigest() ? null : info.contentDigest();
                    } finally {
                        reply.release();
                    }
                });
    }

    /**
     * Freezes the hot blocks of the snapshot's erasure-coded chunks (HOT_FREEZE at each stripe
     * master, all at once), so that what the snapshot reads is decided now: a hot write in flight
     * across the create that some replica refused (it knew the new version already) left copies on
     * the others, which the freezer would otherwise fold into the stripes later, changing what the
     * snapshot reads after it was first read. The client retried that write into the volume's new
     * layer; in the snapshot too, it is one of the writes in flight across the create, which may be
     * on either side. A chunk whose freeze failed (its master gone, or its version moved under the
     * freeze: a column caught up meanwhile, and the master refuses the old layout) is asked again
     * with meta's map of the moment until {@code deadlineNanos}: a freeze that stopped part way
     * left copies the first read of the snapshot counted and a later freeze freed (the thrasher,
     * session 20). Returns the chunks still not frozen then.
     */
    private static List<Long> freezeHot(ClusterClient cluster, Volume snapshot, long deadlineNanos)
            throws InterruptedException {
        io.basalt.meta.model.Policy policy = io.basalt.meta.model.Policy.parse(snapshot.policyName());
        if (!policy.erasureCoded()) {
            return List.of();
        }
        java.util.Set<Long> wanted = null; // every chunk, the first round
        while (true) {
            List<Chunk> chunks = new ArrayList<>();
            for (Chunk chunk : cluster.meta().listChunks(snapshot.id())) {
                if (wanted == null || wanted.contains(chunk.uid())) {
                    chunks.add(chunk);
                }
            }
            List<CompletableFuture<Boolean>> asks = new ArrayList<>();
            for (Chunk chunk : chunks) {
                asks.add(EcPieces.freezeHot(cluster, policy, chunk, snapshot.chunkSizeBytes()));
            }
            List<Long> notFrozen = new ArrayList<>();
            for (int i = 0; i < chunks.size(); i++) {
                if (!asks.get(i).join()) {
                    notFrozen.add(chunks.get(i).uid());
                }
            }
            if (notFrozen.isEmpty() || System.nanoTime() > deadlineNanos) {
                return notFrozen;
            }
            wanted = new java.util.HashSet<>(notFrozen);
            Thread.sleep(HOT_FREEZE_RETRY_MILLIS);
        }
    }

    /** The least time the hot freeze gets, whatever the fence took. */
    private static final long HOT_FREEZE_MIN_NANOS = 10_000_000_000L;
    /**
     * The least time {@link #reconcile} waits for the replicas of the snapshot's chunks to settle
     * (a rebuild of a replica under way at the create, a catch-up it starts itself).
     */
    private static final long RECONCILE_MIN_NANOS = 30_000_000_000L;
    private static final long RECONCILE_POLL_MILLIS = 200;
    /** The pause between rounds of freezes that failed (a master restarting, a map moving on). */
    private static final long HOT_FREEZE_RETRY_MILLIS = 200;

    /**
     * The chunk servers that take writes for {@code chunk} and do not know its version yet (INFO's
     * known version; no answer counts as not knowing). An OUTDATED chunklet is skipped: no client
     * writes it, and a client still on the old version cannot complete a write through it (the
     * others refuse that version), so a server that is down does not hold up the snapshot.
     */
    private static CompletableFuture<List<Integer>> notYetKnownAt(ClusterClient cluster, Chunk chunk) {
        List<Integer> servers = new ArrayList<>();
        List<CompletableFuture<Boolean>> each = new ArrayList<>();
        for (Chunklet chunklet : chunk.chunklets()) {
            if (chunklet.state() == io.basalt.meta.model.ChunkletState.OUTDATED) {
                continue;
            }
            servers.add(chunklet.csId());
            each.add(cluster.directory().address(chunklet.csId()).thenCompose(address ->
                    cluster.connections().request(address, DataFrame.TYPE_INFO, chunk.uid(), chunk.version(), 0, 0,
                            null)).handle((reply, error) -> knows(reply, error, chunk.version())));
        }
        return CompletableFuture.allOf(each.toArray(CompletableFuture[]::new)).thenApply(ignored -> {
            List<Integer> unconfirmed = new ArrayList<>();
            for (int i = 0; i < each.size(); i++) {
                if (!each.get(i).join()) {
                    unconfirmed.add(servers.get(i));
                }
            }
            return unconfirmed;
        });
    }

    private static boolean knows(DataClient.Reply reply, Throwable error, long version) {
        if (error != null || reply == null) {
            return false;
        }
        try {
            return reply.status() == CsStatus.OK && reply.chunkVersion() >= version;
        } finally {
            reply.release();
        }
    }
}
