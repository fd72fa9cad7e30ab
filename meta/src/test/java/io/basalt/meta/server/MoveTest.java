package io.basalt.meta.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.meta.api.CsChunkVersion;
import io.basalt.meta.api.MetaError;
import io.basalt.meta.api.MetaReply;
import io.basalt.meta.api.MetaRequest;
import io.basalt.meta.api.MetaRequest.RecoverItem;
import io.basalt.meta.api.RecoverResult;
import io.basalt.meta.api.RecoverResult.Outcome;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.ChunkServer;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.ChunkletState;
import io.basalt.meta.model.CsStatus;
import io.basalt.meta.model.Volume;
import io.basalt.meta.store.MetaStore;
import io.basalt.meta.store.MetaStore.Table;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Moving chunklets: MIGRATE (replicated: the source stays MIGRATING beside a RECOVERING target;
 * EC: a REPLACE), either side failing during the move, the last-copy and failure-domain rules,
 * drain and remove, and the balancer filling a server added to a full cluster.
 */
class MoveTest {
    private static final long SECOND = 1_000_000_000L;
    private static final long MIB = 1L << 20;

    @TempDir
    Path dir;

    private StandaloneMeta meta;
    private final Recoverer recoverer = new Recoverer();
    private final List<RecoverItem> proposed = new ArrayList<>();
    private long nowNanos = 1000 * SECOND;

    @BeforeEach
    void open() throws Exception {
        meta = new StandaloneMeta(dir);
    }

    @AfterEach
    void close() throws Exception {
        meta.close();
    }

    private ChunkServer register(String host, long capacityBytes) {
        return meta.register(host, capacityBytes);
    }

    private RecoverResult recover(RecoverItem item) {
        WireReader in = meta.ok(new MetaRequest.RecoverChunklets(List.of(item)));
        assertThat(in.i32()).isEqualTo(1);
        RecoverResult result = RecoverResult.decode(in);
        check();
        return result;
    }

    private void check() {
        RecoveryIndexProperties.checkTables(meta);
        RecoveryIndexProperties.checkMovesAndAllocation(meta);
    }

    private Chunk chunk(Chunk any) {
        return RecoveryIndexProperties.chunks(meta).get(any.uid());
    }

    private ChunkServer cs(int id) {
        return MetaLogic.allCs(meta.stateMachine.storeForTests()).stream()
                .filter(server -> server.id() == id).findFirst().orElse(null);
    }

    private static Chunklet on(Chunk chunk, int csId) {
        return chunk.chunklets().stream().filter(c -> c.csId() == csId).findFirst().orElse(null);
    }

    private long startVersion(int csId, long uid) {
        List<RecoveryIndex.Record> records = RecoveryIndex.of(meta.stateMachine.storeForTests(),
                csId, uid - 1, 1);
        assertThat(records).isNotEmpty();
        return records.getFirst().startVersion();
    }

    private Chunk done(long uid, int csId) {
        Chunk chunk = Chunk.decode(meta.ok(new MetaRequest.RecoveryDone(uid, csId,
                startVersion(csId, uid))));
        check();
        return chunk;
    }

    /** Reports RECOVERY_DONE for every RECOVERING chunklet, as the chunk servers would. */
    private int finishAll() {
        List<long[]> records = new ArrayList<>();
        for (MetaStore.Entry entry : meta.dump().get(Table.RECOVERY)) {
            records.add(new long[] {io.basalt.meta.store.Keys.readU64(entry.key(), 4),
                    java.nio.ByteBuffer.wrap(entry.key()).getInt(0)});
        }
        for (long[] record : records) {
            done(record[0], (int) record[1]);
        }
        return records.size();
    }

    private int pass() {
        proposed.clear();
        nowNanos += SECOND;
        int count = recoverer.pass(meta.stateMachine, nowNanos, Duration.ofSeconds(30),
                request -> {
                    proposed.addAll(((MetaRequest.RecoverChunklets) request).items());
                    return meta.ok(request);
                });
        check();
        return count;
    }

    private Chunk report(Chunk chunk, int csId) {
        Chunk updated = Chunk.decode(meta.ok(new MetaRequest.ReportFailure(chunk.uid(),
                chunk.version(), csId)));
        check();
        return updated;
    }

