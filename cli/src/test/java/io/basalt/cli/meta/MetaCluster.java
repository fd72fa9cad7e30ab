package io.basalt.cli.meta;

import io.basalt.meta.api.MetaClient;
import io.basalt.meta.api.MetaPeers;
import io.basalt.meta.api.MetaStatus;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * Meta members as real processes ({@code basalt meta run}) on loopback ports, for integration
 * tests. Every process is ended by PID in {@link #close()}, also when a test fails; stopped
 * (SIGSTOP) ones are continued first so they die promptly. Logs go to {@code dir/mN.log}.
 */
public final class MetaCluster implements AutoCloseable {
    final Path dir;
    final int size;
    final int[] ports;
    private final int[] metricsPorts;
    final Process[] processes;
    private final List<String> extraArgs;

    public MetaCluster(int size, Path dir, String... extraArgs) throws IOException {
        this.size = size;
        this.dir = dir;
        this.extraArgs = List.of(extraArgs);
        this.ports = new int[size];
        this.metricsPorts = new int[size];
        this.processes = new Process[size];
        for (int i = 0; i < size; i++) {
            ports[i] = freePort();
            metricsPorts[i] = freePort();
        }
    }

    /** The text of member {@code index}'s Prometheus endpoint. */
    public String metrics(int index) throws IOException, InterruptedException {
        var client = java.net.http.HttpClient.newHttpClient();
        var request = java.net.http.HttpRequest.newBuilder(
                java.net.URI.create("http://127.0.0.1:" + metricsPorts[index] + "/metrics")).build();
        return client.send(request, java.net.http.HttpResponse.BodyHandlers.ofString()).body();
    }

    static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }

    /** Member ids are 1..size; index i is member i+1. */
    public String peers() {
        List<String> peers = new ArrayList<>();
        for (int i = 0; i < size; i++) {
            peers.add((i + 1) + "@127.0.0.1:" + ports[i]);
        }
        return String.join(",", peers);
    }

    public static List<String> javaCommand(String mainClass) {
        String jar = System.getProperty("basalt.cli.jar");
        String lib = System.getProperty("basalt.cli.lib");
        if (jar == null || lib == null) {
            throw new IllegalStateException("basalt.cli.jar and basalt.cli.lib must be set (run as"
                    + " an integration test after package)");
        }
        List<String> command = new ArrayList<>();
        // Admin verbs run with --meta find the tests' admin certificate here (a daemon's own
        // --tls-dir comes first), as an operator's would in $BASALT_TLS_DIR. env execs java, so
        // the PID the tests kill is the JVM's.
        command.addAll(List.of("env", "BASALT_TLS_DIR=" + io.basalt.cli.cs.ItTls.dir(io.basalt.common.tls.Role.ADMIN)));
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        command.add(java);
        String flags = System.getProperty("basalt.jvm.flags", "");
        List<String> jvmFlags = new java.util.ArrayList<>(Arrays.stream(flags.split("\\s+"))
                .filter(s -> !s.isBlank()).toList());
        jvmFlags.addAll(List.of("-XX:+UseZGC", "-Xmx256m"));
        command.addAll(jvmFlags);
        String classPath = jar + ":" + lib + "/*";
        command.addAll(List.of("-cp", classPath, mainClass));
        return command;
    }

    void start(int index) throws IOException {
        if (processes[index] != null && processes[index].isAlive()) {
            throw new IllegalStateException("member " + (index + 1) + " is running");
        }
        List<String> command = javaCommand("io.basalt.cli.Main");
        command.addAll(List.of("meta", "run", "--id", String.valueOf(index + 1),
                "--data", dir.resolve("m" + (index + 1)).toString(), "--peers", peers(),
                "--metrics-port", String.valueOf(metricsPorts[index])));
        command.addAll(io.basalt.cli.cs.ItTls.args(io.basalt.common.tls.Role.META));
        command.addAll(extraArgs);
        Path log = dir.resolve("m" + (index + 1) + ".log");
        processes[index] = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
    }

    /**
     * Starts every member and waits until each serves. A free port found by binding port 0 can
     * be taken by another process before the member binds it (the machine is shared); then the
     * whole group is started again on new ports, up to three times.
     */
    public void startAll() throws IOException, InterruptedException {
        for (int attempt = 1; ; attempt++) {
            for (int i = 0; i < size; i++) {
                start(i);
            }
            boolean serving = true;
            for (int i = 0; i < size && serving; i++) {
                serving = awaitServing(i, 1);
            }
            if (serving) {
                return;
            }
            if (attempt == 3) {
                throw new IOException("meta members did not start after 3 attempts; see " + dir);
            }
            for (int i = 0; i < size; i++) {
                processes[i].destroyForcibly();
                processes[i].waitFor(30, TimeUnit.SECONDS);
                deleteTree(dir.resolve("m" + (i + 1)));
                Files.deleteIfExists(dir.resolve("m" + (i + 1) + ".log"));
                ports[i] = freePort();
                metricsPorts[i] = freePort();
            }
        }
    }

    /** Restarts a stopped member on its port and waits until it serves. */
    public void restart(int index) throws IOException, InterruptedException {
        int started = count(log(index), SERVING);
        start(index);
        if (!awaitServing(index, started + 1)) {
            throw new IOException("member " + (index + 1) + " did not restart; see its log:\n"
                    + log(index));
        }
    }

    private static final String SERVING = ": serving on ";

    /** Waits until the member's log says it serves for the {@code times}th time, or it exits. */
    private boolean awaitServing(int index, int times) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            if (count(log(index), SERVING) >= times) {
                return true;
            }
            if (!processes[index].isAlive()) {
                return false;
            }
            Thread.sleep(50);
        }
        return false;
    }

    private static int count(String text, String part) {
        int count = 0;
        for (int at = text.indexOf(part); at >= 0; at = text.indexOf(part, at + 1)) {
            count++;
        }
        return count;
    }

    private static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(root)) {
            for (Path path : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        }
    }

    public long pid(int index) {
        return processes[index].pid();
    }

    /** kill -9 by PID, and wait for it to be gone. */
    public void kill9(int index) throws InterruptedException {
        processes[index].destroyForcibly();
        processes[index].waitFor(30, TimeUnit.SECONDS);
    }

    /** SIGTERM: a clean stop (RocksDB closed), waited for. */
    public void stop(int index) throws InterruptedException {
        processes[index].destroy();
        if (!processes[index].waitFor(30, TimeUnit.SECONDS)) {
            processes[index].destroyForcibly();
            processes[index].waitFor(30, TimeUnit.SECONDS);
        }
    }

    public void signal(int index, String signal) throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("kill", "-" + signal, String.valueOf(pid(index)))
                .inheritIO().start();
        if (kill.waitFor() != 0) {
            throw new IOException("kill -" + signal + " " + pid(index) + " failed");
        }
    }

    /** A client as the tests' admin (meta runs mutual TLS, as under basalt up). */
    public MetaClient client() {
        try {
            return MetaClient.connect(MetaPeers.DEFAULT_CLUSTER, MetaPeers.parse(peers()),
                    Duration.ofSeconds(3), 150,
                    io.basalt.common.tls.TlsIdentity.load(io.basalt.cli.cs.ItTls.dir(io.basalt.common.tls.Role.ADMIN)));
        } catch (IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    /** The leader's index, waiting (bounded) for the group to have one. */
    public int leaderIndex(MetaClient client) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        while (System.nanoTime() < deadline) {
            MetaStatus status = client.status();
            if (!status.leaderId().isEmpty()) {
                return Integer.parseInt(status.leaderId()) - 1;
            }
            Thread.sleep(100);
        }
        throw new AssertionError("no meta leader within 60 s");
    }

    /** How many members the group has. */
    public int size() {
        return size;
    }

    /** Whether member {@code index} (0-based) is running. */
    public boolean isAlive(int index) {
        return processes[index] != null && processes[index].isAlive();
    }

    public String log(int index) throws IOException {
        Path log = dir.resolve("m" + (index + 1) + ".log");
        return Files.exists(log) ? Files.readString(log) : "";
    }

    @Override
    public void close() throws Exception {
        for (int i = 0; i < size; i++) {
            Process process = processes[i];
            if (process != null && process.isAlive()) {
                try {
                    signal(i, "CONT");
                } catch (IOException e) {
                    // it may have just exited
                }
                process.destroyForcibly();
                process.waitFor(30, TimeUnit.SECONDS);
            }
        }
        deleteTree(dir);
    }
}
