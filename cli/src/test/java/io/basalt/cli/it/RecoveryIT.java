package io.basalt.cli.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.cli.cs.CsProcess;
import io.basalt.meta.api.CsView;
import io.basalt.meta.api.MetaClient;
import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.ChunkletState;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
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
 * Self-healing with real processes and real clients, on one cluster (1 meta member: UNHEALTHY after
 * 1.5 s of silence, rebuilt elsewhere after 25 s; 8 chunk servers on 8 hosts, each scrubbing every 5 s;
 * the gateway). In order, because each test leaves the cluster changed:
 * <ol>
 *   <li>bytes flipped in chunklet files behind the servers' backs, of a rep3 and an ec4+2 volume, are
 *       found by the scrubber and repaired from redundancy, with no client reading them;</li>
 *   <li>chunk servers killed one after another (-9), each time waiting until the cluster healed by
 *       itself, until fewer hosts remain than ec4+2 needs: every byte of both volumes reads back at
 *       every step;</li>
 *   <li>a chunk server stopped (SIGSTOP) for 20 s while a volume is rewritten is left out of the writes,
 *       catches up copying only what it missed, and then serves every byte alone.</li>
 * </ol>
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class RecoveryIT {
    @RegisterExtension
    static final ItResources resources = new ItResources();

    private static final long MIB = 1L << 20;
    private static VolumeCluster cluster;
    private static Path dir;

    @BeforeAll
    static void startCluster() throws Exception {
        dir = resources.tempDir();
        cluster = resources.register(VolumeCluster.start(dir.resolve("cluster"), 1, 8,
                List.of("--scrub-interval-ms", "5000", "--scrub-rate", "64M"),
                "--cs-unhealthy-after-ms", "1500", "--cs-down-after-ms", "25000", "--recovery-grace-ms", "25000"));
    }

    private static Chunklet chunkletOn(Chunk chunk, int csId) {
        return chunk.chunklets().stream().filter(c -> c.csId() == csId).findFirst().orElseThrow();
    }

    private static int indexOf(int csId) {
        for (int i = 0; i < cluster.servers.size(); i++) {
            if (cluster.servers.get(i).csId == csId) {
                return i;
            }
        }
        throw new AssertionError("no chunk server " + csId);
    }

    private static Chunk chunkZero(String volume) {
        MetaClient meta = cluster.client();
        return meta.getChunk(meta.getVolume(volume).id(), 0, false).orElseThrow();
    }

    private static void awaitState(String volume, int csId, ChunkletState state) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (chunkletOn(chunkZero(volume), csId).state() != state) {
            assertThat(System.nanoTime() - deadline).as("chunklet on cs " + csId + " never " + state + ": "
                    + chunkZero(volume)).isNegative();
            Thread.sleep(200);
        }
    }

    /** Copies {@code file} into {@code volume} and reads it back, comparing. */
    private static void writeAndCheck(Path file, String volume) throws Exception {
        Tools.runOk(Duration.ofSeconds(120), Map.of(), List.of("nbdcopy", file.toString(), cluster.uri(volume)));
        check(file, volume);
    }

    private static void check(Path file, String volume) throws Exception {
        Path back = dir.resolve(volume + "-back.bin");
        Tools.runOk(Duration.ofSeconds(180), Map.of(), List.of("nbdcopy", cluster.uri(volume), back.toString()));
        Tools.runOk("cmp", "-n", String.valueOf(Files.size(file)), file.toString(), back.toString());
        Files.delete(back);
    }

    /** Flips one byte of {@code volume}'s chunk 0 chunklet on chunk server {@code csId}, behind its back. */
    private static void flip(String volume, int csId, long offset) throws Exception {
        Path file = dir.resolve("cluster").resolve("cs" + (indexOf(csId) + 1)).resolve("chunklets")
                .resolve(String.format("%016x.data", chunkZero(volume).uid()));
        try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(file,
                java.nio.file.StandardOpenOption.READ, java.nio.file.StandardOpenOption.WRITE)) {
            java.nio.ByteBuffer one = java.nio.ByteBuffer.allocate(1);
            channel.read(one, offset);
            one.put(0, (byte) (one.get(0) ^ 0x10)).rewind();
            channel.write(one, offset);
        }
    }

    private static long repairsLogged(int csId) {
        return cluster.servers.get(indexOf(csId)).output.toString().lines()
                .filter(line -> line.contains("repaired from redundancy")).count();
    }

    @Test
    @Order(1)
    void theScrubberFindsAndRepairsFlippedBytesThatNoClientReads() throws Exception {
        Tools.require("nbdcopy", "libnbd-bin");
        cluster.createVolume("scrub-r", "32M", "rep3", "32M");
        cluster.createVolume("scrub-e", "32M", "ec4+2", "32M");
        Path data = ItFiles.randomFile(dir.resolve("scrub.bin"), 16 * MIB, 51);
        writeAndCheck(data, "scrub-r");
        writeAndCheck(data, "scrub-e");
        // The replicated primary (where every read goes) and an EC data column.
        int primary = chunkZero("scrub-r").chunklets().get(0).csId();
        int column = chunkZero("scrub-e").chunklets().get(1).csId();
        flip("scrub-r", primary, 3 * 4096 + 5);
        flip("scrub-r", primary, 1300 * 4096 + 77); // (every fourth MiB of the data is zeroes: a hole)
        flip("scrub-e", column, 10 * 4096 + 1);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(90);
        while (repairsLogged(primary) < 2 || repairsLogged(column) < 1) {
            String log = cluster.servers.get(indexOf(primary)).output.toString();
            String other = cluster.servers.get(indexOf(column)).output.toString();
            assertThat(System.nanoTime() - deadline).as("scrub repairs logged by cs " + primary + " and cs "
                    + column + "; cs " + primary + " said:\n" + log.substring(Math.max(0, log.length() - 3000))
                    + "\ncs " + column + " said:\n" + other.substring(Math.max(0, other.length() - 3000)))
                    .isNegative();
            Thread.sleep(500);
        }
        // Repaired before any read met them: nothing was reported, every chunklet is still UPTODATE.
        check(data, "scrub-r");
        check(data, "scrub-e");
        assertThat(chunkZero("scrub-r").chunklets()).allMatch(c -> c.state() == ChunkletState.UPTODATE);
        assertThat(chunkZero("scrub-e").chunklets()).allMatch(c -> c.state() == ChunkletState.UPTODATE);
        List<String> command = new java.util.ArrayList<>(io.basalt.cli.meta.MetaCluster.javaCommand(
                "io.basalt.cli.Main"));
        command.addAll(List.of("volume", "verify", "scrub-e", "--meta", cluster.meta.peers(),
                "--tls-dir", io.basalt.cli.cs.ItTls.dir(io.basalt.common.tls.Role.ADMIN).toString()));
        Tools.Result verified = Tools.run(Duration.ofSeconds(120), null, Map.of(), command);
        assertThat(verified.stdout()).as(verified.describe()).contains(" 0 mismatched");

        // Deleting a volume leaves a tombstone in the version index of each of its servers; once
        // they have pulled it (and deleted their chunklets) the leader collects it.
        cluster.client().deleteVolume("scrub-r", true);
        long collectBy = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
        String metrics = cluster.meta.metrics(0);
        while (!metrics.matches("(?s).*\nbasalt_meta_version_tombstones_collected_total [1-9].*")
                && System.nanoTime() < collectBy) {
            Thread.sleep(200);
            metrics = cluster.meta.metrics(0);
        }
        assertThat(metrics).containsPattern("(?m)^basalt_meta_version_tombstones_collected_total [1-9]");
    }

    @Test
    @Order(2)
    void successiveFailuresHealUntilTooFewHostsRemainAndNoByteIsLost() throws Exception {
        Tools.require("nbdcopy", "libnbd-bin");
        cluster.createVolume("succ-r", "64M", "rep3", "16M");
        cluster.createVolume("succ-e", "64M", "ec4+2", "16M");
        Path data = ItFiles.randomFile(dir.resolve("succ.bin"), 48 * MIB, 61);
        writeAndCheck(data, "succ-r");
        writeAndCheck(data, "succ-e");
        for (int round = 1; round <= 3; round++) {
            // A server holding data of both volumes (chunk 0 of the EC volume has 6 of the 8).
            Chunk replicated = chunkZero("succ-r");
            int victimCs = chunkZero("succ-e").chunklets().stream().map(Chunklet::csId)
                    .filter(cs -> replicated.chunklets().stream().anyMatch(c -> c.csId() == cs))
                    .findFirst().orElse(replicated.chunklets().get(1).csId());
            cluster.servers.get(indexOf(victimCs)).kill9();
            long alive = cluster.servers.stream().filter(CsProcess::alive).count();
            cluster.awaitHealed("succ-r", victimCs, Duration.ofSeconds(150));
            if (alive >= 6) {
                cluster.awaitHealed("succ-e", victimCs, Duration.ofSeconds(150));
            } else {
                // ec4+2 needs 6 hosts: it stays degraded (and says why), and still reads back.
                Thread.sleep(2000);
                assertThat(cluster.client().recoveryStatus().stuck()).as("why the EC chunks stay degraded")
                        .isNotEmpty();
                // The leader (the only member) counts them, and the rebuilds it started and saw end.
                String metrics = cluster.meta.metrics(0);
                assertThat(metrics).containsPattern("(?m)^basalt_meta_recovery_stuck_chunks [1-9]")
                        .containsPattern("(?m)^basalt_meta_recovery_items_total\\{mode=\"rebuild\",outcome=\"changed\"\\} [1-9]")
                        .containsPattern("(?m)^basalt_meta_applied_ops_total\\{op=\"recovery_done\",result=\"ok\"\\} [1-9]");
                // Writes to a chunk never written before still work: it starts degraded, its
                // sixth column OUTDATED on a server that is away, as old chunks are.
                String uri = cluster.uri("succ-e");
                Tools.runOk(Duration.ofSeconds(60), Map.of(), List.of("qemu-io", "-f", "raw",
                        "-c", "write -P 0x5c 56M 1M", "-c", "read -P 0x5c 56M 1M", uri));
                MetaClient meta = cluster.client();
                Chunk fresh = meta.getChunk(meta.getVolume("succ-e").id(), 3, false).orElseThrow();
                assertThat(fresh.chunklets()).filteredOn(c -> c.state() == ChunkletState.UPTODATE)
                        .hasSize(5);
            }
            check(data, "succ-r");
            check(data, "succ-e");
        }
    }

    @Test
    @Order(3)
    void aStoppedChunkServerCatchesUpOnlyWhatItMissedAndThenServesItAlone() throws Exception {
        Tools.require("nbdcopy", "libnbd-bin");
        cluster.createVolume("paused", "256M", "rep3", "256M");
        Path first = ItFiles.randomFile(dir.resolve("first.bin"), 64 * MIB, 41);
        Tools.runOk(Duration.ofSeconds(120), Map.of(), List.of("nbdcopy", first.toString(), cluster.uri("paused")));
        Chunk before = chunkZero("paused");
        // Not the primary (a stopped primary stalls the client's own requests until its timeout).
        int victimCs = before.chunklets().get(2).csId();
        int victim = indexOf(victimCs);

        // What it copied before (it may have rebuilt chunklets in the tests before this one).
        CsView start = cluster.client().listCs().stream().filter(v -> v.server().id() == victimCs).findFirst()
                .orElseThrow();
        cluster.signalCs(victim, "STOP");
        long stopped = System.nanoTime();
        Path second = ItFiles.randomFile(dir.resolve("second.bin"), 4 * MIB, 42);
        try {
            // Meta sees it silent, marks its chunklet OUTDATED, and the writes go on without it.
            awaitState("paused", victimCs, ChunkletState.OUTDATED);
            Thread.sleep(3000); // the primary learns the new version (its next pull, about 1 s)
            Tools.runOk(Duration.ofSeconds(120), Map.of(), List.of("nbdcopy", second.toString(),
                    cluster.uri("paused")));
            long left = TimeUnit.SECONDS.toNanos(20) - (System.nanoTime() - stopped);
            if (left > 0) {
                Thread.sleep(left / 1_000_000);
            }
        } finally {
            cluster.signalCs(victim, "CONT");
        }
        // Back UP: it catches up in place and is UPTODATE again.
        cluster.awaitHealed("paused", -1, Duration.ofSeconds(120));
        assertThat(chunkZero("paused").chunklets()).extracting(Chunklet::csId)
                .containsExactlyElementsOf(before.chunklets().stream().map(Chunklet::csId).toList());
        // Its heartbeats report what it copied (the next one after the catch-up ended).
        CsView view = null;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (System.nanoTime() < deadline) {
            view = cluster.client().listCs().stream().filter(v -> v.server().id() == victimCs).findFirst()
                    .orElseThrow();
            if (view.recovery().catchUpBytesTotal() > start.recovery().catchUpBytesTotal()) {
                break;
            }
            Thread.sleep(200);
        }
        long caughtUp = view.recovery().catchUpBytesTotal() - start.recovery().catchUpBytesTotal();
        String log = cluster.servers.get(victim).output.toString();
        assertThat(caughtUp).as("catch-up bytes of cs " + victimCs + "; its log:\n"
                        + log.substring(Math.max(0, log.length() - 6000))).isPositive()
                .isLessThanOrEqualTo(8 * MIB).isLessThan(64 * MIB);
        assertThat(view.recovery().rebuiltBytesTotal()).isEqualTo(start.recovery().rebuiltBytesTotal());

        // The two other replicas die: the caught-up one alone serves every byte.
        for (Chunklet chunklet : before.chunklets()) {
            if (!cluster.servers.get(indexOf(chunklet.csId())).alive()) {
                continue;
            }
            if (chunklet.csId() != victimCs) {
                cluster.servers.get(indexOf(chunklet.csId())).kill9();
            }
        }
        Path expected = dir.resolve("expected.bin");
        byte[] bytes = Files.readAllBytes(first);
        byte[] rewritten = Files.readAllBytes(second);
        System.arraycopy(rewritten, 0, bytes, 0, rewritten.length);
        Files.write(expected, bytes);
        Path back = dir.resolve("back.bin");
        Tools.runOk(Duration.ofSeconds(180), Map.of(), List.of("nbdcopy", cluster.uri("paused"), back.toString()));
        Tools.runOk("cmp", "-n", String.valueOf(64 * MIB), expected.toString(), back.toString());
    }
}
