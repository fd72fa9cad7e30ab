package io.basalt.cli.it;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.cli.meta.MetaCluster;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.parallel.Isolated;

/**
 * Per-volume QoS and live resize through the NBD gateway (docs/client.md, "QoS" and "Live
 * changes"), with fio and nbdinfo: one cluster (1 meta, 3 chunk servers, the gateway).
 *
 * <p>The limits are small (100 IOPS) so a loaded 2-core CI machine exceeds them easily: these are
 * functional checks of the limiter (does a volume get its limit, and no more), not speed
 * assertions; the neighbour only has to be clearly faster than the limit.
 *
 * <p>Runs alone (@Isolated): beside another class's cluster on the same two cores, a QD1 reader
 * reached 45 of its 100 IOPS (requests over 20 ms), which says nothing about the limiter.
 */
@Isolated
class QosResizeIT {
    @RegisterExtension
    static final ItResources resources = new ItResources();

    /**
     * 100: at QD1 a request may take up to 10 ms on average, which a CI machine at load average
     * 100 still manages (200 failed there at QD1: 152 IOPS, the round trip itself was too slow).
     */
    private static final int LIMIT_IOPS = 100;
    /** fio's measured window: after a ramp that spends the burst bank (and fills the queue). */
    private static final int RAMP_SECONDS = 2;
    private static final int RUN_SECONDS = 8;
    private static VolumeCluster cluster;
    private static Path dir;

    @BeforeAll
    static void startCluster() throws Exception {
        Tools.require("fio", "fio");
        Tools.require("nbdinfo", "libnbd-bin");
        dir = resources.tempDir();
        cluster = resources.register(VolumeCluster.start(dir.resolve("cluster"), 1, 3));
    }

    /** Runs {@code basalt ARGS --meta PEERS}; returns what it printed (stdout and stderr). */
    private static Tools.Result basalt(String... args) {
        List<String> command = MetaCluster.javaCommand("io.basalt.cli.Main");
        command.addAll(List.of(args));
        command.addAll(List.of("--meta", cluster.meta.peers()));
        return Tools.run(Duration.ofSeconds(90), null, Map.of(), command);
    }

    private static List<String> fio(String name, String volume, String rw, int depth, String... extra) {
        List<String> command = new ArrayList<>(List.of("fio", "--name=" + name, "--ioengine=nbd",
                "--uri=" + cluster.uri(volume), "--rw=" + rw, "--bs=4k", "--iodepth=" + depth,
                "--size=16M", "--time_based", "--runtime=" + RUN_SECONDS, "--ramp_time=" + RAMP_SECONDS,
                "--output-format=json"));
        command.addAll(List.of(extra));
        return command;
    }

    /** The IOPS fio measured for {@code rw} ("read" or "write") in its JSON report. */
    private static double iops(String fioJson, String rw) {
        // fio may print a notice before the JSON document.
        Object report = Json.parse(fioJson.substring(fioJson.indexOf('{')));
        Map<String, Object> job = Json.object(Json.array(Json.object(report).get("jobs")).getFirst());
        return ((Number) Json.object(job.get(rw)).get("iops")).doubleValue();
    }

    /** Writes the first 16 MiB of {@code volume} (1 MiB requests), so reads reach chunk servers. */
    private static void prefill(String volume) {
        Tools.runOk(Duration.ofSeconds(120), Map.of(), List.of("fio", "--name=fill", "--ioengine=nbd",
                "--uri=" + cluster.uri(volume), "--rw=write", "--bs=1M", "--size=16M", "--iodepth=4"));
    }

