package io.basalt.meta.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.meta.api.CsChunkVersion;
import io.basalt.meta.api.MetaError;
import io.basalt.meta.api.MetaReply;
import io.basalt.meta.api.MetaRequest;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.FlattenProgress;
import io.basalt.meta.model.Volume;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class VolumeSnapshotLogicTest {
    @TempDir
    Path dir;

    private StandaloneMeta meta;

    @BeforeEach
    void open() throws Exception {
        meta = new StandaloneMeta(dir);
        for (int i = 0; i < 3; i++) {
            meta.register("host" + i, 1L << 40);
        }
    }

    @AfterEach
    void close() throws Exception {
        meta.close();
    }

    private String refusal(MetaRequest request, MetaError error) {
        MetaReply reply = meta.apply(request);
        assertThat(reply.error()).isEqualTo(error);
        return new WireReader(reply.body()).string();
    }

    private Volume volume(String name) {
        return Volume.decode(meta.read(new MetaRequest.GetVolume(name)).bodyOrThrow());
    }

    private List<Chunk> chunks(long volumeId) {
        WireReader in = meta.read(new MetaRequest.ListChunks(volumeId, 0, 1024)).bodyOrThrow();
        int count = in.i32();
        List<Chunk> chunks = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            chunks.add(Chunk.decode(in));
        }
        return chunks;
    }

    private List<String> snapshotNames(String volume) {
        WireReader in = meta.read(new MetaRequest.ListSnapshots(volume)).bodyOrThrow();
        int count = in.i32();
        List<String> names = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            names.add(Volume.decode(in).name());
        }
        return names;
    }

    @Test
    void createFreezesTheChunksIntoALayerWithHigherVersionsAndLeavesTheVolumeEmpty() {
        Volume vm1 = meta.create("vm1", 64L << 20, "rep3");
        Chunk first = meta.allocate(vm1.id(), 0);
        Chunk third = meta.allocate(vm1.id(), 2);
        Volume snapshot = Volume.decode(meta.ok(new MetaRequest.CreateSnapshot("vm1", "s1")));
        assertThat(snapshot.name()).isEqualTo("vm1@s1");
        assertThat(snapshot.isSnapshot()).isTrue();
        assertThat(snapshot.chunkCount()).isEqualTo(2);
        assertThat(snapshot.parentId()).isZero();
        Volume after = volume("vm1");
        assertThat(after.parentId()).isEqualTo(snapshot.id());
        assertThat(after.chunkCount()).isZero();
        assertThat(chunks(vm1.id())).isEmpty();
        List<Chunk> frozen = chunks(snapshot.id());
        assertThat(frozen).extracting(Chunk::uid).containsExactly(first.uid(), third.uid());
        assertThat(frozen).extracting(Chunk::version).containsExactly(first.version() + 1,
                third.version() + 1);
        // Every chunk server of a frozen chunk is told the new version (the fence).
        int csId = first.chunklets().get(0).csId();
        WireReader in = meta.read(new MetaRequest.ListCsChunkVersions(csId, 0, 100)).bodyOrThrow();
        in.i64();
        int count = in.i32();
        long known = 0;
        for (int i = 0; i < count; i++) {
            CsChunkVersion entry = CsChunkVersion.decode(in);
            if (entry.chunkUid() == first.uid()) {
                known = entry.version();
            }
        }
        assertThat(known).isEqualTo(first.version() + 1);
        // The chunk uid now names the snapshot's chunk: recovery and the scrubber find it there.
        assertThat(meta.read(new MetaRequest.GetChunkMap(first.uid())).bodyOrThrow().bool()).isTrue();
        // A new write allocates a fresh chunk in the (empty) top layer.
        Chunk fresh = meta.allocate(vm1.id(), 0);
        assertThat(fresh.uid()).isNotEqualTo(first.uid());
        // The snapshot reads by its full name, is not a volume in the list, and is read-only.
        assertThat(volume("vm1@s1").id()).isEqualTo(snapshot.id());
        WireReader list = meta.read(new MetaRequest.ListVolumes()).bodyOrThrow();
        assertThat(list.i32()).isEqualTo(1);
        assertThat(refusal(new MetaRequest.AllocateChunk(snapshot.id(), 1), MetaError.INVALID))
                .isEqualTo("\"vm1@s1\" is a snapshot: read-only; clone it to write: basalt volume"
                        + " clone vm1@s1 NEW-NAME");
        assertThat(refusal(new MetaRequest.AcquireLease(snapshot.id(), "c1", 1000),
                MetaError.INVALID)).contains("read-only");
        Volume s2 = Volume.decode(meta.ok(new MetaRequest.CreateSnapshot("vm1", "s2")));
        assertThat(s2.parentId()).isEqualTo(snapshot.id());
        assertThat(snapshotNames("vm1")).containsExactly("vm1@s1", "vm1@s2");
    }

    @Test
    void badNamesDuplicatesAndUnknownsAreOneLineRefusals() {
        meta.create("vm1", 64L << 20, "rep3");
        meta.ok(new MetaRequest.CreateSnapshot("vm1", "s1"));
        assertThat(refusal(new MetaRequest.CreateSnapshot("vm1", "s1"), MetaError.ALREADY_EXISTS))
                .isEqualTo("snapshot vm1@s1 already exists; choose another name or see: basalt"
                        + " volume snapshot list vm1");
        assertThat(refusal(new MetaRequest.CreateSnapshot("vm1", "Bad@x"), MetaError.INVALID))
                .isEqualTo("invalid snapshot name \"Bad@x\": use 1-63 characters of a-z, 0-9,"
                        + " '.', '_' or '-', starting with a letter or digit");
        assertThat(refusal(new MetaRequest.CreateSnapshot("nope", "s1"), MetaError.NOT_FOUND))
                .isEqualTo("volume \"nope\" not found; see: basalt volume list");
        assertThat(refusal(new MetaRequest.DeleteSnapshot("vm1", "s9"), MetaError.NOT_FOUND))
                .isEqualTo("snapshot vm1@s9 not found; see: basalt volume snapshot list vm1");
        assertThat(refusal(new MetaRequest.CloneVolume("vm1", "s1", "vm1"),
                MetaError.ALREADY_EXISTS)).contains("choose another name for the clone");
        assertThat(refusal(new MetaRequest.DeleteVolume("vm1"), MetaError.NOT_EMPTY))
                .isEqualTo("volume \"vm1\" has snapshots vm1@s1; delete them first: basalt volume"
                        + " snapshot delete vm1@s1");
        assertThat(refusal(new MetaRequest.ResizeVolume("vm1", 32L << 20, true), MetaError.INVALID))
                .contains("shrinking it is not supported yet");
    }

    @Test
    void deleteHidesALayerStillReadThroughAndFreesItWithTheVolume() {
        Volume vm1 = meta.create("vm1", 64L << 20, "rep3");
        meta.allocate(vm1.id(), 0);
        Volume s1 = Volume.decode(meta.ok(new MetaRequest.CreateSnapshot("vm1", "s1")));
        meta.allocate(vm1.id(), 1);
        meta.ok(new MetaRequest.DeleteSnapshot("vm1", "s1"));
        assertThat(snapshotNames("vm1")).isEmpty();
        // vm1 still reads through the layer: its chunk stays.
        assertThat(chunks(s1.id())).hasSize(1);
        assertThat(volume("vm1").parentId()).isEqualTo(s1.id());
        // LIST_LAYERS names the hidden layer with the volume that reads through it (how a client
        // finds a layer's children to free what they all shadow).
        assertThat(layers()).containsEntry(".layer." + s1.id(), 0L).containsEntry("vm1", s1.id());
        meta.ok(new MetaRequest.DeleteVolume("vm1"));
        assertThat(layers()).doesNotContainKeys("vm1", ".layer." + s1.id());
        assertThat(chunks(s1.id())).isEmpty();
        assertThat(meta.read(new MetaRequest.GetLayer(s1.id())).bodyOrThrow().bool()).isFalse();
    }

    /** LIST_LAYERS as name to parent id. */
    private java.util.Map<String, Long> layers() {
        io.basalt.meta.api.WireReader in = meta.read(new MetaRequest.ListLayers()).bodyOrThrow();
        int count = in.i32();
        java.util.Map<String, Long> layers = new java.util.HashMap<>();
        for (int i = 0; i < count; i++) {
            Volume layer = Volume.decode(in);
            layers.put(layer.name(), layer.parentId());
        }
        return layers;
    }

    @Test
    void clonesReadFromTheSnapshotAndKeepItFromBeingDeleted() {
        Volume vm1 = meta.create("vm1", 64L << 20, "rep3");
        meta.allocate(vm1.id(), 0);
        Volume s1 = Volume.decode(meta.ok(new MetaRequest.CreateSnapshot("vm1", "s1")));
        Volume vm2 = Volume.decode(meta.ok(new MetaRequest.CloneVolume("vm1", "s1", "vm2")));
        assertThat(vm2.parentId()).isEqualTo(s1.id());
        assertThat(vm2.isSnapshot()).isFalse();
        assertThat(vm2.sizeBytes()).isEqualTo(s1.sizeBytes());
        assertThat(refusal(new MetaRequest.DeleteSnapshot("vm1", "s1"), MetaError.NOT_EMPTY))
                .isEqualTo("snapshot vm1@s1 has clones vm2; flatten or delete them first: basalt"
                        + " volume flatten vm2");
        meta.ok(new MetaRequest.DeleteVolume("vm2"));
        meta.ok(new MetaRequest.DeleteSnapshot("vm1", "s1"));
    }

    @Test
    void flattenProgressIsKeptPerParentAndClearedByDetachRollbackAndDelete() {
        meta.create("vm1", 64L << 20, "rep3");
        Volume s1 = Volume.decode(meta.ok(new MetaRequest.CreateSnapshot("vm1", "s1")));
        Volume vm2 = Volume.decode(meta.ok(new MetaRequest.CloneVolume("vm1", "s1", "vm2")));
        assertThat(flatten("vm2")).isNull();
        FlattenProgress requested = FlattenProgress.decode(meta.ok(
                new MetaRequest.SetFlatten("vm2", s1.id(), 0, 0, true)));
        assertThat(requested.parentId()).isEqualTo(s1.id());
        assertThat(requested.sizeBytes()).isEqualTo(vm2.sizeBytes());
        meta.ok(new MetaRequest.SetFlatten("vm2", s1.id(), 8L << 20, 4096, false));
        FlattenProgress stepped = flatten("vm2");
        assertThat(stepped.cursorBytes()).isEqualTo(8L << 20);
        assertThat(stepped.copiedBytes()).isEqualTo(4096);
        assertThat(stepped.startedMillis()).isEqualTo(requested.startedMillis());
        assertThat(refusal(new MetaRequest.SetFlatten("vm2", s1.id() + 100, 0, 0, false),
                MetaError.PRECONDITION_FAILED)).contains("changed layers").contains("basalt volume flatten vm2");
        meta.ok(new MetaRequest.DetachParent("vm2", s1.id()));
        assertThat(flatten("vm2")).isNull();
        assertThat(refusal(new MetaRequest.SetFlatten("vm2", s1.id(), 0, 0, true), MetaError.PRECONDITION_FAILED))
                .isEqualTo("volume \"vm2\" reads through no snapshot: nothing to flatten");
        meta.ok(new MetaRequest.CloneVolume("vm1", "s1", "vm3"));
        Volume t1 = Volume.decode(meta.ok(new MetaRequest.CreateSnapshot("vm3", "t1")));
        meta.ok(new MetaRequest.SetFlatten("vm3", t1.id(), 0, 0, true));
        meta.ok(new MetaRequest.RollbackVolume("vm3", "t1"));
        assertThat(flatten("vm3")).as("a rollback drops the progress (the parent it copied from changed)").isNull();
        meta.ok(new MetaRequest.SetFlatten("vm3", t1.id(), 0, 0, true));
        meta.ok(new MetaRequest.DeleteSnapshot("vm3", "t1"));
        meta.ok(new MetaRequest.DeleteVolume("vm3"));
        assertThat(meta.read(new MetaRequest.GetFlatten("vm3")).error()).isEqualTo(MetaError.NOT_FOUND);
    }

    private FlattenProgress flatten(String volume) {
        WireReader in = meta.read(new MetaRequest.GetFlatten(volume)).bodyOrThrow();
        return in.bool() ? FlattenProgress.decode(in) : null;
    }

    @Test
    void rollbackDropsTheTopLayerAndFreesHiddenLayersNothingReadsAnyMore() {
        Volume vm1 = meta.create("vm1", 64L << 20, "rep3");
        meta.allocate(vm1.id(), 0);
        Volume s1 = Volume.decode(meta.ok(new MetaRequest.CreateSnapshot("vm1", "s1")));
        meta.allocate(vm1.id(), 1);
        Volume s2 = Volume.decode(meta.ok(new MetaRequest.CreateSnapshot("vm1", "s2")));
        meta.allocate(vm1.id(), 2);
        meta.ok(new MetaRequest.DeleteSnapshot("vm1", "s2")); // hidden: vm1 reads through it
        assertThat(chunks(s2.id())).hasSize(1);
        meta.ok(new MetaRequest.AcquireLease(vm1.id(), "gw", 60_000));
        assertThat(refusal(new MetaRequest.RollbackVolume("vm1", "s1"), MetaError.LEASE_HELD))
                .contains("disconnect it first, then roll back");
        meta.ok(new MetaRequest.ReleaseLease(vm1.id(), "gw"));
        Volume rolledBack = Volume.decode(meta.ok(new MetaRequest.RollbackVolume("vm1", "s1")));
        assertThat(rolledBack.parentId()).isEqualTo(s1.id());
        assertThat(chunks(vm1.id())).isEmpty();
        // The hidden s2 layer has no reader left: freed.
        assertThat(chunks(s2.id())).isEmpty();
        assertThat(chunks(s1.id())).hasSize(1);
    }

    @Test
    void detachParentEndsAFlattenAndLetsTheSnapshotGo() {
        Volume vm1 = meta.create("vm1", 64L << 20, "rep3");
        meta.allocate(vm1.id(), 0);
        Volume s1 = Volume.decode(meta.ok(new MetaRequest.CreateSnapshot("vm1", "s1")));
        meta.ok(new MetaRequest.CloneVolume("vm1", "s1", "vm2"));
        assertThat(refusal(new MetaRequest.DetachParent("vm2", s1.id() + 100), MetaError.PRECONDITION_FAILED))
                .contains("run it again: basalt volume flatten vm2");
        Volume detached = Volume.decode(meta.ok(new MetaRequest.DetachParent("vm2", s1.id())));
        assertThat(detached.parentId()).isZero();
        meta.ok(new MetaRequest.DeleteSnapshot("vm1", "s1"));
        // vm1 still reads through the (now hidden) layer; flattening vm1 too frees it.
        assertThat(chunks(s1.id())).hasSize(1);
        meta.ok(new MetaRequest.DetachParent("vm1", s1.id()));
        assertThat(chunks(s1.id())).isEmpty();
    }
}
