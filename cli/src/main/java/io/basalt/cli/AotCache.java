package io.basalt.cli;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import java.util.stream.Stream;

/**
 * The JDK's ahead-of-time caches (JEPs 483, 514, 515) for the processes {@code basalt up} runs:
 * classes loaded and linked, and method profiles, from a training run, so a JVM starts without
 * parsing, verifying and linking some 8,000 classes again. A daemon of {@code up} spends most of
 * its start doing exactly that, ten of them at once on two cores.
 *
 * <p>Design note. One cache per role ({@code meta}, {@code cs}, {@code nbd}, {@code s3}, and
 * {@code admin} for the admin verbs; {@code up} itself is the launcher's), in the directory the
 * {@code ./basalt} launcher names in {@link #DIR_ENV}: {@code cli/target/aot/<stamp>}, where the
 * stamp covers every jar's name, size and mtime and the JDK, so a rebuild or another JDK starts a
 * new directory and a stale cache is never offered. (The JVM checks the class path again when it
 * maps a cache and runs without it if it differs; that is the second fence, not the first.)
 * A cache is made in two steps, never on the critical path of a start:
 * <ol>
 *   <li>record: the first daemon of each role that {@code up} starts without a cache runs with
 *       {@code -XX:AOTMode=record}; its JVM writes {@code ROLE.aotconf} when it exits (a clean
 *       stop, or a lifeline stop). The command it ran with goes to {@code ROLE.flags}, because
 *       the cache must be created with the same JVM, flags and class path. The admin verbs are
 *       recorded by {@code up} itself once the cluster is ready: a {@code status} against it.</li>
 *   <li>create: a cache for every recorded role that has none, one at a time at low priority,
 *       into a temporary file renamed into place, so a JVM starting meanwhile sees no cache or
 *       a whole one. {@code up} does it once ready (for what earlier runs recorded), and when it
 *       stops it leaves it to a detached helper ({@link #main}) that first waits for {@code up}
 *       to exit: the daemons' configurations are written as they stop and {@code up}'s own as
 *       it exits, and a stop must not wait for caches (a signal gives it 60 s).</li>
 * </ol>
 * So a fresh clone's first {@code up} records, its second starts with cached daemons, and a
 * configuration that fails to create (a run killed mid-write) is deleted and recorded again.
 * A configuration file exists, empty, from its recording JVM's start and is filled when that
 * JVM exits, so {@code up} never creates from the ones its own daemons (or itself) are still
 * recording, and deletes an empty one left by a recorder that was killed. Two {@code up}s of one
 * build recording at once (another --data) could still trip over each other's files: a create
 * then fails or a configuration is lost, and the role is recorded again next time; a lock
 * across processes is not worth that rare, self-healing case.
 */
final class AotCache {
    /** The cache directory, set by the launcher; unset (tests, {@code BASALT_AOT=off}): no cache. */
    static final String DIR_ENV = "BASALT_AOT_DIR";
    /** The launcher's admin-verb command (java, flags, -cp, class path), one word a line. */
    static final String ADMIN_COMMAND_ENV = "BASALT_AOT_ADMIN_COMMAND";
    static final String ADMIN_ROLE = "admin";
    /** A create takes 5-15 s of one core here; beyond this something is wrong. */
    private static final long CREATE_SECONDS_MAX = 300;
    /** A training admin verb is a status call; it must not hang a background thread. */
    private static final long TRAIN_SECONDS_MAX = 120;
    /** up's stop takes at most about a minute (its signal cleanup limit). */
    private static final long WAIT_FOR_EXIT_SECONDS_MAX = 120;
    /** JVM output about the cache (missing classes skipped, a mismatch) is not the user's. */
    private static final List<String> QUIET = List.of("-Xlog:aot=off", "-Xlog:cds=off");

    private final Path dir;
    /**
     * Roles whose recording JVM this process started (or is): their configuration file exists,
     * empty, from the JVM's start and is written when it exits, so it is not ready to create.
     */
    private final Set<String> recordingHere = ConcurrentHashMap.newKeySet();

    /** {@code dir}: where the caches are, null for none. */
    AotCache(Path dir) {
        this.dir = dir;
    }