    @Test
    void aLimitedVolumeGetsItsIopsAtQd1AndQd32AndAnUnlimitedNeighbourIsUnaffected() throws Exception {
        // A 500 ms bank: at QD1 a loaded machine stalls a request now and then, and the bank lets
        // the client catch up (without it a run measured 84 of 100: the stalls, not the limit).
        // It can add at most 0.5 s of the rate to the 8 s window, 6%, inside the 10% asked.
        Tools.Result created = basalt("volume", "create", "limited", "--size", "256M", "--chunk-size", "64M",
                "--iops", String.valueOf(LIMIT_IOPS), "--burst", "500ms");
        assertThat(created.ok()).as(created.describe()).isTrue();
        assertThat(created.stdout()).contains("QoS " + LIMIT_IOPS + " IOPS; burst 500ms");
        cluster.createVolume("neighbour", "256M", "rep3", "64M");
        prefill("limited");
        prefill("neighbour");

        // QD1 is bound by the round trip as much as by the limit: a run at load average 40 did 38
        // IOPS. So the unlimited neighbour's QD1 rate, measured just before, says what the machine
        // can do; the limited volume must reach the limit or that (within 10%), and never pass the
        // limit by more than 10%.
        double machineQd1 = iops(Tools.runOk(Duration.ofSeconds(120), Map.of(),
                fio("qd1-free", "neighbour", "randread", 1)).stdout(), "read");
        double qd1 = iops(Tools.runOk(Duration.ofSeconds(120), Map.of(), fio("qd1", "limited", "randread", 1))
                .stdout(), "read");
        assertThat(qd1).as("QD1 read IOPS of a volume limited to %d (unlimited: %.1f)", LIMIT_IOPS, machineQd1)
                .isBetween(Math.min(LIMIT_IOPS, machineQd1) * 0.9, LIMIT_IOPS * 1.1);

        // QD32 on both at once: the limited one gets its limit, the neighbour far more.
        Path neighbourOut = dir.resolve("neighbour.json");
        Process neighbour = new ProcessBuilder(fio("neighbour", "neighbour", "randread", 32))
                .redirectOutput(neighbourOut.toFile()).redirectErrorStream(false)
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        resources.register(() -> Tools.killTree(neighbour));
        // Reads: what the backend must do per request is then least, so on a loaded machine the
        // measured rate is the limiter's (a run with writes here measured 77 at load average 60:
        // rep3 writes with fsyncs beside the neighbour, not the limit).
        double qd32 = iops(Tools.runOk(Duration.ofSeconds(120), Map.of(), fio("qd32", "limited", "randread", 32))
                .stdout(), "read");
        assertThat(neighbour.waitFor(120, TimeUnit.SECONDS)).as("neighbour fio finished").isTrue();
        double neighbourIops = iops(Files.readString(neighbourOut), "read");
        assertThat(qd32).as("QD32 read IOPS of a volume limited to %d", LIMIT_IOPS)
                .isBetween(LIMIT_IOPS * 0.9, LIMIT_IOPS * 1.1);
        assertThat(neighbourIops).as("QD32 read IOPS of the unlimited neighbour, at the same time")
                .isGreaterThan(LIMIT_IOPS * 2.0);
    }

