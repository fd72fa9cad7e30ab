package io.basalt.meta.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.meta.api.CsChunkVersion;
import io.basalt.meta.api.MetaError;
import io.basalt.meta.api.MetaReply;
import io.basalt.meta.api.MetaRequest;
import io.basalt.meta.api.MetaRequest.RecoverItem;
import io.basalt.meta.api.RecoverResult;
import io.basalt.meta.api.RecoverResult.Outcome;
import io.basalt.meta.api.RecoveryTask;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.ChunkServer;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.ChunkletState;
import io.basalt.meta.model.CsStatus;
import io.basalt.meta.model.Volume;
import io.basalt.meta.store.Keys;
import io.basalt.meta.store.MetaStore;
import io.basalt.meta.store.MetaStore.Table;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The recovery transitions of the state machine: REPORT_FAILURE marks OUTDATED,
 * RECOVER_CHUNKLETS moves chunklets into recovery (in place or elsewhere) under the last-copy
 * rule, RECOVERY_DONE ends a recovery only if it is still the current one; and the recovery and
 * degraded tables always match the chunk table (checked after every entry here, and over random
 * sequences in {@link RecoveryIndexProperties}).
 */
class RecoveryLogicTest {
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

    private List<RecoverResult> recover(RecoverItem... items) {
        WireReader in = meta.ok(new MetaRequest.RecoverChunklets(List.of(items)));
        int count = in.i32();
        List<RecoverResult> results = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            results.add(RecoverResult.decode(in));
        }
        in.end();
        RecoveryIndexProperties.checkTables(meta);
        return results;
    }

    private RecoverResult recoverOne(RecoverItem item) {
        return recover(item).getFirst();
    }

    private Chunk chunk(Chunk any) {
        WireReader in = meta.read(new MetaRequest.GetChunk(any.volumeId(), any.index()))
                .bodyOrThrow();
        assertThat(in.bool()).isTrue();
        return Chunk.decode(in);
    }

    private Chunk report(Chunk chunk, int csId) {
        Chunk updated = Chunk.decode(meta.ok(new MetaRequest.ReportFailure(chunk.uid(),
                chunk.version(), csId)));
        RecoveryIndexProperties.checkTables(meta);
        return updated;
    }

    private ChunkServer cs(int id) {
        return MetaLogic.allCs(meta.stateMachine.storeForTests()).stream()
                .filter(server -> server.id() == id).findFirst().orElseThrow();
    }

    private RecoveryIndex.Record record(int csId, long uid) {
        List<RecoveryIndex.Record> records = RecoveryIndex.of(meta.stateMachine.storeForTests(),
                csId, uid - 1, 1);
        return records.isEmpty() || records.getFirst().chunkUid() != uid ? null
                : records.getFirst();
    }

    private Map<String, List<String>> state() {
        Map<String, List<String>> state = new TreeMap<>();
        meta.dump().forEach((table, entries) -> state.put(table.name(), entries.stream()
                .filter(e -> !java.util.Arrays.equals(e.key(), Keys.LAST_APPLIED))
                .map(MetaStore.Entry::toString).toList()));
        return state;
    }

    @Test
    void aReportedChunkletIsOutdatedAndTheChunkDegraded() {
        registerHosts(4);
        Volume volume = meta.create("v", 16L << 20, "rep3");
        Chunk chunk = meta.allocate(volume.id(), 0);
        assertThat(meta.dump().get(Table.DEGRADED)).isEmpty();
        Chunk reported = report(chunk, chunk.chunklets().get(2).csId());
        assertThat(reported.chunklets().get(2).state()).isEqualTo(ChunkletState.OUTDATED);
        assertThat(reported.chunklets().get(2).csId()).isEqualTo(chunk.chunklets().get(2).csId());
        assertThat(meta.dump().get(Table.DEGRADED)).hasSize(1);
        assertThat(meta.dump().get(Table.RECOVERY)).isEmpty();
    }

    @Test
    void inPlaceCatchesUpAnOutdatedChunkletOnAServingServerOnly() {
        registerHosts(4);
        Volume volume = meta.create("v", 16L << 20, "rep3");
        Chunk chunk = meta.allocate(volume.id(), 0);
        int csId = chunk.chunklets().get(1).csId();
        // UPTODATE: nothing to catch up.
        assertThat(recoverOne(RecoverItem.inPlace(chunk.uid(), chunk.version(), csId)).outcome())
                .isEqualTo(Outcome.SKIPPED);
        Chunk outdated = report(chunk, csId);
        meta.ok(new MetaRequest.SetCsStatus(csId, CsStatus.UP.code, CsStatus.DOWN.code));
        RecoverResult down = recoverOne(RecoverItem.inPlace(chunk.uid(), outdated.version(), csId));
        assertThat(down.outcome()).isEqualTo(Outcome.SKIPPED);
        assertThat(down.message()).contains("DOWN");
        meta.ok(new MetaRequest.SetCsStatus(csId, CsStatus.DOWN.code, CsStatus.FULL.code));
        // A stale version is skipped, whatever else holds.
        assertThat(recoverOne(RecoverItem.inPlace(chunk.uid(), chunk.version(), csId)).outcome())
                .isEqualTo(Outcome.SKIPPED);
        RecoverResult result = recoverOne(RecoverItem.inPlace(chunk.uid(), outdated.version(),
                csId));
        assertThat(result.outcome()).isEqualTo(Outcome.CHANGED);
        assertThat(result.chunkVersion()).isEqualTo(outdated.version() + 1);
        Chunk recovering = chunk(chunk);
        assertThat(recovering.chunklets().get(1)).isEqualTo(chunk.chunklets().get(1)
                .withState(ChunkletState.RECOVERING));
        RecoveryIndex.Record record = record(csId, chunk.uid());
        assertThat(record.kind()).isEqualTo(RecoveryTask.KIND_CATCH_UP);
        assertThat(record.startVersion()).isEqualTo(recovering.version());
        // Unknown chunk and a CS without a chunklet of it: skipped.
        List<RecoverResult> skipped = recover(RecoverItem.inPlace(999, 1, csId),
                RecoverItem.replace(chunk.uid(), recovering.version(), 77));
        assertThat(skipped).extracting(RecoverResult::outcome)
                .containsExactly(Outcome.SKIPPED, Outcome.SKIPPED);
    }

    @Test
    void replaceRebuildsOnAnotherDomainAndMovesTheAllocation() {
        registerHosts(4);
        Volume volume = meta.create("v", 16L << 20, "rep3");
        Chunk chunk = meta.allocate(volume.id(), 0);
        int lost = chunk.chunklets().get(0).csId();
        long chunkletBytes = volume.chunkSizeBytes();
        meta.ok(new MetaRequest.SetCsStatus(lost, CsStatus.UP.code, CsStatus.DOWN.code));
        RecoverResult result = recoverOne(RecoverItem.replace(chunk.uid(), chunk.version(), lost));
        assertThat(result.outcome()).isEqualTo(Outcome.CHANGED);
        Chunk moved = chunk(chunk);
        assertThat(moved.version()).isEqualTo(chunk.version() + 1);
        Chunklet rebuilt = moved.chunklets().get(0);
        assertThat(rebuilt.state()).isEqualTo(ChunkletState.RECOVERING);
        Set<Integer> before = new HashSet<>();
        chunk.chunklets().forEach(c -> before.add(c.csId()));
        assertThat(before).doesNotContain(rebuilt.csId());
        assertThat(cs(lost).allocatedBytes()).isZero();
        assertThat(cs(rebuilt.csId()).allocatedBytes()).isEqualTo(chunkletBytes);
        assertThat(record(rebuilt.csId(), chunk.uid()).kind()).isEqualTo(RecoveryTask.KIND_REBUILD);
        // The lost CS is told, through its version index, that the chunk left it.
        List<CsChunkVersion> index = CsVersionIndex.after(meta.stateMachine.storeForTests(), lost,
                0, 100);
        assertThat(index).hasSize(1);
        assertThat(index.getFirst().deleted()).isTrue();
        // Its task names every chunklet's server.
        WireReader in = meta.read(new MetaRequest.ListRecoveryTasks(rebuilt.csId(), 0, 10))
                .bodyOrThrow();
        assertThat(in.i32()).isEqualTo(1);
        RecoveryTask task = RecoveryTask.decode(in);
        assertThat(task.chunk()).isEqualTo(moved);
        assertThat(task.startVersion()).isEqualTo(moved.version());
        assertThat(task.kind()).isEqualTo(RecoveryTask.KIND_REBUILD);
        assertThat(task.policyName()).isEqualTo("rep3");
        assertThat(task.chunkletSizeBytes()).isEqualTo(chunkletBytes);
        assertThat(task.peers()).extracting(RecoveryTask.Peer::csId)
                .containsExactlyElementsOf(moved.chunklets().stream().map(Chunklet::csId).toList());
        assertThat(task.addressOf(rebuilt.csId())).isEqualTo(cs(rebuilt.csId()).address());
        assertThat(task.chunkletOn(rebuilt.csId()).index()).isZero();
    }

    @Test
    void theLastUptodateReplicaIsNeverReplaced() {
        registerHosts(5);
        Volume volume = meta.create("v", 16L << 20, "rep3");
        Chunk chunk = meta.allocate(volume.id(), 0);
        Chunk current = report(chunk, chunk.chunklets().get(0).csId());
        current = report(current, current.chunklets().get(1).csId());
        int last = current.chunklets().get(2).csId();
        var before = state();
        RecoverResult result = recoverOne(RecoverItem.replace(chunk.uid(), current.version(), last));
        assertThat(result.outcome()).isEqualTo(Outcome.LAST_COPY);
        assertThat(result.message()).contains("rep3 needs 1 UPTODATE chunklet")
                .contains("others have 0");
        assertThat(state()).isEqualTo(before);
        // An OUTDATED one may go: one UPTODATE copy stays.
        assertThat(recoverOne(RecoverItem.replace(chunk.uid(), current.version(),
                current.chunklets().get(0).csId())).outcome()).isEqualTo(Outcome.CHANGED);
    }

    @Test
    void aRebuildNeverGoesBackToAServerThatHeldTheChunkBefore() {
        registerHosts(4);
        Volume volume = meta.create("v", 16L << 20, "rep3");
        Chunk chunk = meta.allocate(volume.id(), 0);
        int first = chunk.chunklets().get(0).csId();
        RecoverResult moved = recoverOne(RecoverItem.replace(chunk.uid(), chunk.version(), first));
        assertThat(moved.outcome()).isEqualTo(Outcome.CHANGED);
        Chunk current = chunk(chunk);
        int second = current.chunklets().get(0).csId();
        assertThat(second).isNotEqualTo(first);
        // Its old copy may still be on the first server's disk: it is not a candidate again.
        RecoverResult again = recoverOne(RecoverItem.replace(chunk.uid(), current.version(), second));
        assertThat(again.outcome()).isEqualTo(Outcome.NO_PLACEMENT);
        // Nor when a move names it as the target (the balancer does).
        Chunk now = chunk(chunk);
        RecoverResult named = recoverOne(RecoverItem.migrate(chunk.uid(), now.version(),
                now.chunklets().get(1).csId(), first));
        assertThat(named.outcome()).isEqualTo(Outcome.NO_PLACEMENT);
        assertThat(named.message()).contains("held");
        assertThat(chunk(chunk).chunklets()).noneMatch(c -> c.csId() == first);
    }

    @Test
    void erasureCodedChunksKeepTheirLastUptodateParityColumnWhileADataColumnIsMissing() {
        registerHosts(7);
        Volume volume = Volume.decode(meta.ok(new MetaRequest.CreateVolume("ecp", 64L << 20,
                "ec4+2", 0)));
        Chunk chunk = meta.allocate(volume.id(), 0);
        Chunk current = report(chunk, chunk.chunklets().get(4).csId());
        assertThat(current.chunklets().get(4).state()).isEqualTo(ChunkletState.OUTDATED);
        current = report(current, current.chunklets().get(1).csId());
        assertThat(current.chunklets().get(1).state()).isEqualTo(ChunkletState.OUTDATED);
        // Four UPTODATE, four needed; and column 5, the last parity column, would rebuild column 1.
        var before = state();
        RecoverResult refused = recoverOne(RecoverItem.outdate(chunk.uid(), current.version(),
                current.chunklets().get(5).csId()));
        assertThat(refused.outcome()).isEqualTo(Outcome.LAST_COPY);
        assertThat(state()).isEqualTo(before);
        assertThat(report(current, current.chunklets().get(5).csId())).isEqualTo(current);
    }

    /**
     * With every data column UPTODATE the last parity column may go: writes go to the data columns
     * directly (no stripe master), and the parity is encoded from them when it comes back.
     */
    @Test
    void theLastParityColumnMayGoWhileEveryDataColumnIsUpToDate() {
        registerHosts(7);
        Volume volume = Volume.decode(meta.ok(new MetaRequest.CreateVolume("ecq", 64L << 20,
                "ec4+2", 0)));
        Chunk chunk = meta.allocate(volume.id(), 0);
        Chunk current = report(chunk, chunk.chunklets().get(4).csId());
        current = report(current, current.chunklets().get(5).csId());
        assertThat(current.chunklets().get(5).state()).isEqualTo(ChunkletState.OUTDATED);
        // Then no data column may go: four UPTODATE are the least that hold the data.
        RecoverResult refused = recoverOne(RecoverItem.outdate(chunk.uid(), current.version(),
                current.chunklets().get(1).csId()));
        assertThat(refused.outcome()).isEqualTo(Outcome.LAST_COPY);
        assertThat(refused.message()).contains("needs 4 UPTODATE");
    }

    @Test
    void theLastParityColumnIsReplacedWhenItsServerIsGoneAndEveryDataColumnIsUpToDate() {
        registerHosts(8);
        Volume volume = Volume.decode(meta.ok(new MetaRequest.CreateVolume("ecr", 64L << 20,
                "ec4+2", 0)));
        Chunk chunk = meta.allocate(volume.id(), 0);
        Chunk current = report(chunk, chunk.chunklets().get(4).csId());
        int lastParity = current.chunklets().get(5).csId();
        // Its server gone: the replacement is encoded from the four data columns.
        RecoverResult replaced = recoverOne(RecoverItem.replace(chunk.uid(), current.version(), lastParity));
        assertThat(replaced.outcome()).as(replaced.message()).isEqualTo(Outcome.CHANGED);
        Chunk after = chunk(chunk);
        assertThat(after.chunklets().stream().filter(c -> c.index() == 5).findFirst().orElseThrow())
                .satisfies(c -> {
                    assertThat(c.csId()).isNotEqualTo(lastParity);
                    assertThat(c.state()).isEqualTo(ChunkletState.RECOVERING);
                });
        // With a data column OUTDATED as well, the last parity stays (k data columns are needed to encode it).
        Chunk other = meta.allocate(volume.id(), 1);
        Chunk o = report(other, other.chunklets().get(4).csId());
        o = report(o, o.chunklets().get(0).csId());
        assertThat(recoverOne(RecoverItem.replace(other.uid(), o.version(), o.chunklets().get(5).csId())).outcome())
                .isEqualTo(Outcome.LAST_COPY);
    }

    @Test
    void erasureCodedChunksKeepAtLeastKUptodateChunklets() {
        registerHosts(7);
        Volume volume = Volume.decode(meta.ok(new MetaRequest.CreateVolume("ec", 64L << 20,
                "ec4+2", 0)));
        Chunk chunk = meta.allocate(volume.id(), 0);
        Chunk current = report(chunk, chunk.chunklets().get(0).csId());
        current = report(current, current.chunklets().get(5).csId());
        // Four UPTODATE left: replacing any of them would leave three of the four needed.
        var before = state();
        RecoverResult refused = recoverOne(RecoverItem.replace(chunk.uid(), current.version(),
                current.chunklets().get(2).csId()));
        assertThat(refused.outcome()).isEqualTo(Outcome.LAST_COPY);
        assertThat(refused.message()).contains("ec4+2 needs 4 UPTODATE chunklets");
        assertThat(state()).isEqualTo(before);
        // A report about one of them is not applied either (it would mark it OUTDATED).
        assertThat(report(current, current.chunklets().get(2).csId())).isEqualTo(current);
        // The OUTDATED ones may be rebuilt; the seventh host takes the first (its old server is
        // DOWN), then none is left.
        meta.ok(new MetaRequest.SetCsStatus(current.chunklets().get(0).csId(), CsStatus.UP.code,
                CsStatus.DOWN.code));
        List<RecoverResult> results = recover(
                RecoverItem.replace(chunk.uid(), current.version(), current.chunklets().get(0).csId()));
        assertThat(results.getFirst().outcome()).isEqualTo(Outcome.CHANGED);
        Chunk after = chunk(chunk);
        RecoverResult full = recoverOne(RecoverItem.replace(chunk.uid(), after.version(),
                after.chunklets().get(5).csId()));
        assertThat(full.outcome()).isEqualTo(Outcome.NO_PLACEMENT);
        assertThat(full.message()).contains("needs");
        // Already OUTDATED: nothing changed, same version.
        assertThat(full.chunkVersion()).isEqualTo(after.version());
    }

    @Test
    void noPlacementMarksTheChunkletOutdatedOnce() {
        registerHosts(3);
        Volume volume = meta.create("v", 16L << 20, "rep3");
        Chunk chunk = meta.allocate(volume.id(), 0);
        int lost = chunk.chunklets().get(1).csId();
        meta.ok(new MetaRequest.SetCsStatus(lost, CsStatus.UP.code, CsStatus.DOWN.code));
        RecoverResult first = recoverOne(RecoverItem.replace(chunk.uid(), chunk.version(), lost));
        assertThat(first.outcome()).isEqualTo(Outcome.NO_PLACEMENT);
        assertThat(first.message()).contains("policy rep3 needs 3 hosts");
        assertThat(first.chunkVersion()).isEqualTo(chunk.version() + 1);
        Chunk outdated = chunk(chunk);
        assertThat(outdated.chunklets().get(1)).isEqualTo(chunk.chunklets().get(1)
                .withState(ChunkletState.OUTDATED));
        var before = state();
        RecoverResult second = recoverOne(RecoverItem.replace(chunk.uid(), outdated.version(),
                lost));
        assertThat(second.outcome()).isEqualTo(Outcome.NO_PLACEMENT);
        assertThat(second.chunkVersion()).isEqualTo(outdated.version());
        assertThat(state()).isEqualTo(before);
    }

    @Test
    void recoveryDoneEndsOnlyTheCurrentRecovery() {
        registerHosts(4);
        Volume volume = meta.create("v", 16L << 20, "rep3");
        Chunk chunk = meta.allocate(volume.id(), 0);
        int lost = chunk.chunklets().get(2).csId();
        recoverOne(RecoverItem.replace(chunk.uid(), chunk.version(), lost));
        Chunk moved = chunk(chunk);
        int target = moved.chunklets().get(2).csId();
        long startVersion = moved.version();
        // A lease move bumps the version but keeps the recovery (and its start version).
        meta.ok(new MetaRequest.AcquireLease(volume.id(), "client-a", 10_000));
        assertThat(chunk(chunk).version()).isEqualTo(startVersion + 1);
        assertThat(record(target, chunk.uid()).startVersion()).isEqualTo(startVersion);
        var before = state();
        MetaReply wrong = meta.apply(new MetaRequest.RecoveryDone(chunk.uid(), target,
                startVersion + 1));
        assertThat(wrong.error()).isEqualTo(MetaError.STALE_VERSION);
        assertThat(new WireReader(wrong.body()).string()).startsWith("recovery of chunk "
                + chunk.uid() + " on cs " + target + " is no longer current (");
        assertThat(meta.apply(new MetaRequest.RecoveryDone(chunk.uid(), lost, startVersion))
                .error()).isEqualTo(MetaError.STALE_VERSION);
        assertThat(meta.apply(new MetaRequest.RecoveryDone(999, target, startVersion)).error())
                .isEqualTo(MetaError.STALE_VERSION);
        assertThat(state()).isEqualTo(before);
        Chunk done = Chunk.decode(meta.ok(new MetaRequest.RecoveryDone(chunk.uid(), target,
                startVersion)));
        RecoveryIndexProperties.checkTables(meta);
        assertThat(done.version()).isEqualTo(startVersion + 2);
        assertThat(done.chunklets()).allMatch(c -> c.state() == ChunkletState.UPTODATE);
        assertThat(meta.dump().get(Table.RECOVERY)).isEmpty();
        assertThat(meta.dump().get(Table.DEGRADED)).isEmpty();
        // Said twice (a retry after the first answer was lost): the second is stale.
        assertThat(meta.apply(new MetaRequest.RecoveryDone(chunk.uid(), target, startVersion))
                .error()).isEqualTo(MetaError.STALE_VERSION);
    }

    /** Only the certificate a chunk server id is bound to may report its recoveries (CsHolders). */
    @Test
    void recoveryDoneComesOnlyFromTheHolderTheIdIsBoundTo() {
        for (int i = 0; i < 4; i++) {
            meta.ok(new MetaRequest.RegisterCs(0, "host" + i + ":7000", "host" + i, "z", TIB, "t", "cs-" + i));
        }
        Volume volume = meta.create("v", 16L << 20, "rep3");
        Chunk chunk = meta.allocate(volume.id(), 0);
        recoverOne(RecoverItem.replace(chunk.uid(), chunk.version(), chunk.chunklets().get(2).csId()));
        Chunk moved = chunk(chunk);
        int target = moved.chunklets().get(2).csId();
        String owner = "cs-" + (target - 1);
        var before = state();
        for (String other : List.of("cs-" + (target % 4), "")) {
            MetaReply refused = meta.apply(new MetaRequest.RecoveryDone(chunk.uid(), target, moved.version(), other));
            assertThat(refused.error()).isEqualTo(MetaError.FORBIDDEN);
            assertThat(new WireReader(refused.body()).string()).contains("belongs to certificate " + owner);
        }
        assertThat(state()).isEqualTo(before);
        Chunk done = Chunk.decode(meta.ok(new MetaRequest.RecoveryDone(chunk.uid(), target, moved.version(), owner)));
        assertThat(done.chunklets()).allMatch(c -> c.state() == ChunkletState.UPTODATE);
        // And the id's registration: the owner may move it, another holder may not.
        assertThat(meta.apply(new MetaRequest.RegisterCs(target, "x:1", "x", "z", TIB, "t", "cs-" + (target % 4)))
                .error()).isEqualTo(MetaError.FORBIDDEN);
        meta.ok(new MetaRequest.RegisterCs(target, "x:1", "x", "z", TIB, "t", owner));
    }

    @Test
    void aRecoveryThatFailsAgainAndRestartsGetsANewStartVersion() {
        registerHosts(4);
        Volume volume = meta.create("v", 16L << 20, "rep3");
        Chunk chunk = meta.allocate(volume.id(), 0);
        int csId = chunk.chunklets().get(0).csId();
        Chunk outdated = report(chunk, csId);
        recoverOne(RecoverItem.inPlace(chunk.uid(), outdated.version(), csId));
        long firstStart = chunk(chunk).version();
        // The catch-up fails (a client reports the CS again), then starts over.
        Chunk failedAgain = report(chunk(chunk), csId);
        assertThat(failedAgain.chunklets().get(0).state()).isEqualTo(ChunkletState.OUTDATED);
        assertThat(meta.dump().get(Table.RECOVERY)).isEmpty();
        recoverOne(RecoverItem.inPlace(chunk.uid(), failedAgain.version(), csId));
        long secondStart = chunk(chunk).version();
        assertThat(meta.apply(new MetaRequest.RecoveryDone(chunk.uid(), csId, firstStart)).error())
                .isEqualTo(MetaError.STALE_VERSION);
        meta.ok(new MetaRequest.RecoveryDone(chunk.uid(), csId, secondStart));
        RecoveryIndexProperties.checkTables(meta);
    }

    @Test
    void recoveryTasksPageInUidOrderAndAreCountedPerServer() {
        registerHosts(4);
        // rep1: a report of the only replica is refused by the last-copy rule.
        Volume one = meta.create("v", 64L << 20, "rep1");
        Chunk single = meta.allocate(one.id(), 0);
        assertThat(report(single, single.chunklets().getFirst().csId())).isEqualTo(single);
        // RECOVERING chunklets on several servers: report one replica of rep2, then catch up.
        Volume two = meta.create("w", 64L << 20, "rep2");
        Map<Integer, List<Long>> expected = new TreeMap<>();
        for (int i = 0; i < 12; i++) {
            Chunk chunk = meta.allocate(two.id(), i);
            int csId = chunk.chunklets().get(1).csId();
            Chunk outdated = report(chunk, csId);
            recoverOne(RecoverItem.inPlace(chunk.uid(), outdated.version(), csId));
            expected.computeIfAbsent(csId, id -> new ArrayList<>()).add(chunk.uid());
        }
        for (Map.Entry<Integer, List<Long>> entry : expected.entrySet()) {
            List<Long> listed = new ArrayList<>();
            long after = 0;
            while (true) {
                WireReader in = meta.read(new MetaRequest.ListRecoveryTasks(entry.getKey(), after,
                        2)).bodyOrThrow();
                int count = in.i32();
                for (int i = 0; i < count; i++) {
                    RecoveryTask task = RecoveryTask.decode(in);
                    assertThat(task.kind()).isEqualTo(RecoveryTask.KIND_CATCH_UP);
                    listed.add(task.chunk().uid());
                    after = task.chunk().uid();
                }
                in.end();
                if (count < 2) {
                    break;
                }
            }
            assertThat(listed).isEqualTo(entry.getValue());
            assertThat(RecoveryIndex.countOf(meta.stateMachine.storeForTests(), entry.getKey()))
                    .isEqualTo(entry.getValue().size());
        }
        assertThat(meta.read(new MetaRequest.ListRecoveryTasks(1, 0, 0)).error())
                .isEqualTo(MetaError.INVALID);
        assertThat(meta.read(new MetaRequest.ListRecoveryTasks(1, 0, 257)).error())
                .isEqualTo(MetaError.INVALID);
    }

    @Test
    void badRecoverRequestsAreRefusedByForm() {
        assertThat(meta.apply(new MetaRequest.RecoverChunklets(List.of())).error())
                .isEqualTo(MetaError.INVALID);
        assertThat(meta.apply(new MetaRequest.RecoverChunklets(List.of(
                new RecoverItem(1, 1, 1, 5)))).error()).isEqualTo(MetaError.INVALID);
        // A move's target is never its source.
        assertThat(meta.apply(new MetaRequest.RecoverChunklets(List.of(
                RecoverItem.migrate(1, 1, 1, 1)))).error()).isEqualTo(MetaError.INVALID);
        List<RecoverItem> many = new ArrayList<>();
        for (int i = 0; i < 257; i++) {
            many.add(RecoverItem.replace(i, 1, 1));
        }
        assertThat(meta.apply(new MetaRequest.RecoverChunklets(many)).error())
                .isEqualTo(MetaError.INVALID);
    }
}
