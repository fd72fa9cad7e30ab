package io.basalt.protocol.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;
import org.junit.jupiter.api.Test;

class DataFrameDecoderTest {
    static final int PAYLOAD_MAX = 64 << 10;

    static ByteBuf frame(int type, long requestId, long chunkUid, long version, long offset, byte[] payload) {
        ByteBuf out = Unpooled.buffer();
        DataFrame.writeHeader(out, type, 0, requestId, chunkUid, version, offset, payload.length, payload.length, 0);
        out.writeBytes(payload);
        return out;
    }

    @Property(tries = 30)
    void framesRoundTripWhateverTheSplit(@ForAll @IntRange(min = 1, max = 6) int frames, @ForAll long seed) {
        Random random = new Random(seed);
        ByteBuf stream = Unpooled.buffer();
        List<long[]> sent = new ArrayList<>();
        for (int i = 0; i < frames; i++) {
            byte[] payload = new byte[random.nextInt(300)];
            random.nextBytes(payload);
            long[] fields = {1 + random.nextInt(7), random.nextLong(), random.nextLong(), random.nextLong(),
                    random.nextLong() & Long.MAX_VALUE, payload.length};
            sent.add(fields);
            ByteBuf f = frame((int) fields[0], fields[1], fields[2], fields[3], fields[4], payload);
            stream.writeBytes(f);
            f.release();
        }
        byte[] bytes = new byte[stream.readableBytes()];
        stream.readBytes(bytes);
        stream.release();
        // Every split point of the stream into two writes; and byte by byte once.
        for (int split = 0; split <= bytes.length; split += Math.max(1, bytes.length / 97)) {
            EmbeddedChannel channel = new EmbeddedChannel(new DataFrameDecoder(PAYLOAD_MAX));
            channel.writeInbound(Unpooled.wrappedBuffer(bytes, 0, split));
            channel.writeInbound(Unpooled.wrappedBuffer(bytes, split, bytes.length - split));
            check(channel, sent);
        }
        EmbeddedChannel channel = new EmbeddedChannel(new DataFrameDecoder(PAYLOAD_MAX));
        for (int i = 0; i < bytes.length; i++) {
            channel.writeInbound(Unpooled.wrappedBuffer(bytes, i, 1));
        }
        check(channel, sent);
    }

    private static void check(EmbeddedChannel channel, List<long[]> sent) {
        for (long[] fields : sent) {
            ByteBuf f = channel.readInbound();
            assertThat(f).isNotNull();
            try {
                assertThat(DataFrame.type(f)).isEqualTo((int) fields[0]);
                assertThat(DataFrame.requestId(f)).isEqualTo(fields[1]);
                assertThat(DataFrame.chunkUid(f)).isEqualTo(fields[2]);
                assertThat(DataFrame.chunkVersion(f)).isEqualTo(fields[3]);
                assertThat(DataFrame.offsetBytes(f)).isEqualTo(fields[4]);
                assertThat(DataFrame.payloadBytes(f)).isEqualTo(fields[5]);
                assertThat(f.readableBytes()).isEqualTo(DataFrame.HEADER_BYTES + (int) fields[5]);
            } finally {
                f.release();
            }
        }
        assertThat((Object) channel.readInbound()).isNull();
        assertThat(channel.finish()).isFalse();
    }

    @Property(tries = 300)
    void garbageGivesOnlyOurProtocolError(@ForAll @Size(min = 0, max = 300) byte[] garbage) {
        EmbeddedChannel channel = new EmbeddedChannel(new DataFrameDecoder(PAYLOAD_MAX));
        try {
            channel.writeInbound(Unpooled.wrappedBuffer(garbage));
        } catch (DecoderException e) {
            assertThat(e.getCause()).isInstanceOf(DataProtocolException.class);
        }
        Object any;
        while ((any = channel.readInbound()) != null) {
            ((ByteBuf) any).release();
        }
        channel.finishAndReleaseAll();
    }

