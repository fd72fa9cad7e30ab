package io.basalt.chunkserver.ec;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.chunkserver.ChunkServer;
import io.basalt.chunkserver.LocalMetaLink;
import io.basalt.chunkserver.store.ChunkletStore;
import io.basalt.ec.ErasureCodec;
import io.basalt.ec.ErasureCodecs;
import io.basalt.protocol.data.BlockCrc;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import io.basalt.protocol.data.EcLayout;
import io.basalt.protocol.data.EcSection;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.MetricSnapshot;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * The stripe master against six in-process chunk servers (ec4+2): random partial and full-stripe
 * writes compared byte for byte with an in-memory model, read back directly from the data columns
 * and through the master; every stripe's parity re-encoded and compared; degraded reads and writes;
 * a corrupt strip; a pending prepare that survives a restart and is settled by the master.
 */
class StripeMasterTest extends EcFixture {
    @Test
    void randomWritesMatchTheModelAndEveryStripeParityAgrees() throws Exception {
        Random random = new Random(42);
        byte[] model = new byte[REGION_BYTES];
        EcLayout layout = layout();
        for (int op = 0; op < 120; op++) {
            int blocks = 1 + random.nextInt(random.nextBoolean() ? 4 : 64);
            long offset = (long) random.nextInt(REGION_BYTES / S - blocks) * S;
            if (random.nextInt(4) == 0) {
                byte[] got = ecRead(layout, offset, blocks * S);
                assertThat(got).as("op %d read at %d", op, offset)
                        .isEqualTo(Arrays.copyOfRange(model, (int) offset, (int) offset + blocks * S));
                continue;
            }
            byte[] data = random.nextInt(5) == 0 ? new byte[blocks * S] : random(random, blocks * S);
            ecWriteOk(layout, offset, data);
            System.arraycopy(data, 0, model, (int) offset, data.length);
        }
        // Direct reads from the data columns see exactly the model.
        for (long offset = 0; offset < REGION_BYTES; offset += S * 37L) {
            DataClient.Reply reply = directRead(offset);
            try {
                assertThat(reply.status()).as(reply.message()).isEqualTo(CsStatus.OK);
                assertThat(ByteBufUtil.getBytes(reply.payload(), reply.payload().readerIndex(), S))
                        .isEqualTo(Arrays.copyOfRange(model, (int) offset, (int) offset + S));
            } finally {
                reply.release();
            }
        }
        assertThat(ecRead(layout, 0, 1 << 20)).isEqualTo(Arrays.copyOf(model, 1 << 20));
        verifyParity(REGION_BYTES / (K * S));
        // One-strip partial stripes went by parity delta, wider ones by re-encoding (see deltaIsCheaper).
        assertThat(stripeWrites("delta")).isPositive();
        assertThat(stripeWrites("reencode")).isPositive();
        assertThat(stripeWrites("full")).isPositive();
    }

    /** The master's (column K's) basalt_cs_ec_stripe_writes_total for {@code rule}. */
    double stripeWrites(String rule) {
        for (MetricSnapshot snapshot : registries[K].scrape()) {
            if (snapshot instanceof CounterSnapshot counter
                    && counter.getMetadata().getName().equals("basalt_cs_ec_stripe_writes")) {
                for (CounterSnapshot.CounterDataPointSnapshot point : counter.getDataPoints()) {
                    if (rule.equals(point.getLabels().get("rule"))) {
                        return point.getValue();
                    }
                }
            }
        }
        return 0;
    }

