package io.basalt.chunkserver.hot;

import io.basalt.chunkserver.store.ChunkletStore;
import io.basalt.chunkserver.wal.WalEntry;
import io.basalt.chunkserver.wal.WalRecordFormat;
import io.basalt.chunkserver.wal.WalSink;
import io.basalt.chunkserver.wal.WalWriter;
import io.basalt.protocol.data.BlockCrc;
import io.basalt.protocol.data.CsException;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * A chunk server's stores as the WAL drives them (chunklet store + hot store through a
 * {@link TieredSink}), in one directory, with crash and reopen. {@link #holdCheckpointAt} makes the
 * WAL's checkpoint lag behind what the stores forced, as a pending EC prepare does.
 */
final class HotHarness implements AutoCloseable {
    final Path dir;
    final long hotCapacityBytes;
    final WalWriter.Config walConfig;
    ChunkletStore cold;
    HotStore hot;
    WalWriter wal;
    /** While not Long.MAX_VALUE, the WAL checkpoint never passes this LSN - 1. */
    volatile long holdFromLsn = Long.MAX_VALUE;

    HotHarness(Path dir, long hotCapacityBytes, long checkpointIntervalBytes) throws IOException {
        this.dir = dir;
        this.hotCapacityBytes = hotCapacityBytes;
        this.walConfig = new WalWriter.Config(1L << 20, 16, 1024, checkpointIntervalBytes, 256 * 1024);
        open();
    }

    private void open() throws IOException {
        cold = ChunkletStore.open(dir.resolve("chunklets"), 16L << 20, 0, ChunkletStore.Listener.NONE);
        hot = HotStore.open(dir.resolve("hot"), hotCapacityBytes);
        TieredSink tiered = new TieredSink(cold, hot);
        WalSink held = new WalSink() {
            @Override
            public void prepare(WalEntry entry) throws CsException {
                tiered.prepare(entry);
            }

            @Override
            public void batchEnded() {
                tiered.batchEnded();
            }

            @Override
            public void apply(WalEntry entry) throws IOException {
                tiered.apply(entry);
            }

            @Override
            public void checkpoint() throws IOException {
                tiered.checkpoint();
            }

            @Override
            public void checkpointed(long lsn) {
                tiered.checkpointed(lsn);
            }

            @Override
            public long retainFromLsn() {
                return Math.min(holdFromLsn, tiered.retainFromLsn());
            }
        };
        wal = WalWriter.open(dir.resolve("wal"), held, walConfig, WalWriter.Listener.NONE);
    }

    /** The next LSN the WAL will give (tests hold the checkpoint there). */
    long nextLsn() {
        return wal.durableLsn() + 1;
    }

    static ByteBuf hotWritePayload(byte[] data, long seq) {
        int blocks = data.length / 4096;
        ByteBuf payload = Unpooled.buffer(data.length + 4 * blocks + WalRecordFormat.HOT_SECTION_BYTES + 4 * blocks);
        payload.writeBytes(data);
        for (int i = 0; i < blocks; i++) {
            payload.writeInt(BlockCrc.of(payload, i * 4096, 4096));
        }
        payload.writeByte(WalRecordFormat.HOT_FORMAT_VERSION);
        payload.writeZero(3);
        payload.writeLong(seq);
        payload.writeZero(4 * blocks); // slots: the hot store fills them in at prepare
        return payload;
    }

    CompletableFuture<Long> submitWrite(long chunkUid, long firstBlock, byte[] data, long seq) {
        return submit(new Submission(WalRecordFormat.TYPE_HOT_WRITE, chunkUid, firstBlock * 4096, data.length,
                hotWritePayload(data, seq)));
    }

    CompletableFuture<Long> submitFree(long chunkUid, long firstBlock, int blocks, long seqMax) {
        ByteBuf payload = Unpooled.buffer(WalRecordFormat.HOT_SECTION_BYTES);
        payload.writeByte(WalRecordFormat.HOT_FORMAT_VERSION);
        payload.writeZero(3);
        payload.writeLong(seqMax);
        return submit(new Submission(WalRecordFormat.TYPE_HOT_FREE, chunkUid, firstBlock * 4096, blocks * 4096,
                payload));
    }

    CompletableFuture<Long> submitDelete(long chunkUid) {
        return submit(new Submission(WalRecordFormat.TYPE_DELETE_CHUNKLET, chunkUid, 0, 0, null));
    }

    record Submission(int type, long chunkUid, long offsetBytes, int lengthBytes, ByteBuf payload) {}

    private CompletableFuture<Long> submit(Submission s) {
        CompletableFuture<Long> done = new CompletableFuture<>();
        wal.submit(new WalEntry(s.type(), s.chunkUid(), s.offsetBytes(), s.lengthBytes(), s.payload(),
                (entry, error) -> {
                    if (error != null) {
                        done.completeExceptionally(error);
                    } else {
                        done.complete(entry.lsn());
                    }
                }));
        return done;
    }

    static long await(CompletableFuture<Long> future) throws Exception {
        try {
            return future.get(30, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof CsException cs) {
                throw cs;
            }
            throw e;
        }
    }

    /** Stops like a crash (no checkpoint) and opens again: replay. */
    void crashAndReopen() throws IOException {
        wal.abandon();
        hot.close();
        cold.close();
        open();
    }

    /**
     * As {@link #crashAndReopen}, but the machine lost power: every slot of hot.data written since the
     * last hot.map (so not forced) may hold anything. Garbage goes into every slot except those
     * hot.map refers to whose data still matches the CRC hot.map gives (those were forced before the
     * map was written, and nothing rewrote them; a slot rewritten since is garbled).
     */
    void powerLossAndReopen(long garbageSeed) throws IOException {
        wal.abandon();
        hot.close();
        cold.close();
        Path mapFile = dir.resolve("hot").resolve(HotStore.MAP_FILE);
        java.util.Set<Integer> keep = new java.util.HashSet<>();
        java.util.Random random = new java.util.Random(garbageSeed);
        try (java.nio.channels.FileChannel data = java.nio.channels.FileChannel.open(
                dir.resolve("hot").resolve(HotStore.DATA_FILE), java.nio.file.StandardOpenOption.READ,
                java.nio.file.StandardOpenOption.WRITE)) {
            if (java.nio.file.Files.exists(mapFile)) {
                for (HotMapFormat.Entry entry : HotMapFormat.decode(java.nio.ByteBuffer.wrap(
                        java.nio.file.Files.readAllBytes(mapFile)), mapFile).entries()) {
                    java.nio.ByteBuffer block = java.nio.ByteBuffer.allocate(4096);
                    data.read(block, (long) entry.slot() * 4096);
                    block.flip();
                    if (block.remaining() == 4096 && BlockCrc.of(block) == entry.crc()) {
                        keep.add(entry.slot());
                    }
                }
            }
            long slots = data.size() / 4096;
            for (int slot = 0; slot < slots; slot++) {
                if (!keep.contains(slot)) {
                    byte[] garbage = new byte[4096];
                    random.nextBytes(garbage);
                    data.write(java.nio.ByteBuffer.wrap(garbage), (long) slot * 4096);
                }
            }
        }
        open();
    }

    @Override
    public void close() throws IOException {
        try {
            wal.close();
        } finally {
            hot.close();
            cold.close();
        }
    }
}
