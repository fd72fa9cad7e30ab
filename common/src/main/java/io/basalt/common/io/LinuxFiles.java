package io.basalt.common.io;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.file.Path;

/**
 * The few Linux file calls the JDK does not offer, through FFM: {@code fallocate} (punch holes,
 * zero ranges) and {@code lseek(SEEK_DATA/SEEK_HOLE)} (find holes in sparse files), plus
 * {@code posix_fadvise} for read-ahead hints.
 *
 * <p>They work on a file descriptor of our own, opened beside the {@code FileChannel} that does the
 * reads and writes: both refer to the same inode, so a hole punched here is seen there. Calls fail
 * with an {@link IOException} naming the call, the errno and the file; {@link #isUnsupported}
 * tells a file system that lacks the feature (EOPNOTSUPP) from a real failure.
 */
public final class LinuxFiles {
    public static final int FALLOC_FL_KEEP_SIZE = 0x01;
    public static final int FALLOC_FL_PUNCH_HOLE = 0x02;
    public static final int FALLOC_FL_ZERO_RANGE = 0x10;

    private static final int O_RDONLY = 0;
    private static final int O_RDWR = 2;
    private static final int O_CLOEXEC = 0x80000;
    private static final int SEEK_DATA = 3;
    private static final int SEEK_HOLE = 4;
    private static final int POSIX_FADV_WILLNEED = 3;
    private static final int ENXIO = 6;
    private static final int EINTR = 4;
    private static final int EOPNOTSUPP = 95;
    private static final int ENOSPC = 28;
    private static final int EAGAIN = 11;
    private static final int RWF_NOWAIT = 0x08;

    private static final StructLayout CAPTURE_LAYOUT = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CAPTURE_LAYOUT.varHandle(
            java.lang.foreign.MemoryLayout.PathElement.groupElement("errno"));

    private static final MethodHandle OPEN;
    private static final MethodHandle CLOSE;
    private static final MethodHandle FALLOCATE;
    private static final MethodHandle LSEEK;
    private static final MethodHandle FADVISE;
    private static final MethodHandle PREADV2;
    private static final MethodHandle PWRITEV;
    private static final MethodHandle SYNC_FILE_RANGE;
    private static final int SYNC_FILE_RANGE_WRITE = 2;
    private static final Throwable UNAVAILABLE;
    /** iovecs per {@link #writeGathering} call; more buffers are written in several calls. */
    private static final int IOVECS_MAX = 64;

    /**
     * Per-thread native scratch for {@link #readIfCached}: one iovec and the errno capture. Reused so
     * that the hot path allocates no native memory per call.
     */
    private static final ThreadLocal<MemorySegment[]> SCRATCH = ThreadLocal.withInitial(() -> new MemorySegment[] {
        Arena.ofAuto().allocate(16L * IOVECS_MAX, 8), Arena.ofAuto().allocate(CAPTURE_LAYOUT)});

