package io.basalt.cli.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Snapshots and clones (docs/snapshots.md) with real processes, on a healthy cluster: one meta
 * member, six chunk servers on six host labels (so that ec4+2 volumes place) and the NBD gateway.
 * A snapshot taken during writes (rep3 and ec4+2) holds exactly what was acknowledged before it;
 * clones of one image hold only what each wrote; deleting a snapshot frees what only it held; a
 * flatten runs in the background and resumes; kill -9 of the gateway during a snapshot or a flatten
 * loses no acknowledged write.
 *
 * <p>These ran first in EcVolumeIT, on its cluster, until that class became the suite's longest
 * (475 s); on a cluster of their own they run beside the erasure-coding fault tests.
 */
class SnapshotCloneIT {
    @RegisterExtension
    static final ItResources resources = new ItResources();

    private static VolumeCluster cluster;
    private static Path dir;

    @BeforeAll
    static void startCluster() throws Exception {
        dir = resources.tempDir();
        cluster = resources.register(VolumeCluster.start(dir.resolve("cluster"), 1, 6));
    }

    /** The end of the gateway's and chunk servers' logs, for failure messages. */
    private static String logs() {
        return cluster.logTails();
    }

    /** A client library instance with the admin certificate (closed by the caller). */
    private static io.basalt.client.ClusterClient adminClient() {
        return io.basalt.client.ClusterClient.connect(cluster.meta.peers(),
                io.basalt.client.ClientConfig.defaults().withTls(io.basalt.cli.cs.ItTls.adminTls()),
                new io.prometheus.metrics.model.registry.PrometheusRegistry());
    }

    private static Tools.Result basaltCli(String... args) {
        return cluster.cli(args);
    }

    /**
     * Snapshots (docs/snapshots.md) of a rep3 and an ec4+2 volume taken by the real CLI while a
     * client writes sequence-numbered blocks: the snapshot, read by nbdcopy through the gateway while
     * the writes go on, holds every write acknowledged before the create was invoked and no write
     * invoked after it returned; the volume, read after, holds every last write (blocks written after
     * the snapshot from the top layer, the others through it). {@code volume diff} from the snapshot
     * to the volume names exactly the blocks written since; a clone of the snapshot, flattened,
     * reads the same bytes without its parent; a rollback is refused while the writer holds the lease
     * and, after, makes the volume read as the snapshot.
     */
    @Test
    void aSnapshotDuringWritesHoldsExactlyTheWritesAcknowledgedBeforeIt() throws Exception {
        Tools.require("nbdcopy", "libnbd-bin");
        for (String policy : List.of("rep3", "ec4+2")) {
            String volume = policy.equals("rep3") ? "snaprep" : "snapec";
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (true) {
                try {
                    cluster.createVolume(volume, "16M", policy, "8M");
                    break;
                } catch (io.basalt.meta.api.MetaException e) {
                    if (e.error() != io.basalt.meta.api.MetaError.NO_PLACEMENT || System.nanoTime() > deadline) {
                        throw e;
                    }
                    Thread.sleep(500);
                }
            }
            snapshotDuringWrites(volume);
        }
    }

