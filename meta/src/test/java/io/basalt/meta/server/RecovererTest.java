package io.basalt.meta.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.meta.api.MetaRequest;
import io.basalt.meta.api.RecoverResult;
import io.basalt.meta.api.StuckRecovery;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.ChunkServer;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.ChunkletState;
import io.basalt.meta.model.CsHealth;
import io.basalt.meta.model.CsStatus;
import io.basalt.meta.model.Volume;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Function;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Recoverer passes on a simulated clock against a standalone state machine. */
class RecovererTest {
    private static final long SECOND = 1_000_000_000L;
    private static final Duration GRACE = Duration.ofSeconds(30);

    @TempDir
    Path dir;

    private StandaloneMeta meta;
    private final Recoverer recoverer = new Recoverer();
    private final List<MetaRequest.RecoverItem> proposed = new ArrayList<>();
    private final Function<MetaRequest, WireReader> propose = request -> {
        proposed.addAll(((MetaRequest.RecoverChunklets) request).items());
        return meta.ok(request);
    };

    @BeforeEach
    void open() throws Exception {
        meta = new StandaloneMeta(dir);
    }

    @AfterEach
    void close() throws Exception {
        meta.close();
    }

    private List<ChunkServer> registerHosts(int count) {
        List<ChunkServer> servers = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            servers.add(meta.register("host" + i, 1L << 40));
        }
        return servers;
    }

    private int pass(long nowNanos) {
        proposed.clear();
        int count = recoverer.pass(meta.stateMachine, nowNanos, GRACE, propose);
        RecoveryIndexProperties.checkTables(meta);
        return count;
    }

    private void beat(int csId, long atNanos) {
        meta.stateMachine.beats().put(csId, new MetaStateMachine.Beat(atNanos, 1L << 40, 0,
                CsHealth.OK));
    }

    private void setStatus(int csId, CsStatus from, CsStatus to) {
        meta.ok(new MetaRequest.SetCsStatus(csId, from.code, to.code));
    }

    private Chunk chunk(long volumeId, long index) {
        WireReader in = meta.read(new MetaRequest.GetChunk(volumeId, index)).bodyOrThrow();
        assertThat(in.bool()).isTrue();
        return Chunk.decode(in);
    }

    @Test
    void chunkletsOfADownServerAreRebuiltElsewhere() {
        registerHosts(5);
        Volume volume = meta.create("v", 64L << 20, "rep3");
        List<Chunk> chunks = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            chunks.add(meta.allocate(volume.id(), i));
        }
        int lost = chunks.getFirst().chunklets().getFirst().csId();
        long onLost = chunks.stream().filter(c -> c.chunklets().stream()
                .anyMatch(k -> k.csId() == lost)).count();
        long t = 100 * SECOND;
        assertThat(pass(t)).isZero();
        setStatus(lost, CsStatus.UP, CsStatus.DOWN);
        assertThat(pass(t + SECOND)).isEqualTo(onLost);
        assertThat(proposed).allMatch(item -> item.csId() == lost
                && item.mode() == MetaRequest.RecoverChunklets.MODE_REPLACE);
        for (int i = 0; i < chunks.size(); i++) {
            Chunk now = chunk(volume.id(), i);
            assertThat(now.chunklets()).noneMatch(c -> c.csId() == lost);
            if (now.version() != chunks.get(i).version()) {
                assertThat(now.chunklets()).filteredOn(c -> c.state() == ChunkletState.RECOVERING)
                        .hasSize(1);
            }
        }
        // Nothing is left to do.
        assertThat(pass(t + 2 * SECOND)).isZero();
    }

    @Test
    void anUnhealthyServerIsOutdatedAtOnceAndGivenTheGraceBeforeItsChunkletsAreRebuilt() {
        registerHosts(4);
        Volume volume = meta.create("v", 16L << 20, "rep3");
        Chunk chunk = meta.allocate(volume.id(), 0);
        int quiet = chunk.chunklets().get(1).csId();
        long t0 = 100 * SECOND;
        for (Chunklet chunklet : chunk.chunklets()) {
            beat(chunklet.csId(), t0);
        }
        assertThat(pass(t0)).isZero();
        setStatus(quiet, CsStatus.UP, CsStatus.UNHEALTHY);
        // Writes must not wait for it: its chunklet is OUTDATED at once, and stays on it.
        assertThat(pass(t0 + 5 * SECOND)).isEqualTo(1);
        assertThat(proposed).containsExactly(MetaRequest.RecoverItem.outdate(chunk.uid(),
                chunk.version(), quiet));
        Chunk outdated = chunk(volume.id(), 0);
        assertThat(outdated.chunklets().get(1).csId()).isEqualTo(quiet);
        assertThat(outdated.chunklets().get(1).state()).isEqualTo(ChunkletState.OUTDATED);
        proposed.clear();
        assertThat(pass(t0 + 29 * SECOND)).isZero();
        assertThat(pass(t0 + 30 * SECOND)).isEqualTo(1);
        assertThat(proposed).containsExactly(MetaRequest.RecoverItem.replace(chunk.uid(),
                outdated.version(), quiet));
        assertThat(chunk(volume.id(), 0).chunklets().get(1).csId()).isNotEqualTo(quiet);
    }

    @Test
    void anOutdatedChunkletOnAServerThatIsUpAgainIsCaughtUpInPlace() {
        registerHosts(4);
        Volume volume = meta.create("v", 16L << 20, "rep3");
        Chunk chunk = meta.allocate(volume.id(), 0);
        int flaky = chunk.chunklets().get(2).csId();
        Chunk outdated = Chunk.decode(meta.ok(new MetaRequest.ReportFailure(chunk.uid(),
                chunk.version(), flaky)));
        assertThat(pass(100 * SECOND)).isEqualTo(1);
        assertThat(proposed).containsExactly(MetaRequest.RecoverItem.inPlace(chunk.uid(),
                outdated.version(), flaky));
        Chunk recovering = chunk(volume.id(), 0);
        assertThat(recovering.chunklets().get(2)).isEqualTo(
                chunk.chunklets().get(2).withState(ChunkletState.RECOVERING));
        // RECOVERING on a serving server: the chunk server works on it; nothing more to propose.
        assertThat(pass(101 * SECOND)).isZero();
        // A DRAINING server gets no catch-up: its chunklet is rebuilt elsewhere (a drain).
        setStatus(flaky, CsStatus.UP, CsStatus.DRAINING);
        assertThat(pass(102 * SECOND)).isEqualTo(1);
        assertThat(proposed).containsExactly(MetaRequest.RecoverItem.replace(chunk.uid(),
                recovering.version(), flaky));
    }

    @Test
    void aRebuildWhoseTargetDiskFillsIsMovedToAServerWithRoom() {
        registerHosts(5);
        Volume volume = meta.create("v", 16L << 20, "rep3");
        Chunk chunk = meta.allocate(volume.id(), 0);
        int target = chunk.chunklets().get(1).csId();
        Chunk outdated = Chunk.decode(meta.ok(new MetaRequest.ReportFailure(chunk.uid(),
                chunk.version(), target)));
        assertThat(pass(100 * SECOND)).isEqualTo(1);
        Chunk recovering = chunk(volume.id(), 0);
        assertThat(recovering.chunklets().get(1).state()).isEqualTo(ChunkletState.RECOVERING);
        // Its disk fills while it copies (the watchdog makes it FULL from its heartbeat).
        setStatus(target, CsStatus.UP, CsStatus.FULL);
        assertThat(pass(101 * SECOND)).isEqualTo(1);
        assertThat(proposed).containsExactly(MetaRequest.RecoverItem.replace(chunk.uid(),
                recovering.version(), target));
        Chunk moved = chunk(volume.id(), 0);
        assertThat(moved.chunklets().get(1).csId()).isNotEqualTo(target);
        assertThat(moved.chunklets().get(1).state()).isEqualTo(ChunkletState.RECOVERING);
        assertThat(moved.chunklets()).filteredOn(c -> c.state() == ChunkletState.UPTODATE).hasSize(2);
        assertThat(outdated.version()).isLessThan(moved.version());
    }

    @Test
    void anItemWithoutPlacementIsNotProposedAgainForTenSecondsAndItsReasonIsShown() {
        registerHosts(3);
        Volume volume = meta.create("v", 16L << 20, "rep3");
        Chunk chunk = meta.allocate(volume.id(), 0);
        int lost = chunk.chunklets().get(0).csId();
        setStatus(lost, CsStatus.UP, CsStatus.DOWN);
        long t = 100 * SECOND;
        assertThat(pass(t)).isEqualTo(1);
        Chunk outdated = chunk(volume.id(), 0);
        assertThat(outdated.chunklets().get(0).state()).isEqualTo(ChunkletState.OUTDATED);
        List<StuckRecovery> stuck = meta.stateMachine.stuckRecoveries();
        assertThat(stuck).hasSize(1);
        assertThat(stuck.getFirst().outcome()).isEqualTo(RecoverResult.Outcome.NO_PLACEMENT);
        assertThat(stuck.getFirst().reason()).contains("policy rep3 needs 3 hosts");
        assertThat(stuck.getFirst().csId()).isEqualTo(lost);
        assertThat(stuck.getFirst().version()).isEqualTo(outdated.version());
        assertThat(pass(t + SECOND)).isZero();
        assertThat(pass(t + 9 * SECOND)).isZero();
        assertThat(pass(t + 10 * SECOND)).isEqualTo(1);
        assertThat(meta.stateMachine.stuckRecoveries()).hasSize(1);
        // The server comes back: the chunklet is caught up in place and the reason goes away.
        setStatus(lost, CsStatus.DOWN, CsStatus.UP);
        assertThat(pass(t + 11 * SECOND)).isEqualTo(1);
        assertThat(proposed.getFirst().mode()).isEqualTo(MetaRequest.RecoverChunklets.MODE_IN_PLACE);
        assertThat(meta.stateMachine.stuckRecoveries()).isEmpty();
    }

    @Test
    void theLastCopyIsRememberedAndAnotherChunkletOfTheChunkIsTried() {
        registerHosts(3);
        Volume volume = meta.create("v", 16L << 20, "rep2");
        Chunk chunk = meta.allocate(volume.id(), 0);
        int first = chunk.chunklets().get(0).csId();
        int second = chunk.chunklets().get(1).csId();
        Chunk outdated = Chunk.decode(meta.ok(new MetaRequest.ReportFailure(chunk.uid(),
                chunk.version(), first)));
        setStatus(first, CsStatus.UP, CsStatus.DOWN);
        setStatus(second, CsStatus.UP, CsStatus.DOWN);
        long t = 100 * SECOND;
        // Chunklet 0 (OUTDATED, on a DOWN server) is rebuilt on the third host.
        assertThat(pass(t)).isEqualTo(1);
        assertThat(proposed).containsExactly(MetaRequest.RecoverItem.replace(chunk.uid(),
                outdated.version(), first));
        // Chunklet 1 holds the only UPTODATE copy: LAST_COPY, remembered.
        assertThat(pass(t + SECOND)).isEqualTo(1);
        assertThat(meta.stateMachine.stuckRecoveries()).extracting(StuckRecovery::outcome)
                .containsExactly(RecoverResult.Outcome.LAST_COPY);
        assertThat(pass(t + 2 * SECOND)).isZero();
        assertThat(chunk(volume.id(), 0).chunklets().get(1).state())
                .isEqualTo(ChunkletState.UPTODATE);
    }
}
