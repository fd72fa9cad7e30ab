package io.basalt.chunkserver.hot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import io.basalt.protocol.data.CsException;
import io.basalt.protocol.data.CsStatus;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.stream.Stream;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.Tuple;

/**
 * Model check of the hot store's extent map, allocator and replay (docs/hot-tier.md): random hot
 * writes (overlapping, with seqs that go up and down, so newest-wins is exercised), frees up to a
 * seq, chunk deletes, bursts of concurrent writes that share WAL batches, checkpoints (frequent: a
 * 24 KiB interval), a WAL checkpoint held back behind the hot map's LSN (as a pending EC prepare
 * holds it), process crashes and power losses (every slot written since the last map garbled).
 * After every step each block reads back byte for byte what the model says with its seq, every read
 * passes its CRC, and the store uses exactly as many slots as the model has blocks (no slot leaks,
 * none shared). A small capacity (24 slots) makes writes meet HOT_FULL, which must leave the store
 * unchanged.
 */
class HotStoreProperties {
    static final int CHUNKS = 2;
    static final int BLOCKS = 12;
    static final int CAPACITY_SLOTS = 24;

    sealed interface Op permits Write, Burst, Free, Delete, Crash, PowerLoss, Hold, Release {}

    record Write(int chunk, int block, int count, long seq, int seed) implements Op {}

    record Burst(List<Write> writes) implements Op {}

    record Free(int chunk, int block, int count, long seqMax) implements Op {}

    record Delete(int chunk) implements Op {}

    record Crash() implements Op {}

    record PowerLoss(int seed) implements Op {}

    /** From now on the WAL checkpoint stays behind the next LSN (hot.map keeps moving). */
    record Hold() implements Op {}

    record Release() implements Op {}

    /** One model block: its seq and data. */
    record Block(long seq, byte[] data) {}

    @Provide
    Arbitrary<List<Op>> ops() {
        Arbitrary<Integer> chunk = Arbitraries.integers().between(0, CHUNKS - 1);
        Arbitrary<Integer> block = Arbitraries.integers().between(0, BLOCKS - 1);
        Arbitrary<Integer> count = Arbitraries.integers().between(1, 4);
        Arbitrary<Long> seq = Arbitraries.longs().between(1, 30);
        Arbitrary<Write> write = Combinators.combine(chunk, block, count, seq, Arbitraries.integers().between(1, 1 << 20))
                .as(Write::new);
        Arbitrary<Op> free = Combinators.combine(chunk, block, count.map(c -> c * 2), seq).as(Free::new);
        return Arbitraries.frequencyOf(
                Tuple.of(10, write.map(w -> (Op) w)),
                Tuple.of(3, write.list().ofMinSize(2).ofMaxSize(6).map(Burst::new)),
                Tuple.of(4, free),
                Tuple.of(1, chunk.map(Delete::new)),
                Tuple.of(2, Arbitraries.just(new Crash())),
                Tuple.of(2, Arbitraries.integers().map(PowerLoss::new)),
                Tuple.of(1, Arbitraries.just(new Hold())),
                Tuple.of(1, Arbitraries.just(new Release())))
                .list().ofMinSize(1).ofMaxSize(40);
    }