    @Test
    void withTwoColumnsDownReadsReconstructAndWritesContinue() throws Exception {
        Random random = new Random(7);
        EcLayout all = layout();
        byte[] before = random(random, 256 * S);
        ecWriteOk(all, 0, before);
        stop(1);
        stop(K + 1);
        // The client has not reported them yet: the master finds them unreachable and reconstructs.
        assertThat(ecRead(all, 0, before.length)).isEqualTo(before);
        // A write with them still listed fails, naming them, and changes nothing.
        byte[] update = random(random, 8 * S);
        DataClient.Reply failed = ecWrite(all, 12 * S, update);
        try {
            assertThat(failed.status()).isEqualTo(CsStatus.REPLICA_FAILED);
            assertThat(failed.message()).contains(address(1));
        } finally {
            failed.release();
        }
        assertThat(ecRead(all, 0, before.length)).isEqualTo(before);
        // After the report, the layout leaves them out: degraded writes and reads go on.
        EcLayout degraded = layout(true, false, true, true, true, false);
        ecWriteOk(degraded, 12 * S, update);
        System.arraycopy(update, 0, before, 12 * S, update.length);
        byte[] partial = random(random, S);
        ecWriteOk(degraded, 5 * S, partial); // column 1 of stripe 1: only in parity now
        System.arraycopy(partial, 0, before, 5 * S, S);
        assertThat(ecRead(degraded, 0, before.length)).isEqualTo(before);
        // A third column down: writes are refused before anything is written.
        DataClient.Reply refused = ecWrite(layout(true, false, false, true, true, false), 0, random(random, S));
        try {
            assertThat(refused.status()).isEqualTo(CsStatus.STRIPE_UNAVAILABLE);
        } finally {
            refused.release();
        }
    }

