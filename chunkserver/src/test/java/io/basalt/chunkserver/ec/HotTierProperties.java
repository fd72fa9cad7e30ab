package io.basalt.chunkserver.ec;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Arrays;
import java.util.List;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AfterTry;
import net.jqwik.api.lifecycle.BeforeTry;

/**
 * Model-based property of the hot tier (issue #18, docs/hot-tier.md) on six in-process chunk
 * servers of one ec4+2 chunk, fresh for every try: random hot writes (part of a stripe, to the
 * stripe master, which logs them on the m + 1 hot replicas; or runs of whole stripes made hot, which
 * the freezer commits as one EC write), cold EC writes and zero writes (what
 * a trim of an EC volume is) over them, reads through the master and plain reads of data columns,
 * freezer passes (the stripes being frozen meanwhile overwritten by the next ops), and restarts of
 * any column (WAL and hot map replay), in any order. Every read equals an in-memory model byte for
 * byte (newest wins between hot copies and stripes, whichever came last). At the end the freezer
 * drains every hot store, the region still reads as the model, and every stripe's parity and
 * strip versions agree with its data columns. Which blocks are held (the held PEEK that reads
 * through snapshot layers ask, docs/snapshots.md) is asked at the master and at every data column
 * between ops and at the end: exactly the blocks written, whether hot, frozen or cold.
 */
class HotTierProperties extends EcFixture {
    static final int REGION_BLOCKS = 8 * K; // 8 stripes: ops collide often

    @BeforeTry
    void startServers() throws java.io.IOException {
        setUp();
    }

    @AfterTry
    void stopServers() throws Exception {
        tearDown();
    }

    enum Kind { HOT_WRITE, HOT_FILL, EC_WRITE, ZERO_WRITE, READ, DIRECT_READ, FREEZE, RESTART, HELD }

    record Op(Kind kind, int firstBlock, int blocks, long seed, int column) {}