    /** The cache named by the launcher, or one that offers nothing. */
    static AotCache fromEnvironment() {
        String value = System.getenv(DIR_ENV);
        AotCache cache = new AotCache(value == null || value.isBlank() ? null : Path.of(value));
        if (java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments()
                .contains("-XX:AOTMode=record")) {
            cache.recordingHere.add("up"); // the launcher's up records itself
        }
        return cache;
    }

    boolean enabled() {
        return dir != null && Files.isDirectory(dir);
    }

    /** Whether an argument of a JVM command line is about AOT caches (a daemon must not inherit). */
    static boolean isAotFlag(String argument) {
        return argument.startsWith("-XX:AOTCache") || argument.startsWith("-XX:AOTMode")
                || argument.startsWith("-XX:AOTConfiguration") || argument.startsWith("-Xlog:aot")
                || argument.startsWith("-Xlog:cds");
    }

    /**
     * JVM flags for a process of {@code role} started as {@code baseCommand} (java, flags, -cp,
     * class path): use its cache; else, if it is the {@code trainer} and nothing is recorded yet,
     * record (and note the command); else none.
     */
    List<String> flags(String role, boolean trainer, List<String> baseCommand) throws IOException {
        if (!enabled()) {
            return List.of();
        }
        if (Files.isRegularFile(cacheFile(role))) {
            List<String> flags = new ArrayList<>(List.of("-XX:AOTCache=" + cacheFile(role)));
            flags.addAll(QUIET);
            return flags;
        }
        if (!trainer || Files.exists(configurationFile(role))) {
            return List.of();
        }
        Files.write(flagsFile(role), baseCommand, StandardCharsets.UTF_8);
        recordingHere.add(role);
        List<String> flags = new ArrayList<>(List.of("-XX:AOTMode=record",
                "-XX:AOTConfiguration=" + configurationFile(role)));
        flags.addAll(QUIET);
        return flags;
    }

