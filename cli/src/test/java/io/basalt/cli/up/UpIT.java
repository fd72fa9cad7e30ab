package io.basalt.cli.up;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.basalt.meta.api.MetaClient;
import io.basalt.meta.model.Chunk;
import java.io.File;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * {@code basalt up} as a user runs it: a real {@code up} process starting real meta and chunk
 * server processes, driven by the admin verbs without {@code --meta} (they find the cluster in
 * {@code ./basalt-data/cluster.json}, so they run with the temp dir as working directory).
 *
 * <p>Clean-up never trusts {@code up}: after asking it to stop, every process whose command line
 * names this test's temp dir is killed by PID (daemons run in their own session and would outlive
 * a killed {@code up}), then the dir is deleted.
 */
class UpIT {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final long READY_MILLIS_MAX = 150_000;
    private static final int CHUNK_SERVERS = 6;
    /** Offsets of the ports {@code up} uses (UpLayout); the test checks they are free. */
    private static final int[] PORT_OFFSETS;

    static {
        List<Integer> offsets = new ArrayList<>(List.of(1, 2710, 3709, 2731));
        for (int i = 1; i <= CHUNK_SERVERS; i++) {
            offsets.add(600 + i);
            offsets.add(2720 + i);
        }
        PORT_OFFSETS = offsets.stream().mapToInt(Integer::intValue).toArray();
    }

    private Path root;
    private int portBase;
    private final List<UpProcess> ups = new ArrayList<>();

    @BeforeEach
    void setUp() throws IOException {
        root = Files.createTempDirectory("basalt-up-it-");
        portBase = freePortBase();
    }

