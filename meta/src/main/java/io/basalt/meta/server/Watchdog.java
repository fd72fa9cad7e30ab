package io.basalt.meta.server;

import io.basalt.meta.api.MetaRequest;
import io.basalt.meta.model.ChunkServer;
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
 * UP -> UNHEALTHY after {@code unhealthyAfter} of silence or a heartbeat saying unhealthy,
 * UNHEALTHY -> DOWN after {@code downAfter} of silence, UNHEALTHY/DOWN -> UP on a healthy
 * heartbeat. A new leader counts silence from when it took over.
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
            boolean healthyBeat = beat != null && beat.healthy()
                    && silentNanos < unhealthyAfter.toNanos();
            CsStatus next = server.status();
            switch (server.status()) {
                case UP -> {
                    if (silentNanos >= unhealthyAfter.toNanos() || (beat != null && !beat.healthy())) {
                        next = CsStatus.UNHEALTHY;
                    }
                }
                case UNHEALTHY -> {
                    if (healthyBeat) {
                        next = CsStatus.UP;
                    } else if (silentNanos >= downAfter.toNanos()) {
                        next = CsStatus.DOWN;
                    }
                }
                case DOWN -> {
                    if (healthyBeat) {
                        next = CsStatus.UP;
                    }
                }
                case DRAINING -> { }
            }
            if (next != server.status()) {
                LOG.info("chunk server {} ({}): {} -> {} after {} ms without a healthy heartbeat",
                        server.id(), server.address(), server.status(), next,
                        silentNanos / 1_000_000);
                propose.accept(new MetaRequest.SetCsStatus(server.id(), server.status().code,
                        next.code));
                proposed++;
            }
        }
        return proposed;
    }
}