    @Property(tries = 30)
    void everyBlockReadsAsTheModelSaysThroughCrashesAndReplay(@ForAll("ops") List<Op> ops) throws Exception {
        Path dir = Files.createTempDirectory("hot-store");
        Map<Long, Block>[] model = newModel();
        HotHarness h = new HotHarness(dir, CAPACITY_SLOTS * 4096L, 24 * 1024);
        try {
            int step = 0;
            for (Op op : ops) {
                step++;
                switch (op) {
                    case Write w -> {
                        boolean full = used(model) + w.count() > CAPACITY_SLOTS;
                        try {
                            HotHarness.await(h.submitWrite(w.chunk(), w.block(), data(w), w.seq()));
                            assertThat(full).as("step %d: %s accepted with %d of %d slots used", step, w,
                                    used(model), CAPACITY_SLOTS).isFalse();
                            apply(model, w);
                        } catch (CsException e) {
                            assertThat(e.status()).as("step %d: %s", step, e).isEqualTo(CsStatus.HOT_FULL);
                            assertThat(full).as("step %d: %s refused with only %d of %d slots used", step, w,
                                    used(model), CAPACITY_SLOTS).isTrue();
                        }
                    }
                    case Burst b -> {
                        // Several writes in flight at once share WAL batches; they are applied in
                        // submission order (one queue), but which of them the full store refuses depends
                        // on the batching: each one is all or nothing.
                        List<CompletableFuture<Long>> futures = new ArrayList<>();
                        for (Write w : b.writes()) {
                            futures.add(h.submitWrite(w.chunk(), w.block(), data(w), w.seq()));
                        }
                        for (int i = 0; i < futures.size(); i++) {
                            try {
                                HotHarness.await(futures.get(i));
                                apply(model, b.writes().get(i));
                            } catch (CsException e) {
                                assertThat(e.status()).as("step %d: %s", step, e).isEqualTo(CsStatus.HOT_FULL);
                            }
                        }
                    }
                    case Free f -> {
                        HotHarness.await(h.submitFree(f.chunk(), f.block(), f.count(), f.seqMax()));
                        model[f.chunk()].entrySet().removeIf(e -> e.getKey() >= f.block()
                                && e.getKey() < f.block() + f.count() && e.getValue().seq() <= f.seqMax());
                    }
                    case Delete d -> {
                        HotHarness.await(h.submitDelete(d.chunk()));
                        model[d.chunk()].clear();
                    }
                    case Crash c -> h.crashAndReopen();
                    case PowerLoss p -> h.powerLossAndReopen(p.seed());
                    case Hold hold -> h.holdFromLsn = Math.min(h.holdFromLsn, h.nextLsn());
                    case Release release -> h.holdFromLsn = Long.MAX_VALUE;
                }
                check(h, model, step, op);
            }
            h.crashAndReopen();
            check(h, model, step, "final crash");
        } finally {
            try {
                h.close();
            } finally {
                deleteTree(dir); // also when a failed replay left the harness half closed
            }
        }
    }

    /** Distinct data per write, so that a write with an equal seq (which must not win) shows. */
    private static byte[] data(Write w) {
        byte[] data = new byte[w.count() * 4096];
        new Random(w.seed() * 31L + w.seq()).nextBytes(data);
        return data;
    }

    private static void apply(Map<Long, Block>[] model, Write w) {
        byte[] data = data(w);
        for (int i = 0; i < w.count(); i++) {
            long block = w.block() + i;
            Block current = model[w.chunk()].get(block);
            if (current == null || current.seq() < w.seq()) {
                model[w.chunk()].put(block, new Block(w.seq(), java.util.Arrays.copyOfRange(data, i * 4096,
                        (i + 1) * 4096)));
            }
        }
    }

    private static int used(Map<Long, Block>[] model) {
        int used = 0;
        for (Map<Long, Block> chunk : model) {
            used += chunk.size();
        }
        return used;
    }

    private static void check(HotHarness h, Map<Long, Block>[] model, int step, Object op) throws CsException {
        for (int chunk = 0; chunk < CHUNKS; chunk++) {
            for (long block = 0; block < BLOCKS + 4; block++) {
                Block expected = model[chunk].get(block);
                ByteBuf out = Unpooled.buffer(4096);
                HotStore.HotBlock found = h.hot.read(chunk, block, out);
                if (expected == null) {
                    assertThat(found).as("step %d (%s): chunk %d block %d should not be hot", step, op, chunk, block)
                            .isNull();
                    assertThat(h.hot.seq(chunk, block)).isEqualTo(-1);
                    continue;
                }
                if (found == null) {
                    fail("step %d (%s): chunk %d block %d (seq %d) is missing", step, op, chunk, block,
                            expected.seq());
                }
                assertThat(found.seq()).as("step %d (%s): seq of chunk %d block %d", step, op, chunk, block)
                        .isEqualTo(expected.seq());
                assertThat(ByteBufUtil.getBytes(out)).as("step %d (%s): data of chunk %d block %d", step, op, chunk,
                        block).isEqualTo(expected.data());
                List<long[]> listed = h.hot.blocks(chunk, block, block + 1);
                assertThat(listed).hasSize(1);
                assertThat(listed.get(0)[1]).isEqualTo(expected.seq());
            }
        }
        assertThat(h.hot.usedSlots()).as("step %d (%s): slots used (no leak, none shared)", step, op)
                .isEqualTo(used(model));
    }

    @SuppressWarnings("unchecked")
    private static Map<Long, Block>[] newModel() {
        Map<Long, Block>[] model = new Map[CHUNKS];
        for (int i = 0; i < CHUNKS; i++) {
            model[i] = new HashMap<>();
        }
        return model;
    }

    static void deleteTree(Path dir) throws java.io.IOException {
        try (Stream<Path> paths = Files.walk(dir)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        }
    }
}