    private String error(MetaRequest request) {
        MetaReply reply = meta.apply(request);
        assertThat(reply.isOk()).as("%s refused", request).isFalse();
        return new WireReader(reply.body()).string();
    }

    @Test
    void aReplicatedMoveKeepsTheSourceServingUntilTheTargetIsFilled() {
        for (int i = 0; i < 4; i++) {
            register("host" + i, 1L << 40);
        }
        Volume volume = meta.create("v", 16 * MIB, "rep3");
        Chunk chunk = meta.allocate(volume.id(), 0);
        Chunklet source = chunk.chunklets().get(1);
        int spare = 1 + 2 + 3 + 4 - chunk.chunklets().stream().mapToInt(Chunklet::csId).sum();
        long spareBefore = cs(spare).allocatedBytes();

        RecoverResult result = recover(RecoverItem.migrate(chunk.uid(), chunk.version(),
                source.csId(), 0));
        assertThat(result.outcome()).isEqualTo(Outcome.CHANGED);
        Chunk moving = chunk(chunk);
        assertThat(moving.version()).isEqualTo(chunk.version() + 1);
        assertThat(moving.chunklets()).hasSize(4);
        assertThat(on(moving, source.csId()).state()).isEqualTo(ChunkletState.MIGRATING);
        assertThat(on(moving, spare).state()).isEqualTo(ChunkletState.RECOVERING);
        assertThat(on(moving, spare).index()).isEqualTo(source.index());
        assertThat(cs(spare).allocatedBytes()).isGreaterThan(spareBefore);
        // A second move of the same chunk waits for this one.
        assertThat(recover(RecoverItem.migrate(chunk.uid(), moving.version(),
                chunk.chunklets().get(0).csId(), 0)).outcome()).isEqualTo(Outcome.SKIPPED);

        long sourceBefore = cs(source.csId()).allocatedBytes();
        Chunk moved = done(chunk.uid(), spare);
        assertThat(moved.chunklets()).hasSize(3);
        assertThat(on(moved, source.csId())).isNull();
        assertThat(on(moved, spare).state()).isEqualTo(ChunkletState.UPTODATE);
        assertThat(cs(source.csId()).allocatedBytes()).isLessThan(sourceBefore);
        // The source learns through its version index that the chunk left it: it deletes it.
        List<CsChunkVersion> index = CsVersionIndex.after(meta.stateMachine.storeForTests(),
                source.csId(), 0, 100);
        assertThat(index).anyMatch(e -> e.chunkUid() == chunk.uid() && e.deleted());
        assertThat(meta.dump().get(Table.DEGRADED)).isEmpty();
    }

    @Test
    void aMoveKeepsFailureDomainsDistinct() {
        register("host0", 1L << 40);
        register("host1", 1L << 40);
        register("host2", 1L << 40);
        Volume volume = meta.create("v", 16 * MIB, "rep3");
        Chunk chunk = meta.allocate(volume.id(), 0);
        // A fourth server on host1: a chunklet of host0 may not go there.
        ChunkServer sameHost = register("host1", 1L << 40);
        int fromHost0 = chunk.chunklets().stream().filter(c -> c.csId() == 1).findFirst()
                .orElseThrow().csId();
        RecoverResult targeted = recover(RecoverItem.migrate(chunk.uid(), chunk.version(),
                fromHost0, sameHost.id()));
        assertThat(targeted.outcome()).isEqualTo(Outcome.NO_PLACEMENT);
        assertThat(targeted.message()).contains("failure domain");
        RecoverResult placed = recover(RecoverItem.migrate(chunk.uid(), chunk.version(),
                fromHost0, 0));
        assertThat(placed.outcome()).isEqualTo(Outcome.NO_PLACEMENT);
        assertThat(chunk(chunk)).isEqualTo(chunk);
        // The chunklet of host1 may move to the other server on host1.
        RecoverResult sibling = recover(RecoverItem.migrate(chunk.uid(), chunk.version(), 2,
                sameHost.id()));
        assertThat(sibling.outcome()).isEqualTo(Outcome.CHANGED);
    }

