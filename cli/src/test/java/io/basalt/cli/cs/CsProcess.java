package io.basalt.cli.cs;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A chunk server as a real process ({@code io.basalt.cli.ChunkServerRunCommand} from the packaged jar,
 * with the flags every Basalt JVM gets), for fault tests: started on a free port, stopped by SIGTERM
 * or killed by SIGKILL, always by its own PID.
 */
public final class CsProcess implements AutoCloseable {
    private static final Pattern SERVING = Pattern.compile("chunk server (\\d+) serving .* on ([0-9.]+):(\\d+)");

    public final Process process;
    public final int csId;
    public final int port;
    public final StringBuffer output;

    private CsProcess(Process process, int csId, int port, StringBuffer output) {
        this.process = process;
        this.csId = csId;
        this.port = port;
        this.output = output;
    }

    /** The command line of a chunk server on {@code dataDir} with meta at {@code metaPeers}. */
    public static List<String> command(Path dataDir, String metaPeers, String hostLabel) {
        return command(dataDir, metaPeers, hostLabel, List.of(), 0);
    }

    /**
     * As above, with extra JVM options ({@code -Dbasalt.test.crashAt=...}) before the class and a
     * fixed {@code --port} (0: any).
     */
    public static List<String> command(Path dataDir, String metaPeers, String hostLabel, List<String> jvmOptions,
            int port) {
        return command(dataDir, metaPeers, hostLabel, jvmOptions, port, List.of());
    }

    /** As above, with extra {@code basalt cs run} options after the others. */
    public static List<String> command(Path dataDir, String metaPeers, String hostLabel, List<String> jvmOptions,
            int port, List<String> args) {
        String jar = System.getProperty("basalt.cli.jar");
        String lib = System.getProperty("basalt.cli.lib");
        if (jar == null || lib == null) {
            throw new IllegalStateException("basalt.cli.jar / basalt.cli.lib not set: run through failsafe (mvn verify)");
        }
        List<String> command = new ArrayList<>();
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        command.add(java);
        List<String> jvmFlags = new java.util.ArrayList<>(Arrays.stream(System.getProperty("basalt.jvm.flags", "")
                .trim().split("\\s+")).filter(s -> !s.isBlank()).toList());
        jvmFlags.add("-Xmx256m");
        command.addAll(jvmFlags);
        command.addAll(jvmOptions);
        String classPath = jar + ":" + lib + "/*";
        command.addAll(List.of("-cp", classPath, "io.basalt.cli.ChunkServerRunCommand",
                "--data", dataDir.toString(), "--meta", metaPeers, "--port", String.valueOf(port), "--metrics-port", "0",
                "--host", hostLabel));
        // TLS on, as in basalt up, unless the test asks for plain TCP.
        if (!args.contains("--insecure") && !args.contains("--tls-dir")) {
            command.addAll(ItTls.args(io.basalt.common.tls.Role.CHUNK_SERVER));
        }
        command.addAll(args);
        return command;
    }

    public static CsProcess start(Path dataDir, String metaPeers) throws IOException, InterruptedException {
        return start(dataDir, metaPeers, "it");
    }

    public static CsProcess start(Path dataDir, String metaPeers, String hostLabel)
            throws IOException, InterruptedException {
        return start(dataDir, metaPeers, hostLabel, List.of(), 0);
    }

    public static CsProcess start(Path dataDir, String metaPeers, String hostLabel, List<String> jvmOptions, int port)
            throws IOException, InterruptedException {
        return start(command(dataDir, metaPeers, hostLabel, jvmOptions, port), dataDir);
    }

    /** Starts a chunk server with extra {@code basalt cs run} options. */
    public static CsProcess startWithArgs(Path dataDir, String metaPeers, String hostLabel, List<String> args)
            throws IOException, InterruptedException {
        return startWithArgs(dataDir, metaPeers, hostLabel, List.of(), args);
    }

    /** With extra JVM options and extra {@code basalt cs run} options. */
    public static CsProcess startWithArgs(Path dataDir, String metaPeers, String hostLabel, List<String> jvmOptions,
            List<String> args) throws IOException, InterruptedException {
        return start(command(dataDir, metaPeers, hostLabel, jvmOptions, 0, args), dataDir);
    }

    /** As above, on {@code port} (0: any free one). */
    public static CsProcess startWithArgs(Path dataDir, String metaPeers, String hostLabel, List<String> jvmOptions,
            int port, List<String> args) throws IOException, InterruptedException {
        return start(command(dataDir, metaPeers, hostLabel, jvmOptions, port, args), dataDir);
    }

    /**
     * Starts {@code command}; its output is kept in memory and appended to {@code DATADIR.log} beside
     * the data directory (every run of the server, restarts included: what a failed test's kept
     * directory shows, see ItResources).
     */
    private static CsProcess start(List<String> command, Path dataDir) throws IOException, InterruptedException {
        Files.createDirectories(dataDir.toAbsolutePath().getParent());
        java.io.Writer log = Files.newBufferedWriter(dataDir.resolveSibling(dataDir.getFileName() + ".log"),
                StandardCharsets.UTF_8, java.nio.file.StandardOpenOption.CREATE,
                java.nio.file.StandardOpenOption.APPEND);
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        StringBuffer output = new StringBuffer();
        CompletableFuture<int[]> served = new CompletableFuture<>();
        Thread reader = new Thread(() -> {
            try (log; BufferedReader lines = new BufferedReader(
                    new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = lines.readLine()) != null) {
                    output.append(line).append('\n');
                    log.write(line);
                    log.write('\n');
                    log.flush();
                    Matcher m = SERVING.matcher(line);
                    if (m.find()) {
                        served.complete(new int[] {Integer.parseInt(m.group(1)), Integer.parseInt(m.group(3))});
                    }
                }
            } catch (IOException ignored) {
                // the process went away
            }
            served.completeExceptionally(new IOException("chunk server exited before serving:\n" + output));
        }, "cs-output-" + process.pid());
        reader.setDaemon(true);
        reader.start();
        try {
            int[] idAndPort = served.get(90, TimeUnit.SECONDS);
            return new CsProcess(process, idAndPort[0], idAndPort[1], output);
        } catch (Exception e) {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
            throw new IOException("chunk server did not start: " + e.getMessage() + "\n" + output, e);
        }
    }

    public String address() {
        return "127.0.0.1:" + port;
    }

    /** SIGKILL (Process.destroyForcibly on Linux), then wait for it to be gone. */
    public void kill9() throws InterruptedException {
        process.destroyForcibly();
        if (!process.waitFor(20, TimeUnit.SECONDS)) {
            throw new IllegalStateException("chunk server " + process.pid() + " survived SIGKILL");
        }
    }

    public boolean alive() {
        return process.isAlive();
    }

    /** SIGTERM and wait; SIGKILL if it does not stop in time. */
    @Override
    public void close() throws InterruptedException {
        if (process.isAlive()) {
            process.destroy();
            if (!process.waitFor(30, TimeUnit.SECONDS)) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }
}
