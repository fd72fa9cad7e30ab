package io.basalt.cli.it;

import static org.assertj.core.api.Assertions.fail;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * Runs the external NBD clients the integration tests drive (nbdinfo, nbdcopy, nbdsh, qemu-img,
 * qemu-io, fio, python3 with libnbd) with a timeout, capturing their output.
 *
 * <p>Output goes to files, not pipes, so a chatty tool can never block on a full pipe while we
 * wait for it. A tool that is not installed skips the test with an assumption naming the Debian
 * package to install; CI ({@code .ci/run}) installs all of them, so a skip there is a CI bug.
 */
final class Tools {
    /** Default bound for one client command: the tests move tens of MiB, not gigabytes. */
    static final Duration COMMAND_TIMEOUT = Duration.ofSeconds(90);

    /** How much of a failed command's output goes into the assertion message. */
    private static final int OUTPUT_CHARS_MAX = 16_384;

    private static final Map<String, Boolean> ON_PATH = new ConcurrentHashMap<>();
    private static volatile String pythonWithNbd;

    private Tools() {}

    /** The outcome of one command: exit code and both output streams. */
    record Result(List<String> command, int exitCode, String stdout, String stderr) {
        boolean ok() {
            return exitCode == 0;
        }

        String describe() {
            return "command: " + String.join(" ", command) + "\nexit code: " + exitCode
                    + "\n--- stdout ---\n" + clip(stdout) + "\n--- stderr ---\n" + clip(stderr);
        }
    }

    /** Skips the test unless {@code tool} is on the PATH; {@code debianPackage} provides it. */
    static void require(String tool, String debianPackage) {
        assumeTrue(onPath(tool),
                tool + " is not installed; install it with: apt-get install " + debianPackage);
    }

    static boolean onPath(String tool) {
        return ON_PATH.computeIfAbsent(tool, Tools::findOnPath);
    }

    private static boolean findOnPath(String tool) {
        String path = System.getenv().getOrDefault("PATH", "/usr/bin:/bin");
        for (String dir : path.split(File.pathSeparator)) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, tool))) {
                return true;
            }
        }
        return false;
    }

    /**
     * A python3 interpreter that can {@code import nbd}. The system one (/usr/bin/python3) comes
     * first: python3-libnbd installs into its dist-packages, and a pyenv or venv python3 earlier on
     * the PATH cannot see it.
     */
    static String pythonWithNbd() {
        String found = pythonWithNbd;
        if (found == null) {
            found = "";
            for (String candidate : List.of("/usr/bin/python3", "python3")) {
                if (candidate.startsWith("/") ? Files.isExecutable(Path.of(candidate)) : onPath(candidate)) {
                    Result probe = run(Duration.ofSeconds(30), null, null,
                            List.of(candidate, "-c", "import nbd"));
                    if (probe.ok()) {
                        found = candidate;
                        break;
                    }
                }
            }
            pythonWithNbd = found;
        }
        assumeTrue(!found.isEmpty(),
                "python3 cannot import nbd; install it with: apt-get install python3-libnbd");
        return found;
    }

    /**
     * Environment for tools that start python3 by name (nbdsh is a shell script running
     * {@code python3 -mnbd}): the directory of the python that has libnbd goes first on the PATH.
     */
    static Map<String, String> pythonPathEnvironment() {
        String python = pythonWithNbd();
        if (!python.startsWith("/")) {
            return Map.of();
        }
        String dir = Path.of(python).getParent().toString();
        return Map.of("PATH", dir + File.pathSeparator + System.getenv().getOrDefault("PATH", ""));
    }

    /** Runs a command and fails the test, with its output, unless it exits 0. */
    static Result runOk(String... command) {
        return runOk(COMMAND_TIMEOUT, Map.of(), List.of(command));
    }

    static Result runOk(Duration timeout, Map<String, String> environment, List<String> command) {
        Result result = run(timeout, null, environment, command);
        if (!result.ok()) {
            fail("external command failed\n" + result.describe());
        }
        return result;
    }

    /** Runs a command; fails the test (with what it printed so far) if it outlives the timeout. */
    static Result run(Duration timeout, Path workDir, Map<String, String> environment, List<String> command) {
        Path outFile = null;
        Path errFile = null;
        Process process = null;
        try {
            outFile = Files.createTempFile("basalt-it-cmd", ".out");
            errFile = Files.createTempFile("basalt-it-cmd", ".err");
            ProcessBuilder builder = new ProcessBuilder(command)
                    .redirectOutput(outFile.toFile())
                    .redirectError(errFile.toFile())
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
            if (workDir != null) {
                builder.directory(workDir.toFile());
            }
            if (environment != null) {
                builder.environment().putAll(environment);
            }
            process = builder.start();
            boolean exited = process.waitFor(timeout.toMillis(), TimeUnit.MILLISECONDS);
            if (!exited) {
                killTree(process);
                fail("external command timed out after " + timeout.toSeconds() + " s\n"
                        + new Result(command, -1, read(outFile), read(errFile)).describe());
            }
            return new Result(command, process.exitValue(), read(outFile), read(errFile));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot run " + String.join(" ", command), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted while running " + command.getFirst(), e);
        } finally {
            if (process != null && process.isAlive()) {
                killTree(process);
            }
            deleteQuietly(outFile);
            deleteQuietly(errFile);
        }
    }

    /** SIGKILLs a process and everything it started, and waits (bounded) until it is gone. */
    static void killTree(Process process) {
        process.descendants().forEach(ProcessHandle::destroyForcibly);
        process.destroyForcibly();
        try {
            process.waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    static List<String> command(Object... parts) {
        List<String> command = new ArrayList<>(parts.length);
        for (Object part : parts) {
            if (part instanceof List<?> list) {
                list.forEach(item -> command.add(String.valueOf(item)));
            } else {
                command.add(String.valueOf(part));
            }
        }
        return command;
    }

    private static String read(Path file) throws IOException {
        return Files.readString(file, StandardCharsets.UTF_8);
    }

    static String clip(String text) {
        if (text.length() <= OUTPUT_CHARS_MAX) {
            return text;
        }
        return "[... " + (text.length() - OUTPUT_CHARS_MAX) + " chars cut ...]\n"
                + text.substring(text.length() - OUTPUT_CHARS_MAX);
    }

    private static void deleteQuietly(Path file) {
        if (file != null) {
            try {
                Files.deleteIfExists(file);
            } catch (IOException ignored) {
                // A leftover temp file in /tmp is harmless; the test result matters more.
            }
        }
    }
}
