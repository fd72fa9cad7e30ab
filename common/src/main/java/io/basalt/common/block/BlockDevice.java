package io.basalt.common.block;

import io.netty.buffer.ByteBuf;
import io.netty.channel.EventLoop;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * A range of bytes that can be read, written, flushed, trimmed and zeroed: a local file, and later a
 * Basalt volume through libclient. Gateways (NBD, and later others) speak their protocol in and call
 * this interface out; they never know what is behind it.
 *
 * <p>Every operation is asynchronous: it returns at once and completes its future on some other
 * thread, so a gateway's event loop never blocks. A failed future carries a
 * {@link BlockDeviceException} whose {@link BlockDeviceException.Kind} the gateway maps to its
 * protocol's error code. Callers check ranges first ({@link #checkRange}), but implementations check
 * again: a device never trusts its caller with data.
 *
 * <p>Durability: a write is durable once {@link #flush()} completes after it, or at once when it was
 * issued with {@code fua}. {@link #flush()} covers every write that completed before it was called,
 * from any caller of this device ({@link #sharedCacheAcrossClients()}).
 */
public interface BlockDevice extends AutoCloseable {

    /** Size in bytes; fixed for the life of this object. */
    long sizeBytes();

    /** Smallest I/O the device accepts without read-modify-write; a power of two, 1 if any. */
    int minimumBlockSizeBytes();

    /** The I/O size the device prefers (alignment and length), e.g. 4096. */
    int preferredBlockSizeBytes();

    /** Largest read or write payload accepted in one call. */
    int maximumPayloadBytes();

    boolean isReadOnly();

    /**
     * True when every client of this device sees the same data and a flush by one covers writes by
     * all (one cache, or none). NBD advertises multi-conn only then.
     */
    boolean sharedCacheAcrossClients();

    /** True when {@link #writeZeroes} with {@code fastOnly} can succeed (holes or zero ranges). */
    boolean supportsFastZero();

    /**
     * Reads {@code lengthBytes} at {@code offsetBytes} into {@code destination}, starting at its
     * writer index and advancing it. The caller keeps ownership of {@code destination} and must not
     * touch it until the future completes.
     */
    CompletableFuture<Void> read(long offsetBytes, int lengthBytes, ByteBuf destination);

    /**
     * Writes the readable bytes of {@code data} at {@code offsetBytes}. The caller keeps ownership of
     * {@code data} and releases it after the future completes. With {@code fua} the data is durable
     * when the future completes.
     */
    CompletableFuture<Void> write(long offsetBytes, ByteBuf data, boolean fua);

    /** Makes every write completed before this call durable. */
    CompletableFuture<Void> flush();

    /**
     * {@link #flush()} for a caller that has nothing else in flight and would only wait for it (an
     * NBD connection at queue depth 1): a device may do it in the caller's thread. By default
     * {@link #flush()}.
     */
    default CompletableFuture<Void> flushAlone() {
        return flush();
    }

    /** Discards a range (a hint; the content afterwards is unspecified, typically zero). */
    CompletableFuture<Void> trim(long offsetBytes, long lengthBytes, boolean fua);

    /**
     * Makes a range read as zeroes.
     *
     * @param mayDeallocate the device may punch a hole instead of writing zeroes
     * @param fastOnly fail with {@link BlockDeviceException.Kind#NOT_SUPPORTED} rather than write
     *     zeroes slowly (NBD's FAST_ZERO)
     */
    CompletableFuture<Void> writeZeroes(
            long offsetBytes, long lengthBytes, boolean mayDeallocate, boolean fastOnly, boolean fua);

    /**
     * Describes allocation from {@code offsetBytes}: consecutive extents covering at most
     * {@code lengthBytes} (at least one extent), at most {@code extentsMax} of them.
     */
    CompletableFuture<List<Extent>> blockStatus(long offsetBytes, long lengthBytes, int extentsMax);

    /**
     * Compares the device's bytes at {@code offsetBytes} with the readable bytes of
     * {@code expected} and, only when they are equal, writes {@code data} (the same length) there;
     * completes with true when it wrote, false when the content differed (nothing written). Atomic
     * with respect to every other write through this device: no write lands between the compare
     * and the write (SCSI COMPARE AND WRITE, the lock primitive of cluster file systems). Durable
     * when it completes with true. Devices that cannot do it fail with NOT_SUPPORTED.
     */
    default CompletableFuture<Boolean> compareAndWrite(long offsetBytes, ByteBuf expected, ByteBuf data) {
        return CompletableFuture.failedFuture(new BlockDeviceException(BlockDeviceException.Kind.NOT_SUPPORTED,
                "compare-and-write is not supported by this device"));
    }

    /**
     * This device as one event loop's callers see it: a gateway calls this once per connection and
     * then makes every call of that connection on {@code eventLoop}. A device may use the loop to do
     * its I/O without a hand-off (the file device submits writes and syncs to the loop's io_uring);
     * the view's futures may then complete on the loop itself, inside the call that completes the
     * I/O. Data, durability and errors are those of the device. By default the device itself.
     */
    default BlockDevice forEventLoop(EventLoop eventLoop) {
        return this;
    }

    /** A hint that a range will be read soon. */
    default CompletableFuture<Void> prefetch(long offsetBytes, long lengthBytes) {
        return CompletableFuture.completedFuture(null);
    }

    /** Flushes and releases the device. */
    @Override
    void close() throws BlockDeviceException;

    /**
     * Checks that {@code [offset, offset + length)} lies within a device of {@code sizeBytes}.
     *
     * @throws BlockDeviceException {@code OUT_OF_RANGE} naming the request and the size
     */
    static void checkRange(long offsetBytes, long lengthBytes, long sizeBytes) {
        if (offsetBytes < 0 || lengthBytes < 0 || offsetBytes > sizeBytes
                || lengthBytes > sizeBytes - offsetBytes) {
            throw new BlockDeviceException(BlockDeviceException.Kind.OUT_OF_RANGE,
                    "range [" + offsetBytes + ", +" + lengthBytes + ") is past the end of the device ("
                            + sizeBytes + " bytes)");
        }
    }
}
