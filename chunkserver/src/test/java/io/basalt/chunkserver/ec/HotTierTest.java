package io.basalt.chunkserver.ec;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.chunkserver.hot.HotStore;
import io.basalt.protocol.data.BlockCrc;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import io.basalt.protocol.data.EcLayout;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * The hot tier on six in-process chunk servers of one ec4+2 chunk (docs/hot-tier.md): HOT_WRITE to
 * the stripe master lands on the m + 1 hot replicas of each block, plain READs of a data column and
 * EC_READs through the master return it (newest wins against the stripes, both ways), it survives
 * restarts (WAL replay) and degraded reads, and a full hot store answers HOT_FULL.
 */
class HotTierTest extends EcFixture {
    final Random random = new Random(18);

    byte[] bytes(int length) {
        byte[] data = new byte[length];
        random.nextBytes(data);
        return data;
    }

    static byte[] block(byte[] data, int index) {
        return Arrays.copyOfRange(data, index * S, (index + 1) * S);
    }

    int hotBlocks(int column) {
        return servers[column].hot().usedSlots();
    }

    @Test
    void hotWritesAreReadFromDataColumnsAndTheMasterAndNewestWinsBothWays() throws Exception {
        EcLayout layout = layout();
        byte[] a = bytes(K * S);
        ecWriteOk(layout, 0, a); // stripe 0 cold
        byte[] b = bytes(S);
        hotWriteOk(layout, S, b); // block 1 of stripe 0 (data column 1)
        // m + 1 copies: the two parity columns and data column 1; nothing else changed.
        assertThat(new int[] {hotBlocks(0), hotBlocks(1), hotBlocks(2), hotBlocks(3), hotBlocks(4), hotBlocks(5)})
                .containsExactly(0, 1, 0, 0, 1, 1);
        verifyParity(1); // the stripes are untouched: hot data is beside them
        assertThat(direct(S)).isEqualTo(b);
        assertThat(direct(0)).isEqualTo(block(a, 0));
        byte[] expected = a.clone();
        System.arraycopy(b, 0, expected, S, S);
        assertThat(ecRead(layout, 0, K * S)).isEqualTo(expected);

        // A full-stripe (cold) write after it wins: its version is above the hot seq.
        byte[] c = bytes(K * S);
        ecWriteOk(layout, 0, c);
        assertThat(direct(S)).isEqualTo(block(c, 1));
        assertThat(ecRead(layout, 0, K * S)).isEqualTo(c);

        // A hot write after that wins again; a partial cold write of another block leaves it hot.
        byte[] d = bytes(2 * S);
        hotWriteOk(layout, 2 * S, d); // blocks 2 and 3
        byte[] e = bytes(S);
        ecWriteOk(layout, 3 * S, e); // block 3 cold, newer than its hot copy
        expected = c.clone();
        System.arraycopy(d, 0, expected, 2 * S, S);
        System.arraycopy(e, 0, expected, 3 * S, S);
        assertThat(ecRead(layout, 0, K * S)).isEqualTo(expected);
        for (int i = 0; i < K; i++) {
            assertThat(direct((long) i * S)).as("block %d", i).isEqualTo(block(expected, i));
        }
        verifyParity(1);

        // Restarts replay the hot store from the WAL (master and a data column, same ports).
        for (int column : new int[] {K, 2}) {
            int port = servers[column].address().getPort();
            stop(column);
            start(column, port);
        }
        assertThat(ecRead(layout, 0, K * S)).isEqualTo(expected);
        assertThat(direct(2 * S)).isEqualTo(block(d, 0));

        // A write over more than one stripe is not hot (the client sends it to EC whole).
        DataClient.Reply refused = hotWrite(layout, 2 * S, bytes(4 * S));
        try {
            assertThat(refused.status()).isEqualTo(CsStatus.INVALID);
            assertThat(refused.message()).contains("a hot write is part of one stripe");
        } finally {
            refused.release();
        }

        // Degraded: data column 2 down; the master merges its own hot copy over the reconstruction.
        assertThat(ecRead(layout(true, true, false, true, true, true), 0, K * S)).isEqualTo(expected);
        // Master down: the next parity column is master and holds every hot block too.
        assertThat(ecRead(layout(true, true, true, true, false, true), 0, K * S)).isEqualTo(expected);
    }