    static {
        MethodHandle open = null;
        MethodHandle close = null;
        MethodHandle fallocate = null;
        MethodHandle lseek = null;
        MethodHandle fadvise = null;
        MethodHandle preadv2 = null;
        MethodHandle pwritev = null;
        MethodHandle syncFileRange = null;
        Throwable unavailable = null;
        try {
            Linker linker = Linker.nativeLinker();
            SymbolLookup libc = linker.defaultLookup();
            Linker.Option errno = Linker.Option.captureCallState("errno");
            open = linker.downcallHandle(libc.find("open").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT),
                    errno, Linker.Option.firstVariadicArg(2));
            close = linker.downcallHandle(libc.find("close").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
            fallocate = linker.downcallHandle(libc.find("fallocate64").or(() -> libc.find("fallocate")).orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                            ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG),
                    errno);
            lseek = linker.downcallHandle(libc.find("lseek64").or(() -> libc.find("lseek")).orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG,
                            ValueLayout.JAVA_INT),
                    errno);
            // posix_fadvise returns the error number instead of setting errno.
            fadvise = linker.downcallHandle(libc.find("posix_fadvise64").or(() -> libc.find("posix_fadvise")).orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG,
                            ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
            preadv2 = linker.downcallHandle(libc.find("preadv64v2").or(() -> libc.find("preadv2")).orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS,
                            ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT),
                    errno, Linker.Option.critical(false));
            pwritev = linker.downcallHandle(libc.find("pwritev64").or(() -> libc.find("pwritev")).orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.ADDRESS,
                            ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG),
                    errno);
            syncFileRange = linker.downcallHandle(libc.find("sync_file_range").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG,
                            ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT),
                    errno);
        } catch (Throwable t) {
            unavailable = t;
        }
        OPEN = open;
        CLOSE = close;
        FALLOCATE = fallocate;
        LSEEK = lseek;
        FADVISE = fadvise;
        PREADV2 = preadv2;
        PWRITEV = pwritev;
        SYNC_FILE_RANGE = syncFileRange;
        UNAVAILABLE = unavailable;
    }

    private LinuxFiles() {}

    /** True when the native calls could be bound (Linux with a glibc-compatible libc). */
    public static boolean available() {
        return UNAVAILABLE == null;
    }

    /** Why the native calls are unavailable, or null. */
    public static String unavailableReason() {
        return UNAVAILABLE == null ? null : UNAVAILABLE.toString();
    }

    /** Opens {@code path} and returns the descriptor; close it with {@link #close(int)}. */
    public static int open(Path path, boolean writable) throws IOException {
        requireAvailable();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment capture = arena.allocate(CAPTURE_LAYOUT);
            MemorySegment name = arena.allocateFrom(path.toString());
            int flags = (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC;
            while (true) {
                int fd = (int) OPEN.invokeExact(capture, name, flags);
                if (fd >= 0) {
                    return fd;
                }
                int errno = (int) ERRNO.get(capture, 0L);
                if (errno != EINTR) {
                    throw new NativeIOException("open", errno, path.toString());
                }
            }
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException("open " + path + ": " + t, t);
        }
    }

    public static void close(int fd) {
        if (fd < 0 || !available()) {
            return;
        }
        try {
            int ignored = (int) CLOSE.invokeExact(fd);
        } catch (Throwable t) {
            throw new IllegalStateException("close(" + fd + ")", t);
        }
    }

    /** {@code fallocate(fd, mode, offset, length)}; {@code what} names the file in errors. */
    /**
     * Starts writeback of the file's dirty pages without waiting for it
     * ({@code sync_file_range(SYNC_FILE_RANGE_WRITE)}): not a durability point (no metadata, no
     * device cache flush), only a way to spread the writing out so that a later fsync finds little
     * left to do.
     */
    public static void startWriteback(int fd, String what) throws IOException {
        requireAvailable();
        MemorySegment capture = SCRATCH.get()[1];
        try {
            while (true) {
                int rc = (int) SYNC_FILE_RANGE.invokeExact(capture, fd, 0L, 0L, SYNC_FILE_RANGE_WRITE);
                if (rc == 0) {
                    return;
                }
                int errno = (int) ERRNO.get(capture, 0L);
                if (errno != EINTR) {
                    throw new NativeIOException("sync_file_range(SYNC_FILE_RANGE_WRITE)", errno, what);
                }
            }
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException("sync_file_range " + what + ": " + t, t);
        }
    }

    public static void fallocate(int fd, int mode, long offsetBytes, long lengthBytes, String what)
            throws IOException {
        requireAvailable();
        MemorySegment capture = SCRATCH.get()[1];
        try {
            while (true) {
                int rc = (int) FALLOCATE.invokeExact(capture, fd, mode, offsetBytes, lengthBytes);
                if (rc == 0) {
                    return;
                }
                int errno = (int) ERRNO.get(capture, 0L);
                if (errno != EINTR) {
                    throw new NativeIOException("fallocate(mode=0x" + Integer.toHexString(mode) + ")", errno, what);
                }
            }
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException("fallocate " + what + ": " + t, t);
        }
    }

    /**
     * The offset of the next data at or after {@code offsetBytes}, or -1 when only a hole follows
     * (ENXIO).
     */
    public static long seekData(int fd, long offsetBytes, String what) throws IOException {
        return seek(fd, offsetBytes, SEEK_DATA, what);
    }

    /** The offset of the next hole at or after {@code offsetBytes} (end of file counts as a hole). */
    public static long seekHole(int fd, long offsetBytes, String what) throws IOException {
        return seek(fd, offsetBytes, SEEK_HOLE, what);
    }

    private static long seek(int fd, long offsetBytes, int whence, String what) throws IOException {
        requireAvailable();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment capture = arena.allocate(CAPTURE_LAYOUT);
            long result = (long) LSEEK.invokeExact(capture, fd, offsetBytes, whence);
            if (result >= 0) {
                return result;
            }
            int errno = (int) ERRNO.get(capture, 0L);
            if (errno == ENXIO) {
                return -1;
            }
            throw new NativeIOException(whence == SEEK_DATA ? "lseek(SEEK_DATA)" : "lseek(SEEK_HOLE)", errno, what);
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException("lseek " + what + ": " + t, t);
        }
    }

    /** Asks the kernel to read a range ahead (a hint; errors are ignored). */
    public static void willNeed(int fd, long offsetBytes, long lengthBytes) {
        if (!available()) {
            return;
        }
        try {
            int ignored = (int) FADVISE.invokeExact(fd, offsetBytes, lengthBytes, POSIX_FADV_WILLNEED);
        } catch (Throwable t) {
            throw new IllegalStateException("posix_fadvise", t);
        }
    }

    /**
     * Reads into native memory only if the data is already in the page cache
     * ({@code preadv2(RWF_NOWAIT)}), so that an event loop can serve a hot read without handing it to
     * an I/O thread and back. Holes read as zeroes without blocking too.
     *
     * @return bytes read (possibly fewer than asked when only part is cached, or at end of file), or
     *     -1 when the read would block
     */
    public static long readIfCached(int fd, MemorySegment destination, long offsetBytes) throws IOException {
        requireAvailable();
        MemorySegment[] scratch = SCRATCH.get();
        MemorySegment iovec = scratch[0];
        iovec.set(ValueLayout.JAVA_LONG, 0, destination.address());
        iovec.set(ValueLayout.JAVA_LONG, 8, destination.byteSize());
        try {
            long result = (long) PREADV2.invokeExact(scratch[1], fd, iovec, 1, offsetBytes, RWF_NOWAIT);
            if (result >= 0) {
                return result;
            }
            int errno = (int) ERRNO.get(scratch[1], 0L);
            if (errno == EAGAIN || errno == EOPNOTSUPP || errno == EINTR) {
                return -1;
            }
            throw new NativeIOException("preadv2(RWF_NOWAIT)", errno, "fd " + fd);
        } catch (IOException e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException("preadv2: " + t, t);
        }
    }

    /**
     * Writes direct buffers (e.g. the pieces of a composite network buffer) at {@code offsetBytes}
     * with {@code pwritev}: one system call and no copy into one contiguous buffer first. Loops on
     * short writes and EINTR. Buffers' positions are not changed.
     *
     * @throws IllegalArgumentException when a buffer is not direct
     */
    public static void writeGathering(int fd, java.nio.ByteBuffer[] buffers, long offsetBytes, String what)
            throws IOException {
        requireAvailable();
        MemorySegment[] scratch = SCRATCH.get();
        MemorySegment iovecs = scratch[0];
        long position = offsetBytes;
        int first = 0;
        long skip = 0; // bytes of buffers[first] already written
        try {
            while (first < buffers.length) {
                int count = 0;
                long batchBytes = 0;
                for (int i = first; i < buffers.length && count < IOVECS_MAX; i++) {
                    java.nio.ByteBuffer buffer = buffers[i];
                    if (!buffer.isDirect()) {
                        throw new IllegalArgumentException("buffer " + i + " is not direct");
                    }
                    long start = i == first ? skip : 0;
                    long length = buffer.remaining() - start;
                    iovecs.set(ValueLayout.JAVA_LONG, 16L * count,
                            MemorySegment.ofBuffer(buffer).address() + start);
                    iovecs.set(ValueLayout.JAVA_LONG, 16L * count + 8, length);
                    batchBytes += length;
                    count++;
                }
                if (batchBytes == 0) {
                    return;
                }
                long written = (long) PWRITEV.invokeExact(scratch[1], fd, iovecs, count, position);
                if (written < 0) {
                    int errno = (int) ERRNO.get(scratch[1], 0L);
                    if (errno == EINTR) {
                        continue;
                    }
                    throw new NativeIOException("pwritev", errno, what);
                }
                position += written;
                // Advance past what was written: whole buffers, then part of one.
                long remaining = written + skip;
                while (first < buffers.length && remaining >= buffers[first].remaining()) {
                    remaining -= buffers[first].remaining();
                    first++;
                }
                skip = remaining;
            }
        } catch (IOException | IllegalArgumentException e) {
            throw e;
        } catch (Throwable t) {
            throw new IOException("pwritev " + what + ": " + t, t);
        }
    }

    /** True when {@code e} says the file system does not support the call (EOPNOTSUPP). */
    public static boolean isUnsupported(IOException e) {
        return e instanceof NativeIOException n && n.errno() == EOPNOTSUPP;
    }

    /** True when {@code e} says the file system is full (ENOSPC). */
    public static boolean isNoSpace(IOException e) {
        return e instanceof NativeIOException n && n.errno() == ENOSPC;
    }

    private static void requireAvailable() throws IOException {
        if (UNAVAILABLE != null) {
            throw new IOException("native file calls unavailable: " + UNAVAILABLE);
        }
    }

    /** A failed native call, with its errno. */
    public static final class NativeIOException extends IOException {
        private final int errno;

        NativeIOException(String call, int errno, String what) {
            super(call + " failed on " + what + ": errno " + errno);
            this.errno = errno;
        }

        public int errno() {
            return errno;
        }
    }
}
