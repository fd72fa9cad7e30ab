package io.basalt.cli.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.parallel.Isolated;

/**
 * Chunk servers killed (-9) and paused (SIGSTOP) at random while fio writes and verifies a rep3
 * and an ec4+2 volume through the gateway ({@link Thrasher}): every fio run verifies, the cluster
 * heals every chunk by itself, the ec volume's parity checks out and both volumes read back the
 * same twice. With {@code -Dbasalt.thrash.snapshotSeconds=N} (bench/thrash.sh: 20 by default; the suite:
 * 0, see docs/snapshots.md "Session 23": two of the last three seeds of bench/thrash.sh failed on the
 * ec4+2 volume, a transient wrong read and an EIO, not diagnosed) the next volume gets a snapshot
 * every N s, read whole and read again later (it must never change), so fio's verify reads through
 * layers ({@link ThrashSnapshots}). One meta member with short thresholds (UNHEALTHY after 1.5 s of silence, rebuilt
 * elsewhere after 12 s of silence, DOWN after 30 s), so that pauses of 1-20 s and kills of 1-25 s
 * (plus the restart) give both catch-ups in place and rebuilds; 8 chunk servers on 8 hosts, so a
 * rebuild always finds a free host even with two servers away.
 *
 * <p>The suite runs a short thrash (75 s, one server disturbed at a time, 128 MiB volumes); {@code bench/thrash.sh
 * SECONDS [SEED]} runs this class for longer with two at a time:
 * {@code -Dbasalt.thrash.seconds}, {@code -Dbasalt.thrash.seed}, {@code -Dbasalt.thrash.maxDisturbed},
 * {@code -Dbasalt.thrash.hotTier} (the ec4+2 volume's hot tier; default true),
 * {@code -Dbasalt.thrash.snapshotSeconds} (default 0: no snapshots),
 * {@code -Dbasalt.thrash.logDir} (default {@code cli/target/thrash-SEED}: the action log and every
 * daemon's output).
 *
 * <p>Runs alone (@Isolated): its pauses and kills are timed against heartbeat and grace
 * thresholds, which another class's load would stretch.
 */
@Isolated
class ThrashIT {
    @RegisterExtension
    static final ItResources resources = new ItResources();

    private static final long MIB = 1L << 20;
    private static final long VOLUME_BYTES = 128 * MIB;

    @Test
    void chunkServersKilledAndPausedAtRandomLoseNothingAndHeal() throws Exception {
        Tools.require("fio", "fio");
        Tools.require("nbdcopy", "libnbd-bin");
        Thrasher.Config config = Thrasher.Config.fromSystemProperties(75, 1, 0);
        Path dir = resources.tempDir();
        VolumeCluster cluster = resources.register(VolumeCluster.start(dir.resolve("cluster"), 1, 8,
                "--cs-unhealthy-after-ms", "1500", "--recovery-grace-ms", "12000", "--cs-down-after-ms", "30000"));
        Map<String, Long> volumes = new LinkedHashMap<>();
        volumes.put("thrash-rep3", VOLUME_BYTES);
        volumes.put("thrash-ec", VOLUME_BYTES);
        cluster.createVolume("thrash-rep3", "128M", "rep3", "16M");
        // Its small writes go to the hot tier and are frozen into stripes while thrashed, unless
        // -Dbasalt.thrash.hotTier=false (bench/thrash.sh HOT_TIER=0): then all go to the stripes.
        boolean hotTier = Boolean.parseBoolean(System.getProperty("basalt.thrash.hotTier", "true"));
        cluster.client().createVolume("thrash-ec", VOLUME_BYTES, "ec4+2", 16 * MIB, io.basalt.meta.model.VolumeQos.NONE,
                hotTier ? io.basalt.meta.model.Volume.FEATURE_HOT_TIER : 0);

        // Fills both volumes, thrashes, lets the cluster heal and checks; never throws.
        Thrasher.Summary summary = new Thrasher(cluster, config, dir, volumes).run();

        assertThat(summary.failures()).as(summary.describe()).isEmpty();
        assertThat(summary.kills() + summary.pauses()).as(summary.describe()).isPositive();
        assertThat(summary.fioRuns().values()).as(summary.describe()).allSatisfy(runs -> assertThat(runs).isPositive());
    }
}
