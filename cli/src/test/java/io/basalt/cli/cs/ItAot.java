package io.basalt.cli.cs;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Ahead-of-time caches (JDK 25, JEPs 483/514/515) for the JVMs the integration tests start: meta
 * members, chunk servers, gateways and admin verbs, a few hundred per suite, each spending most of
 * its start loading and linking the same ~6,000 classes (an admin verb over TLS: 3.0 s without a
 * cache, 2.0 s with one, measured on the CI machine's twin). The production launcher has its own
 * ({@code io.basalt.cli.AotCache}); the tests run other JVM flags, so they keep theirs.
 *
 * <p>Design note. A cache is valid only for the JVM flags and class path it was made with (the
 * JVM checks and runs without it otherwise), so there is one per <em>launch key</em>: the java
 * binary, its flags except {@code -D} properties, and the class path. For each key, in
 * {@code cli/target/it-aot/}:
 * <ol>
 *   <li>the first daemon launched records ({@code -XX:AOTMode=record}); its JVM writes the
 *       configuration when it exits cleanly (stopped by SIGTERM). One killed -9 writes nothing:
 *       the next daemon of the key records instead. Admin verbs never record (the JVM prints a
 *       line at exit that would be part of their output);</li>
 *   <li>a background thread of this test JVM notices the recorder has exited with its
 *       configuration written and creates the cache ({@code -XX:AOTMode=create}, at low priority)
 *       into a temporary file renamed into place, so a JVM starting meanwhile sees none or a whole
 *       one;</li>
 *   <li>every later launch of the key runs with it.</li>
 * </ol>
 * A key's cache outlives the test run (the directory is in {@code target/}, so a rebuild, which
 * changes the jars' sizes or times, also changes the key).
 *
 * <p>Off unless {@code -Dbasalt.it.aot=on}: in the suite runs measured so far (2026-12-06) it showed
 * no gain in wall time (the recording JVMs and the background create cost CPU on a 2-core machine,
 * and a chunk server's start stayed about 3 s), so it waits for a measurement that shows one.
 * The JVM's own messages about the cache are silenced: some tests compare a verb's whole output.
 */
public final class ItAot {
    private static final boolean ENABLED = "on".equals(System.getProperty("basalt.it.aot"));
    private static final List<String> QUIET = List.of("-Xlog:aot=off", "-Xlog:cds=off");
    private static final Path DIR = Path.of(System.getProperty("basalt.cli.jar", "target/basalt-cli.jar"))
            .toAbsolutePath().getParent().resolve("it-aot");
    /** Key -> the configuration its recording JVM writes, while one records or its cache is made. */
    private static final Map<String, Path> RECORDING = new ConcurrentHashMap<>();
    private static final Map<String, List<String>> FLAGS = new ConcurrentHashMap<>();
    /** Keys whose cache could not be made: launched plainly from then on (no endless recording). */
    private static final java.util.Set<String> FAILED = ConcurrentHashMap.newKeySet();
    private static volatile Thread creator;
    /** The create running now, ended if this JVM exits first (tests leave no process behind). */
    private static volatile Process creating;

    private ItAot() {}

    /**
     * The options to add (before the main class) to a JVM launched as {@code javaBinary}, {@code flags}
     * (any order; {@code -D} properties do not count) and {@code -cp classPath}: the key's cache,
     * the recording of it (only where {@code mayRecord}: a recording JVM prints a line at exit, which
     * a daemon's log takes and an admin verb's output must not), or nothing.
     */
    public static synchronized List<String> options(String javaBinary, List<String> flags, String classPath,
            boolean mayRecord) {
        if (!ENABLED) {
            return List.of();
        }
        List<String> keyFlags = flags.stream().filter(f -> !f.isBlank() && !f.startsWith("-D")).toList();
        String key = key(javaBinary, keyFlags, classPath);
        Path cache = DIR.resolve(key + ".aot");
        if (Files.isRegularFile(cache)) {
            List<String> options = new ArrayList<>(List.of("-XX:AOTCache=" + cache));
            options.addAll(QUIET);
            return options;
        }
        if (!mayRecord || RECORDING.containsKey(key) || FAILED.contains(key)) {
            return List.of();
        }
        try {
            Files.createDirectories(DIR);
            Files.deleteIfExists(DIR.resolve(key + ".aot.tmp")); // a create an earlier run did not finish
        } catch (IOException e) {
            return List.of();
        }
        List<String> create = new ArrayList<>(List.of(javaBinary));
        create.addAll(keyFlags);
        create.addAll(List.of("-cp", classPath));
        FLAGS.put(key, create);
        startCreator();
        Path earlier = earlierRecording(key);
        if (earlier != null) {
            RECORDING.put(key, earlier); // an earlier run recorded, and stopped before creating
            return List.of();
        }
        Path conf = DIR.resolve(key + "." + ProcessHandle.current().pid() + "." + System.nanoTime() + ".aotconf");
        RECORDING.put(key, conf);
        List<String> options = new ArrayList<>(List.of("-XX:AOTMode=record", "-XX:AOTConfiguration=" + conf));
        options.addAll(QUIET);
        return options;
    }

    /** A whole configuration of {@code key} an earlier test JVM's daemon wrote (its JVM is gone), or null. */
    private static Path earlierRecording(String key) {
        try (var files = Files.list(DIR)) {
            for (Path file : files.toList()) {
                String name = file.getFileName().toString();
                String[] parts = name.split("\\.");
                if (parts.length == 4 && parts[0].equals(key) && name.endsWith(".aotconf")
                        && !parts[1].equals(String.valueOf(ProcessHandle.current().pid()))
                        && !ProcessHandle.of(Long.parseLong(parts[1])).map(ProcessHandle::isAlive).orElse(false)
                        && Files.size(file) > 0) {
                    return file;
                }
            }
        } catch (IOException | NumberFormatException e) {
            return null;
        }
        return null;
    }

    private static String key(String javaBinary, List<String> flags, String classPath) {
        StringBuilder text = new StringBuilder(javaBinary).append('\n');
        flags.forEach(f -> text.append(f).append('\n'));
        text.append(classPath).append('\n');
        // The jars' sizes and times: a rebuild is a new key (the JVM would refuse the old cache).
        for (String entry : classPath.split(java.io.File.pathSeparator)) {
            Path path = Path.of(entry.endsWith("*") ? entry.substring(0, entry.length() - 1) : entry);
            try (var files = Files.isDirectory(path) ? Files.list(path).sorted() : java.util.stream.Stream.of(path)) {
                for (Path file : files.toList()) {
                    text.append(file).append(' ').append(Files.size(file)).append(' ')
                            .append(Files.getLastModifiedTime(file).toMillis()).append('\n');
                }
            } catch (IOException e) {
                text.append(entry).append(" ?\n");
            }
        }
        try {
            byte[] digest = java.security.MessageDigest.getInstance("SHA-256")
                    .digest(text.toString().getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(digest, 0, 12);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** One daemon thread: turns finished recordings into caches, one at a time. */
    private static void startCreator() {
        if (creator != null) {
            return;
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            Process running = creating;
            if (running != null) {
                running.destroyForcibly();
            }
        }, "it-aot-cleanup"));
        creator = Thread.ofPlatform().daemon().name("it-aot-creator").start(() -> {
            while (true) {
                try {
                    Thread.sleep(2000);
                    for (Map.Entry<String, Path> entry : Map.copyOf(RECORDING).entrySet()) {
                        step(entry.getKey(), entry.getValue());
                    }
                } catch (InterruptedException e) {
                    return;
                } catch (RuntimeException e) {
                    System.err.println("it-aot: " + e);
                }
            }
        });
    }

    /** Creates the key's cache once its recorder has exited; lets another launch record if it wrote nothing. */
    private static void step(String key, Path conf) throws InterruptedException {
        String confText = conf.toString();
        boolean recorderAlive = ProcessHandle.allProcesses().anyMatch(p -> p.info().commandLine()
                .map(line -> line.contains(confText)).orElse(false));
        if (recorderAlive) {
            return;
        }
        try {
            if (!Files.isRegularFile(conf) || Files.size(conf) == 0) {
                Files.deleteIfExists(conf); // killed before it could write: the next launch records
                RECORDING.remove(key, conf);
                return;
            }
            Path tmp = DIR.resolve(key + ".aot.tmp");
            List<String> command = new ArrayList<>(List.of("nice", "-n", "10"));
            command.addAll(FLAGS.get(key));
            command.addAll(List.of("-XX:AOTMode=create", "-XX:AOTConfiguration=" + conf, "-XX:AOTCache=" + tmp));
            command.addAll(QUIET);
            Process create = new ProcessBuilder(command).redirectErrorStream(true)
                    .redirectOutput(DIR.resolve(key + ".create.log").toFile()).start();
            creating = create;
            if (create.waitFor(300, TimeUnit.SECONDS) && create.exitValue() == 0 && Files.isRegularFile(tmp)) {
                Files.move(tmp, DIR.resolve(key + ".aot"), StandardCopyOption.ATOMIC_MOVE);
            } else {
                create.destroyForcibly();
                Files.deleteIfExists(tmp);
                FAILED.add(key);
                System.err.println("it-aot: no cache for " + key + "; see " + DIR.resolve(key + ".create.log"));
            }
            creating = null;
            Files.deleteIfExists(conf);
            RECORDING.remove(key, conf); // made (or failed: the next launch records again)
        } catch (IOException e) {
            FAILED.add(key);
            RECORDING.remove(key, conf);
        }
    }
}