    @Test
    void upRunsSupervisesStopsAndBringsTheSameClusterBack() throws Exception {
        try {
            // First with a process per chunk server, so that one can be killed alone below.
            UpProcess first = startUp(true);
            long firstUpPid = first.process.pid();
            System.out.println("up ready after " + first.readyMillis + " ms (first start)");

            // A second up on the same dir is refused, naming the first one's pid.
            Result refused = runCli(List.of("up", "--no-nbd", "--port-base", String.valueOf(portBase)));
            assertThat(refused.exitCode).as(refused.describe()).isEqualTo(1);
            assertThat(refused.stderr).as(refused.describe())
                    .contains("in use by basalt up (pid " + firstUpPid + ")");

            Result created = runCli(List.of("volume", "create", "v1", "--size", "1G", "--policy", "rep3"));
            assertThat(created.exitCode).as(created.describe()).isZero();

            // Through the NBD gateway: the first write places chunk 0 of v1 on three chunk servers.
            String uri = "nbd://127.0.0.1:" + daemon(clusterFile(), "nbd").get("port").asInt() + "/v1";
            assertToolOk("qemu-io", "-f", "raw", "-c", "write -P 0x5a 0 1M", "-c", "read -P 0x5a 0 1M", uri);
            Chunk chunk;
            // As the admin CLI: meta speaks mutual TLS with the certificates up made.
            try (MetaClient meta = MetaClient.connect(clusterFile().get("metaPeers").asText(),
                    io.basalt.common.tls.TlsIdentity.load(root.resolve("basalt-data/tls/admin")))) {
                chunk = meta.getChunk(meta.getVolume("v1").id(), 0, false).orElseThrow();
            }
            assertThat(chunk.chunklets()).hasSize(3);

            JsonNode status = status();
            assertThat(status.at("/meta/leader").asText()).as(status.toString()).isNotEmpty();
            // The admin verbs above went through meta's local admin socket, not TLS.
            assertThat(root.resolve("basalt-data/meta1/admin.sock")).exists();
            assertThat(io.basalt.cli.it.MetricsIT.sum(io.basalt.cli.it.MetricsIT.scrape(
                    daemon(clusterFile(), "meta1").get("metricsPort").asInt()),
                    "basalt_meta_admin_socket_requests_total", "")).isPositive();
            long leaders = 0;
            for (JsonNode member : status.at("/meta/members")) {
                leaders += member.get("leader").asBoolean() ? 1 : 0;
            }
            assertThat(leaders).as(status.toString()).isEqualTo(1);
            assertThat(upCount(status, false)).as(status.toString()).isEqualTo(CHUNK_SERVERS);
            assertThat(volumeNames(status)).as(status.toString()).containsExactly("v1");
            assertThat(status.at("/volumes/0/chunks").asLong()).as(status.toString()).isEqualTo(1);
            assertThat(status.at("/degradedChunks").asLong()).as(status.toString()).isZero();

            // A certificate near its expiry is renewed while up runs (no restart), and the gateway
            // holding it goes on serving.
            Path nbdTls = root.resolve("basalt-data/tls/nbd");
            io.basalt.common.tls.CertificateAuthority.open(root.resolve("basalt-data/tls/ca")).issue(nbdTls,
                    io.basalt.common.tls.Role.GATEWAY, "nbd", List.of("127.0.0.1"), java.time.Duration.ofDays(10));
            first.awaitOutput("renewed certificates for nbd", 30_000);
            assertThat(io.basalt.common.tls.Pem.readCertificates(nbdTls.resolve("cert.pem")).getFirst().getNotAfter()
                    .toInstant()).isAfter(java.time.Instant.now().plus(java.time.Duration.ofDays(300)));
            assertToolOk("qemu-io", "-f", "raw", "-c", "read -P 0x5a 0 1M", uri);

            // kill -9 a chunk server holding a chunklet of that chunk: up reports it and does not
            // restart it; after meta's watchdog (3 s) it is not UP and the chunk is degraded.
            JsonNode cluster = clusterFile();
            Set<Long> pids = pids(cluster);
            assertThat(pids).as("meta, the chunk servers, the NBD and the S3 gateway").hasSize(1 + CHUNK_SERVERS + 2);
            JsonNode victim = daemonWithId(cluster, chunk.chunklets().get(0).csId());
            String victimName = victim.get("name").asText();
            long victimPid = victim.get("pid").asLong();
            ProcessHandle.of(victimPid).orElseThrow().destroyForcibly();
            first.awaitOutput("DIED: " + victimName + " (pid " + victimPid + ")", 30_000);
            Thread.sleep(3_000); // meta's watchdog marks it after 3 s of silence; fewer status runs
            String victimAddress = "127.0.0.1:" + victim.get("port").asInt();
            JsonNode degraded = awaitStatus(s -> !"UP".equals(csStatus(s, victimAddress)), 30_000);
            assertThat(upCount(degraded, false)).as(degraded.toString()).isEqualTo(CHUNK_SERVERS - 1);
            assertThat(degraded.at("/degradedChunks").asLong()).as(degraded.toString()).isEqualTo(1);
            assertThat(ProcessHandle.of(victimPid).map(ProcessHandle::isAlive).orElse(false))
                    .as(victimName + " must not be restarted under the same pid").isFalse();
            assertThat(daemon(clusterFile(), victimName).has("pid"))
                    .as("cluster.json after " + victimName + " died").isFalse();

            // SIGTERM up: every daemon stops, up exits 0, cluster.json keeps no pids.
            first.process.destroy();
            assertThat(first.process.waitFor(90, TimeUnit.SECONDS)).as(first.output()).isTrue();
            assertThat(first.process.exitValue()).as(first.output()).isZero();
            for (long pid : pids) {
                assertThat(ProcessHandle.of(pid).map(ProcessHandle::isAlive).orElse(false))
                        .as("daemon pid " + pid + " after up stopped").isFalse();
            }
            assertThat(pids(clusterFile())).as("pids in cluster.json after a clean stop").isEmpty();
            assertThat(first.output()).contains("stopped;");

            // Admin verbs say the cluster is not running, in one line.
            Result down = runCli(List.of("volume", "list"));
            assertThat(down.exitCode).as(down.describe()).isEqualTo(1);
            List<String> errorLines = down.stderr.lines()
                    .filter(line -> !line.startsWith("WARNING: Using incubator modules")).toList();
            assertThat(errorLines).as(down.describe()).hasSize(1);
            assertThat(errorLines.get(0)).as(down.describe())
                    .startsWith("basalt: the cluster in ").contains("is not running");

            // up again on the same dir: same cluster, same volume, every chunk server back UP, this
            // time the six in one process (up's default).
            UpProcess second = startUp(false);
            System.out.println("up ready after " + second.readyMillis + " ms (restart)");
            assertChunkServersShareOneProcess(clusterFile());
            JsonNode again = status();
            assertThat(volumeNames(again)).as(again.toString()).containsExactly("v1");
            assertThat(upCount(again, true)).as(again.toString()).isEqualTo(CHUNK_SERVERS);
            // The acknowledged write survived: read it back through the new gateway.
            assertToolOk("qemu-io", "-f", "raw", "-c", "read -P 0x5a 0 1M",
                    "nbd://127.0.0.1:" + daemon(clusterFile(), "nbd").get("port").asInt() + "/v1");
            // This time up dies by kill -9 (its SIGTERM was checked above): see below.
            daemonsStopCleanlyWhenUpIsKilled(second);
        } catch (Throwable e) {
            printDiagnostics();
            throw e;
        }
    }

