package io.basalt.cli.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.cli.cs.CsProcess;
import io.basalt.meta.api.MetaClient;
import io.basalt.meta.model.Chunk;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Faults under a running fio verify job on rep3 volumes: a chunk server stopped (SIGSTOP) for 20 s,
 * one killed (kill -9), the meta leader killed, and the whole cluster stopped and started again.
 * One cluster (3 meta members, 5 chunk servers on 5 host labels, the gateway) for the class; the
 * tests run in order because each leaves the cluster changed.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class VolumeFaultIT {
    @RegisterExtension
    static final ItResources resources = new ItResources();

    private static final long MIB = 1L << 20;
    private static VolumeCluster cluster;
    private static Path dir;

    @BeforeAll
    static void startCluster() throws Exception {
        dir = resources.tempDir();
        cluster = resources.register(VolumeCluster.start(dir.resolve("cluster"), 3, 5));
    }

    /** Starts a fio write-then-verify job on {@code volume}; its output goes to a file. */
    private static Process startFio(String volume, String size, Path output) throws IOException {
        Tools.require("fio", "fio");
        return new ProcessBuilder("fio", "--name=fault-" + volume, "--ioengine=nbd", "--uri=" + cluster.uri(volume),
                "--rw=randwrite", "--bsrange=4k-64k", "--iodepth=8", "--size=" + size,
                "--verify=crc32c", "--verify_fatal=1", "--do_verify=1", "--verify_state_save=0",
                "--randrepeat=0")
                .directory(dir.toFile()).redirectErrorStream(true).redirectOutput(output.toFile()).start();
    }

    /**
     * Waits until the first write placed chunk 0 of {@code volume} and returns the index in
     * {@code cluster.servers} of a chunk server holding one of its replicas (not the primary, so
     * the fault hits the forwarding path), so the fault surely hits the volume under test.
     */
    private static int serverHoldingChunkZero(String volume) throws InterruptedException {
        MetaClient meta = cluster.client();
        long volumeId = meta.getVolume(volume).id();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < deadline) {
            var chunk = meta.getChunk(volumeId, 0, false);
            if (chunk.isPresent()) {
                int csId = chunk.get().chunklets().get(1).csId();
                for (int i = 0; i < cluster.servers.size(); i++) {
                    if (cluster.servers.get(i).csId == csId && cluster.servers.get(i).alive()) {
                        return i;
                    }
                }
                throw new AssertionError("chunk 0 of " + volume + " is on chunk server " + csId
                        + ", which is not running: " + chunk.get());
            }
            Thread.sleep(100);
        }
        throw new AssertionError("no write reached " + volume + " within 60 s");
    }

    private static String awaitFio(Process fio, Path output) throws Exception {
        try {
            assertThat(fio.waitFor(240, TimeUnit.SECONDS)).as("fio finished").isTrue();
            String out = Files.readString(output);
            assertThat(fio.exitValue()).as(out).isZero();
            assertThat(out).as(out).contains("err= 0").doesNotContain("verify: bad");
            return out;
        } finally {
            fio.destroyForcibly();
        }
    }

    @Test
    @Order(1)
    void chunkServerStoppedFor20SecondsIsRiddenOut() throws Exception {
        cluster.createVolume("paused", "256M", "rep3", "32M");
        Path output = dir.resolve("fio-paused.out");
        Process fio = startFio("paused", "48m", output);
        int victim = serverHoldingChunkZero("paused");
        cluster.signalCs(victim, "STOP");
        try {
            Thread.sleep(20_000);
        } finally {
            cluster.signalCs(victim, "CONT");
        }
        awaitFio(fio, output);
    }

    @Test
    @Order(2)
    void chunkServerKilledDuringWritesLosesNothing() throws Exception {
        cluster.createVolume("killed", "256M", "rep3", "32M");
        Path output = dir.resolve("fio-killed.out");
        Process fio = startFio("killed", "64m", output);
        CsProcess victim = cluster.servers.get(serverHoldingChunkZero("killed"));
        Thread.sleep(1000);
        victim.kill9();
        awaitFio(fio, output);

        // The recoverer heals it by itself: the dead server's chunklets are OUTDATED at once (writes go
        // on without it), rebuilt elsewhere after the grace period, and basalt status says 0 degraded.
        List<Chunk> healed = cluster.awaitHealed("killed", victim.csId, Duration.ofSeconds(180));
        assertThat(healed).isNotEmpty().allSatisfy(chunk -> assertThat(chunk.chunklets()).hasSize(3));
        List<String> command = io.basalt.cli.meta.MetaCluster.javaCommand("io.basalt.cli.Main");
        command.addAll(List.of("status", "--json", "--meta", cluster.meta.peers()));
        Tools.Result status = Tools.runOk(Tools.COMMAND_TIMEOUT, java.util.Map.of(), command);
        long shown = -1;
        for (Object volumeJson : Json.array(Json.object(Json.parse(status.stdout())).get("volumes"))) {
            Map<String, Object> entry = Json.object(volumeJson);
            if ("killed".equals(entry.get("name"))) {
                shown = ((Number) entry.get("degradedChunks")).longValue();
            }
        }
        assertThat(shown).as(status.stdout()).isZero();
    }

    @Test
    @Order(3)
    void metaLeaderKilledDuringIoStallsBriefly() throws Exception {
        cluster.createVolume("leader", "256M", "rep3", "16M");
        Path output = dir.resolve("fio-leader.out");
        Process fio = startFio("leader", "64m", output);
        Thread.sleep(2000);
        int leader = cluster.meta.leaderIndex(cluster.client());
        cluster.meta.kill9(leader);
        try {
            awaitFio(fio, output);
        } finally {
            cluster.meta.restart(leader);
        }
        // Heartbeats follow the leader: every live chunk server is UP at the new one. (They used
        // to be served by whichever follower a chunk server's client still talked to.)
        cluster.awaitChunkServersUp(4);
    }

    @Test
    @Order(4)
    void wholeClusterRestartKeepsEveryAcknowledgedByte() throws Exception {
        Tools.require("nbdcopy", "libnbd-bin");
        cluster.createVolume("durable", "64M", "rep3", "16M");
        Path source = ItFiles.randomFile(dir.resolve("durable-in.bin"), 48 * MIB, 31);
        Tools.runOk(Duration.ofSeconds(120), java.util.Map.of(), List.of("nbdcopy", source.toString(),
                cluster.uri("durable")));

        // SIGTERM everything: gateway, chunk servers, meta members; then start them again.
        cluster.stopGateway();
        List<Integer> alive = new ArrayList<>();
        for (int i = 0; i < cluster.servers.size(); i++) {
            if (cluster.servers.get(i).alive()) {
                cluster.servers.get(i).close();
                alive.add(i);
            }
        }
        cluster.closeClient();
        for (int i = 0; i < 3; i++) {
            cluster.meta.stop(i);
        }
        for (int i = 0; i < 3; i++) {
            cluster.meta.restart(i);
        }
        for (int i : alive) {
            cluster.servers.set(i, CsProcess.start(cluster.dir.resolve("cs" + (i + 1)), cluster.meta.peers(),
                    "host" + (i + 1)));
        }
        cluster.startGateway();

        Path back = dir.resolve("durable-out.bin");
        Tools.runOk(Duration.ofSeconds(120), java.util.Map.of(), List.of("nbdcopy", cluster.uri("durable"),
                back.toString()));
        Tools.runOk("cmp", "-n", String.valueOf(48 * MIB), source.toString(), back.toString());
    }

    /**
     * Snapshot, clone and flatten with chunk servers killed (docs/snapshots.md, "Fencing"): a
     * snapshot created while a server of the volume is dead (its chunklets reported OUTDATED by the
     * writes that met it) returns at once and holds exactly what was written before it; a flatten
     * of its clone during which another server is killed finishes, and the clone then reads as
     * the snapshot with no parent; the snapshot can then go.
     */
    @Test
    @Order(5)
    void snapshotCloneAndFlattenWithChunkServersKilled() throws Exception {
        Tools.require("nbdcopy", "libnbd-bin");
        for (int i = 0; i < cluster.servers.size(); i++) {
            if (!cluster.servers.get(i).alive()) {
                cluster.restartServer(i); // the earlier tests' victims: five servers again
            }
        }
        cluster.awaitChunkServersUp(cluster.servers.size());
        cluster.createVolume("snapkill", "64M", "rep3", "16M");
        Path expected = ItFiles.randomFile(dir.resolve("snapkill-expected.bin"), 32 * MIB, 51);
        Tools.runOk(Duration.ofSeconds(120), java.util.Map.of(), List.of("nbdcopy", expected.toString(),
                cluster.uri("snapkill")));
        CsProcess first = cluster.servers.get(serverHoldingChunkZero("snapkill"));
        first.kill9();
        // Writes that meet the dead server report it: its chunklets of the volume's two chunks
        // become OUTDATED. (One it holds and no write met would be waited for until the recoverer
        // declares it down: the fence re-reads the chunk maps each round.)
        expected = ItFiles.randomFile(dir.resolve("snapkill-expected-2.bin"), 32 * MIB, 52);
        Tools.runOk(Duration.ofSeconds(120), java.util.Map.of(), List.of("nbdcopy", expected.toString(),
                cluster.uri("snapkill")));

        long started = System.nanoTime();
        Tools.Result created = cluster.cli("volume", "snapshot", "create", "snapkill@s1");
        long tookMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - started);
        assertThat(created.exitCode()).as(created.describe()).isZero();
        assertThat(tookMillis).as("no wait for the dead server's fence (timeout 30 s)").isLessThan(20_000);
        // After the snapshot: new data in the volume, none of it in the snapshot.
        Path after = ItFiles.randomFile(dir.resolve("snapkill-after.bin"), 8 * MIB, 53);
        Tools.runOk(Duration.ofSeconds(120), java.util.Map.of(), List.of("nbdcopy", after.toString(),
                cluster.uri("snapkill")));
        Path snapshot = dir.resolve("snapkill-s1.raw");
        Tools.runOk(Duration.ofSeconds(120), java.util.Map.of(), List.of("nbdcopy", cluster.uri("snapkill@s1"),
                snapshot.toString()));
        Tools.runOk("cmp", "-n", String.valueOf(32 * MIB), expected.toString(), snapshot.toString());

        // Clone it and flatten the clone here (no gateway has it open), killing another server
        // of the volume's chunk 0 while the flatten copies.
        Tools.Result cloned = cluster.cli("volume", "clone", "snapkill@s1", "snapkill-c");
        assertThat(cloned.exitCode()).as(cloned.describe()).isZero();
        java.util.concurrent.CompletableFuture<Tools.Result> flatten = java.util.concurrent.CompletableFuture
                .supplyAsync(() -> cluster.cli("volume", "flatten", "snapkill-c"));
        MetaClient meta = cluster.client();
        long cloneId = meta.getVolume("snapkill-c").id();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        java.util.Optional<Chunk> copied = java.util.Optional.empty();
        while (copied.isEmpty() && System.nanoTime() < deadline && !flatten.isDone()) {
            copied = meta.getChunk(cloneId, 0, false);
            Thread.sleep(50);
        }
        assertThat(copied).as("the flatten allocated the clone's chunk 0 (flatten: %s)",
                flatten.isDone() ? flatten.join().describe() : "still running").isPresent();
        java.util.Set<Integer> holders = new java.util.HashSet<>();
        copied.get().chunklets().forEach(c -> holders.add(c.csId()));
        CsProcess second = cluster.servers.stream().filter(s -> s.alive() && holders.contains(s.csId)).findFirst()
                .orElseThrow();
        // The kill must land while the flatten copies (32 MiB over four chunks, seconds on this
        // machine), or this would only test a flatten that had finished.
        assertThat(flatten.isDone()).as("the flatten was still copying when the server was killed").isFalse();
        second.kill9();
        Tools.Result flat = flatten.get(180, TimeUnit.SECONDS);
        assertThat(flat.exitCode()).as(flat.describe()).isZero();
        assertThat(meta.getVolume("snapkill-c").parentId()).as("detached from the snapshot").isZero();
        Path clone = dir.resolve("snapkill-c.raw");
        Tools.runOk(Duration.ofSeconds(120), java.util.Map.of(), List.of("nbdcopy", cluster.uri("snapkill-c"),
                clone.toString()));
        assertThat(Files.mismatch(snapshot, clone)).as("the flattened clone reads as the snapshot").isEqualTo(-1L);
        meta.deleteSnapshot("snapkill", "s1");
        for (int i = 0; i < cluster.servers.size(); i++) {
            if (!cluster.servers.get(i).alive()) {
                cluster.restartServer(i);
            }
        }
    }
}