    @Test
    void whenTheSourceFailsDuringAMoveTheTargetGoesOnFromTheOthers() {
        for (int i = 0; i < 4; i++) {
            register("host" + i, 1L << 40);
        }
        Volume volume = meta.create("v", 16 * MIB, "rep3");
        Chunk chunk = meta.allocate(volume.id(), 0);
        int source = chunk.chunklets().get(0).csId();
        recover(RecoverItem.migrate(chunk.uid(), chunk.version(), source, 0));
        Chunk moving = chunk(chunk);
        int target = moving.chunklets().getLast().csId();
        long start = startVersion(target, chunk.uid());
        long sourceBefore = cs(source).allocatedBytes();

        Chunk reported = report(moving, source);
        assertThat(on(reported, source)).isNull();
        assertThat(on(reported, target).state()).isEqualTo(ChunkletState.RECOVERING);
        assertThat(cs(source).allocatedBytes()).isLessThan(sourceBefore);
        // Same recovery: the target's record and its startVersion stay.
        assertThat(startVersion(target, chunk.uid())).isEqualTo(start);
        Chunk healed = done(chunk.uid(), target);
        assertThat(healed.chunklets()).hasSize(3)
                .allMatch(c -> c.state() == ChunkletState.UPTODATE);
    }

    @Test
    void whenTheTargetFailsDuringAMoveTheSourceIsUpToDateAgain() {
        for (int i = 0; i < 4; i++) {
            register("host" + i, 1L << 40);
        }
        Volume volume = meta.create("v", 16 * MIB, "rep3");
        Chunk chunk = meta.allocate(volume.id(), 0);
        int source = chunk.chunklets().get(2).csId();
        recover(RecoverItem.migrate(chunk.uid(), chunk.version(), source, 0));
        Chunk moving = chunk(chunk);
        int target = moving.chunklets().getLast().csId();
        long targetBefore = cs(target).allocatedBytes();

        Chunk reported = report(moving, target);
        assertThat(reported.chunklets()).hasSize(3);
        assertThat(on(reported, target)).isNull();
        assertThat(on(reported, source).state()).isEqualTo(ChunkletState.UPTODATE);
        assertThat(cs(target).allocatedBytes()).isLessThan(targetBefore);
        assertThat(meta.dump().get(Table.RECOVERY)).isEmpty();
        assertThat(meta.dump().get(Table.DEGRADED)).isEmpty();
        // A late RECOVERY_DONE of the abandoned target is refused.
        assertThat(meta.apply(new MetaRequest.RecoveryDone(chunk.uid(), target,
                moving.version())).error()).isEqualTo(MetaError.STALE_VERSION);
    }

    @Test
    void theRecovererDropsTheSideOfAMoveWhoseServerIsLost() {
        for (int i = 0; i < 4; i++) {
            register("host" + i, 1L << 40);
        }
        Volume volume = meta.create("v", 16 * MIB, "rep3");
        Chunk chunk = meta.allocate(volume.id(), 0);
        int source = chunk.chunklets().get(0).csId();
        recover(RecoverItem.migrate(chunk.uid(), chunk.version(), source, 0));
        int target = chunk(chunk).chunklets().getLast().csId();
        meta.ok(new MetaRequest.SetCsStatus(target, CsStatus.UP.code, CsStatus.DOWN.code));
        pass();
        Chunk after = chunk(chunk);
        assertThat(on(after, target)).isNull();
        assertThat(on(after, source).state()).isEqualTo(ChunkletState.UPTODATE);
    }

    @Test
    void aSingleCopyMovesButItsSourceIsNeverDroppedBeforeTheTargetIsFilled() {
        register("host0", 1L << 40);
        register("host1", 1L << 40);
        Volume volume = meta.create("v", 16 * MIB, "rep1");
        Chunk chunk = meta.allocate(volume.id(), 0);
        int source = chunk.chunklets().getFirst().csId();
        assertThat(recover(RecoverItem.migrate(chunk.uid(), chunk.version(), source, 0))
                .outcome()).isEqualTo(Outcome.CHANGED);
        Chunk moving = chunk(chunk);
        // The source holds the only data: a report keeps it, an OUTDATE is LAST_COPY.
        assertThat(report(moving, source)).isEqualTo(moving);
        assertThat(recover(RecoverItem.outdate(chunk.uid(), moving.version(), source)).outcome())
                .isEqualTo(Outcome.LAST_COPY);
        int target = moving.chunklets().getLast().csId();
        Chunk moved = done(chunk.uid(), target);
        assertThat(moved.chunklets()).containsExactly(new Chunklet(0, target,
                chunk.chunklets().getFirst().role(), ChunkletState.UPTODATE));
    }