    /**
     * up's default: the chunk servers listed one by one (their own ports and ids) with one pid and
     * one log, in which every server's lines, and those of the threads it started, carry its name.
     */
    private static void assertChunkServersShareOneProcess(JsonNode cluster) throws IOException {
        Set<Long> csPids = new LinkedHashSet<>();
        Set<String> csLogs = new LinkedHashSet<>();
        Set<Integer> csPorts = new LinkedHashSet<>();
        for (JsonNode daemon : cluster.get("daemons")) {
            if (daemon.get("role").asText().equals("cs")) {
                csPids.add(daemon.get("pid").asLong());
                csLogs.add(daemon.get("log").asText());
                csPorts.add(daemon.get("port").asInt());
            }
        }
        assertThat(csPids).as(cluster.toString()).hasSize(1);
        assertThat(csLogs).as(cluster.toString()).hasSize(1);
        assertThat(csPorts).as(cluster.toString()).hasSize(CHUNK_SERVERS);
        String log = Files.readString(Path.of(csLogs.iterator().next()));
        for (int i = 1; i <= CHUNK_SERVERS; i++) {
            assertThat(log).as("the shared log").contains("[cs" + i + "] ChunkServer: chunk server ")
                    .contains("[cs" + i + "/basalt-");
        }
    }

    /**
     * kill -9 of up (what the OOM killer or a lost terminal session does): its daemons see their
     * lifeline end and stop by themselves, through their clean stop, instead of running on. Run on
     * the restarted cluster of the test above (one up start less in the suite).
     */
    private void daemonsStopCleanlyWhenUpIsKilled(UpProcess up) throws Exception {
        JsonNode cluster = clusterFile();
        Set<Long> pids = pids(cluster);
        assertThat(pids).as("meta, the chunk servers' process, the NBD and the S3 gateway").hasSize(1 + 1 + 2);
        long upPid = up.process.pid();
        up.process.destroyForcibly();
        assertThat(up.process.waitFor(30, TimeUnit.SECONDS)).isTrue();

        // Up to a stop's grace each; they stop in parallel, on a loaded CI machine.
        long deadlineNanos = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        for (long pid : pids) {
            ProcessHandle.of(pid).ifPresent(handle -> handle.onExit().orTimeout(
                    Math.max(1, deadlineNanos - System.nanoTime()), TimeUnit.NANOSECONDS).join());
        }
        for (JsonNode daemon : cluster.get("daemons")) {
            String name = daemon.get("name").asText();
            String log = Files.readString(Path.of(daemon.get("log").asText()));
            assertThat(log).as(name + "'s log").contains(
                    "basalt: supervisor (basalt up, pid " + upPid + ") is gone: stopping");
            // The clean stop ran, not just the end of the process.
            String cleanStop = switch (daemon.get("role").asText()) {
                case "cs" -> "shutting down: finishing queued writes";
                case "meta" -> "closing MetaStateMachine";
                case "nbd", "s3" -> "stopped";
                default -> throw new AssertionError("unknown role in " + daemon);
            };
            assertThat(log.substring(log.indexOf("is gone: stopping"))).as(name + "'s log")
                    .contains(cleanStop);
        }
    }

