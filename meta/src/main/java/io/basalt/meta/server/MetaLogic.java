package io.basalt.meta.server;

import io.basalt.common.Units;
import io.basalt.meta.api.CsChunkVersion;
import io.basalt.meta.api.MetaError;
import io.basalt.meta.api.MetaReply;
import io.basalt.meta.api.MetaRequest;
import io.basalt.meta.api.MetaRequestForm;
import io.basalt.meta.api.ObjectRequest;
import io.basalt.meta.api.RecoveryTask;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;
import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.ChunkServer;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.ChunkletRole;
import io.basalt.meta.model.ChunkletState;
import io.basalt.meta.model.CsStatus;
import io.basalt.meta.model.Lease;
import io.basalt.meta.model.Policy;
import io.basalt.meta.model.Volume;
import io.basalt.meta.model.VolumeQos;
import io.basalt.meta.placement.Placement;
import io.basalt.meta.placement.Placement.PlacementException;
import io.basalt.meta.store.Keys;
import io.basalt.meta.store.MetaStore;
import io.basalt.meta.store.MetaStore.Table;
import io.basalt.meta.store.Tx;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The meta state transitions, separate from Ratis so they can be tested and replayed alone.
 *
 * <p>Design note. {@link #apply} is deterministic: its only inputs are the request, the entry
 * context the leader stamped into the log entry ({@link EntryContext}: the leader's wall-clock
 * time and the cluster default chunk size) and the RocksDB state; it reads no clock, no random
 * source, no network, and iterates only sorted data. A refusal (bad name, unknown volume, no
 * placement) is an ordinary {@link MetaReply} with an error and writes nothing but what the
 * caller adds ({@code lastApplied}).
 */
public final class MetaLogic {
    private static final Logger LOG = LoggerFactory.getLogger(MetaLogic.class);

    /** What the leader stamped into a log entry; identical on every member. */
    public record EntryContext(long timeMillis, long defaultChunkSizeBytes) {}

    private MetaLogic() {}

    /** The cluster default chunk size rounded down to whole stripes of {@code policy}. */
    static long defaultChunkSize(long defaultChunkSizeBytes, Policy policy) {
        long stripeBytes = policy.stripeBytes();
        return Math.max(stripeBytes, defaultChunkSizeBytes / stripeBytes * stripeBytes);
    }

    // ---------------------------------------------------------------------------------------
    // Writes

    /** Applies a write request; returns the encoded reply. All changes go into {@code tx}. */
    public static byte[] apply(MetaRequest request, EntryContext context, Tx tx) {
        String formError = MetaRequestForm.checkForm(request);
        if (formError != null) {
            return MetaReply.error(MetaError.INVALID, formError);
        }
        return switch (request) {
            case MetaRequest.RegisterCs r -> registerCs(r, tx);
            case MetaRequest.SetCsStatus r -> setCsStatus(r, tx);
            case MetaRequest.CreateVolume r -> createVolume(r, context, tx);
            case MetaRequest.ResizeVolume r -> resizeVolume(r, tx);
            case MetaRequest.SetVolumeQos r -> setVolumeQos(r, tx);
            case MetaRequest.SetVolumeFeatures r -> setVolumeFeatures(r, tx);
            case MetaRequest.DeleteVolume r -> deleteVolume(r, context, tx);
            case MetaRequest.AllocateChunk r -> allocateChunk(r, tx);
            case MetaRequest.ReportFailure r -> RecoveryLogic.reportFailure(r, tx);
            case MetaRequest.AcquireLease r -> acquireLease(r, context, tx);
            case MetaRequest.ReleaseLease r -> releaseLease(r, tx);
            case MetaRequest.NewLeaderEpoch r -> newLeaderEpoch(context, tx);
            case MetaRequest.InitClusterId r -> initClusterId(r, tx);
            case MetaRequest.RecoverChunklets r -> RecoveryLogic.recoverChunklets(r, tx);
            case MetaRequest.RecoveryDone r -> RecoveryLogic.recoveryDone(r, tx);
            case MetaRequest.DrainCs r -> drainCs(r, tx);
            case MetaRequest.RemoveCs r -> removeCs(r, tx);
            case MetaRequest.CollectTombstones r -> encode(out -> out.i32(
                    CsVersionIndex.collect(tx, r.csId(), r.changeSeqs())));
            case MetaRequest.CreateSnapshot r -> VolumeSnapshotLogic.createSnapshot(r, context, tx);
            case MetaRequest.DeleteSnapshot r -> VolumeSnapshotLogic.deleteSnapshot(r, tx);
            case MetaRequest.RollbackVolume r -> VolumeSnapshotLogic.rollbackVolume(r, context, tx);
            case MetaRequest.CloneVolume r -> VolumeSnapshotLogic.cloneVolume(r, context, tx);
            case MetaRequest.DetachParent r -> VolumeSnapshotLogic.detachParent(r, tx);
            case MetaRequest.SetFlatten r -> VolumeSnapshotLogic.setFlatten(r, context, tx);
            case ObjectRequest r -> ObjectLogic.apply(r, context, tx);
            default -> MetaReply.error(MetaError.INVALID,
                    request.op() + " is a read; it does not go through the log");
        };
    }

    static byte[] readThroughLog(MetaRequest request) {
        return MetaReply.error(MetaError.INVALID,
                request.op() + " is a read; it does not go through the log");
    }

    static byte[] writeNotRead(MetaRequest request) {
        return MetaReply.error(MetaError.INVALID, request.op() + " is not a plain read");
    }

    static byte[] encode(Consumer<WireWriter> body) {
        WireWriter out = new WireWriter();
        body.accept(out);
        return MetaReply.ok(out);
    }

    static long nextCounter(Tx tx, byte[] key) {
        byte[] current = tx.get(Table.META, key);
        long value = current == null ? 1 : Keys.readU64(current, 0);
        tx.put(Table.META, key, Keys.u64(value + 1));
        return value;
    }

    private static byte[] registerCs(MetaRequest.RegisterCs r, Tx tx) {
        ChunkServer server;
        if (r.csId() == 0) {
            int id = Math.toIntExact(nextCounter(tx, Keys.NEXT_CS_ID));
            server = new ChunkServer(id, r.address(), r.host(), r.zone(), r.capacityBytes(), 0,
                    CsStatus.UP, r.softwareVersion());
        } else {
            ChunkServer known = getCs(tx, r.csId());
            if (known == null && tx.get(Table.META, removedCsKey(r.csId())) != null) {
                return MetaReply.error(MetaError.NOT_FOUND, "chunk server " + r.csId()
                        + " was removed from the cluster (basalt cs remove " + r.csId()
                        + ") and its id is never given again; to add this disk back, empty its"
                        + " data directory and start it as a new chunk server");
            }
            if (known == null) {
                return MetaReply.error(MetaError.NOT_FOUND, "chunk server " + r.csId()
                        + " is not registered; register with id 0 to get a new id");
            }
            byte[] refused = CsHolders.refusal(CsHolders.bound(tx, r.csId()), r.csId(), r.holder(),
                    "registration");
            if (refused != null) {
                return refused;
            }
            server = new ChunkServer(known.id(), r.address(), r.host(), r.zone(), r.capacityBytes(),
                    known.allocatedBytes(), known.status() == CsStatus.DRAINING
                            ? CsStatus.DRAINING : CsStatus.UP, r.softwareVersion());
        }
        putCs(tx, server);
        CsHolders.bind(tx, server.id(), r.holder());
        return encode(server::encode);
    }

    private static byte[] setCsStatus(MetaRequest.SetCsStatus r, Tx tx) {
        ChunkServer server = getCs(tx, r.csId());
        if (server == null) {
            return MetaReply.error(MetaError.NOT_FOUND, "chunk server " + r.csId()
                    + " is not registered; see: basalt cs list");
        }
        CsStatus expected = CsStatus.ofCode(r.expectedStatusCode());
        if (server.status() != expected) {
            return MetaReply.error(MetaError.STALE_VERSION, "chunk server " + r.csId() + " is "
                    + server.status() + ", not " + expected);
        }
        ChunkServer updated = server.withStatus(CsStatus.ofCode(r.newStatusCode()));
        putCs(tx, updated);
        return encode(updated::encode);
    }

    /** META key marking a removed chunk server id: {@code "removedCs/" | u32 csId}. */
    static byte[] removedCsKey(int csId) {
        return Keys.asciiU32("removedCs/", csId);
    }

    static byte[] csNotRegistered(int csId) {
        return MetaReply.error(MetaError.NOT_FOUND, "cs " + csId
                + " is not registered; see: basalt cs list");
    }

    /**
     * Admin drain: UP or FULL -> DRAINING (placement gives it nothing new, the watchdog leaves it
     * alone, the recoverer moves its chunklets away); DRAINING again is a no-op. Cancel:
     * DRAINING -> UP (moves under way finish; the watchdog makes it FULL again if its disk is).
     * A server that is UNHEALTHY or DOWN is refused: the recoverer already rebuilds its chunklets
     * elsewhere, and draining it would turn a rebuild into moves from a server that is away.
     */
    private static byte[] drainCs(MetaRequest.DrainCs r, Tx tx) {
        ChunkServer server = getCs(tx, r.csId());
        if (server == null) {
            return csNotRegistered(r.csId());
        }
        ChunkServer updated;
        if (r.cancel()) {
            if (server.status() != CsStatus.DRAINING) {
                return MetaReply.error(MetaError.INVALID, "cs " + r.csId() + " is "
                        + server.status() + ", not DRAINING; nothing to cancel");
            }
            updated = server.withStatus(CsStatus.UP);
        } else if (server.status() == CsStatus.DRAINING) {
            return encode(server::encode);
        } else if (server.status() != CsStatus.UP && server.status() != CsStatus.FULL) {
            return MetaReply.error(MetaError.INVALID, "cs " + r.csId() + " is "
                    + server.status() + ": the recoverer rebuilds its chunklets elsewhere by"
                    + " itself; once it holds none: basalt cs remove " + r.csId());
        } else {
            updated = server.withStatus(CsStatus.DRAINING);
        }
        putCs(tx, updated);
        LOG.info("cs {}: {} -> {} (admin)", r.csId(), server.status(), updated.status());
        return encode(updated::encode);
    }

    /**
     * Admin remove: forgets a chunk server that holds no chunklet (drained, or lost and rebuilt
     * elsewhere): its record and its version index go, and a marker keeps its id from
     * registering again (ids come from a counter, so it is never given out again either).
     */
    private static byte[] removeCs(MetaRequest.RemoveCs r, Tx tx) {
        ChunkServer server = getCs(tx, r.csId());
        if (server == null) {
            return csNotRegistered(r.csId());
        }
        long held = CsVersionIndex.liveCount(tx.store(), r.csId(), Long.MAX_VALUE);
        if (held > 0) {
            String fix = switch (server.status()) {
                case DRAINING -> "its drain is under way; see: basalt cs list";
                case UP, FULL -> "drain it first: basalt cs drain " + r.csId();
                default -> "the recoverer rebuilds them elsewhere; see: basalt status";
            };
            return MetaReply.error(MetaError.INVALID, "cs " + r.csId() + " still holds " + held
                    + " chunklet" + (held == 1 ? "" : "s") + "; " + fix);
        }
        tx.delete(Table.CS, Keys.u32(r.csId()));
        tx.put(Table.META, removedCsKey(r.csId()), Keys.u64(server.capacityBytes()));
        CsVersionIndex.forget(tx, r.csId());
        LOG.info("cs {} ({}, host {}) removed", r.csId(), server.address(), server.host());
        return encode(server::encode);
    }

    private static byte[] createVolume(MetaRequest.CreateVolume r, EntryContext context, Tx tx) {
        if (tx.get(Table.VOLUME_NAME, Keys.ascii(r.name())) != null) {
            return MetaReply.error(MetaError.ALREADY_EXISTS, "volume \"" + r.name()
                    + "\" already exists; choose another name or see: basalt volume info "
                    + r.name());
        }
        Policy policy = Policy.parse(r.policy());
        String featureError = featureError(r.name(), policy, r.features());
        if (featureError != null) {
            return MetaReply.error(MetaError.INVALID, featureError);
        }
        long chunkSizeBytes = r.chunkSizeBytes() != 0 ? r.chunkSizeBytes()
                : defaultChunkSize(context.defaultChunkSizeBytes(), policy);
        String chunkError = MetaRequestForm.checkChunkSize(chunkSizeBytes, policy.name());
        if (chunkError != null) {
            return MetaReply.error(MetaError.INVALID, chunkError);
        }
        byte[] unplaceable = placementError(tx, policy, chunkSizeBytes);
        if (unplaceable != null) {
            return unplaceable;
        }
        Volume volume = insertVolume(tx, r.name(), r.sizeBytes(), policy, chunkSizeBytes,
                context.timeMillis());
        if (!r.qos().equals(VolumeQos.NONE) || r.features() != 0) {
            volume = volume.withQos(r.qos()).withFeatures(r.features());
            putVolume(tx, volume);
        }
        return encode(volume::encode);
    }

    /** Why a volume of {@code policy} cannot have {@code features}, or null. */
    private static String featureError(String name, Policy policy, int features) {
        if ((features & Volume.FEATURE_HOT_TIER) != 0 && !policy.erasureCoded()) {
            return "volume \"" + name + "\" is " + policy.name() + ": the hot tier is for erasure-coded"
                    + " volumes (replicated writes are already at replica speed)";
        }
        return null;
    }

    private static byte[] setVolumeFeatures(MetaRequest.SetVolumeFeatures r, Tx tx) {
        Volume volume = getVolumeByName(tx, r.name());
        if (volume == null) {
            return notFound(r.name());
        }
        if (volume.isSnapshot()) {
            return MetaReply.error(MetaError.INVALID, "\"" + r.name() + "\" is a snapshot: it takes no"
                    + " writes, so it has no write features");
        }
        int features = (volume.features() | r.set()) & ~r.clear();
        String featureError = featureError(r.name(), Policy.parse(volume.policyName()), features);
        if (featureError != null) {
            return MetaReply.error(MetaError.INVALID, featureError);
        }
        Volume changed = volume.withFeatures(features);
        putVolume(tx, changed);
        return encode(changed::encode);
    }

    /**
     * Null if a chunk of a volume of {@code policy} could be placed now, else the NO_PLACEMENT
     * reply: a volume is refused at creation what could never be placed, rather than on its
     * first write.
     */
    static byte[] placementError(Tx tx, Policy policy, long chunkSizeBytes) {
        try {
            Placement.chooseForNewChunk(allCs(tx.store()), policy.name(), policy.failureDomain(),
                    policy.width(), policy.minLiveAtCreate(),
                    policy.chunkletSizeBytes(chunkSizeBytes));
            return null;
        } catch (PlacementException e) {
            return MetaReply.error(MetaError.NO_PLACEMENT, e.getMessage());
        }
    }

    /**
     * Writes a new volume; the caller checked the name is free, the sizes and placement. Also
     * the internal volumes (object logs), whose names a user's request could not carry.
     */
    static Volume insertVolume(Tx tx, String name, long sizeBytes, Policy policy,
                               long chunkSizeBytes, long createdMillis) {
        if (tx.get(Table.POLICY, Keys.ascii(policy.name())) == null) {
            WireWriter out = new WireWriter();
            policy.encode(out);
            tx.put(Table.POLICY, Keys.ascii(policy.name()), out.toByteArray());
        }
        long id = nextCounter(tx, Keys.NEXT_VOLUME_ID);
        Volume volume = new Volume(id, name, sizeBytes, Volume.BLOCK_SIZE_BYTES, policy.name(),
                chunkSizeBytes, 0, createdMillis);
        putVolume(tx, volume);
        tx.put(Table.VOLUME_NAME, Keys.ascii(name), Keys.u64(id));
        return volume;
    }

    /** Names starting with '.' are internal volumes (object logs): hidden from listings. */
    static boolean internalVolume(String name) {
        return name.startsWith(".");
    }

    private static byte[] resizeVolume(MetaRequest.ResizeVolume r, Tx tx) {
        Volume volume = getVolumeByName(tx, r.name());
        if (volume == null) {
            return notFound(r.name());
        }
        if (r.sizeBytes() < volume.sizeBytes()) {
            if (volume.parentId() != 0) {
                // The blocks past the new end would read through to the parent layer again
                // after a later grow, instead of staying discarded.
                return MetaReply.error(MetaError.INVALID, "volume \"" + r.name()
                        + "\" has snapshots or is a clone; shrinking it is not supported yet"
                        + " (growing is)");
            }
            if (!r.allowShrink()) {
                return MetaReply.error(MetaError.INVALID, "shrinking volume \"" + r.name()
                        + "\" from " + Units.formatBytes(volume.sizeBytes()) + " to "
                        + Units.formatBytes(r.sizeBytes())
                        + " discards the data beyond the new end; pass --shrink to confirm");
            }
            Volume shrunk = volume.withSize(r.sizeBytes());
            long removed = 0;
            for (Chunk chunk : chunksOf(tx.store(), volume.id())) {
                if (chunk.index() >= shrunk.chunkSlots()) {
                    removeChunk(tx, volume, chunk);
                    removed++;
                }
            }
            shrunk = shrunk.withChunkCount(volume.chunkCount() - removed);
            putVolume(tx, shrunk);
            return encode(shrunk::encode);
        }
        Volume grown = volume.withSize(r.sizeBytes());
        putVolume(tx, grown);
        return encode(grown::encode);
    }

    private static byte[] setVolumeQos(MetaRequest.SetVolumeQos r, Tx tx) {
        Volume volume = getVolumeByName(tx, r.name());
        if (volume == null) {
            return notFound(r.name());
        }
        Volume changed = volume.withQos(volume.qos().merge(r.change()));
        putVolume(tx, changed);
        return encode(changed::encode);
    }

    private static byte[] deleteVolume(MetaRequest.DeleteVolume r, EntryContext context, Tx tx) {
        Volume volume = getVolumeByName(tx, r.name());
        if (volume == null) {
            return notFound(r.name());
        }
        byte[] leaseBytes = tx.get(Table.LEASE, Keys.u64(volume.id()));
        Lease lease = leaseBytes == null ? null : Lease.decode(new WireReader(leaseBytes));
        if (!r.force() && lease != null && lease.activeAt(context.timeMillis())) {
            // In use: a gateway is serving it. Deleting now would fail that client's I/O.
            return MetaReply.error(MetaError.LEASE_HELD, "volume \"" + volume.name()
                    + "\" is in use by client " + lease.clientId() + " (lease until "
                    + Instant.ofEpochMilli(lease.expiryMillis())
                    + "); disconnect it first, or pass --force to delete it anyway");
        }
        byte[] hasSnapshots = VolumeSnapshotLogic.refuseDeleteWithSnapshots(tx.store(), volume);
        if (hasSnapshots != null) {
            return hasSnapshots;
        }
        for (Chunk chunk : chunksOf(tx.store(), volume.id())) {
            removeChunk(tx, volume, chunk);
        }
        tx.delete(Table.LEASE, Keys.u64(volume.id()));
        tx.delete(Table.FLATTEN, Keys.u64(volume.id()));
        tx.delete(Table.VOLUME, Keys.u64(volume.id()));
        tx.delete(Table.VOLUME_NAME, Keys.ascii(volume.name()));
        VolumeSnapshotLogic.collectOrphans(tx);
        return encode(volume::encode);
    }

    static void removeChunk(Tx tx, Volume volume, Chunk chunk) {
        long chunkletBytes = Policy.parse(volume.policyName())
                .chunkletSizeBytes(volume.chunkSizeBytes());
        for (Chunklet chunklet : chunk.chunklets()) {
            adjustAllocated(tx, chunklet.csId(), -chunkletBytes);
        }
        tx.delete(Table.CHUNK, Keys.u64u64(chunk.volumeId(), chunk.index()));
        tx.delete(Table.CHUNK_UID, Keys.u64(chunk.uid()));
        CsVersionIndex.chunkChanged(tx, chunk, null);
        RecoveryIndex.chunkChanged(tx, chunk, null, RecoveryTask.KIND_REBUILD);
    }

    private static byte[] allocateChunk(MetaRequest.AllocateChunk r, Tx tx) {
        Volume volume = getVolume(tx, r.volumeId());
        if (volume == null) {
            return MetaReply.error(MetaError.NOT_FOUND, "volume id " + r.volumeId()
                    + " not found; see: basalt volume list");
        }
        if (volume.isSnapshot()) {
            return MetaReply.error(MetaError.INVALID, "\"" + volume.name()
                    + "\" is a snapshot: read-only; clone it to write: basalt volume clone "
                    + volume.name() + " NEW-NAME");
        }
        if (r.index() >= volume.chunkSlots()) {
            return MetaReply.error(MetaError.INVALID, "chunk index " + r.index()
                    + " is past the end of volume \"" + volume.name() + "\" ("
                    + volume.chunkSlots() + " chunks of " + Units.formatBytes(volume.chunkSizeBytes())
                    + ")");
        }
        Chunk existing = getChunk(tx, r.volumeId(), r.index());
        if (existing != null) {
            // Two writers raced to the first write; the second gets the first one's chunk.
            return encode(existing::encode);
        }
        Policy policy = Policy.parse(volume.policyName());
        long chunkletBytes = policy.chunkletSizeBytes(volume.chunkSizeBytes());
        Placement.NewChunkPlacement placement;
        try {
            placement = Placement.chooseForNewChunk(allCs(tx.store()), policy.name(),
                    policy.failureDomain(), policy.width(), policy.minLiveAtCreate(),
                    chunkletBytes);
        } catch (PlacementException e) {
            return MetaReply.error(MetaError.NO_PLACEMENT, e.getMessage());
        }
        // Live chunklets first, so a missing one is a parity column (reads need no decoding)
        // or a last replica; the recoverer catches it up or rebuilds it like any OUTDATED one.
        // The live ones rotated by the chunk's index in its volume (plus the volume's id): placement
        // lists them emptiest first, and on servers filling evenly (every ecK+M chunk on exactly k+m
        // servers; repN on N) that order never changes, so chunklet 0 (the replicated primary) and
        // column k (the EC stripe master, which runs every write's two-phase commit) would land on
        // one server for every chunk. A volume's consecutive chunks take each role in turn.
        List<ChunkServer> chosen = new ArrayList<>(placement.live());
        java.util.Collections.rotate(chosen, (int) Math.floorMod(r.index() + volume.id(),
                (long) Math.max(1, chosen.size())));
        chosen.addAll(placement.absent());
        List<Chunklet> chunklets = new ArrayList<>(chosen.size());
        for (int i = 0; i < chosen.size(); i++) {
            ChunkletRole role = !policy.erasureCoded() ? ChunkletRole.REPLICA
                    : i < policy.dataCount() ? ChunkletRole.DATA : ChunkletRole.PARITY;
            chunklets.add(new Chunklet(i, chosen.get(i).id(), role,
                    i < placement.live().size() ? ChunkletState.UPTODATE : ChunkletState.OUTDATED));
            adjustAllocated(tx, chosen.get(i).id(), chunkletBytes);
        }
        long uid = nextCounter(tx, Keys.NEXT_CHUNK_UID);
        Chunk chunk = new Chunk(uid, volume.id(), r.index(), 1, chunklets);
        putChunk(tx, chunk);
        tx.put(Table.CHUNK_UID, Keys.u64(uid), Keys.u64u64(volume.id(), r.index()));
        putVolume(tx, volume.withChunkCount(volume.chunkCount() + 1));
        return encode(chunk::encode);
    }


    private static byte[] acquireLease(MetaRequest.AcquireLease r, EntryContext context, Tx tx) {
        Volume volume = getVolume(tx, r.volumeId());
        if (volume == null) {
            return MetaReply.error(MetaError.NOT_FOUND, "volume id " + r.volumeId()
                    + " not found; see: basalt volume list");
        }
        if (volume.isSnapshot()) {
            return MetaReply.error(MetaError.INVALID, "\"" + volume.name()
                    + "\" is a snapshot: read-only; clone it to write: basalt volume clone "
                    + volume.name() + " NEW-NAME");
        }
        byte[] current = tx.get(Table.LEASE, Keys.u64(r.volumeId()));
        Lease held = current == null ? null : Lease.decode(new WireReader(current));
        if (held != null && held.activeAt(context.timeMillis())
                && !held.clientId().equals(r.clientId())) {
            return MetaReply.error(MetaError.LEASE_HELD, "volume \"" + volume.name()
                    + "\" is leased by client " + held.clientId() + " until "
                    + Instant.ofEpochMilli(held.expiryMillis())
                    + "; stop that client or wait for its lease to expire");
        }
        Lease lease = new Lease(r.volumeId(), r.clientId(), context.timeMillis() + r.durationMillis());
        WireWriter out = new WireWriter();
        lease.encode(out);
        tx.put(Table.LEASE, Keys.u64(r.volumeId()), out.toByteArray());
        if (held == null || !held.clientId().equals(r.clientId())) {
            // The lease moved: fence every chunk so the previous holder's writes are refused.
            bumpVersions(tx, volume.id());
        }
        return encode(lease::encode);
    }

    private static byte[] releaseLease(MetaRequest.ReleaseLease r, Tx tx) {
        byte[] current = tx.get(Table.LEASE, Keys.u64(r.volumeId()));
        if (current != null && Lease.decode(new WireReader(current)).clientId().equals(r.clientId())) {
            tx.delete(Table.LEASE, Keys.u64(r.volumeId()));
        }
        return MetaReply.ok(new byte[0]);
    }

    /** First applied wins: later proposals (another client's race, a retry) get the id in force. */
    private static byte[] initClusterId(MetaRequest.InitClusterId r, Tx tx) {
        byte[] current = tx.get(Table.META, Keys.CLUSTER_ID);
        if (current == null) {
            current = Keys.u64u64(r.clusterId().getMostSignificantBits(),
                    r.clusterId().getLeastSignificantBits());
            tx.put(Table.META, Keys.CLUSTER_ID, current);
        }
        byte[] value = current;
        return encode(out -> out.bytes(value));
    }

    private static byte[] newLeaderEpoch(EntryContext context, Tx tx) {
        long bumped = 0;
        for (MetaStore.Entry entry : tx.store().scan(Table.LEASE, new byte[0])) {
            Lease lease = Lease.decode(new WireReader(entry.value()));
            if (lease.activeAt(context.timeMillis())) {
                bumped += bumpVersions(tx, lease.volumeId());
            }
        }
        long count = bumped;
        return encode(out -> out.i64(count));
    }

    static long bumpVersions(Tx tx, long volumeId) {
        long count = 0;
        for (Chunk chunk : chunksOf(tx.store(), volumeId)) {
            Chunk current = getChunk(tx, volumeId, chunk.index());
            putChunk(tx, current.withVersionAndChunklets(current.version() + 1, current.chunklets()));
            count++;
        }
        return count;
    }

    static void adjustAllocated(Tx tx, int csId, long deltaBytes) {
        ChunkServer server = getCs(tx, csId);
        if (server != null) {
            putCs(tx, server.withAllocatedBytes(Math.max(0, server.allocatedBytes() + deltaBytes)));
        }
    }

    static byte[] notFound(String name) {
        return MetaReply.error(MetaError.NOT_FOUND, "volume \"" + name
                + "\" not found; see: basalt volume list");
    }

    // ---------------------------------------------------------------------------------------
    // Reads (served on the leader after ReadIndex; soft-state reads live in the state machine)

    public static byte[] read(MetaRequest request, MetaStore store) {
        String formError = MetaRequestForm.checkForm(request);
        if (formError != null) {
            return MetaReply.error(MetaError.INVALID, formError);
        }
        return switch (request) {
            case MetaRequest.GetVolume r -> {
                Volume volume = getVolumeByName(store, r.name());
                yield volume == null ? notFound(r.name()) : encode(volume::encode);
            }
            case MetaRequest.ListVolumes r -> {
                List<Volume> volumes = new ArrayList<>();
                for (MetaStore.Entry entry : store.scan(Table.VOLUME, new byte[0])) {
                    Volume volume = Volume.decode(new WireReader(entry.value()));
                    if (!internalVolume(volume.name()) && !volume.isSnapshot()) {
                        volumes.add(volume);
                    }
                }
                yield encode(out -> {
                    out.i32(volumes.size());
                    for (Volume volume : volumes) {
                        volume.encode(out);
                    }
                });
            }
            case MetaRequest.ListSnapshots r -> VolumeSnapshotLogic.listSnapshots(r, store);
            case MetaRequest.GetLayer r -> VolumeSnapshotLogic.getLayer(r, store);
            case MetaRequest.ListLayers r -> VolumeSnapshotLogic.listLayers(store);
            case MetaRequest.GetFlatten r -> VolumeSnapshotLogic.getFlatten(r, store);
            case MetaRequest.GetChunk r -> {
                byte[] chunk = store.get(Table.CHUNK, Keys.u64u64(r.volumeId(), r.index()));
                yield encode(out -> {
                    out.bool(chunk != null);
                    if (chunk != null) {
                        out.bytes(chunk);
                    }
                });
            }
            case MetaRequest.ListCsChunkVersions r -> {
                long highestSeq = CsVersionIndex.highestSeq(store, r.csId());
                List<CsChunkVersion> entries = CsVersionIndex.after(store, r.csId(), r.afterSeq(),
                        r.limit());
                yield encode(out -> {
                    out.i64(highestSeq).i32(entries.size());
                    for (CsChunkVersion entry : entries) {
                        entry.encode(out);
                    }
                    for (CsChunkVersion entry : entries) {
                        out.i64(entry.writersFrom());
                    }
                });
            }
            case MetaRequest.ListChunks r -> {
                List<MetaStore.Entry> entries = store.scan(Table.CHUNK, Keys.u64(r.volumeId()),
                        Keys.u64u64(r.volumeId(), r.fromIndex()), r.limit());
                yield encode(out -> {
                    out.i32(entries.size());
                    for (MetaStore.Entry entry : entries) {
                        out.bytes(entry.value());
                    }
                });
            }
            case MetaRequest.GetChunkMap r -> {
                RecoveryTask map = RecoveryLogic.chunkMap(store, r.chunkUid());
                yield encode(out -> {
                    out.bool(map != null);
                    if (map != null) {
                        map.encode(out);
                    }
                });
            }
            case MetaRequest.ListRecoveryTasks r -> {
                List<RecoveryTask> tasks = RecoveryLogic.recoveryTasks(store, r.csId(), r.afterChunkUid(),
                        r.limit());
                yield encode(out -> {
                    out.i32(tasks.size());
                    for (RecoveryTask task : tasks) {
                        task.encode(out);
                    }
                });
            }
            case MetaRequest.GetClusterId r -> {
                byte[] clusterId = store.get(Table.META, Keys.CLUSTER_ID);
                yield encode(out -> {
                    out.bool(clusterId != null);
                    if (clusterId != null) {
                        out.bytes(clusterId);
                    }
                });
            }
            case ObjectRequest r -> ObjectLogic.read(r, store);
            default -> MetaReply.error(MetaError.INVALID, request.op() + " is not a plain read");
        };
    }

    // ---------------------------------------------------------------------------------------
    // Entity access

    public static List<ChunkServer> allCs(MetaStore store) {
        List<ChunkServer> servers = new ArrayList<>();
        for (MetaStore.Entry entry : store.scan(Table.CS, new byte[0])) {
            servers.add(ChunkServer.decode(new WireReader(entry.value())));
        }
        return servers;
    }

    /** All chunk servers as this entry sees them (its own writes included), in id order. */
    static List<ChunkServer> allCs(Tx tx) {
        List<ChunkServer> servers = new ArrayList<>();
        for (MetaStore.Entry entry : tx.store().scan(Table.CS, new byte[0])) {
            byte[] value = tx.get(Table.CS, entry.key());
            servers.add(ChunkServer.decode(new WireReader(value)));
        }
        return servers;
    }

    static ChunkServer getCs(Tx tx, int id) {
        byte[] value = tx.get(Table.CS, Keys.u32(id));
        return value == null ? null : ChunkServer.decode(new WireReader(value));
    }

    static void putCs(Tx tx, ChunkServer server) {
        WireWriter out = new WireWriter();
        server.encode(out);
        tx.put(Table.CS, Keys.u32(server.id()), out.toByteArray());
    }

    static Volume getVolume(Tx tx, long id) {
        byte[] value = tx.get(Table.VOLUME, Keys.u64(id));
        return value == null ? null : Volume.decode(new WireReader(value));
    }

    static Volume getVolumeByName(Tx tx, String name) {
        byte[] id = tx.get(Table.VOLUME_NAME, Keys.ascii(name));
        return id == null ? null : getVolume(tx, Keys.readU64(id, 0));
    }

    static Volume getVolumeByName(MetaStore store, String name) {
        byte[] id = store.get(Table.VOLUME_NAME, Keys.ascii(name));
        if (id == null) {
            return null;
        }
        byte[] value = store.get(Table.VOLUME, id);
        return value == null ? null : Volume.decode(new WireReader(value));
    }

    static void putVolume(Tx tx, Volume volume) {
        WireWriter out = new WireWriter();
        volume.encode(out);
        tx.put(Table.VOLUME, Keys.u64(volume.id()), out.toByteArray());
    }

    static Chunk getChunk(Tx tx, long volumeId, long index) {
        byte[] value = tx.get(Table.CHUNK, Keys.u64u64(volumeId, index));
        return value == null ? null : Chunk.decode(new WireReader(value));
    }

    static Chunk getChunkByUid(Tx tx, long chunkUid) {
        byte[] location = tx.get(Table.CHUNK_UID, Keys.u64(chunkUid));
        return location == null ? null
                : getChunk(tx, Keys.readU64(location, 0), Keys.readU64(location, 8));
    }

    /** {@link #putChunk(Tx, Chunk, int)} where a chunklet that became RECOVERING is a rebuild. */
    static void putChunk(Tx tx, Chunk chunk) {
        putChunk(tx, chunk, RecoveryTask.KIND_REBUILD);
    }

    /**
     * Writes a new or changed chunk, what the change means to each chunk server's index, and the
     * recovery tables ({@link RecoveryIndex}); a chunklet that became RECOVERING gets a record of
     * {@code recoveryKind}.
     */
    static void putChunk(Tx tx, Chunk chunk, int recoveryKind) {
        Chunk before = getChunk(tx, chunk.volumeId(), chunk.index());
        CsVersionIndex.chunkChanged(tx, before, chunk);
        RecoveryIndex.chunkChanged(tx, before, chunk, recoveryKind);
        WireWriter out = new WireWriter();
        chunk.encode(out);
        tx.put(Table.CHUNK, Keys.u64u64(chunk.volumeId(), chunk.index()), out.toByteArray());
    }

    static List<Chunk> chunksOf(MetaStore store, long volumeId) {
        List<Chunk> chunks = new ArrayList<>();
        for (MetaStore.Entry entry : store.scan(Table.CHUNK, Keys.u64(volumeId))) {
            chunks.add(Chunk.decode(new WireReader(entry.value())));
        }
        return chunks;
    }
}
