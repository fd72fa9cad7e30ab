package io.basalt.chunkserver.recovery;

import io.basalt.protocol.data.BlockCrc;
import io.basalt.protocol.data.CsStatus;
import io.basalt.chunkserver.MetaLink;
import io.basalt.chunkserver.wal.WalEntry;
import io.basalt.chunkserver.wal.WalRecordFormat;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** What replicated and erasure-coded recoveries share: fencing their sources, waiting, logging fills. */
final class RecoveryIo {
    private static final Logger log = LoggerFactory.getLogger(RecoveryIo.class);
    private static final long SOURCE_FENCE_WAIT_NANOS = TimeUnit.SECONDS.toNanos(30);

    private RecoveryIo() {}

    /**
     * A source refused a request because the chunk's version moved on since meta listed the task (a
     * client's map change, another member's failure): the task is fetched again at once rather than
     * retried after the usual pause, and the filled blocks compare equal on the next diff.
     */
    static final class StaleTaskException extends IOException {
        StaleTaskException(String message) {
            super(message);
        }
    }

    /** The failure of a request to a source: {@link StaleTaskException} for STALE_VERSION. */
    static IOException failure(String what, DataClient.Reply reply) {
        String message = what + ": " + reply.status() + " " + reply.message();
        return reply.status() == CsStatus.STALE_VERSION ? new StaleTaskException(message) : new IOException(message);
    }

    /**
     * Whether {@code source} fences the chunk at the recovery's start version or later (INFO's known
     * version), waiting up to 30 s for its pull from meta. Only then can no write with an older
     * version (one that would not reach the recovering chunklet) land on it any more. False when it
     * cannot be asked or never gets there: it is not used.
     */
    static boolean fenced(RecoveryContext context, MetaLink.RecoveryTask task, MetaLink.Member source)
            throws InterruptedException {
        long deadline = System.nanoTime() + SOURCE_FENCE_WAIT_NANOS;
        while (true) {
            long known;
            try {
                DataClient.Reply reply = await(context.clients().request(source.address(), DataFrame.TYPE_INFO,
                        task.chunkUid(), 0, 0, 0, null));
                try {
                    if (reply.status() != CsStatus.OK) {
                        throw new IOException(reply.status() + ": " + reply.message());
                    }
                    known = reply.payload().getLong(0);
                } finally {
                    reply.release();
                }
            } catch (IOException e) {
                log.info("chunk {}: source cs {} ({}) not usable: {}", Long.toHexString(task.chunkUid()),
                        source.csId(), source.address(), e.getMessage());
                return false;
            }
            if (known >= task.startVersion()) {
                return true;
            }
            if (System.nanoTime() - deadline > 0) {
                log.info("chunk {}: source cs {} still fences at version {} < {} after 30 s; not used",
                        Long.toHexString(task.chunkUid()), source.csId(), known, task.startVersion());
                return false;
            }
            Thread.sleep(100);
        }
    }

    /**
     * Logs a recovery record ({@code type} FILL or EC_FILL, guarded by the recovery's start version)
     * in this chunk server's WAL and waits until it is applied. {@code payload} is handed over.
     */
    static void log(RecoveryContext context, int type, MetaLink.RecoveryTask task, long offset, int length,
            ByteBuf payload) throws IOException, InterruptedException {
        CompletableFuture<Void> done = new CompletableFuture<>();
        WalEntry entry = new WalEntry(type, task.chunkUid(), offset, length, payload, (e, error) -> {
            if (error != null) {
                done.completeExceptionally(error);
            } else {
                done.complete(null);
            }
        }).withChunkVersion(task.startVersion());
        context.wal().submit(entry);
        await(done);
    }

    /**
     * The block map of [offset, offset + length) of a chunk from the chunk server at {@code address}
     * (13 bytes a block, see ChunkletStore#blockMap), its CRC checked, as an unpooled copy (a late
     * reader never sees recycled memory). Asked at {@code chunkVersion}: a server that knows a newer
     * one answers STALE, which fails here.
     */
    static ByteBuf blockMap(RecoveryContext context, String address, long chunkUid, long chunkVersion, long offset,
            int length) throws IOException, InterruptedException {
        DataClient.Reply reply = await(context.clients().request(address, DataFrame.TYPE_BLOCK_MAP, chunkUid,
                chunkVersion, offset, length, null));
        try {
            if (reply.status() != CsStatus.OK) {
                throw failure("block map of chunk " + Long.toHexString(chunkUid) + " from " + address, reply);
            }
            ByteBuf payload = reply.payload();
            int mapBytes = (length >> BlockCrc.BLOCK_SHIFT) * WalRecordFormat.FILL_BLOCK_BYTES;
            if (payload.readableBytes() != mapBytes + 4
                    || BlockCrc.of(payload, payload.readerIndex(), mapBytes)
                    != payload.getInt(payload.readerIndex() + mapBytes)) {
                throw new IOException("block map of chunk " + Long.toHexString(chunkUid) + " from " + address
                        + " is damaged (length or CRC)");
            }
            ByteBuf copy = Unpooled.buffer(mapBytes);
            copy.writeBytes(payload, payload.readerIndex(), mapBytes);
            return copy;
        } finally {
            reply.release();
        }
    }

    /** One lane's work: lane {@code lane} of a recovery's parallel lanes. */
    @FunctionalInterface
    interface Lane {
        void run(int lane) throws IOException, InterruptedException;
    }

    /** Runs {@code lanes} lanes of work in parallel on {@code context}'s executor; the first failure wins. */
    static void inParallel(RecoveryContext context, int lanes, Lane body) throws IOException, InterruptedException {
        java.util.List<CompletableFuture<Void>> running = new java.util.ArrayList<>();
        for (int lane = 0; lane < lanes; lane++) {
            int index = lane;
            running.add(CompletableFuture.runAsync(() -> {
                try {
                    body.run(index);
                } catch (IOException | InterruptedException e) {
                    throw new java.util.concurrent.CompletionException(e);
                }
            }, context.executor()));
        }
        try {
            CompletableFuture.allOf(running.toArray(CompletableFuture[]::new)).get();
        } catch (ExecutionException e) {
            Throwable cause = e.getCause() instanceof java.util.concurrent.CompletionException c ? c.getCause()
                    : e.getCause();
            throw cause instanceof IOException io ? io : new IOException(cause);
        }
    }

    static <T> T await(CompletableFuture<T> future) throws IOException, InterruptedException {
        try {
            return future.get(2, TimeUnit.MINUTES);
        } catch (ExecutionException e) {
            Throwable cause = e.getCause();
            throw cause instanceof IOException io ? io : new IOException(cause.getMessage(), cause);
        } catch (TimeoutException e) {
            throw new IOException("no answer within 2 minutes", e);
        }
    }
}
