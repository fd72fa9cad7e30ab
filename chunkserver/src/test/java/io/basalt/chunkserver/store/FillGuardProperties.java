package io.basalt.chunkserver.store;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.chunkserver.wal.WalRecordFormat;
import io.basalt.protocol.data.BlockCrc;
import io.basalt.protocol.data.DataClient;
import io.netty.buffer.ByteBuf;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * Model check of recovery fills against client writes on one chunklet: whatever the interleaving of
 * client writes and trims (at versions below and at or above the recovery's start version) and FILL
 * records (the copy from a source), every block ends as the model says: a fill takes effect only where
 * no write or trim at the start version or later got there first. The same holds after a crash and WAL
 * replay, which decides every fill again in WAL order.
 */
class FillGuardProperties {
    static final long UID = 0x77L;
    static final int BLOCKS = 6;
    static final long GUARD = 5;

    sealed interface Op permits Write, Trim, Fill {}

    record Write(int block, long version, int seed) implements Op {}

    record Trim(int block, long version) implements Op {}

    /** kind: ChunkletStore.FILL_UNTOUCHED, FILL_ZERO, FILL_DATA or FILL_SKIP. */
    record Fill(int block, int kind, long version, int seed) implements Op {}

    @Provide
    Arbitrary<List<Op>> ops() {
        Arbitrary<Integer> block = Arbitraries.integers().between(0, BLOCKS - 1);
        Arbitrary<Long> version = Arbitraries.longs().between(1, 8);
        Arbitrary<Integer> seed = Arbitraries.integers().between(1, 1000);
        Arbitrary<Op> write = Combinators.combine(block, version, seed).as(Write::new);
        Arbitrary<Op> trim = Combinators.combine(block, version).as(Trim::new);
        Arbitrary<Op> fill = Combinators.combine(block, Arbitraries.of(ChunkletStore.FILL_UNTOUCHED,
                ChunkletStore.FILL_ZERO, ChunkletStore.FILL_DATA, ChunkletStore.FILL_DATA, ChunkletStore.FILL_SKIP),
                version, seed).as(Fill::new);
        return Arbitraries.frequencyOf(
                net.jqwik.api.Tuple.of(3, write), net.jqwik.api.Tuple.of(1, trim), net.jqwik.api.Tuple.of(4, fill))
                .list().ofMinSize(1).ofMaxSize(30);
    }

    @Property(tries = 60)
    void aFillNeverOverwritesWhatAClientWroteSinceTheRecoveryBegan(@ForAll("ops") List<Op> ops) throws Exception {
        Path dir = Files.createTempDirectory("fill-guard");
        try {
            long[] modelVersion = new long[BLOCKS];
            byte[][] model = new byte[BLOCKS][4096];
            StoreHarness h = new StoreHarness(dir);
            try {
                for (Op op : ops) {
                    switch (op) {
                        case Write w -> {
                            byte[] data = data(w.seed());
                            StoreHarness.await(h.submit(WalRecordFormat.TYPE_WRITE, UID, w.block() * 4096L, 4096,
                                    DataClient.writePayload(StoreHarness.ALLOC, data), w.version()));
                            modelVersion[w.block()] = w.version();
                            model[w.block()] = data;
                        }
                        case Trim t -> {
                            StoreHarness.await(h.submit(WalRecordFormat.TYPE_TRIM, UID, t.block() * 4096L, 4096, null,
                                    t.version()));
                            modelVersion[t.block()] = t.version();
                            model[t.block()] = new byte[4096];
                        }
                        case Fill f -> {
                            StoreHarness.await(h.submit(WalRecordFormat.TYPE_FILL, UID, f.block() * 4096L, 4096,
                                    fillPayload(f), GUARD));
                            if (f.kind() != ChunkletStore.FILL_SKIP && modelVersion[f.block()] < GUARD) {
                                modelVersion[f.block()] = f.kind() == ChunkletStore.FILL_UNTOUCHED ? 0 : f.version();
                                model[f.block()] = f.kind() == ChunkletStore.FILL_DATA ? data(f.seed()) : new byte[4096];
                            }
                        }
                    }
                }
                check(h, model, modelVersion);
                h.crash();
                h = new StoreHarness(dir);
                check(h, model, modelVersion);
            } finally {
                h.close();
            }
        } finally {
            try (var files = Files.walk(dir)) {
                for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
    }

    private static void check(StoreHarness h, byte[][] model, long[] modelVersion) throws Exception {
        ByteBuf map = StoreHarness.ALLOC.heapBuffer();
        try {
            h.store.blockMap(UID, 0, BLOCKS * 4096, map);
            for (int b = 0; b < BLOCKS; b++) {
                assertThat(h.read(UID, b * 4096L, 4096)).as("block %d", b).isEqualTo(model[b]);
                assertThat(map.getLong(b * WalRecordFormat.FILL_BLOCK_BYTES + 1)).as("version of block %d", b)
                        .isEqualTo(modelVersion[b]);
            }
        } finally {
            map.release();
        }
    }

    private static byte[] data(int seed) {
        byte[] data = new byte[4096];
        new Random(seed).nextBytes(data);
        return data;
    }

    private static ByteBuf fillPayload(Fill f) {
        ByteBuf payload = StoreHarness.ALLOC.buffer();
        byte[] data = data(f.seed());
        payload.writeByte(f.kind());
        payload.writeLong(f.version());
        payload.writeInt(f.kind() == ChunkletStore.FILL_DATA ? BlockCrc.of(io.netty.buffer.Unpooled.wrappedBuffer(data),
                0, 4096) : 0);
        if (f.kind() == ChunkletStore.FILL_DATA) {
            payload.writeBytes(data);
        }
        return payload;
    }

}
