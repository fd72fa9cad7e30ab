package io.basalt.client.object;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.basalt.meta.model.s3.ObjectExtent;
import io.basalt.meta.model.s3.ObjectLog;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Bodies streaming into an object log over a memory device: extents hold exactly the bytes, space is
 * never handed out twice, meta's reservation stays ahead of every write with the oldest uncommitted
 * body below it, writes in flight are bounded, and aborted or unused space is trimmed.
 */
class LogBodyTest {
    static final long LOG_BYTES = 64L << 30;

    /** Sparse memory of 4 KiB blocks; writes can be held back to test backpressure. */
    static class MemoryDevice implements LogDevice {
        final Map<Long, byte[]> blocks = new ConcurrentHashMap<>();
        final List<long[]> trims = new CopyOnWriteArrayList<>();
        final List<CompletableFuture<Void>> held = new CopyOnWriteArrayList<>();
        volatile boolean hold;
        long highestWriteEnd;

        @Override
        public synchronized CompletableFuture<Void> write(long offset, ByteBuf data) {
            assertThat(offset % 4096).isZero();
            assertThat(data.readableBytes() % 4096).isZero();
            for (int at = 0; at < data.readableBytes(); at += 4096) {
                byte[] block = new byte[4096];
                data.getBytes(data.readerIndex() + at, block);
                blocks.put(offset + at, block);
            }
            highestWriteEnd = Math.max(highestWriteEnd, offset + data.readableBytes());
            data.release();
            if (hold) {
                CompletableFuture<Void> later = new CompletableFuture<>();
                held.add(later);
                return later;
            }
            return CompletableFuture.completedFuture(null);
        }

        @Override
        public CompletableFuture<Void> read(long offset, int length, ByteBuf destination) {
            for (int at = 0; at < length; at += 4096) {
                byte[] block = blocks.get(offset + at);
                destination.writeBytes(block != null ? block : new byte[4096]);
            }
            return CompletableFuture.completedFuture(null);
        }

        @Override
        public CompletableFuture<Void> trim(long offset, long length) {
            trims.add(new long[] {offset, length});
            for (long at = offset; at < offset + length; at += 4096) {
                blocks.remove(at);
            }
            return CompletableFuture.completedFuture(null);
        }

        @Override
        public long sizeBytes() {
            return LOG_BYTES;
        }

        @Override
        public void close() {}

        byte[] bytes(List<ObjectExtent> extents) {
            ByteBuf out = Unpooled.buffer();
            for (ObjectExtent extent : extents) {
                ByteBuf aligned = Unpooled.buffer();
                read(extent.offset(), (int) LogWriter.align(extent.length()), aligned);
                out.writeBytes(aligned, 0, (int) extent.length());
            }
            byte[] bytes = new byte[out.readableBytes()];
            out.readBytes(bytes);
            return bytes;
        }
    }

    /** The log-related part of the index; reservations recorded. */
    record Reservation(long mark, long oldestInFlight) {}

    final List<Reservation> reservations = new CopyOnWriteArrayList<>();
    final List<ObjectExtent> gaps = new ArrayList<>();

    ObjectIndex index() {
        return (ObjectIndex) Proxy.newProxyInstance(getClass().getClassLoader(), new Class<?>[] {ObjectIndex.class},
                (proxy, method, args) -> switch (method.getName()) {
                    case "reserveObjectLog" -> {
                        reservations.add(new Reservation((long) args[2], (long) args[3]));
                        yield null;
                    }
                    case "objectLogGaps" -> List.copyOf(gaps);
                    case "objectLogFrees" -> List.of();
                    default -> throw new UnsupportedOperationException(method.getName());
                });
    }

    final MemoryDevice device = new MemoryDevice();

    /** Reservations of 64 MiB, so that tests pass several marks with little data. */
    static final long STEP = 64L << 20;

    LogWriter writer(long reservedMark, long oldestInFlight) {
        return writer(reservedMark, oldestInFlight, 4096);
    }

