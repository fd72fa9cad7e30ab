package io.basalt.chunkserver.ec;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.chunkserver.LocalMetaLink;
import io.basalt.chunkserver.MetaLink;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.netty.buffer.ByteBufUtil;
import io.basalt.protocol.data.EcLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/**
 * Recovery of erasure-coded columns between six in-process chunk servers (ec4+2): a data column and a
 * parity column rebuilt on new, empty servers while writes go on (the new column written as
 * RECOVERING), and a column that was away caught up with only the stripes written meanwhile. After
 * each, every stripe's parity re-encodes to what is stored and every version agrees, and the data
 * reads back as written.
 */
class EcRecoveryTest extends EcFixture {
    static final long VERSION = 2;
    static final long CHUNKLET = 16L << 20;

    /** A recovery task for {@code column} on server {@code servers[column]}, the others UPTODATE. */
    MetaLink.RecoveryTask task(int column, boolean catchUp) {
        List<MetaLink.Member> members = new ArrayList<>();
        for (int i = 0; i < K + M; i++) {
            members.add(new MetaLink.Member(i, 100 + i, address(i), i != column));
        }
        return new MetaLink.RecoveryTask(UID, VERSION, VERSION, catchUp, true, K, M, CHUNKLET, column, members);
    }

    /** {@code task} at chunk version {@code version} (meta raised it: a column marked RECOVERING). */
    static MetaLink.RecoveryTask atVersion(long version, MetaLink.RecoveryTask task) {
        return new MetaLink.RecoveryTask(UID, version, version, task.catchUp(), true, K, M, CHUNKLET, task.targetIndex(),
                task.members());
    }

    /** Fences every server at the recovery's version (as meta's pulls would) and writes with it. */
    void fenceAll() throws Exception {
        chunkVersion = VERSION;
        for (int i = 0; i < K + M; i++) {
            servers[i].versions().chunkVersion(UID, VERSION);
        }
    }

    EcLayout layout(int recoveringColumn, boolean skipped) {
        EcLayout all = layout();
        List<Boolean> usable = new ArrayList<>();
        List<Boolean> recovering = new ArrayList<>();
        for (int i = 0; i < K + M; i++) {
            usable.add(i != recoveringColumn);
            recovering.add(i == recoveringColumn && !skipped);
        }
        return new EcLayout(K, M, all.masterIndex(), all.addresses(), usable, recovering);
    }

    /** Writes the whole model region, 1 MiB at a time. */
    void fill(byte[] model) throws Exception {
        for (int offset = 0; offset < model.length; offset += 1 << 20) {
            ecWriteOk(layout(), offset, Arrays.copyOfRange(model, offset, offset + (1 << 20)));
        }
    }