    @Property(tries = 200)
    void anyFlippedHeaderBitIsRefused(@ForAll @IntRange(min = 0, max = DataFrame.HEADER_BYTES * 8 - 1) int bit) {
        ByteBuf f = frame(DataFrame.TYPE_WRITE, 7, 8, 9, 4096, new byte[16]);
        f.setByte(bit / 8, f.getByte(bit / 8) ^ (1 << (bit % 8)));
        EmbeddedChannel channel = new EmbeddedChannel(new DataFrameDecoder(PAYLOAD_MAX));
        assertThatThrownBy(() -> channel.writeInbound(f)).isInstanceOf(DecoderException.class)
                .hasCauseInstanceOf(DataProtocolException.class);
        channel.finishAndReleaseAll();
    }

    @Test
    void overLongFrameIsRefusedBeforeItIsBufferedAndNamesTheRequest() {
        ByteBuf header = Unpooled.buffer();
        DataFrame.writeHeader(header, DataFrame.TYPE_WRITE, 0, 42, 1, 1, 0, 4096, PAYLOAD_MAX + 1L, 0);
        EmbeddedChannel channel = new EmbeddedChannel(new DataFrameDecoder(PAYLOAD_MAX));
        assertThatThrownBy(() -> channel.writeInbound(header)).isInstanceOf(DecoderException.class)
                .cause().isInstanceOfSatisfying(DataProtocolException.class, e -> {
                    assertThat(e.kind()).isEqualTo(DataProtocolException.Kind.FRAME_TOO_LONG);
                    assertThat(e.answerable()).isTrue();
                    assertThat(e.requestId()).isEqualTo(42);
                    assertThat(e.getMessage()).contains("frame payload " + (PAYLOAD_MAX + 1) + " bytes (max " + PAYLOAD_MAX + ")");
                });
        channel.finishAndReleaseAll();
    }

    @Test
    void errorRepliesCarryTheirMessage() {
        ByteBuf reply = DataFrame.errorReply(io.netty.buffer.UnpooledByteBufAllocator.DEFAULT, DataFrame.TYPE_READ, 5, 6,
                2, "corrupt block: chunklet 0000000000000006 offset 8192");
        EmbeddedChannel channel = new EmbeddedChannel(new DataFrameDecoder(PAYLOAD_MAX));
        channel.writeInbound(reply);
        ByteBuf f = channel.readInbound();
        assertThat(DataFrame.type(f)).isEqualTo(DataFrame.TYPE_READ | DataFrame.REPLY);
        assertThat(DataFrame.status(f)).isEqualTo(2);
        assertThat(DataFrame.errorMessage(f)).isEqualTo("corrupt block: chunklet 0000000000000006 offset 8192");
        f.release();
        assertThat(channel.finish()).isFalse();
    }

    @Test
    void aBigFrameArrivingInPiecesIsGatheredIntoOneBufferOfItsOwnSize() {
        byte[] payload = new byte[1 << 20];
        new Random(7).nextBytes(payload);
        ByteBuf f = frame(3, 42, 7, 9, 4096, payload);
        byte[] bytes = new byte[f.readableBytes()];
        f.readBytes(bytes);
        f.release();
        byte[] next = new byte[100]; // the start of the next frame, in the last read
        System.arraycopy(bytes, 0, next, 0, next.length);
        EmbeddedChannel channel = new EmbeddedChannel(new DataFrameDecoder(2 << 20));
        int piece = 64 << 10;
        for (int at = 0; at < bytes.length; at += piece) {
            int length = Math.min(piece, bytes.length - at);
            ByteBuf read = Unpooled.directBuffer(length + next.length);
            read.writeBytes(bytes, at, length);
            if (at + length == bytes.length) {
                read.writeBytes(next);
            }
            channel.writeInbound(read);
        }
        ByteBuf decoded = channel.readInbound();
        try {
            assertThat(DataFrame.requestId(decoded)).isEqualTo(42);
            byte[] got = new byte[payload.length];
            decoded.getBytes(decoded.readerIndex() + DataFrame.HEADER_BYTES, got);
            assertThat(got).isEqualTo(payload);
            // Grown once, to the frame's size (merging alone doubles, to 2 MiB here).
            ByteBuf gathered = decoded; // under the slice (and the leak detector's wrapper)
            while (gathered.unwrap() != null) {
                gathered = gathered.unwrap();
            }
            assertThat(gathered.capacity()).isBetween(bytes.length, bytes.length + next.length);
        } finally {
            decoded.release();
        }
        assertThat((Object) channel.readInbound()).isNull();
        channel.finishAndReleaseAll();
    }
}
