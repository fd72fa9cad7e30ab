package io.basalt.chunkserver.store;

import io.basalt.chunkserver.wal.WalEntry;
import io.basalt.chunkserver.wal.WalRecordFormat;
import io.basalt.chunkserver.wal.WalWriter;
import io.basalt.protocol.data.CsException;
import io.basalt.protocol.data.DataClient;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.UnpooledByteBufAllocator;
import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;

/** A store and its WAL in a directory, driven like the protocol handler drives them. */
final class StoreHarness implements AutoCloseable {
    static final ByteBufAllocator ALLOC = UnpooledByteBufAllocator.DEFAULT;

    final Path dir;
    final ChunkletStore store;
    final WalWriter wal;
    final AtomicLong corruptBlocks = new AtomicLong();

    StoreHarness(Path dir, long chunkletSizeBytes, WalWriter.Config walConfig) throws IOException {
        this(dir, chunkletSizeBytes, walConfig, sink -> sink);
    }

    /** With the WAL driving {@code wrap(store)} instead of the store itself (fault injection). */
    StoreHarness(Path dir, long chunkletSizeBytes, WalWriter.Config walConfig,
            java.util.function.UnaryOperator<io.basalt.chunkserver.wal.WalSink> wrap) throws IOException {
        this.dir = dir;
        this.store = ChunkletStore.open(dir.resolve("chunklets"), chunkletSizeBytes, 2 * walConfig.segmentBytes(),
                (uid, offset) -> corruptBlocks.incrementAndGet());
        this.wal = WalWriter.open(dir.resolve("wal"), wrap.apply(store), walConfig, WalWriter.Listener.NONE);
    }

    StoreHarness(Path dir) throws IOException {
        this(dir, 64L << 20, new WalWriter.Config(4L << 20, 64, 1024, 1L << 40, (1 << 20) + 1024));
    }

    CompletableFuture<Long> submit(int type, long chunkUid, long offsetBytes, int lengthBytes, byte[] data) {
        return submit(type, chunkUid, offsetBytes, lengthBytes, data == null ? null : DataClient.writePayload(ALLOC, data),
                0);
    }

    CompletableFuture<Long> submit(int type, long chunkUid, long offsetBytes, int lengthBytes, ByteBuf payload,
            long chunkVersion) {
        CompletableFuture<Long> done = new CompletableFuture<>();
        wal.submit(new WalEntry(type, chunkUid, offsetBytes, lengthBytes, payload, (entry, error) -> {
            if (error != null) {
                done.completeExceptionally(error);
            } else {
                done.complete(entry.lsn());
            }
        }).withChunkVersion(chunkVersion));
        return done;
    }

    long write(long chunkUid, long offsetBytes, byte[] data) throws Exception {
        return await(submit(WalRecordFormat.TYPE_WRITE, chunkUid, offsetBytes, data.length, data));
    }

    long trim(long chunkUid, long offsetBytes, int lengthBytes) throws Exception {
        return await(submit(WalRecordFormat.TYPE_TRIM, chunkUid, offsetBytes, lengthBytes, null));
    }

    long deleteChunklet(long chunkUid) throws Exception {
        return await(submit(WalRecordFormat.TYPE_DELETE_CHUNKLET, chunkUid, 0, 0, null));
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

    /** Reads and returns the data bytes; checks the CRCs that come with them. */
    byte[] read(long chunkUid, long offsetBytes, int lengthBytes) throws CsException {
        return read(chunkUid, offsetBytes, lengthBytes, false);
    }

    /** As {@link #read}, through the page-cache-only path; null when it declined. */
    byte[] readCached(long chunkUid, long offsetBytes, int lengthBytes) throws CsException {
        return read(chunkUid, offsetBytes, lengthBytes, true);
    }

    private byte[] read(long chunkUid, long offsetBytes, int lengthBytes, boolean cachedOnly) throws CsException {
        ByteBuf out = ALLOC.directBuffer(lengthBytes + lengthBytes / 1024);
        try {
            if (cachedOnly) {
                if (!store.readCached(chunkUid, offsetBytes, lengthBytes, out)) {
                    if (out.writerIndex() != 0) {
                        throw new AssertionError("a declined cached read appended " + out.writerIndex() + " bytes");
                    }
                    return null;
                }
            } else {
                store.read(chunkUid, offsetBytes, lengthBytes, out);
            }
            if (out.readableBytes() != lengthBytes + lengthBytes / 1024) {
                throw new AssertionError("read returned " + out.readableBytes() + " bytes");
            }
            for (int i = 0; i < lengthBytes / 4096; i++) {
                int crc = io.basalt.protocol.data.BlockCrc.of(out, i * 4096, 4096);
                if (crc != out.getInt(lengthBytes + 4 * i)) {
                    throw new AssertionError("block " + i + " returned with a CRC that does not match its data");
                }
            }
            return ByteBufUtil.getBytes(out, 0, lengthBytes);
        } finally {
            out.release();
        }
    }

    void crash() throws IOException {
        wal.abandon();
        store.close();
    }

    @Override
    public void close() throws IOException {
        try {
            wal.close();
        } finally {
            store.close();
        }
    }
}