    static void awaitDone(LocalMetaLink meta) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (meta.recoveriesDone().isEmpty()) {
            assertThat(System.nanoTime() - deadline).as("recovery did not finish within 60 s").isNegative();
            Thread.sleep(20);
        }
    }

    /** Writes random ranges with {@code layout} until {@code stop}; returns the model it kept. */
    CompletableFuture<Void> writeUntil(EcLayout layout, byte[] model, AtomicBoolean stop, long seed) {
        return CompletableFuture.runAsync(() -> {
            Random random = new Random(seed);
            try {
                while (!stop.get()) {
                    int blocks = 1 + random.nextInt(random.nextBoolean() ? 3 : 40);
                    long offset = (long) random.nextInt(REGION_BYTES / S - blocks) * S;
                    byte[] data = random(random, blocks * S);
                    ecWriteOk(layout, offset, data);
                    synchronized (model) {
                        System.arraycopy(data, 0, model, (int) offset, data.length);
                    }
                }
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
    }

    void rebuildOnANewServerUnderWrites(int column) throws Exception {
        fenceAll();
        byte[] model = random(new Random(column), REGION_BYTES);
        fill(model);
        // The column's server is lost: a new, empty one takes its place, RECOVERING.
        stop(column);
        LocalMetaLink meta = new LocalMetaLink("test");
        start(column, 0, meta, "new" + column);
        servers[column].versions().chunkVersion(UID, VERSION);
        AtomicBoolean stop = new AtomicBoolean();
        CompletableFuture<Void> writer = writeUntil(layout(column, false), model, stop, 99);
        meta.addRecoveryTask(task(column, false));
        awaitDone(meta);
        stop.set(true);
        writer.get(60, TimeUnit.SECONDS);

        verifyParity(REGION_BYTES / (K * S));
        assertThat(ecRead(layout(), 0, 1 << 20)).isEqualTo(Arrays.copyOf(model, 1 << 20));
        assertThat(ecRead(layout(), 1 << 20, 1 << 20)).isEqualTo(Arrays.copyOfRange(model, 1 << 20, 2 << 20));
        // Only stripes ever written were rebuilt: the rest of the 16 MiB column stayed empty.
        assertThat(servers[column].store().info(UID).writtenBlocks()).isLessThanOrEqualTo(REGION_BYTES / (K * S));
    }

    @Test
    void aDataColumnIsRebuiltOnANewServerWhileWritesGoOn() throws Exception {
        rebuildOnANewServerUnderWrites(1);
    }

    @Test
    void aRebuildFreezesHotBlocksFirstSoTheNewColumnServesTheirData() throws Exception {
        fenceAll();
        byte[] model = random(new Random(18), 2 * K * S);
        ecWriteOk(layout(), 0, model);
        byte[] hot = random(new Random(19), S);
        hotWriteOk(layout(), S, hot); // block 1: data column 1, hot only
        System.arraycopy(hot, 0, model, S, S);
        // Data column 1 is lost with its hot copy; an empty server rebuilds it.
        stop(1);
        LocalMetaLink meta = new LocalMetaLink("test");
        start(1, 0, meta, "new1");
        servers[1].versions().chunkVersion(UID, VERSION);
        meta.addRecoveryTask(task(1, false));
        awaitDone(meta);
        assertThat(servers[K].hot().usedSlots()).as("frozen before the rebuild").isZero();
        DataClient.Reply reply = directRead(S);
        try {
            assertThat(reply.status()).as(reply.message()).isEqualTo(CsStatus.OK);
            assertThat(ByteBufUtil.getBytes(reply.payload(), reply.payload().readerIndex(), S)).isEqualTo(hot);
        } finally {
            reply.release();
        }
        assertThat(ecRead(layout(), 0, 2 * K * S)).isEqualTo(model);
        verifyParity(2);
    }

    /**
     * Gives the master's freezer meta's map at VERSION (every column UPTODATE but {@code outdated},
     * -1: none) and runs passes until it froze something or 10 s passed. The server's own freezer
     * thread may ask first (meta is asked at most every 30 s per chunk): then a pass finds nothing to
     * ask and the next one the layout that thread learned.
     */
    private void freezeWithMetasMap(int outdated) throws Exception {
        List<MetaLink.Member> members = new ArrayList<>();
        for (int i = 0; i < K + M; i++) {
            members.add(new MetaLink.Member(i, 100 + i, address(i), i != outdated));
        }
        servers[K].freezer().layoutSource(uid -> new MetaLink.RecoveryTask(UID, VERSION, VERSION, false, true, K, M,
                CHUNKLET, K, members));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        do {
            servers[K].freezer().runOnce(true);
        } while (servers[K].freezer().frozenBlocks() == 0 && System.nanoTime() < deadline);
    }

    /**
     * A master without a layout whose chunk has a RECOVERING column in meta's map waits for the
     * recovery, but asks meta again within seconds, not in 30 s: a catch-up ends in seconds, and
     * EcVolumeIT's freezer crash test waited out its 30 s behind one.
     */
    @Test
    void aMasterWaitingForARecoveringColumnAsksMetaAgainWithinSeconds() throws Exception {
        byte[] model = twoStripesAndAHotBlockAtTheOlderVersion(24);
        for (int i = 0; i < K + M; i++) {
            servers[i].versions().chunkVersion(UID, VERSION);
        }
        chunkVersion = VERSION;
        servers[K].freezer().runOnce(true); // fenced: the layout of the hot write is forgotten
        java.util.concurrent.atomic.AtomicBoolean caughtUp = new java.util.concurrent.atomic.AtomicBoolean();
        MetaLink.RecoveryTask map = task(K, false).withUpToDate(K, true); // this master's own map
        servers[K].freezer().layoutSource(uid -> caughtUp.get() ? map : map.withRecovering(2));
        servers[K].freezer().runOnce(true);
        assertThat(servers[K].freezer().frozenBlocks()).as("column 2 is being caught up").isZero();
        caughtUp.set(true);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
        do {
            servers[K].freezer().runOnce(true);
            Thread.sleep(100);
        } while (servers[K].freezer().frozenBlocks() == 0 && System.nanoTime() < deadline);
        assertThat(servers[K].freezer().frozenBlocks()).as("asked again once the catch-up ended").isEqualTo(1);
        assertThat(ecRead(layout(), 0, 2 * K * S)).isEqualTo(model);
    }

    /**
     * Two stripes written at VERSION - 1 (every server fenced there), then a hot write of block 1:
     * returns the model of what they read.
     */
    private byte[] twoStripesAndAHotBlockAtTheOlderVersion(long seed) throws Exception {
        chunkVersion = VERSION - 1;
        for (int i = 0; i < K + M; i++) {
            servers[i].versions().chunkVersion(UID, VERSION - 1);
        }
        byte[] model = random(new Random(seed), 2 * K * S);
        ecWriteOk(layout(), 0, model);
        byte[] hot = random(new Random(seed + 1), S);
        hotWriteOk(layout(), S, hot);
        System.arraycopy(hot, 0, model, S, S);
        return model;
    }

    /**
     * The freezer writes with the layout of the chunk's last hot write. When meta has moved the chunk
     * on (a column RECOVERING) and the master heard of it, a freeze with that older layout is fenced
     * like an old client's write: it would otherwise commit on the columns that have not heard yet and
     * miss the RECOVERING one. The stale layout is forgotten and a newer one (a hot write's, a rebuild's,
     * meta's map) used.
     */
    @Test
    void theFreezerNeverWritesWithALayoutOlderThanTheMastersChunkVersion() throws Exception {
        byte[] model = twoStripesAndAHotBlockAtTheOlderVersion(20);
        // Meta's new version (column 1 RECOVERING) reached the master, not yet the other columns.
        servers[K].versions().chunkVersion(UID, VERSION);
        long failures = servers[K].freezer().failures();
        servers[K].freezer().runOnce(true);
        assertThat(servers[K].freezer().failures()).as("the freeze was fenced").isEqualTo(failures + 1);
        assertThat(servers[K].freezer().frozenBlocks()).isZero();
        // The stale layout was forgotten: with no hot write coming, the next pass asks meta, whose map
        // (column 1 caught up, every column UPTODATE at the new version) it freezes with.
        fenceAll();
        freezeWithMetasMap(-1);
        assertThat(servers[K].freezer().frozenBlocks()).as("frozen with meta's layout").isEqualTo(1);
        assertThat(servers[K].hot().usedSlots()).isZero();
        assertThat(ecRead(layout(), 0, 2 * K * S)).isEqualTo(model);
        verifyParity(2);
    }

    /**
     * A master whose layout was fenced, with a column down and no hot write coming, freezes with
     * meta's degraded map (the down column OUTDATED, skipped), as a client writes: it does not wait
     * for every column to be UPTODATE again, which may take a rebuild of hours (EcVolumeIT's freezer
     * crash points, where one master's server was down while another chunk's master had to freeze).
     */
    @Test
    void aFencedMasterFreezesADegradedChunkWithMetasMap() throws Exception {
        byte[] model = twoStripesAndAHotBlockAtTheOlderVersion(22);
        // Column 2's server dies; meta marks it OUTDATED at the new version, which reaches everyone.
        stop(2);
        for (int i = 0; i < K + M; i++) {
            if (i != 2) {
                servers[i].versions().chunkVersion(UID, VERSION);
            }
        }
        chunkVersion = VERSION;
        servers[K].freezer().runOnce(true); // fenced: the layout of the hot write is forgotten
        freezeWithMetasMap(2);
        assertThat(servers[K].freezer().frozenBlocks()).as("frozen with meta's degraded map").isEqualTo(1);
        assertThat(servers[K].hot().usedSlots()).isZero();
        EcLayout degraded = layout(true, true, false, true, true, true);
        assertThat(ecRead(degraded, 0, 2 * K * S)).isEqualTo(model);
    }

    /**
     * A rebuild starts only once its stripe master fences the rebuild's chunk version
     * (RecoveryIo.fenced): until then a client with the older map could still write the stripes it
     * rebuilt without the RECOVERING column. It waits for meta's version to reach the master.
     */
    @Test
    void aRebuildWaitsUntilTheMasterHasHeardOfItsChunkVersion() throws Exception {
        chunkVersion = VERSION - 1;
        for (int i = 0; i < K + M; i++) {
            servers[i].versions().chunkVersion(UID, VERSION - 1);
        }
        byte[] model = random(new Random(23), 2 * K * S);
        ecWriteOk(layout(), 0, model);
        stop(1);
        LocalMetaLink meta = new LocalMetaLink("test");
        start(1, 0, meta, "new1");
        servers[1].versions().chunkVersion(UID, VERSION);
        meta.addRecoveryTask(task(1, false));
        Thread.sleep(1500);
        assertThat(meta.recoveriesDone()).as("waiting for the master to hear of version " + VERSION).isEmpty();
        fenceAll();
        awaitDone(meta);
        assertThat(ecRead(layout(), 0, 2 * K * S)).isEqualTo(model);
        verifyParity(2);
    }

    /**
     * Two columns caught up at once (both RECOVERING in meta's map): a rebuild's layout must name every
     * column that takes writes, not only its own target, because the master learns it and freezes with
     * it (a rebuild freezes its range first, and the periodic passes use the newest layout known). With
     * only the target named, a freeze made for the parity column's catch-up skipped data column 1, whose
     * own catch-up had already passed the stripe: column 1 kept its old strip under the parity's record
     * of a newer one (seen once in EcVolumeIT: "parity 0 records version X of data column 0, which holds
     * version 0"), and served the block from its hot copy only.
     */
    @Test
    void aRebuildNamesEveryRecoveringColumnSoTheFreezeItStartsMissesNone() throws Exception {
        fenceAll();
        byte[] model = random(new Random(24), 2 * K * S);
        ecWriteOk(layout(), 0, model);
        LocalMetaLink dataMeta = new LocalMetaLink("test");
        LocalMetaLink parityMeta = new LocalMetaLink("test");
        stop(1);
        start(1, 0, dataMeta, "cs1");
        stop(K + 1);
        start(K + 1, 0, parityMeta, "cs" + (K + 1));
        for (int column : new int[] {1, K + 1}) {
            servers[column].versions().chunkVersion(UID, VERSION);
        }
        // Column 1's catch-up passes first (nothing was written meanwhile: nothing to copy).
        dataMeta.addRecoveryTask(task(1, true).withRecovering(K + 1));
        awaitDone(dataMeta);
        // A client's hot write, with meta's map: both columns RECOVERING, so both get their copies.
        EcLayout all = layout();
        List<Boolean> usable = new ArrayList<>();
        List<Boolean> recovering = new ArrayList<>();
        for (int i = 0; i < K + M; i++) {
            usable.add(i != 1 && i != K + 1);
            recovering.add(i == 1 || i == K + 1);
        }
        byte[] hot = random(new Random(25), S);
        hotWriteOk(new EcLayout(K, M, all.masterIndex(), all.addresses(), usable, recovering), S, hot);
        System.arraycopy(hot, 0, model, S, S);
        // The parity column's catch-up freezes the stripe first, with the layout it sends.
        parityMeta.addRecoveryTask(task(K + 1, true).withRecovering(1));
        awaitDone(parityMeta);
        assertThat(servers[K].hot().usedSlots()).as("frozen by the catch-up").isZero();
        verifyParity(2);
        assertThat(ecRead(layout(), 0, 2 * K * S)).isEqualTo(model);
    }

    @Test
    void aParityColumnIsRebuiltOnANewServerWhileWritesGoOn() throws Exception {
        rebuildOnANewServerUnderWrites(K + 1);
    }

    @Test
    void whenEveryParityColumnIsLostTheFirstIsEncodedFromTheDataAndTheOthersThroughIt() throws Exception {
        fenceAll();
        byte[] model = random(new Random(17), REGION_BYTES);
        fill(model);
        // Both parity servers are lost: two new, empty ones take their places; no stripe master is left.
        LocalMetaLink[] metas = new LocalMetaLink[M];
        for (int p = 0; p < M; p++) {
            stop(K + p);
            metas[p] = new LocalMetaLink("test");
            start(K + p, 0, metas[p], "new" + (K + p));
            servers[K + p].versions().chunkVersion(UID, VERSION);
        }
        // The second parity column cannot go first: it waits for the first (no master to rebuild through).
        MetaLink.RecoveryTask second = task(K + 1, false).withRecovering(K);
        metas[1].addRecoveryTask(second);
        metas[0].addRecoveryTask(task(K, false).withRecovering(K + 1));
        awaitDone(metas[0]);
        assertThat(metas[1].recoveriesDone()).isEmpty();
        // Meta marks the first UPTODATE: it is the master now, and the second is rebuilt through it.
        metas[1].addRecoveryTask(task(K + 1, false));
        awaitDone(metas[1]);

        verifyParity(REGION_BYTES / (K * S));
        for (int offset = 0; offset < REGION_BYTES; offset += 1 << 20) {
            assertThat(ecRead(layout(), offset, 1 << 20)).isEqualTo(Arrays.copyOfRange(model, offset, offset + (1 << 20)));
        }
    }

    /** STRIP_WRITE of column {@code column}'s strips from stripe {@code stripe} (docs/chunkserver.md). */
    DataClient.Reply stripWrite(int column, int stripe, byte[] data, long version) throws Exception {
        int count = data.length / S;
        io.netty.buffer.ByteBuf payload = io.netty.buffer.Unpooled.buffer(data.length + 4 * count + 256);
        payload.writeBytes(data);
        for (int i = 0; i < count; i++) {
            payload.writeInt(io.basalt.protocol.data.BlockCrc.of(io.netty.buffer.Unpooled.wrappedBuffer(data), i * S, S));
        }
        List<String> dataColumns = new ArrayList<>();
        for (int c = 0; c < K; c++) {
            dataColumns.add(address(c));
        }
        io.basalt.protocol.data.StripWriteSection.write(payload, column, K, M, dataColumns);
        return clients[column].request(io.basalt.protocol.data.DataFrame.TYPE_STRIP_WRITE, UID, version,
                (long) stripe * S, data.length, payload).get(30, TimeUnit.SECONDS);
    }

    /**
     * Both parity columns down (meta marked them OUTDATED at a new version): there is no stripe master,
     * and each data column takes its own strips alone (STRIP_WRITE), above its hot copy and above a
     * transaction the dead master left pending there; a write with the older map is fenced. The data
     * reads back from the data columns. When the parity columns come back with their old strips, the
     * first is encoded from the data columns and the second caught up through it, and every stripe
     * agrees.
     */
    @Test
    void withEveryParityColumnDownEachDataColumnTakesItsOwnStripsAndTheParityFollowsThem() throws Exception {
        fenceAll();
        byte[] model = random(new Random(26), 8 * K * S);
        ecWriteOk(layout(), 0, model);
        byte[] hot = random(new Random(27), S);
        hotWriteOk(layout(), S, hot); // block 1 (column 1, stripe 0): a hot copy on column 1
        System.arraycopy(hot, 0, model, S, S);
        // Column 2 of stripe 0 last written after the rest of the stripe: the highest version there.
        byte[] later = random(new Random(29), S);
        ecWriteOk(layout(), 2 * S, later);
        System.arraycopy(later, 0, model, 2 * S, S);
        stop(K);
        stop(K + 1);
        long degraded = VERSION + 1;
        for (int c = 0; c < K; c++) {
            servers[c].versions().chunkVersion(UID, degraded);
        }
        chunkVersion = degraded;
        Random random = new Random(28);
        // Column 1, stripes 0..2 (over its hot copy); column 3, stripes 5..7.
        for (int[] run : new int[][] {{1, 0, 3}, {3, 5, 3}}) {
            byte[] data = random(random, run[2] * S);
            DataClient.Reply reply = stripWrite(run[0], run[1], data, degraded);
            try {
                assertThat(reply.status()).as(reply.message()).isEqualTo(CsStatus.OK);
            } finally {
                reply.release();
            }
            for (int i = 0; i < run[2]; i++) {
                System.arraycopy(data, i * S, model, ((run[1] + i) * K + run[0]) * S, S);
            }
        }
        DataClient.Reply stale = stripWrite(2, 0, random(random, S), VERSION);
        try {
            assertThat(stale.status()).as("a write with the map from before the parity went down").isEqualTo(
                    CsStatus.STALE_VERSION);
        } finally {
            stale.release();
        }
        for (int block = 0; block < 8 * K; block++) {
            assertThat(direct((long) block * S)).as("block %d from its data column", block)
                    .isEqualTo(Arrays.copyOfRange(model, block * S, (block + 1) * S));
        }
        // The parity servers come back with their old strips: the first is encoded from the data columns
        // (each of its strips replaced only where the data's versions are higher than those it records:
        // why a direct write takes a version above every data column's), the second caught up through it.
        LocalMetaLink[] metas = new LocalMetaLink[M];
        for (int p = 0; p < M; p++) {
            metas[p] = new LocalMetaLink("test");
            start(K + p, 0, metas[p], "cs" + (K + p));
        }
        for (int i = 0; i < K + M; i++) {
            servers[i].versions().chunkVersion(UID, degraded + 1);
        }
        chunkVersion = degraded + 1;
        metas[0].addRecoveryTask(atVersion(degraded + 1, task(K, true).withRecovering(K + 1)));
        awaitDone(metas[0]);
        metas[1].addRecoveryTask(atVersion(degraded + 1, task(K + 1, true)));
        awaitDone(metas[1]);
        verifyParity(8);
        assertThat(ecRead(layout(), 0, 8 * K * S)).isEqualTo(model);
    }

    /**
     * A chunk that only ever took hot writes (SnapshotCloneIT found it: the first writes after a
     * snapshot): its data columns hold hot copies and no chunklet, and two hold nothing at all. With
     * both parity columns lost and back, the first is encoded from the data columns, whose PEEK says
     * "no column here": that is "nothing written" from a member meta lists UPTODATE, not a reason to
     * retry forever (which it did). The data columns fold their hot copies into their strips first
     * (creating the chunklet), and the stripes agree and read back through the master.
     */
    @Test
    void aParityColumnIsEncodedFromDataColumnsThatOnlyTookHotWrites() throws Exception {
        fenceAll();
        byte[] model = new byte[2 * K * S];
        byte[] a = random(new Random(31), S);
        byte[] b = random(new Random(32), S);
        hotWriteOk(layout(), 0, a); // block 0: column 0, stripe 0
        hotWriteOk(layout(), 5L * S, b); // block 5: column 1, stripe 1
        System.arraycopy(a, 0, model, 0, S);
        System.arraycopy(b, 0, model, 5 * S, S);
        stop(K);
        stop(K + 1);
        LocalMetaLink meta = new LocalMetaLink("test");
        start(K, 0, meta, "cs" + K); // back with its old disk (and hot store)
        LocalMetaLink second = new LocalMetaLink("test");
        start(K + 1, 0, second, "cs" + (K + 1));
        for (int i = 0; i < K + M; i++) {
            servers[i].versions().chunkVersion(UID, VERSION + 1);
        }
        chunkVersion = VERSION + 1;
        meta.addRecoveryTask(atVersion(VERSION + 1, task(K, true).withRecovering(K + 1)));
        awaitDone(meta);
        // The data columns folded their hot copies into their strips first (the only copies of those
        // writes with every parity column lost): the second parity column is caught up through the first.
        second.addRecoveryTask(atVersion(VERSION + 1, task(K + 1, true)));
        awaitDone(second);
        verifyParity(2);
        assertThat(ecRead(layout(), 0, 2 * K * S)).as("read through the stripe master").isEqualTo(model);
        for (int block = 0; block < 2 * K; block++) {
            assertThat(direct((long) block * S)).as("block %d from its data column", block)
                    .isEqualTo(Arrays.copyOfRange(model, block * S, (block + 1) * S));
        }
    }

    /**
     * The thrasher (seed 37071181518505): an acknowledged hot write not yet frozen, then both parity
     * servers of its chunk lost for good. The hot write now lives only as its data column's hot copy;
     * the first parity column, encoded from the data columns on a new server, must take it into the
     * stripe (the data column folds the copy into its strip first). Before, the parity was encoded from
     * the cold strips alone: the new master's EC reads (taken whenever a data column's read fails)
     * returned the older data, and a later loss of the data column would have lost the write.
     */
    @Test
    void aHotWriteWhoseParityCopiesAreAllLostIsFoldedIntoTheStripesTheDataColumnsEncode() throws Exception {
        fenceAll();
        byte[] model = random(new Random(41), 4 * K * S);
        ecWriteOk(layout(), 0, model);
        byte[] hot = random(new Random(42), 2 * S);
        hotWriteOk(layout(), K * S + S, hot); // blocks 5 and 6: stripe 1, columns 1 and 2
        System.arraycopy(hot, 0, model, K * S + S, hot.length);
        LocalMetaLink[] metas = new LocalMetaLink[M];
        for (int p = 0; p < M; p++) {
            stop(K + p);
            metas[p] = new LocalMetaLink("test");
            start(K + p, 0, metas[p], "new" + (K + p)); // empty disks, empty hot stores
        }
        fenceEverywhere(VERSION + 1);
        metas[0].addRecoveryTask(atVersion(VERSION + 1, task(K, false).withRecovering(K + 1)));
        awaitDone(metas[0]);
        metas[1].addRecoveryTask(atVersion(VERSION + 1, task(K + 1, false)));
        awaitDone(metas[1]);

        verifyParity(4);
        assertThat(ecRead(layout(), 0, 4 * K * S)).as("read through the new stripe master").isEqualTo(model);
        assertThat(readStrip(1, 1).data()).as("column 1's strip of stripe 1 holds the hot write")
                .isEqualTo(Arrays.copyOf(hot, S));
        // The data column's server is lost too: rebuilt from the others, it serves the hot write.
        stop(2);
        LocalMetaLink again = new LocalMetaLink("test");
        start(2, 0, again, "new2");
        servers[2].versions().chunkVersion(UID, VERSION + 1);
        again.addRecoveryTask(atVersion(VERSION + 1, task(2, false)));
        awaitDone(again);
        assertThat(direct(K * S + 2 * S)).as("block 6 from its rebuilt data column")
                .isEqualTo(Arrays.copyOfRange(hot, S, 2 * S));
        assertThat(ecRead(layout(), 0, 4 * K * S)).isEqualTo(model);
    }

    /**
     * The thrasher's state (MAX_DISTURBED=2): the second parity column is being caught up when the first,
     * its master, goes away (OUTDATED: its server paused). The second does not wait for the first: it is
     * encoded from the data columns itself and becomes the master.
     */
    @Test
    void aParityColumnWhoseMasterWentAwayIsEncodedFromTheDataWithoutWaitingForIt() throws Exception {
        fenceAll();
        byte[] model = random(new Random(30), REGION_BYTES);
        fill(model);
        stop(K);
        LocalMetaLink meta = new LocalMetaLink("test");
        stop(K + 1);
        start(K + 1, 0, meta, "new" + (K + 1));
        servers[K + 1].versions().chunkVersion(UID, VERSION);
        meta.addRecoveryTask(task(K + 1, false).withUpToDate(K, false)); // column K OUTDATED, not RECOVERING
        awaitDone(meta);
        // Column K + 1 is the master now; column K comes back empty and is rebuilt through it.
        LocalMetaLink again = new LocalMetaLink("test");
        start(K, 0, again, "new" + K);
        servers[K].versions().chunkVersion(UID, VERSION);
        again.addRecoveryTask(task(K, false));
        awaitDone(again);
        verifyParity(REGION_BYTES / (K * S));
        assertThat(ecRead(layout(), 0, 1 << 20)).isEqualTo(Arrays.copyOf(model, 1 << 20));
    }

    @Test
    void aColumnThatWasAwayIsGivenOnlyTheStripesWrittenMeanwhile() throws Exception {
        fenceAll();
        Random random = new Random(5);
        byte[] model = random(random, REGION_BYTES);
        fill(model);
        // Column 2 is away: writes skip it (12 stripes' worth, in 3 places).
        EcLayout without = layout(2, true);
        for (long offset : new long[] {0, 40L * K * S, 100L * K * S}) {
            byte[] data = random(random, 4 * K * S);
            ecWriteOk(without, offset, data);
            System.arraycopy(data, 0, model, (int) offset, data.length);
        }
        LocalMetaLink meta = new LocalMetaLink("test");
        stop(2);
        start(2, 0, meta, "cs2");
        servers[2].versions().chunkVersion(UID, VERSION);
        meta.addRecoveryTask(task(2, true));
        awaitDone(meta);

        double copied = servers[2].metrics().recoveryBytes.labelValues("catchup").get();
        assertThat(copied).isEqualTo(12.0 * S);
        verifyParity(REGION_BYTES / (K * S));
        for (long offset = 2 * S; offset < REGION_BYTES; offset += K * S * 7L) {
            DataClient.Reply reply = directRead(offset);
            try {
                assertThat(io.netty.buffer.ByteBufUtil.getBytes(reply.payload(), reply.payload().readerIndex(), S))
                        .isEqualTo(Arrays.copyOfRange(model, (int) offset, (int) offset + S));
            } finally {
                reply.release();
            }
        }
    }

    @Test
    void damagedDataAndParityStripsEvenTheMastersOwnAreRepairedByTheScrubberFromTheOthers() throws Exception {
        fenceAll();
        byte[] model = random(new Random(11), REGION_BYTES);
        fill(model);
        for (int column : new int[] {1, K + 1, K}) { // K: the stripe master's own parity
            stop(column);
            java.nio.file.Path file = root.resolve("cs" + column).resolve("chunklets")
                    .resolve(String.format("%016x.data", UID));
            try (java.nio.channels.FileChannel channel = java.nio.channels.FileChannel.open(file,
                    java.nio.file.StandardOpenOption.READ, java.nio.file.StandardOpenOption.WRITE)) {
                java.nio.ByteBuffer one = java.nio.ByteBuffer.allocate(1);
                channel.read(one, 7L * S + 99);
                one.put(0, (byte) (one.get(0) ^ 1)).rewind();
                channel.write(one, 7L * S + 99);
            }
            LocalMetaLink meta = new LocalMetaLink("test");
            meta.setChunkMap(task(column, false).withAllUpToDate());
            scrubInterval = java.time.Duration.ofMillis(300);
            start(column, 0, meta, "cs" + column);
            servers[column].versions().chunkVersion(UID, VERSION);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (servers[column].metrics().scrubRepaired.get() < 1) {
                assertThat(System.nanoTime() - deadline).as("column %d repaired within 30 s", column).isNegative();
                Thread.sleep(50);
            }
        }
        verifyParity(REGION_BYTES / (K * S));
        assertThat(ecRead(layout(), 0, 1 << 20)).isEqualTo(Arrays.copyOf(model, 1 << 20));
    }

    /**
     * Rewrites strip {@code stripe} of {@code column} with other bytes and their correct CRC, keeping its
     * versions, as a bug or a lost write inside a disk might: every CRC check passes, no parity fits.
     */
    void rewriteBehindTheBack(int column, int stripe, long seed) throws Exception {
        io.basalt.chunkserver.ChunkServer server = servers[column];
        long[] versions = server.store().versions(UID, (long) stripe * S, S).versions();
        long lsn = new io.basalt.chunkserver.store.ScrubReader(server.store()).lsnIfVersions(UID, stripe, versions);
        io.netty.buffer.ByteBuf strip = io.netty.buffer.Unpooled.wrappedBuffer(random(new Random(seed), S));
        io.netty.buffer.ByteBuf payload = StripeVerifier.repairPayload(lsn, VERSION,
                io.basalt.protocol.data.BlockCrc.of(strip, 0, S), versions, strip);
        CompletableFuture<Void> done = new CompletableFuture<>();
        server.wal().submit(new io.basalt.chunkserver.wal.WalEntry(io.basalt.chunkserver.wal.WalRecordFormat.TYPE_REPAIR,
                UID, (long) stripe * S, S, payload, (e, error) -> {
                    if (error != null) {
                        done.completeExceptionally(error);
                    } else {
                        done.complete(null);
                    }
                }));
        done.get(10, TimeUnit.SECONDS);
    }

    @Test
    void stripsThatPassTheirCrcButDoNotFitTheirStripeAreFoundByTheMasterAndRewritten() throws Exception {
        fenceAll();
        byte[] model = random(new Random(13), REGION_BYTES);
        fill(model);
        rewriteBehindTheBack(1, 3, 21);      // a data strip
        rewriteBehindTheBack(K + 1, 9, 22);  // another parity column's strip
        rewriteBehindTheBack(K, 17, 23);     // the master's own parity strip
        // The model's bytes of stripe 3, column 1 now differ on disk: a plain read shows it.
        DataClient.Reply before = directRead(3L * K * S + S);
        try {
            assertThat(io.netty.buffer.ByteBufUtil.getBytes(before.payload(), before.payload().readerIndex(), S))
                    .isNotEqualTo(Arrays.copyOfRange(model, 3 * K * S + S, 3 * K * S + 2 * S));
        } finally {
            before.release();
        }

        LocalMetaLink meta = new LocalMetaLink("test");
        stop(K);
        scrubInterval = java.time.Duration.ofMillis(300);
        start(K, 0, meta, "cs" + K);
        servers[K].versions().chunkVersion(UID, VERSION);
        meta.setChunkMap(task(K, false).withAllUpToDate());
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (servers[K].metrics().scrubRepaired.get() < 3) {
            assertThat(System.nanoTime() - deadline).as("three stripes repaired within 30 s").isNegative();
            Thread.sleep(50);
        }
        assertThat(servers[K].metrics().scrubErrors.labelValues("parity").get()).isEqualTo(3);
        assertThat(servers[K].metrics().scrubUnrepaired.get()).isZero();
        verifyParity(REGION_BYTES / (K * S));
        for (int offset = 0; offset < REGION_BYTES; offset += 1 << 20) {
            assertThat(ecRead(layout(), offset, 1 << 20)).isEqualTo(Arrays.copyOfRange(model, offset, offset + (1 << 20)));
        }
    }

    @Test
    void locatingAWrongStripNeedsTwoParities() {
        io.basalt.ec.ErasureCodec one = io.basalt.ec.ErasureCodecs.create(K, 1);
        Random random = new Random(3);
        io.netty.buffer.ByteBuf[] strips = new io.netty.buffer.ByteBuf[K + 1];
        for (int c = 0; c < K + 1; c++) {
            strips[c] = io.netty.buffer.Unpooled.directBuffer(S).writeBytes(random(random, S));
        }
        try (StripeMaster.Scratch scratch = new StripeMaster.Scratch()) {
            // Random parity fits nothing; with one parity there is no telling which strip is wrong.
            assertThat(StripeVerifier.locate(one, strips, K, 1, scratch)).isEmpty();
        }
        for (io.netty.buffer.ByteBuf strip : strips) {
            strip.release();
        }
    }
}