    /**
     * Which blocks a chunk holds, for reads through snapshot layers (docs/snapshots.md): a block
     * written only to the hot tier is in no strip version yet, so a plain PEEK calls it unwritten;
     * a held PEEK counts it, at the master (k versions a strip) and at its data column (one), also
     * on a chunk with nothing cold at all. A held PEEK of the wrong width is refused.
     */
    @Test
    void aHeldPeekCountsBlocksWrittenOnlyToTheHotTier() throws Exception {
        EcLayout layout = layout();
        hotWriteOk(layout, 5 * S, bytes(S)); // stripe 1, data column 1: the chunk's only write
        // A plain PEEK at the master cannot tell: no column of the chunk is on its disk yet.
        DataClient.Reply plain = peekReply(K, 0, 2, io.basalt.protocol.data.EcSection.MODE_PEEK, 0);
        try {
            assertThat(plain.status()).isEqualTo(CsStatus.UNAVAILABLE);
        } finally {
            plain.release();
        }
        io.basalt.protocol.data.EcSection atMaster = peek(K, 0, 2, io.basalt.protocol.data.EcSection.MODE_PEEK_HELD, K);
        assertThat(atMaster.versionsPerBlock()).isEqualTo(K);
        long[] held = atMaster.versions();
        for (int i = 0; i < 2 * K; i++) {
            assertThat(held[i] != 0).as("stripe %d strip %d", i / K, i % K).isEqualTo(i == K + 1);
        }
        io.basalt.protocol.data.EcSection atColumn = peek(1, 0, 2, io.basalt.protocol.data.EcSection.MODE_PEEK_HELD, 1);
        assertThat(atColumn.versions()[0]).isZero();
        assertThat(atColumn.versions()[1]).isEqualTo(held[K + 1]);

        // Cold writes are counted as before, and a hot copy newer than the cold strip raises it.
        ecWriteOk(layout, 0, bytes(K * S)); // stripe 0 cold
        hotWriteOk(layout, 2 * S, bytes(S)); // block 2, over its cold strip
        long[] after = peek(K, 0, 2, io.basalt.protocol.data.EcSection.MODE_PEEK_HELD, K).versions();
        long[] cold = peek(K, 0, 2, io.basalt.protocol.data.EcSection.MODE_PEEK, 0).versions();
        assertThat(after[2]).isGreaterThan(cold[2]);
        assertThat(after[0]).isEqualTo(cold[0]).isNotZero();
        assertThat(after[K + 1]).isEqualTo(held[K + 1]);
        long[] column2 = peek(2, 0, 2, io.basalt.protocol.data.EcSection.MODE_PEEK_HELD, 1).versions();
        assertThat(column2[0]).as("its hot copy of block 2").isEqualTo(after[2]);
        assertThat(column2[1]).as("data column 2 never wrote stripe 1").isZero();

        DataClient.Reply wrongWidth = peekReply(K, 0, 2, io.basalt.protocol.data.EcSection.MODE_PEEK_HELD, 1);
        try {
            assertThat(wrongWidth.status()).isEqualTo(CsStatus.INVALID);
            assertThat(wrongWidth.message()).contains("keeps 4 versions a strip; the held peek expected 1");
        } finally {
            wrongWidth.release();
        }
        // Only a held peek may carry bytes after its section (a layout), and they must be one.
        for (int mode : new int[] {io.basalt.protocol.data.EcSection.MODE_PEEK,
                io.basalt.protocol.data.EcSection.MODE_PEEK_HELD}) {
            io.basalt.protocol.data.EcSection ask = new io.basalt.protocol.data.EcSection(0, mode, K, "", new long[0],
                    new long[2]);
            ByteBuf payload = Unpooled.buffer();
            ask.writeTo(payload);
            payload.writeBytes(new byte[] {1, 2, 3, 4, 5, 6, 7, 8});
            DataClient.Reply refused = clients[K].request(DataFrame.TYPE_STRIP_READ, UID, chunkVersion, 0, 2L * S,
                    payload).get(30, TimeUnit.SECONDS);
            try {
                assertThat(refused.status()).as(refused.message()).isIn(CsStatus.INVALID, CsStatus.BAD_CRC);
            } finally {
                refused.release();
            }
        }
        assertThat(peek(K, 0, 2, io.basalt.protocol.data.EcSection.MODE_PEEK_HELD, K).versions())
                .as("the server answers on").isEqualTo(after);
    }

