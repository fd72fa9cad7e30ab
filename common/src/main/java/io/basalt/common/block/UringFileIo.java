package io.basalt.common.block;

import io.basalt.common.block.BlockDeviceException.Kind;
import io.netty.buffer.ByteBuf;
import io.netty.channel.IoEvent;
import io.netty.channel.IoEventLoop;
import io.netty.channel.IoRegistration;
import io.netty.channel.uring.IoUringIoEvent;
import io.netty.channel.uring.IoUringIoHandle;
import io.netty.channel.uring.IoUringIoOps;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Writes and syncs of one file, submitted to the io_uring of one Netty event loop and completed
 * there: a WRITE costs no hand-off to a JVM I/O thread and back (a futex park/unpark each way), and
 * the loop never blocks, because the kernel does the work while the loop waits on the ring it waits
 * on anyway. Where the kernel does it: inline when the file system takes non-blocking buffered
 * writes (XFS, btrfs), else in the ring's io-wq kernel worker. ext4 on kernel 6.18 is the latter
 * (the process shows {@code iou-wrk} threads), so a write still costs an in-kernel wake-up, which
 * is cheaper than the JVM's but not free; io-wq also runs buffered writes to one file one at a time,
 * which ext4's inode lock does anyway. fdatasync always runs in io-wq.
 *
 * <p>Design: each write in flight holds one {@link Slot}; its index is the 16-bit {@code data} of
 * the SQE and comes back in the completion. A payload in one piece is an {@code IORING_OP_WRITE},
 * one in several (a composite network buffer) an {@code IORING_OP_WRITEV} over an iovec array the
 * slot keeps. A short write resubmits the rest; a negative result fails the write with its errno
 * (ENOSPC, EDQUOT, EFBIG map to {@link Kind#NO_SPACE}, the rest to {@link Kind#IO}).
 *
 * <p>Syncs are {@code IORING_OP_FSYNC} with {@code IORING_FSYNC_DATASYNC} (fdatasync), batched as
 * in {@link SyncBatcher}: at most one runs on this ring; requests that arrive while it runs share
 * the next one, which starts when it ends. A request that arrives during sync N may follow writes
 * that N does not cover, so it never joins N.
 *
 * <p>Threading: every field is owned by the event loop; {@link #write} and {@link #sync} must be
 * called on it (callers check {@link #inEventLoop()} and use the thread pool otherwise). Futures
 * complete on the loop.
 *
 * <p>Memory: the payload's memory is read by the kernel until the completion arrives; the caller
 * keeps the buffer until the future completes (the {@link BlockDevice#write} contract). Iovec
 * arrays live in an arena freed when the registration is gone, i.e. after the last completion.
 */
final class UringFileIo implements IoUringIoHandle {
    private static final Logger log = LoggerFactory.getLogger(UringFileIo.class);

    /** Opcodes and flags of {@code include/uapi/linux/io_uring.h} (Netty keeps its own private). */
    static final byte IORING_OP_WRITEV = 2;
    static final byte IORING_OP_FSYNC = 3;
    static final byte IORING_OP_WRITE = 23;
    static final int IORING_FSYNC_DATASYNC = 1;
    /** {@code UIO_MAXIOV}: a longer iovec is refused (EINVAL), so longer payloads go in parts. */
    private static final int IOVECS_MAX = 1024;
    private static final int IOVEC_BYTES = 16;
    /**
     * Writes in flight on one ring: the slot index is the SQE's 16-bit data. NBD bounds a connection
     * at 256 requests in flight; past this the device falls back to its I/O threads, never refuses.
     */
    static final int SLOTS_MAX = 1024;
    /** What {@link IoRegistration#submit} answers when the registration is no longer valid. */
    private static final long INVALID_ID = 0;

    private static final int ENOSPC = 28;
    private static final int EFBIG = 27;
    private static final int EDQUOT = 122;

    private final FileBlockDevice device;
    private final int fd;
    private final IoEventLoop loop;
    private final Arena iovecArena = Arena.ofShared();
    private final Slot[] slots = new Slot[SLOTS_MAX];
    private final int[] freeSlots = new int[SLOTS_MAX];
    private int freeSlotCount;
    private int slotsCreated;
    private IoRegistration registration;
    private boolean closed;

    private boolean syncRunning;
    /** Syncs completed on this ring, for tests that check a FUA write or flush synced. */
    private long syncsCompleted;
    /** Waiting for the sync that runs now. */
    private List<CompletableFuture<Void>> syncWaiters = new ArrayList<>();
    /** Waiting for the next sync (arrived while one was running). */
    private List<CompletableFuture<Void>> nextSyncWaiters = new ArrayList<>();

    UringFileIo(FileBlockDevice device, int fd, IoEventLoop loop) {
        this.device = device;
        this.fd = fd;
        this.loop = loop;
    }

    /** Registers with the loop's ring; on the loop this completes at once. */
    void register() throws Exception {
        registration = loop.register(this).syncUninterruptibly().getNow();
    }

    boolean inEventLoop() {
        return loop.inEventLoop();
    }

    /**
     * Writes the readable bytes of {@code data} at {@code offsetBytes}; null when this ring cannot
     * take it (closed, no free slot, a heap buffer), and the caller uses the I/O threads instead.
     * Range and read-only checks are the caller's.
     */
    CompletableFuture<Void> write(long offsetBytes, ByteBuf data) {
        assert loop.inEventLoop();
        if (closed || !registration.isValid() || freeSlotCount == 0 && slotsCreated == SLOTS_MAX) {
            return null;
        }
        int lengthBytes = data.readableBytes();
        if (!data.isDirect() || lengthBytes == 0) {
            return null;
        }
        int index = freeSlotCount > 0 ? freeSlots[--freeSlotCount] : newSlot();
        Slot slot = slots[index];
        slot.start(offsetBytes, data, lengthBytes);
        if (!slot.submit()) {
            // Not submitted (the registration died under us): nothing in flight, the caller retries.
            slot.clear();
            freeSlots[freeSlotCount++] = index;
            return null;
        }
        return slot.future;
    }

    /** Whether an fdatasync of this ring is in flight. */
    boolean syncRunning() {
        assert loop.inEventLoop();
        return syncRunning;
    }

    /** Completes once an fdatasync that started after this call has finished. */
    CompletableFuture<Void> sync() {
        assert loop.inEventLoop();
        if (closed) {
            return null;
        }
        CompletableFuture<Void> waiter = new CompletableFuture<>();
        if (syncRunning) {
            nextSyncWaiters.add(waiter);
            return waiter;
        }
        syncWaiters.add(waiter);
        if (!startSync()) {
            syncWaiters.clear();
            return null;
        }
        return waiter;
    }

    private boolean startSync() {
        long id = registration.submit(new IoUringIoOps(IORING_OP_FSYNC, (byte) 0, (short) 0, fd, 0L, 0L, 0,
                IORING_FSYNC_DATASYNC, (short) 0, (short) 0, (short) 0, 0, 0L));
        syncRunning = id != INVALID_ID;
        return syncRunning;
    }

    private int newSlot() {
        int index = slotsCreated++;
        slots[index] = new Slot(index);
        return index;
    }

    @Override
    public void handle(IoRegistration registration, IoEvent ioEvent) {
        IoUringIoEvent event = (IoUringIoEvent) ioEvent;
        try {
            if (event.opcode() == IORING_OP_FSYNC) {
                onSyncDone(event.res());
            } else {
                slots[event.data() & 0xFFFF].onWritten(event.res());
            }
        } catch (RuntimeException e) {
            // A bug here must not kill the loop; the request it belonged to is failed where it can be.
            log.error("io_uring completion of {} (res {}) on {} failed", event.opcode(), event.res(), device.path(), e);
        }
    }

    long syncsCompleted() {
        assert loop.inEventLoop();
        return syncsCompleted;
    }

    private void onSyncDone(int result) {
        syncsCompleted++;
        List<CompletableFuture<Void>> done = syncWaiters;
        syncWaiters = nextSyncWaiters;
        nextSyncWaiters = done;
        syncRunning = false;
        if (!syncWaiters.isEmpty() && (closed || !startSync())) {
            failAll(syncWaiters, new BlockDeviceException(Kind.SHUTDOWN, "device " + device.path() + " is closing"));
        }
        BlockDeviceException failure = result < 0 ? failure("fdatasync", -result) : null;
        for (CompletableFuture<Void> waiter : done) {
            if (failure == null) {
                waiter.complete(null);
            } else {
                waiter.completeExceptionally(failure);
            }
        }
        done.clear();
    }

    private static void failAll(List<CompletableFuture<Void>> waiters, BlockDeviceException failure) {
        for (CompletableFuture<Void> waiter : waiters) {
            waiter.completeExceptionally(failure);
        }
        waiters.clear();
    }

    private BlockDeviceException failure(String what, int errno) {
        return failure(what, errno, device.path().toString());
    }

    /** Maps a failed io_uring result ({@code -errno}) to the kind a protocol can answer. */
    static BlockDeviceException failure(String what, int errno, String path) {
        if (errno == ENOSPC || errno == EDQUOT || errno == EFBIG) {
            return new BlockDeviceException(Kind.NO_SPACE,
                    what + " on " + path + ": no space left on device (errno " + errno + ")");
        }
        log.warn("{} on {} failed: errno {}", what, path, errno);
        return new BlockDeviceException(Kind.IO, what + " on " + path + " failed: errno " + errno);
    }

    /** Stops taking work; what is in flight still completes. Called on the loop. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (registration != null) {
            registration.cancel();
        }
    }

    /** The last completion has arrived (or none was outstanding): the iovec memory can go. */
    @Override
    public void unregistered() {
        closed = true;
        device.ringGone(loop, this);
        iovecArena.close();
    }

    /** One write in flight: reused, so steady state allocates only the future. */
    private final class Slot {
        private final short index;
        private long offsetBytes;
        private ByteBuf data;
        private int lengthBytes;
        private int writtenBytes;
        private CompletableFuture<Void> future;
        private MemorySegment iovecs;

        Slot(int index) {
            this.index = (short) index;
        }

        void start(long offsetBytes, ByteBuf data, int lengthBytes) {
            this.offsetBytes = offsetBytes;
            this.data = data;
            this.lengthBytes = lengthBytes;
            this.writtenBytes = 0;
            this.future = new CompletableFuture<>();
        }

        void clear() {
            data = null;
            future = null;
        }

        /** Submits the bytes not yet written; false when the ring refused. */
        boolean submit() {
            int remaining = lengthBytes - writtenBytes;
            ByteBuffer[] pieces = data.nioBuffers(data.readerIndex() + writtenBytes, remaining);
            long position = offsetBytes + writtenBytes;
            IoUringIoOps ops;
            if (pieces.length == 1) {
                ops = new IoUringIoOps(IORING_OP_WRITE, (byte) 0, (short) 0, fd, position,
                        MemorySegment.ofBuffer(pieces[0]).address(), remaining, 0, index, (short) 0, (short) 0, 0, 0L);
            } else {
                int count = Math.min(pieces.length, IOVECS_MAX);
                if (iovecs == null || iovecs.byteSize() < (long) count * IOVEC_BYTES) {
                    iovecs = iovecArena.allocate((long) Math.max(count, 16) * IOVEC_BYTES, 8);
                }
                for (int i = 0; i < count; i++) {
                    ByteBuffer piece = pieces[i];
                    iovecs.set(ValueLayout.JAVA_LONG, (long) i * IOVEC_BYTES, MemorySegment.ofBuffer(piece).address());
                    iovecs.set(ValueLayout.JAVA_LONG, (long) i * IOVEC_BYTES + 8, piece.remaining());
                }
                ops = new IoUringIoOps(IORING_OP_WRITEV, (byte) 0, (short) 0, fd, position, iovecs.address(), count,
                        0, index, (short) 0, (short) 0, 0, 0L);
            }
            return registration.submit(ops) != INVALID_ID;
        }

        void onWritten(int result) {
            CompletableFuture<Void> done = future;
            if (result > 0 && result < lengthBytes - writtenBytes && !closed) {
                writtenBytes += result; // a short write: the rest goes again
                if (submit()) {
                    return;
                }
                release();
                done.completeExceptionally(new BlockDeviceException(Kind.SHUTDOWN,
                        "device " + device.path() + " is closing"));
                return;
            }
            release();
            if (result < 0) {
                done.completeExceptionally(failure("write at " + (offsetBytes + writtenBytes), -result));
            } else if (result == 0 || result < lengthBytes - writtenBytes) {
                done.completeExceptionally(new BlockDeviceException(Kind.IO, "write at " + (offsetBytes + writtenBytes)
                        + " on " + device.path() + " wrote " + result + " of " + (lengthBytes - writtenBytes) + " bytes"));
            } else {
                done.complete(null);
            }
        }

        private void release() {
            clear();
            freeSlots[freeSlotCount++] = index;
        }
    }
}