    /**
     * Records the admin verbs' configuration by running {@code status} against the cluster just
     * started (the launcher's command for admin verbs, so the cache fits them); no-op if recorded.
     */
    void trainAdmin(Path dataDir, Consumer<String> say) throws IOException, InterruptedException {
        String command = System.getenv(ADMIN_COMMAND_ENV);
        if (!enabled() || command == null || command.isBlank()
                || Files.exists(cacheFile(ADMIN_ROLE))
                || Files.exists(configurationFile(ADMIN_ROLE))) {
            return;
        }
        List<String> base = command.lines().filter(line -> !line.isEmpty()).toList();
        List<String> full = new ArrayList<>(base);
        full.addAll(flags(ADMIN_ROLE, true, base));
        full.addAll(List.of(Main.class.getName(), "status", "--data", dataDir.toString()));
        recordingHere.remove(ADMIN_ROLE); // this run ends before createPending looks
        Process process = new ProcessBuilder(full).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        boolean done;
        try {
            done = process.waitFor(TRAIN_SECONDS_MAX, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            process.destroyForcibly();
            throw e;
        }
        if (!done) {
            process.destroyForcibly();
            say.accept("start-up cache: the admin training run took over " + TRAIN_SECONDS_MAX
                    + " s; stopped it");
        }
        if (!done || process.exitValue() != 0) {
            // A killed or failed run may have written a partial configuration, or none.
            Files.deleteIfExists(configurationFile(ADMIN_ROLE));
        }
    }

    /**
     * Creates the cache of every recorded role that has none, one at a time; returns the roles
     * done. A failed create deletes its configuration (recorded again next time) and says so.
     */
    List<String> createPending(Consumer<String> say) throws IOException, InterruptedException {
        List<String> created = new ArrayList<>();
        if (!enabled()) {
            return created;
        }
        List<String> pending;
        try (Stream<Path> files = Files.list(dir)) {
            pending = files.map(path -> path.getFileName().toString())
                    .filter(name -> name.endsWith(".aotconf"))
                    .map(name -> name.substring(0, name.length() - ".aotconf".length()))
                    .filter(role -> !Files.exists(cacheFile(role)))
                    .filter(role -> !recordingHere.contains(role))
                    .sorted().toList();
        }
        for (String role : pending) {
            if (Files.size(configurationFile(role)) == 0) {
                // Its recorder was killed before it could write it: record again next time.
                Files.deleteIfExists(configurationFile(role));
                continue;
            }
            if (create(role, say)) {
                created.add(role);
            }
        }
        return created;
    }

    private boolean create(String role, Consumer<String> say)
            throws IOException, InterruptedException {
        if (!Files.isRegularFile(flagsFile(role))) {
            // Recorded by a JVM whose command was not noted (the launcher's up writes its own).
            Files.deleteIfExists(configurationFile(role));
            return false;
        }
        List<String> command = new ArrayList<>();
        if (Files.isExecutable(Path.of("/usr/bin/nice"))) {
            // Other work on this machine (the cluster itself, a build) comes first.
            command.addAll(List.of("/usr/bin/nice", "-n", "10"));
        }
        command.addAll(Files.readAllLines(flagsFile(role), StandardCharsets.UTF_8));
        command.removeIf(AotCache::isAotFlag);
        Path temporary = dir.resolve(role + ".aot.tmp-" + ProcessHandle.current().pid());
        command.addAll(List.of("-XX:AOTMode=create",
                "-XX:AOTConfiguration=" + configurationFile(role), "-XX:AOTCache=" + temporary));
        Path log = dir.resolve(role + ".create.log");
        Process process = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        boolean done;
        try {
            done = process.waitFor(CREATE_SECONDS_MAX, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            // up is stopping: the create must not outlive it, nor leave half a cache behind.
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
            Files.deleteIfExists(temporary);
            throw e;
        }
        if (!done) {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
        }
        if (done && process.exitValue() == 0 && Files.isRegularFile(temporary)) {
            Files.move(temporary, cacheFile(role), StandardCopyOption.ATOMIC_MOVE);
            return true;
        }
        Files.deleteIfExists(temporary);
        Files.deleteIfExists(configurationFile(role));
        say.accept("start-up cache for " + role + " not created ("
                + (done ? "exit code " + process.exitValue() : "over " + CREATE_SECONDS_MAX + " s")
                + ", see " + log + "); it is recorded again on the next start");
        return false;
    }

    /**
     * Starts the helper that creates what is pending once this process has exited, detached
     * (own session, stdin /dev/null, output to {@code helper.log}) since it must outlive us.
     * It is bounded: at most {@link #CREATE_SECONDS_MAX} per role, and nothing to do is no work.
     */
    void createPendingAfterExit() throws IOException {
        if (!enabled()) {
            return;
        }
        List<String> command = new ArrayList<>();
        if (Files.isExecutable(Path.of("/usr/bin/setsid"))) {
            command.add("/usr/bin/setsid");
        }
        command.add(ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        command.addAll(List.of("-XX:+UseSerialGC", "-Xmx64m", "-cp",
                System.getProperty("java.class.path"), AotCache.class.getName(), dir.toString(),
                String.valueOf(ProcessHandle.current().pid())));
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(dir.resolve("helper.log").toFile()))
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        builder.environment().remove(ShutdownSignal.LIFELINE_ENV);
        builder.start();
    }

    /**
     * The helper: {@code AotCache DIR PID} waits (at most {@link #WAIT_FOR_EXIT_SECONDS_MAX})
     * for process PID to exit, then creates every pending cache in DIR.
     */
    public static void main(String[] args) throws Exception {
        if (args.length != 2) {
            System.err.println("usage: AotCache DIR PID");
            System.exit(2);
        }
        ProcessHandle.of(Long.parseLong(args[1])).ifPresent(process -> {
            try {
                process.onExit().get(WAIT_FOR_EXIT_SECONDS_MAX, TimeUnit.SECONDS);
            } catch (Exception e) {
                System.err.println("AotCache: pid " + args[1] + " still runs after "
                        + WAIT_FOR_EXIT_SECONDS_MAX + " s (" + e + "); creating what is ready");
            }
        });
        List<String> created = new AotCache(Path.of(args[0]))
                .createPending(line -> System.err.println("AotCache: " + line));
        System.err.println("AotCache: " + java.time.Instant.now() + " created " + created);
    }

    Path cacheFile(String role) {
        return dir.resolve(role + ".aot");
    }

    Path configurationFile(String role) {
        return dir.resolve(role + ".aotconf");
    }

    private Path flagsFile(String role) {
        return dir.resolve(role + ".flags");
    }
}