    /**
     * Hot writes in flight when the chunk's version moves on (a snapshot froze the chunk) while some
     * replicas already know the new version: they refuse, the writes fail, and the master and the
     * other parity column keep copies that a plain read of the data column does not see. Block 1 had
     * an acknowledged hot copy before, which the failed write's copy replaced on the master; block 2
     * had none. A HOT_FREEZE at the new version (what snapshot create sends) freezes the stripe at
     * once, and folds what each data column holds, which is what plain reads returned: block 1's
     * acknowledged copy (from its data column), block 2's strip (the failed write's copy is only
     * freed). Every read path then agrees, and no later freeze can change it. The master never
     * serves the failed writes' copies meanwhile: it settles the stripe (the same freeze) before its
     * next read there (HotTrust).
     */
    @Test
    void aFreezeFoldsWhatTheDataColumnHoldsNotTheCopiesOfAHotWriteAReplicaRefused() throws Exception {
        long before = 7;
        fenceEverywhere(before);
        byte[] cold = bytes(K * S);
        ecWriteOk(layout(), 0, cold);
        byte[] acknowledged = bytes(S);
        hotWriteOk(layout(), S, acknowledged); // block 1, on every hot replica
        byte[] expected = cold.clone();
        System.arraycopy(acknowledged, 0, expected, S, S);
        servers[1].versions().chunkVersion(UID, before + 1); // data columns 1 and 2 learned the bump first
        servers[2].versions().chunkVersion(UID, before + 1);
        for (int block : new int[] {1, 2}) {
            DataClient.Reply refused = hotWrite(layout(), (long) block * S, bytes(S));
            try {
                assertThat(refused.status()).as(refused.message()).isEqualTo(CsStatus.REPLICA_FAILED);
                assertThat(refused.message()).contains("STALE_VERSION");
            } finally {
                refused.release();
            }
        }
        fenceEverywhere(before + 1);
        assertThat(direct(S)).as("data column 1, which refused").isEqualTo(acknowledged);
        assertThat(direct(2 * S)).as("data column 2, which refused").isEqualTo(block(cold, 2));
        assertThat(ecRead(layout(), 0, K * S)).as("through the master, which settles the failed writes' copies first")
                .isEqualTo(expected);
        assertThat(servers[K].freezer().columnViews()).as("block 1 settled: its data column's copy folded")
                .isEqualTo(1);
        assertThat(servers[K].freezer().orphanCopies()).as("block 2 settled: the failed write's copy freed")
                .isEqualTo(1);

        hotFreezeOk(); // what snapshot create sends the master after its fence
        assertThat(hotBlocks(K)).as("the master's copies are frozen or freed").isZero();
        assertThat(servers[K].freezer().columnViews()).as("block 1: its data column's copy folded").isEqualTo(1);
        assertThat(servers[K].freezer().orphanCopies()).as("block 2: the failed write's copy only freed")
                .isEqualTo(1);
        for (int block = 0; block < K; block++) {
            assertThat(direct((long) block * S)).as("block %d from its data column", block)
                    .isEqualTo(block(expected, block));
        }
        assertThat(ecRead(layout(), 0, K * S)).as("through the master, after the freeze").isEqualTo(expected);
        verifyParity(1);
    }

