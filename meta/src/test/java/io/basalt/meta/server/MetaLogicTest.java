package io.basalt.meta.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.meta.api.MetaError;
import io.basalt.meta.api.MetaReply;
import io.basalt.meta.api.MetaRequest;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.ChunkServer;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.ChunkletRole;
import io.basalt.meta.model.ChunkletState;
import io.basalt.meta.model.CsStatus;
import io.basalt.meta.model.Lease;
import io.basalt.meta.model.Volume;
import io.basalt.meta.model.VolumeQos;
import io.basalt.meta.store.Keys;
import io.basalt.meta.store.MetaStore;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class MetaLogicTest {
    private static final long TIB = 1L << 40;

    @TempDir
    Path dir;

    private StandaloneMeta meta;

    @BeforeEach
    void open() throws Exception {
        meta = new StandaloneMeta(dir);
    }

    @AfterEach
    void close() throws Exception {
        meta.close();
    }

    private void registerHosts(int count) {
        for (int i = 0; i < count; i++) {
            meta.register("host" + i, TIB);
        }
    }

    /** State without lastApplied: what a refused entry must leave untouched. */
    private Map<MetaStore.Table, List<String>> state() {
        Map<MetaStore.Table, List<String>> state = new java.util.EnumMap<>(MetaStore.Table.class);
        meta.dump().forEach((table, entries) -> state.put(table, entries.stream()
                .filter(e -> !java.util.Arrays.equals(e.key(), Keys.LAST_APPLIED))
                .map(e -> java.util.HexFormat.of().formatHex(e.key()) + "="
                        + java.util.HexFormat.of().formatHex(e.value()))
                .toList()));
        return state;
    }

    private void assertRefusedUnchanged(MetaRequest request, MetaError error, String messagePart) {
        var before = state();
        MetaReply reply = meta.apply(request);
        assertThat(reply.error()).isEqualTo(error);
        assertThat(new WireReader(reply.body()).string()).contains(messagePart);
        assertThat(state()).isEqualTo(before);
    }

    @Test
    void createsListsAndReadsVolumes() {
        registerHosts(3);
        Volume volume = meta.create("db1", 10L << 30, "rep3");
        assertThat(volume.id()).isEqualTo(1);
        assertThat(volume.chunkSizeBytes()).isEqualTo(StandaloneMeta.CHUNK_SIZE_BYTES);
        assertThat(volume.createdMillis()).isEqualTo(meta.nowMillis);
        Volume read = Volume.decode(meta.read(new MetaRequest.GetVolume("db1")).bodyOrThrow());
        assertThat(read).isEqualTo(volume);
        WireReader list = meta.read(new MetaRequest.ListVolumes()).bodyOrThrow();
        assertThat(list.i32()).isEqualTo(1);
    }

    @Test
    void refusesBadInputWithoutChangingState() {
        registerHosts(3);
        meta.create("db1", 1L << 30, "rep3");
        assertRefusedUnchanged(new MetaRequest.CreateVolume("db1", 1L << 30, "rep3", 0),
                MetaError.ALREADY_EXISTS, "already exists");
        assertRefusedUnchanged(new MetaRequest.CreateVolume("Bad Name", 1L << 30, "rep3", 0),
                MetaError.INVALID, "a-z, 0-9");
        assertRefusedUnchanged(new MetaRequest.CreateVolume("-x", 1L << 30, "rep3", 0),
                MetaError.INVALID, "starting with a letter or digit");
        assertRefusedUnchanged(new MetaRequest.CreateVolume("x".repeat(64), 1L << 30, "rep3", 0),
                MetaError.INVALID, "1-63");
        assertRefusedUnchanged(new MetaRequest.CreateVolume("v", 0, "rep3", 0),
                MetaError.INVALID, "must be > 0");
        assertRefusedUnchanged(new MetaRequest.CreateVolume("v", -4096, "rep3", 0),
                MetaError.INVALID, "must be > 0");
        assertRefusedUnchanged(new MetaRequest.CreateVolume("v", 4097, "rep3", 0),
                MetaError.INVALID, "multiple of the block size");
        assertRefusedUnchanged(new MetaRequest.CreateVolume("v", 1L << 60, "rep3", 0),
                MetaError.INVALID, "max");
        assertRefusedUnchanged(new MetaRequest.CreateVolume("v", 1L << 30, "raid5", 0),
                MetaError.INVALID, "unknown policy");
        assertRefusedUnchanged(new MetaRequest.CreateVolume("v", 1L << 30, "ec4+2", 0),
                MetaError.NO_PLACEMENT, "policy ec4+2 needs 6 hosts, cluster has 3");
        assertRefusedUnchanged(new MetaRequest.CreateVolume("v", 1L << 30, "rep3", 5000),
                MetaError.INVALID, "chunk size");
        assertRefusedUnchanged(new MetaRequest.ResizeVolume("nope", 1L << 30, false),
                MetaError.NOT_FOUND, "volume \"nope\" not found");
        assertRefusedUnchanged(new MetaRequest.ResizeVolume("db1", 1L << 20, false),
                MetaError.INVALID, "--shrink");
        assertRefusedUnchanged(new MetaRequest.DeleteVolume("nope"), MetaError.NOT_FOUND,
                "basalt volume list");
        assertRefusedUnchanged(new MetaRequest.AllocateChunk(99, 0), MetaError.NOT_FOUND,
                "volume id 99");
        assertRefusedUnchanged(new MetaRequest.AllocateChunk(1, 1000), MetaError.INVALID,
                "past the end");
    }

    @Test
    void qosLimitsAreStoredAtCreateMergedLiveAndClearedAndSurviveResize() {
        registerHosts(3);
        VolumeQos atCreate = new VolumeQos(2000, 0, 0, 200L << 20, 0, 0, 1000);
        Volume created = Volume.decode(meta.ok(new MetaRequest.CreateVolume("vm1", 1L << 30,
                "rep3", 0, atCreate)));
        assertThat(created.qos()).isEqualTo(atCreate);
        Volume changed = Volume.decode(meta.ok(new MetaRequest.SetVolumeQos("vm1",
                new VolumeQos(VolumeQos.KEEP, 300, VolumeQos.KEEP, 0, VolumeQos.KEEP,
                        VolumeQos.KEEP, 5000))));
        assertThat(changed.qos()).isEqualTo(new VolumeQos(2000, 300, 0, 0, 0, 0, 5000));
        Volume grown = Volume.decode(meta.ok(new MetaRequest.ResizeVolume("vm1", 2L << 30,
                false)));
        assertThat(grown.qos()).isEqualTo(changed.qos());
        assertThat(Volume.decode(meta.read(new MetaRequest.GetVolume("vm1")).bodyOrThrow()))
                .isEqualTo(grown);
        Volume cleared = Volume.decode(meta.ok(new MetaRequest.SetVolumeQos("vm1",
                VolumeQos.CLEAR_ALL)));
        assertThat(cleared.qos()).isEqualTo(VolumeQos.NONE);
        assertRefusedUnchanged(new MetaRequest.SetVolumeQos("nope", VolumeQos.CLEAR_ALL),
                MetaError.NOT_FOUND, "volume \"nope\" not found");
        assertRefusedUnchanged(new MetaRequest.SetVolumeQos("vm1",
                new VolumeQos(-7, -1, -1, -1, -1, -1, -1)), MetaError.INVALID, "iops limit -7");
    }

    @Test
    void stripeMastersAndPrimariesRotateOverTheServersOfEvenlyFillingChunks() {
        registerHosts(6);
        Volume ec = meta.create("ec", 1L << 40, "ec4+2");
        Volume rep = meta.create("rep", 1L << 40, "rep3");
        java.util.Map<Integer, Integer> masters = new java.util.TreeMap<>();
        java.util.Map<Integer, Integer> primaries = new java.util.TreeMap<>();
        for (int index = 0; index < 12; index++) {
            Chunk chunk = Chunk.decode(meta.ok(new MetaRequest.AllocateChunk(ec.id(), index)));
            // Column k is the stripe master while UPTODATE; every chunk uses all 6 hosts, so the
            // emptiest-first order alone would give every chunk the same master.
            masters.merge(chunk.chunklets().get(4).csId(), 1, Integer::sum);
        }
        for (int index = 0; index < 12; index++) {
            Chunk replicated = Chunk.decode(meta.ok(new MetaRequest.AllocateChunk(rep.id(), index)));
            primaries.merge(replicated.chunklets().get(0).csId(), 1, Integer::sum);
        }
        assertThat(masters).as("stripe masters of 12 chunks").hasSize(6);
        assertThat(masters.values()).allSatisfy(count -> assertThat(count).isEqualTo(2));
        assertThat(primaries.size()).as("primaries of 12 rep3 chunks: %s", primaries).isGreaterThanOrEqualTo(3);
    }

    @Test
    void theHotTierIsSetAtCreateOrLiveOnlyForErasureCodedVolumes() {
        registerHosts(6);
        Volume created = Volume.decode(meta.ok(new MetaRequest.CreateVolume("ec1", 1L << 30, "ec4+2", 0,
                VolumeQos.NONE, Volume.FEATURE_HOT_TIER)));
        assertThat(created.hotTier()).isTrue();
        Volume off = Volume.decode(meta.ok(new MetaRequest.SetVolumeFeatures("ec1", 0, Volume.FEATURE_HOT_TIER)));
        assertThat(off.hotTier()).isFalse();
        assertThat(off.withFeatures(Volume.FEATURE_HOT_TIER)).isEqualTo(created);
        assertThat(Volume.decode(meta.ok(new MetaRequest.SetVolumeFeatures("ec1", Volume.FEATURE_HOT_TIER, 0)))
                .hotTier()).isTrue();
        // A snapshot of it keeps the volume's bit (the top layer's record), and takes none itself.
        meta.ok(new MetaRequest.CreateSnapshot("ec1", "s1"));
        assertThat(Volume.decode(meta.read(new MetaRequest.GetVolume("ec1")).bodyOrThrow()).hotTier()).isTrue();
        assertRefusedUnchanged(new MetaRequest.SetVolumeFeatures("ec1@s1", Volume.FEATURE_HOT_TIER, 0),
                MetaError.INVALID, "invalid volume name \"ec1@s1\"");
        meta.create("r1", 1L << 30, "rep3");
        assertRefusedUnchanged(new MetaRequest.SetVolumeFeatures("r1", Volume.FEATURE_HOT_TIER, 0),
                MetaError.INVALID, "the hot tier is for erasure-coded volumes");
        assertRefusedUnchanged(new MetaRequest.CreateVolume("r2", 1L << 30, "rep3", 0, VolumeQos.NONE,
                Volume.FEATURE_HOT_TIER), MetaError.INVALID, "the hot tier is for erasure-coded volumes");
        assertRefusedUnchanged(new MetaRequest.SetVolumeFeatures("nope", 0, Volume.FEATURE_HOT_TIER),
                MetaError.NOT_FOUND, "volume \"nope\" not found");
        assertRefusedUnchanged(new MetaRequest.SetVolumeFeatures("ec1", 0x80, 0), MetaError.INVALID,
                "volume feature bits 10000000");
    }

    @Test
    void everyEntryAdvancesLastAppliedEvenWhenRefused() {
        meta.apply(new MetaRequest.DeleteVolume("nope"));
        byte[] lastApplied = meta.dump().get(MetaStore.Table.META).stream()
                .filter(e -> java.util.Arrays.equals(e.key(), Keys.LAST_APPLIED))
                .findFirst().orElseThrow().value();
        assertThat(Keys.readU64(lastApplied, 8)).isEqualTo(meta.index);
    }

    @Test
    void replayedEntriesAreSkipped() {
        registerHosts(3);
        var before = meta.dump();
        byte[] data = MetaStateMachine.entryData(meta.nowMillis, StandaloneMeta.CHUNK_SIZE_BYTES,
                new MetaRequest.CreateVolume("late", 1L << 30, "rep3", 0));
        MetaReply reply = MetaReply.decode(meta.stateMachine.applyEntry(1, 2, data));
        assertThat(reply.error()).isEqualTo(MetaError.INTERNAL);
        assertThat(meta.dump()).isEqualTo(before);
    }

    @Test
    void allocatesChunksLazilyOnDistinctHosts() {
        registerHosts(4);
        Volume volume = meta.create("v", 64L << 20, "rep3");
        WireReader absent = meta.read(new MetaRequest.GetChunk(volume.id(), 0)).bodyOrThrow();
        assertThat(absent.bool()).isFalse();
        Chunk chunk = meta.allocate(volume.id(), 0);
        assertThat(chunk.version()).isEqualTo(1);
        assertThat(chunk.chunklets()).hasSize(3)
                .allMatch(c -> c.role() == ChunkletRole.REPLICA && c.state() == ChunkletState.UPTODATE);
        assertThat(chunk.chunklets().stream().map(Chunklet::csId).distinct()).hasSize(3);
        Chunk again = meta.allocate(volume.id(), 0);
        assertThat(again).isEqualTo(chunk);
        Chunk second = meta.allocate(volume.id(), 1);
        assertThat(second.uid()).isGreaterThan(chunk.uid());
        Volume after = Volume.decode(meta.read(new MetaRequest.GetVolume("v")).bodyOrThrow());
        assertThat(after.chunkCount()).isEqualTo(2);
        assertThat(after.allocatedBytes()).isEqualTo(2 * StandaloneMeta.CHUNK_SIZE_BYTES);
    }

    @Test
    void erasureCodedChunksHaveDataAndParityChunklets() {
        registerHosts(6);
        Volume volume = Volume.decode(meta.ok(new MetaRequest.CreateVolume("ec", 64L << 20, "ec4+2",
                0)));
        Chunk chunk = meta.allocate(volume.id(), 0);
        assertThat(chunk.chunklets()).extracting(Chunklet::role).containsExactly(
                ChunkletRole.DATA, ChunkletRole.DATA, ChunkletRole.DATA, ChunkletRole.DATA,
                ChunkletRole.PARITY, ChunkletRole.PARITY);
        long chunkletBytes = volume.chunkSizeBytes() / 4;
        long allocated = 0;
        for (ChunkServer cs : MetaLogic.allCs(storeOf())) {
            allocated += cs.allocatedBytes();
        }
        assertThat(allocated).isEqualTo(6 * chunkletBytes);
    }

    private MetaStore storeOf() {
        return meta.stateMachine.storeForTests();
    }

    @Test
    void deleteAndShrinkReleaseChunksAndCapacity() {
        registerHosts(3);
        Volume volume = meta.create("v", 16L << 20, "rep3");
        for (int i = 0; i < 4; i++) {
            meta.allocate(volume.id(), i);
        }
        Volume shrunk = Volume.decode(meta.ok(new MetaRequest.ResizeVolume("v", 8L << 20, true)));
        assertThat(shrunk.chunkCount()).isEqualTo(2);
        assertThat(meta.read(new MetaRequest.GetChunk(volume.id(), 3)).bodyOrThrow().bool()).isFalse();
        Volume grown = Volume.decode(meta.ok(new MetaRequest.ResizeVolume("v", 32L << 20, false)));
        assertThat(grown.sizeBytes()).isEqualTo(32L << 20);
        meta.ok(new MetaRequest.DeleteVolume("v"));
        assertThat(MetaLogic.allCs(storeOf())).allMatch(cs -> cs.allocatedBytes() == 0);
        assertThat(meta.dump().get(MetaStore.Table.CHUNK)).isEmpty();
        assertThat(meta.dump().get(MetaStore.Table.CHUNK_UID)).isEmpty();
        assertThat(meta.read(new MetaRequest.GetVolume("v")).error()).isEqualTo(MetaError.NOT_FOUND);
        Volume recreated = meta.create("v", 16L << 20, "rep3");
        assertThat(recreated.id()).isGreaterThan(volume.id());
    }

    @Test
    void reportFailureMarksTheChunkletOutdatedInPlaceAndBumpsVersion() {
        registerHosts(4);
        Volume volume = meta.create("v", 16L << 20, "rep3");
        Chunk chunk = meta.allocate(volume.id(), 0);
        int failedCs = chunk.chunklets().get(1).csId();
        Chunk updated = Chunk.decode(meta.ok(new MetaRequest.ReportFailure(chunk.uid(),
                chunk.version(), failedCs)));
        assertThat(updated.version()).isEqualTo(chunk.version() + 1);
        // No substitute any more: the chunklet stays on its CS, marked; the recoverer decides.
        assertThat(updated.chunklets().get(1))
                .isEqualTo(chunk.chunklets().get(1).withState(ChunkletState.OUTDATED));
        // A second report of the same failure at the old version is stale: nothing changes.
        Chunk stale = Chunk.decode(meta.ok(new MetaRequest.ReportFailure(chunk.uid(),
                chunk.version(), failedCs)));
        assertThat(stale).isEqualTo(updated);
        // Already OUTDATED: reported again at the current version, still nothing changes.
        Chunk again = Chunk.decode(meta.ok(new MetaRequest.ReportFailure(chunk.uid(),
                updated.version(), failedCs)));
        assertThat(again).isEqualTo(updated);
        int secondFailed = updated.chunklets().get(0).csId();
        Chunk outdated = Chunk.decode(meta.ok(new MetaRequest.ReportFailure(chunk.uid(),
                updated.version(), secondFailed)));
        assertThat(outdated.version()).isEqualTo(updated.version() + 1);
        assertThat(outdated.chunklets().get(0))
                .isEqualTo(new Chunklet(0, secondFailed, ChunkletRole.REPLICA, ChunkletState.OUTDATED));
        // The last UPTODATE copy is never marked OUTDATED: the reporter gets the map unchanged.
        int lastCs = outdated.chunklets().get(2).csId();
        var before = state();
        Chunk kept = Chunk.decode(meta.ok(new MetaRequest.ReportFailure(chunk.uid(),
                outdated.version(), lastCs)));
        assertThat(kept).isEqualTo(outdated);
        assertThat(state()).isEqualTo(before);
        assertThat(meta.apply(new MetaRequest.ReportFailure(chunk.uid(), 99, secondFailed)).error())
                .isEqualTo(MetaError.INVALID);
        assertThat(meta.apply(new MetaRequest.ReportFailure(12345, 1, 1)).error())
                .isEqualTo(MetaError.NOT_FOUND);
    }

    @Test
    void leasesAreExclusiveExpireAndFenceOnMove() {
        registerHosts(3);
        Volume volume = meta.create("v", 16L << 20, "rep3");
        Chunk chunk = meta.allocate(volume.id(), 0);
        Lease lease = Lease.decode(meta.ok(new MetaRequest.AcquireLease(volume.id(), "client-a",
                10_000)));
        assertThat(lease.expiryMillis()).isEqualTo(meta.nowMillis + 10_000);
        long afterFirst = currentVersion(volume.id());
        assertThat(afterFirst).isEqualTo(chunk.version() + 1);
        // Renewal by the holder: no fencing.
        meta.nowMillis += 5_000;
        meta.ok(new MetaRequest.AcquireLease(volume.id(), "client-a", 10_000));
        assertThat(currentVersion(volume.id())).isEqualTo(afterFirst);
        MetaReply refused = meta.apply(new MetaRequest.AcquireLease(volume.id(), "client-b", 10_000));
        assertThat(refused.error()).isEqualTo(MetaError.LEASE_HELD);
        assertThat(new WireReader(refused.body()).string()).contains("leased by client client-a until");
        // client-a dies; its lease expires and client-b takes over, fencing client-a out.
        meta.nowMillis += 10_001;
        meta.ok(new MetaRequest.AcquireLease(volume.id(), "client-b", 10_000));
        assertThat(currentVersion(volume.id())).isEqualTo(afterFirst + 1);
        // A new leader bumps versions of chunks under an active lease.
        assertThat(meta.ok(new MetaRequest.NewLeaderEpoch("2")).i64()).isEqualTo(1);
        assertThat(currentVersion(volume.id())).isEqualTo(afterFirst + 2);
        meta.ok(new MetaRequest.ReleaseLease(volume.id(), "client-b"));
        assertThat(meta.ok(new MetaRequest.NewLeaderEpoch("3")).i64()).isZero();
    }

    @Test
    void aVolumeInUseIsDeletedOnlyWithForceOrAfterItsLeaseEnds() {
        registerHosts(3);
        Volume volume = meta.create("busy", 16L << 20, "rep3");
        meta.allocate(volume.id(), 0);
        meta.ok(new MetaRequest.AcquireLease(volume.id(), "gateway-1", 10_000));
        assertRefusedUnchanged(new MetaRequest.DeleteVolume("busy"), MetaError.LEASE_HELD,
                "in use by client gateway-1");
        // Expired (the gateway died): deletable without force.
        meta.nowMillis += 10_001;
        meta.ok(new MetaRequest.DeleteVolume("busy"));
        Volume again = meta.create("busy", 16L << 20, "rep3");
        meta.ok(new MetaRequest.AcquireLease(again.id(), "gateway-1", 10_000));
        meta.ok(new MetaRequest.DeleteVolume("busy", true));
        assertThat(meta.read(new MetaRequest.GetVolume("busy")).error()).isEqualTo(MetaError.NOT_FOUND);
    }

    private long currentVersion(long volumeId) {
        WireReader in = meta.read(new MetaRequest.GetChunk(volumeId, 0)).bodyOrThrow();
        assertThat(in.bool()).isTrue();
        return Chunk.decode(in).version();
    }

    @Test
    void chunkServersRegisterReRegisterAndChangeStatus() {
        ChunkServer first = meta.register("h1", TIB);
        assertThat(first.id()).isEqualTo(1);
        assertThat(first.status()).isEqualTo(CsStatus.UP);
        ChunkServer moved = ChunkServer.decode(meta.ok(new MetaRequest.RegisterCs(1, "h1:7001", "h1",
                "z1", 2 * TIB, "v2")));
        assertThat(moved.id()).isEqualTo(1);
        assertThat(moved.capacityBytes()).isEqualTo(2 * TIB);
        assertThat(meta.apply(new MetaRequest.RegisterCs(7, "x:1", "x", "z", TIB, "v")).error())
                .isEqualTo(MetaError.NOT_FOUND);
        ChunkServer unhealthy = ChunkServer.decode(meta.ok(new MetaRequest.SetCsStatus(1,
                CsStatus.UP.code, CsStatus.UNHEALTHY.code)));
        assertThat(unhealthy.status()).isEqualTo(CsStatus.UNHEALTHY);
        // Compare-and-set: a transition from a status the server no longer has is refused.
        assertThat(meta.apply(new MetaRequest.SetCsStatus(1, CsStatus.UP.code,
                CsStatus.DOWN.code)).error()).isEqualTo(MetaError.STALE_VERSION);
        Set<Integer> ids = new HashSet<>();
        for (int i = 0; i < 5; i++) {
            ids.add(meta.register("h" + (i + 2), TIB).id());
        }
        assertThat(ids).hasSize(5).doesNotContain(1);
    }

    @Test
    void clusterIdIsSetOnceFirstAppliedWins() {
        assertThat(meta.read(new MetaRequest.GetClusterId()).bodyOrThrow().bool()).isFalse();
        java.util.UUID first = java.util.UUID.randomUUID();
        java.util.UUID second = java.util.UUID.randomUUID();
        WireReader set = meta.ok(new MetaRequest.InitClusterId(first));
        assertThat(new java.util.UUID(set.i64(), set.i64())).isEqualTo(first);
        WireReader again = meta.ok(new MetaRequest.InitClusterId(second));
        assertThat(new java.util.UUID(again.i64(), again.i64())).isEqualTo(first);
        WireReader read = meta.read(new MetaRequest.GetClusterId()).bodyOrThrow();
        assertThat(read.bool()).isTrue();
        assertThat(new java.util.UUID(read.i64(), read.i64())).isEqualTo(first);
        assertRefusedUnchanged(new MetaRequest.InitClusterId(new java.util.UUID(0, 0)),
                MetaError.INVALID, "reserved");
    }

    @Test
    void unhealthyServersAreNotPlacedOn() {
        registerHosts(4);
        meta.ok(new MetaRequest.SetCsStatus(1, CsStatus.UP.code, CsStatus.UNHEALTHY.code));
        Volume volume = meta.create("v", 1L << 30, "rep3");
        assertThat(meta.allocate(volume.id(), 0).chunklets())
                .allMatch(c -> c.csId() != 1 && c.state() == ChunkletState.UPTODATE);
    }

    @Test
    void withTooFewUpDomainsANewChunkStartsDegradedOnAServerThatIsAway() {
        registerHosts(6);
        meta.ok(new MetaRequest.SetCsStatus(2, CsStatus.UP.code, CsStatus.DOWN.code));
        Volume ec = meta.create("e", 1L << 30, "ec4+2");
        Chunk chunk = meta.allocate(ec.id(), 0);
        // Five live columns, the four data ones among them; the last parity column waits on cs 2.
        assertThat(chunk.chunklets()).hasSize(6);
        assertThat(chunk.chunklets().subList(0, 5))
                .allMatch(c -> c.csId() != 2 && c.state() == ChunkletState.UPTODATE);
        assertThat(chunk.chunklets().get(5).csId()).isEqualTo(2);
        assertThat(chunk.chunklets().get(5).state()).isEqualTo(ChunkletState.OUTDATED);
        assertThat(chunk.chunklets().get(5).role()).isEqualTo(ChunkletRole.PARITY);
        // The recoverer sees it like any other degraded chunk.
        assertThat(meta.dump().get(MetaStore.Table.DEGRADED)).hasSize(1);

        // A second server away: k+1 = 5 live columns are no longer possible; refused, unchanged.
        meta.ok(new MetaRequest.SetCsStatus(3, CsStatus.UP.code, CsStatus.UNHEALTHY.code));
        MetaReply reply = meta.apply(new MetaRequest.AllocateChunk(ec.id(), 1));
        assertThat(reply.error()).isEqualTo(MetaError.NO_PLACEMENT);
        assertThat(new WireReader(reply.body()).string())
                .contains("needs 6 hosts, cluster has 4").contains("6 registered, 4 UP");
        assertThat(meta.read(new MetaRequest.GetChunk(ec.id(), 1)).bodyOrThrow().bool()).isFalse();

        // rep3 needs two live copies: one is enough to refuse.
        MetaReply rep = meta.apply(new MetaRequest.CreateVolume("r", 1L << 30, "rep3", 0));
        assertThat(rep.isOk()).isTrue();
        meta.ok(new MetaRequest.SetCsStatus(4, CsStatus.UP.code, CsStatus.DOWN.code));
        meta.ok(new MetaRequest.SetCsStatus(5, CsStatus.UP.code, CsStatus.DOWN.code));
        meta.ok(new MetaRequest.SetCsStatus(6, CsStatus.UP.code, CsStatus.DOWN.code));
        MetaReply none = meta.apply(new MetaRequest.CreateVolume("r2", 1L << 30, "rep3", 0));
        assertThat(none.error()).isEqualTo(MetaError.NO_PLACEMENT);
    }

    @Test
    void fullServersGetNoNewChunkletsButKeepTheirs() {
        registerHosts(4);
        Volume volume = meta.create("v", 64L << 20, "rep3");
        Chunk first = meta.allocate(volume.id(), 0);
        int full = first.chunklets().get(0).csId();
        meta.ok(new MetaRequest.SetCsStatus(full, CsStatus.UP.code, CsStatus.FULL.code));
        for (int i = 1; i < 8; i++) {
            assertThat(meta.allocate(volume.id(), i).chunklets()).noneMatch(c -> c.csId() == full);
        }
        WireReader read = meta.read(new MetaRequest.GetChunk(volume.id(), 0)).bodyOrThrow();
        assertThat(read.bool()).isTrue();
        assertThat(Chunk.decode(read)).isEqualTo(first);
    }

    @Test
    void listChunksPagesInIndexOrder() {
        registerHosts(3);
        Volume volume = meta.create("v", 64L << 20, "rep1");
        Volume other = meta.create("w", 64L << 20, "rep1");
        List<Chunk> allocated = new java.util.ArrayList<>();
        for (int index : new int[] {9, 0, 3, 15, 4}) {
            allocated.add(meta.allocate(volume.id(), index));
        }
        meta.allocate(other.id(), 1);
        allocated.sort(java.util.Comparator.comparingLong(Chunk::index));
        List<Chunk> listed = new java.util.ArrayList<>();
        long from = 0;
        while (true) {
            WireReader in = meta.read(new MetaRequest.ListChunks(volume.id(), from, 2))
                    .bodyOrThrow();
            int count = in.i32();
            for (int i = 0; i < count; i++) {
                Chunk chunk = Chunk.decode(in);
                listed.add(chunk);
                from = chunk.index() + 1;
            }
            in.end();
            if (count < 2) {
                break;
            }
        }
        assertThat(listed).isEqualTo(allocated);
        assertThat(meta.read(new MetaRequest.ListChunks(volume.id(), 0, 0)).error())
                .isEqualTo(MetaError.INVALID);
        assertThat(meta.read(new MetaRequest.ListChunks(99, 0, 10)).bodyOrThrow().i32()).isZero();
    }
}
