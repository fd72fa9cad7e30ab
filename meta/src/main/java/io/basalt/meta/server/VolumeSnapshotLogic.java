package io.basalt.meta.server;

import static io.basalt.meta.server.MetaLogic.encode;
import static io.basalt.meta.server.MetaLogic.getVolume;
import static io.basalt.meta.server.MetaLogic.getVolumeByName;
import static io.basalt.meta.server.MetaLogic.notFound;
import static io.basalt.meta.server.MetaLogic.putVolume;

import io.basalt.meta.api.MetaError;
import io.basalt.meta.api.MetaReply;
import io.basalt.meta.api.MetaRequest;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.FlattenProgress;
import io.basalt.meta.model.Lease;
import io.basalt.meta.model.Policy;
import io.basalt.meta.model.Volume;
import io.basalt.meta.model.VolumeQos;
import io.basalt.meta.server.MetaLogic.EntryContext;
import io.basalt.meta.store.Keys;
import io.basalt.meta.store.MetaStore;
import io.basalt.meta.store.MetaStore.Table;
import io.basalt.meta.store.Tx;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Snapshots, rollback and clones in meta (docs/snapshots.md).
 *
 * <p>Design note. A snapshot is a <em>layer</em>: a volume record of kind
 * {@link Volume#KIND_SNAPSHOT} named {@code volume@snapshot}, holding chunks like any volume. A
 * volume's {@code parentId} points at the layer below it; a block its own chunk never wrote reads
 * from there (the client does that, see {@code LayeredDevice}). Creating a snapshot re-keys the
 * volume's chunks to the new layer (same uids: no data moves) with their versions raised, so the
 * lease holder's next request to one of them is refused and it looks the chunk up again, finds
 * none, and allocates a fresh one in the (now empty) top layer. Deleting a snapshot only hides
 * the layer (renamed {@code .layer.ID}) while a layer above still reads through it; hidden layers
 * nothing reads through any more are freed at once ({@link #collectOrphans}). Merging a deleted
 * layer's blocks into its child (to free space while the child lives) is not done yet.
 */
final class VolumeSnapshotLogic {
    /** Name prefix of a deleted snapshot's layer, kept while a layer above reads through it. */
    static final String HIDDEN_LAYER_PREFIX = ".layer.";

    private VolumeSnapshotLogic() {}

    static byte[] createSnapshot(MetaRequest.CreateSnapshot r, EntryContext context, Tx tx) {
        Volume volume = getVolumeByName(tx, r.volume());
        if (volume == null) {
            return notFound(r.volume());
        }
        String fullName = r.volume() + "@" + r.snapshot();
        if (tx.get(Table.VOLUME_NAME, Keys.ascii(fullName)) != null) {
            return MetaReply.error(MetaError.ALREADY_EXISTS, "snapshot " + fullName
                    + " already exists; choose another name or see: basalt volume snapshot list "
                    + r.volume());
        }
        long id = MetaLogic.nextCounter(tx, Keys.NEXT_VOLUME_ID);
        List<Chunk> chunks = MetaLogic.chunksOf(tx.store(), volume.id());
        Volume snapshot = new Volume(id, fullName, volume.sizeBytes(), volume.blockSizeBytes(),
                volume.policyName(), volume.chunkSizeBytes(), chunks.size(), context.timeMillis(),
                VolumeQos.NONE, volume.parentId(), Volume.KIND_SNAPSHOT);
        putVolume(tx, snapshot);
        tx.put(Table.VOLUME_NAME, Keys.ascii(fullName), Keys.u64(id));
        for (Chunk chunk : chunks) {
            moveChunk(tx, chunk, id);
        }
        putVolume(tx, volume.withParent(id).withChunkCount(0));
        return encode(snapshot::encode);
    }

    /**
     * Re-keys {@code chunk} to volume {@code toVolumeId} at the same index with its version raised
     * by one: every chunk server of it learns the new version through its version index, and then
     * refuses the old one (the fence of docs/snapshots.md, "Fencing").
     */
    static void moveChunk(Tx tx, Chunk chunk, long toVolumeId) {
        Chunk moved = new Chunk(chunk.uid(), toVolumeId, chunk.index(), chunk.version() + 1,
                chunk.chunklets());
        tx.delete(Table.CHUNK, Keys.u64u64(chunk.volumeId(), chunk.index()));
        CsVersionIndex.chunkChanged(tx, chunk, moved);
        RecoveryIndex.chunkMoved(tx, chunk, moved);
        io.basalt.meta.api.WireWriter out = new io.basalt.meta.api.WireWriter();
        moved.encode(out);
        tx.put(Table.CHUNK, Keys.u64u64(toVolumeId, chunk.index()), out.toByteArray());
        tx.put(Table.CHUNK_UID, Keys.u64(chunk.uid()), Keys.u64u64(toVolumeId, chunk.index()));
    }

    static byte[] deleteSnapshot(MetaRequest.DeleteSnapshot r, Tx tx) {
        String fullName = r.volume() + "@" + r.snapshot();
        Volume snapshot = getVolumeByName(tx, fullName);
        if (snapshot == null) {
            return snapshotNotFound(r.volume(), fullName);
        }
        List<String> clones = clonesOf(tx, snapshot);
        if (!clones.isEmpty()) {
            return MetaReply.error(MetaError.NOT_EMPTY, "snapshot " + fullName + " has clones "
                    + String.join(", ", clones) + "; flatten or delete them first: basalt volume"
                    + " flatten " + clones.get(0));
        }
        tx.delete(Table.VOLUME_NAME, Keys.ascii(fullName));
        Volume hidden = new Volume(snapshot.id(), HIDDEN_LAYER_PREFIX + snapshot.id(),
                snapshot.sizeBytes(), snapshot.blockSizeBytes(), snapshot.policyName(),
                snapshot.chunkSizeBytes(), snapshot.chunkCount(), snapshot.createdMillis(),
                snapshot.qos(), snapshot.parentId(), Volume.KIND_SNAPSHOT);
        putVolume(tx, hidden);
        collectOrphans(tx);
        return encode(snapshot::encode);
    }

    static byte[] rollbackVolume(MetaRequest.RollbackVolume r, EntryContext context, Tx tx) {
        Volume volume = getVolumeByName(tx, r.volume());
        if (volume == null) {
            return notFound(r.volume());
        }
        String fullName = r.volume() + "@" + r.snapshot();
        Volume snapshot = getVolumeByName(tx, fullName);
        if (snapshot == null) {
            return snapshotNotFound(r.volume(), fullName);
        }
        byte[] leaseBytes = tx.get(Table.LEASE, Keys.u64(volume.id()));
        Lease lease = leaseBytes == null ? null : Lease.decode(new WireReader(leaseBytes));
        if (lease != null && lease.activeAt(context.timeMillis())) {
            // The holder would keep writing into the layer being dropped, or read a mix.
            return MetaReply.error(MetaError.LEASE_HELD, "volume \"" + volume.name()
                    + "\" is in use by client " + lease.clientId() + " (lease until "
                    + Instant.ofEpochMilli(lease.expiryMillis())
                    + "); disconnect it first, then roll back");
        }
        for (Chunk chunk : MetaLogic.chunksOf(tx.store(), volume.id())) {
            MetaLogic.removeChunk(tx, volume, chunk);
        }
        tx.delete(Table.FLATTEN, Keys.u64(volume.id())); // it copied from the parent dropped now
        Volume rolledBack = volume.withParent(snapshot.id()).withChunkCount(0)
                .withSize(snapshot.sizeBytes());
        putVolume(tx, rolledBack);
        collectOrphans(tx);
        return encode(rolledBack::encode);
    }

    static byte[] cloneVolume(MetaRequest.CloneVolume r, EntryContext context, Tx tx) {
        String fullName = r.volume() + "@" + r.snapshot();
        Volume snapshot = getVolumeByName(tx, fullName);
        if (snapshot == null) {
            return snapshotNotFound(r.volume(), fullName);
        }
        if (tx.get(Table.VOLUME_NAME, Keys.ascii(r.cloneName())) != null) {
            return MetaReply.error(MetaError.ALREADY_EXISTS, "volume \"" + r.cloneName()
                    + "\" already exists; choose another name for the clone");
        }
        Policy policy = Policy.parse(snapshot.policyName());
        byte[] unplaceable = MetaLogic.placementError(tx, policy, snapshot.chunkSizeBytes());
        if (unplaceable != null) {
            return unplaceable;
        }
        Volume clone = MetaLogic.insertVolume(tx, r.cloneName(), snapshot.sizeBytes(), policy,
                snapshot.chunkSizeBytes(), context.timeMillis()).withParent(snapshot.id());
        putVolume(tx, clone);
        return encode(clone::encode);
    }

    static byte[] detachParent(MetaRequest.DetachParent r, Tx tx) {
        Volume volume = getVolumeByName(tx, r.volume());
        if (volume == null) {
            return notFound(r.volume());
        }
        if (volume.parentId() != r.expectedParentId()) {
            return MetaReply.error(MetaError.PRECONDITION_FAILED, "volume \"" + r.volume()
                    + "\" changed layers during the flatten (parent " + volume.parentId() + ", expected "
                    + r.expectedParentId() + "); run it again: basalt volume flatten " + r.volume());
        }
        Volume detached = volume.withParent(0);
        putVolume(tx, detached);
        tx.delete(Table.FLATTEN, Keys.u64(volume.id())); // done
        collectOrphans(tx);
        return encode(detached::encode);
    }

    /**
     * Records a flatten's progress (or, with {@code request}, a new request from cursor 0 or
     * wherever the caller starts) for the volume's current parent; refused when the parent is not
     * the expected one (rolled back or already detached meanwhile).
     */
    static byte[] setFlatten(MetaRequest.SetFlatten r, EntryContext context, Tx tx) {
        Volume volume = getVolumeByName(tx, r.volume());
        if (volume == null) {
            return notFound(r.volume());
        }
        if (volume.parentId() == 0 || volume.parentId() != r.expectedParentId()) {
            return MetaReply.error(MetaError.PRECONDITION_FAILED, "volume \"" + r.volume() + "\" "
                    + (volume.parentId() == 0 ? "reads through no snapshot: nothing to flatten"
                    : "changed layers (parent " + volume.parentId() + ", expected " + r.expectedParentId()
                            + "); run it again: basalt volume flatten " + r.volume()));
        }
        byte[] known = tx.get(Table.FLATTEN, Keys.u64(volume.id()));
        FlattenProgress before = known == null ? null : FlattenProgress.decode(new WireReader(known));
        boolean fresh = r.request() || before == null || before.parentId() != volume.parentId();
        FlattenProgress progress = new FlattenProgress(volume.parentId(), volume.sizeBytes(),
                Math.min(r.cursorBytes(), volume.sizeBytes()), r.copiedBytes(),
                fresh ? context.timeMillis() : before.startedMillis(), context.timeMillis());
        tx.put(Table.FLATTEN, Keys.u64(volume.id()), progress.toByteArray());
        return encode(progress::encode);
    }

    static byte[] getFlatten(MetaRequest.GetFlatten r, MetaStore store) {
        Volume volume = getVolumeByName(store, r.volume());
        if (volume == null) {
            return notFound(r.volume());
        }
        byte[] value = store.get(Table.FLATTEN, Keys.u64(volume.id()));
        return encode(out -> {
            out.bool(value != null);
            if (value != null) {
                out.bytes(value);
            }
        });
    }

    /** Refusal text of a volume with named snapshots (delete) ; null when it has none. */
    static byte[] refuseDeleteWithSnapshots(MetaStore store, Volume volume) {
        List<Volume> snapshots = snapshotsOf(store, volume.name());
        if (snapshots.isEmpty()) {
            return null;
        }
        List<String> names = snapshots.stream().map(Volume::name).toList();
        return MetaReply.error(MetaError.NOT_EMPTY, "volume \"" + volume.name()
                + "\" has snapshots " + String.join(", ", names) + "; delete them first: basalt"
                + " volume snapshot delete " + names.get(0));
    }

    /** The named snapshots of {@code volumeName}, oldest first. */
    static List<Volume> snapshotsOf(MetaStore store, String volumeName) {
        List<Volume> snapshots = new ArrayList<>();
        for (MetaStore.Entry entry : store.scan(Table.VOLUME_NAME, Keys.ascii(volumeName + "@"))) {
            byte[] value = store.get(Table.VOLUME, entry.value());
            if (value != null) {
                snapshots.add(Volume.decode(new WireReader(value)));
            }
        }
        snapshots.sort(Comparator.comparingLong(Volume::id));
        return snapshots;
    }

    static byte[] listSnapshots(MetaRequest.ListSnapshots r, MetaStore store) {
        if (getVolumeByName(store, r.volume()) == null) {
            return notFound(r.volume());
        }
        List<Volume> snapshots = snapshotsOf(store, r.volume());
        return encode(out -> {
            out.i32(snapshots.size());
            for (Volume snapshot : snapshots) {
                snapshot.encode(out);
            }
        });
    }

    /** Every volume record (volumes, snapshots, hidden layers; internal volumes too), in id order. */
    static byte[] listLayers(MetaStore store) {
        List<byte[]> records = new ArrayList<>();
        for (MetaStore.Entry entry : store.scan(Table.VOLUME, new byte[0])) {
            records.add(entry.value());
        }
        return encode(out -> {
            out.i32(records.size());
            for (byte[] record : records) {
                out.bytes(record);
            }
        });
    }

    static byte[] getLayer(MetaRequest.GetLayer r, MetaStore store) {
        byte[] value = store.get(Table.VOLUME, Keys.u64(r.volumeId()));
        return encode(out -> {
            out.bool(value != null);
            if (value != null) {
                out.bytes(value);
            }
        });
    }

    /** Writable volumes (not the snapshot's own volume) whose parent layer is {@code snapshot}. */
    private static List<String> clonesOf(Tx tx, Volume snapshot) {
        String owner = snapshot.name().substring(0, snapshot.name().indexOf('@'));
        List<String> clones = new ArrayList<>();
        for (Volume volume : allVolumes(tx)) {
            if (volume.parentId() == snapshot.id() && !volume.isSnapshot()
                    && !volume.name().equals(owner)) {
                clones.add(volume.name());
            }
        }
        return clones;
    }

    /**
     * Frees every hidden layer (a deleted snapshot) that no layer reads through any more, and
     * then the hidden layers below it that this leaves unread, in id order (deterministic).
     */
    static void collectOrphans(Tx tx) {
        boolean freed = true;
        while (freed) {
            freed = false;
            List<Volume> volumes = allVolumes(tx);
            Map<Long, Integer> children = new HashMap<>();
            for (Volume volume : volumes) {
                if (volume.parentId() != 0) {
                    children.merge(volume.parentId(), 1, Integer::sum);
                }
            }
            for (Volume volume : volumes) {
                if (volume.isSnapshot() && volume.name().startsWith(HIDDEN_LAYER_PREFIX)
                        && !children.containsKey(volume.id())) {
                    for (Chunk chunk : MetaLogic.chunksOf(tx.store(), volume.id())) {
                        if (MetaLogic.getChunk(tx, volume.id(), chunk.index()) != null) {
                            MetaLogic.removeChunk(tx, volume, chunk);
                        }
                    }
                    tx.delete(Table.VOLUME, Keys.u64(volume.id()));
                    freed = true;
                }
            }
        }
    }

    /** Every volume record as this entry sees it (its own writes included), in id order. */
    private static List<Volume> allVolumes(Tx tx) {
        List<Volume> volumes = new ArrayList<>();
        for (MetaStore.Entry entry : tx.store().scan(Table.VOLUME, new byte[0])) {
            Volume volume = getVolume(tx, Keys.readU64(entry.key(), 0));
            if (volume != null) {
                volumes.add(volume);
            }
        }
        return volumes;
    }

    private static byte[] snapshotNotFound(String volume, String fullName) {
        return MetaReply.error(MetaError.NOT_FOUND, "snapshot " + fullName
                + " not found; see: basalt volume snapshot list " + volume);
    }
}