    LogWriter writer(long reservedMark, long oldestInFlight, long stripeBytes) {
        return LogWriter.takeOver(index(), "gw-test", device,
                new ObjectLog(7, 70, ".objlog.7", "ec4+2", false, reservedMark, oldestInFlight, "gw-test", 0), STEP,
                stripeBytes);
    }

    @Test
    void largeBodiesStartOnAStripeBoundaryAndSmallOnesStayPacked() throws Exception {
        LogWriter log = writer(0, 0, 16384);
        List<ObjectExtent> extents = new ArrayList<>();
        int[] sizes = {4096, 4096, 1 << 20, 100, WriteCombiner.SMALL_WRITE_BYTES_MAX, 5000};
        for (int i = 0; i < sizes.length; i++) {
            byte[] data = random(sizes[i], 40 + i);
            LogBody body = new LogBody(() -> log, data.length, ByteBufAllocator.DEFAULT);
            BodyWriter.Written written = stream(body, data, 50 + i);
            assertThat(device.bytes(written.extents())).isEqualTo(data);
            extents.addAll(written.extents());
            body.committed();
        }
        assertThat(extents).extracting(ObjectExtent::offset)
                .containsExactly(0L, 4096L, 16384L, 16384L + (1 << 20), 16384L * 2 + (1 << 20),
                        16384L * 2 + (1 << 20) + WriteCombiner.SMALL_WRITE_BYTES_MAX);
    }

    static byte[] random(int bytes, long seed) {
        byte[] data = new byte[bytes];
        new Random(seed).nextBytes(data);
        return data;
    }

    /** Writes {@code data} in pieces of random sizes, waiting on each write's future. */
    static BodyWriter.Written stream(LogBody body, byte[] data, long seed) throws Exception {
        Random random = new Random(seed);
        int at = 0;
        while (at < data.length) {
            int piece = Math.min(data.length - at, 1 + random.nextInt(300_000));
            body.write(Unpooled.copiedBuffer(data, at, piece)).get(10, TimeUnit.SECONDS);
            at += piece;
        }
        return body.finish().get(10, TimeUnit.SECONDS);
    }

    @Test
    void aBodyOfKnownLengthIsOneExtentHoldingExactlyItsBytes() throws Exception {
        LogWriter log = writer(0, 0);
        byte[] data = random((5 << 20) / 2 + 100, 1);
        LogBody body = new LogBody(() -> log, data.length, ByteBufAllocator.DEFAULT);
        BodyWriter.Written written = stream(body, data, 2);
        assertThat(written.length()).isEqualTo(data.length);
        assertThat(written.extents()).hasSize(1);
        assertThat(written.extents().get(0).logId()).isEqualTo(7);
        assertThat(device.bytes(written.extents())).isEqualTo(data);
        assertThat(reservations).containsExactly(new Reservation(STEP, 0));
        assertThat(device.trims).isEmpty(); // nothing unused
    }

    @Test
    void aBodyOfUnknownLengthTakesRunsAndTrimsTheUnusedTail() throws Exception {
        LogWriter log = writer(0, 0);
        byte[] data = random((20 << 20) + 5, 3);
        LogBody body = new LogBody(() -> log, -1, ByteBufAllocator.DEFAULT);
        BodyWriter.Written written = stream(body, data, 4);
        assertThat(written.extents()).hasSize(3);
        assertThat(device.bytes(written.extents())).isEqualTo(data);
        long used = LogWriter.align(data.length);
        assertThat(device.trims).hasSize(1);
        assertThat(device.trims.get(0)[0]).isEqualTo(used);
        assertThat(device.trims.get(0)[1]).isEqualTo(3 * LogBody.RUN_BYTES - used);
    }

