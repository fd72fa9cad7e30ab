package io.basalt.meta.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.meta.api.MetaRequest;
import io.basalt.meta.model.ChunkServer;
import io.basalt.meta.model.CsHealth;
import io.basalt.meta.model.CsStatus;
import java.nio.file.Path;
import java.time.Duration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Watchdog transitions on a simulated clock: silence, recovery, unhealthy reports. */
class WatchdogTest {
    private static final long SECOND = 1_000_000_000L;

    @TempDir
    Path dir;

    private static CsStatus status(StandaloneMeta meta, int id) {
        return meta.stateMachine.chunkServers().stream().filter(cs -> cs.id() == id).findFirst()
                .orElseThrow().status();
    }

    @Test
    void silenceMakesUnhealthyThenDownAndAHeartbeatBringsItBack() throws Exception {
        try (StandaloneMeta meta = new StandaloneMeta(dir)) {
            ChunkServer quiet = meta.register("a", 1L << 40);
            ChunkServer chatty = meta.register("b", 1L << 40);
            Watchdog watchdog = new Watchdog();
            Duration unhealthy = Duration.ofSeconds(3);
            Duration down = Duration.ofSeconds(60);
            long t0 = 100 * SECOND;
            // First pass: the leader has just seen them; nobody is judged yet.
            assertThat(watchdog.pass(meta.stateMachine, t0, unhealthy, down, meta::apply)).isZero();
            meta.stateMachine.beats().put(chatty.id(),
                    new MetaStateMachine.Beat(t0 + 2 * SECOND, 1L << 40, 0, CsHealth.OK));
            assertThat(watchdog.pass(meta.stateMachine, t0 + 3 * SECOND, unhealthy, down,
                    meta::apply)).isEqualTo(1);
            assertThat(status(meta, quiet.id())).isEqualTo(CsStatus.UNHEALTHY);
            assertThat(status(meta, chatty.id())).isEqualTo(CsStatus.UP);
            watchdog.pass(meta.stateMachine, t0 + 30 * SECOND, unhealthy, down, meta::apply);
            assertThat(status(meta, quiet.id())).isEqualTo(CsStatus.UNHEALTHY);
            assertThat(status(meta, chatty.id())).isEqualTo(CsStatus.UNHEALTHY);
            watchdog.pass(meta.stateMachine, t0 + 61 * SECOND, unhealthy, down, meta::apply);
            assertThat(status(meta, quiet.id())).isEqualTo(CsStatus.DOWN);
            meta.stateMachine.beats().put(quiet.id(),
                    new MetaStateMachine.Beat(t0 + 62 * SECOND, 1L << 40, 0, CsHealth.OK));
            watchdog.pass(meta.stateMachine, t0 + 62 * SECOND, unhealthy, down, meta::apply);
            assertThat(status(meta, quiet.id())).isEqualTo(CsStatus.UP);
            // A heartbeat that says "unhealthy" is believed at once.
            meta.stateMachine.beats().put(quiet.id(),
                    new MetaStateMachine.Beat(t0 + 63 * SECOND, 1L << 40, 0, CsHealth.DISK_FAILED));
            watchdog.pass(meta.stateMachine, t0 + 63 * SECOND, unhealthy, down, meta::apply);
            assertThat(status(meta, quiet.id())).isEqualTo(CsStatus.UNHEALTHY);
        }
    }

    @Test
    void fullDiskMakesFullAndBackAndAFailedDiskUnhealthy() throws Exception {
        try (StandaloneMeta meta = new StandaloneMeta(dir)) {
            ChunkServer server = meta.register("a", 1L << 40);
            Watchdog watchdog = new Watchdog();
            Duration unhealthy = Duration.ofSeconds(3);
            Duration down = Duration.ofSeconds(60);
            long t = 100 * SECOND;
            watchdog.pass(meta.stateMachine, t, unhealthy, down, meta::apply);
            for (CsHealth health : new CsHealth[] {CsHealth.FULL, CsHealth.OK, CsHealth.FULL,
                    CsHealth.DISK_FAILED, CsHealth.FULL, CsHealth.OK}) {
                t += SECOND;
                meta.stateMachine.beats().put(server.id(),
                        new MetaStateMachine.Beat(t, 1L << 40, 0, health));
                watchdog.pass(meta.stateMachine, t, unhealthy, down, meta::apply);
                CsStatus expected = switch (health) {
                    case OK -> CsStatus.UP;
                    case FULL -> CsStatus.FULL;
                    case DISK_FAILED -> CsStatus.UNHEALTHY;
                };
                assertThat(status(meta, server.id())).as("after %s", health).isEqualTo(expected);
            }
            // A FULL server that falls silent is UNHEALTHY like an UP one.
            meta.stateMachine.beats().put(server.id(),
                    new MetaStateMachine.Beat(t, 1L << 40, 0, CsHealth.FULL));
            watchdog.pass(meta.stateMachine, t, unhealthy, down, meta::apply);
            assertThat(status(meta, server.id())).isEqualTo(CsStatus.FULL);
            watchdog.pass(meta.stateMachine, t + 4 * SECOND, unhealthy, down, meta::apply);
            assertThat(status(meta, server.id())).isEqualTo(CsStatus.UNHEALTHY);
        }
    }

    @Test
    void aServerThatRegistersAgainAfterARestartIsNotTakenForSilentByItsOldHeartbeat() throws Exception {
        try (StandaloneMeta meta = new StandaloneMeta(dir)) {
            ChunkServer server = meta.register("a", 1L << 40);
            Watchdog watchdog = new Watchdog();
            Duration unhealthy = Duration.ofSeconds(3);
            Duration down = Duration.ofSeconds(60);
            long t0 = 100 * SECOND;
            watchdog.pass(meta.stateMachine, t0, unhealthy, down, meta::apply);
            meta.stateMachine.beats().put(server.id(),
                    new MetaStateMachine.Beat(t0 + SECOND, 1L << 40, 0, CsHealth.OK));
            // Killed right after that beat, restarted at once: it registers again with its id.
            meta.nowNanos = t0 + 3 * SECOND + SECOND / 2;
            meta.ok(new MetaRequest.RegisterCs(server.id(), "a:7000", "a", "z1", 1L << 40, "test"));
            // Its first heartbeat is late: the watchdog runs 3.5 s after the old one.
            assertThat(watchdog.pass(meta.stateMachine, t0 + 4 * SECOND + SECOND / 2, unhealthy, down,
                    meta::apply)).isZero();
            assertThat(status(meta, server.id())).isEqualTo(CsStatus.UP);
            // And real silence after the registration still counts.
            watchdog.pass(meta.stateMachine, t0 + 7 * SECOND, unhealthy, down, meta::apply);
            assertThat(status(meta, server.id())).isEqualTo(CsStatus.UNHEALTHY);
        }
    }
}
