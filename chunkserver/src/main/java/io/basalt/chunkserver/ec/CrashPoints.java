package io.basalt.chunkserver.ec;

import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Named points of the erasure-coding commit protocol where a test can make the chunk server die as
 * kill -9 would (Runtime.halt: no shutdown hooks, no WAL close). Enabled only by the system property
 * {@code basalt.test.crashAt} (comma-separated point names); without it {@link #hit} does nothing.
 *
 * <p>Points: {@code master.after-prepare} (every prepare durable, the master's own included: committed,
 * the client not answered), {@code master.after-decision} (answered and the master's own strips
 * committed, no column told),
 * {@code column.after-prepare} (a column's prepare durable, not yet answered),
 * {@code column.before-resolve} (a column got the decision, logged nothing),
 * {@code freezer.after-commit} (a freeze's EC writes committed, no hot copy freed),
 * {@code freezer.after-own-free} (the master freed its own hot copies, the other replicas not yet).
 */
public final class CrashPoints {
    private static final Logger log = LoggerFactory.getLogger(CrashPoints.class);
    private static final Set<String> ARMED = Set.of(System.getProperty("basalt.test.crashAt", "").split(","));

    private CrashPoints() {}

    public static void hit(String point) {
        if (ARMED.contains(point)) {
            log.error("test crash point {} reached: halting (basalt.test.crashAt)", point);
            Runtime.getRuntime().halt(137);
        }
    }
}