    @Provide
    Arbitrary<List<Op>> ops() {
        Arbitrary<Kind> kind = Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(6, Arbitraries.just(Kind.HOT_WRITE)),
                net.jqwik.api.Tuple.of(2, Arbitraries.just(Kind.HOT_FILL)),
                net.jqwik.api.Tuple.of(2, Arbitraries.just(Kind.EC_WRITE)),
                net.jqwik.api.Tuple.of(1, Arbitraries.just(Kind.ZERO_WRITE)),
                net.jqwik.api.Tuple.of(2, Arbitraries.just(Kind.READ)),
                net.jqwik.api.Tuple.of(2, Arbitraries.just(Kind.DIRECT_READ)),
                net.jqwik.api.Tuple.of(2, Arbitraries.just(Kind.FREEZE)),
                net.jqwik.api.Tuple.of(1, Arbitraries.just(Kind.RESTART)),
                net.jqwik.api.Tuple.of(2, Arbitraries.just(Kind.HELD)));
        Arbitrary<Op> op = Combinators.combine(kind, Arbitraries.integers().between(0, REGION_BLOCKS - 1),
                        Arbitraries.integers().between(1, 2 * K), Arbitraries.longs(),
                        Arbitraries.integers().between(0, K + M - 1))
                .as(Op::new);
        return op.list().ofMinSize(10).ofMaxSize(40);
    }

    @Property(tries = 25)
    void everyReadMatchesTheModelAndTheFrozenStripesAreConsistent(@ForAll("ops") List<Op> ops) throws Exception {
        byte[] model = new byte[REGION_BLOCKS * S];
        boolean[] written = new boolean[REGION_BLOCKS];
        // Blocks whose last write was zeroes: a data column that holds no chunklet keeps such a strip
        // as nothing at all, so only the master's answer is checked for them (docs/snapshots.md,
        // "Not done yet" 3).
        boolean[] zeroed = new boolean[REGION_BLOCKS];
        for (Op op : ops) {
            String step = op.toString();
            switch (op.kind()) {
                case HOT_WRITE -> {
                    // Part of one stripe (a whole stripe, or more, goes to the stripes).
                    int inStripe = op.firstBlock() % K;
                    int blocks = Math.min(Math.min(op.blocks(), K - inStripe), K - 1);
                    byte[] data = random(new Random(op.seed()), blocks * S);
                    writeOk(true, (long) op.firstBlock() * S, data);
                    System.arraycopy(data, 0, model, op.firstBlock() * S, data.length);
                    Arrays.fill(written, op.firstBlock(), op.firstBlock() + blocks, true);
                    Arrays.fill(zeroed, op.firstBlock(), op.firstBlock() + blocks, false);
                }
                case HOT_FILL -> {
                    // Whole stripes made hot by two writes each (a whole stripe is never one hot
                    // write): the freezer takes a run of such stripes as one EC write.
                    int first = op.firstBlock() / K;
                    int stripes = Math.min(op.blocks(), REGION_BLOCKS / K - first);
                    Random random = new Random(op.seed());
                    for (int stripe = first; stripe < first + stripes; stripe++) {
                        byte[] data = random(random, K * S);
                        writeOk(true, (long) stripe * K * S, Arrays.copyOfRange(data, 0, (K - 1) * S));
                        writeOk(true, ((long) stripe * K + K - 1) * S, Arrays.copyOfRange(data, (K - 1) * S,
                                K * S));
                        System.arraycopy(data, 0, model, stripe * K * S, data.length);
                    }
                    Arrays.fill(written, first * K, (first + stripes) * K, true);
                    Arrays.fill(zeroed, first * K, (first + stripes) * K, false);
                }
                case EC_WRITE, ZERO_WRITE -> {
                    int blocks = Math.min(op.blocks(), REGION_BLOCKS - op.firstBlock());
                    byte[] data = op.kind() == Kind.EC_WRITE ? random(new Random(op.seed()), blocks * S)
                            : new byte[blocks * S];
                    writeOk(false, (long) op.firstBlock() * S, data);
                    System.arraycopy(data, 0, model, op.firstBlock() * S, data.length);
                    Arrays.fill(written, op.firstBlock(), op.firstBlock() + blocks, true); // zeroes hide a parent
                    Arrays.fill(zeroed, op.firstBlock(), op.firstBlock() + blocks, op.kind() == Kind.ZERO_WRITE);
                }
                case READ -> {
                    int blocks = Math.min(op.blocks(), REGION_BLOCKS - op.firstBlock());
                    int offset = op.firstBlock() * S;
                    assertThat(untilReachable(() -> ecRead(layout(), offset, blocks * S))).as(step)
                            .isEqualTo(Arrays.copyOfRange(model, offset, offset + blocks * S));
                }
                case DIRECT_READ -> {
                    int offset = op.firstBlock() * S;
                    assertThat(direct(offset)).as(step).isEqualTo(Arrays.copyOfRange(model, offset, offset + S));
                }
                case FREEZE -> servers[K].freezer().runOnce(true);
                case HELD -> untilReachable(() -> {
                    assertHeld(written, zeroed, step);
                    return null;
                });
                case RESTART -> {
                    int port = servers[op.column()].address().getPort();
                    stop(op.column());
                    start(op.column(), port);
                }
            }
        }
        // A restarted master learns the chunk's layout from its next hot write (or from meta, which
        // this fixture has not): rewrite block 0 as it is, then freeze until nothing is hot. Every
        // server's pass, as their own threads do every few seconds: a copy that a cold write made
        // dead is swept by the server holding it (the master frees replicas only of what it froze).
        writeOk(true, 0, Arrays.copyOfRange(model, 0, S));
        written[0] = true;
        for (int block = 0; block < REGION_BLOCKS; block++) {
            // Frozen, a block of zeroes is an all-zero strip, kept as a hole like a zero write's.
            zeroed[block] = Arrays.equals(model, block * S, (block + 1) * S, new byte[S], 0, S);
        }
        // A column restarted before a transaction's RESOLVE reached it keeps the strip pending until
        // its resolver asks the master (every few seconds in a server): a parity column's copies over
        // such a strip are dead only once it is settled, so each pass settles first.
        for (int pass = 0; pass < 20 && hotBlocks() > 0; pass++) {
            for (int i = 0; i < K + M; i++) {
                servers[i].pendingResolver().resolve(0);
                servers[i].freezer().runOnce(true);
            }
        }
        assertThat(hotBlocks()).as("hot blocks left after freezing: %s", hotState()).isZero();
        assertThat(untilReachable(() -> ecRead(layout(), 0, model.length))).isEqualTo(model);
        for (int block = 0; block < REGION_BLOCKS; block++) {
            assertThat(direct((long) block * S)).as("block %d", block)
                    .isEqualTo(Arrays.copyOfRange(model, block * S, (block + 1) * S));
        }
        verifyParity(REGION_BLOCKS / K);
        untilReachable(() -> {
            assertHeld(written, zeroed, "at the end");
            return null;
        });
    }

    /** A hot or EC write to the master that must succeed (sent again as {@link #untilReachable} says). */
    private void writeOk(boolean hot, long offset, byte[] data) throws Exception {
        untilReachable(() -> {
            if (hot) {
                hotWriteOk(layout(), offset, data);
            } else {
                ecWriteOk(layout(), offset, data);
            }
            return null;
        });
    }

    /**
     * Runs {@code op} again, as a client does (ChunkRetries), while it fails because the master found
     * a column unreachable a moment ago: a column restarted by an earlier op, which a background pass
     * (sweep, resolver) tried to reach while it was down. Such a refusal aborts a write and writes
     * nothing, so every op here may be repeated.
     */
    private static <T> T untilReachable(java.util.concurrent.Callable<T> op) throws Exception {
        for (int attempt = 1; ; attempt++) {
            try {
                return op.call();
            } catch (Exception | AssertionError e) {
                boolean unreachable = false;
                for (Throwable t = e; t != null; t = t.getCause()) {
                    unreachable |= String.valueOf(t.getMessage()).contains("unreachable (last connect failed");
                }
                if (!unreachable || attempt == 20) {
                    throw e;
                }
            }
            Thread.sleep(100);
        }
    }

    /**
     * A held PEEK of the region at the master (k versions a strip) and at each data column (one)
     * says held exactly for the blocks written; a column that took nothing of the chunk yet may
     * answer that it has no column here, which is right only when none of its blocks was written.
     */
    private void assertHeld(boolean[] written, boolean[] zeroed, String step) throws Exception {
        int stripes = REGION_BLOCKS / K;
        boolean[] atMaster = held(K, stripes, K);
        for (int block = 0; block < REGION_BLOCKS; block++) {
            assertThat(atMaster[block]).as("%s: the master holds block %d", step, block).isEqualTo(written[block]);
        }
        for (int column = 0; column < K; column++) {
            boolean[] atColumn = held(column, stripes, 1);
            for (int stripe = 0; stripe < stripes; stripe++) {
                int block = stripe * K + column;
                if (!zeroed[block]) {
                    assertThat(atColumn[stripe]).as("%s: data column %d holds block %d", step, column, block)
                            .isEqualTo(written[block]);
                }
            }
        }
    }

    /** Per version of a held PEEK at {@code column}: held; all false when it has no column of the chunk. */
    private boolean[] held(int column, int stripes, int width) throws Exception {
        io.basalt.protocol.data.DataClient.Reply reply = peekReply(column, 0, stripes,
                io.basalt.protocol.data.EcSection.MODE_PEEK_HELD, width);
        try {
            boolean[] held = new boolean[stripes * width];
            if (reply.status() == io.basalt.protocol.data.CsStatus.UNAVAILABLE
                    && reply.message().contains(StripeMaster.NO_COLUMN_HERE)) {
                return held;
            }
            assertThat(reply.status()).as(reply.message()).isEqualTo(io.basalt.protocol.data.CsStatus.OK);
            io.netty.buffer.ByteBuf out = reply.payload();
            io.basalt.protocol.data.EcSection view = io.basalt.protocol.data.EcSection.read(out, out.readerIndex(),
                    out.readableBytes(), stripes);
            for (int i = 0; i < held.length; i++) {
                // As the client counts them (BlockPresence): at a data column a strip whose transaction
                // is still pending here (acknowledged, its RESOLVE on its way) is held.
                held[i] = view.versions()[i] != 0 || (width == 1 && view.decided()[i] != 0);
            }
            return held;
        } finally {
            reply.release();
        }
    }

    /** Each column's hot blocks as [key, seq] (parity columns key by 2^40 + logical block), for a failure. */
    private String hotState() {
        StringBuilder out = new StringBuilder();
        for (int i = 0; i < K + M; i++) {
            out.append("\ncolumn ").append(i).append(':');
            for (long[] block : servers[i].hot().blocks(UID, 0, Long.MAX_VALUE)) {
                long key = block[0] >= io.basalt.chunkserver.hot.HotStore.PARITY_KEY_BASE
                        ? block[0] - io.basalt.chunkserver.hot.HotStore.PARITY_KEY_BASE : block[0];
                out.append(' ').append(key).append("@").append(block[1]);
            }
            for (var txn : servers[i].store().pendingTxns(0)) {
                out.append(" pending txn ").append(txn.txid()).append(" blocks ").append(txn.firstBlock()).append('+')
                        .append(txn.count());
            }
        }
        return out.toString();
    }

    private int hotBlocks() {
        int blocks = 0;
        for (int i = 0; i < K + M; i++) {
            blocks += servers[i].hot().usedSlots();
        }
        return blocks;
    }
}
