package io.basalt.meta.server;

import io.basalt.meta.api.MetaRequest;
import io.basalt.meta.model.ChunkServer;
import io.basalt.meta.model.CsHealth;
import io.basalt.meta.model.CsStatus;
import java.time.Duration;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One pass of the chunk server watchdog on the leader. Heartbeats are soft state; only the
 * transitions they imply are proposed through the log (compare-and-set on the status, so a
 * pass racing an admin change or a new leader does nothing harmful):
 * <ul>
 *   <li>UP or FULL -> UNHEALTHY after {@code unhealthyAfter} of silence or a heartbeat saying
 *       DISK_FAILED; UNHEALTHY -> DOWN after {@code downAfter} of silence;</li>
 *   <li>UP -> FULL on a heartbeat saying FULL, FULL -> UP on one saying OK;</li>
 *   <li>UNHEALTHY/DOWN -> UP (or FULL, as the heartbeat says) on a recent heartbeat that is not
 *       DISK_FAILED.</li>
 * </ul>
 * FULL is a replicated status rather than soft state because placement runs in apply and must
 * see the same thing on every member (docs/meta.md). A new leader counts silence from when it
 * took over.
 */
final class Watchdog {
    private static final Logger LOG = LoggerFactory.getLogger(Watchdog.class);

    /** When this leader first saw each chunk server: a newly registered one gets its grace too. */
    private final Map<Integer, Long> firstSeenNanos = new HashMap<>();
    private long leaderSinceNanos;

    /** Owned by the watchdog thread. */
    int pass(MetaStateMachine stateMachine, long nowNanos, Duration unhealthyAfter,
             Duration downAfter, Consumer<MetaRequest> propose) {
        if (stateMachine.leaderSinceNanos() != leaderSinceNanos) {
            leaderSinceNanos = stateMachine.leaderSinceNanos();
            firstSeenNanos.clear();
        }
        int proposed = 0;
        for (ChunkServer server : stateMachine.chunkServers()) {
            MetaStateMachine.Beat beat = stateMachine.beats().get(server.id());
            long firstSeen = firstSeenNanos.computeIfAbsent(server.id(), id -> nowNanos);
            long lastNanos = beat == null ? firstSeen : beat.atNanos();
            long silentNanos = nowNanos - lastNanos;
            boolean silent = silentNanos >= unhealthyAfter.toNanos();
            boolean diskFailed = beat != null && beat.health() == CsHealth.DISK_FAILED;
            boolean liveBeat = beat != null && !diskFailed && !silent;
            CsStatus live = liveBeat && beat.health() == CsHealth.FULL ? CsStatus.FULL
                    : CsStatus.UP;
            CsStatus next = server.status();
            switch (server.status()) {
                case UP, FULL -> {
                    if (silent || diskFailed) {
                        next = CsStatus.UNHEALTHY;
                    } else if (liveBeat) {
                        next = live;
                    }
                }
                case UNHEALTHY -> {
                    if (liveBeat) {
                        next = live;
                    } else if (silentNanos >= downAfter.toNanos()) {
                        next = CsStatus.DOWN;
                    }
                }
                case DOWN -> {
                    if (liveBeat) {
                        next = live;
                    }
                }
                case DRAINING -> { }
            }
            if (next != server.status()) {
                LOG.info("chunk server {} ({}): {} -> {} (last heartbeat {} ms ago, health {})",
                        server.id(), server.address(), server.status(), next,
                        silentNanos / 1_000_000, beat == null ? "none" : beat.health());
                propose.accept(new MetaRequest.SetCsStatus(server.id(), server.status().code,
                        next.code));
                proposed++;
            }
        }
        return proposed;
    }
}
