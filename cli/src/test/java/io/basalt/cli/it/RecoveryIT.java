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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Self-healing with real processes and real clients: a chunk server stopped (SIGSTOP) while a volume is
 * rewritten is left out of the writes, and when it returns it catches up by copying only what it
 * missed; the data it then serves alone is byte for byte what was written. One cluster (1 meta member
 * with a short UNHEALTHY threshold and a long grace, so a 20 s stop is caught up rather than rebuilt;
 * 5 chunk servers on 5 hosts; the gateway).
 */
class RecoveryIT {
    @RegisterExtension
    static final ItResources resources = new ItResources();

    private static final long MIB = 1L << 20;
    private static VolumeCluster cluster;
    private static Path dir;

    @BeforeAll
    static void startCluster() throws Exception {
        dir = resources.tempDir();
        cluster = resources.register(VolumeCluster.start(dir.resolve("cluster"), 1, 5,
                "--cs-unhealthy-after-ms", "1500", "--recovery-grace-ms", "90000"));
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

    @Test
    void aStoppedChunkServerCatchesUpOnlyWhatItMissedAndThenServesItAlone() throws Exception {
        Tools.require("nbdcopy", "libnbd-bin");
        cluster.createVolume("paused", "256M", "rep3", "256M");
        Path first = ItFiles.randomFile(dir.resolve("first.bin"), 64 * MIB, 41);
        Tools.runOk(Duration.ofSeconds(120), Map.of(), List.of("nbdcopy", first.toString(), cluster.uri("paused")));
        Chunk before = chunkZero("paused");
        // Not the primary (a stopped primary stalls the client's own requests until its timeout).
        int victimCs = before.chunklets().get(2).csId();
        int victim = indexOf(victimCs);

        cluster.signalCs(victim, "STOP");
        Path second = ItFiles.randomFile(dir.resolve("second.bin"), 4 * MIB, 42);
        try {
            // Meta sees it silent, marks its chunklet OUTDATED, and the writes go on without it.
            awaitState("paused", victimCs, ChunkletState.OUTDATED);
            Thread.sleep(3000); // the primary learns the new version (its next pull, about 1 s)
            Tools.runOk(Duration.ofSeconds(120), Map.of(), List.of("nbdcopy", second.toString(),
                    cluster.uri("paused")));
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
            if (view.recovery().catchUpBytesTotal() > 0) {
                break;
            }
            Thread.sleep(200);
        }
        long caughtUp = view.recovery().catchUpBytesTotal();
        String log = cluster.servers.get(victim).output.toString();
        assertThat(caughtUp).as("catch-up bytes of cs " + victimCs + "; its log:\n"
                        + log.substring(Math.max(0, log.length() - 6000))).isPositive()
                .isLessThanOrEqualTo(8 * MIB).isLessThan(64 * MIB);
        assertThat(view.recovery().rebuiltBytesTotal()).isZero();

        // The two other replicas die: the caught-up one alone serves every byte.
        for (Chunklet chunklet : before.chunklets()) {
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
        for (CsProcess server : cluster.servers) {
            assertThat(server.csId).isPositive();
        }
    }
}
