package io.basalt.common.block;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.basalt.common.block.BlockDeviceException.Kind;
import io.basalt.common.io.LinuxFiles;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoEventLoop;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.uring.IoUring;
import io.netty.channel.uring.IoUringIoHandler;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.OptionalLong;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The file device's io_uring path: writes and syncs submitted on an io_uring event loop complete
 * on that loop (no I/O thread), read back byte-exact, sync when FUA or flushed, and fail with the
 * kernel's errno mapped to a block error.
 */
class UringFileIoTest {
    private static final long SIZE = 64L << 20;

    @TempDir
    Path dir;
    private Path file;
    private FileBlockDevice device;
    private EventLoopGroup group;
    private EventLoop loop;
    private BlockDevice view;

    @BeforeEach
    void open() throws Exception {
        assumeTrue(IoUring.isAvailable(), () -> "io_uring unavailable: " + IoUring.unavailabilityCause());
        file = dir.resolve("disk.img");
        device = FileBlockDevice.open(file, OptionalLong.of(SIZE), false, 2);
        group = new MultiThreadIoEventLoopGroup(1, IoUringIoHandler.newFactory());
        loop = group.next();
        view = onLoop(() -> device.forEventLoop(loop));
    }

    @AfterEach
    void close() {
        if (device != null) {
            device.close();
        }
        if (group != null) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }

    @Test
    void anIoUringLoopGetsAViewAndOtherLoopsTheDeviceItself() throws Exception {
        assertThat(view).isNotSameAs(device);
        assertThat(view.sizeBytes()).isEqualTo(SIZE);
        EventLoopGroup nio = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        try {
            EventLoop nioLoop = nio.next();
            assertThat(nioLoop.submit(() -> device.forEventLoop(nioLoop)).get()).isSameAs(device);
        } finally {
            nio.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
        }
    }

    @Test
    void writesCompleteOnTheLoopAndReadBackByteExact() throws Exception {
        Random random = new Random(11);
        byte[] model = new byte[(int) (4 << 20)];
        for (int i = 0; i < 200; i++) {
            int length = 1 + random.nextInt(i % 10 == 0 ? 1 << 20 : 9000);
            int offset = random.nextInt(model.length - length);
            byte[] data = new byte[length];
            random.nextBytes(data);
            System.arraycopy(data, 0, model, offset, length);
            AtomicReference<Thread> completedOn = new AtomicReference<>();
            ByteBuf buffer = Unpooled.directBuffer(length).writeBytes(data);
            try {
                onLoop(() -> view.write(offset, buffer, false).thenRun(() -> completedOn.set(Thread.currentThread())))
                        .get(10, TimeUnit.SECONDS);
            } finally {
                buffer.release();
            }
            assertThat(loop.inEventLoop(completedOn.get())).as("write %d completed on the loop, not an I/O thread", i)
                    .isTrue();
        }
        assertThat(readFile(0, model.length)).isEqualTo(model);
    }

    @Test
    void aPayloadInMorePiecesThanOneWritevTakesIsWrittenInParts() throws Exception {
        byte[] data = new byte[1500 * 100];
        new Random(5).nextBytes(data);
        CompositeByteBuf pieces = Unpooled.compositeBuffer(2000);
        for (int offset = 0; offset < data.length; offset += 100) {
            pieces.addComponent(true, Unpooled.directBuffer(100).writeBytes(data, offset, 100));
        }
        assertThat(pieces.nioBufferCount()).as("more than UIO_MAXIOV pieces: a short write").isGreaterThan(1024);
        try {
            onLoop(() -> view.write(12_345, pieces, false)).get(10, TimeUnit.SECONDS);
        } finally {
            pieces.release();
        }
        assertThat(readFile(12_345, data.length)).isEqualTo(data);
    }

    @Test
    void fuaWritesAndFlushesSyncOnTheRingAndPlainWritesDoNot() throws Exception {
        ByteBuf buffer = Unpooled.directBuffer(4096).writeZero(4096);
        try {
            onLoop(() -> view.write(0, buffer, false)).get(10, TimeUnit.SECONDS);
            UringFileIo ring = device.ringOf(loop);
            assertThat(syncs(ring)).isZero();
            onLoop(() -> view.write(4096, buffer, true)).get(10, TimeUnit.SECONDS);
            assertThat(syncs(ring)).isEqualTo(1);
            onLoop(view::flush).get(10, TimeUnit.SECONDS);
            assertThat(syncs(ring)).isEqualTo(2);
        } finally {
            buffer.release();
        }
    }

