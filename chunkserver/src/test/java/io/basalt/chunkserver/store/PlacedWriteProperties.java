package io.basalt.chunkserver.store;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.chunkserver.wal.WalEntry;
import io.basalt.chunkserver.wal.WalRecordFormat;
import io.basalt.chunkserver.wal.WalSink;
import io.basalt.chunkserver.wal.WalWriter;
import io.basalt.protocol.data.CsException;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;

/**
 * Big first writes written in place (WRITE_PLACED): random groups of concurrent writes (big and
 * small, overlapping, so the writer batches them together) and trims, with crashes. At some
 * batches the "disk" fails just before the placed data is synced: the batch must fail, and the
 * crash that follows also loses that unsynced data (the test overwrites it with garbage in the
 * chunklet file, as a lost page cache would leave it). After every replay each block must hold
 * what the last acknowledged write or trim left, or for a block an unacknowledged write touched,
 * either that or the new data, and every read passes its CRC. A build that logged the record
 * before syncing the data, or that placed a write over data a block still needed, fails here.
 */
class PlacedWriteProperties {
    private static final long UID = 0x51;
    private static final int BLOCKS = 256;
    private static final int BLOCK = 4096;

    /** Forwards to the store; can fail the next data sync and remembers what it left unsynced. */
    private static final class FaultySink implements WalSink {
        final ChunkletStore store;
        boolean failNextForce;
        final List<long[]> unsynced = new ArrayList<>();

        FaultySink(ChunkletStore store) {
            this.store = store;
        }

        @Override
        public void prepare(WalEntry entry) throws CsException {
            store.prepare(entry);
            if (entry.placed() && entry.type() == WalRecordFormat.TYPE_FILL) {
                PLACED_FILLS.incrementAndGet();
            }
            if (entry.placed()) {
                unsynced.add(new long[] {entry.offsetBytes(), entry.lengthBytes()});
            }
        }

        @Override
        public void forcePlaced() throws IOException {
            if (failNextForce && !unsynced.isEmpty()) {
                failNextForce = false;
                throw new IOException("injected: the data disk failed before the sync");
            }
            store.forcePlaced();
            unsynced.clear();
        }

        @Override
        public void batchEnded() {
            store.batchEnded();
        }

        @Override
        public void apply(WalEntry entry) throws IOException {
            if (entry.placed()) {
                assertThat(unsynced).as("a placed write is applied (its record durable) before its data"
                        + " was synced").noneMatch(r -> r[0] == entry.offsetBytes());
            }
            store.apply(entry);
        }

        @Override
        public void checkpoint() throws IOException {
            store.checkpoint();
        }

        @Override
        public void checkpointed(long lsn) {
            store.checkpointed(lsn);
        }

        @Override
        public long retainFromLsn() {
            return store.retainFromLsn();
        }
    }

    /** kind: 0 write, 1 trim, 2 fill (a recovery copy, guard {@link #GUARD}); version: the fence. */
    private record Op(int block, int blocks, int kind, long version, long seed) {}

    private static final long GUARD = 10;
    /** Fills placed over all tries: the property must have exercised FILL_PLACED too. */
    private static final java.util.concurrent.atomic.AtomicLong PLACED_FILLS = new java.util.concurrent.atomic.AtomicLong();

    private static boolean placedFillsBefore;

    @net.jqwik.api.lifecycle.BeforeContainer
    static void placeFillsToo() {
        placedFillsBefore = ChunkletStore.placedFills;
        ChunkletStore.placedFills = true;
    }

    @net.jqwik.api.lifecycle.AfterContainer
    static void someFillsWerePlaced() {
        ChunkletStore.placedFills = placedFillsBefore;
        assertThat(PLACED_FILLS.get()).as("recovery fills written in place").isPositive();
    }

