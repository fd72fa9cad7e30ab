package io.basalt.meta.server;

import io.basalt.meta.api.CsChunkVersion;
import io.basalt.meta.api.MetaRequest;
import io.basalt.meta.api.MetaRequest.RecoverChunklets;
import io.basalt.meta.api.MetaRequest.RecoverItem;
import io.basalt.meta.api.RecoverResult;
import io.basalt.meta.api.RecoverResult.Outcome;
import io.basalt.meta.api.StuckRecovery;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.ChunkServer;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.ChunkletState;
import io.basalt.meta.model.CsHealth;
import io.basalt.meta.model.CsStatus;
import io.basalt.meta.store.Keys;
import io.basalt.meta.store.MetaStore;
import io.basalt.meta.store.MetaStore.Table;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One pass of the recoverer on the leader: it decides which chunklets go into recovery and
 * proposes that through the log as RECOVER_CHUNKLETS batches; the state machine re-checks every
 * item against the chunk's version and the last-copy rule, so a pass working from a slightly old
 * view, or racing a new leader, does nothing harmful. Chunk servers then pull their RECOVERING
 * chunklets (LIST_RECOVERY_TASKS), fill them and report RECOVERY_DONE.
 *
 * <p>What a pass proposes (docs/meta.md, "Recovery state machine"):
 * <ul>
 *   <li>an UPTODATE or RECOVERING chunklet on an UNHEALTHY CS that is not lost yet: OUTDATED
 *       (OUTDATE), so that writes go on without waiting for it;</li>
 *   <li>an OUTDATED chunklet on a serving CS (UP or FULL): catch up in place (IN_PLACE);</li>
 *   <li>any chunklet on a lost CS: rebuild elsewhere (REPLACE). A CS is lost when it is DOWN,
 *       or UNHEALTHY and silent for {@code grace} (or reporting DISK_FAILED for {@code grace}
 *       since this recoverer saw it UNHEALTHY); silence is counted from its last heartbeat, or
 *       from when this member became leader (or first saw the CS) if none. DRAINING is left
 *       alone.</li>
 * </ul>
 * Chunks come from the degraded index and, for lost chunk servers, from their version index
 * (their UPTODATE chunklets are in no degraded list yet). At most one item per chunk per pass:
 * each item names the version it was chosen at, and a second item of the same chunk in the same
 * batch would be skipped as stale after the first changed it. An item that came back
 * NO_PLACEMENT or LAST_COPY is not proposed again for the same chunk version for
 * {@link #RETRY_AFTER}, so a cluster without a free failure domain does not spin; the reasons
 * are published as leader soft state (RECOVERY_STATUS) for {@code basalt status}.
 *
 * <p>Owned by the leader-duty thread; only {@link MetaStateMachine#publishStuckRecoveries}
 * crosses threads (an immutable list).
 */
final class Recoverer {
    private static final Logger LOG = LoggerFactory.getLogger(Recoverer.class);
    /** How long an item that came back NO_PLACEMENT or LAST_COPY waits for the same version. */
    static final Duration RETRY_AFTER = Duration.ofSeconds(10);
    /** Bound on one pass's work: 16 entries of the log; the rest waits for the next pass. */
    static final int ITEMS_PER_PASS_MAX = 16 * RecoverChunklets.ITEMS_MAX;

    private record Candidate(Chunk chunk, Chunklet chunklet, int mode, int targetCsId,
                             String why, boolean reportStuck) {
        Candidate(Chunk chunk, Chunklet chunklet, int mode, String why) {
            this(chunk, chunklet, mode, 0, why, true);
        }
    }

    private record MemoKey(long chunkUid, int csId, int mode) {}

    private record Memo(long version, long untilNanos) {}

    private final Map<Integer, Long> firstSeenNanos = new HashMap<>();
    private final Map<Integer, Long> unhealthySinceNanos = new HashMap<>();
    private final Map<MemoKey, Memo> memo = new HashMap<>();
    /**
     * Erasure-coded moves this leader started (chunk uid -> source CS): they leave no chunklet
     * on the source, so this is how the in-flight bounds count them until the chunk is healthy.
     */
    private final Map<Long, Integer> ecMovesFrom = new TreeMap<>();
    private final Mover mover = new Mover();
    private final Map<Long, StuckRecovery> stuck = new TreeMap<>();
    private long leaderSinceNanos;
    /** Items this member proposed as leader, by mode and outcome, since it started (for metrics). */
    private final java.util.concurrent.ConcurrentHashMap<List<String>, java.util.concurrent.atomic.LongAdder> proposed =
            new java.util.concurrent.ConcurrentHashMap<>();
    private volatile int lastPassItems;

    /** Runs one pass; returns how many items it proposed. */
    int pass(MetaStateMachine stateMachine, long nowNanos, Duration grace,
             Function<MetaRequest, WireReader> propose) {
        if (stateMachine.leaderSinceNanos() != leaderSinceNanos) {
            leaderSinceNanos = stateMachine.leaderSinceNanos();
            firstSeenNanos.clear();
            unhealthySinceNanos.clear();
            memo.clear();
            stuck.clear();
            ecMovesFrom.clear();
        }
        memo.values().removeIf(entry -> nowNanos - entry.untilNanos() >= 0);
        Map<Long, Boolean> considered = new HashMap<>();
        List<Candidate> candidates = stateMachine.readState(
                store -> plan(store, stateMachine, nowNanos, grace, considered));
        stuck.keySet().removeIf(uid -> !considered.containsKey(uid));
        for (int from = 0; from < candidates.size(); from += RecoverChunklets.ITEMS_MAX) {
            List<Candidate> batch = candidates.subList(from,
                    Math.min(candidates.size(), from + RecoverChunklets.ITEMS_MAX));
            List<RecoverItem> items = new ArrayList<>(batch.size());
            for (Candidate candidate : batch) {
                Chunk chunk = candidate.chunk();
                LOG.info("chunk {} (volume {} index {}) chunklet {} on cs {}: {}", chunk.uid(),
                        chunk.volumeId(), chunk.index(), candidate.chunklet().index(),
                        candidate.chunklet().csId(), candidate.why());
                items.add(new RecoverItem(chunk.uid(), chunk.version(),
                        candidate.chunklet().csId(), candidate.mode(), candidate.targetCsId()));
            }
            WireReader reply = propose.apply(new RecoverChunklets(items));
            int count = reply.count(1);
            if (count != batch.size()) {
                throw new IllegalStateException("RECOVER_CHUNKLETS answered " + count
                        + " outcomes for " + batch.size() + " items");
            }
            for (Candidate candidate : batch) {
                outcome(candidate, RecoverResult.decode(reply), nowNanos);
            }
        }
        stateMachine.publishStuckRecoveries(new ArrayList<>(stuck.values()));
        lastPassItems = candidates.size();
        return candidates.size();
    }

    /** Items proposed since start by [mode, outcome]; a snapshot. */
    Map<List<String>, Long> proposedItems() {
        Map<List<String>, Long> snapshot = new TreeMap<>(java.util.Comparator.comparing(Object::toString));
        proposed.forEach((key, count) -> snapshot.put(key, count.sum()));
        return snapshot;
    }

    /** Items the last pass proposed (0 on a follower). */
    int lastPassItems() {
        return lastPassItems;
    }

    private static String modeName(int mode) {
        return switch (mode) {
            case RecoverChunklets.MODE_IN_PLACE -> "catchup";
            case RecoverChunklets.MODE_REPLACE -> "rebuild";
            case RecoverChunklets.MODE_OUTDATE -> "outdate";
            case RecoverChunklets.MODE_MIGRATE -> "move";
            default -> "mode" + mode;
        };
    }

    private void outcome(Candidate candidate, RecoverResult result, long nowNanos) {
        proposed.computeIfAbsent(List.of(modeName(candidate.mode()),
                result.outcome().name().toLowerCase(java.util.Locale.ROOT)),
                key -> new java.util.concurrent.atomic.LongAdder()).increment();
        Chunk chunk = candidate.chunk();
        int csId = candidate.chunklet().csId();
        switch (result.outcome()) {
            case CHANGED -> {
                stuck.remove(chunk.uid());
                if (candidate.mode() == RecoverChunklets.MODE_MIGRATE && chunk.chunklets()
                        .getFirst().role() != io.basalt.meta.model.ChunkletRole.REPLICA) {
                    ecMovesFrom.put(chunk.uid(), csId);
                }
            }
            case SKIPPED -> LOG.info("chunk {} chunklet {} on cs {}: skipped ({})", chunk.uid(),
                    candidate.chunklet().index(), csId, result.message());
            case LAST_COPY, NO_PLACEMENT -> {
                LOG.info("chunk {} chunklet {} on cs {}: {} ({}); next try in {} s unless the"
                        + " chunk changes", chunk.uid(), candidate.chunklet().index(), csId,
                        result.outcome(), result.message(), RETRY_AFTER.toSeconds());
                memo.put(new MemoKey(chunk.uid(), csId, candidate.mode()),
                        new Memo(result.chunkVersion(), nowNanos + RETRY_AFTER.toNanos()));
                if (!candidate.reportStuck()) {
                    return;
                }
                stuck.put(chunk.uid(), new StuckRecovery(chunk.uid(), chunk.volumeId(),
                        chunk.index(), result.chunkVersion(), csId, result.outcome(),
                        result.message()));
            }
        }
    }

    /** The items of this pass, at most one per chunk, chunks in uid order. */
    private List<Candidate> plan(MetaStore store, MetaStateMachine stateMachine, long nowNanos,
                                 Duration grace, Map<Long, Boolean> considered) {
        Map<Integer, ChunkServer> servers = new TreeMap<>();
        for (ChunkServer server : MetaLogic.allCs(store)) {
            servers.put(server.id(), server);
        }
        Map<Integer, String> lostWhy = new TreeMap<>();
        Map<Integer, String> silentWhy = new TreeMap<>();
        for (ChunkServer server : servers.values()) {
            String why = lostWhy(server, stateMachine.beats().get(server.id()), nowNanos, grace);
            if (why != null) {
                lostWhy.put(server.id(), why);
            } else if (server.status() == CsStatus.UNHEALTHY) {
                silentWhy.put(server.id(), "cs " + server.id() + " UNHEALTHY");
            }
        }
        Map<Long, Chunk> chunks = new TreeMap<>();
        for (MetaStore.Entry entry : store.scan(Table.DEGRADED, new byte[0])) {
            Chunk chunk = chunkAt(store, entry.value(), 0);
            if (chunk != null) {
                chunks.put(chunk.uid(), chunk);
            }
        }
        java.util.Set<Integer> away = new java.util.TreeSet<>(lostWhy.keySet());
        away.addAll(silentWhy.keySet());
        for (int csId : away) {
            for (CsChunkVersion entry : CsVersionIndex.after(store, csId, 0, Integer.MAX_VALUE)) {
                if (!entry.deleted() && !chunks.containsKey(entry.chunkUid())) {
                    byte[] location = store.get(Table.CHUNK_UID, Keys.u64(entry.chunkUid()));
                    Chunk chunk = location == null ? null : chunkAt(store, location, 0);
                    if (chunk != null) {
                        chunks.put(chunk.uid(), chunk);
                    }
                }
            }
        }
        List<Candidate> candidates = new ArrayList<>();
        java.util.Set<Long> chosenUids = new java.util.TreeSet<>();
        for (Chunk chunk : chunks.values()) {
            considered.put(chunk.uid(), true);
            if (candidates.size() >= ITEMS_PER_PASS_MAX) {
                continue;
            }
            Candidate chosen = null;
            for (Iterator<Chunklet> it = chunk.chunklets().iterator(); it.hasNext()
                    && chosen == null; ) {
                Candidate candidate = candidate(chunk, it.next(), servers, lostWhy, silentWhy);
                if (candidate != null && !remembered(candidate, nowNanos)) {
                    chosen = candidate;
                }
            }
            if (chosen != null) {
                candidates.add(chosen);
                chosenUids.add(chunk.uid());
            }
        }
        // Moves: a drain, then the balancer, with what room the pass has left (Mover).
        ecMovesFrom.keySet().removeIf(uid -> store.get(Table.DEGRADED, Keys.u64(uid)) == null);
        List<Mover.Move> moves = mover.plan(store, servers, chunks, ecMovesFrom, chosenUids,
                ITEMS_PER_PASS_MAX - candidates.size(), (chunk, csId, mode) -> remembered(
                        new Candidate(chunk, null, mode, ""), csId, nowNanos));
        for (Mover.Move move : moves) {
            if (move.drain()) {
                considered.put(move.chunk().uid(), true);
            }
            candidates.add(new Candidate(move.chunk(), move.chunklet(), move.mode(),
                    move.targetCsId(), move.why(), move.drain()));
        }
        return candidates;
    }

    private static Candidate candidate(Chunk chunk, Chunklet chunklet,
                                       Map<Integer, ChunkServer> servers,
                                       Map<Integer, String> lostWhy,
                                       Map<Integer, String> silentWhy) {
        ChunkServer server = servers.get(chunklet.csId());
        String lost = lostWhy.get(chunklet.csId());
        // Either side of a move on a CS that is away: the state machine drops that side
        // (MetaLogic.moveFailed) for OUTDATE and REPLACE alike.
        if (lost != null) {
            return new Candidate(chunk, chunklet, RecoverChunklets.MODE_REPLACE,
                    lost + " -> rebuild elsewhere");
        }
        String silent = silentWhy.get(chunklet.csId());
        if (silent != null && chunklet.state() != ChunkletState.OUTDATED) {
            // Writes would wait for it: they go on without it, and it catches up if it returns
            // within the grace period (else it is rebuilt elsewhere).
            return new Candidate(chunk, chunklet, RecoverChunklets.MODE_OUTDATE,
                    silent + " -> OUTDATED, writes go on without it");
        }
        if ((chunklet.state() == ChunkletState.RECOVERING || chunklet.state() == ChunkletState.OUTDATED)
                && server != null && server.status() == CsStatus.FULL) {
            // Its disk has no room for the copy (a rebuild whose target fills, or a catch-up): the
            // copy goes to a server with room, and the partial one here is deleted, freeing space.
            return new Candidate(chunk, chunklet, RecoverChunklets.MODE_REPLACE,
                    "cs " + server.id() + " FULL while its chunklet is " + chunklet.state()
                            + " -> rebuild elsewhere");
        }
        if (chunklet.state() == ChunkletState.OUTDATED && server != null
                && server.status() == CsStatus.UP) {
            return new Candidate(chunk, chunklet, RecoverChunklets.MODE_IN_PLACE,
                    "OUTDATED, cs " + server.id() + " " + server.status()
                            + " again -> catch-up in place");
        }
        return null;
    }

    private boolean remembered(Candidate candidate, long nowNanos) {
        return remembered(candidate, candidate.chunklet().csId(), nowNanos);
    }

    private boolean remembered(Candidate candidate, int csId, long nowNanos) {
        Chunk chunk = candidate.chunk();
        Memo entry = memo.get(new MemoKey(chunk.uid(), csId, candidate.mode()));
        return entry != null && entry.version() == chunk.version()
                && nowNanos - entry.untilNanos() < 0;
    }

    /** Why {@code server} counts as lost (its chunklets are rebuilt elsewhere), or null. */
    private String lostWhy(ChunkServer server, MetaStateMachine.Beat beat, long nowNanos,
                           Duration grace) {
        long firstSeen = firstSeenNanos.computeIfAbsent(server.id(), id -> nowNanos);
        if (server.status() != CsStatus.UNHEALTHY) {
            unhealthySinceNanos.remove(server.id());
        }
        switch (server.status()) {
            case DOWN -> {
                return "cs " + server.id() + " DOWN";
            }
            case UNHEALTHY -> {
                long unhealthySince = unhealthySinceNanos.computeIfAbsent(server.id(),
                        id -> nowNanos);
                long silentNanos = nowNanos - (beat == null ? firstSeen : beat.atNanos());
                if (silentNanos >= grace.toNanos()) {
                    return "cs " + server.id() + " UNHEALTHY, silent for "
                            + silentNanos / 1_000_000_000L + " s";
                }
                if (beat != null && beat.health() == CsHealth.DISK_FAILED
                        && nowNanos - unhealthySince >= grace.toNanos()) {
                    return "cs " + server.id() + " UNHEALTHY, disk failed for "
                            + (nowNanos - unhealthySince) / 1_000_000_000L + " s";
                }
                return null;
            }
            default -> {
                return null;
            }
        }
    }

    /** The chunk whose {@code u64 volumeId | u64 index} is at {@code offset} of {@code bytes}. */
    private static Chunk chunkAt(MetaStore store, byte[] bytes, int offset) {
        byte[] value = store.get(Table.CHUNK, Keys.u64u64(Keys.readU64(bytes, offset),
                Keys.readU64(bytes, offset + 8)));
        return value == null ? null : Chunk.decode(new WireReader(value));
    }
}
