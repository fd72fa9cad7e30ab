package io.basalt.nbd;

import io.basalt.common.block.BlockDevice;
import io.basalt.common.block.BlockDeviceException;
import io.basalt.common.block.Extent;
import io.netty.buffer.ByteBuf;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongFunction;

/**
 * A sparse in-memory {@link BlockDevice} for protocol tests: 4 KiB pages, absent pages are holes.
 * {@code gate} lets a test hold an operation at a given offset (to force out-of-order replies).
 */
final class MemoryBlockDevice implements BlockDevice {
    static final int PAGE = 4096;

    private final long sizeBytes;
    private final boolean readOnly;
    private final ConcurrentHashMap<Long, byte[]> pages = new ConcurrentHashMap<>();
    volatile LongFunction<CompletableFuture<Void>> gate = offset -> CompletableFuture.completedFuture(null);
    volatile int flushes;

    MemoryBlockDevice(long sizeBytes, boolean readOnly) {
        this.sizeBytes = sizeBytes;
        this.readOnly = readOnly;
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
        return PAGE;
    }

    @Override
    public int maximumPayloadBytes() {
        return 1 << 20;
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
        return true;
    }

    @Override
    public CompletableFuture<Void> read(long offsetBytes, int lengthBytes, ByteBuf destination) {
        return gate.apply(offsetBytes).thenRun(() -> {
            BlockDevice.checkRange(offsetBytes, lengthBytes, sizeBytes);
            for (long position = offsetBytes; position < offsetBytes + lengthBytes; position++) {
                byte[] page = pages.get(position / PAGE);
                destination.writeByte(page == null ? 0 : page[(int) (position % PAGE)]);
            }
        });
    }

    @Override
    public CompletableFuture<Void> write(long offsetBytes, ByteBuf data, boolean fua) {
        byte[] bytes = new byte[data.readableBytes()];
        data.getBytes(data.readerIndex(), bytes);
        return gate.apply(offsetBytes).thenRun(() -> {
            checkWritable();
            BlockDevice.checkRange(offsetBytes, bytes.length, sizeBytes);
            for (int i = 0; i < bytes.length; i++) {
                long position = offsetBytes + i;
                pages.computeIfAbsent(position / PAGE, p -> new byte[PAGE])[(int) (position % PAGE)] = bytes[i];
            }
        });
    }

    @Override
    public CompletableFuture<Void> flush() {
        flushes++;
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public CompletableFuture<Void> trim(long offsetBytes, long lengthBytes, boolean fua) {
        return writeZeroes(offsetBytes, lengthBytes, true, false, fua);
    }

    @Override
    public CompletableFuture<Void> writeZeroes(long offsetBytes, long lengthBytes, boolean mayDeallocate,
            boolean fastOnly, boolean fua) {
        return gate.apply(offsetBytes).thenRun(() -> {
            checkWritable();
            BlockDevice.checkRange(offsetBytes, lengthBytes, sizeBytes);
            for (long position = offsetBytes; position < offsetBytes + lengthBytes; position++) {
                long pageIndex = position / PAGE;
                if (position % PAGE == 0 && offsetBytes + lengthBytes - position >= PAGE && mayDeallocate) {
                    pages.remove(pageIndex);
                    position += PAGE - 1;
                    continue;
                }
                byte[] page = pages.get(pageIndex);
                if (page != null) {
                    page[(int) (position % PAGE)] = 0;
                }
            }
        });
    }

    @Override
    public CompletableFuture<List<Extent>> blockStatus(long offsetBytes, long lengthBytes, int extentsMax) {
        return gate.apply(offsetBytes).thenApply(ignored -> {
            BlockDevice.checkRange(offsetBytes, lengthBytes, sizeBytes);
            List<Extent> extents = new ArrayList<>();
            long position = offsetBytes;
            long end = offsetBytes + lengthBytes;
            while (position < end && extents.size() < extentsMax) {
                boolean hole = !pages.containsKey(position / PAGE);
                long runEnd = position;
                while (runEnd < end && pages.containsKey(runEnd / PAGE) != hole) {
                    runEnd = Math.min(end, (runEnd / PAGE + 1) * PAGE);
                }
                extents.add(hole ? Extent.hole(runEnd - position) : Extent.data(runEnd - position));
                position = runEnd;
            }
            return extents;
        });
    }

    @Override
    public void close() {}

    private void checkWritable() {
        if (readOnly) {
            throw new BlockDeviceException(BlockDeviceException.Kind.READ_ONLY, "read-only");
        }
    }
}
