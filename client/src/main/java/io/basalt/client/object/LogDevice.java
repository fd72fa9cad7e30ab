package io.basalt.client.object;

import io.netty.buffer.ByteBuf;
import java.util.concurrent.CompletableFuture;

/**
 * The part of a block device an object log uses: aligned writes (durable when they complete), reads
 * and trims. A {@code VolumeDevice} in production; memory in tests.
 */
interface LogDevice {
    /** Writes {@code data} (4 KiB-aligned offset and length; released by the device) at {@code offset}. */
    CompletableFuture<Void> write(long offset, ByteBuf data);

    /** Reads {@code length} bytes (aligned) at {@code offset} into {@code destination}. */
    CompletableFuture<Void> read(long offset, int length, ByteBuf destination);

    /** Frees [offset, offset + length) (aligned): reads of it then give zeroes. */
    CompletableFuture<Void> trim(long offset, long length);

    long sizeBytes();

    void close();
}
