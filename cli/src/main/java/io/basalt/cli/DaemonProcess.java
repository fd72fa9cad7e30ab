package io.basalt.cli;

import java.io.File;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * One daemon {@code basalt up} runs: a child JVM running {@code io.basalt.cli.Main <verb> ...}
 * with the same java, class path and JVM flags as {@code up} itself, stdout and stderr appended to
 * its log file.
 *
 * <p>Children run in their own session ({@code setsid}, when installed) so a Ctrl-C in the
 * terminal reaches only {@code up}, which then stops them in order (gateway, chunk servers,
 * meta); otherwise the terminal would signal every process of the group at once.
 *
 * <p>A daemon of {@code up} is started supervised ({@link #startSupervised}): it stops when
 * {@code up} dies, even by SIGKILL, through a lifeline pipe on its stdin.
 *
 * <p>Thread-safety: {@code process} and {@code stopRequested} are written by the thread running
 * {@code up} and read by the exit watcher, hence volatile; the rest is immutable.
 */
final class DaemonProcess {
    /** SIGTERM grace: a chunk server finishes queued writes and checkpoints its WAL. */
    static final long STOP_TIMEOUT_MILLIS = 20_000;
    /**
     * More grace for a daemon recording its AOT configuration: its JVM writes some 50 MB at exit,
     * after its own clean stop; measured 5-25 s with ten JVMs stopping on two loaded cores.
     */
    static final long RECORD_STOP_MILLIS_EXTRA = 40_000;
    private static final Path SETSID = Path.of("/usr/bin/setsid");

    final String name;
    final String role;
    final int index;
    final int port;
    final int metricsPort;
    final Path dataDir;
    final Path logFile;
    private final List<String> arguments;
    /** The process this daemon runs in when it shares one ({@link #hosted}); null: its own. */
    private final DaemonProcess host;
    private volatile Process process;
    private volatile boolean stopRequested;
    private volatile boolean recording;
    /** Chunk server id assigned by meta, or the meta member id; null until known. */
    volatile String id;

    DaemonProcess(String name, String role, int index, int port, int metricsPort, Path dataDir,
                  Path logFile, List<String> arguments) {
        this(name, role, index, port, metricsPort, dataDir, logFile, arguments, null);
    }

    private DaemonProcess(String name, String role, int index, int port, int metricsPort, Path dataDir,
                          Path logFile, List<String> arguments, DaemonProcess host) {
        this.name = name;
        this.role = role;
        this.index = index;
        this.port = port;
        this.metricsPort = metricsPort;
        this.dataDir = dataDir;
        this.logFile = logFile;
        this.arguments = List.copyOf(arguments);
        this.host = host;
    }

    /**
     * A daemon that runs inside this process beside others ({@code basalt cs host}): listed on its
     * own (name, port, id) with this process's pid and log; started, watched and stopped as this
     * process.
     */
    DaemonProcess hosted(String name, int index, int port, int metricsPort, Path dataDir) {
        if (host != null) {
            throw new IllegalStateException(name + ": " + this.name + " is itself hosted");
        }
        return new DaemonProcess(name, role, index, port, metricsPort, dataDir, logFile, List.of(), this);
    }

    /** The process this daemon runs in: itself, or the one hosting it. */
    DaemonProcess runsIn() {
        return host == null ? this : host;
    }

    /**
     * Starts the child JVM on its own, for a caller that exits at once ({@code basalt cs add}):
     * stdin is /dev/null and nothing ties its life to this process.
     */
    void start() throws IOException {
        start(false, List.of());
    }

    /**
     * Starts the child JVM supervised by this process: its stdin is a pipe this process holds
     * open for its whole life (the lifeline, see {@link ShutdownSignal}), so when this process
     * dies however it dies the daemon stops cleanly instead of running on unseen.
     * {@code jvmFlags}: added to the inherited ones (the AOT cache of its role).
     */
    void startSupervised(List<String> jvmFlags) throws IOException {
        start(true, jvmFlags);
    }

    /** Starts the child JVM; its log gets a header line naming the command and the time. */
    private void start(boolean lifeline, List<String> jvmFlags) throws IOException {
        if (host != null) {
            throw new IllegalStateException(name + " runs in " + host.name + ", which is started instead");
        }
        recording = jvmFlags.contains("-XX:AOTMode=record");
        List<String> command = new ArrayList<>();
        if (Files.isExecutable(SETSID)) {
            command.add(SETSID.toString());
        }
        command.addAll(javaBaseCommand());
        command.addAll(jvmFlags);
        command.add(Main.class.getName());
        command.addAll(arguments);
        Files.createDirectories(logFile.getParent());
        Files.writeString(logFile, "=== " + Instant.now() + " basalt up starts " + name + ": "
                + String.join(" ", withoutClassPath(command)) + "\n", StandardCharsets.UTF_8,
                StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        ProcessBuilder builder = new ProcessBuilder(command)
                .redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()));
        if (lifeline) {
            // The write end stays in Process.getOutputStream(), open until this JVM ends.
            builder.redirectInput(ProcessBuilder.Redirect.PIPE);
            builder.environment().put(ShutdownSignal.LIFELINE_ENV, ShutdownSignal.LIFELINE_STDIN);
            builder.environment().put(ShutdownSignal.SUPERVISOR_PID_ENV,
                    String.valueOf(ProcessHandle.current().pid()));
        } else {
            builder.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
            builder.environment().remove(ShutdownSignal.LIFELINE_ENV);
        }
        process = builder.start();
    }

    /**
     * java, JVM flags and class path of this process, without the main class: the daemons get
     * what {@code up} got (the launcher's --add-modules, --enable-native-access, GC choice, -Xmx,
     * -ea...), minus a debug agent, whose port only one process can hold, and minus {@code up}'s
     * own AOT cache flags (each role has its cache; {@link AotCache}).
     */
    static List<String> javaBaseCommand() {
        List<String> command = new ArrayList<>();
        command.add(ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        for (String argument : java.lang.management.ManagementFactory.getRuntimeMXBean()
                .getInputArguments()) {
            if (!argument.startsWith("-agentlib:jdwp") && !argument.startsWith("-Xrunjdwp")
                    && !AotCache.isAotFlag(argument)) {
                command.add(argument);
            }
        }
        command.add("-cp");
        command.add(System.getProperty("java.class.path"));
        return command;
    }

    /** The command with its (long, expanded) class path elided, for the log's header line. */
    private static List<String> withoutClassPath(List<String> command) {
        List<String> shown = new ArrayList<>(command);
        int at = shown.indexOf("-cp");
        if (at >= 0 && at + 1 < shown.size()) {
            shown.set(at + 1, "(the class path of basalt up)");
        }
        return shown;
    }

    Process process() {
        return runsIn().process;
    }

    boolean alive() {
        Process current = process();
        return current != null && current.isAlive();
    }

    Long pid() {
        Process current = process();
        return current != null && current.isAlive() ? current.pid() : null;
    }

    boolean stopRequested() {
        return runsIn().stopRequested;
    }

    /** How long a stop may take before SIGKILL. */
    long stopTimeoutMillis() {
        return STOP_TIMEOUT_MILLIS + (runsIn().recording ? RECORD_STOP_MILLIS_EXTRA : 0);
    }

    /** SIGTERM; {@link #awaitStopped} waits for it and SIGKILLs after the grace. */
    void requestStop() {
        runsIn().stopRequested = true;
        Process current = process();
        if (current != null && current.isAlive()) {
            current.destroy();
        }
    }

    /** Waits for the process to exit after {@link #requestStop}; SIGKILL after the grace. */
    void awaitStopped(long timeoutMillis) throws InterruptedException {
        Process current = process();
        if (current == null) {
            return;
        }
        if (!current.waitFor(timeoutMillis, TimeUnit.MILLISECONDS)) {
            System.out.println("basalt up: " + name + " (pid " + current.pid() + ") did not stop"
                    + " within " + timeoutMillis + " ms of SIGTERM; sending SIGKILL");
            current.destroyForcibly();
            current.waitFor(10, TimeUnit.SECONDS);
        }
    }

    /** The last {@code count} lines of the log, read from its end (logs can be large). */
    List<String> logTail(int count) {
        long tailBytesMax = 64 * 1024;
        try (RandomAccessFile file = new RandomAccessFile(logFile.toFile(), "r")) {
            long start = Math.max(0, file.length() - tailBytesMax);
            byte[] bytes = new byte[(int) (file.length() - start)];
            file.seek(start);
            file.readFully(bytes);
            Deque<String> lines = new ArrayDeque<>();
            for (String line : new String(bytes, StandardCharsets.UTF_8).split("\n")) {
                lines.addLast(line);
                if (lines.size() > count) {
                    lines.removeFirst();
                }
            }
            return List.copyOf(lines);
        } catch (IOException e) {
            return List.of("(cannot read " + logFile + ": " + e.getMessage() + ")");
        }
    }

    /** "exit code 137 (killed by SIGKILL)": a signal death reads as one. */
    static String describeExit(int exitCode) {
        if (exitCode > 128 && exitCode < 128 + 65) {
            int signal = exitCode - 128;
            String name = switch (signal) {
                case 9 -> "SIGKILL";
                case 15 -> "SIGTERM";
                case 6 -> "SIGABRT";
                case 11 -> "SIGSEGV";
                case 2 -> "SIGINT";
                default -> "signal " + signal;
            };
            return "exit code " + exitCode + " (killed by " + name + ")";
        }
        return "exit code " + exitCode;
    }

    ClusterFile.Daemon toFileEntry(Integer exitCode) {
        return new ClusterFile.Daemon(name, role, id, pid(), port, metricsPort,
                logFile.toString(), dataDir == null ? null : dataDir.toString(), exitCode);
    }
}