    @Test
    void aLiveQosChangeReachesAnOpenConnection() throws Exception {
        cluster.createVolume("live", "64M", "rep3", "64M");
        prefill("live");
        Tools.Result set = basalt("volume", "qos", "live", "--read-iops", "100", "--burst", "0");
        assertThat(set.ok()).as(set.describe()).isTrue();
        // One fio connection throughout, logging IOPS every second; the limit is raised mid-run
        // (through the meta client: a CLI's JVM start on a loaded machine would blur the timing).
        Path work = Files.createDirectories(dir.resolve("live-fio"));
        List<String> command = new ArrayList<>(List.of("fio", "--name=live", "--ioengine=nbd",
                "--uri=" + cluster.uri("live"), "--rw=randread", "--bs=4k", "--iodepth=16", "--size=16M",
                "--time_based", "--runtime=20", "--write_iops_log=live", "--log_avg_msec=1000"));
        long startNanos = System.nanoTime();
        Process fio = new ProcessBuilder(command).directory(work.toFile())
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).redirectErrorStream(true).start();
        resources.register(() -> Tools.killTree(fio));
        Thread.sleep(7_000);
        io.basalt.meta.model.Volume raised = cluster.client().setVolumeQos("live",
                new io.basalt.meta.model.VolumeQos(300, 0, -1, -1, -1, -1, -1));
        long changedMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos);
        assertThat(raised.qos().iops()).isEqualTo(300);
        assertThat(raised.qos().readIops()).isZero();
        assertThat(fio.waitFor(120, TimeUnit.SECONDS)).as("fio finished").isTrue();
        // fio's log: "msec since start, IOPS over the last second, direction, block size, offset".
        List<long[]> samples = Files.readAllLines(work.resolve("live_iops.1.log")).stream()
                .map(line -> line.split(","))
                .map(f -> new long[] {Long.parseLong(f[0].trim()), Long.parseLong(f[1].trim())}).toList();
        String seen = samples.stream().map(sample -> sample[0] + "ms:" + sample[1]).toList().toString();
        // Before the change (after the first second, which spends the bank): the old limit. From
        // 3 s after it (the 2 s refresh interval, plus a second of averaging) to fio's end: the new.
        List<Long> before = samples.stream().filter(x -> x[0] >= 2_000 && x[0] <= changedMillis - 1_000)
                .map(x -> x[1]).toList();
        List<Long> after = samples.stream().filter(x -> x[0] >= changedMillis + 3_500 && x[0] <= 19_500).map(x -> x[1]).toList();
        assertThat(before).as("per-second IOPS before the change at %d ms: %s", changedMillis, seen)
                .hasSizeGreaterThanOrEqualTo(3).allSatisfy(iops -> assertThat(iops).isBetween(85L, 115L));
        assertThat(after).as("per-second IOPS after the change at %d ms: %s", changedMillis, seen)
                .hasSizeGreaterThanOrEqualTo(3).allSatisfy(iops -> assertThat(iops).isBetween(255L, 345L));
    }

    @Test
    void growingAnOpenVolumeShowsOnNewConnectionsWithoutRestartingTheGateway() throws Exception {
        cluster.createVolume("grow", "64M", "rep3", "16M");
        // Hold the volume open on the gateway with a connection that stays for the whole test.
        Path work = Files.createDirectories(dir.resolve("grow-fio"));
        Process holder = new ProcessBuilder("fio", "--name=hold", "--ioengine=nbd", "--uri=" + cluster.uri("grow"),
                "--rw=randwrite", "--bs=4k", "--iodepth=1", "--size=16M", "--time_based", "--runtime=600",
                "--rate_iops=50").directory(work.toFile()).redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectErrorStream(true).start();
        resources.register(() -> Tools.killTree(holder));
        assertThat(nbdinfoSize("grow")).isEqualTo(64L << 20);

        Tools.Result grown = basalt("volume", "resize", "grow", "--size", "192M");
        assertThat(grown.ok()).as(grown.describe()).isTrue();
        // At once, not after a refresh interval: a new connection re-reads the record.
        assertThat(nbdinfoSize("grow")).isEqualTo(192L << 20);
        assertThat(holder.isAlive()).as("the first connection is still open").isTrue();

        // The new space is writable and reads back through a new connection.
        Tools.runOk("qemu-io", "-f", "raw", "-c", "write -P 0x5a " + (150L << 20) + " 1M",
                "-c", "read -P 0x5a " + (150L << 20) + " 1M", cluster.uri("grow"));

        // Shrinking stays guarded: refused without --shrink, one line, size unchanged.
        Tools.Result shrink = basalt("volume", "resize", "grow", "--size", "32M");
        assertThat(shrink.ok()).isFalse();
        assertThat(shrink.stderr().strip().lines().filter(line -> !line.startsWith("WARNING")))
                .as(shrink.describe()).hasSize(1).first().asString().contains("--shrink");
        assertThat(nbdinfoSize("grow")).isEqualTo(192L << 20);
        // Still writing through its connection of the old size (fio stops at its first error).
        assertThat(holder.isAlive()).as("the connection open across the resize is still writing").isTrue();
        Tools.killTree(holder);
    }

    @Test
    void badQosInputIsOneLineAndChangesNothing() {
        cluster.createVolume("bad", "64M", "rep3", "64M");
        assertThat(basalt("volume", "qos", "bad", "--iops", "500").ok()).isTrue();
        for (List<String> args : List.<List<String>>of(List.of("--iops", "0"), List.of("--iops", "-5"),
                List.of("--bw", "12Q"), List.of("--bw", "0"), List.of("--write-bw", "-1M"),
                List.of("--read-iops", "1.5"), List.of("--burst", "soon"), List.of("--iops", "1", "--clear"),
                List.of())) {
            List<String> command = new ArrayList<>(List.of("volume", "qos", "bad"));
            command.addAll(args);
            Tools.Result result = basalt(command.toArray(String[]::new));
            assertThat(result.ok()).as(result.describe()).isFalse();
            assertThat(result.stderr().strip().lines().filter(line -> !line.startsWith("WARNING"))).as(
                    result.describe()).hasSize(1);
        }
        Tools.Result zeroAtCreate = basalt("volume", "create", "bad2", "--size", "64M", "--iops", "0");
        assertThat(zeroAtCreate.ok()).isFalse();
        assertThat(basalt("volume", "info", "bad2").ok()).isFalse();
        assertThat(basalt("volume", "info", "bad").stdout()).containsPattern("qos\\s+500 IOPS; burst 1s");
    }

    private static long nbdinfoSize(String volume) {
        Map<String, Object> info = Json.object(Json.parse(Tools.runOk("nbdinfo", "--json", cluster.uri(volume))
                .stdout()));
        return ((Number) Json.object(Json.array(info.get("exports")).getFirst()).get("export-size")).longValue();
    }
}