    /**
     * The reverse orphan: a data column logged a hot write's copy that the master never did (the
     * master died before its own WAL sync; here the column is sent the HOT_PUT straight). Plain reads
     * of that column return it, reads through the master do not, and the master's freezer never
     * visits the stripe (it holds no copy there). A snapshot's HOT_FREEZE folds it as the data column
     * holds it, so from the create on every read path of the frozen chunk agrees.
     */
    @Test
    void aHotFreezeFoldsACopyADataColumnTookAndTheMasterNeverLogged() throws Exception {
        byte[] cold = bytes(K * S);
        ecWriteOk(layout(), 0, cold);
        byte[] orphan = bytes(S);
        ByteBuf put = Unpooled.buffer();
        put.writeBytes(orphan).writeInt(BlockCrc.of(Unpooled.wrappedBuffer(orphan), 0, S));
        // Just above the strip's version (the master's record: the column may not have the RESOLVE
        // yet), as the master that took the write would have chosen it.
        long seq = peek(K, 0, 1, io.basalt.protocol.data.EcSection.MODE_PEEK_HELD, K).versions()[1] + 1;
        put.writeByte(io.basalt.chunkserver.wal.WalRecordFormat.HOT_FORMAT_VERSION).writeZero(3).writeLong(seq);
        DataClient.Reply logged = clients[1].request(DataFrame.TYPE_HOT_PUT, UID, chunkVersion, 0, S, put)
                .get(30, TimeUnit.SECONDS); // block 1 is data column 1's strip 0
        try {
            assertThat(logged.status()).as(logged.message()).isEqualTo(CsStatus.OK);
        } finally {
            logged.release();
        }
        assertThat(hotBlocks(K)).as("the master holds no copy").isZero();
        assertThat(direct(S)).as("data column 1 returns its copy").isEqualTo(orphan);
        assertThat(ecRead(layout(), S, S)).as("the master does not: two answers for one block")
                .isEqualTo(block(cold, 1));
        byte[] expected = cold.clone();
        System.arraycopy(orphan, 0, expected, S, S);

        hotFreezeOk(); // what snapshot create sends the master after its fence
        assertThat(servers[K].freezer().columnViews()).as("block 1: its data column's copy folded").isEqualTo(1);
        assertThat(ecRead(layout(), 0, K * S)).as("through the master, after the freeze").isEqualTo(expected);
        for (int block = 0; block < K; block++) {
            assertThat(direct((long) block * S)).as("block %d from its data column", block)
                    .isEqualTo(block(expected, block));
        }
        verifyParity(1);
        servers[1].freezer().runOnce(true); // the data column's sweep: its copy is under a newer strip now
        assertThat(hotBlocks(1)).as("data column 1's copy, dead under the folded strip, swept").isZero();
        assertThat(direct(S)).isEqualTo(orphan);

        // The master asked about the whole 16 MiB column in one held peek: a peek moves only
        // versions, so its range may pass the 1 MiB a read may name; beyond 16 MiB it is refused.
        int stripes = (int) (io.basalt.protocol.data.EcSection.PEEK_RANGE_BYTES_MAX / S);
        assertThat(peek(1, 0, stripes, io.basalt.protocol.data.EcSection.MODE_PEEK_HELD, 1).versions()).hasSize(stripes);
        for (int mode : new int[] {io.basalt.protocol.data.EcSection.MODE_PEEK_HELD,
                io.basalt.protocol.data.EcSection.MODE_PEEK}) {
            DataClient.Reply refused = peekReply(1, 0, stripes + 1, mode, 1);
            try {
                assertThat(refused.status()).as(refused.message()).isEqualTo(CsStatus.INVALID);
            } finally {
                refused.release();
            }
        }
        ByteBuf read = Unpooled.buffer();
        io.basalt.protocol.data.EcSection.none().writeTo(read);
        DataClient.Reply tooLong = clients[1].request(DataFrame.TYPE_STRIP_READ, UID, chunkVersion, 0, 2L << 20, read)
                .get(30, TimeUnit.SECONDS);
        try {
            assertThat(tooLong.status()).as("a strip read of 2 MiB: " + tooLong.message()).isEqualTo(CsStatus.INVALID);
        } finally {
            tooLong.release();
        }
    }