    @Test
    void anErasureCodedMoveIsAReplaceUnderTheLastCopyRule() {
        // Five hosts: a move never goes back to a server that held the chunk (heldBefore), so the
        // second move below has a free host and meets the last-copy rule, not a lack of placement.
        for (int i = 0; i < 5; i++) {
            register("host" + i, 1L << 40);
        }
        Volume volume = meta.create("v", 16 * MIB, "ec2+1");
        Chunk chunk = meta.allocate(volume.id(), 0);
        Chunklet column = chunk.chunklets().get(1);
        assertThat(recover(RecoverItem.migrate(chunk.uid(), chunk.version(), column.csId(), 0))
                .outcome()).isEqualTo(Outcome.CHANGED);
        Chunk moving = chunk(chunk);
        assertThat(moving.chunklets()).hasSize(3);
        assertThat(on(moving, column.csId())).isNull();
        Chunklet rebuilt = moving.chunklets().get(1);
        assertThat(rebuilt.index()).isEqualTo(1);
        assertThat(rebuilt.state()).isEqualTo(ChunkletState.RECOVERING);
        // Only k = 2 columns UPTODATE now: none of them may move.
        assertThat(recover(RecoverItem.migrate(chunk.uid(), moving.version(),
                moving.chunklets().get(0).csId(), 0)).outcome()).isEqualTo(Outcome.LAST_COPY);
    }

    @Test
    void drainAndRemoveRefuseWithTheFix() {
        for (int i = 0; i < 3; i++) {
            register("host" + i, 1L << 40);
        }
        Volume volume = meta.create("v", 16 * MIB, "rep3");
        meta.allocate(volume.id(), 0);
        meta.allocate(volume.id(), 1);
        assertThat(error(new MetaRequest.DrainCs(9, false)))
                .isEqualTo("cs 9 is not registered; see: basalt cs list");
        assertThat(error(new MetaRequest.RemoveCs(9)))
                .isEqualTo("cs 9 is not registered; see: basalt cs list");
        assertThat(error(new MetaRequest.RemoveCs(2)))
                .isEqualTo("cs 2 still holds 2 chunklets; drain it first: basalt cs drain 2");
        assertThat(error(new MetaRequest.DrainCs(2, true)))
                .isEqualTo("cs 2 is UP, not DRAINING; nothing to cancel");
        meta.ok(new MetaRequest.SetCsStatus(3, CsStatus.UP.code, CsStatus.DOWN.code));
        assertThat(error(new MetaRequest.DrainCs(3, false))).startsWith("cs 3 is DOWN:");
        assertThat(ChunkServer.decode(meta.ok(new MetaRequest.DrainCs(2, false))).status())
                .isEqualTo(CsStatus.DRAINING);
        assertThat(error(new MetaRequest.RemoveCs(2))).contains("its drain is under way");
        // A restart keeps it DRAINING; a cancel makes it UP.
        meta.ok(new MetaRequest.RegisterCs(2, "host1:7001", "host1", "z1", 1L << 40, "t"));
        assertThat(cs(2).status()).isEqualTo(CsStatus.DRAINING);
        assertThat(ChunkServer.decode(meta.ok(new MetaRequest.DrainCs(2, true))).status())
                .isEqualTo(CsStatus.UP);
    }

