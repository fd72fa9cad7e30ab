package io.basalt.cli.cs;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.chunkserver.CsIdentity;
import io.basalt.cli.meta.MetaCluster;
import io.basalt.meta.api.CsView;
import io.basalt.meta.api.MetaClient;
import io.basalt.meta.model.CsStatus;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.UUID;
import java.util.concurrent.TimeUnit;
import java.util.function.Predicate;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;

/**
 * A chunk server process wired to a real meta process ({@code cs run --meta}): it registers and
 * heartbeats, rejoins with the same id, is marked UNHEALTHY by meta's watchdog when killed, and a
 * data directory of another cluster is refused. Every process is ended by PID and every directory
 * removed in {@link #tearDown} and {@link #stopMeta}, also when a test fails. One meta process for
 * the class (a start is seconds of the suite): the refusals first, which must register nothing.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class MetaLinkIT {
    static Path dir;
    static MetaCluster meta;
    static MetaClient client;
    final List<AutoCloseable> toClose = new ArrayList<>();

    @BeforeAll
    static void startMeta() throws Exception {
        dir = Files.createTempDirectory("cs-metalink-it");
        // A short watchdog so a killed CS turns UNHEALTHY within seconds.
        meta = new MetaCluster(1, Files.createDirectories(dir.resolve("meta")),
                "--cs-unhealthy-after-ms", "2000");
        meta.startAll();
        client = meta.client();
    }

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : toClose.reversed()) {
            c.close();
        }
    }

    @AfterAll
    static void stopMeta() throws Exception {
        if (client != null) {
            client.close();
        }
        if (meta != null) {
            meta.close();
        }
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }

    CsProcess start(Path data, String host) throws Exception {
        CsProcess cs = CsProcess.start(data, meta.peers(), host);
        toClose.add(cs);
        return cs;
    }

    /** Polls {@code listCs} until {@code csId} satisfies {@code condition}; returns that view. */
    CsView awaitCs(int csId, Predicate<CsView> condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
        CsView last = null;
        while (System.nanoTime() < deadline) {
            for (CsView view : client.listCs()) {
                if (view.server().id() == csId) {
                    last = view;
                    if (condition.test(view)) {
                        return view;
                    }
                }
            }
            Thread.sleep(200);
        }
        throw new AssertionError("chunk server " + csId + " never became " + what + "; last: " + last);
    }

    @Test
    @Order(3)
    void registersHeartbeatsRejoinsWithItsIdAndTurnsUnhealthyWhenKilled() throws Exception {
        Path data = dir.resolve("cs1");
        CsProcess first = start(data, "rack1-node1");
        assertThat(first.csId).isPositive();
        CsView up = awaitCs(first.csId, v -> v.server().status() == CsStatus.UP
                && v.heartbeatAgeMillis() >= 0, "UP with a heartbeat");
        assertThat(up.server().host()).isEqualTo("rack1-node1");
        assertThat(up.server().address()).isEqualTo(first.address());
        assertThat(up.server().capacityBytes()).isEqualTo(Files.getFileStore(data).getTotalSpace());
        assertThat(up.usedBytes()).isGreaterThanOrEqualTo(0);
        CsIdentity identity = CsIdentity.read(data.resolve("identity"));
        assertThat(identity.csId()).isEqualTo(first.csId);
        try (MetaClient other = meta.client()) {
            assertThat(identity.clusterId()).isEqualTo(other.clusterId());
        }

        first.close(); // SIGTERM: a clean stop
        // Its id is bound to its certificate: the same data directory with another chunk server's
        // certificate is refused by meta, in one line, and changes nothing.
        Path log = dir.resolve("other-holder.log");
        Process impostor = new ProcessBuilder(CsProcess.command(data, meta.peers(), "rack1-node1", List.of(), 0,
                List.of("--tls-dir", ItTls.issue(io.basalt.common.tls.Role.CHUNK_SERVER, "it-cs-other").toString())))
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            assertThat(impostor.waitFor(90, TimeUnit.SECONDS)).as("the refused CS exits").isTrue();
            String output = Files.readString(log, StandardCharsets.UTF_8);
            assertThat(impostor.exitValue()).as(output).isEqualTo(1);
            assertThat(output.lines().filter(line -> line.startsWith("basalt: ")).toList()).as(output)
                    .singleElement().asString().contains("refused to register chunk server " + first.csId)
                    .contains("belongs to certificate it-cs, and this request comes from certificate it-cs-other");
        } finally {
            if (impostor.isAlive()) {
                impostor.destroyForcibly();
                impostor.waitFor(10, TimeUnit.SECONDS);
            }
        }
        assertThat(client.listCs()).singleElement().extracting(v -> v.server().address()).isEqualTo(first.address());
        CsProcess again = start(data, "rack1-node1");
        assertThat(again.csId).isEqualTo(first.csId);
        awaitCs(again.csId, v -> v.server().status() == CsStatus.UP && v.server().address()
                .equals(again.address()), "UP at its new address");
        assertThat(client.listCs()).hasSize(1);

        again.kill9();
        CsView unhealthy = awaitCs(again.csId, v -> v.server().status() == CsStatus.UNHEALTHY,
                "UNHEALTHY");
        assertThat(unhealthy.heartbeatAgeMillis()).isGreaterThanOrEqualTo(2000);
    }

    @Test
    @Order(2)
    void refusesADataDirectoryOfAnotherClusterInOneLine() throws Exception {
        Path data = dir.resolve("foreign");
        Files.createDirectories(data);
        UUID otherCluster = UUID.randomUUID();
        new CsIdentity(7, otherCluster, System.currentTimeMillis()).write(data.resolve("identity"));

        Path log = dir.resolve("foreign.log");
        Process process = new ProcessBuilder(CsProcess.command(data, meta.peers(), "it"))
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            assertThat(process.waitFor(90, TimeUnit.SECONDS)).as("the refused CS exits").isTrue();
            String output = Files.readString(log, StandardCharsets.UTF_8);
            assertThat(process.exitValue()).as(output).isEqualTo(1);
            List<String> errors = output.lines().filter(line -> line.startsWith("basalt: ")).toList();
            assertThat(errors).as(output).hasSize(1);
            assertThat(errors.getFirst()).contains("belongs to cluster " + otherCluster)
                    .contains("use an empty --data directory");
        } finally {
            if (process.isAlive()) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        }
        // Nothing was registered, and the directory is as it was.
        assertThat(client.listCs()).isEmpty();
        assertThat(CsIdentity.read(data.resolve("identity")).clusterId()).isEqualTo(otherCluster);
    }

    @Test
    @Order(1)
    void refusesABadMetaPeerListInOneLine() throws Exception {
        Path log = dir.resolve("bad-peers.log");
        Process process = new ProcessBuilder(CsProcess.command(dir.resolve("cs"), "127.0.0.1:1", "it"))
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        try {
            assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
            String output = Files.readString(log, StandardCharsets.UTF_8);
            assertThat(process.exitValue()).as(output).isEqualTo(1);
            assertThat(output).contains("basalt: --meta: bad meta peer \"127.0.0.1:1\"");
        } finally {
            if (process.isAlive()) {
                process.destroyForcibly();
                process.waitFor(10, TimeUnit.SECONDS);
            }
        }
    }
}