    // ---------------------------------------------------------------------------------------
    // The up process

    /** One {@code basalt up} child; its stdout and stderr go to a file (a pipe could fill). */
    static final class UpProcess {
        final Process process;
        final Path outputFile;
        long readyMillis;

        UpProcess(Process process, Path outputFile) {
            this.process = process;
            this.outputFile = outputFile;
        }

        String output() {
            try {
                return Files.readString(outputFile, StandardCharsets.UTF_8);
            } catch (IOException e) {
                return "(cannot read " + outputFile + ": " + e + ")";
            }
        }

        void awaitOutput(String text, long timeoutMillis) throws InterruptedException {
            long deadlineNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
            while (System.nanoTime() < deadlineNanos) {
                if (output().contains(text)) {
                    return;
                }
                if (!process.isAlive()) {
                    throw new AssertionError("up exited (" + process.exitValue() + ") before"
                            + " printing \"" + text + "\":\n" + output());
                }
                Thread.sleep(100);
            }
            throw new AssertionError("up did not print \"" + text + "\" within " + timeoutMillis
                    + " ms:\n" + output());
        }
    }

    /** {@code separateCsProcesses}: each chunk server its own process, else all in one. */
    private UpProcess startUp(boolean separateCsProcesses) throws IOException, InterruptedException {
        // up passes its JVM flags on to every daemon (512 MiB: the shared process holds six chunk
        // servers). C1 only: up to ten JVMs start at once on CI's two cores, and this test checks
        // orchestration, not speed (that is bench/).
        // Certificates looked at every 2 s instead of every 6 hours (the renewal below).
        List<String> command = javaCommand(List.of("-XX:+UseZGC", "-Xmx512m", "-XX:TieredStopAtLevel=1",
                "-Dbasalt.up.certificateCheckMillis=2000"));
        command.addAll(List.of("up", "--chunkservers", String.valueOf(CHUNK_SERVERS),
                "--port-base", String.valueOf(portBase)));
        if (separateCsProcesses) {
            command.add("--separate-cs-processes");
        }
        Path outputFile = root.resolve("up-" + (ups.size() + 1) + ".out");
        long startNanos = System.nanoTime();
        UpProcess up = new UpProcess(processBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.appendTo(outputFile.toFile())).start(),
                outputFile);
        ups.add(up);
        up.awaitOutput("basalt up: ready in ", READY_MILLIS_MAX);
        up.readyMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos);
        return up;
    }

    // ---------------------------------------------------------------------------------------
    // Admin verbs, run in the temp dir without --meta

    record Result(List<String> command, int exitCode, String stdout, String stderr) {
        String describe() {
            return String.join(" ", command) + "\nexit code " + exitCode + "\n--- stdout ---\n"
                    + stdout + "\n--- stderr ---\n" + stderr;
        }
    }

    private Result runCli(List<String> args) throws IOException, InterruptedException {
        List<String> command = javaCommand(List.of("-XX:+UseSerialGC", "-Xmx128m", "-XX:TieredStopAtLevel=1"));
        command.addAll(args);
        Path out = Files.createTempFile(root, "cli-", ".out");
        Path err = Files.createTempFile(root, "cli-", ".err");
        Process process = processBuilder(command)
                .redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!process.waitFor(90, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
            throw new AssertionError("timed out: " + String.join(" ", command));
        }
        Result result = new Result(args, process.exitValue(), Files.readString(out), Files.readString(err));
        Files.delete(out);
        Files.delete(err);
        return result;
    }

    /** Runs an NBD client tool; it must exit 0 and report no failed pattern check. */
    private void assertToolOk(String... command) throws IOException, InterruptedException {
        Path out = Files.createTempFile(root, "tool-", ".out");
        Process process = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(out.toFile())
                .start();
        if (!process.waitFor(90, TimeUnit.SECONDS)) {
            process.destroyForcibly();
            process.waitFor(10, TimeUnit.SECONDS);
            throw new AssertionError("timed out: " + String.join(" ", command));
        }
        String output = Files.readString(out);
        assertThat(process.exitValue()).as(String.join(" ", command) + "\n" + output).isZero();
        assertThat(output).as(String.join(" ", command)).doesNotContainIgnoringCase("fail")
                .doesNotContainIgnoringCase("error");
    }

    private JsonNode status() throws IOException, InterruptedException {
        Result result = runCli(List.of("status", "--json"));
        assertThat(result.exitCode).as(result.describe()).isZero();
        return JSON.readTree(result.stdout);
    }

    private JsonNode awaitStatus(java.util.function.Predicate<JsonNode> condition, long timeoutMillis)
            throws IOException, InterruptedException {
        long deadlineNanos = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis);
        JsonNode status = status();
        while (!condition.test(status)) {
            if (System.nanoTime() > deadlineNanos) {
                throw new AssertionError("status never met the condition within " + timeoutMillis
                        + " ms; last: " + status);
            }
            Thread.sleep(500);
            status = status();
        }
        return status;
    }

    private ProcessBuilder processBuilder(List<String> command) {
        ProcessBuilder builder = new ProcessBuilder(command).directory(root.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        // The verbs must find the cluster through ./basalt-data/cluster.json, not the environment.
        Map<String, String> env = builder.environment();
        env.remove("BASALT_META");
        env.remove("BASALT_DATA");
        return builder;
    }

    private static List<String> javaCommand(List<String> jvmFlags) {
        String jar = System.getProperty("basalt.cli.jar");
        String lib = System.getProperty("basalt.cli.lib");
        if (jar == null || lib == null) {
            throw new IllegalStateException("basalt.cli.jar and basalt.cli.lib must be set (run as"
                    + " an integration test after package)");
        }
        List<String> command = new ArrayList<>();
        command.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        Arrays.stream(System.getProperty("basalt.jvm.flags", "").split("\\s+"))
                .filter(flag -> !flag.isBlank()).forEach(command::add);
        command.add("--sun-misc-unsafe-memory-access=allow");
        command.addAll(jvmFlags);
        command.addAll(List.of("-cp", jar + File.pathSeparator + lib + File.separator + "*",
                "io.basalt.cli.Main"));
        return command;
    }

    // ---------------------------------------------------------------------------------------
    // JSON

    private JsonNode clusterFile() throws IOException {
        return JSON.readTree(root.resolve("basalt-data/cluster.json").toFile());
    }

    private static Set<Long> pids(JsonNode cluster) {
        Set<Long> pids = new LinkedHashSet<>();
        for (JsonNode daemon : cluster.get("daemons")) {
            if (daemon.has("pid")) {
                pids.add(daemon.get("pid").asLong());
            }
        }
        return pids;
    }

    private static JsonNode daemon(JsonNode cluster, String name) {
        for (JsonNode daemon : cluster.get("daemons")) {
            if (daemon.get("name").asText().equals(name)) {
                return daemon;
            }
        }
        throw new AssertionError("no daemon " + name + " in " + cluster);
    }

    private static JsonNode daemonWithId(JsonNode cluster, int csId) {
        for (JsonNode daemon : cluster.get("daemons")) {
            if (daemon.get("role").asText().equals("cs") && daemon.path("id").asText().equals(String.valueOf(csId))) {
                return daemon;
            }
        }
        throw new AssertionError("no chunk server with id " + csId + " in " + cluster);
    }

    /** Chunk servers UP; with {@code heartbeating}, only those with a heartbeat since the leader began. */
    private static long upCount(JsonNode status, boolean heartbeating) {
        long up = 0;
        for (JsonNode cs : status.get("chunkServers")) {
            if ("UP".equals(cs.get("status").asText())
                    && (!heartbeating || cs.get("heartbeatAgeMillis").asLong() >= 0)) {
                up++;
            }
        }
        return up;
    }

    private static String csStatus(JsonNode status, String address) {
        for (JsonNode cs : status.get("chunkServers")) {
            if (cs.get("address").asText().equals(address)) {
                return cs.get("status").asText();
            }
        }
        throw new AssertionError("no chunk server at " + address + " in " + status);
    }

    private static List<String> volumeNames(JsonNode status) {
        List<String> names = new ArrayList<>();
        status.get("volumes").forEach(volume -> names.add(volume.get("name").asText()));
        return names;
    }

    // ---------------------------------------------------------------------------------------
    // Ports and clean-up

    /** A base whose every port is free now, below the ephemeral range (32768+). */
    private static int freePortBase() throws IOException {
        SplittableRandom random = new SplittableRandom();
        for (int attempt = 0; attempt < 50; attempt++) {
            int base = 20_000 + random.nextInt(8_000);
            if (Arrays.stream(PORT_OFFSETS).allMatch(offset -> free(base + offset))) {
                return base;
            }
        }
        throw new IOException("no port base with free ports found in 50 tries");
    }

    private static boolean free(int port) {
        try (ServerSocket socket = new ServerSocket()) {
            socket.bind(new InetSocketAddress(InetAddress.getLoopbackAddress(), port));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private void printDiagnostics() {
        for (int i = 0; i < ups.size(); i++) {
            System.out.println("=== output of up #" + (i + 1) + " ===\n" + ups.get(i).output());
        }
        Path logs = root.resolve("basalt-data/logs");
        if (Files.isDirectory(logs)) {
            try (Stream<Path> files = Files.list(logs)) {
                for (Path log : files.sorted().toList()) {
                    List<String> lines = Files.readAllLines(log);
                    System.out.println("=== last lines of " + log + " ===");
                    lines.subList(Math.max(0, lines.size() - 40), lines.size()).forEach(System.out::println);
                }
            } catch (IOException e) {
                System.out.println("cannot list " + logs + ": " + e);
            }
        }
    }

    @AfterEach
    void tearDown() throws Exception {
        for (UpProcess up : ups) {
            if (up.process.isAlive()) {
                up.process.destroy();
                if (!up.process.waitFor(60, TimeUnit.SECONDS)) {
                    up.process.destroyForcibly();
                    up.process.waitFor(10, TimeUnit.SECONDS);
                }
            }
        }
        // Whatever still runs with this test's dir in its command line is ours: kill it by PID.
        String marker = root.toString();
        List<ProcessHandle> leftovers = ProcessHandle.allProcesses()
                .filter(handle -> handle.info().arguments()
                        .map(arguments -> String.join(" ", arguments).contains(marker))
                        .orElse(false))
                .toList();
        for (ProcessHandle leftover : leftovers) {
            System.out.println("killing leftover pid " + leftover.pid() + ": "
                    + leftover.info().commandLine().orElse("?"));
            leftover.destroyForcibly();
        }
        for (ProcessHandle leftover : leftovers) {
            leftover.onExit().get(30, TimeUnit.SECONDS);
        }
        try (Stream<Path> walk = Files.walk(root)) {
            for (Path path : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        }
    }
}