    @Test
    void aDrainMovesEverythingABoundedNumberAtATimeThenTheServerIsRemoved() {
        for (int i = 0; i < 4; i++) {
            register("host" + i, 1L << 40);
        }
        Volume volume = meta.create("v", 256 * MIB, "rep3");
        for (int i = 0; i < 40; i++) {
            meta.allocate(volume.id(), i);
        }
        int drained = 1;
        long held = CsVersionIndex.liveCount(meta.stateMachine.storeForTests(), drained,
                Long.MAX_VALUE);
        assertThat(held).isGreaterThan(Mover.DRAIN_MOVES_PER_CS_MAX);
        meta.ok(new MetaRequest.DrainCs(drained, false));
        int rounds = 0;
        while (CsVersionIndex.liveCount(meta.stateMachine.storeForTests(), drained,
                Long.MAX_VALUE) > 0) {
            assertThat(rounds++).as("rounds").isLessThan(20);
            pass();
            assertThat(proposed).allMatch(item -> item.mode()
                    == MetaRequest.RecoverChunklets.MODE_MIGRATE && item.csId() == drained);
            long migrating = RecoveryIndexProperties.chunks(meta).values().stream()
                    .flatMap(c -> c.chunklets().stream())
                    .filter(c -> c.state() == ChunkletState.MIGRATING).count();
            assertThat(migrating).isLessThanOrEqualTo(Mover.DRAIN_MOVES_PER_CS_MAX);
            // A second pass before anything finished adds nothing.
            pass();
            assertThat(proposed).isEmpty();
            finishAll();
        }
        for (Chunk chunk : RecoveryIndexProperties.chunks(meta).values()) {
            assertThat(chunk.chunklets()).hasSize(3).noneMatch(c -> c.csId() == drained)
                    .allMatch(c -> c.state() == ChunkletState.UPTODATE);
        }
        assertThat(cs(drained).allocatedBytes()).isZero();
        ChunkServer removed = ChunkServer.decode(meta.ok(new MetaRequest.RemoveCs(drained)));
        assertThat(removed.id()).isEqualTo(drained);
        assertThat(cs(drained)).isNull();
        // The removed id is refused when that server starts again, and never given out again.
        assertThat(error(new MetaRequest.RegisterCs(drained, "host0:7000", "host0", "z1",
                1L << 40, "t"))).contains("was removed from the cluster");
        assertThat(register("host9", 1L << 40).id()).isEqualTo(5);
        assertThat(MetaLogic.allCs(meta.stateMachine.storeForTests())).hasSize(4);
    }

    @Test
    void theBalancerFillsAServerAddedToAFullClusterAndSettles() {
        long capacity = 64 * MIB;
        for (int i = 0; i < 3; i++) {
            register("host" + i, capacity);
        }
        Volume volume = meta.create("v", 256 * MIB, "rep2");
        for (int i = 0; i < 20; i++) {
            meta.allocate(volume.id(), i);
        }
        // Balanced already among three: nothing to do.
        pass();
        assertThat(proposed).isEmpty();
        ChunkServer added = register("host3", capacity);
        int moves = 0;
        for (int round = 0; round < 40; round++) {
            pass();
            long inFlight = RecoveryIndexProperties.chunks(meta).values().stream()
                    .filter(c -> c.chunklets().stream()
                            .anyMatch(x -> x.state() == ChunkletState.MIGRATING)).count();
            assertThat(inFlight).isLessThanOrEqualTo(Mover.BALANCE_MOVES_MAX);
            assertThat(proposed).allMatch(item -> item.targetCsId() != 0
                    && item.mode() == MetaRequest.RecoverChunklets.MODE_MIGRATE);
            moves += proposed.size();
            if (finishAll() == 0 && proposed.isEmpty()) {
                break;
            }
        }
        Map<Integer, Double> ratios = new TreeMap<>();
        for (ChunkServer server : MetaLogic.allCs(meta.stateMachine.storeForTests())) {
            ratios.put(server.id(), (double) server.allocatedBytes() / server.capacityBytes());
        }
        double step = 2.0 * (4 * MIB) / capacity;
        double gap = ratios.values().stream().mapToDouble(d -> d).max().orElseThrow()
                - ratios.values().stream().mapToDouble(d -> d).min().orElseThrow();
        assertThat(gap).as("fill ratios %s", ratios)
                .isLessThanOrEqualTo(Math.max(Mover.BALANCE_TOLERANCE, step));
        assertThat(moves).as("moves").isGreaterThanOrEqualTo(5);
        assertThat(ratios.get(added.id())).as("fill of the added cs").isGreaterThan(0.4);
        // Settled: no more moves, ever (no ping-pong).
        for (int round = 0; round < 3; round++) {
            pass();
            assertThat(proposed).isEmpty();
        }
    }
}
