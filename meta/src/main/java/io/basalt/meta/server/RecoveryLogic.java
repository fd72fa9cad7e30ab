package io.basalt.meta.server;

import static io.basalt.meta.server.MetaLogic.*;

import io.basalt.common.Units;
import io.basalt.meta.api.MetaError;
import io.basalt.meta.api.MetaReply;
import io.basalt.meta.api.MetaRequest;
import io.basalt.meta.api.RecoverResult;
import io.basalt.meta.api.RecoverResult.Outcome;
import io.basalt.meta.api.RecoveryTask;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.ChunkServer;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.ChunkletRole;
import io.basalt.meta.model.ChunkletState;
import io.basalt.meta.model.CsStatus;
import io.basalt.meta.model.Policy;
import io.basalt.meta.model.Volume;
import io.basalt.meta.placement.Placement;
import io.basalt.meta.placement.Placement.PlacementException;
import io.basalt.meta.store.Keys;
import io.basalt.meta.store.MetaStore;
import io.basalt.meta.store.MetaStore.Table;
import io.basalt.meta.store.Tx;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The recovery and move transitions of the meta state (docs/meta.md, "Recovery state machine" and
 * "Moving chunklets"): RECOVER_CHUNKLETS items (catch-up in place, rebuild elsewhere, outdate,
 * migrate), RECOVERY_DONE, the last-copy rule, and the reads chunk servers recover from. Split out
 * of {@link MetaLogic}, whose entity access and {@code putChunk} (which keeps the recovery and
 * degraded indexes) they use; the same determinism rules hold (MetaLogic's design note).
 */
final class RecoveryLogic {
    private static final Logger LOG = LoggerFactory.getLogger(RecoveryLogic.class);

    private RecoveryLogic() {}

    /**
     * A client saw {@code csId} fail for a chunk: its chunklet becomes OUTDATED (version + 1) and
     * stays on that CS; the recoverer decides what happens next (catch up in place when the CS
     * serves again, rebuild elsewhere when it stays away). Already OUTDATED, an older version,
     * or a chunklet holding the last copy (see {@link #lastCopyReason}): the reporter gets the
     * current map and nothing changes.
     */
    static byte[] reportFailure(MetaRequest.ReportFailure r, Tx tx) {
        Chunk chunk = getChunkByUid(tx, r.chunkUid());
        if (chunk == null) {
            return MetaReply.error(MetaError.NOT_FOUND, "chunk " + r.chunkUid() + " not found");
        }
        if (r.version() > chunk.version()) {
            return MetaReply.error(MetaError.INVALID, "chunk " + r.chunkUid() + " version "
                    + r.version() + " is newer than meta's " + chunk.version());
        }
        int position = positionOn(chunk, r.csId());
        if (r.version() < chunk.version() || position < 0
                || chunk.chunklets().get(position).state() == ChunkletState.OUTDATED) {
            // Already handled (or not about this chunk): the reporter gets the current map.
            return encode(chunk::encode);
        }
        Volume volume = getVolume(tx, chunk.volumeId());
        Policy policy = Policy.parse(volume.policyName());
        if (movePartner(chunk, position) >= 0) {
            Chunk updated = moveFailed(tx, chunk, position, policy,
                    policy.chunkletSizeBytes(volume.chunkSizeBytes()));
            return encode((updated == null ? chunk : updated)::encode);
        }
        if (lastCopyReason(chunk, position, policy) != null) {
            return encode(chunk::encode);
        }
        Chunk updated = withChunklet(chunk, position,
                chunk.chunklets().get(position).withState(ChunkletState.OUTDATED));
        putChunk(tx, updated);
        return encode(updated::encode);
    }

    static Chunk withChunklet(Chunk chunk, int position, Chunklet chunklet) {
        List<Chunklet> chunklets = new ArrayList<>(chunk.chunklets());
        chunklets.set(position, chunklet);
        return chunk.withVersionAndChunklets(chunk.version() + 1, chunklets);
    }

    /**
     * The other side of a move the chunklet at {@code position} takes part in: for a MIGRATING
     * chunklet (the source), the RECOVERING one at the same index (the target), and the other
     * way round; -1 if it is in no move. Invariant: a MIGRATING chunklet always has exactly one
     * such partner (every path that ends the move removes or restores both).
     */
    static int movePartner(Chunk chunk, int position) {
        Chunklet chunklet = chunk.chunklets().get(position);
        ChunkletState wanted = switch (chunklet.state()) {
            case MIGRATING -> ChunkletState.RECOVERING;
            case RECOVERING -> ChunkletState.MIGRATING;
            default -> null;
        };
        if (wanted == null) {
            return -1;
        }
        for (int i = 0; i < chunk.chunklets().size(); i++) {
            Chunklet other = chunk.chunklets().get(i);
            if (i != position && other.index() == chunklet.index() && other.state() == wanted) {
                return i;
            }
        }
        return -1;
    }

    /**
     * One side of a move failed (a client report, or the recoverer found its CS away). The
     * source (MIGRATING) is dropped, unless it holds the last readable copy (then null, nothing
     * changes): the target goes on filling from the others. The target (RECOVERING) is dropped
     * and the source becomes UPTODATE again: the move is abandoned, and a drain or the balancer
     * proposes it again later. Version + 1 either way; the dropped CS's allocation is released
     * and its version index gets a tombstone, so it deletes its copy.
     */
    static Chunk moveFailed(Tx tx, Chunk chunk, int position, Policy policy,
                                    long chunkletBytes) {
        int partner = movePartner(chunk, position);
        Chunklet chunklet = chunk.chunklets().get(position);
        List<Chunklet> chunklets = new ArrayList<>(chunk.chunklets());
        if (chunklet.state() == ChunkletState.MIGRATING) {
            if (lastCopyReason(chunk, position, policy) != null) {
                return null;
            }
        } else {
            chunklets.set(partner, chunklets.get(partner).withState(ChunkletState.UPTODATE));
        }
        chunklets.remove(position);
        Chunk updated = chunk.withVersionAndChunklets(chunk.version() + 1, chunklets);
        adjustAllocated(tx, chunklet.csId(), -chunkletBytes);
        putChunk(tx, updated);
        LOG.info("chunk {} chunklet {}: move {} cs {} failed -> {}", chunk.uid(),
                chunklet.index(), chunklet.state() == ChunkletState.MIGRATING ? "source"
                        : "target", chunklet.csId(), chunklet.state() == ChunkletState.MIGRATING
                        ? "the target fills from the others" : "abandoned, the source stays");
        return updated;
    }

    /** Position in the chunk's list of the chunklet on {@code csId}, -1 if none. */
    static int positionOn(Chunk chunk, int csId) {
        for (int i = 0; i < chunk.chunklets().size(); i++) {
            if (chunk.chunklets().get(i).csId() == csId) {
                return i;
            }
        }
        return -1;
    }

    /**
     * The last-copy rule: a chunklet may not be replaced or marked OUTDATED if, without it, fewer
     * than 1 (replicated) or fewer than k (EC k+m) chunklets of the chunk stay readable (UPTODATE,
     * or MIGRATING: the source of a move still holds current data): it may hold the only
     * readable data. Returns why (no chunk-specific text, so equal reasons count
     * together in {@code basalt status}), or null when the chunklet may go.
     */
    /**
     * The chunk servers that held a chunklet of {@code chunkUid} before (a tombstone in their version
     * index): a rebuild or move never goes back to one. Its old chunklet may still be on its disk (it
     * deletes it only when it pulls the tombstone, and a server that was down meanwhile pulls only the
     * newest entry), perhaps of another column, and new writes would land on that stale chunklet (seen
     * in a 2-at-a-time thrash: a parity column's old strip versions met a data column's write, and the
     * server could not start again). Tombstones are never collected yet, so such a server never gets
     * that chunk again; placement says NO_PLACEMENT when no other server is left.
     */
    /**
     * Servers a new chunklet of {@code chunk} may not go to, whether placement or the balancer picks
     * the target: those holding one of its chunklets, and those that held one before (heldBefore).
     */
    static Set<Integer> excludedCs(Tx tx, Chunk chunk, List<ChunkServer> servers) {
        Set<Integer> excluded = new HashSet<>(heldBefore(tx, chunk.uid(), servers));
        for (Chunklet chunklet : chunk.chunklets()) {
            excluded.add(chunklet.csId());
        }
        return excluded;
    }

    /** The failure domains of the chunk's chunklets other than the one at {@code position}. */
    static Set<String> usedDomains(Chunk chunk, int position, Policy policy, List<ChunkServer> servers) {
        Set<String> domains = new HashSet<>();
        for (int i = 0; i < chunk.chunklets().size(); i++) {
            if (i == position) {
                continue;
            }
            for (ChunkServer server : servers) {
                if (server.id() == chunk.chunklets().get(i).csId()) {
                    domains.add(policy.failureDomain().domainOf(server));
                }
            }
        }
        return domains;
    }

    static Set<Integer> heldBefore(Tx tx, long chunkUid, List<ChunkServer> servers) {
        Set<Integer> held = new java.util.TreeSet<>();
        for (ChunkServer server : servers) {
            if (tx.get(Table.CS_CHUNK_SEQ, Keys.u32u64(server.id(), chunkUid)) != null) {
                held.add(server.id());
            }
        }
        return held;
    }

    /**
     * Why the chunklet at {@code position} may not become OUTDATED or be replaced (null: it may).
     * Fewer than the policy needs would be left UPTODATE; or, for an erasure-coded chunk, it is the last
     * UPTODATE parity column (the stripe master) while a data column is not UPTODATE. With every data
     * column UPTODATE the last parity column may go: writes then go to the data columns directly, and
     * the lowest parity column, when its server returns or on its replacement, is encoded from the data
     * columns by its chunk server (ParityBootstrap) and becomes the master again (docs/chunkserver.md,
     * "Writes with every parity column down").
     */
    static String lastCopyReason(Chunk chunk, int position, Policy policy) {
        int needed = policy.erasureCoded() ? policy.dataCount() : 1;
        int others = 0;
        for (int i = 0; i < chunk.chunklets().size(); i++) {
            ChunkletState state = chunk.chunklets().get(i).state();
            if (i != position && (state == ChunkletState.UPTODATE
                    || state == ChunkletState.MIGRATING)) {
                others++;
            }
        }
        if (others < needed) {
            return "policy " + policy.name() + " needs " + needed + " UPTODATE chunklet"
                    + (needed == 1 ? "" : "s") + " to keep the data and the others have " + others
                    + "; waiting for the chunk server with the last copy to come back";
        }
        if (policy.erasureCoded() && chunk.chunklets().get(position).role() == ChunkletRole.PARITY
                && !everyDataColumnUpToDate(chunk)) {
            // With a data column missing, the stripe master is what rebuilds it: keep the last one (seen,
            // before this rule: both parity columns OUTDATED after a stall, and the chunk could be
            // neither written, read through a master, nor recovered).
            for (int i = 0; i < chunk.chunklets().size(); i++) {
                Chunklet other = chunk.chunklets().get(i);
                if (i != position && other.role() == ChunkletRole.PARITY
                        && other.state() == ChunkletState.UPTODATE) {
                    return null;
                }
            }
            return "the last UPTODATE parity column of " + policy.name() + " is the chunk's stripe master,"
                    + " which writes and rebuilds need; waiting for its chunk server to come back";
        }
        return null;
    }

    private static boolean everyDataColumnUpToDate(Chunk chunk) {
        return chunk.chunklets().stream().filter(c -> c.role() == ChunkletRole.DATA)
                .allMatch(c -> c.state() == ChunkletState.UPTODATE);
    }

    /** Applies each item on its own; one outcome per item (docs/meta.md, "Recovery"). */
    static byte[] recoverChunklets(MetaRequest.RecoverChunklets r, Tx tx) {
        List<RecoverResult> results = new ArrayList<>(r.items().size());
        List<ChunkServer> servers = null;
        for (MetaRequest.RecoverItem item : r.items()) {
            if (servers == null) {
                servers = allCs(tx);
            }
            RecoverResult result = recoverOne(item, tx, servers);
            if (result.outcome() == Outcome.CHANGED) {
                // Allocation moved: read the servers again (through the overlay) next time.
                servers = null;
            }
            results.add(result);
        }
        return encode(out -> {
            out.i32(results.size());
            for (RecoverResult result : results) {
                result.encode(out);
            }
        });
    }

    static RecoverResult recoverOne(MetaRequest.RecoverItem item, Tx tx,
                                            List<ChunkServer> serversAtStart) {
        Chunk chunk = getChunkByUid(tx, item.chunkUid());
        if (chunk == null) {
            return new RecoverResult(Outcome.SKIPPED, 0, "chunk " + item.chunkUid() + " is gone");
        }
        if (chunk.version() != item.expectedVersion()) {
            return new RecoverResult(Outcome.SKIPPED, chunk.version(), "chunk " + chunk.uid()
                    + " is at version " + chunk.version() + ", not " + item.expectedVersion());
        }
        int position = positionOn(chunk, item.csId());
        if (position < 0) {
            return new RecoverResult(Outcome.SKIPPED, chunk.version(), "chunk " + chunk.uid()
                    + " has no chunklet on cs " + item.csId());
        }
        Chunklet chunklet = chunk.chunklets().get(position);
        ChunkServer holder = getCs(tx, item.csId());
        if (item.mode() == MetaRequest.RecoverChunklets.MODE_IN_PLACE) {
            if (chunklet.state() != ChunkletState.OUTDATED) {
                return new RecoverResult(Outcome.SKIPPED, chunk.version(), "chunklet "
                        + chunklet.index() + " on cs " + item.csId() + " is " + chunklet.state()
                        + ", not OUTDATED");
            }
            if (holder == null || (holder.status() != CsStatus.UP
                    && holder.status() != CsStatus.FULL)) {
                return new RecoverResult(Outcome.SKIPPED, chunk.version(), "cs " + item.csId()
                        + " is " + (holder == null ? "not registered" : holder.status())
                        + ", not UP or FULL");
            }
            Chunk updated = withChunklet(chunk, position,
                    chunklet.withState(ChunkletState.RECOVERING));
            putChunk(tx, updated, RecoveryTask.KIND_CATCH_UP);
            return new RecoverResult(Outcome.CHANGED, updated.version(), "");
        }
        Volume volume = getVolume(tx, chunk.volumeId());
        Policy policy = Policy.parse(volume.policyName());
        if (item.mode() == MetaRequest.RecoverChunklets.MODE_MIGRATE) {
            return migrate(item, tx, chunk, position, volume, policy, serversAtStart);
        }
        if (movePartner(chunk, position) >= 0) {
            // OUTDATE or REPLACE of either side of a move: its CS is away.
            Chunk updated = moveFailed(tx, chunk, position, policy,
                    policy.chunkletSizeBytes(volume.chunkSizeBytes()));
            return updated == null
                    ? new RecoverResult(Outcome.LAST_COPY, chunk.version(),
                            lastCopyReason(chunk, position, policy))
                    : new RecoverResult(Outcome.CHANGED, updated.version(), "");
        }
        if (item.mode() == MetaRequest.RecoverChunklets.MODE_OUTDATE
                && chunklet.state() == ChunkletState.OUTDATED) {
            return new RecoverResult(Outcome.SKIPPED, chunk.version(), "chunklet "
                    + chunklet.index() + " on cs " + item.csId() + " is OUTDATED already");
        }
        String lastCopy = lastCopyReason(chunk, position, policy);
        if (lastCopy != null) {
            return new RecoverResult(Outcome.LAST_COPY, chunk.version(), lastCopy);
        }
        if (item.mode() == MetaRequest.RecoverChunklets.MODE_OUTDATE) {
            Chunk updated = withChunklet(chunk, position,
                    chunklet.withState(ChunkletState.OUTDATED));
            putChunk(tx, updated);
            return new RecoverResult(Outcome.CHANGED, updated.version(), "");
        }
        long chunkletBytes = policy.chunkletSizeBytes(volume.chunkSizeBytes());
        Set<Integer> usedCs = excludedCs(tx, chunk, serversAtStart);
        Set<String> usedDomains = usedDomains(chunk, position, policy, serversAtStart);
        ChunkServer substitute;
        try {
            substitute = Placement.choose(serversAtStart, policy.name(), policy.failureDomain(),
                    1, chunkletBytes, usedCs, usedDomains).getFirst();
        } catch (PlacementException e) {
            if (chunklet.state() == ChunkletState.OUTDATED) {
                return new RecoverResult(Outcome.NO_PLACEMENT, chunk.version(), e.getMessage());
            }
            // No healthy domain left: keep the chunklet where it is, marked, until one comes back.
            Chunk updated = withChunklet(chunk, position,
                    chunklet.withState(ChunkletState.OUTDATED));
            putChunk(tx, updated);
            return new RecoverResult(Outcome.NO_PLACEMENT, updated.version(), e.getMessage());
        }
        Chunk updated = withChunklet(chunk, position, new Chunklet(chunklet.index(),
                substitute.id(), chunklet.role(), ChunkletState.RECOVERING));
        adjustAllocated(tx, substitute.id(), chunkletBytes);
        adjustAllocated(tx, chunklet.csId(), -chunkletBytes);
        putChunk(tx, updated, RecoveryTask.KIND_REBUILD);
        return new RecoverResult(Outcome.CHANGED, updated.version(), "");
    }

    /**
     * MIGRATE: moves the UPTODATE chunklet at {@code position} to the item's target (or, with
     * target 0, to the CS placement chooses: excluding every CS of the chunk and the failure
     * domains of the other chunklets). Replicated: the source becomes MIGRATING and stays (it
     * serves reads and takes writes) and a RECOVERING chunklet with the same index is appended
     * for the target, so the chunk keeps its full redundancy during the copy; RECOVERY_DONE of
     * the target ends the move. Erasure-coded: a column has one address in a stripe's layout,
     * so the move is a REPLACE (under the last-copy rule): the column is rebuilt on the target
     * and the chunk has one column less of redundancy until it is done. The source must be
     * UPTODATE and the chunk in no other move; no target: NO_PLACEMENT, nothing changes.
     */
    static RecoverResult migrate(MetaRequest.RecoverItem item, Tx tx, Chunk chunk,
                                         int position, Volume volume, Policy policy,
                                         List<ChunkServer> serversAtStart) {
        Chunklet chunklet = chunk.chunklets().get(position);
        if (chunklet.state() != ChunkletState.UPTODATE) {
            return new RecoverResult(Outcome.SKIPPED, chunk.version(), "chunklet "
                    + chunklet.index() + " on cs " + item.csId() + " is " + chunklet.state()
                    + ", not UPTODATE");
        }
        for (Chunklet other : chunk.chunklets()) {
            if (other.state() == ChunkletState.MIGRATING) {
                return new RecoverResult(Outcome.SKIPPED, chunk.version(), "chunk " + chunk.uid()
                        + " is moving chunklet " + other.index() + " already");
            }
        }
        long chunkletBytes = policy.chunkletSizeBytes(volume.chunkSizeBytes());
        Set<Integer> usedCs = excludedCs(tx, chunk, serversAtStart);
        Set<String> usedDomains = usedDomains(chunk, position, policy, serversAtStart);
        ChunkServer target;
        if (item.targetCsId() != 0) {
            target = null;
            for (ChunkServer server : serversAtStart) {
                if (server.id() == item.targetCsId()) {
                    target = server;
                }
            }
            String unfit = target == null ? "is not registered"
                    : target.status() != CsStatus.UP ? "is " + target.status() + ", not UP"
                    : usedCs.contains(target.id()) ? "holds (or held) a chunklet of the chunk"
                    : usedDomains.contains(policy.failureDomain().domainOf(target))
                            ? "is in " + policy.failureDomain().domainOf(target)
                            + ", a failure domain of another chunklet"
                    : target.freeBytes() < chunkletBytes ? "has " + Units.formatBytes(
                            target.freeBytes()) + " free, needs "
                            + Units.formatBytes(chunkletBytes)
                    : null;
            if (unfit != null) {
                return new RecoverResult(Outcome.NO_PLACEMENT, chunk.version(), "target cs "
                        + item.targetCsId() + " " + unfit);
            }
        } else {
            try {
                target = Placement.choose(serversAtStart, policy.name(), policy.failureDomain(),
                        1, chunkletBytes, usedCs, usedDomains).getFirst();
            } catch (PlacementException e) {
                return new RecoverResult(Outcome.NO_PLACEMENT, chunk.version(), e.getMessage());
            }
        }
        Chunk updated;
        if (policy.erasureCoded()) {
            String lastCopy = lastCopyReason(chunk, position, policy);
            if (lastCopy != null) {
                return new RecoverResult(Outcome.LAST_COPY, chunk.version(), lastCopy);
            }
            updated = withChunklet(chunk, position, new Chunklet(chunklet.index(), target.id(),
                    chunklet.role(), ChunkletState.RECOVERING));
            adjustAllocated(tx, chunklet.csId(), -chunkletBytes);
        } else {
            List<Chunklet> chunklets = new ArrayList<>(chunk.chunklets());
            chunklets.set(position, chunklet.withState(ChunkletState.MIGRATING));
            chunklets.add(new Chunklet(chunklet.index(), target.id(), chunklet.role(),
                    ChunkletState.RECOVERING));
            updated = chunk.withVersionAndChunklets(chunk.version() + 1, chunklets);
        }
        adjustAllocated(tx, target.id(), chunkletBytes);
        putChunk(tx, updated, RecoveryTask.KIND_REBUILD);
        return new RecoverResult(Outcome.CHANGED, updated.version(), "");
    }

    /**
     * A chunk server filled its RECOVERING chunklet: it becomes UPTODATE (version + 1) if that
     * recovery is still the current one (same CS, same startVersion); else STALE_VERSION.
     */
    static byte[] recoveryDone(MetaRequest.RecoveryDone r, Tx tx) {
        byte[] refused = CsHolders.refusal(CsHolders.bound(tx, r.csId()), r.csId(), r.holder(),
                "recovery report");
        if (refused != null) {
            return refused;
        }
        Chunk chunk = getChunkByUid(tx, r.chunkUid());
        String stale = "recovery of chunk " + r.chunkUid() + " on cs " + r.csId()
                + " is no longer current (";
        if (chunk == null) {
            return MetaReply.error(MetaError.STALE_VERSION, stale + "the chunk is gone)");
        }
        int position = positionOn(chunk, r.csId());
        if (position < 0 || chunk.chunklets().get(position).state() != ChunkletState.RECOVERING) {
            return MetaReply.error(MetaError.STALE_VERSION, stale + (position < 0
                    ? "the chunk has no chunklet on that cs now"
                    : "the chunklet is " + chunk.chunklets().get(position).state()) + ")");
        }
        RecoveryIndex.Record record = RecoveryIndex.get(tx, r.csId(), r.chunkUid());
        if (record == null || record.startVersion() != r.startVersion()) {
            return MetaReply.error(MetaError.STALE_VERSION, stale + "the current recovery started"
                    + " at version " + (record == null ? "?" : record.startVersion()) + ", not "
                    + r.startVersion() + ")");
        }
        Chunklet chunklet = chunk.chunklets().get(position);
        int source = movePartner(chunk, position);
        Chunk updated;
        if (source >= 0) {
            // The end of a move: the target takes over, the source's copy goes.
            List<Chunklet> chunklets = new ArrayList<>(chunk.chunklets());
            chunklets.set(position, chunklet.withState(ChunkletState.UPTODATE));
            Chunklet moved = chunklets.remove(source);
            updated = chunk.withVersionAndChunklets(chunk.version() + 1, chunklets);
            Volume volume = getVolume(tx, chunk.volumeId());
            adjustAllocated(tx, moved.csId(), -Policy.parse(volume.policyName())
                    .chunkletSizeBytes(volume.chunkSizeBytes()));
            LOG.info("chunk {} chunklet {} moved from cs {} to cs {}", chunk.uid(),
                    chunklet.index(), moved.csId(), r.csId());
        } else {
            updated = withChunklet(chunk, position, chunklet.withState(ChunkletState.UPTODATE));
        }
        putChunk(tx, updated);
        LOG.info("chunk {} chunklet {} on cs {} recovered ({}, started at version {})",
                chunk.uid(), chunklet.index(), r.csId(), RecoveryIndex.kindName(record.kind()),
                record.startVersion());
        return encode(updated::encode);
    }

    // ---------------------------------------------------------------------------------------
    // Reads for chunk servers

    /** Chunk {@code chunkUid}'s map with its policy and peers (kind 0: not a recovery), or null. */
    static RecoveryTask chunkMap(MetaStore store, long chunkUid) {
        byte[] location = store.get(Table.CHUNK_UID, Keys.u64(chunkUid));
        if (location == null) {
            return null;
        }
        byte[] chunkBytes = store.get(Table.CHUNK, location);
        byte[] volumeBytes = store.get(Table.VOLUME, Keys.u64(Keys.readU64(location, 0)));
        if (chunkBytes == null || volumeBytes == null) {
            return null;
        }
        Chunk chunk = Chunk.decode(new WireReader(chunkBytes));
        Volume volume = Volume.decode(new WireReader(volumeBytes));
        Policy policy = Policy.parse(volume.policyName());
        return new RecoveryTask(chunk, chunk.version(), 0, policy.name(),
                policy.chunkletSizeBytes(volume.chunkSizeBytes()), peersOf(allCs(store), chunk));
    }

    /** Where each chunk server holding a chunklet of {@code chunk} is, in chunklet order. */
    static List<RecoveryTask.Peer> peersOf(List<ChunkServer> servers, Chunk chunk) {
        List<RecoveryTask.Peer> peers = new ArrayList<>();
        for (Chunklet chunklet : chunk.chunklets()) {
            for (ChunkServer server : servers) {
                if (server.id() == chunklet.csId()) {
                    peers.add(new RecoveryTask.Peer(server.id(), server.address(), server.status().code));
                }
            }
        }
        return peers;
    }


    /** The RECOVERING chunklets on {@code csId} after {@code afterChunkUid}, as tasks. */
    static List<RecoveryTask> recoveryTasks(MetaStore store, int csId, long afterChunkUid,
                                            int limit) {
        List<RecoveryTask> tasks = new ArrayList<>();
        List<ChunkServer> servers = null;
        for (RecoveryIndex.Record record : RecoveryIndex.of(store, csId, afterChunkUid, limit)) {
            byte[] chunkBytes = store.get(Table.CHUNK, Keys.u64u64(record.volumeId(),
                    record.chunkIndex()));
            byte[] volumeBytes = store.get(Table.VOLUME, Keys.u64(record.volumeId()));
            if (chunkBytes == null || volumeBytes == null) {
                throw new IllegalStateException("recovery record of chunk " + record.chunkUid()
                        + " on cs " + csId + " points at volume " + record.volumeId() + " index "
                        + record.chunkIndex() + ", which does not exist");
            }
            Chunk chunk = Chunk.decode(new WireReader(chunkBytes));
            Volume volume = Volume.decode(new WireReader(volumeBytes));
            Policy policy = Policy.parse(volume.policyName());
            if (servers == null) {
                servers = allCs(store);
            }
            tasks.add(new RecoveryTask(chunk, record.startVersion(), record.kind(),
                    policy.name(), policy.chunkletSizeBytes(volume.chunkSizeBytes()),
                    peersOf(servers, chunk)));
        }
        return tasks;
    }
}