    /**
     * A hot write that failed at its data column (that server was down) left copies on the master and
     * on the other parity column: orphans. When that other parity column becomes the stripe master
     * (the first is down), neither its held peek nor its reads count them: it settles the stripe
     * against the data column first. So what snapshot reads through it find is what the data column
     * holds, as through the old master (the thrasher saw a snapshot's block change when the master
     * role moved to a column holding such copies).
     */
    @Test
    void aColumnThatBecomesMasterServesNoCopyOfAHotWriteItsDataColumnNeverTook() throws Exception {
        byte[] cold = bytes(K * S);
        ecWriteOk(layout(), 0, cold);
        int port = servers[2].address().getPort();
        stop(2);
        DataClient.Reply failed = hotWrite(layout(), 2L * S, bytes(S)); // block 2: data column 2 is down
        try {
            assertThat(failed.status()).as(failed.message()).isEqualTo(CsStatus.REPLICA_FAILED);
        } finally {
            failed.release();
        }
        start(2, port);
        // The EC write's RESOLVE may not have reached column 2 before it stopped: settled with the master.
        servers[2].pendingResolver().resolve(0);
        assertThat(hotBlocks(K + 1)).as("the other parity column logged the failed write").isEqualTo(1);
        assertThat(direct(2 * S)).as("data column 2 never took it").isEqualTo(block(cold, 2));

        boolean[] firstDown = {true, true, true, true, false, true}; // parity column K + 1 is master
        assertThat(peek(K + 1, 0, 1, io.basalt.protocol.data.EcSection.MODE_PEEK_HELD, K).versions()[2])
                .as("held at the new master: the stripe's version, not the orphan's seq")
                .isEqualTo(peek(2, 0, 1, io.basalt.protocol.data.EcSection.MODE_PEEK_HELD, 1).versions()[0]);
        assertThat(hotBlocks(K + 1)).as("the orphan is freed, not folded").isZero();
        assertThat(servers[K + 1].freezer().orphanCopies()).isEqualTo(1);
        assertThat(ecRead(layout(firstDown), 0, K * S)).as("through the new master").isEqualTo(cold);
        assertThat(ecRead(layout(), 0, K * S)).as("through the old master, which settles its own copy")
                .isEqualTo(cold);
        assertThat(hotBlocks(K)).isZero();
        verifyParity(1);
    }

    @Test
    void aFullHotStoreAnswersHotFullAndTheWriteCanGoCold() throws Exception {
        int port = servers[K].address().getPort();
        stop(K);
        hotCapacityBytes = 2 * S;
        start(K, port);
        EcLayout layout = layout();
        byte[] data = bytes(3 * S);
        DataClient.Reply reply = hotWrite(layout, 0, data);
        try {
            assertThat(reply.status()).isEqualTo(CsStatus.HOT_FULL);
        } finally {
            reply.release();
        }
        ecWriteOk(layout, 0, data);
        assertThat(ecRead(layout, 0, 3 * S)).isEqualTo(data);
        for (int i = 0; i < 3; i++) {
            assertThat(direct((long) i * S)).isEqualTo(block(data, i));
        }
        assertThat(servers[K].hot().usedSlots()).isZero();
        assertThat(HotStore.PARITY_KEY_BASE).isGreaterThan(16L << 20);
    }