    @Test
    void aCorruptDataStripIsReconstructed() throws Exception {
        byte[] data = random(new Random(3), 64 * S);
        EcLayout layout = layout();
        ecWriteOk(layout, 0, data);
        // The client is answered once the master decided; the columns commit just after (PENDING until).
        DataClient.Reply committed = directRead(2L * S);
        for (int i = 0; i < 100 && committed.status() == CsStatus.PENDING; i++) {
            committed.release();
            Thread.sleep(50);
            committed = directRead(2L * S);
        }
        committed.release();
        // Column 2 holds strip 2 of every stripe; flip a byte of its first block behind the server's back.
        Path file = root.resolve("cs2").resolve("chunklets").resolve(String.format("%016x.data", UID));
        try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer one = ByteBuffer.allocate(1);
            channel.read(one, 100);
            one.put(0, (byte) (one.get(0) ^ 0x5a)).rewind();
            channel.write(one, 100);
        }
        DataClient.Reply direct = directRead(2L * S);
        try {
            assertThat(direct.status()).isEqualTo(CsStatus.CORRUPT_BLOCK);
        } finally {
            direct.release();
        }
        assertThat(ecRead(layout, 0, data.length)).isEqualTo(data);
    }

    @Test
    void aPendingPrepareSurvivesARestartAndTheMasterSettlesIt() throws Exception {
        byte[] data = random(new Random(5), 4 * K * S);
        EcLayout layout = layout();
        ecWriteOk(layout, 0, data);
        // A prepare the master never decided (as if it died after phase one): column 0, stripe 0.
        byte[] orphan = random(new Random(6), S);
        ByteBuf payload = Unpooled.buffer();
        payload.writeBytes(orphan).writeInt(BlockCrc.of(ByteBuffer.wrap(orphan)));
        // It carries the decided generation a real master would: what the master's parity records (the
        // write's RESOLVE may still be on its way; a lie here would settle that write's strip wrongly).
        long decided = stripVersions(K, 0)[0];
        new EcSection(1, EcSection.MODE_BY_DECIDED, Long.MAX_VALUE / 2, address(K), new long[] {Long.MAX_VALUE / 2},
                new long[] {decided}).writeTo(payload);
        DataClient.Reply prepared = clients[0].request(DataFrame.TYPE_PREPARE, UID, 0, 0, S, payload)
                .get(30, TimeUnit.SECONDS);
        assertThat(prepared.status()).as(prepared.message()).isEqualTo(CsStatus.OK);
        prepared.release();
        DataClient.Reply pending = directRead(0);
        assertThat(pending.status()).isEqualTo(CsStatus.PENDING);
        pending.release();
        // Kill-like restart of the column: the prepare is replayed from the WAL, still pending.
        int port = servers[0].address().getPort();
        stop(0);
        start(0, port);
        pending = directRead(0);
        assertThat(pending.status()).isEqualTo(CsStatus.PENDING);
        pending.release();
        // The master's parity never recorded that version: reading through it aborts the orphan.
        assertThat(ecRead(layout, 0, data.length)).isEqualTo(data);
        DataClient.Reply settled = directRead(0);
        try {
            assertThat(settled.status()).isEqualTo(CsStatus.OK);
            assertThat(ByteBufUtil.getBytes(settled.payload(), settled.payload().readerIndex(), S))
                    .isEqualTo(Arrays.copyOf(data, S));
        } finally {
            settled.release();
        }
        verifyParity(4);
    }

    // ---- termination: a new master settling what an earlier one prepared --------------------------

    static final long TXID = Long.MAX_VALUE / 4;

    /** Stripe 0 written normally, then transaction TXID of a full new stripe 0 as an earlier master sends it. */
    record HandTxn(byte[] before, byte[] after, byte[][] strips, long[] oldVersions) {}

    HandTxn handTxn(long seed) throws Exception {
        Random random = new Random(seed);
        byte[] before = random(random, K * S);
        ecWriteOk(layout(), 0, before);
        return encodedTxn(before, random(random, K * S), stripVersions(K, 0));
    }

    /** The transaction of a full stripe 0 holding {@code after}: its data strips and their parity. */
    HandTxn encodedTxn(byte[] before, byte[] after, long[] oldVersions) {
        MemorySegment[] data = new MemorySegment[K];
        for (int c = 0; c < K; c++) {
            data[c] = MemorySegment.ofBuffer(ByteBuffer.allocateDirect(S).put(after, c * S, S).flip());
        }
        MemorySegment[] parity = new MemorySegment[M];
        for (int p = 0; p < M; p++) {
            parity[p] = MemorySegment.ofBuffer(ByteBuffer.allocateDirect(S));
        }
        codec.encode(data, parity, 0, S);
        byte[][] strips = new byte[K + M][];
        for (int col = 0; col < K + M; col++) {
            strips[col] = (col < K ? data[col] : parity[col - K]).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        }
        return new HandTxn(before, after, strips, oldVersions);
    }

    long[] stripVersions(int col, int stripe) throws Exception {
        return readStrip(col, stripe).versions();
    }

    /** PREPARE of the hand-made transaction's strip at {@code col}, as the master at column K sends it. */
    void prepareByHand(HandTxn txn, int col) throws Exception {
        long[] vector = new long[K];
        Arrays.fill(vector, TXID);
        long maxOld = Arrays.stream(txn.oldVersions()).max().orElse(0);
        ByteBuf payload = Unpooled.buffer();
        payload.writeBytes(txn.strips()[col]).writeInt(BlockCrc.of(ByteBuffer.wrap(txn.strips()[col])));
        new EcSection(col < K ? 1 : K, EcSection.MODE_BY_DECIDED, TXID, address(K),
                col < K ? new long[] {TXID} : vector, new long[] {col < K ? txn.oldVersions()[col] : maxOld})
                .writeTo(payload);
        request(col, DataFrame.TYPE_PREPARE, payload);
    }

    void resolveByHand(int col, boolean commit) throws Exception {
        ByteBuf payload = Unpooled.buffer();
        EcSection.settle(TXID, commit).writeTo(payload);
        request(col, DataFrame.TYPE_RESOLVE, payload);
    }

    void request(int col, int type, ByteBuf payload) throws Exception {
        DataClient.Reply reply = clients[col].request(type, UID, 0, 0, S, payload).get(30, TimeUnit.SECONDS);
        try {
            assertThat(reply.status()).as(reply.message()).isEqualTo(CsStatus.OK);
        } finally {
            reply.release();
        }
    }

    /** Each data column read directly (after the new master settled it) holds {@code expected}. */
    void assertDataColumns(byte[] expected) throws Exception {
        for (int c = 0; c < K; c++) {
            DataClient.Reply direct = directRead((long) c * S);
            try {
                assertThat(direct.status()).as(direct.message()).isEqualTo(CsStatus.OK);
                assertThat(ByteBufUtil.getBytes(direct.payload(), direct.payload().readerIndex(), S)).as("column %d", c)
                        .isEqualTo(Arrays.copyOfRange(expected, c * S, (c + 1) * S));
            } finally {
                direct.release();
            }
        }
    }

    /**
     * A held peek (which blocks a layer holds, for reads through snapshots) at a new master counts
     * the stripes an earlier master committed there without resolving them: the client was answered,
     * so the blocks are written. Answered from committed versions alone, the new master said
     * "not held" and the layered read fell through to the parent, returning a snapshot's block over
     * an acknowledged write (the thrasher, fio verify, session 20).
     */
    @Test
    void aNewMastersHeldPeekCountsWhatAnEarlierMasterCommittedButNeverResolvedThere() throws Exception {
        ecWriteOk(layout(), (long) K * S, random(new Random(13), K * S)); // stripe 1: the chunk exists
        byte[] after = random(new Random(14), K * S);
        HandTxn txn = encodedTxn(new byte[K * S], after, new long[K]); // stripe 0 never written before
        assertThat(peek(K + 1, 0, 1, EcSection.MODE_PEEK_HELD, K).versions()).as("nothing written yet")
                .containsOnly(0L);
        for (int col = 0; col < K + M; col++) {
            prepareByHand(txn, col);
        }
        resolveByHand(K, true); // the old master committed its own strips; no RESOLVE reached the rest
        assertThat(peek(K + 1, 0, 1, EcSection.MODE_PEEK_HELD, K).versions()).as("held at the next master")
                .containsOnly(TXID);
        // The read through the new master decides them (termination) and returns the write.
        assertThat(ecRead(layout(true, true, true, true, false, true), 0, K * S)).isEqualTo(after);
    }

    @Test
    void aNewMasterCommitsWhatTheOldMasterDecidedButNeverResolved() throws Exception {
        HandTxn txn = handTxn(11);
        for (int col = 0; col < K + M; col++) {
            prepareByHand(txn, col);
        }
        resolveByHand(K, true); // the old master's decision; no RESOLVE reached anyone else
        // The old master's column is reported; the next parity column is master and asks the old one.
        EcLayout next = layout(true, true, true, true, false, true);
        assertThat(ecRead(next, 0, K * S)).isEqualTo(txn.after());
        assertDataColumns(txn.after());
        verifyParity(1);
    }

    @Test
    void anOldMasterHoldingItsOwnStripsPendingLeavesItToTheColumnsWhichRollForward() throws Exception {
        HandTxn txn = handTxn(15);
        for (int col = 0; col < K + M; col++) {
            prepareByHand(txn, col); // every strip durable, the master's own included: committed
        }
        EcLayout next = layout(true, true, true, true, false, true);
        assertThat(ecRead(next, 0, K * S)).isEqualTo(txn.after());
        assertDataColumns(txn.after());
    }

    @Test
    void anOldMasterWithoutItsOwnStripsNeverCommitted() throws Exception {
        HandTxn txn = handTxn(16);
        for (int col = 0; col < K + M; col++) {
            if (col != K) {
                prepareByHand(txn, col); // the old master's own prepare never became durable
            }
        }
        EcLayout next = layout(true, true, true, true, false, true);
        assertThat(ecRead(next, 0, K * S)).isEqualTo(txn.before());
        assertDataColumns(txn.before());
        assertThat(stripVersions(K + 1, 0)).isEqualTo(txn.oldVersions());
    }

    /** Column 0's strip of stripe 0 read directly: its status and, when OK, its bytes. */
    byte[] directStrip0(CsStatus expected) throws Exception {
        DataClient.Reply direct = directRead(0);
        try {
            assertThat(direct.status()).as(direct.message()).isEqualTo(expected);
            return expected == CsStatus.OK ? ByteBufUtil.getBytes(direct.payload(), direct.payload().readerIndex(), S)
                    : null;
        } finally {
            direct.release();
        }
    }

    @Test
    void aColumnThatMissedTheOutcomeAsksTheMasterAndSettlesByItsOwnStrips() throws Exception {
        HandTxn txn = handTxn(17);
        // Committed at the master (its own strips hold the transaction), never told to column 0.
        prepareByHand(txn, 0);
        prepareByHand(txn, K);
        resolveByHand(K, true);
        directStrip0(CsStatus.PENDING);
        assertThat(servers[0].pendingResolver().resolve(0)).isEqualTo(1);
        assertThat(directStrip0(CsStatus.OK)).isEqualTo(Arrays.copyOf(txn.after(), S));
    }

    /**
     * A RESOLVE carries an outcome the master already decided: one that arrives after the column
     * learned a newer chunk version (a snapshot, a server marked down) still settles the strip, at
     * once. Refused, the strip stayed pending (no reads, its data in memory) until the column's
     * resolver asked the master 10 s later, which settles it the same way.
     */
    @Test
    void aResolveThatArrivesAfterTheChunkVersionMovedStillSettles() throws Exception {
        HandTxn txn = handTxn(20);
        prepareByHand(txn, 0);
        prepareByHand(txn, K);
        resolveByHand(K, true); // committed at the master
        servers[0].versions().chunkVersion(UID, 1); // then column 0 learns a new version
        resolveByHand(0, true); // the master's RESOLVE, sent at the write's version (0)
        chunkVersion = 1;
        assertThat(directStrip0(CsStatus.OK)).isEqualTo(Arrays.copyOf(txn.after(), S));
    }

    @Test
    void aColumnWhoseMasterNeverMadeItsOwnStripsDurableAborts() throws Exception {
        HandTxn txn = handTxn(18);
        prepareByHand(txn, 0);
        assertThat(servers[0].pendingResolver().resolve(0)).isEqualTo(1);
        assertThat(directStrip0(CsStatus.OK)).isEqualTo(Arrays.copyOf(txn.before(), S));
    }

    @Test
    void aColumnLeavesATransactionStillPendingAtItsMasterAlone() throws Exception {
        HandTxn txn = handTxn(19);
        prepareByHand(txn, 0);
        prepareByHand(txn, K);
        assertThat(servers[0].pendingResolver().resolve(0)).as("unknown: nothing settled").isZero();
        directStrip0(CsStatus.PENDING);
        // Young transactions are not asked about at all (their RESOLVE may be on its way).
        resolveByHand(K, true);
        assertThat(servers[0].pendingResolver().resolve(60_000)).isZero();
        directStrip0(CsStatus.PENDING);
    }

    @Test
    void withTheOldMasterGoneAWriteEveryColumnPreparedRollsForward() throws Exception {
        HandTxn txn = handTxn(12);
        for (int col = 0; col < K + M; col++) {
            if (col != K) {
                prepareByHand(txn, col);
            }
        }
        stop(K); // died after phase one, maybe after its decision: nobody can ask it
        EcLayout next = layout(true, true, true, true, false, true);
        assertThat(ecRead(next, 0, K * S)).isEqualTo(txn.after());
        assertDataColumns(txn.after());
        assertThat(stripVersions(K + 1, 0)).containsOnly(TXID);
    }

    @Test
    void anOldMasterWhoseColumnMetaRebuiltElsewhereLeavesItToTheColumns() throws Exception {
        HandTxn txn = handTxn(21);
        for (int col = 0; col < K + M; col++) {
            prepareByHand(txn, col);
        }
        for (int col = 0; col <= K; col++) {
            resolveByHand(col, true); // committed; the old master paused before telling column K + 1
        }
        // Meta rebuilt the old master's column elsewhere and its server deleted its copy: it answers
        // STALE_VERSION ("removed by meta") for good. Before the fix every request failed on that.
        servers[K].versions().chunkDeleted(UID);
        List<String> addresses = new ArrayList<>(layout().addresses());
        addresses.set(K, "127.0.0.1:1"); // the RECOVERING replacement, not a read source
        EcLayout next = new EcLayout(K, M, K + 1, addresses, List.of(true, true, true, true, false, true),
                List.of(false, false, false, false, true, false));
        assertThat(ecRead(next, 0, K * S)).isEqualTo(txn.after());
        assertThat(stripVersions(K + 1, 0)).containsOnly(TXID);
    }

    @Test
    void withTheOldMasterGoneAWriteSomeColumnsNeverPreparedIsAborted() throws Exception {
        HandTxn txn = handTxn(13);
        prepareByHand(txn, 0);
        prepareByHand(txn, 1);
        prepareByHand(txn, K + 1);
        stop(K); // died in phase one: columns 2 and 3 never saw the transaction, so it was never decided
        EcLayout next = layout(true, true, true, true, false, true);
        assertThat(ecRead(next, 0, K * S)).isEqualTo(txn.before());
        assertDataColumns(txn.before());
        assertThat(stripVersions(K + 1, 0)).isEqualTo(txn.oldVersions());
    }

    @Test
    void aColumnThatKnowsANewerChunkVersionFailsTheRequestStaleNotUnavailable() throws Exception {
        byte[] data = random(new Random(14), K * S);
        ecWriteOk(layout(), 0, data);
        // Meta moved the chunk on (a report by another client); column 1 heard first, the master not yet.
        servers[1].versions().chunkVersion(UID, 5);
        ByteBuf payload = Unpooled.buffer();
        layout().writeTo(payload);
        DataClient.Reply reply = clients[K].request(DataFrame.TYPE_EC_READ, UID, 0, 0, K * S, payload)
                .get(30, TimeUnit.SECONDS);
        try {
            // Not STRIPE_UNAVAILABLE (or a reconstruction): the client must refresh, not report column 1.
            assertThat(reply.status()).as(reply.message()).isEqualTo(CsStatus.STALE_VERSION);
            assertThat(reply.message()).contains(address(1)).contains("stale chunk version 0 < 5");
        } finally {
            reply.release();
        }
    }

    @Test
    void zeroedStripesFreeTheirSpaceOnEveryColumnAndKeepTheirVersions() throws Exception {
        int stripes = 64;
        byte[] data = random(new Random(20), stripes * K * S);
        EcLayout layout = layout();
        ecWriteOk(layout, 0, data);
        assertThat(ecRead(layout, 0, data.length)).isEqualTo(data); // settles every column
        long[] written = new long[K + M];
        for (int col = 0; col < K + M; col++) {
            written[col] = servers[col].store().info(UID).writtenBlocks();
            assertThat(written[col]).as("column %d", col).isEqualTo(stripes);
        }
        // What a trim of an EC volume is: zeroes through the master, whole stripes but the last.
        byte[] zeroes = new byte[data.length - S];
        ecWriteOk(layout, 0, zeroes);
        byte[] expected = new byte[data.length];
        System.arraycopy(data, data.length - S, expected, data.length - S, S);
        assertThat(ecRead(layout, 0, data.length)).isEqualTo(expected);
        for (int col = 0; col < K + M; col++) {
            // Data columns keep only the last stripe's strip that still holds data (column K - 1);
            // parity keeps the last stripe, the only one not all zeroes.
            long keep = col < K ? (col == K - 1 ? 1 : 0) : 1;
            ChunkletStore.ChunkletInfo info = servers[col].store().info(UID);
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (info.writtenBlocks() != keep && System.nanoTime() < deadline) {
                Thread.sleep(10); // the other parity column's RESOLVE follows the answer
                info = servers[col].store().info(UID);
            }
            assertThat(info.writtenBlocks()).as("column %d written blocks", col).isEqualTo(keep);
            assertThat(info.allocatedBytes()).as("column %d allocated bytes", col).isLessThanOrEqualTo(keep * S + 16 * S);
        }
        verifyParity(stripes); // versions and parity still agree over the holes
    }

    @Test
    void concurrentWritesToTheSameStripesStayConsistent() throws Exception {
        EcLayout layout = layout();
        Random random = new Random(11);
        List<CompletableFuture<DataClient.Reply>> replies = new ArrayList<>();
        for (int i = 0; i < 48; i++) {
            byte[] data = random(random, (1 + random.nextInt(8)) * S);
            long offset = (long) random.nextInt(32) * S;
            ByteBuf payload = Unpooled.buffer();
            payload.writeBytes(data);
            for (int b = 0; b < data.length / S; b++) {
                payload.writeInt(BlockCrc.of(ByteBuffer.wrap(data, b * S, S)));
            }
            layout.writeTo(payload);
            replies.add(clients[K].request(DataFrame.TYPE_EC_WRITE, UID, 0, offset, data.length, payload));
        }
        for (CompletableFuture<DataClient.Reply> reply : replies) {
            DataClient.Reply done = reply.get(60, TimeUnit.SECONDS);
            assertThat(done.status()).as(done.message()).isEqualTo(CsStatus.OK);
            done.release();
        }
        verifyParity(16);
    }

    /**
     * A PEEK whose stripes a transaction on the answering server holds waits at most
     * StripeMaster.PEEK_LOCK_WAIT_NANOS and answers PENDING ("ask again"), instead of waiting for
     * the locks as long as they are held: two servers each held stripe locks (shared slots) while
     * their freeze asked the other a PEEK_HELD, a deadlock the thrasher showed, broken only by the
     * 30 s request timeout again and again. Once the locks are free the peek answers.
     */
    @Test
    void aPeekAtStripesHeldByATransactionHereAnswersPendingInsteadOfWaitingForThem() throws Exception {
        ecWriteOk(layout(), 0, random(new Random(90), K * S));
        StripeMaster column = servers[1].freezer().master();
        java.util.concurrent.CountDownLatch held = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        Thread holder = Thread.ofPlatform().start(() -> {
            column.lock(UID, 0, 1);
            try {
                held.countDown();
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            } finally {
                column.unlock(UID, 0, 1);
            }
        });
        held.await();
        long started = System.nanoTime();
        DataClient.Reply busy = peekReply(1, 0, 1, EcSection.MODE_PEEK_HELD, 1);
        try {
            assertThat(busy.status()).as(busy.message()).isEqualTo(CsStatus.PENDING);
            assertThat(busy.message()).contains("ask again");
            assertThat(System.nanoTime() - started).isLessThan(StripeMaster.PEEK_LOCK_WAIT_NANOS * 3);
        } finally {
            busy.release();
        }
        release.countDown();
        holder.join();
        assertThat(peek(1, 0, 1, EcSection.MODE_PEEK_HELD, 1).versions()).hasSize(1);
    }

    /**
     * An EC write is counted in flight at its chunk version until the master decided it, so INFO at
     * the master reports a newer version only once the writes of the old one are through. A snapshot
     * create polls INFO on every server of the chunk for the new version: it must not return while
     * an EC write of the old version can still commit into the frozen chunk (the thrasher: a column
     * stopped with a PREPARE queued took it once resumed, after the create returned, and a later
     * read of the snapshot found a write its first read had missed). Here the write waits for the
     * stripe lock the test holds while the version moves on.
     */
    @Test
    void infoAtTheMasterReportsANewVersionOnlyOnceItsEcWritesOfTheOldOneAreThrough() throws Exception {
        long before = 5;
        fenceEverywhere(before);
        StripeMaster master = servers[K].freezer().master();
        CompletableFuture<DataClient.Reply> write;
        master.lock(UID, 0, 1);
        try {
            write = CompletableFuture.supplyAsync(() -> {
                try {
                    return ecWrite(layout(), 0, random(new Random(5), K * S));
                } catch (Exception e) {
                    throw new java.util.concurrent.CompletionException(e);
                }
            });
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
            while (master.clientRequests() == 0 && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            Thread.sleep(300); // from the queue to the stripe lock: counted before it waits there
            servers[K].versions().chunkVersion(UID, before + 1); // the snapshot's new version arrives
            assertThat(infoVersion(K)).as("an EC write of version 5 is still in flight").isEqualTo(before);
        } finally {
            master.unlock(UID, 0, 1);
        }
        DataClient.Reply reply = write.get(30, TimeUnit.SECONDS);
        try {
            assertThat(reply.status()).as("fenced again under the lock").isEqualTo(CsStatus.STALE_VERSION);
        } finally {
            reply.release();
        }
        assertThat(infoVersion(K)).isEqualTo(before + 1);
    }

    private long infoVersion(int column) throws Exception {
        DataClient.Reply info = clients[column].request(DataFrame.TYPE_INFO, UID, 0, 0, 0, null).get(30,
                TimeUnit.SECONDS);
        try {
            assertThat(info.status()).as(info.message()).isEqualTo(CsStatus.OK);
            return io.basalt.protocol.data.InfoReply.read(info.payload()).knownVersion();
        } finally {
            info.release();
        }
    }
}
