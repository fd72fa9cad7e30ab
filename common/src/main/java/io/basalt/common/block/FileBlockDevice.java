package io.basalt.common.block;

import io.basalt.common.ThreadNames;
import io.basalt.common.Units;
import io.basalt.common.block.BlockDeviceException.Kind;
import io.basalt.common.io.LinuxFiles;
import io.netty.buffer.ByteBuf;
import io.netty.channel.EventLoop;
import io.netty.channel.IoEventLoop;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A {@link BlockDevice} over one regular file, like {@code qemu-nbd} or {@code nbdkit file}: sparse,
 * TRIM punches holes, block status comes from {@code SEEK_DATA/SEEK_HOLE}.
 *
 * <p>Design: positional {@link FileChannel} reads and writes through the page cache, run on a small
 * pool of I/O threads so that callers (event loops) never block. Durability is {@code fdatasync}
 * ({@code force(false)}), and concurrent flushes share one sync ({@link SyncBatcher}): with many
 * writers in flight, each FLUSH or FUA write does not cost one disk sync of its own. All clients of
 * one device share the page cache, so a flush covers every client's writes
 * ({@link #sharedCacheAcrossClients()} is true).
 *
 * <p>On an io_uring event loop ({@link #forEventLoop}), writes and syncs skip the I/O threads: writes
 * up to {@link #INLINE_WRITE_BYTES_MAX} are copied into the page cache by the loop itself, larger
 * ones and syncs are submitted to the loop's own ring and complete on the loop ({@link UringFileIo}),
 * and a flush from a connection with nothing else in flight ({@link #flushAlone}) syncs on the loop.
 * This saves the two thread hand-offs that dominate a 4 KiB write or a flush at queue depth 1. It
 * does block the loop for a page-cache copy or an fdatasync, which is why {@code nbd serve} gives
 * connections loops of their own: the loop then plays the part of nbdkit's connection thread.
 * Everything else (reads that miss the page cache, TRIM, zeroing, block status) stays on the I/O
 * threads. All paths write through the same page cache and sync the same file, so a flush on any
 * covers writes done by any.
 */
public final class FileBlockDevice implements BlockDevice {
    private static final Logger log = LoggerFactory.getLogger(FileBlockDevice.class);

    /** Largest read or write in one call: bounds the memory one request can pin. */
    public static final int MAXIMUM_PAYLOAD_BYTES = 32 << 20;
    private static final int PREFERRED_BLOCK_SIZE_BYTES = 4096;
    /**
     * Reads up to this size are first tried in the caller's thread from the page cache (see
     * {@link #read}); larger ones would hold an event loop for too long copying.
     */
    private static final int INLINE_READ_BYTES_MAX = 256 << 10;
    /**
     * Writes up to this size are copied into the page cache by the event loop itself, as nbdkit's
     * connection thread does: a 4 KiB pwrite takes a few microseconds, less than a hand-off to an
     * io_uring worker and back (on ext4 a buffered io_uring write is punted to a kernel worker),
     * and 1 MiB ones at QD4 measured 27% faster than nbdkit-file inline against 23% slower through
     * the ring. Larger ones go to the ring or the I/O threads, which bounds how long one request
     * holds the loop (`nbd serve` gives each connection its own loop, see NbdServeCommand).
     */
    private static final int INLINE_WRITE_BYTES_MAX = Integer.getInteger("basalt.nbd.inlineWriteBytes", 1 << 20);
    /** Zero-writing fallback works in pieces of this size to bound its buffer. */
    private static final int ZERO_PIECE_BYTES = 1 << 20;

    private final Path path;
    private final FileChannel channel;
    private final int nativeFd;
    private final long sizeBytes;
    private final boolean readOnly;
    private final ExecutorService ioExecutor;
    private final SyncBatcher syncBatcher;
    private volatile boolean punchHoleSupported;
    private volatile boolean zeroRangeSupported;
    private volatile boolean closed;
    /** One io_uring submitter per event loop that asked ({@link #forEventLoop}). */
    private final ConcurrentHashMap<EventLoop, UringFileIo> rings = new ConcurrentHashMap<>();

    private FileBlockDevice(Path path, FileChannel channel, int nativeFd, long sizeBytes, boolean readOnly,
            int ioThreads) {
        this.path = path;
        this.channel = channel;
        this.nativeFd = nativeFd;
        this.sizeBytes = sizeBytes;
        this.readOnly = readOnly;
        this.punchHoleSupported = nativeFd >= 0;
        this.zeroRangeSupported = nativeFd >= 0;
        AtomicInteger threadNumber = new AtomicInteger();
        this.ioExecutor = Executors.newFixedThreadPool(ioThreads, runnable -> {
            Thread thread = new Thread(runnable, ThreadNames.of("basalt-file-io-" + threadNumber.incrementAndGet()));
            thread.setDaemon(true);
            return thread;
        });
        this.syncBatcher = new SyncBatcher(() -> {
            try {
                channel.force(false);
            } catch (IOException e) {
                throw ioFailure("fdatasync", e);
            }
        }, ioExecutor);
    }

    /**
     * Opens {@code path}, creating it sparse with {@code createSizeBytes} when it does not exist.
     *
     * @param sizeBytes required to create the file; when the file exists it must match, if given
     * @throws IllegalArgumentException with a one-line message naming the fix
     */
    public static FileBlockDevice open(Path path, OptionalLong sizeBytes, boolean readOnly, int ioThreads)
            throws IOException {
        if (ioThreads < 1 || ioThreads > 256) {
            throw new IllegalArgumentException("I/O threads " + ioThreads + " out of range [1, 256]");
        }
        if (!Files.exists(path)) {
            if (sizeBytes.isEmpty()) {
                throw new IllegalArgumentException("file " + path + " does not exist; give --size to create it");
            }
            if (readOnly) {
                throw new IllegalArgumentException("file " + path + " does not exist; a read-only export needs an existing file");
            }
            long size = sizeBytes.getAsLong();
            if (size <= 0) {
                throw new IllegalArgumentException("size " + size + " must be positive");
            }
            Path parent = path.toAbsolutePath().getParent();
            if (parent != null) {
                Files.createDirectories(parent);
            }
            try (RandomAccessFile file = new RandomAccessFile(path.toFile(), "rw")) {
                file.setLength(size); // ftruncate: sparse, no blocks allocated
            }
            log.info("created sparse file {} of {}", path, Units.formatBytes(size));
        } else if (!Files.isRegularFile(path)) {
            throw new IllegalArgumentException(path + " is not a regular file");
        }
        FileChannel channel = readOnly
                ? FileChannel.open(path, StandardOpenOption.READ)
                : FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
        try {
            long actualSize = channel.size();
            if (sizeBytes.isPresent() && sizeBytes.getAsLong() != actualSize) {
                throw new IllegalArgumentException("file " + path + " is " + actualSize + " bytes but --size says "
                        + sizeBytes.getAsLong() + "; omit --size or resize the file (truncate -s)");
            }
            if (actualSize == 0) {
                throw new IllegalArgumentException("file " + path + " is empty; give it a size (truncate -s 10G " + path + ")");
            }
            int fd = -1;
            if (LinuxFiles.available()) {
                fd = LinuxFiles.open(path, !readOnly);
            } else {
                log.warn("no native file calls ({}): TRIM will not punch holes, block status reports all data",
                        LinuxFiles.unavailableReason());
            }
            return new FileBlockDevice(path, channel, fd, actualSize, readOnly, ioThreads);
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
    }

    public Path path() {
        return path;
    }

    @Override
    public long sizeBytes() {
        return sizeBytes;
    }

    @Override
    public int minimumBlockSizeBytes() {
        return 1;
    }

    @Override
    public int preferredBlockSizeBytes() {
        return PREFERRED_BLOCK_SIZE_BYTES;
    }

    @Override
    public int maximumPayloadBytes() {
        return MAXIMUM_PAYLOAD_BYTES;
    }

    @Override
    public boolean isReadOnly() {
        return readOnly;
    }

    @Override
    public boolean sharedCacheAcrossClients() {
        return true;
    }

    @Override
    public boolean supportsFastZero() {
        return punchHoleSupported || zeroRangeSupported;
    }

    /**
     * Reads go first to the page cache without blocking ({@code RWF_NOWAIT}, in the caller's
     * thread): a hot read then costs no hand-off to an I/O thread and back, which at queue depth 1
     * is most of its latency. Anything not fully cached goes to the I/O threads as usual.
     */
    @Override
    public CompletableFuture<Void> read(long offsetBytes, int lengthBytes, ByteBuf destination) {
        if (nativeFd >= 0 && lengthBytes > 0 && lengthBytes <= INLINE_READ_BYTES_MAX && !closed
                && offsetBytes >= 0 && offsetBytes <= sizeBytes - lengthBytes
                && destination.writableBytes() >= lengthBytes && destination.isDirect()) {
            int writerIndex = destination.writerIndex();
            try {
                MemorySegment target = MemorySegment.ofBuffer(destination.nioBuffer(writerIndex, lengthBytes));
                if (LinuxFiles.readIfCached(nativeFd, target, offsetBytes) == lengthBytes) {
                    destination.writerIndex(writerIndex + lengthBytes);
                    return CompletableFuture.completedFuture(null);
                }
            } catch (IOException e) {
                log.debug("cached read at {} of {} failed ({}); retrying on an I/O thread", offsetBytes, path, e.toString());
            }
        }
        return submit(() -> {
            checkIo(offsetBytes, lengthBytes, false);
            if (destination.writableBytes() < lengthBytes) {
                throw new BlockDeviceException(Kind.INVALID, "destination has room for " + destination.writableBytes()
                        + " bytes, read needs " + lengthBytes);
            }
            int writerIndex = destination.writerIndex();
            ByteBuffer target = destination.nioBuffer(writerIndex, lengthBytes);
            long position = offsetBytes;
            try {
                while (target.hasRemaining()) {
                    int read = channel.read(target, position);
                    if (read < 0) {
                        // The file shrank under us: what is gone reads as zeroes, like a hole.
                        destination.setZero(writerIndex + target.position(), target.remaining());
                        break;
                    }
                    position += read;
                }
            } catch (IOException e) {
                throw ioFailure("read at " + offsetBytes, e);
            }
            destination.writerIndex(writerIndex + lengthBytes);
            return null;
        });
    }

    @Override
    public CompletableFuture<Void> write(long offsetBytes, ByteBuf data, boolean fua) {
        int lengthBytes = data.readableBytes();
        CompletableFuture<Void> written = submit(() -> {
            checkIo(offsetBytes, lengthBytes, true);
            long position = offsetBytes;
            try {
                ByteBuffer[] sources = data.nioBuffers(data.readerIndex(), lengthBytes);
                if (sources.length > 1 && nativeFd >= 0 && data.isDirect()) {
                    // A payload in pieces (a composite network buffer): one pwritev, no gathering copy.
                    LinuxFiles.writeGathering(nativeFd, sources, offsetBytes, path.toString());
                    return null;
                }
                for (ByteBuffer source : sources) {
                    while (source.hasRemaining()) {
                        position += channel.write(source, position);
                    }
                }
            } catch (IOException e) {
                throw ioFailure("write at " + offsetBytes, e);
            }
            return null;
        });
        return fua ? written.thenCompose(ignored -> syncBatcher.sync()) : written;
    }

    @Override
    public CompletableFuture<Void> flush() {
        if (closed) {
            return CompletableFuture.failedFuture(new BlockDeviceException(Kind.SHUTDOWN, "device " + path + " is closed"));
        }
        if (readOnly) {
            return CompletableFuture.completedFuture(null);
        }
        return syncBatcher.sync();
    }

    /**
     * The fdatasync in the caller's thread, as nbdkit's connection thread does: at queue depth 1 the
     * caller has nothing to do but wait, and the two thread wake-ups of a sync elsewhere (to the
     * syncing thread and back) cost about 50 us here, a fifth of a flush. Other connections of
     * the caller's event loop wait for the sync; flushes that overlap still share one sync, since
     * only a caller with nothing in flight comes here and only when no sync is running.
     */
    @Override
    public CompletableFuture<Void> flushAlone() {
        if (closed || readOnly || syncBatcher.isRunning()) {
            return flush();
        }
        return syncInCaller();
    }

    private CompletableFuture<Void> syncInCaller() {
        try {
            channel.force(false);
            return CompletableFuture.completedFuture(null);
        } catch (IOException e) {
            return CompletableFuture.failedFuture(ioFailure("fdatasync", e));
        }
    }

    @Override
    public CompletableFuture<Void> trim(long offsetBytes, long lengthBytes, boolean fua) {
        CompletableFuture<Void> trimmed = submit(() -> {
            checkIo(offsetBytes, lengthBytes, true);
            if (punchHoleSupported) {
                punchHole(offsetBytes, lengthBytes);
            }
            return null;
        });
        return fua ? trimmed.thenCompose(ignored -> syncBatcher.sync()) : trimmed;
    }

    @Override
    public CompletableFuture<Void> writeZeroes(
            long offsetBytes, long lengthBytes, boolean mayDeallocate, boolean fastOnly, boolean fua) {
        CompletableFuture<Void> zeroed = submit(() -> {
            checkIo(offsetBytes, lengthBytes, true);
            if (mayDeallocate && punchHoleSupported && punchHole(offsetBytes, lengthBytes)) {
                return null;
            }
            if (zeroRangeSupported && zeroRange(offsetBytes, lengthBytes)) {
                return null;
            }
            if (fastOnly) {
                throw new BlockDeviceException(Kind.NOT_SUPPORTED,
                        "the file system of " + path + " cannot zero a range without writing zeroes");
            }
            writeZeroBytes(offsetBytes, lengthBytes);
            return null;
        });
        return fua ? zeroed.thenCompose(ignored -> syncBatcher.sync()) : zeroed;
    }

    @Override
    public CompletableFuture<List<Extent>> blockStatus(long offsetBytes, long lengthBytes, int extentsMax) {
        return submit(() -> {
            checkIo(offsetBytes, lengthBytes, false);
            if (extentsMax < 1) {
                throw new BlockDeviceException(Kind.INVALID, "extentsMax " + extentsMax + " must be at least 1");
            }
            long end = offsetBytes + lengthBytes;
            List<Extent> extents = new ArrayList<>();
            if (nativeFd < 0 || lengthBytes == 0) {
                extents.add(Extent.data(Math.max(1, lengthBytes)));
                return extents;
            }
            String what = path.toString();
            long position = offsetBytes;
            try {
                while (position < end && extents.size() < extentsMax) {
                    long dataStart = LinuxFiles.seekData(nativeFd, position, what);
                    if (dataStart < 0 || dataStart >= end) {
                        extents.add(Extent.hole(end - position));
                        break;
                    }
                    if (dataStart > position) {
                        extents.add(Extent.hole(dataStart - position));
                        position = dataStart;
                        if (extents.size() == extentsMax) {
                            break;
                        }
                    }
                    long holeStart = Math.min(LinuxFiles.seekHole(nativeFd, position, what), end);
                    if (holeStart <= position) {
                        holeStart = end; // a file system that reports no holes: all data
                    }
                    extents.add(Extent.data(holeStart - position));
                    position = holeStart;
                }
            } catch (IOException e) {
                throw ioFailure("block status at " + offsetBytes, e);
            }
            return extents;
        });
    }

    @Override
    public CompletableFuture<Void> prefetch(long offsetBytes, long lengthBytes) {
        return submit(() -> {
            checkIo(offsetBytes, lengthBytes, false);
            if (nativeFd >= 0) {
                LinuxFiles.willNeed(nativeFd, offsetBytes, lengthBytes);
            }
            return null;
        });
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        try {
            if (!readOnly) {
                syncBatcher.sync().join();
            }
        } finally {
            closed = true;
            for (var entry : rings.entrySet()) {
                // In-flight ring I/O still completes (the kernel holds the file); new I/O is refused.
                if (!entry.getKey().isShuttingDown()) {
                    entry.getKey().execute(entry.getValue()::close);
                }
            }
            ioExecutor.shutdown();
            try {
                if (!ioExecutor.awaitTermination(30, TimeUnit.SECONDS)) {
                    log.warn("I/O threads of {} did not finish in 30 s; closing anyway", path);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            try {
                channel.close();
            } catch (IOException e) {
                log.warn("closing {}: {}", path, e.toString());
            }
            LinuxFiles.close(nativeFd);
        }
    }

    /**
     * On an io_uring event loop: a view whose writes, FUA writes and flushes go through that loop's
     * ring when called on the loop (anything else, or a ring that cannot take more, falls back to
     * the I/O threads). On any other loop, or a read-only device, this device itself.
     */
    @Override
    public BlockDevice forEventLoop(EventLoop eventLoop) {
        if (nativeFd < 0 || readOnly || closed || !(eventLoop instanceof IoEventLoop ioLoop)
                || !ioLoop.isCompatible(UringFileIo.class)) {
            return this;
        }
        UringFileIo ring = rings.get(eventLoop);
        if (ring == null) {
            UringFileIo created = new UringFileIo(this, nativeFd, ioLoop);
            try {
                created.register();
            } catch (Exception e) {
                log.warn("cannot register {} with the io_uring of {} ({}); its writes use the I/O threads",
                        path, eventLoop, e.toString());
                return this;
            }
            ring = rings.putIfAbsent(eventLoop, created);
            if (ring == null) {
                ring = created;
            } else {
                eventLoop.execute(created::close);
            }
        }
        return new LoopView(ring);
    }

    /** The ring of {@code eventLoop}, if it has one (tests). */
    UringFileIo ringOf(EventLoop eventLoop) {
        return rings.get(eventLoop);
    }

    /**
     * A write done in the caller's thread (see {@link #INLINE_WRITE_BYTES_MAX}); null when the
     * payload is not in direct memory, so the caller takes another path.
     */
    private CompletableFuture<Void> writeInline(long offsetBytes, ByteBuf data) {
        if (!data.isDirect()) {
            return null;
        }
        try {
            LinuxFiles.writeGathering(nativeFd, data.nioBuffers(data.readerIndex(), data.readableBytes()), offsetBytes,
                    path.toString());
            return CompletableFuture.completedFuture(null);
        } catch (IOException e) {
            return CompletableFuture.failedFuture(ioFailure("write at " + offsetBytes, e));
        }
    }

    /** Called on the loop when a ring's registration is gone (loop shut down or device closed). */
    void ringGone(EventLoop eventLoop, UringFileIo ring) {
        rings.remove(eventLoop, ring);
    }

    /**
     * The device as seen from one io_uring event loop. Stateless beyond its ring: every connection
     * on the loop may have one.
     */
    private final class LoopView implements BlockDevice {
        private final UringFileIo ring;

        LoopView(UringFileIo ring) {
            this.ring = ring;
        }

        @Override
        public CompletableFuture<Void> write(long offsetBytes, ByteBuf data, boolean fua) {
            if (!closed && ring.inEventLoop()) {
                try {
                    checkIo(offsetBytes, data.readableBytes(), true);
                } catch (BlockDeviceException e) {
                    return CompletableFuture.failedFuture(e);
                }
                CompletableFuture<Void> written = data.readableBytes() <= INLINE_WRITE_BYTES_MAX
                        ? writeInline(offsetBytes, data) : ring.write(offsetBytes, data);
                if (written != null) {
                    // Completes on the loop, so the sync is submitted from the loop too.
                    return fua ? written.thenCompose(ignored -> flush()) : written;
                }
            }
            return FileBlockDevice.this.write(offsetBytes, data, fua);
        }

        @Override
        public CompletableFuture<Void> flush() {
            if (!closed && ring.inEventLoop()) {
                CompletableFuture<Void> synced = ring.sync();
                if (synced != null) {
                    return synced;
                }
            }
            return FileBlockDevice.this.flush();
        }

        @Override
        public CompletableFuture<Void> flushAlone() {
            if (!closed && ring.inEventLoop() && !ring.syncRunning()) {
                return syncInCaller();
            }
            return flush();
        }

        @Override
        public long sizeBytes() {
            return sizeBytes;
        }

        @Override
        public int minimumBlockSizeBytes() {
            return FileBlockDevice.this.minimumBlockSizeBytes();
        }

        @Override
        public int preferredBlockSizeBytes() {
            return FileBlockDevice.this.preferredBlockSizeBytes();
        }

        @Override
        public int maximumPayloadBytes() {
            return FileBlockDevice.this.maximumPayloadBytes();
        }

        @Override
        public boolean isReadOnly() {
            return readOnly;
        }

        @Override
        public boolean sharedCacheAcrossClients() {
            return true;
        }

        @Override
        public boolean supportsFastZero() {
            return FileBlockDevice.this.supportsFastZero();
        }

        @Override
        public CompletableFuture<Void> read(long offsetBytes, int lengthBytes, ByteBuf destination) {
            return FileBlockDevice.this.read(offsetBytes, lengthBytes, destination);
        }

        @Override
        public CompletableFuture<Void> trim(long offsetBytes, long lengthBytes, boolean fua) {
            return FileBlockDevice.this.trim(offsetBytes, lengthBytes, fua);
        }

        @Override
        public CompletableFuture<Void> writeZeroes(long offsetBytes, long lengthBytes, boolean mayDeallocate,
                boolean fastOnly, boolean fua) {
            return FileBlockDevice.this.writeZeroes(offsetBytes, lengthBytes, mayDeallocate, fastOnly, fua);
        }

        @Override
        public CompletableFuture<List<Extent>> blockStatus(long offsetBytes, long lengthBytes, int extentsMax) {
            return FileBlockDevice.this.blockStatus(offsetBytes, lengthBytes, extentsMax);
        }

        @Override
        public CompletableFuture<Void> prefetch(long offsetBytes, long lengthBytes) {
            return FileBlockDevice.this.prefetch(offsetBytes, lengthBytes);
        }

        @Override
        public BlockDevice forEventLoop(EventLoop eventLoop) {
            return FileBlockDevice.this.forEventLoop(eventLoop);
        }

        /** The device is closed by its owner, not through a view. */
        @Override
        public void close() {
        }
    }

    private <T> CompletableFuture<T> submit(Supplier<T> operation) {
        if (closed) {
            return CompletableFuture.failedFuture(new BlockDeviceException(Kind.SHUTDOWN, "device " + path + " is closed"));
        }
        try {
            return CompletableFuture.supplyAsync(operation, ioExecutor);
        } catch (java.util.concurrent.RejectedExecutionException e) {
            return CompletableFuture.failedFuture(new BlockDeviceException(Kind.SHUTDOWN, "device " + path + " is closing"));
        }
    }

    private void checkIo(long offsetBytes, long lengthBytes, boolean writes) {
        if (writes && readOnly) {
            throw new BlockDeviceException(Kind.READ_ONLY, "device " + path + " is read-only");
        }
        BlockDevice.checkRange(offsetBytes, lengthBytes, sizeBytes);
    }

    /** Punches a hole; false when the file system cannot (then remembered, and not tried again). */
    private boolean punchHole(long offsetBytes, long lengthBytes) {
        boolean done = fallocate(LinuxFiles.FALLOC_FL_PUNCH_HOLE, "punch hole", offsetBytes, lengthBytes,
                "cannot punch holes; TRIM becomes a no-op");
        punchHoleSupported &= done;
        return done;
    }

    /** Zeroes a range in place without writing; false when the file system cannot (remembered). */
    private boolean zeroRange(long offsetBytes, long lengthBytes) {
        boolean done = fallocate(LinuxFiles.FALLOC_FL_ZERO_RANGE, "zero range", offsetBytes, lengthBytes,
                "cannot zero ranges in place; zeroing writes zeroes");
        zeroRangeSupported &= done;
        return done;
    }

    private boolean fallocate(int mode, String what, long offsetBytes, long lengthBytes, String whenUnsupported) {
        try {
            LinuxFiles.fallocate(nativeFd, mode | LinuxFiles.FALLOC_FL_KEEP_SIZE, offsetBytes, lengthBytes,
                    path.toString());
            return true;
        } catch (IOException e) {
            if (LinuxFiles.isUnsupported(e)) {
                log.info("file system of {} {}", path, whenUnsupported);
                return false;
            }
            throw ioFailure(what + " at " + offsetBytes, e);
        }
    }

    private void writeZeroBytes(long offsetBytes, long lengthBytes) {
        ByteBuffer zeroes = ByteBuffer.allocateDirect((int) Math.min(ZERO_PIECE_BYTES, lengthBytes));
        long position = offsetBytes;
        long end = offsetBytes + lengthBytes;
        try {
            while (position < end) {
                zeroes.clear().limit((int) Math.min(zeroes.capacity(), end - position));
                while (zeroes.hasRemaining()) {
                    position += channel.write(zeroes, position);
                }
            }
        } catch (IOException e) {
            throw ioFailure("write zeroes at " + position, e);
        }
    }

    private BlockDeviceException ioFailure(String what, IOException e) {
        boolean noSpace = LinuxFiles.isNoSpace(e)
                || (e.getMessage() != null && e.getMessage().contains("No space left"));
        if (noSpace) {
            return new BlockDeviceException(Kind.NO_SPACE, what + " on " + path + ": no space left on device", e);
        }
        if (e instanceof NoSuchFileException) {
            return new BlockDeviceException(Kind.IO, what + ": " + path + " disappeared", e);
        }
        log.warn("{} on {} failed: {}", what, path, e.toString());
        return new BlockDeviceException(Kind.IO, what + " on " + path + " failed: " + e.getMessage(), e);
    }
}
