package io.basalt.chunkserver.recovery;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

/** The pacing policy of {@link SyncLatencyPacer}, on a fake clock and fake WAL counters. */
class SyncLatencyPacerTest {
    private static final long MAX = 256L << 20;
    private static final long MS = 1_000_000L;

    /** A WAL whose syncs take {@code latency} each, {@code syncsPerWindow} per window. */
    private static final class FakeWal {
        long now;
        long batches;
        long batchNanos;

        void window(long latencyNanos, int syncsPerWindow) {
            now += SyncLatencyPacer.WINDOW_NANOS;
            batches += syncsPerWindow;
            batchNanos += latencyNanos * syncsPerWindow;
        }
    }

    private final FakeWal wal = new FakeWal();
    private final SyncLatencyPacer pacer = new SyncLatencyPacer(MAX, 2.0, () -> wal.batches, () -> wal.batchNanos,
            () -> wal.now);

    private void idle(long latencyNanos, int windows) {
        pacer.update(wal.now, false);
        for (int i = 0; i < windows; i++) {
            wal.window(latencyNanos, 40);
            pacer.update(wal.now, false);
        }
    }

    private void recover(long latencyNanos, int windows) {
        pacer.update(wal.now, true);
        for (int i = 0; i < windows; i++) {
            wal.window(latencyNanos, 40);
            pacer.update(wal.now, true);
        }
    }

    @Test
    void aRebuildStartsGentlyAndRisesToTheMaximumWhileSyncsStayNearTheBaseline() {
        idle(3 * MS, 4);
        recover(3 * MS, 0);
        assertThat(pacer.rate()).isEqualTo(MAX / 8);
        recover(5 * MS, 20); // below 2x the 3 ms baseline
        assertThat(pacer.rate()).isEqualTo(MAX);
        assertThat(pacer.targetNanos()).isEqualTo(6 * MS);
    }

    @Test
    void syncsAboveTwiceTheBaselineCutTheRateDownToItsFloorButNeverToZero() {
        idle(3 * MS, 4);
        recover(3 * MS, 20);
        assertThat(pacer.rate()).isEqualTo(MAX);
        recover(7 * MS, 1);
        assertThat(pacer.rate()).isEqualTo((long) (MAX * SyncLatencyPacer.DECREASE));
        recover(50 * MS, 40);
        assertThat(pacer.rate()).isEqualTo(MAX / 64);
        recover(3 * MS, 4); // clients calm down: it climbs back
        assertThat(pacer.rate()).isEqualTo(MAX / 64 + 4 * (MAX / 16));
    }

    @Test
    void theBaselineFollowsIdleWindowsOnlyAndWindowsWithoutSyncsCountAsCalm() {
        idle(2 * MS, 10);
        assertThat(pacer.targetNanos()).isEqualTo(4 * MS);
        recover(30 * MS, 10); // recovery's own slow windows never move the baseline
        assertThat(pacer.targetNanos()).isEqualTo(4 * MS);
        long low = pacer.rate();
        pacer.update(wal.now, true);
        wal.now += SyncLatencyPacer.WINDOW_NANOS; // no client writes at all
        pacer.update(wal.now, true);
        assertThat(pacer.rate()).isEqualTo(low + MAX / 16);
        idle(10 * MS, 30); // the disk is slower now: the baseline moves to it
        assertThat(pacer.targetNanos()).isBetween(19 * MS, 20 * MS);
    }

    @Test
    void withoutAnIdleSampleTheLowestRecoveryWindowIsTheBaselineAndTinyLatenciesHaveAFloor() {
        recover(0, 0);
        assertThat(pacer.targetNanos()).isEqualTo(Long.MAX_VALUE);
        recover(100_000, 1); // 0.1 ms syncs: 2x is noise, the target is 1 ms
        assertThat(pacer.targetNanos()).isEqualTo(SyncLatencyPacer.MIN_TARGET_NANOS);
        recover(900_000, 1);
        assertThat(pacer.rate()).isEqualTo(MAX / 8 + 2 * (MAX / 16));
        recover(5 * MS, 1);
        assertThat(pacer.rate()).isEqualTo((long) ((MAX / 8 + 2 * (MAX / 16)) * SyncLatencyPacer.DECREASE));
    }
}
