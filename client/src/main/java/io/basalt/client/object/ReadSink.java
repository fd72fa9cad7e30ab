package io.basalt.client.object;

import io.netty.buffer.ByteBuf;
import java.util.concurrent.CompletableFuture;

/**
 * Where {@link ObjectStore#read} delivers an object's bytes, in order: the next piece is handed over
 * only after the future the previous {@link #accept} returned completes, and the store reads at most
 * a few pieces ahead (backpressure from a slow HTTP client all the way to the chunk servers).
 */
@FunctionalInterface
public interface ReadSink {
    /** Takes {@code data} (the sink releases it); completes when the sink can take more. */
    CompletableFuture<Void> accept(ByteBuf data);
}
