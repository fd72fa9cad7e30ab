package io.basalt.common.block;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.basalt.common.block.BlockDeviceException.Kind;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalLong;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class FileBlockDeviceTest {
    private static final long SIZE = 64L << 20;

    @TempDir
    Path dir;
    private Path file;
    private FileBlockDevice device;

    @BeforeEach
    void open() throws Exception {
        file = dir.resolve("disk.img");
        device = FileBlockDevice.open(file, OptionalLong.of(SIZE), false, 4);
    }

    @AfterEach
    void close() {
        device.close();
    }

    @Test
    void createsASparseFileOfTheGivenSize() throws Exception {
        assertThat(Files.size(file)).isEqualTo(SIZE);
        assertThat(device.sizeBytes()).isEqualTo(SIZE);
        List<Extent> extents = device.blockStatus(0, SIZE, 100).join();
        assertThat(extents).containsExactly(Extent.hole(SIZE));
    }

    @Test
    void readsBackWhatWasWrittenAtAnyOffset() {
        byte[] data = new byte[10_000];
        new Random(7).nextBytes(data);
        write(12_345, data, true);
        ByteBuf read = Unpooled.directBuffer(10_000);
        device.read(12_345, 10_000, read).join();
        assertThat(bytes(read)).isEqualTo(data);
        ByteBuf before = Unpooled.directBuffer(100);
        device.read(12_245, 100, before).join();
        assertThat(bytes(before)).containsOnly(0);
    }

    @Test
    void writesAPayloadInPiecesWithOneGatheringWrite() {
        byte[] data = new byte[300_000];
        new Random(3).nextBytes(data);
        io.netty.buffer.CompositeByteBuf pieces = Unpooled.compositeBuffer(4096);
        for (int offset = 0; offset < data.length; ) {
            int length = Math.min(data.length - offset, 1 + new Random(offset).nextInt(3000));
            pieces.addComponent(true, Unpooled.directBuffer(length).writeBytes(data, offset, length));
            offset += length;
        }
        assertThat(pieces.nioBufferCount()).as("more pieces than one pwritev takes").isGreaterThan(64);
        try {
            device.write(4097, pieces, false).join();
        } finally {
            pieces.release();
        }
        ByteBuf read = Unpooled.directBuffer(data.length);
        device.read(4097, data.length, read).join();
        assertThat(bytes(read)).isEqualTo(data);
    }

    @Test
    void trimPunchesAHoleThatReadsAsZeroes() {
        byte[] data = new byte[1 << 20];
        new Random(1).nextBytes(data);
        write(0, data, false);
        assertThat(device.blockStatus(0, 1 << 20, 10).join()).containsExactly(Extent.data(1 << 20));

        device.trim(256 << 10, 512 << 10, false).join();

        assertThat(device.blockStatus(0, 1 << 20, 10).join()).containsExactly(
                Extent.data(256 << 10), Extent.hole(512 << 10), Extent.data(256 << 10));
        ByteBuf read = Unpooled.directBuffer(512 << 10);
        device.read(256 << 10, 512 << 10, read).join();
        assertThat(bytes(read)).containsOnly(0);
    }

    @Test
    void writeZeroesWithAndWithoutDeallocation() {
        byte[] ones = new byte[2 << 20];
        java.util.Arrays.fill(ones, (byte) 1);
        write(0, ones, false);
        device.writeZeroes(0, 1 << 20, true, true, false).join();
        device.writeZeroes(1 << 20, 4096, false, false, true).join();
        ByteBuf read = Unpooled.directBuffer(2 << 20);
        device.read(0, 2 << 20, read).join();
        byte[] result = bytes(read);
        for (int i = 0; i < result.length; i++) {
            byte expected = i < (1 << 20) + 4096 ? (byte) 0 : (byte) 1;
            if (result[i] != expected) {
                throw new AssertionError("byte " + i + " is " + result[i] + ", expected " + expected);
            }
        }
        // With deallocation allowed the range became a hole.
        assertThat(device.blockStatus(0, 1 << 20, 10).join()).containsExactly(Extent.hole(1 << 20));
    }

    @Test
    void blockStatusStopsAtExtentsMax() {
        for (int i = 0; i < 8; i += 2) {
            byte[] block = new byte[65536];
            block[0] = 1;
            write(i * 65536L, block, false);
        }
        assertThat(device.blockStatus(0, 8 * 65536, 3).join()).hasSize(3);
        assertThat(device.blockStatus(0, 8 * 65536, 1).join()).containsExactly(Extent.data(65536));
    }

    @Test
    void refusesIoPastTheEnd() {
        ByteBuf buffer = Unpooled.directBuffer(11);
        assertFails(device.read(SIZE - 10, 11, buffer), Kind.OUT_OF_RANGE);
        assertFails(device.write(SIZE, buffer.writeZero(1), false), Kind.OUT_OF_RANGE);
        buffer.release();
        assertFails(device.trim(-1, 10, false), Kind.OUT_OF_RANGE);
        assertFails(device.writeZeroes(Long.MAX_VALUE, Long.MAX_VALUE, true, false, false), Kind.OUT_OF_RANGE);
    }

    @Test
    void readOnlyDeviceRefusesWritesButReads() throws Exception {
        write(0, new byte[] {42}, true);
        device.close();
        device = FileBlockDevice.open(file, OptionalLong.empty(), true, 1);
        ByteBuf one = Unpooled.directBuffer(1).writeZero(1);
        assertFails(device.write(0, one, false), Kind.READ_ONLY);
        one.release();
        assertFails(device.trim(0, 4096, false), Kind.READ_ONLY);
        ByteBuf read = Unpooled.directBuffer(1);
        device.read(0, 1, read).join();
        assertThat(read.getByte(0)).isEqualTo((byte) 42);
    }

    @Test
    void refusesASizeThatDoesNotMatchTheFile() {
        assertThatThrownBy(() -> FileBlockDevice.open(file, OptionalLong.of(SIZE * 2), false, 1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("is " + SIZE + " bytes but --size says " + (SIZE * 2));
        assertThatThrownBy(() -> FileBlockDevice.open(dir.resolve("missing.img"), OptionalLong.empty(), false, 1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("give --size");
    }

    @Test
    void concurrentFlushesShareSyncs() {
        List<CompletableFuture<Void>> writes = new java.util.ArrayList<>();
        for (int i = 0; i < 64; i++) {
            ByteBuf data = Unpooled.directBuffer(4096).writeZero(4096);
            writes.add(device.write(i * 4096L, data, true).whenComplete((ignored, failure) -> data.release()));
            writes.add(device.flush());
        }
        CompletableFuture.allOf(writes.toArray(CompletableFuture[]::new)).join();
    }

    @Test
    void aFlushWithNothingElseInFlightSyncsInTheCallersThread() {
        write(0, new byte[4096], false);
        // Done on return: the sync ran here, not on an I/O thread.
        assertThat(device.flushAlone()).isCompleted();
        device.close();
        assertFails(device.flushAlone(), Kind.SHUTDOWN);
    }

    @Test
    void closedDeviceRefusesWork() {
        device.close();
        ByteBuf buffer = Unpooled.directBuffer(1);
        assertFails(device.read(0, 1, buffer), Kind.SHUTDOWN);
        buffer.release();
    }

    private void write(long offset, byte[] data, boolean fua) {
        ByteBuf buffer = Unpooled.directBuffer(data.length).writeBytes(data);
        try {
            device.write(offset, buffer, fua).join();
        } finally {
            buffer.release();
        }
    }

    private static void assertFails(CompletableFuture<?> future, Kind kind) {
        assertThatThrownBy(future::join).isInstanceOf(CompletionException.class)
                .cause().isInstanceOf(BlockDeviceException.class)
                .satisfies(e -> assertThat(((BlockDeviceException) e).kind()).isEqualTo(kind));
    }

    private static byte[] bytes(ByteBuf buf) {
        byte[] out = new byte[buf.readableBytes()];
        buf.getBytes(buf.readerIndex(), out);
        buf.release();
        return out;
    }
}
