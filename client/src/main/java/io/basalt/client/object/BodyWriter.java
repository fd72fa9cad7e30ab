package io.basalt.client.object;

import io.basalt.meta.model.s3.ObjectExtent;
import io.netty.buffer.ByteBuf;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * The bytes of one object (or part) on their way into the cluster, before anything names them: the
 * gateway pushes the body through {@link #write} as it arrives (waiting for each returned future before
 * the next write: that is the backpressure that keeps a slow cluster from filling the gateway's memory),
 * then {@link #finish}es it and hands the result to {@code putObject} or {@code putPart}. Until then the
 * bytes belong to nobody: {@link #abort} (a client that went away, a BadDigest) trims them, and so does
 * the next writer of the log if this gateway dies first.
 */
public interface BodyWriter {
    /** Appends {@code data} (released by the writer); completes once the writer can take more. */
    CompletableFuture<Void> write(ByteBuf data);

    /** Completes when every byte written is durable in the cluster, with where they are. */
    CompletableFuture<Written> finish();

    /** Drops the body: its bytes are trimmed in the background. Safe to call more than once, or after a failure. */
    void abort();

    /**
     * A finished body: its length and extents, in order; or, for a small object kept inline in the
     * index (docs/objects.md, "Small objects inline"), its bytes and no extents.
     */
    record Written(long length, List<ObjectExtent> extents, byte[] inlineData) {
        public Written(long length, List<ObjectExtent> extents) {
            this(length, extents, null);
        }

        public boolean isInline() {
            return inlineData != null;
        }
    }
}
