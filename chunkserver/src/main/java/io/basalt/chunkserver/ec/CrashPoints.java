package io.basalt.chunkserver.ec;

import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Named points of the erasure-coding commit protocol where a test can make the chunk server die as
 * kill -9 would (Runtime.halt: no shutdown hooks, no WAL close). Enabled only by the system property
 * {@code basalt.test.crashAt} (comma-separated point names, each optionally scoped to one chunk as
 * {@code point@CHUNK_UID_HEX}, so that one test can arm a different point on each of several servers
 * and trigger each through its own volume); without it {@link #hit} does nothing.
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

    /** Halts if {@code point} is armed for every chunk or for {@code chunkUid}. */
    public static void hit(String point, long chunkUid) {
        if (ARMED.contains(point) || ARMED.contains(point + "@" + Long.toHexString(chunkUid))) {
            log.error("test crash point {} reached on chunk {}: halting (basalt.test.crashAt)", point,
                    Long.toHexString(chunkUid));
            Runtime.getRuntime().halt(137);
        }
    }
}
