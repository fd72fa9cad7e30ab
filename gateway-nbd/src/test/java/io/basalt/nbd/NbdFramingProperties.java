package io.basalt.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import java.util.ArrayList;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.From;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

/** Round trips and garbage for the NBD framing: whatever the cut, the same requests come out. */
class NbdFramingProperties {
    private static final int PAYLOAD_MAX = 1 << 12;

    record Sent(int flags, int type, long handle, long offset, long length, byte[] payload) {}

    @Provide
    Arbitrary<Sent> requests() {
        Arbitrary<Integer> types = Arbitraries.of(NbdProtocol.CMD_READ, NbdProtocol.CMD_WRITE, NbdProtocol.CMD_FLUSH,
                NbdProtocol.CMD_TRIM, NbdProtocol.CMD_CACHE, NbdProtocol.CMD_WRITE_ZEROES, NbdProtocol.CMD_BLOCK_STATUS, 99);
        return Combinators.combine(Arbitraries.integers().between(0, 0xFFFF), types, Arbitraries.longs(),
                Arbitraries.longs(), Arbitraries.bytes().array(byte[].class).ofMaxSize(300),
                Arbitraries.longs().between(0, 0xFFFFFFFFL))
                .as((flags, type, handle, offset, payload, length) -> type == NbdProtocol.CMD_WRITE
                        ? new Sent(flags, type, handle, offset, payload.length, payload)
                        : new Sent(flags, type, handle, offset, length, null));
    }

    @Property(tries = 300)
    void requestsRoundTripUnderAnyFragmentation(@ForAll @Size(max = 20) List<@From("requests") Sent> sent,
            @ForAll @Size(max = 10) List<@IntRange(min = 1, max = 64) Integer> cuts) {
        ByteBuf stream = Unpooled.buffer();
        for (Sent s : sent) {
            stream.writeBytes(NbdWire.request(s.flags(), s.type(), s.handle(), s.offset(), s.length(), s.payload()));
        }
        byte[] wire = NbdWire.bytes(stream);
        EmbeddedChannel channel = NbdFrameDecoderTest.transmissionChannel();
        feed(channel, wire, cuts);
        List<NbdRequest> received = NbdFrameDecoderTest.drain(channel);
        assertThat(received).hasSize(sent.size());
        for (int i = 0; i < sent.size(); i++) {
            Sent s = sent.get(i);
            NbdRequest r = received.get(i);
            assertThat(r.flags()).isEqualTo(s.flags());
            assertThat(r.type()).isEqualTo(s.type());
            assertThat(r.handle()).isEqualTo(s.handle());
            assertThat(r.offset()).isEqualTo(s.offset());
            assertThat(r.length()).isEqualTo(s.length());
            if (s.payload() != null) {
                assertThat(NbdWire.bytes(r.payload())).isEqualTo(s.payload());
            }
        }
        assertThat(channel.finishAndReleaseAll()).isFalse();
    }

    @Property(tries = 500)
    void garbageGivesOnlyOurProtocolError(@ForAll @Size(max = 400) byte[] garbage, @ForAll boolean transmission,
            @ForAll @Size(max = 5) List<@IntRange(min = 1, max = 64) Integer> cuts) {
        NbdFrameDecoder decoder = new NbdFrameDecoder(PAYLOAD_MAX);
        decoder.resume(transmission ? NbdFrameDecoder.Phase.TRANSMISSION : NbdFrameDecoder.Phase.OPTION);
        EmbeddedChannel channel = new EmbeddedChannel(decoder);
        try {
            feed(channel, garbage, cuts);
        } catch (DecoderException e) {
            assertThat(e.getCause()).isInstanceOf(NbdProtocolException.class);
            assertThat(decoder.phase()).isEqualTo(NbdFrameDecoder.Phase.CLOSED);
        }
        channel.finishAndReleaseAll();
    }

    private static void feed(EmbeddedChannel channel, byte[] wire, List<Integer> cuts) {
        List<Integer> pieces = new ArrayList<>(cuts);
        int position = 0;
        for (int cut : pieces) {
            int end = Math.min(wire.length, position + cut);
            channel.writeInbound(Unpooled.wrappedBuffer(wire, position, end - position));
            position = end;
        }
        channel.writeInbound(Unpooled.wrappedBuffer(wire, position, wire.length - position));
    }
}