    /**
     * A snapshot create's HOT_FREEZE over a chunk with hot blocks in many stripes freezes several
     * stripes at once (Freezer.FREEZE_CONCURRENCY), while hot writes to the same stripes go on: each
     * stripe still ends with the newest write of every block, parity that fits, and every copy the
     * freeze folded freed everywhere.
     */
    @Test
    void aHotFreezeOfManyStripesAtOnceUnderWritesLeavesEveryStripeConsistent() throws Exception {
        EcLayout layout = layout();
        int stripes = 64; // one 1 MiB write fills them
        byte[] model = bytes(stripes * K * S);
        ecWriteOk(layout, 0, model); // cold first, so every stripe has a parity record
        java.util.Random random = new java.util.Random(5);
        for (int i = 0; i < 300; i++) {
            int block = random.nextInt(stripes * K);
            byte[] data = bytes(S);
            hotWriteOk(layout, (long) block * S, data);
            System.arraycopy(data, 0, model, block * S, S);
        }
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.CompletableFuture<Void> writer = java.util.concurrent.CompletableFuture.runAsync(() -> {
            java.util.Random during = new java.util.Random(6);
            try {
                while (!stop.get()) {
                    int block = during.nextInt(stripes * K);
                    byte[] data = bytes(S);
                    hotWriteOk(layout, (long) block * S, data);
                    synchronized (model) {
                        System.arraycopy(data, 0, model, block * S, S);
                    }
                }
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        hotFreezeOk();
        stop.set(true);
        writer.get(60, TimeUnit.SECONDS);
        hotFreezeOk(); // what the writes during the first left hot
        assertThat(servers[K].hot().usedSlots()).as("every hot block of the master frozen").isZero();
        verifyParity(stripes);
        assertThat(ecRead(layout, 0, stripes * K * S)).isEqualTo(model);
        for (int block = 0; block < stripes * K; block += 7) {
            assertThat(direct((long) block * S)).as("block %d", block).isEqualTo(block(model, block));
        }
    }

    /** HOT_FREEZE of the whole chunk at its master (column K), answered OK. */
    void hotFreezeOk() throws Exception {
        ByteBuf payload = Unpooled.buffer();
        layout().writeTo(payload);
        DataClient.Reply frozen = clients[K].request(DataFrame.TYPE_HOT_FREEZE, UID, chunkVersion, 0, 16L << 20,
                payload).get(30, TimeUnit.SECONDS);
        try {
            assertThat(frozen.status()).as(frozen.message()).isEqualTo(CsStatus.OK);
        } finally {
            frozen.release();
        }
    }

    /**
     * After random small writes, a big sequential write makes thousands of hot copies dead at once.
     * The sweep that frees them queued one HOT_FREE per copy, all at once: more than the WAL's
     * queue holds (4096; 4,554 did it in a cluster whose WAL was busy with 1 MiB writes), so the
     * queue filled and every client write meanwhile was refused as if the server were gone. Now it
     * queues at most {@link Freezer#SWEEP_WINDOW} at a time, as background records, and frees them
     * all in one pass. (Here the WAL drains as fast as the sweep queues, so only the bound on the
     * frees queued at once tells the two apart.)
     */
    @Test
    void aSweepOfMoreDeadCopiesThanTheWalQueueHoldsFreesThemAllInOnePass() throws Exception {
        EcLayout layout = layout();
        int stripes = 1400; // 3 hot blocks each: 4,200 copies on each parity column
        int sweeper = K + 1; // a parity column that is not the master
        servers[sweeper].freezer().close(); // its own pass would sweep in the background meanwhile
        List<java.util.concurrent.CompletableFuture<DataClient.Reply>> inFlight = new ArrayList<>();
        for (int stripe = 0; stripe < stripes; stripe++) {
            ByteBuf payload = Unpooled.buffer();
            byte[] data = bytes(3 * S);
            payload.writeBytes(data);
            for (int i = 0; i < 3; i++) {
                payload.writeInt(BlockCrc.of(ByteBuffer.wrap(data, i * S, S)));
            }
            layout.writeTo(payload);
            inFlight.add(clients[layout.masterIndex()].request(DataFrame.TYPE_HOT_WRITE, UID, chunkVersion,
                    (long) stripe * K * S, 3 * S, payload));
            if (inFlight.size() == 32 || stripe == stripes - 1) {
                for (var sent : inFlight) {
                    DataClient.Reply reply = sent.get(30, TimeUnit.SECONDS);
                    try {
                        assertThat(reply.status()).as(reply.message()).isEqualTo(CsStatus.OK);
                    } finally {
                        reply.release();
                    }
                }
                inFlight.clear();
            }
        }
        assertThat(hotBlocks(sweeper)).isEqualTo(3 * stripes);
        int perWrite = 64; // stripes of a 1 MiB write
        for (int stripe = 0; stripe < stripes; stripe += perWrite) {
            ecWriteOk(layout, (long) stripe * K * S, bytes(Math.min(perWrite, stripes - stripe) * K * S));
        }
        long failuresBefore = servers[sweeper].freezer().failures();
        assertThat(servers[sweeper].freezer().sweepDead()).isEqualTo(3 * stripes);
        assertThat(hotBlocks(sweeper)).isZero();
        assertThat(servers[sweeper].freezer().failures()).isEqualTo(failuresBefore);
        assertThat(servers[sweeper].freezer().sweepQueuedMax()).isEqualTo(Freezer.SWEEP_WINDOW);
    }

    int hotBlocksEverywhere() {
        int sum = 0;
        for (int i = 0; i < K + M; i++) {
            sum += hotBlocks(i);
        }
        return sum;
    }

    @Test
    void theFreezerFoldsHotBlocksIntoConsistentStripesAndFreesThemEverywhere() throws Exception {
        EcLayout layout = layout();
        byte[] expected = bytes(2 * K * S);
        ecWriteOk(layout, 0, expected); // stripes 0 and 1 cold
        long[][] writes = {{1, 1}, {4, 2}, {7, 1}, {1, 1}}; // {first block, blocks}: block 1 twice
        for (long[] w : writes) {
            byte[] data = bytes((int) w[1] * S);
            hotWriteOk(layout, w[0] * S, data);
            System.arraycopy(data, 0, expected, (int) w[0] * S, data.length);
        }
        assertThat(hotBlocksEverywhere()).isEqualTo(3 * 4); // blocks 1, 4, 5, 7: three copies each
        assertThat(servers[K].freezer().runOnce(true)).isEqualTo(2);
        assertThat(hotBlocksEverywhere()).isZero();
        assertThat(servers[K].freezer().frozenBlocks()).isEqualTo(4);
        verifyParity(2); // data and parity agree, versions included
        assertThat(ecRead(layout, 0, 2 * K * S)).isEqualTo(expected);
        for (int i = 0; i < 2 * K; i++) {
            assertThat(direct((long) i * S)).as("block %d", i).isEqualTo(block(expected, i));
        }
        // Nothing hot: a pass does nothing; a write after the freeze is hot and wins again.
        assertThat(servers[K].freezer().runOnce(true)).isZero();
        assertThat(servers[K].freezer().master().hotMaster.layouts).as("nothing hot: nothing remembered").isEmpty();
        byte[] late = bytes(S);
        hotWriteOk(layout, 6 * S, late);
        assertThat(direct(6 * S)).isEqualTo(late);
    }

    @Test
    void overwritesWhileTheFreezerRunsAreNeverLostOrReordered() throws Exception {
        EcLayout layout = layout();
        ecWriteOk(layout, 0, bytes(K * S));
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.atomic.AtomicReference<Throwable> died = new java.util.concurrent.atomic.AtomicReference<>();
        java.util.concurrent.atomic.AtomicInteger passes = new java.util.concurrent.atomic.AtomicInteger();
        Thread freezing = Thread.ofPlatform().start(() -> {
            try {
                while (!stop.get()) {
                    if (servers[K].freezer().runOnce(true) > 0) {
                        passes.incrementAndGet();
                    }
                }
            } catch (Throwable t) {
                died.set(t);
            }
        });
        byte[] last = null;
        try {
            for (int i = 0; i < 20; i++) {
                last = bytes(S);
                hotWriteOk(layout, 2 * S, last);
                assertThat(direct(2 * S)).as("read after write %d", i).isEqualTo(last);
            }
        } finally {
            stop.set(true);
            freezing.join();
        }
        assertThat(died.get()).isNull();
        assertThat(passes.get()).as("passes that froze something").isPositive();
        assertThat(servers[K].freezer().failures()).isZero();
        assertThat(ecRead(layout, 2 * S, S)).isEqualTo(last);
        servers[K].freezer().runOnce(true);
        assertThat(hotBlocksEverywhere()).isZero();
        assertThat(direct(2 * S)).isEqualTo(last);
        verifyParity(1);
    }

    /**
     * Client I/O first: below the high watermark a pass that finds client requests at the master
     * freezes only {@link Freezer#BUSY_STRIPES_PER_PASS} stripes, and the next, idle, pass the rest.
     */
    @Test
    void belowTheHighWatermarkTheFreezerYieldsToClientRequestsButNeverStops() throws Exception {
        EcLayout layout = layout();
        byte[] expected = bytes(12 * K * S);
        ecWriteOk(layout, 0, expected);
        for (int stripe = 0; stripe < 10; stripe++) {
            byte[] data = bytes(S);
            hotWriteOk(layout, (long) stripe * K * S, data);
            System.arraycopy(data, 0, expected, stripe * K * S, S);
        }
        Freezer freezer = servers[K].freezer();
        freezer.close(); // its thread: this test runs the passes itself
        freezer.reconfigure(new Freezer.Config(0, 0.7, 64, 200)); // every stripe old enough
        // A client read of stripe 11 waits behind the stripe lock this thread holds: in flight.
        freezer.master().lock(UID, 11, 1);
        java.util.concurrent.CompletableFuture<byte[]> read;
        try {
            read = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
                try {
                    return ecRead(layout, 11L * K * S, S);
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (freezer.master().clientRequests() == 0 && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertThat(freezer.runOnce(false)).isEqualTo(Freezer.BUSY_STRIPES_PER_PASS);
            assertThat(freezer.busyYields()).isEqualTo(1);
        } finally {
            freezer.master().unlock(UID, 11, 1);
        }
        assertThat(read.get(10, TimeUnit.SECONDS)).isEqualTo(Arrays.copyOfRange(expected, 11 * K * S, 11 * K * S + S));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (freezer.master().clientRequests() > 0 && System.nanoTime() < deadline) {
            Thread.sleep(5);
        }
        assertThat(freezer.runOnce(false)).as("idle: the rest").isEqualTo(10 - Freezer.BUSY_STRIPES_PER_PASS);
        assertThat(ecRead(layout, 0, 12 * K * S)).isEqualTo(expected);
        verifyParity(12);
    }

    @Test
    void aRestartedMasterFreezesWithTheLayoutMetaGivesWithoutWaitingForANewHotWrite() throws Exception {
        EcLayout layout = layout();
        byte[] expected = bytes(2 * K * S);
        ecWriteOk(layout, 0, expected);
        byte[] data = bytes(2 * S);
        hotWriteOk(layout, S, data); // blocks 1 and 2, hot on m + 1 servers
        System.arraycopy(data, 0, expected, S, data.length);
        int port = servers[K].address().getPort();
        stop(K);
        // Restarted, it knows no layout; meta's map names it the stripe master, every column UPTODATE.
        io.basalt.chunkserver.LocalMetaLink meta = new io.basalt.chunkserver.LocalMetaLink("test");
        java.util.List<io.basalt.chunkserver.MetaLink.Member> members = new java.util.ArrayList<>();
        for (int col = 0; col < K + M; col++) {
            members.add(new io.basalt.chunkserver.MetaLink.Member(col, col + 1, address(col), true));
        }
        meta.setChunkMap(new io.basalt.chunkserver.MetaLink.RecoveryTask(UID, 0, 0, false, true, K, M, 64L << 20, K,
                members));
        start(K, port, meta, "cs" + K);
        // Its freezer thread (a pass every 200 ms) asks meta, then freezes: no hot write came since.
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
        while (servers[K].freezer().frozenBlocks() == 0 && System.nanoTime() < deadline) {
            servers[K].freezer().runOnce(true);
            Thread.sleep(50);
        }
        assertThat(servers[K].freezer().frozenBlocks()).as("hot blocks frozen with meta's layout").isEqualTo(2);
        for (int i = 0; i < K + M; i++) {
            servers[i].freezer().runOnce(true); // each server sweeps the copies now dead
        }
        assertThat(hotBlocksEverywhere()).isZero();
        assertThat(ecRead(layout, 0, 2 * K * S)).isEqualTo(expected);
        verifyParity(2);
    }

    @Test
    void aFreezeStoppedAtEachStepLeavesEveryWriteReadableAndTheNextPassFinishesIt() throws Exception {
        EcLayout layout = layout();
        byte[] expected = bytes(2 * K * S);
        ecWriteOk(layout, 0, expected);
        for (String point : new String[] {"freezer.after-commit", "freezer.after-own-free"}) {
            byte[] data = bytes(2 * S);
            hotWriteOk(layout, S, data); // blocks 1 and 2
            System.arraycopy(data, 0, expected, S, data.length);
            servers[K].freezer().stopAt = point;
            long failures = servers[K].freezer().failures();
            servers[K].freezer().runOnce(true);
            assertThat(servers[K].freezer().failures()).as(point).isEqualTo(failures + 1);
            // The master restarts (WAL replay); the stripe is committed, hot copies left here or there.
            int port = servers[K].address().getPort();
            stop(K);
            start(K, port);
            assertThat(ecRead(layout, 0, 2 * K * S)).as(point).isEqualTo(expected);
            for (int i = 0; i < 2 * K; i++) {
                assertThat(direct((long) i * S)).as("%s: block %d", point, i).isEqualTo(block(expected, i));
            }
            verifyParity(2);
            // A restarted master learns the layout from the next hot write; the next passes free the rest.
            byte[] more = bytes(S);
            hotWriteOk(layout, 5 * S, more);
            System.arraycopy(more, 0, expected, 5 * S, S);
            servers[K].freezer().runOnce(true);
            // Copies whose HOT_FREE never came are dead by the read rule; each server sweeps its own.
            for (int i = 0; i < K + M; i++) {
                servers[i].freezer().runOnce(true);
            }
            assertThat(hotBlocksEverywhere()).as(point).isZero();
            assertThat(ecRead(layout, 0, 2 * K * S)).as(point).isEqualTo(expected);
            verifyParity(2);
        }
    }
}