    @Test
    void flushesThatArriveWhileASyncRunsShareTheNextOne() throws Exception {
        List<CompletableFuture<Void>> flushes = loop.submit(() -> {
            List<CompletableFuture<Void>> all = new ArrayList<>();
            for (int i = 0; i < 100; i++) {
                all.add(view.flush());
            }
            return all;
        }).get();
        CompletableFuture.allOf(flushes.toArray(CompletableFuture[]::new)).get(10, TimeUnit.SECONDS);
        // The first starts a sync; the other 99 arrived while it ran, so they share one more.
        assertThat(syncs(device.ringOf(loop))).isEqualTo(2);
    }

    @Test
    void aKernelErrorFailsTheWriteWithItsErrno() throws Exception {
        // A descriptor open for reading only: the kernel answers the WRITE with EBADF.
        int readOnlyFd = LinuxFiles.open(file, false);
        try {
            UringFileIo ring = new UringFileIo(device, readOnlyFd, (IoEventLoop) loop);
            CompletableFuture<Void> written = loop.submit(() -> {
                ring.register();
                ByteBuf buffer = Unpooled.directBuffer(4096).writeZero(4096);
                return ring.write(0, buffer).whenComplete((ignored, failure) -> buffer.release());
            }).get();
            assertThatThrownBy(() -> written.get(10, TimeUnit.SECONDS)).cause()
                    .isInstanceOfSatisfying(BlockDeviceException.class, e -> {
                        assertThat(e.kind()).isEqualTo(Kind.IO);
                        assertThat(e.getMessage()).contains("write at 0").contains("errno 9");
                    });
            loop.submit(ring::close).get();
        } finally {
            LinuxFiles.close(readOnlyFd);
        }
    }

    @Test
    void noSpaceErrnosMapToNoSpace() {
        assertThat(UringFileIo.failure("write at 0", 28, "f").kind()).isEqualTo(Kind.NO_SPACE);
        assertThat(UringFileIo.failure("write at 0", 122, "f").kind()).isEqualTo(Kind.NO_SPACE);
        assertThat(UringFileIo.failure("write at 0", 5, "f").kind()).isEqualTo(Kind.IO);
    }

    @Test
    void writesPastTheEndAreRefusedBeforeTheRing() throws Exception {
        ByteBuf buffer = Unpooled.directBuffer(2).writeZero(2);
        try {
            CompletableFuture<Void> written = onLoop(() -> view.write(SIZE - 1, buffer, false));
            assertThatThrownBy(written::join).isInstanceOf(CompletionException.class)
                    .cause().isInstanceOfSatisfying(BlockDeviceException.class,
                            e -> assertThat(e.kind()).isEqualTo(Kind.OUT_OF_RANGE));
        } finally {
            buffer.release();
        }
    }

    @Test
    void callsFromOffTheLoopUseTheIoThreads() throws Exception {
        // A write that is already complete when the dependent is attached runs it on this thread, and
        // tells nothing: try again until one completes elsewhere (the I/O thread, never the loop).
        Thread test = Thread.currentThread();
        Thread completedOn = test;
        for (int attempt = 0; attempt < 100 && completedOn == test; attempt++) {
            ByteBuf buffer = Unpooled.directBuffer(4096).writeBytes(new byte[4096]);
            AtomicReference<Thread> on = new AtomicReference<>();
            try {
                view.write(0, buffer, true).thenRun(() -> on.set(Thread.currentThread())).get(10, TimeUnit.SECONDS);
            } finally {
                buffer.release();
            }
            completedOn = on.get();
        }
        assertThat(completedOn).as("some write completed after its dependent was attached").isNotSameAs(test);
        assertThat(completedOn.getName()).startsWith("basalt-file-io-");
    }

    @Test
    void afterTheDeviceClosesTheViewRefusesWrites() throws Exception {
        device.close();
        ByteBuf buffer = Unpooled.directBuffer(1).writeZero(1);
        try {
            CompletableFuture<Void> written = onLoop(() -> view.write(0, buffer, false));
            assertThatThrownBy(written::join).cause().isInstanceOfSatisfying(BlockDeviceException.class,
                    e -> assertThat(e.kind()).isEqualTo(Kind.SHUTDOWN));
        } finally {
            buffer.release();
            device = null;
        }
    }

    private long syncs(UringFileIo ring) throws Exception {
        return loop.submit(ring::syncsCompleted).get();
    }

    private <T> T onLoop(Callable<T> call) throws Exception {
        return loop.submit(call).get(10, TimeUnit.SECONDS);
    }

    private byte[] readFile(long offset, int length) throws Exception {
        try (FileChannel channel = FileChannel.open(file)) {
            ByteBuffer buffer = ByteBuffer.allocate(length);
            while (buffer.hasRemaining()) {
                if (channel.read(buffer, offset + buffer.position()) < 0) {
                    break;
                }
            }
            return buffer.array();
        }
    }
}
