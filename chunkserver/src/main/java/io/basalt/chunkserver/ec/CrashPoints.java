package io.basalt.chunkserver.ec;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Named points of the erasure-coding commit protocol where a test can make the chunk server die as
 * kill -9 would (Runtime.halt: no shutdown hooks, no WAL close). Armed only by tests, through system
 * properties; without them {@link #hit} does nothing:
 * <ul>
 *   <li>{@code basalt.test.crashAt}: comma-separated point names, each optionally scoped to one chunk
 *       as {@code point@CHUNK_UID_HEX}, so that one test can arm a different point on each of several
 *       servers and trigger each through its own volume;</li>
 *   <li>{@code basalt.test.crashAtFile}: a file holding such a list, read again every 100 ms by a
 *       daemon thread, so that a test arms a running server by writing it (no restart to arm).</li>
 * </ul>
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
    private static final Set<String> FROM_PROPERTY = parse(System.getProperty("basalt.test.crashAt", ""));
    private static volatile Set<String> armed = FROM_PROPERTY;

    static {
        String file = System.getProperty("basalt.test.crashAtFile");
        if (file != null && !file.isBlank()) {
            Path path = Path.of(file);
            readFile(path, Set.of()); // before the first hit: a file written before the start counts
            Thread.ofPlatform().daemon().name("basalt-test-crash-points").start(() -> {
                Set<String> fromFile = Set.of();
                while (true) {
                    fromFile = readFile(path, fromFile);
                    try {
                        Thread.sleep(100);
                    } catch (InterruptedException e) {
                        return;
                    }
                }
            });
        }
    }

    /** Arms the property's points and the file's; returns the file's (as before if unreadable). */
    private static Set<String> readFile(Path path, Set<String> before) {
        Set<String> fromFile;
        try {
            fromFile = parse(Files.exists(path) ? Files.readString(path, StandardCharsets.UTF_8) : "");
        } catch (IOException e) {
            return before; // being rewritten: read it again next time
        }
        if (!fromFile.equals(before)) {
            java.util.HashSet<String> all = new java.util.HashSet<>(FROM_PROPERTY);
            all.addAll(fromFile);
            armed = Set.copyOf(all);
            log.info("test crash points armed: {} (basalt.test.crashAtFile)", armed);
        }
        return fromFile;
    }

    private CrashPoints() {}

    private static Set<String> parse(String list) {
        java.util.HashSet<String> points = new java.util.HashSet<>();
        for (String point : list.split("[,\\s]+")) {
            if (!point.isBlank()) {
                points.add(point.strip());
            }
        }
        return Set.copyOf(points);
    }

    /** Halts if {@code point} is armed for every chunk or for {@code chunkUid}. */
    public static void hit(String point, long chunkUid) {
        Set<String> now = armed;
        if (now.isEmpty()) {
            return;
        }
        if (now.contains(point) || now.contains(point + "@" + Long.toHexString(chunkUid))) {
            log.error("test crash point {} reached on chunk {}: halting (basalt.test.crashAt)", point,
                    Long.toHexString(chunkUid));
            Runtime.getRuntime().halt(137);
        }
    }
}