    @Test
    void concurrentBodiesNeverShareSpaceAndTheReservationCoversTheOldestUncommitted() throws Exception {
        LogWriter log = writer(0, 0);
        LogBody slow = new LogBody(() -> log, -1, ByteBufAllocator.DEFAULT);
        // A first full write allocates a run at 0; the body then stays open (uncommitted).
        slow.write(Unpooled.copiedBuffer(random(LogBody.WRITE_BYTES, 5))).get();
        List<BodyWriter.Written> done = new ArrayList<>();
        List<byte[]> datas = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            byte[] data = random((7 << 20) + 1000 * i, 10 + i);
            LogBody body = new LogBody(() -> log, data.length, ByteBufAllocator.DEFAULT);
            done.add(stream(body, data, 20 + i));
            datas.add(data);
            body.committed();
        }
        for (int i = 0; i < done.size(); i++) {
            assertThat(device.bytes(done.get(i).extents())).isEqualTo(datas.get(i));
            for (int j = 0; j < i; j++) {
                ObjectExtent a = done.get(i).extents().get(0);
                ObjectExtent b = done.get(j).extents().get(0);
                assertThat(a.offset() >= b.offset() + b.spaceBytes() || b.offset() >= a.offset() + a.spaceBytes())
                        .as("extents %s and %s overlap", a, b).isTrue();
            }
        }
        // 20 x 7 MiB passed two marks: the mark moved on, and the open body at 0 held it back each time.
        assertThat(reservations.size()).isGreaterThan(2);
        for (Reservation r : reservations) {
            assertThat(r.oldestInFlight()).isZero();
        }
        assertThat(reservations.get(reservations.size() - 1).mark()).isGreaterThanOrEqualTo(device.highestWriteEnd);
        slow.abort();
        assertThat(device.trims.stream().anyMatch(t -> t[0] == 0 && t[1] == LogBody.RUN_BYTES)).isTrue();
    }

    @Test
    void writesInFlightAreBoundedAndTheBodyWaitsForTheOldest() throws Exception {
        LogWriter log = writer(0, 0);
        device.hold = true;
        LogBody body = new LogBody(() -> log, -1, ByteBufAllocator.DEFAULT);
        CompletableFuture<Void> last = null;
        for (int i = 0; i < LogBody.WRITES_IN_FLIGHT; i++) {
            last = body.write(Unpooled.copiedBuffer(random(LogBody.WRITE_BYTES, i)));
        }
        assertThat(last).as("the 8th write in flight: the body now waits").isNotDone();
        assertThat(device.held).hasSize(LogBody.WRITES_IN_FLIGHT);
        device.held.get(0).complete(null);
        assertThat(last).isDone();
        body.abort();
    }

    @Test
    void anAbortedBodyIsTrimmedAndNoLongerHoldsTheReservationBack() throws Exception {
        LogWriter log = writer(0, 0);
        LogBody body = new LogBody(() -> log, 10 << 20, ByteBufAllocator.DEFAULT);
        body.write(Unpooled.copiedBuffer(random(3 << 20, 9))).get();
        body.abort();
        assertThat(device.trims).anyMatch(t -> t[0] == 0 && t[1] == 10 << 20);
        assertThatThrownBy(() -> body.write(Unpooled.buffer(1).writeByte(1)).get()).hasMessageContaining("aborted");
        // A later body reserving the next GiB reports itself as the oldest in flight, not the aborted one.
        LogBody next = new LogBody(() -> log, STEP, ByteBufAllocator.DEFAULT);
        next.write(Unpooled.copiedBuffer(random(LogBody.WRITE_BYTES, 1))).get();
        assertThat(reservations.get(reservations.size() - 1).oldestInFlight()).isEqualTo(10 << 20);
        next.abort();
    }

    @Test
    void aNewWriterTrimsWhatACrashedOneLeftUnownedAndAppendsPastTheMark() throws Exception {
        gaps.add(new ObjectExtent(7, 1L << 20, 8192));
        gaps.add(new ObjectExtent(7, 5L << 20, 4096));
        LogWriter log = writer(2 * STEP, 1L << 20);
        assertThat(device.trims).extracting(t -> t[0]).containsExactly(1L << 20, 5L << 20);
        LogBody body = new LogBody(() -> log, 4096, ByteBufAllocator.DEFAULT);
        BodyWriter.Written written = stream(body, random(4096, 2), 1);
        assertThat(written.extents().get(0).offset()).isEqualTo(2 * STEP);
    }
}
