package io.basalt.cli.it;

import io.basalt.cli.cs.ItTls;

import io.basalt.cli.cs.CsProcess;
import io.basalt.cli.meta.MetaCluster;
import io.basalt.meta.api.MetaClient;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A whole cluster as real processes for the volume tests: meta members, chunk servers on distinct
 * host labels, and the NBD gateway ({@code basalt nbd run}). Everything is ended by PID in
 * {@link #close()}, also when a test fails; data lives under the directory given.
 */
final class VolumeCluster implements AutoCloseable {
    private static final Pattern GATEWAY_SERVING = Pattern.compile("NBD gateway on nbd://[0-9.]+:(\\d+)/");

    final Path dir;
    final MetaCluster meta;
    final List<CsProcess> servers = new ArrayList<>();
    private Process gateway;
    private int nbdPort;
    private final StringBuffer gatewayOutput = new StringBuffer();
    private MetaClient client;
    /** Extra options every chunk server of this cluster runs with. */
    private List<String> csArgs = List.of();
    /** Extra JVM options of every chunk server; "{dir}" stands for its data directory. */
    private List<String> csJvmOptions = List.of();

    private VolumeCluster(Path dir, int metaNodes, String... metaArgs) throws IOException {
        this.dir = dir;
        this.meta = new MetaCluster(metaNodes, dir.resolve("meta"), metaArgs);
    }

    /** Starts {@code metaNodes} meta members, {@code chunkServers} chunk servers and the gateway. */
    static VolumeCluster start(Path dir, int metaNodes, int chunkServers) throws Exception {
        return start(dir, metaNodes, chunkServers, new String[0]);
    }

    /** As {@link #start(Path, int, int)}, with extra {@code basalt meta run} options. */
    static VolumeCluster start(Path dir, int metaNodes, int chunkServers, String... metaArgs) throws Exception {
        return start(dir, metaNodes, chunkServers, List.of(), metaArgs);
    }

    /** As above, with extra {@code basalt cs run} options for every chunk server (kept for restarts). */
    static VolumeCluster start(Path dir, int metaNodes, int chunkServers, List<String> csArgs, String... metaArgs)
            throws Exception {
        return start(dir, metaNodes, chunkServers, csArgs, List.of(), metaArgs);
    }

    /**
     * As above, with extra JVM options for every chunk server ("{dir}" stands for its data directory,
     * e.g. {@code -Dbasalt.test.crashAtFile={dir}/crash-at}), kept for restarts.
     */
    static VolumeCluster start(Path dir, int metaNodes, int chunkServers, List<String> csArgs,
            List<String> csJvmOptions, String... metaArgs) throws Exception {
        long startNanos = System.nanoTime();
        VolumeCluster cluster = new VolumeCluster(dir, metaNodes, metaArgs);
        cluster.csArgs = List.copyOf(csArgs);
        cluster.csJvmOptions = List.copyOf(csJvmOptions);
        try {
            Files.createDirectories(dir.resolve("meta"));
            cluster.meta.startAll();
            long metaNanos = System.nanoTime();
            // One after another: starting them at once was measured no faster (a start is CPU,
            // there are 2 cores: 6 at once took 17.9 s, 3.2 s each one by one).
            for (int i = 1; i <= chunkServers; i++) {
                Path csDir = dir.resolve("cs" + i);
                cluster.servers.add(CsProcess.startWithArgs(csDir, cluster.meta.peers(), "host" + i,
                        cluster.csJvmOptions(csDir), cluster.csArgs));
            }
            long csNanos = System.nanoTime();
            cluster.awaitChunkServersUp(chunkServers);
            cluster.startGateway();
            long doneNanos = System.nanoTime();
            System.out.printf("cluster up in %d ms: meta %d ms, %d chunk servers %d ms (%s), UP and gateway %d ms%n",
                    (doneNanos - startNanos) / 1_000_000, (metaNanos - startNanos) / 1_000_000, chunkServers,
                    (csNanos - metaNanos) / 1_000_000, "one by one",
                    (doneNanos - csNanos) / 1_000_000);
            return cluster;
        } catch (Exception | Error e) { // an assertion failing while starting must not leak processes
            // What meta said goes with the failure (its log is deleted with the temp dir): a chunk
            // server that cannot reach meta says only "connection refused".
            for (int i = 0; i < cluster.meta.size(); i++) {
                try {
                    String log = cluster.meta.log(i);
                    e.addSuppressed(new Exception("meta member " + (i + 1) + " (alive: "
                            + cluster.meta.isAlive(i) + ") said, last 4000 chars:\n"
                            + log.substring(Math.max(0, log.length() - 4000))));
                } catch (IOException | RuntimeException logError) {
                    e.addSuppressed(logError);
                }
            }
            cluster.close();
            throw e;
        }
    }

    /** The end of the gateway's and every chunk server's output, for failure messages. */
    String logTails() {
        StringBuilder out = new StringBuilder("\n--- gateway ---\n").append(tail(gatewayOutput()));
        for (int i = 0; i < servers.size(); i++) {
            out.append("\n--- cs").append(i + 1).append(" ---\n").append(tail(servers.get(i).output.toString()));
        }
        return out.toString();
    }

    private static String tail(String text) {
        return text.substring(Math.max(0, text.length() - 3000));
    }

    /**
     * Deletes {@code volume} once the gateway has let go of it: an NBD client's disconnect returns
     * before the gateway has closed the volume and released its lease (seen: "in use by client
     * it-gateway" right after a read).
     */
    void deleteOnceClosed(String volume) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (true) {
            try {
                client().deleteVolume(volume);
                return;
            } catch (io.basalt.meta.api.MetaException e) {
                if (!e.getMessage().contains("is in use by client") || System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(100);
            }
        }
    }

    /** Waits until meta counts {@code count} chunk servers UP (heartbeats arrive), or fails. */
    void awaitChunkServersUp(int count) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        List<io.basalt.meta.api.CsView> servers = List.of();
        while (System.nanoTime() < deadline) {
            servers = client().listCs();
            if (servers.stream().filter(v -> v.server().status() == io.basalt.meta.model.CsStatus.UP).count()
                    >= count) {
                return;
            }
            Thread.sleep(200);
        }
        String output = this.servers.isEmpty() ? "" : this.servers.getFirst().output.toString();
        throw new AssertionError("chunk servers not all UP within 60 s: " + servers
                + "\nthe first one said:\n" + output.substring(Math.max(0, output.length() - 4000)));
    }

    /**
     * Waits until every allocated chunk of {@code volume} has all its chunklets UPTODATE and none on
     * chunk server {@code goneCsId} (-1: any), i.e. the cluster healed it; returns the chunks.
     */
    List<io.basalt.meta.model.Chunk> awaitHealed(String volume, int goneCsId, java.time.Duration timeout)
            throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        List<io.basalt.meta.model.Chunk> chunks = List.of();
        while (System.nanoTime() < deadline) {
            io.basalt.meta.model.Volume v = client().getVolume(volume);
            chunks = client().listChunks(v.id());
            boolean healed = chunks.stream().allMatch(chunk -> chunk.chunklets().stream().allMatch(c ->
                    c.state() == io.basalt.meta.model.ChunkletState.UPTODATE && c.csId() != goneCsId));
            if (healed) {
                return chunks;
            }
            Thread.sleep(500);
        }
        throw new AssertionError("volume " + volume + " not healed within " + timeout + ": " + chunks);
    }

    /** Runs an admin verb ({@code basalt ARGS --meta ... --tls-dir ADMIN}) as a process, within 90 s. */
    Tools.Result cli(String... args) {
        List<String> command = new java.util.ArrayList<>(MetaCluster.javaCommand("io.basalt.cli.Main"));
        command.addAll(List.of(args));
        command.addAll(List.of("--meta", meta.peers()));
        command.addAll(ItTls.args(io.basalt.common.tls.Role.ADMIN));
        return Tools.run(java.time.Duration.ofSeconds(90), null, java.util.Map.of(), command);
    }

    /**
     * Starts the real CLI with {@code args} (and this cluster's meta and admin certificate) without
     * waiting: its output goes to {@code output}; the caller waits for it and ends it.
     */
    Process cliStart(Path output, String... args) throws IOException {
        List<String> command = new java.util.ArrayList<>(MetaCluster.javaCommand("io.basalt.cli.Main"));
        command.addAll(List.of(args));
        command.addAll(List.of("--meta", meta.peers()));
        command.addAll(ItTls.args(io.basalt.common.tls.Role.ADMIN));
        return new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(output.toFile()).start();
    }

    /** Starts chunk server {@code index} again on its data directory (after a kill), same options. */
    void restartServer(int index) throws IOException, InterruptedException {
        Path csDir = dir.resolve("cs" + (index + 1));
        servers.set(index, CsProcess.startWithArgs(csDir, meta.peers(), "host" + (index + 1), csJvmOptions(csDir),
                csArgs));
    }

    /** The {@code basalt cs run} options every chunk server of the cluster starts with. */
    List<String> csArgs() {
        return csArgs;
    }

    /** The cluster's chunk server JVM options for the server of {@code csDir}. */
    List<String> csJvmOptions(Path csDir) {
        return csJvmOptions.stream().map(option -> option.replace("{dir}", csDir.toString())).toList();
    }

    /** Starts one more chunk server (cs N+1 on host N+1) and waits until it is UP; returns its index. */
    int addServer() throws IOException, InterruptedException {
        int n = servers.size() + 1;
        servers.add(CsProcess.startWithArgs(dir.resolve("cs" + n), meta.peers(), "host" + n,
                csJvmOptions(dir.resolve("cs" + n)), csArgs));
        long up = servers.stream().filter(cs -> cs.process.isAlive()).count();
        awaitChunkServersUp((int) up);
        return n - 1;
    }

    MetaClient client() {
        if (client == null) {
            client = meta.client();
        }
        return client;
    }

    /** Closes the test's meta client (before meta members are restarted under it). */
    void closeClient() throws IOException {
        if (client != null) {
            client.close();
            client = null;
        }
    }

    int nbdPort() {
        return nbdPort;
    }

    String uri(String volume) {
        return "nbd://127.0.0.1:" + nbdPort + "/" + volume;
    }

    void createVolume(String name, String size, String policy, String chunkSize) {
        client().createVolume(name, BasaltProcess.parseSize(size), policy, BasaltProcess.parseSize(chunkSize));
    }

    /** Starts the gateway (again) and waits until it serves. */
    void startGateway() throws IOException, InterruptedException {
        startGateway(List.of());
    }

    /** As above, with extra {@code basalt nbd run} options. */
    void startGateway(List<String> args) throws IOException, InterruptedException {
        List<String> command = MetaCluster.javaCommand("io.basalt.cli.Main");
        command.addAll(List.of("nbd", "run", "--meta", meta.peers(), "--port", "0", "--metrics-port", "0",
                "--client-id", "it-gateway"));
        command.addAll(ItTls.args(io.basalt.common.tls.Role.GATEWAY));
        command.addAll(args);
        gatewayOutput.setLength(0);
        gateway = new ProcessBuilder(command).redirectErrorStream(true).start();
        nbdPort = awaitServing(gateway, GATEWAY_SERVING, gatewayOutput, "NBD gateway");
    }

    /**
     * Copies {@code process}'s output into {@code output} and waits (90 s at most) for the line
     * {@code serving} matches; returns the port it names.
     */
    private static int awaitServing(Process process, Pattern serving, StringBuffer output, String what)
            throws IOException {
        CompletableFuture<Integer> served = new CompletableFuture<>();
        Thread reader = new Thread(() -> {
            try (BufferedReader lines = new BufferedReader(
                    new InputStreamReader(process.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = lines.readLine()) != null) {
                    output.append(line).append('\n');
                    Matcher m = serving.matcher(line);
                    if (m.find()) {
                        served.complete(Integer.parseInt(m.group(1)));
                    }
                }
            } catch (IOException ignored) {
                // the process went away
            }
            served.completeExceptionally(new IOException(what + " exited before serving"));
        }, "output-" + process.pid());
        reader.setDaemon(true);
        reader.start();
        try {
            return served.get(90, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new IOException(what + " did not start: " + e.getMessage() + "\n" + output, e);
        }
    }

    private static final Pattern S3_SERVING = Pattern.compile("S3 gateway on http://[0-9.]+:(\\d+)");
    private Process s3Gateway;
    private int s3Port;
    private final StringBuffer s3Output = new StringBuffer();

    /** Starts an S3 gateway ({@code basalt s3 run}, writer id "it-s3") and waits until it serves. */
    void startS3Gateway() throws IOException, InterruptedException {
        List<String> command = MetaCluster.javaCommand("io.basalt.cli.Main");
        command.addAll(List.of("s3", "run", "--meta", meta.peers(), "--port", "0", "--metrics-port", "0",
                "--writer-id", "it-s3"));
        command.addAll(ItTls.args(io.basalt.common.tls.Role.GATEWAY));
        s3Output.setLength(0);
        s3Gateway = new ProcessBuilder(command).redirectErrorStream(true).start();
        s3Port = awaitServing(s3Gateway, S3_SERVING, s3Output, "S3 gateway");
    }

    String s3Endpoint() {
        return "http://127.0.0.1:" + s3Port;
    }

    /** kill -9 of the S3 gateway (no drain, no lease given back). */
    void killS3Gateway() throws InterruptedException {
        if (s3Gateway != null && s3Gateway.isAlive()) {
            s3Gateway.destroyForcibly();
            s3Gateway.waitFor(30, TimeUnit.SECONDS);
        }
    }

    String s3Output() {
        return s3Output.toString();
    }

    /** kill -9 of the NBD gateway (no drain, no lease given back; it gets it back on restart). */
    void killGateway() throws InterruptedException {
        if (gateway != null && gateway.isAlive()) {
            gateway.destroyForcibly();
            gateway.waitFor(30, TimeUnit.SECONDS);
        }
    }

    /** SIGTERM the gateway and wait: sessions drain, leases are released. */
    void stopGateway() throws InterruptedException {
        if (gateway != null && gateway.isAlive()) {
            gateway.destroy();
            if (!gateway.waitFor(30, TimeUnit.SECONDS)) {
                gateway.destroyForcibly();
                gateway.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }

    String gatewayOutput() {
        return gatewayOutput.toString();
    }

    /** Sends {@code signal} (STOP, CONT, ...) to chunk server {@code index} by its PID. */
    void signalCs(int index, String signal) throws IOException, InterruptedException {
        Process kill = new ProcessBuilder("kill", "-" + signal, String.valueOf(servers.get(index).process.pid()))
                .inheritIO().start();
        if (kill.waitFor() != 0) {
            throw new IOException("kill -" + signal + " failed");
        }
    }

    @Override
    public void close() throws Exception {
        try {
            if (client != null) {
                client.close();
            }
            if (s3Gateway != null && s3Gateway.isAlive()) {
                s3Gateway.destroyForcibly();
                s3Gateway.waitFor(30, TimeUnit.SECONDS);
            }
            if (gateway != null && gateway.isAlive()) {
                gateway.destroyForcibly();
                gateway.waitFor(30, TimeUnit.SECONDS);
            }
            for (int i = 0; i < servers.size(); i++) {
                if (servers.get(i).alive()) {
                    signalCs(i, "CONT");
                }
                servers.get(i).kill9();
            }
        } finally {
            meta.close();
        }
    }
}
