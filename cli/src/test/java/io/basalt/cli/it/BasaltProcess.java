package io.basalt.cli.it;

import java.io.File;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

/**
 * One NBD server running as a separate process: {@code basalt nbd serve} started from the
 * packaged jar exactly as the {@code ./basalt} launcher starts it, or, with
 * {@code -Dbasalt.it.server=nbdkit}, {@code nbdkit file} on the same kind of sparse file (a
 * conformance check of the tests themselves: every client-side test must pass against nbdkit too).
 *
 * <p>Start one through {@link ItResources#start}, which guarantees it is killed and its files
 * deleted even when the test fails. The process writes stdout and stderr to {@link #logFile()};
 * {@link ItResources} prints that file when a test fails.
 *
 * <p>Ports: the harness asks the kernel for a free port (bind to 0, read it, close), so tests never
 * use fixed ports. Another process can take the port in between; the server then exits with a bind
 * error and {@link #start} retries with fresh ports, a bounded number of times.
 */
final class BasaltProcess implements AutoCloseable {
    /** Which server the ITs run against: "basalt" (default) or "nbdkit". */
    static final String SERVER_KIND = System.getProperty("basalt.it.server", "basalt");

    /** JVM start plus Netty bind; generous because CI has 2 cores shared with the build. */
    private static final long START_TIMEOUT_MILLIS = 60_000;
    /** SIGTERM grace before SIGKILL; a clean shutdown finishes in-flight requests and flushes. */
    private static final long STOP_TIMEOUT_MILLIS =
            Long.getLong("basalt.it.stopTimeoutMillis", 10_000);
    private static final int START_ATTEMPTS_MAX = 3;
    private static final byte[] NBD_MAGIC = "NBDMAGIC".getBytes(StandardCharsets.US_ASCII);