    @Property(tries = 8)
    void placedWritesSurviveCrashesAndLostUnsyncedData(@ForAll long seed) throws Exception {
        Random random = new Random(seed);
        Path dir = Files.createTempDirectory("placed-writes");
        byte[][] model = new byte[BLOCKS][BLOCK];
        byte[][] alternative = new byte[BLOCKS][];
        long[] versions = new long[BLOCKS];
        FaultySink[] sink = new FaultySink[1];
        WalWriter.Config config = new WalWriter.Config(4L << 20, 64, 1024, 8L << 10, (1 << 20) + 1024);
        StoreHarness h = open(dir, config, sink);
        long placedBefore = 0;
        long placed = 0;
        try {
            for (int step = 0; step < 40; step++) {
                boolean fail = random.nextInt(5) == 0;
                sink[0].failNextForce = fail;
                List<Op> group = new ArrayList<>();
                for (int i = 0, n = 1 + random.nextInt(4); i < n; i++) {
                    int blocks = random.nextInt(3) == 0 ? 1 + random.nextInt(4) : 16 + random.nextInt(24);
                    int kind = random.nextInt(8) < 5 ? 0 : random.nextInt(2) + 1;
                    // Client writes and trims fence below or above the recovery's guard.
                    group.add(new Op(random.nextInt(BLOCKS - blocks + 1), blocks, kind,
                            random.nextBoolean() ? 5 : 20, random.nextLong()));
                }
                List<CompletableFuture<Long>> done = new ArrayList<>();
                for (Op op : group) {
                    long offset = (long) op.block() * BLOCK;
                    int length = op.blocks() * BLOCK;
                    done.add(switch (op.kind()) {
                        case 0 -> h.submit(WalRecordFormat.TYPE_WRITE, UID, offset, length,
                                io.basalt.protocol.data.DataClient.writePayload(StoreHarness.ALLOC, data(op)),
                                op.version());
                        case 1 -> h.submit(WalRecordFormat.TYPE_TRIM, UID, offset, length, null, op.version());
                        default -> h.submit(WalRecordFormat.TYPE_FILL, UID, offset, length, fillPayload(op), GUARD);
                    });
                }
                boolean anyFailed = false;
                for (int i = 0; i < group.size(); i++) {
                    Op op = group.get(i);
                    boolean ok;
                    try {
                        StoreHarness.await(done.get(i));
                        ok = true;
                    } catch (CsException e) {
                        ok = false;
                        anyFailed = true;
                    }
                    byte[] bytes = op.kind() == 1 ? new byte[op.blocks() * BLOCK] : data(op);
                    for (int b = 0; b < op.blocks(); b++) {
                        int at = op.block() + b;
                        byte[] block = java.util.Arrays.copyOfRange(bytes, b * BLOCK, (b + 1) * BLOCK);
                        long version = op.version();
                        if (op.kind() == 2) {
                            int fillKind = fillKind(op, b);
                            if (fillKind == ChunkletStore.FILL_SKIP || versions[at] >= GUARD) {
                                continue; // the guard keeps what a client wrote since
                            }
                            block = fillKind == ChunkletStore.FILL_DATA ? block : new byte[BLOCK];
                            version = fillKind == ChunkletStore.FILL_UNTOUCHED ? 0 : 7;
                        }
                        if (ok) {
                            model[at] = block;
                            versions[at] = version;
                            alternative[at] = null;
                        } else {
                            alternative[at] = block;
                        }
                    }
                }
                placed += h.store.placedWriteBytes() - placedBefore;
                placedBefore = h.store.placedWriteBytes();
                if (anyFailed || random.nextInt(8) == 0) {
                    List<long[]> lost = new ArrayList<>(sink[0].unsynced);
                    h.crash();
                    garble(dir, lost, random);
                    h = open(dir, config, sink);
                    placedBefore = 0;
                    check(h, model, alternative, seed);
                }
            }
            check(h, model, alternative, seed);
            assertThat(h.corruptBlocks.get()).isZero();
        } finally {
            h.close();
            try (var files = Files.walk(dir)) {
                for (Path p : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                    Files.deleteIfExists(p);
                }
            }
        }
        assertThat(placed).as("some writes were placed (seed %d)", seed).isPositive();
    }

    private static StoreHarness open(Path dir, WalWriter.Config config, FaultySink[] sink) throws IOException {
        return new StoreHarness(dir, 64L << 20, config, store -> {
            sink[0] = new FaultySink((ChunkletStore) store);
            return sink[0];
        });
    }

    /** What a lost page cache leaves where unsynced data was written: anything. */
    private static void garble(Path dir, List<long[]> ranges, Random random) throws IOException {
        Path data = dir.resolve("chunklets").resolve(String.format("%016x", UID) + ".data");
        if (ranges.isEmpty() || !Files.exists(data)) {
            return;
        }
        try (RandomAccessFile file = new RandomAccessFile(data.toFile(), "rw")) {
            for (long[] range : ranges) {
                byte[] junk = new byte[(int) range[1]];
                random.nextBytes(junk);
                file.seek(range[0]);
                file.write(junk);
            }
        }
    }

    /** Each block is the acknowledged state, or the unacknowledged write's; then that is the state. */
    private static void check(StoreHarness h, byte[][] model, byte[][] alternative, long seed) throws Exception {
        for (int b = 0; b < BLOCKS; b++) {
            byte[] read = h.read(UID, (long) b * BLOCK, BLOCK);
            if (alternative[b] != null && java.util.Arrays.equals(read, alternative[b])) {
                model[b] = read;
            } else {
                assertThat(read).as("block %d after replay (seed %d)", b, seed).isEqualTo(model[b]);
            }
            alternative[b] = null;
        }
    }

    /** A fill's kind for its block b: mostly data, some zeroes, never-written and skipped blocks. */
    private static int fillKind(Op op, int b) {
        int pick = new Random(op.seed() + b).nextInt(10);
        return pick < 7 ? ChunkletStore.FILL_DATA : pick == 7 ? ChunkletStore.FILL_ZERO
                : pick == 8 ? ChunkletStore.FILL_UNTOUCHED : ChunkletStore.FILL_SKIP;
    }

    private static io.netty.buffer.ByteBuf fillPayload(Op op) {
        byte[] data = data(op);
        io.netty.buffer.ByteBuf payload = StoreHarness.ALLOC.buffer();
        for (int b = 0; b < op.blocks(); b++) {
            int kind = fillKind(op, b);
            payload.writeByte(kind);
            payload.writeLong(kind == ChunkletStore.FILL_UNTOUCHED ? 0 : 7);
            payload.writeInt(kind == ChunkletStore.FILL_DATA
                    ? io.basalt.protocol.data.BlockCrc.of(io.netty.buffer.Unpooled.wrappedBuffer(data), b * BLOCK, BLOCK)
                    : 0);
        }
        for (int b = 0; b < op.blocks(); b++) {
            if (fillKind(op, b) == ChunkletStore.FILL_DATA) {
                payload.writeBytes(data, b * BLOCK, BLOCK);
            }
        }
        return payload;
    }

    private static byte[] data(Op op) {
        byte[] bytes = new byte[op.blocks() * BLOCK];
        new Random(op.seed()).nextBytes(bytes);
        return bytes;
    }
}
