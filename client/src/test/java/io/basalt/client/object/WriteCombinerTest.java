package io.basalt.client.object;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import org.junit.jupiter.api.Test;

/**
 * Small writes into one log: the first ones go at once, those that queue while the device is busy go
 * out merged when touching (and only then), every byte lands where it was written, each member's future
 * completes with its combined write, and a failed combined write fails all its members.
 */
class WriteCombinerTest {
    /** Records each device write; writes complete only when the test says so. */
    static final class HeldDevice extends LogBodyTest.MemoryDevice {
        final List<long[]> writes = new CopyOnWriteArrayList<>();

        HeldDevice() {
            hold = true;
        }

        @Override
        public synchronized CompletableFuture<Void> write(long offset, ByteBuf data) {
            writes.add(new long[] {offset, data.readableBytes()});
            return super.write(offset, data);
        }
    }

    final HeldDevice device = new HeldDevice();
    final WriteCombiner combiner = new WriteCombiner(device, ByteBufAllocator.DEFAULT);

    static ByteBuf block(int blocks, int fill) {
        byte[] bytes = new byte[blocks * 4096];
        java.util.Arrays.fill(bytes, (byte) fill);
        return Unpooled.wrappedBuffer(bytes);
    }

    @Test
    void writesQueuedBehindBusyOnesGoOutMergedWhenTheyTouch() {
        List<CompletableFuture<Void>> done = new ArrayList<>();
        // Two go at once (the in-flight limit), the rest queue: 2..5 touch, 7 does not.
        for (int i : new int[] {0, 1, 3, 2, 5, 4, 7}) {
            done.add(combiner.write(i * 4096L, block(1, i + 1)));
        }
        assertThat(device.writes).hasSize(WriteCombiner.COMBINED_IN_FLIGHT_MAX);
        assertThat(done).noneMatch(CompletableFuture::isDone);

        device.held.getFirst().complete(null); // offset 0 done: the queue goes out, lowest run first
        assertThat(done.get(0)).isCompleted();
        assertThat(device.writes).hasSize(3);
        assertThat(device.writes.get(2)).containsExactly(2 * 4096L, 4 * 4096L); // blocks 2, 3, 4, 5
        assertThat(done.subList(2, 6)).noneMatch(CompletableFuture::isDone);

        device.held.get(1).complete(null); // offset 4096 done: block 7 alone
        assertThat(device.writes.get(3)).containsExactly(7 * 4096L, 4096L);
        device.held.get(2).complete(null);
        assertThat(done.subList(1, 6)).allMatch(f -> f.isDone() && !f.isCompletedExceptionally());
        assertThat(done.get(6)).isNotDone();
        device.held.get(3).complete(null);
        assertThat(done.get(6)).isCompleted();

        for (int i : new int[] {0, 1, 2, 3, 4, 5, 7}) {
            assertThat(device.blocks.get(i * 4096L)).containsOnly((byte) (i + 1));
        }
        assertThat(combiner.combinedCounts()).containsExactly(4, 7);
    }

    @Test
    void largeWritesGoStraightToTheDeviceEvenWhenSmallOnesWait() {
        combiner.write(0, block(1, 1));
        combiner.write(4096, block(1, 2));
        combiner.write(8192, block(1, 3)); // queued
        CompletableFuture<Void> large = combiner.write(1 << 20, block(WriteCombiner.SMALL_WRITE_BYTES_MAX / 4096, 9));
        assertThat(device.writes).hasSize(3);
        assertThat(device.writes.get(2)).containsExactly(1L << 20, WriteCombiner.SMALL_WRITE_BYTES_MAX);
        device.held.get(2).complete(null);
        assertThat(large).isCompleted();
    }

    @Test
    void aCombinedWriteStopsAtTheSizeLimit() {
        combiner.write(0, block(1, 1));
        combiner.write(4096, block(1, 1));
        int smallBlocks = WriteCombiner.SMALL_WRITE_BYTES_MAX / 4096 - 1;
        int writes = WriteCombiner.COMBINED_BYTES_MAX / (smallBlocks * 4096) + 2;
        long offset = 8192;
        for (int i = 0; i < writes; i++) {
            combiner.write(offset, block(smallBlocks, 2));
            offset += smallBlocks * 4096L;
        }
        device.held.getFirst().complete(null);
        long first = device.writes.get(2)[1];
        assertThat(first).isLessThanOrEqualTo(WriteCombiner.COMBINED_BYTES_MAX)
                .isGreaterThan(WriteCombiner.COMBINED_BYTES_MAX - smallBlocks * 4096L);
    }

    @Test
    void aFailedCombinedWriteFailsEveryMember() {
        combiner.write(0, block(1, 1));
        combiner.write(4096, block(1, 1));
        CompletableFuture<Void> a = combiner.write(8192, block(1, 2));
        CompletableFuture<Void> b = combiner.write(12288, block(1, 3));
        device.held.getFirst().complete(null);
        device.held.get(2).completeExceptionally(new IllegalStateException("chunk server gone"));
        assertThat(a).isCompletedExceptionally();
        assertThat(b).isCompletedExceptionally();
    }
}