    /** Servers still running, killed by a shutdown hook if the test JVM exits before cleanup. */
    private static final Set<Process> LIVE = ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> LIVE.forEach(Tools::killTree),
                "basalt-it-server-reaper"));
    }

    /**
     * What to serve; {@code size} is passed as --size when non-null (e.g. "64M", "1073741824");
     * {@code jvmFlags} go to the server JVM after the project's flags (e.g. "-Xmx256m").
     */
    record Options(Path file, String size, String exportName, boolean readOnly, boolean metrics,
                   List<String> extraArgs, List<String> jvmFlags) {
        Options {
            Objects.requireNonNull(file, "file");
            extraArgs = List.copyOf(extraArgs);
            jvmFlags = List.copyOf(jvmFlags);
        }

        static Options file(Path file, String size) {
            return new Options(file, size, null, false, false, List.of(), List.of());
        }

        Options withExportName(String name) {
            return new Options(file, size, name, readOnly, metrics, extraArgs, jvmFlags);
        }

        Options asReadOnly() {
            return new Options(file, size, exportName, true, metrics, extraArgs, jvmFlags);
        }

        Options withMetrics() {
            return new Options(file, size, exportName, readOnly, true, extraArgs, jvmFlags);
        }

        Options withSize(String newSize) {
            return new Options(file, newSize, exportName, readOnly, metrics, extraArgs, jvmFlags);
        }

        Options withExtraArgs(String... args) {
            return new Options(file, size, exportName, readOnly, metrics, Arrays.asList(args), jvmFlags);
        }

        Options withJvmFlags(String... flags) {
            return new Options(file, size, exportName, readOnly, metrics, extraArgs, Arrays.asList(flags));
        }
    }

    private final Options options;
    private final Process process;
    private final int port;
    private final int metricsPort;
    private final Path logFile;

    private BasaltProcess(Options options, Process process, int port, int metricsPort, Path logFile) {
        this.options = options;
        this.process = process;
        this.port = port;
        this.metricsPort = metricsPort;
        this.logFile = logFile;
    }

    static boolean isBasalt() {
        return SERVER_KIND.equals("basalt");
    }

    /**
     * Starts the server and waits until it answers on its port with the NBD greeting.
     *
     * @param logDir where the process output file goes (a temp dir the caller deletes)
     * @throws AssertionError with the process output if it exits or does not answer in time
     */
    static BasaltProcess start(Options options, Path logDir) throws IOException {
        AssertionError lastFailure = null;
        for (int attempt = 1; attempt <= START_ATTEMPTS_MAX; attempt++) {
            int port = freePort();
            int metricsPort = options.metrics() ? freePort() : 0;
            Path logFile = logDir.resolve("server-" + port + ".log");
            List<String> command = command(options, port, metricsPort);
            Files.writeString(logFile, "$ " + String.join(" ", command) + "\n");
            Process process = new ProcessBuilder(command)
                    .redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.appendTo(logFile.toFile()))
                    .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .start();
            LIVE.add(process);
            BasaltProcess server = new BasaltProcess(options, process, port, metricsPort, logFile);
            try {
                server.awaitGreeting();
                return server;
            } catch (AssertionError e) {
                server.kill();
                String log = server.log();
                lastFailure = e;
                if (!(log.contains("in use") || log.contains("Address already"))) {
                    throw e;
                }
                // Another process took the port between our probe and the server's bind: retry.
            }
        }
        throw lastFailure;
    }

    /**
     * Runs the server command line expecting it to exit by itself (a refused command line, --help)
     * with --port {@code port} and --metrics-port 0.
     */
    static Tools.Result runToExit(Options options, int port, java.time.Duration timeout) {
        return Tools.run(timeout, null, null, command(options, port, 0));
    }

    private static List<String> command(Options options, int port, int metricsPort) {
        List<String> command = new ArrayList<>();
        if (isBasalt()) {
            String jar = requiredProperty("basalt.cli.jar");
            String lib = requiredProperty("basalt.cli.lib");
            String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
            command.add(java);
            List<String> jvmFlags = new ArrayList<>();
            for (String flag : System.getProperty("basalt.jvm.flags", "").trim().split("\\s+")) {
                if (!flag.isEmpty()) {
                    jvmFlags.add(flag);
                }
            }
            command.addAll(jvmFlags);
            // -Dbasalt.nbd.fileIo=threads on the test run: every test covers the I/O-thread path.
            String fileIo = System.getProperty("basalt.nbd.fileIo");
            if (fileIo != null && !fileIo.isBlank()) {
                command.add("-Dbasalt.nbd.fileIo=" + fileIo);
            }
            command.addAll(options.jvmFlags());
            command.addAll(List.of("-cp", jar + File.pathSeparator + lib + File.separator + "*",
                    "io.basalt.cli.Main", "nbd", "serve", "--file", options.file().toString()));
            if (options.size() != null) {
                command.addAll(List.of("--size", options.size()));
            }
            command.addAll(List.of("--port", Integer.toString(port), "--bind", "127.0.0.1",
                    "--metrics-port", Integer.toString(metricsPort)));
            if (options.exportName() != null) {
                command.addAll(List.of("--export", options.exportName()));
            }
            if (options.readOnly()) {
                command.add("--read-only");
            }
        } else if (SERVER_KIND.equals("nbdkit")) {
            Tools.require("nbdkit", "nbdkit");
            createSparse(options);
            command.addAll(List.of("nbdkit", "--foreground", "--exit-with-parent",
                    "--port", Integer.toString(port), "--ipaddr", "127.0.0.1"));
            if (options.exportName() != null) {
                command.addAll(List.of("--exportname", options.exportName()));
            }
            if (options.readOnly()) {
                command.add("--readonly");
            }
            command.addAll(List.of("file", options.file().toString()));
        } else {
            throw new IllegalArgumentException(
                    "basalt.it.server=" + SERVER_KIND + " (expected basalt or nbdkit)");
        }
        command.addAll(options.extraArgs());
        return command;
    }

    /** nbdkit serves existing files only; create it the way basalt does: sparse, of --size. */
    private static void createSparse(Options options) {
        if (Files.exists(options.file()) || options.size() == null) {
            return;
        }
        try (RandomAccessFile file = new RandomAccessFile(options.file().toFile(), "rw")) {
            file.setLength(parseSize(options.size()));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static long parseSize(String size) {
        char unit = Character.toUpperCase(size.charAt(size.length() - 1));
        int shift = switch (unit) {
            case 'K' -> 10;
            case 'M' -> 20;
            case 'G' -> 30;
            case 'T' -> 40;
            default -> 0;
        };
        String digits = shift == 0 ? size : size.substring(0, size.length() - 1);
        return Long.parseLong(digits) << shift;
    }

    private static String requiredProperty(String name) {
        String value = System.getProperty(name);
        if (value == null || value.isBlank()) {
            throw new IllegalStateException("system property " + name
                    + " is not set; run the ITs with ./mvnw -pl cli -am verify (failsafe sets it)");
        }
        return value;
    }

    /** A port nobody listens on right now (the kernel's choice for bind(0)). */
    static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket()) {
            socket.setReuseAddress(false);
            socket.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0));
            return socket.getLocalPort();
        }
    }

    /** Polls until the port answers with "NBDMAGIC"; bounded, fails early if the process exits. */
    private void awaitGreeting() {
        long deadlineNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(START_TIMEOUT_MILLIS);
        while (System.nanoTime() < deadlineNanos) {
            if (!process.isAlive()) {
                throw new AssertionError("NBD server exited with code " + process.exitValue()
                        + " before accepting connections; its output:\n" + log());
            }
            try (Socket socket = new Socket()) {
                socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 500);
                socket.setSoTimeout(5_000);
                byte[] greeting = socket.getInputStream().readNBytes(NBD_MAGIC.length);
                if (Arrays.equals(greeting, NBD_MAGIC)) {
                    return;
                }
                throw new AssertionError("port " + port + " answered " + Arrays.toString(greeting)
                        + " instead of the NBD greeting; server output:\n" + log());
            } catch (IOException notYet) {
                sleepMillis(50);
            }
        }
        throw new AssertionError("NBD server did not accept connections on port " + port + " within "
                + START_TIMEOUT_MILLIS + " ms; its output:\n" + log());
    }

    int port() {
        return port;
    }

    /** The metrics port, or 0 when started without metrics. */
    int metricsPort() {
        return metricsPort;
    }

    Options options() {
        return options;
    }

    Path file() {
        return options.file();
    }

    long pid() {
        return process.pid();
    }

    boolean isAlive() {
        return process.isAlive();
    }

    Path logFile() {
        return logFile;
    }

    /** The NBD URI of the default export (""). */
    String uri() {
        return "nbd://127.0.0.1:" + port + "/";
    }

    /** The NBD URI of a named export. */
    String uri(String exportName) {
        return "nbd://127.0.0.1:" + port + "/" + exportName;
    }

    String log() {
        try {
            return Files.readString(logFile, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return "(cannot read " + logFile + ": " + e + ")";
        }
    }

    /** Asks the server to stop (SIGTERM), then SIGKILLs it if it has not exited in time. */
    void stop() {
        if (!process.isAlive()) {
            LIVE.remove(process);
            return;
        }
        process.destroy();
        try {
            if (!process.waitFor(STOP_TIMEOUT_MILLIS, TimeUnit.MILLISECONDS)) {
                Tools.killTree(process);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            Tools.killTree(process);
        }
        LIVE.remove(process);
    }

    /** SIGKILL: the crash case. Whatever the server acknowledged must already be safe. */
    void kill() {
        Tools.killTree(process);
        LIVE.remove(process);
    }

    /** Exit code once the process has ended. */
    int awaitExit(long timeoutMillis) throws InterruptedException {
        if (!process.waitFor(timeoutMillis, TimeUnit.MILLISECONDS)) {
            throw new AssertionError("server still running after " + timeoutMillis + " ms");
        }
        return process.exitValue();
    }

    @Override
    public void close() {
        stop();
    }

    private static void sleepMillis(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        }
    }
}
