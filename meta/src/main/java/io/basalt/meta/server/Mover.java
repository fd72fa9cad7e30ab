package io.basalt.meta.server;

import io.basalt.meta.api.CsChunkVersion;
import io.basalt.meta.api.MetaRequest.RecoverChunklets;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.ChunkServer;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.ChunkletState;
import io.basalt.meta.model.CsStatus;
import io.basalt.meta.model.Policy;
import io.basalt.meta.model.Volume;
import io.basalt.meta.store.Keys;
import io.basalt.meta.store.MetaStore;
import io.basalt.meta.store.MetaStore.Table;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The moves of a recoverer pass (docs/meta.md, "Moving chunklets"): the drain of DRAINING chunk
 * servers, then the balancer. It only chooses; the recoverer proposes the items and the state
 * machine re-checks each (version, last copy, failure domains, room on the target).
 *
 * <p>Drain: every chunklet on a DRAINING CS leaves it, at most {@link #DRAIN_MOVES_PER_CS_MAX}
 * in flight per draining CS, so a drain does not flood the cluster with copies. An UPTODATE one
 * is moved (MIGRATE, target chosen by placement); an OUTDATED or RECOVERING one (not in a move)
 * is rebuilt elsewhere (REPLACE), since a DRAINING CS gets no catch-up.
 *
 * <p>Balancer: fill ratio = allocatedBytes / capacity (replicated state, so what placement
 * sees), with the chunklets leaving a CS in a move already subtracted. While the fullest UP or
 * FULL server's ratio exceeds the emptiest UP server's by more than {@link #BALANCE_TOLERANCE}
 * and by more than the chunklet moved changes both (so one move can never reverse the order and
 * the balancer never ping-pongs), it moves one UPTODATE chunklet of a healthy chunk from the
 * fullest to the emptiest server that keeps the chunk's failure domains distinct, at most
 * {@link #BALANCE_MOVES_MAX} moves in flight cluster-wide (drain moves count too, so a drain
 * runs first).
 *
 * <p>Owned by the leader-duty thread (through {@link Recoverer}); deterministic given its inputs.
 */
final class Mover {
    /** Moves in flight per draining chunk server. */
    static final int DRAIN_MOVES_PER_CS_MAX = 16;
    /** Balancer moves in flight cluster-wide (drain moves included). */
    static final int BALANCE_MOVES_MAX = 4;
    /** Fill-ratio gap (fullest minus emptiest) the balancer tolerates: 10 percentage points. */
    static final double BALANCE_TOLERANCE = 0.10;
    /** Most index entries the balancer reads from the fullest server a pass. */
    static final int BALANCE_SCAN_MAX = 4096;

    /** A chosen move: the item to propose and why. {@code drain}: not the balancer. */
    record Move(Chunk chunk, Chunklet chunklet, int mode, int targetCsId, String why,
                boolean drain) {}

    /** Whether an item was refused lately for this chunk version (the recoverer's memo). */
    interface Blocked {
        boolean test(Chunk chunk, int csId, int mode);
    }

    /**
     * The moves of this pass.
     *
     * @param servers every chunk server by id
     * @param degraded the degraded chunks by uid (a move makes its chunk degraded)
     * @param ecMovesFrom erasure-coded moves in flight: chunk uid -> source CS
     * @param chosenUids chunks that have an item this pass already (one item per chunk)
     * @param room most moves this pass may add
     */
    List<Move> plan(MetaStore store, Map<Integer, ChunkServer> servers, Map<Long, Chunk> degraded,
                    Map<Long, Integer> ecMovesFrom, Set<Long> chosenUids, int room,
                    Blocked blocked) {
        List<Move> moves = new ArrayList<>();
        Map<Integer, Integer> inFlightFrom = new HashMap<>();
        int inFlight = 0;
        Map<Integer, Long> leavingBytes = new HashMap<>();
        Map<Long, Long> chunkletBytesOfVolume = new HashMap<>();
        for (Chunk chunk : degraded.values()) {
            for (Chunklet chunklet : chunk.chunklets()) {
                if (chunklet.state() == ChunkletState.MIGRATING) {
                    inFlightFrom.merge(chunklet.csId(), 1, Integer::sum);
                    inFlight++;
                    leavingBytes.merge(chunklet.csId(), chunkletBytes(store, chunk,
                            chunkletBytesOfVolume), Long::sum);
                }
            }
        }
        for (int source : ecMovesFrom.values()) {
            inFlightFrom.merge(source, 1, Integer::sum);
            inFlight++;
        }
        for (ChunkServer server : servers.values()) {
            if (server.status() != CsStatus.DRAINING) {
                continue;
            }
            int budget = Math.min(room - moves.size(),
                    DRAIN_MOVES_PER_CS_MAX - inFlightFrom.getOrDefault(server.id(), 0));
            for (CsChunkVersion entry : CsVersionIndex.after(store, server.id(), 0,
                    Integer.MAX_VALUE)) {
                if (budget <= 0) {
                    break;
                }
                if (entry.deleted() || chosenUids.contains(entry.chunkUid())) {
                    continue;
                }
                Chunk chunk = chunkByUid(store, entry.chunkUid());
                Chunklet chunklet = chunk == null ? null : chunkletOn(chunk, server.id());
                if (chunklet == null || chunklet.state() == ChunkletState.MIGRATING) {
                    continue;
                }
                boolean moving = false;
                for (Chunklet other : chunk.chunklets()) {
                    moving |= other.state() == ChunkletState.MIGRATING;
                }
                int mode;
                String why;
                if (chunklet.state() == ChunkletState.UPTODATE) {
                    if (moving) {
                        continue; // one move per chunk; this one waits for the other
                    }
                    mode = RecoverChunklets.MODE_MIGRATE;
                    why = "cs " + server.id() + " DRAINING -> move to another cs";
                } else if (chunklet.state() == ChunkletState.RECOVERING && moving) {
                    continue; // the target of a move onto a DRAINING cs (drained since)
                } else {
                    mode = RecoverChunklets.MODE_REPLACE;
                    why = "cs " + server.id() + " DRAINING, chunklet " + chunklet.state()
                            + " -> rebuild elsewhere";
                }
                if (blocked.test(chunk, server.id(), mode)) {
                    continue;
                }
                moves.add(new Move(chunk, chunklet, mode, 0, why, true));
                chosenUids.add(chunk.uid());
                inFlight++;
                budget--;
            }
        }
        balance(store, servers, chosenUids, Math.min(room - moves.size(),
                BALANCE_MOVES_MAX - inFlight), leavingBytes, chunkletBytesOfVolume, blocked,
                moves);
        return moves;
    }

    private static void balance(MetaStore store, Map<Integer, ChunkServer> servers,
                                Set<Long> chosenUids, int budget, Map<Integer, Long> leavingBytes,
                                Map<Long, Long> chunkletBytesOfVolume, Blocked blocked,
                                List<Move> moves) {
        if (budget <= 0) {
            return;
        }
        // Projected allocation: what each server holds once the moves under way are done.
        Map<Integer, Long> allocated = new HashMap<>();
        for (ChunkServer server : servers.values()) {
            allocated.put(server.id(), server.allocatedBytes()
                    - leavingBytes.getOrDefault(server.id(), 0L));
        }
        ChunkServer source = null;
        for (ChunkServer server : servers.values()) {
            if ((server.status() == CsStatus.UP || server.status() == CsStatus.FULL)
                    && (source == null || ratio(server, allocated) > ratio(source, allocated))) {
                source = server;
            }
        }
        if (source == null || ratio(source, allocated) - emptiestRatio(servers.values(),
                allocated) <= BALANCE_TOLERANCE) {
            return;
        }
        for (CsChunkVersion entry : CsVersionIndex.after(store, source.id(), 0,
                BALANCE_SCAN_MAX)) {
            if (budget <= 0 || ratio(source, allocated) - emptiestRatio(servers.values(),
                    allocated) <= BALANCE_TOLERANCE) {
                return;
            }
            if (entry.deleted() || chosenUids.contains(entry.chunkUid())) {
                continue;
            }
            Chunk chunk = chunkByUid(store, entry.chunkUid());
            if (chunk == null || RecoveryIndex.degraded(chunk)
                    || blocked.test(chunk, source.id(), RecoverChunklets.MODE_MIGRATE)) {
                continue;
            }
            Chunklet chunklet = chunkletOn(chunk, source.id());
            long bytes = chunkletBytes(store, chunk, chunkletBytesOfVolume);
            Policy policy = policyOf(store, chunk);
            ChunkServer target = target(servers.values(), allocated, chunk, chunklet, policy,
                    bytes);
            if (target == null) {
                continue;
            }
            double gap = ratio(source, allocated) - ratio(target, allocated);
            double step = (double) bytes / source.capacityBytes()
                    + (double) bytes / target.capacityBytes();
            if (gap <= BALANCE_TOLERANCE || gap <= step) {
                continue;
            }
            moves.add(new Move(chunk, chunklet, RecoverChunklets.MODE_MIGRATE, target.id(),
                    String.format("balance: cs %d %.0f%% full, cs %d %.0f%% -> move there",
                            source.id(), 100 * ratio(source, allocated), target.id(),
                            100 * ratio(target, allocated)), false));
            chosenUids.add(chunk.uid());
            allocated.merge(source.id(), -bytes, Long::sum);
            allocated.merge(target.id(), bytes, Long::sum);
            budget--;
        }
    }

    /** The emptiest UP server that may take {@code chunklet}: distinct CS and domain, room. */
    private static ChunkServer target(Collection<ChunkServer> servers,
                                      Map<Integer, Long> allocated, Chunk chunk,
                                      Chunklet chunklet, Policy policy, long bytes) {
        Set<Integer> usedCs = new HashSet<>();
        Set<String> usedDomains = new HashSet<>();
        for (Chunklet other : chunk.chunklets()) {
            usedCs.add(other.csId());
            for (ChunkServer server : servers) {
                if (server.id() == other.csId() && other != chunklet) {
                    usedDomains.add(policy.failureDomain().domainOf(server));
                }
            }
        }
        ChunkServer best = null;
        for (ChunkServer server : servers) {
            if (server.status() != CsStatus.UP || usedCs.contains(server.id())
                    || usedDomains.contains(policy.failureDomain().domainOf(server))
                    || server.capacityBytes() - allocated.get(server.id()) < bytes) {
                continue;
            }
            if (best == null || ratio(server, allocated) < ratio(best, allocated)) {
                best = server;
            }
        }
        return best;
    }

    private static double emptiestRatio(Collection<ChunkServer> servers,
                                        Map<Integer, Long> allocated) {
        double emptiest = Double.MAX_VALUE;
        for (ChunkServer server : servers) {
            if (server.status() == CsStatus.UP) {
                emptiest = Math.min(emptiest, ratio(server, allocated));
            }
        }
        return emptiest;
    }

    private static double ratio(ChunkServer server, Map<Integer, Long> allocated) {
        return server.capacityBytes() <= 0 ? 1.0
                : (double) allocated.get(server.id()) / server.capacityBytes();
    }

    private static Chunklet chunkletOn(Chunk chunk, int csId) {
        for (Chunklet chunklet : chunk.chunklets()) {
            if (chunklet.csId() == csId) {
                return chunklet;
            }
        }
        return null;
    }

    private static Chunk chunkByUid(MetaStore store, long chunkUid) {
        byte[] location = store.get(Table.CHUNK_UID, Keys.u64(chunkUid));
        byte[] value = location == null ? null : store.get(Table.CHUNK, location);
        return value == null ? null : Chunk.decode(new WireReader(value));
    }

    private static Policy policyOf(MetaStore store, Chunk chunk) {
        return Policy.parse(volumeOf(store, chunk).policyName());
    }

    private static Volume volumeOf(MetaStore store, Chunk chunk) {
        return Volume.decode(new WireReader(store.get(Table.VOLUME, Keys.u64(chunk.volumeId()))));
    }

    private static long chunkletBytes(MetaStore store, Chunk chunk, Map<Long, Long> cache) {
        return cache.computeIfAbsent(chunk.volumeId(), id -> {
            Volume volume = volumeOf(store, chunk);
            return Policy.parse(volume.policyName()).chunkletSizeBytes(volume.chunkSizeBytes());
        });
    }
}
