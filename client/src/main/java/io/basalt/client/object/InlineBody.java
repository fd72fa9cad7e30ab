package io.basalt.client.object;

import io.netty.buffer.ByteBuf;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * The body of a small object that will be kept inline in its index entry (docs/objects.md, "Small
 * objects inline"): its bytes are gathered in one array of the declared length (at most
 * {@link io.basalt.meta.model.s3.ObjectVersion#INLINE_BYTES_MAX}, so holding it whole is bounded),
 * and nothing reaches a chunk server. Nothing to trim on abort: the bytes were never written.
 *
 * <p>Writes come one at a time (the {@link BodyWriter} contract), so no lock.
 */
final class InlineBody implements BodyWriter {
    private final byte[] data;
    private int filled;
    private boolean finished;
    private boolean aborted;

    InlineBody(int lengthBytes) {
        this.data = new byte[lengthBytes];
    }

    @Override
    public CompletableFuture<Void> write(ByteBuf buffer) {
        try {
            int bytes = buffer.readableBytes();
            if (finished || aborted) {
                return failed("write after " + (finished ? "finish" : "abort"));
            }
            if (bytes > data.length - filled) {
                return failed("body of more than the " + data.length + " bytes declared");
            }
            buffer.readBytes(data, filled, bytes);
            filled += bytes;
            return CompletableFuture.completedFuture(null);
        } finally {
            buffer.release();
        }
    }

    @Override
    public CompletableFuture<Written> finish() {
        if (aborted) {
            return failed("finish after abort");
        }
        if (filled != data.length) {
            return failed("body of " + filled + " bytes, " + data.length + " declared");
        }
        finished = true;
        return CompletableFuture.completedFuture(new Written(data.length, List.of(), data));
    }

    @Override
    public void abort() {
        aborted = true;
    }

    private static <T> CompletableFuture<T> failed(String message) {
        return CompletableFuture.failedFuture(new ObjectStoreException(ObjectStoreException.Kind.INVALID,
                "inline body: " + message));
    }
}