    /**
     * A write that reached one replica of a chunk and not the others (its primary died while
     * relaying it; here written to that replica alone) is settled at snapshot create
     * (docs/snapshots.md, "Fencing", step 6): the frozen chunk's replicas are compared by content
     * digest, the one that differs from the primary is reported, and the recoverer catches it up
     * from the primary. Every replica of the snapshot then reads what the primary read. Before, the
     * replica kept the write, and the snapshot read differently once that replica served it.
     */
    @Test
    void aWriteOnOneReplicaOnlyIsSettledByTheSnapshotCreate() throws Exception {
        cluster.createVolume("split", "16M", "rep3", "16M");
        byte[] image = new byte[16 << 10];
        new Random(71).nextBytes(image);
        Path imageFile = dir.resolve("split.img");
        Files.write(imageFile, image);
        Tools.runOk(Duration.ofSeconds(60), Map.of(), List.of("qemu-io", "-f", "raw", "-c",
                "write -s " + imageFile + " 0 16k", cluster.uri("split")));
        io.basalt.meta.model.Chunk chunk = cluster.client().getChunk(cluster.client().getVolume("split").id(), 0, false)
                .orElseThrow();
        List<io.basalt.meta.model.Chunklet> replicas = chunk.chunklets();
        io.basalt.cli.cs.CsProcess lone = csProcess(replicas.get(2).csId());
        byte[] stray = new byte[4096];
        new Random(72).nextBytes(stray);
        var group = new io.netty.channel.MultiThreadIoEventLoopGroup(1, io.netty.channel.nio.NioIoHandler.newFactory());
        try {
            try (io.basalt.protocol.data.DataClient data = connect(group, lone)) {
                io.basalt.protocol.data.DataClient.Reply wrote = data.request(io.basalt.protocol.data.DataFrame.TYPE_WRITE,
                        chunk.uid(), chunk.version(), 4096, 4096, io.basalt.protocol.data.DataClient.writePayload(
                                io.netty.buffer.UnpooledByteBufAllocator.DEFAULT, stray)).get(20, TimeUnit.SECONDS);
                assertThat(wrote.status()).as(wrote.message()).isEqualTo(io.basalt.protocol.data.CsStatus.OK);
                wrote.release();
            }
            Tools.Result created = basaltCli("volume", "snapshot", "create", "split@s1");
            assertThat(created.exitCode()).as(created.describe()).isZero();
            assertThat(created.stdout()).as(created.describe()).contains("1 replica(s) of 1 chunk(s) held a write");
            List<io.basalt.meta.model.Chunk> healed = cluster.awaitHealed("split@s1", -1, Duration.ofSeconds(60));
            io.basalt.meta.model.Chunk frozen = healed.getFirst();
            for (io.basalt.meta.model.Chunklet replica : frozen.chunklets()) {
                try (io.basalt.protocol.data.DataClient data = connect(group, csProcess(replica.csId()))) {
                    io.basalt.protocol.data.DataClient.Reply read = data.request(
                            io.basalt.protocol.data.DataFrame.TYPE_READ, frozen.uid(), frozen.version(), 0, 16 << 10,
                            null).get(20, TimeUnit.SECONDS);
                    assertThat(read.status()).as(read.message()).isEqualTo(io.basalt.protocol.data.CsStatus.OK);
                    byte[] held = io.netty.buffer.ByteBufUtil.getBytes(read.payload(), read.payload().readerIndex(),
                            16 << 10);
                    read.release();
                    assertThat(held).as("replica on cs %d of the snapshot's chunk %s", replica.csId(), frozen)
                            .isEqualTo(image);
                }
            }
        } finally {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).await();
        }
        Tools.Result deleted = basaltCli("volume", "snapshot", "delete", "split@s1");
        assertThat(deleted.exitCode()).as(deleted.describe()).isZero();
        cluster.deleteOnceClosed("split");
    }

    private static io.basalt.cli.cs.CsProcess csProcess(int csId) {
        return cluster.servers.stream().filter(cs -> cs.csId == csId).findFirst().orElseThrow();
    }

    private static io.basalt.protocol.data.DataClient connect(io.netty.channel.EventLoopGroup group,
            io.basalt.cli.cs.CsProcess cs) throws java.io.IOException {
        return io.basalt.protocol.data.DataClient.connect(group, io.netty.channel.socket.nio.NioSocketChannel.class,
                cs.address(), 20_000, 2 << 20, io.basalt.cli.cs.ItTls.adminTls());
    }

    /**
     * The hot tier over a snapshot (docs/snapshots.md, "Reads"): on an ec4+2 volume with the hot tier
     * on (the CLI's default), small writes after a snapshot live only in the hot stores until they are
     * frozen. They must read back at once, count in {@code volume diff}, and survive the flatten of a
     * clone that wrote them. Then, with both parity columns of the chunk killed (no stripe master),
     * the same reads and the diff go on from the data columns.
     */
    @Test
    void hotWritesOverASnapshotReadBackAtOnceAndWithEveryParityColumnDown() throws Exception {
        int blocks = 256; // 1 MiB: 64 stripes of ec4+2, in chunk 0
        Tools.Result created = basaltCli("volume", "create", "hotsnap", "--size", "16M", "--policy", "ec4+2",
                "--chunk-size", "16M");
        assertThat(created.ok()).as(created.describe()).isTrue();
        assertThat(cluster.client().getVolume("hotsnap").hotTier()).as("the CLI's default for ecK+M").isTrue();
        byte[] image = new byte[blocks * 4096];
        new Random(41).nextBytes(image);
        byte[] expected = image.clone();
        java.util.Set<Integer> rewritten = new java.util.TreeSet<>();
        try (io.basalt.client.ClusterClient client = adminClient()) {
            io.basalt.client.VolumeDevice device = client.open("hotsnap", "it-hotsnap").get(60, TimeUnit.SECONDS);
            try {
                device.write(0, io.netty.buffer.Unpooled.wrappedBuffer(image), false).get(60, TimeUnit.SECONDS);
            } finally {
                device.close();
            }
            io.basalt.client.Snapshots.create(client, "hotsnap", "s1", Duration.ofSeconds(30));
            client.meta().cloneVolume("hotsnap", "s1", "hotsnap-clone");
            // Single 4 KiB writes (less than a stripe: the hot tier) on the volume and on the clone.
            Random random = new Random(42);
            byte[] cloneExpected = image.clone();
            for (String name : List.of("hotsnap", "hotsnap-clone")) {
                byte[] want = name.equals("hotsnap") ? expected : cloneExpected;
                io.basalt.client.VolumeDevice writer = client.open(name, "it-hotsnap").get(60, TimeUnit.SECONDS);
                try {
                    // First a whole stripe (16 KiB: not hot), so that the new chunk's columns exist and its
                    // master answers with versions: where nothing cold was written, they say "absent".
                    byte[] stripe = new byte[4 * 4096];
                    random.nextBytes(stripe);
                    writer.write(0, io.netty.buffer.Unpooled.wrappedBuffer(stripe), false).get(60, TimeUnit.SECONDS);
                    System.arraycopy(stripe, 0, want, 0, stripe.length);
                    if (name.equals("hotsnap")) {
                        rewritten.addAll(List.of(0, 1, 2, 3));
                    }
                    for (int i = 0; i < 24; i++) {
                        int block = random.nextInt(blocks);
                        byte[] data = new byte[4096];
                        random.nextBytes(data);
                        writer.write((long) block * 4096, io.netty.buffer.Unpooled.wrappedBuffer(data), false)
                                .get(60, TimeUnit.SECONDS);
                        System.arraycopy(data, 0, want, block * 4096, 4096);
                        if (name.equals("hotsnap")) {
                            rewritten.add(block);
                        }
                    }
                    assertSameBlocks(name + " right after its hot writes", want, readAll(writer, blocks));
                } finally {
                    writer.close();
                }
            }
            assertThat(diffBlocks(client, "hotsnap@s1", "hotsnap")).as("diff of the hot writes").isEqualTo(rewritten);
            io.basalt.client.Flatten.Result flat = io.basalt.client.Flatten.run(client, "hotsnap-clone", "it-flatten",
                    done -> { });
            assertThat(flat.volume().parentId()).isZero();
            assertSameBlocks("the flat clone (its hot writes kept)", cloneExpected,
                    readAll(client, "hotsnap-clone", blocks));

            // Both parity columns of chunk 0 down: no stripe master to ask which blocks are held.
            io.basalt.meta.model.Chunk chunk = client.meta().getChunk(client.meta().getVolume("hotsnap").id(), 0, false)
                    .orElseThrow();
            List<Integer> parity = new ArrayList<>();
            for (io.basalt.meta.model.Chunklet column : chunk.chunklets()) {
                if (column.index() >= 4) {
                    for (int i = 0; i < cluster.servers.size(); i++) {
                        if (cluster.servers.get(i).csId == column.csId()) {
                            parity.add(i);
                        }
                    }
                }
            }
            assertThat(parity).hasSize(2);
            for (int server : parity) {
                cluster.servers.get(server).kill9();
            }
            try {
                assertSameBlocks("the volume, every parity column down", expected, readAll(client, "hotsnap", blocks));
                assertThat(diffBlocks(client, "hotsnap@s1", "hotsnap")).as("the diff, every parity column down")
                        .isEqualTo(rewritten);
            } finally {
                for (int server : parity) {
                    cluster.restartServer(server);
                }
                cluster.awaitChunkServersUp(6);
            }
        }
        cluster.awaitHealed("hotsnap", -1, Duration.ofSeconds(120));
        cluster.deleteOnceClosed("hotsnap-clone");
        cluster.client().deleteSnapshot("hotsnap", "s1");
        cluster.deleteOnceClosed("hotsnap");
    }

    /** {@code got} equals {@code want}; else a failure naming the first differing 4 KiB block. */
    private static void assertSameBlocks(String what, byte[] want, byte[] got) {
        long at = Arrays.mismatch(want, got);
        assertThat(at).as("%s: first differing byte (block %d; -1: none)%s", what, at / 4096,
                at < 0 ? "" : logs()).isEqualTo(-1L);
    }

    private static java.util.Set<Integer> diffBlocks(io.basalt.client.ClusterClient client, String from, String to) {
        java.util.Set<Integer> changed = new java.util.TreeSet<>();
        for (io.basalt.client.LayerDiff.Extent extent : io.basalt.client.LayerDiff.diff(client, from, to).extents()) {
            for (long at = extent.offsetBytes(); at < extent.offsetBytes() + extent.lengthBytes(); at += 4096) {
                changed.add((int) (at / 4096));
            }
        }
        return changed;
    }

    private static byte[] readAll(io.basalt.client.VolumeDevice device, int blocks) throws Exception {
        io.netty.buffer.ByteBuf read = io.netty.buffer.Unpooled.buffer(blocks * 4096);
        device.read(0, blocks * 4096, read).get(60, TimeUnit.SECONDS);
        return io.netty.buffer.ByteBufUtil.getBytes(read);
    }

    /**
     * The golden-image case (docs/snapshots.md, "Space"): 20 clones of one image hold, on the chunk
     * servers, only the blocks each one wrote; the image is stored once, in its snapshot. Space is
     * what every chunklet says it holds (INFO), not meta's whole-chunk count. Each clone reads the
     * image with its own blocks in place.
     */
    @Test
    void twentyClonesOfAnImageHoldOnlyTheBlocksEachWrote() throws Exception {
        int imageBlocks = 256; // 1 MiB
        int clones = 20;
        int replicas = 3;
        cluster.createVolume("gold", "4M", "rep3", "4M");
        byte[] image = new byte[imageBlocks * 4096];
        new Random(17).nextBytes(image);
        try (io.basalt.client.ClusterClient client = adminClient()) {
            io.basalt.client.VolumeDevice gold = client.open("gold", "it-gold").get(60, TimeUnit.SECONDS);
            try {
                gold.write(0, io.netty.buffer.Unpooled.wrappedBuffer(image), false).get(60, TimeUnit.SECONDS);
            } finally {
                gold.close();
            }
            io.basalt.meta.model.Volume snapshot = io.basalt.client.Snapshots.create(client, "gold", "img",
                    Duration.ofSeconds(30)).snapshot();
            // The 20 clones at once (as 20 VMs booting from one image), each on a virtual thread.
            List<java.util.concurrent.Future<?>> cloneRuns = new ArrayList<>();
            try (var threads = java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor()) {
                for (int c = 0; c < clones; c++) {
                    int cloneIndex = c;
                    cloneRuns.add(threads.submit(() -> {
                        cloneAndCheck(client, cloneIndex, image, imageBlocks);
                        return null;
                    }));
                }
                for (var run : cloneRuns) {
                    run.get(120, TimeUnit.SECONDS);
                }
            }
            io.basalt.client.LayerSpace.Space imageSpace = io.basalt.client.LayerSpace.of(client, snapshot);
            assertThat(imageSpace.unanswered()).isZero();
            assertThat(imageSpace.dataBytes()).as("the image, stored once").isEqualTo(image.length);
            assertThat(imageSpace.rawBytes()).isEqualTo((long) replicas * image.length);
            long clonesRaw = 0;
            for (int c = 0; c < clones; c++) {
                io.basalt.client.LayerSpace.Space space = io.basalt.client.LayerSpace.of(client,
                        client.meta().getVolume("gold-" + c));
                assertThat(space.dataBytes()).as("clone %d holds the two blocks it wrote", c).isEqualTo(2 * 4096);
                clonesRaw += space.rawBytes();
            }
            assertThat(clonesRaw).as("20 clones on disk, every replica").isEqualTo((long) clones * 2 * 4096 * replicas);
            assertThat(io.basalt.client.LayerSpace.of(client, client.meta().getVolume("gold")).rawBytes())
                    .as("the volume wrote nothing since the snapshot").isZero();
        }
        for (int c = 0; c < clones; c++) {
            cluster.client().deleteVolume("gold-" + c);
        }
        cluster.client().deleteSnapshot("gold", "img");
        cluster.client().deleteVolume("gold");
    }

    /**
     * Twenty clones of one image through the NBD gateway at once, as twenty VMs would use them:
     * one fio with a job per clone, each writing and verifying (crc32c) its own 2 MiB; then every
     * clone reads the image everywhere it did not write, and the image reads as it was.
     */
    @Test
    void twentyClonesWrittenAndVerifiedByFioThroughTheGateway() throws Exception {
        Tools.require("fio", "fio");
        Tools.require("nbdcopy", "libnbd-bin");
        int clones = 20;
        cluster.createVolume("golden", "16M", "rep3", "16M");
        Path image = ItFiles.randomFile(dir.resolve("golden.raw"), 16L << 20, 23);
        Tools.runOk(Duration.ofSeconds(120), Map.of(), List.of("nbdcopy", image.toString(), cluster.uri("golden")));
        Tools.Result snapshot = basaltCli("volume", "snapshot", "create", "golden@img");
        assertThat(snapshot.ok()).as(snapshot.describe()).isTrue();
        List<String> fio = new ArrayList<>(List.of("fio", "--ioengine=nbd", "--rw=randwrite", "--bsrange=4k-64k",
                "--iodepth=4", "--offset=4m", "--size=2m", "--verify=crc32c", "--verify_fatal=1", "--do_verify=1",
                "--verify_state_save=0", "--randrepeat=0", "--group_reporting=1"));
        for (int c = 0; c < clones; c++) {
            cluster.client().cloneVolume("golden", "img", "golden-" + c);
            fio.addAll(List.of("--name=clone" + c, "--uri=" + cluster.uri("golden-" + c)));
        }
        Tools.Result written = Tools.run(Duration.ofSeconds(240), resources.tempDir(), Map.of(), fio);
        assertThat(written.ok()).as(written.describe()).isTrue();
        assertThat(written.stdout()).as(written.describe()).contains("err= 0");
        byte[] expected = Files.readAllBytes(image);
        for (int c = 0; c < clones; c += 5) {
            Path back = dir.resolve("golden-" + c + ".raw");
            Tools.runOk(Duration.ofSeconds(120), Map.of(), List.of("nbdcopy", cluster.uri("golden-" + c),
                    back.toString()));
            byte[] read = Files.readAllBytes(back);
            assertThat(Arrays.copyOfRange(read, 0, 4 << 20)).as("clone %d before what it wrote", c)
                    .isEqualTo(Arrays.copyOfRange(expected, 0, 4 << 20));
            assertThat(Arrays.copyOfRange(read, 6 << 20, 16 << 20)).as("clone %d after what it wrote", c)
                    .isEqualTo(Arrays.copyOfRange(expected, 6 << 20, 16 << 20));
            Files.delete(back);
        }
        Path imageBack = dir.resolve("golden-img.raw");
        Tools.runOk(Duration.ofSeconds(120), Map.of(), List.of("nbdcopy", cluster.uri("golden@img"),
                imageBack.toString()));
        assertThat(Files.mismatch(image, imageBack)).as("the image").isEqualTo(-1L);
        Files.delete(imageBack);
        Files.delete(image);
        cluster.stopGateway(); // the gateway holds the clones' leases; a restarted one holds none
        cluster.startGateway();
        for (int c = 0; c < clones; c++) {
            cluster.client().deleteVolume("golden-" + c);
        }
        cluster.client().deleteSnapshot("golden", "img");
        cluster.client().deleteVolume("golden");
    }

    /**
     * Space per snapshot and freeing on delete (docs/snapshots.md, "Space"): a snapshot holds
     * exclusively the blocks every layer above it rewrote; deleting it frees them (the CLI's
     * {@code snapshot delete} trims them on every replica of the hidden layer), a second reclaim
     * finds nothing left, and the volume and the newer snapshot still read every byte.
     */
    @Test
    void deletingASnapshotFreesTheBlocksEveryLayerAboveRewrote() throws Exception {
        spaceAndFreeing("space", "rep3", 3, 0);
    }

    /**
     * The same on an erasure-coded volume: the hidden layer's shadowed strips are zeroed through
     * the stripe master, so its data columns hole them, and the parity of the stripes that became
     * wholly zero is freed too (blocks 0..127 are stripes 0..31 of ec4+2).
     */
    @Test
    void deletingASnapshotOfAnErasureCodedVolumeFreesItsShadowedStrips() throws Exception {
        spaceAndFreeing("space-ec", "ec4+2", 1, 2);
    }

    /**
     * s1 holds 256 blocks, s2 rewrites 0..127, the volume 0..63; {@code copies} is the raw bytes
     * per data block of the policy's data (replicas, or 1 for EC), {@code parity} its parity
     * columns (each holds one strip per stripe of k blocks).
     */
    private void spaceAndFreeing(String name, String policy, int copies, int parity) throws Exception {
        int blocks = 256;
        int k = 4;
        cluster.createVolume(name, "4M", policy, "4M");
        byte[] expected = new byte[blocks * 4096];
        try (io.basalt.client.ClusterClient client = adminClient()) {
            io.basalt.client.VolumeDevice device = client.open(name, "it-" + name).get(60, TimeUnit.SECONDS);
            try {
                // s1: blocks 0..255; s2: 0..127 rewritten; the volume: 0..63 rewritten again.
                for (int[] pass : new int[][] {{blocks, 1}, {128, 2}, {64, 3}}) {
                    byte[] data = new byte[pass[0] * 4096];
                    new Random(pass[1]).nextBytes(data);
                    device.write(0, io.netty.buffer.Unpooled.wrappedBuffer(data), false).get(60, TimeUnit.SECONDS);
                    System.arraycopy(data, 0, expected, 0, data.length);
                    if (pass[1] < 3) {
                        io.basalt.client.Snapshots.create(client, name, "s" + pass[1], Duration.ofSeconds(30));
                    }
                }
            } finally {
                device.close();
            }
            List<io.basalt.meta.model.Volume> snapshots = client.meta().listSnapshots(name);
            Map<Long, Long> exclusive = io.basalt.client.LayerReclaim.exclusiveBytes(client, snapshots);
            assertThat(exclusive.get(snapshots.get(0).id())).as("s1: the blocks s2 rewrote").isEqualTo(128 * 4096L);
            assertThat(exclusive.get(snapshots.get(1).id())).as("s2: the blocks the volume rewrote")
                    .isEqualTo(64 * 4096L);
            long s1Raw = io.basalt.client.LayerSpace.of(client, snapshots.get(0)).rawBytes();
            assertThat(s1Raw).isEqualTo((long) copies * blocks * 4096 + (long) parity * (blocks / k) * 4096);
            Tools.Result deleted = basaltCli("volume", "snapshot", "delete", name + "@s1");
            assertThat(deleted.ok()).as(deleted.describe()).isTrue();
            assertThat(deleted.stdout()).contains("deleted snapshot " + name + "@s1; freed 512.0 KiB");
            // The hidden layer keeps only what s2 reads through it: blocks 128..255 (and, for EC,
            // the parity of their stripes 32..63 only).
            io.basalt.meta.model.Volume hidden = client.meta().getLayer(snapshots.get(0).id()).orElseThrow();
            assertThat(io.basalt.client.LayerSpace.of(client, hidden).rawBytes())
                    .isEqualTo((long) copies * 128 * 4096 + (long) parity * (128 / k) * 4096);
            assertThat(io.basalt.client.LayerReclaim.reclaim(client).trimmedBytes()).as("nothing left").isZero();
            assertThat(readAll(client, name, blocks)).as("the volume").isEqualTo(expected);
            byte[] s2 = readAll(client, name + "@s2", blocks);
            assertThat(Arrays.copyOfRange(s2, 64 * 4096, blocks * 4096)).as("s2 past what the volume rewrote")
                    .isEqualTo(Arrays.copyOfRange(expected, 64 * 4096, blocks * 4096));
        }
        cluster.client().deleteSnapshot(name, "s2");
        cluster.client().deleteVolume(name);
    }

    /**
     * Flatten in the background (docs/snapshots.md, "Flatten"): with the clone open by a writer
     * (as a gateway has it), a request is recorded (what {@code volume flatten} does when the lease
     * is held) and the writer's process copies; closed half-way (a gateway going away), the progress stays in meta and the
     * next open resumes from it; writes go on throughout, and the flat clone reads the snapshot
     * with every acknowledged write in place.
     */
    @Test
    void aFlattenRunsInTheBackgroundOfTheWriterAndResumesAfterItCloses() throws Exception {
        int blocks = 4096; // 16 MiB: 8 background steps
        cluster.createVolume("bg", "16M", "rep3", "4M");
        byte[] expected = new byte[blocks * 4096];
        try (io.basalt.client.ClusterClient client = adminClient()) {
            // A sparse image: one block in 16 (1 MiB), quick to write, spread over every step.
            io.basalt.client.VolumeDevice image = client.open("bg", "it-bg").get(60, TimeUnit.SECONDS);
            try {
                Random random = new Random(5);
                List<java.util.concurrent.CompletableFuture<Void>> imageWrites = new ArrayList<>();
                for (int block = 0; block < blocks; block += 16) {
                    byte[] data = new byte[4096];
                    random.nextBytes(data);
                    imageWrites.add(image.write((long) block * 4096, io.netty.buffer.Unpooled.wrappedBuffer(data),
                            false));
                    System.arraycopy(data, 0, expected, block * 4096, 4096);
                }
                for (var write : imageWrites) {
                    write.get(60, TimeUnit.SECONDS);
                }
            } finally {
                image.close();
            }
            client.meta().createSnapshot("bg", "s1"); // no writer: no fence to wait for
            client.meta().cloneVolume("bg", "s1", "bg-clone");
            long parentId = client.meta().getVolume("bg-clone").parentId();
            io.basalt.client.VolumeDevice first = client.open("bg-clone", "it-gateway").get(60, TimeUnit.SECONDS);
            Random writes = new Random(6);
            // What `volume flatten` does when the lease is held (a CLI process would cost seconds of CI).
            io.basalt.client.Flatten.request(client, "bg-clone");
            // Write while the first holder copies; close it half-way (a gateway going away).
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            long cursor = 0;
            while (cursor < (4 << 20) && System.nanoTime() < deadline) {
                writeRandom(first, writes, expected, blocks);
                cursor = client.meta().getFlatten("bg-clone").map(p -> p.cursorBytes()).orElse(0L);
            }
            first.close();
            var stopped = client.meta().getFlatten("bg-clone");
            assertThat(stopped).as("the progress stays in meta").isPresent();
            assertThat(stopped.get().cursorBytes()).isGreaterThanOrEqualTo(4 << 20);
            if (stopped.get().cursorBytes() >= blocks * 4096L) {
                System.err.println("bg-clone: the first holder finished before it closed; resume not exercised");
            }
            // The next holder resumes from the cursor (not from 0) and detaches the parent.
            io.basalt.client.VolumeDevice second = client.open("bg-clone", "it-gateway").get(60, TimeUnit.SECONDS);
            try {
                deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
                while (client.meta().getVolume("bg-clone").parentId() == parentId) {
                    assertThat(System.nanoTime()).as("flat within 120 s").isLessThan(deadline);
                    var progress = client.meta().getFlatten("bg-clone");
                    progress.ifPresent(p -> assertThat(p.cursorBytes()).as("resumed, not restarted")
                            .isGreaterThanOrEqualTo(stopped.get().cursorBytes() / (2 << 20) * (2 << 20)));
                    writeRandom(second, writes, expected, blocks);
                }
                assertThat(client.meta().getFlatten("bg-clone")).isEmpty();
                for (int i = 0; i < 20; i++) {
                    writeRandom(second, writes, expected, blocks);
                }
                io.netty.buffer.ByteBuf read = io.netty.buffer.Unpooled.buffer(blocks * 4096);
                second.read(0, blocks * 4096, read).get(60, TimeUnit.SECONDS);
                assertThat(io.netty.buffer.ByteBufUtil.getBytes(read)).as("the flat clone").isEqualTo(expected);
            } finally {
                second.close();
            }
        }
        // Flat: the snapshot has no clone reading from it any more.
        cluster.client().deleteVolume("bg-clone");
        cluster.client().deleteSnapshot("bg", "s1");
        cluster.client().deleteVolume("bg");
    }

    /**
     * {@code volume flatten --wait} while a gateway holds the clone (docs/snapshots.md, "Flatten"):
     * the CLI records the request and follows the holder's progress; the holder closes the volume
     * before the end (a gateway whose last client left), nobody copies any more, and after 5 s of a
     * still cursor the CLI takes the lease and finishes from it.
     */
    @Test
    void flattenWaitFinishesTheCopyItselfWhenTheGatewayClosesTheVolume() throws Exception {
        int blocks = 4096; // 16 MiB, one block in 16 written
        cluster.createVolume("wait", "16M", "rep3", "4M");
        byte[] expected = new byte[blocks * 4096];
        Random random = new Random(9);
        for (int block = 0; block < blocks; block += 16) {
            byte[] data = new byte[4096];
            random.nextBytes(data);
            System.arraycopy(data, 0, expected, block * 4096, 4096);
        }
        Path output = dir.resolve("flatten-wait.out");
        try (io.basalt.client.ClusterClient client = adminClient()) {
            io.basalt.client.VolumeDevice image = client.open("wait", "it-wait").get(60, TimeUnit.SECONDS);
            try {
                image.write(0, io.netty.buffer.Unpooled.wrappedBuffer(expected), false).get(60, TimeUnit.SECONDS);
            } finally {
                image.close();
            }
            client.meta().createSnapshot("wait", "s1");
            client.meta().cloneVolume("wait", "s1", "wait-clone");
            io.basalt.client.VolumeDevice holder = client.open("wait-clone", "it-gateway").get(60, TimeUnit.SECONDS);
            Process cli;
            long cursorAtClose;
            try {
                cli = cluster.cliStart(output, "volume", "flatten", "wait-clone", "--wait");
                resources.register(() -> Tools.killTree(cli));
                long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
                while (client.meta().getFlatten("wait-clone").isEmpty()) {
                    assertThat(System.nanoTime()).as("the CLI records the request within 60 s").isLessThan(deadline);
                    Thread.sleep(20);
                }
            } finally {
                holder.close();
            }
            cursorAtClose = client.meta().getFlatten("wait-clone").map(p -> p.cursorBytes()).orElse((long) blocks * 4096);
            assertThat(cli.waitFor(120, TimeUnit.SECONDS)).as("flatten --wait ends").isTrue();
            String said = Files.readString(output);
            assertThat(cli.exitValue()).as(said).isZero();
            if (cursorAtClose < (long) blocks * 4096) {
                assertThat(said).contains("the gateway stopped copying (it closed the volume): finished here from")
                        .contains("flattened wait-clone:");
            } else {
                System.err.println("wait-clone: the holder finished before it closed; the take-over not exercised");
            }
            assertThat(client.meta().getVolume("wait-clone").parentId()).isZero();
            assertSameBlocks("the flat clone", expected, readAll(client, "wait-clone", blocks));
        }
        cluster.deleteOnceClosed("wait-clone");
        cluster.client().deleteSnapshot("wait", "s1");
        cluster.client().deleteVolume("wait");
    }

    /**
     * kill -9 of the NBD gateway, the writer holding the lease (docs/snapshots.md): once while a
     * snapshot is created, once while it flattens a clone in the background. A client writes
     * sequence-numbered blocks through it at QD1; after each kill the gateway restarts (same client
     * id, so it gets its leases back) and the client reconnects. Every block then holds its last
     * acknowledged write, or the one write in flight at the kill; the snapshot holds every write
     * acknowledged before the create was invoked and none invoked after it returned; the flatten
     * resumes from its cursor and the flat clone reads the same as before it.
     */
    @Test
    void theGatewayKilledDuringSnapshotCreateAndFlattenLosesNoAcknowledgedWrite() throws Exception {
        int blocks = 2048; // 8 MiB
        cluster.createVolume("kill", "8M", "rep3", "4M");
        NbdSeqWriter volumeWriter = new NbdSeqWriter(cluster::nbdPort, SnapshotCloneIT::logs, "kill", blocks);
        // 1. kill -9 while the snapshot is being created.
        volumeWriter.start();
        volumeWriter.awaitAcked(100);
        long createInvoked = System.nanoTime();
        java.util.concurrent.CompletableFuture<Void> create;
        try (io.basalt.client.ClusterClient client = adminClient()) {
            create = java.util.concurrent.CompletableFuture.runAsync(() -> {
                try {
                    io.basalt.client.Snapshots.create(client, "kill", "s1", Duration.ofSeconds(30));
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            });
            Thread.sleep(30);
            cluster.killGateway();
            create.get(60, TimeUnit.SECONDS);
        }
        long createReturned = System.nanoTime();
        volumeWriter.stop();
        cluster.startGateway();
        volumeWriter.checkEveryBlock(readExport("kill", blocks),
                "volume after the kill");
        volumeWriter.checkSnapshot(readExport("kill@s1", blocks), createInvoked,
                createReturned);
        // 2. kill -9 while the gateway flattens a clone of the snapshot in the background.
        byte[] snapshot = readExport("kill@s1", blocks);
        cluster.client().cloneVolume("kill", "s1", "kill-clone");
        NbdSeqWriter cloneWriter = new NbdSeqWriter(cluster::nbdPort, SnapshotCloneIT::logs, "kill-clone", blocks,
                snapshot);
        cloneWriter.start();
        cloneWriter.awaitAcked(20);
        try (io.basalt.client.ClusterClient client = adminClient()) {
            io.basalt.client.Flatten.request(client, "kill-clone");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
            while (client.meta().getFlatten("kill-clone").map(p -> p.cursorBytes()).orElse(0L) == 0) {
                assertThat(System.nanoTime()).as("the gateway starts the flatten within 60 s").isLessThan(deadline);
                Thread.sleep(10);
            }
            cluster.killGateway();
            cloneWriter.stop();
            long cursor = client.meta().getFlatten("kill-clone").map(p -> p.cursorBytes()).orElse((long) blocks * 4096);
            if (cursor >= (long) blocks * 4096) {
                System.err.println("kill-clone: the gateway finished the flatten before the kill; resume not exercised");
            }
            cluster.startGateway();
            cloneWriter.start(); // reopens the clone: the restarted gateway resumes the flatten
            deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
            while (client.meta().getVolume("kill-clone").parentId() != 0) {
                assertThat(System.nanoTime()).as("flat within 120 s" + logs()).isLessThan(deadline);
                client.meta().getFlatten("kill-clone").ifPresent(p -> assertThat(p.cursorBytes())
                        .as("resumed from its cursor").isGreaterThanOrEqualTo(cursor / (2 << 20) * (2 << 20)));
                Thread.sleep(50);
            }
            cloneWriter.stop();
        }
        cloneWriter.checkEveryBlock(readExport("kill-clone", blocks),
                "flat clone");
        cluster.deleteOnceClosed("kill-clone");
        cluster.client().deleteSnapshot("kill", "s1");
        cluster.deleteOnceClosed("kill");
    }


    /** {@link NbdSeqWriter#readExport} with the daemons' logs in a failure. */
    private static byte[] readExport(String export, int blocks) {
        try {
            return NbdSeqWriter.readExport(cluster.nbdPort(), export, blocks);
        } catch (IOException | AssertionError e) {
            throw new AssertionError("reading " + export + " through the gateway: " + e.getMessage() + logs(), e);
        }
    }

    /** One acknowledged 4 KiB write at a random block, recorded in {@code expected}. */
    private static void writeRandom(io.basalt.client.VolumeDevice device, Random random, byte[] expected, int blocks)
            throws Exception {
        int block = random.nextInt(blocks);
        byte[] data = new byte[4096];
        random.nextBytes(data);
        device.write((long) block * 4096, io.netty.buffer.Unpooled.wrappedBuffer(data), false).get(60, TimeUnit.SECONDS);
        System.arraycopy(data, 0, expected, block * 4096, 4096);
    }

    private static byte[] readAll(io.basalt.client.ClusterClient client, String name, int blocks) throws Exception {
        io.basalt.client.VolumeDevice device = client.openReadOnly(name).get(60, TimeUnit.SECONDS);
        try {
            return readAll(device, blocks);
        } finally {
            device.close();
        }
    }

    /** Clone {@code c} of gold@img writes two blocks of its own and reads them and the image back. */
    private static void cloneAndCheck(io.basalt.client.ClusterClient client, int c, byte[] image, int imageBlocks)
            throws Exception {
        String name = "gold-" + c;
        client.meta().cloneVolume("gold", "img", name);
        io.basalt.client.VolumeDevice clone = client.open(name, "it-gold").get(60, TimeUnit.SECONDS);
        try {
            // Two blocks of its own: one over the image, one past it.
            clone.write((long) c * 4096, cloneBlock(c), false).get(60, TimeUnit.SECONDS);
            clone.write((long) (imageBlocks + c) * 4096, cloneBlock(c), false).get(60, TimeUnit.SECONDS);
            // The first 32 blocks (its own block c among the image's) and its block past the image.
            io.netty.buffer.ByteBuf read = io.netty.buffer.Unpooled.buffer(33 * 4096);
            clone.read(0, 32 * 4096, read).get(60, TimeUnit.SECONDS);
            clone.read((long) (imageBlocks + c) * 4096, 4096, read).get(60, TimeUnit.SECONDS);
            byte[] expected = new byte[33 * 4096];
            System.arraycopy(image, 0, expected, 0, 32 * 4096);
            byte[] own = io.netty.buffer.ByteBufUtil.getBytes(cloneBlock(c));
            System.arraycopy(own, 0, expected, c * 4096, 4096);
            System.arraycopy(own, 0, expected, 32 * 4096, 4096);
            assertThat(io.netty.buffer.ByteBufUtil.getBytes(read)).as("clone %s reads the image and its own blocks",
                    name).isEqualTo(expected);
        } finally {
            clone.close();
        }
    }

    /** A block only clone {@code c} writes. */
    private static io.netty.buffer.ByteBuf cloneBlock(int c) {
        io.netty.buffer.ByteBuf block = io.netty.buffer.Unpooled.buffer(4096);
        while (block.isWritable()) {
            block.writeInt(0xc10e0000 | c);
        }
        return block;
    }

    private static final int SNAP_BLOCKS = 4096; // 16 MiB: two chunks

    private static void snapshotDuringWrites(String volume) throws Exception {
        int writesMax = 100_000;
        long[] invoked = new long[writesMax + 1];
        long[] acked = new long[writesMax + 1];
        int[] blockOf = new int[writesMax + 1];
        java.util.concurrent.atomic.AtomicInteger ackedCount = new java.util.concurrent.atomic.AtomicInteger();
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        long[] snapshotWindow = new long[2];
        Path copy = dir.resolve(volume + "-s1.raw");
        try (io.basalt.client.ClusterClient client = adminClient()) {
            io.basalt.client.VolumeDevice device = client.open(volume, "it-snap-writer").get(60, TimeUnit.SECONDS);
            java.util.concurrent.CompletableFuture<Void> writer = java.util.concurrent.CompletableFuture.runAsync(() -> {
                Random random = new Random(volume.hashCode());
                for (int seq = 1; seq <= writesMax && !stop.get(); seq++) {
                    int block = random.nextInt(SNAP_BLOCKS);
                    io.netty.buffer.ByteBuf data = io.netty.buffer.Unpooled.buffer(4096);
                    data.writeLong(seq).writeLong(block);
                    while (data.isWritable()) {
                        data.writeByte(seq);
                    }
                    blockOf[seq] = block;
                    invoked[seq] = System.nanoTime();
                    try {
                        device.write((long) block * 4096, data, false).get(60, TimeUnit.SECONDS);
                    } catch (Exception e) {
                        throw new AssertionError("write " + seq + " to block " + block + " failed", e);
                    } finally {
                        data.release();
                    }
                    acked[seq] = System.nanoTime();
                    ackedCount.set(seq);
                }
            });
            try {
                while (ackedCount.get() < 100 && !writer.isDone()) {
                    Thread.sleep(20);
                }
                snapshotWindow[0] = System.nanoTime();
                Tools.Result created = basaltCli("volume", "snapshot", "create", volume + "@s1");
                snapshotWindow[1] = System.nanoTime();
                assertThat(created.ok()).as(created.describe() + logs()).isTrue();
                int atSnapshot = ackedCount.get();
                // While this client holds the lease, a rollback is refused with one line.
                assertThatThrownBy(() -> cluster.client().rollbackVolume(volume, "s1"))
                        .isInstanceOf(io.basalt.meta.api.MetaException.class)
                        .hasMessageContaining("is in use by client it-snap-writer")
                        .hasMessageContaining("disconnect it first, then roll back");
                // Read the snapshot while the volume keeps changing.
                Tools.Result copied = Tools.run(Duration.ofSeconds(120), null, Map.of(),
                        List.of("nbdcopy", cluster.uri(volume + "@s1"), copy.toString()));
                assertThat(copied.ok()).as(copied.describe() + logs()).isTrue();
                while (ackedCount.get() < atSnapshot + 100 && !writer.isDone()) {
                    Thread.sleep(20);
                }
            } finally {
                stop.set(true);
                writer.get(120, TimeUnit.SECONDS);
                device.close();
            }
        }
        int total = ackedCount.get();
        byte[] snapshot = Files.readAllBytes(copy);
        assertThat(snapshot.length).isEqualTo(SNAP_BLOCKS * 4096);
        int[] lastAckedBefore = new int[SNAP_BLOCKS];
        int[] lastOverall = new int[SNAP_BLOCKS];
        int afterReturn = 0;
        for (int seq = 1; seq <= total; seq++) {
            if (acked[seq] < snapshotWindow[0]) {
                lastAckedBefore[blockOf[seq]] = seq;
            }
            if (invoked[seq] > snapshotWindow[1]) {
                afterReturn++;
            }
            lastOverall[blockOf[seq]] = seq;
        }
        assertThat(afterReturn).as("writes invoked after the create returned").isGreaterThan(30);
        java.nio.ByteBuffer view = java.nio.ByteBuffer.wrap(snapshot);
        for (int block = 0; block < SNAP_BLOCKS; block++) {
            int seq = (int) view.getLong(block * 4096);
            assertThat(seq).as("block %d of the snapshot: sequence %d, last acknowledged before the create %d",
                    block, seq, lastAckedBefore[block]).isGreaterThanOrEqualTo(lastAckedBefore[block]);
            if (seq != 0) {
                assertThat(view.getLong(block * 4096 + 8)).as("block number in block %d", block).isEqualTo(block);
                assertThat(blockOf[seq]).as("write %d went to block %d", seq, blockOf[seq]).isEqualTo(block);
                assertThat(invoked[seq]).as("block %d holds write %d, invoked after the create returned", block, seq)
                        .isLessThan(snapshotWindow[1]);
            }
        }
        Path live = dir.resolve(volume + "-live.raw");
        Tools.Result copied = Tools.run(Duration.ofSeconds(120), null, Map.of(),
                List.of("nbdcopy", cluster.uri(volume), live.toString()));
        assertThat(copied.ok()).as(copied.describe() + logs()).isTrue();
        java.nio.ByteBuffer liveView = java.nio.ByteBuffer.wrap(Files.readAllBytes(live));
        for (int block = 0; block < SNAP_BLOCKS; block++) {
            assertThat(liveView.getLong(block * 4096)).as("block %d of the volume", block)
                    .isEqualTo(lastOverall[block]);
        }
        // Diff: what changed since the snapshot is what was written after it (metadata only). The
        // one write in flight across the create may be on either side.
        java.util.Set<Integer> writtenAfter = new java.util.TreeSet<>();
        java.util.Set<Integer> maybe = new java.util.TreeSet<>();
        for (int seq = 1; seq <= total; seq++) {
            if (acked[seq] >= snapshotWindow[0]) {
                (invoked[seq] > snapshotWindow[1] ? writtenAfter : maybe).add(blockOf[seq]);
            }
        }
        java.util.Set<Integer> changed = new java.util.TreeSet<>();
        try (io.basalt.client.ClusterClient client = adminClient()) {
            for (io.basalt.client.LayerDiff.Extent extent
                    : io.basalt.client.LayerDiff.diff(client, volume + "@s1", volume).extents()) {
                for (long at = extent.offsetBytes(); at < extent.offsetBytes() + extent.lengthBytes(); at += 4096) {
                    changed.add((int) (at / 4096));
                }
            }
            assertThat(changed).as("diff %s@s1 %s", volume, volume).containsAll(writtenAfter);
            java.util.Set<Integer> allowed = new java.util.TreeSet<>(writtenAfter);
            allowed.addAll(maybe);
            assertThat(allowed).as("diff %s@s1 %s reports only blocks written since", volume, volume)
                    .containsAll(changed);
            // Flatten a clone of the snapshot: it then reads the same bytes without its parent, and
            // the snapshot can go.
            client.meta().cloneVolume(volume, "s1", volume + "-clone");
            io.basalt.client.Flatten.Result flat = io.basalt.client.Flatten.run(client, volume + "-clone",
                    "it-flatten", done -> { });
            assertThat(flat.volume().parentId()).isZero();
        }
        Tools.Result clone = Tools.run(Duration.ofSeconds(120), null, Map.of(),
                List.of("nbdcopy", cluster.uri(volume + "-clone"), live.toString()));
        assertThat(clone.ok()).as(clone.describe() + logs()).isTrue();
        assertThat(Files.mismatch(copy, live)).as("the flattened clone reads as the snapshot").isEqualTo(-1L);
        // The lease is released: a rollback makes the volume read as the snapshot again.
        cluster.client().rollbackVolume(volume, "s1");
        Tools.Result rolledBack = Tools.run(Duration.ofSeconds(120), null, Map.of(),
                List.of("nbdcopy", cluster.uri(volume), live.toString()));
        assertThat(rolledBack.ok()).as(rolledBack.describe() + logs()).isTrue();
        assertThat(Files.mismatch(copy, live)).as("the volume rolled back reads as the snapshot").isEqualTo(-1L);
        Files.delete(copy);
        Files.delete(live);
        // Through the meta client: a CLI process start each costs seconds of CI.
        cluster.client().deleteSnapshot(volume, "s1");
        cluster.client().deleteVolume(volume + "-clone");
        cluster.client().deleteVolume(volume);
    }

}
