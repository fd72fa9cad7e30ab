package io.basalt.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.handler.codec.DecoderException;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class NbdFrameDecoderTest {
    private static final int PAYLOAD_MAX = 1 << 16;

    @Test
    void pausesAfterEachHandshakeMessageUntilResumed() {
        NbdFrameDecoder decoder = new NbdFrameDecoder(PAYLOAD_MAX);
        EmbeddedChannel channel = new EmbeddedChannel(decoder);
        ByteBuf input = Unpooled.buffer().writeInt(NbdProtocol.FLAG_C_FIXED_NEWSTYLE);
        input.writeBytes(NbdWire.option(NbdProtocol.OPT_STRUCTURED_REPLY, new byte[0]));
        channel.writeInbound(input);

        NbdHandshakeMessage.ClientFlags flags = channel.readInbound();
        assertThat(flags.flags()).isEqualTo(NbdProtocol.FLAG_C_FIXED_NEWSTYLE);
        assertThat((Object) channel.readInbound()).as("option must wait for resume").isNull();

        decoder.resume(NbdFrameDecoder.Phase.OPTION);
        channel.writeInbound(Unpooled.EMPTY_BUFFER);
        NbdHandshakeMessage.Option option = channel.readInbound();
        assertThat(option.option()).isEqualTo(NbdProtocol.OPT_STRUCTURED_REPLY);
        assertThat(option.data().readableBytes()).isZero();
        option.data().release();
        assertThat(channel.finishAndReleaseAll()).isFalse();
    }

    @Test
    void decodesAnOptionSplitAtEveryByte() {
        byte[] wire = NbdWire.bytes(NbdWire.option(NbdProtocol.OPT_GO, NbdWire.goData("vm1", NbdProtocol.INFO_BLOCK_SIZE)));
        for (int split = 0; split <= wire.length; split++) {
            NbdFrameDecoder decoder = new NbdFrameDecoder(PAYLOAD_MAX);
            decoder.resume(NbdFrameDecoder.Phase.OPTION);
            EmbeddedChannel channel = new EmbeddedChannel(decoder);
            channel.writeInbound(Unpooled.wrappedBuffer(wire, 0, split));
            channel.writeInbound(Unpooled.wrappedBuffer(wire, split, wire.length - split));
            NbdHandshakeMessage.Option option = channel.readInbound();
            assertThat(option).as("split at %d", split).isNotNull();
            assertThat(option.option()).isEqualTo(NbdProtocol.OPT_GO);
            assertThat(NbdWire.bytes(option.data())).isEqualTo(NbdWire.goData("vm1", NbdProtocol.INFO_BLOCK_SIZE));
            assertThat(channel.finishAndReleaseAll()).isFalse();
        }
    }

    @Test
    void decodesPipelinedRequestsSplitAtEveryByte() {
        ByteBuf stream = Unpooled.buffer();
        stream.writeBytes(NbdWire.request(0, NbdProtocol.CMD_READ, 1, 4096, 512, null));
        stream.writeBytes(NbdWire.request(NbdProtocol.CMD_FLAG_FUA, NbdProtocol.CMD_WRITE, 2, 0, 5, new byte[] {1, 2, 3, 4, 5}));
        stream.writeBytes(NbdWire.request(0, NbdProtocol.CMD_FLUSH, 3, 0, 0, null));
        byte[] wire = NbdWire.bytes(stream);
        for (int split = 0; split <= wire.length; split++) {
            EmbeddedChannel channel = transmissionChannel();
            channel.writeInbound(Unpooled.wrappedBuffer(wire, 0, split));
            channel.writeInbound(Unpooled.wrappedBuffer(wire, split, wire.length - split));
            List<NbdRequest> requests = drain(channel);
            assertThat(requests).as("split at %d", split).hasSize(3);
            assertThat(requests.get(0)).isEqualTo(new NbdRequest(0, NbdProtocol.CMD_READ, 1, 4096, 512, null, false));
            NbdRequest write = requests.get(1);
            assertThat(write.flags()).isEqualTo(NbdProtocol.CMD_FLAG_FUA);
            assertThat(write.handle()).isEqualTo(2);
            assertThat(NbdWire.bytes(write.payload())).containsExactly(1, 2, 3, 4, 5);
            assertThat(requests.get(2).type()).isEqualTo(NbdProtocol.CMD_FLUSH);
            assertThat(channel.finishAndReleaseAll()).isFalse();
        }
    }

    @Test
    void unsignedFieldsStayUnsigned() {
        EmbeddedChannel channel = transmissionChannel();
        channel.writeInbound(NbdWire.request(0xFFFF, 0xFFFF, -1L, -1L, 0xFFFFFFFFL, null));
        NbdRequest request = channel.readInbound();
        assertThat(request.flags()).isEqualTo(0xFFFF);
        assertThat(request.type()).isEqualTo(0xFFFF);
        assertThat(request.offset()).isEqualTo(-1L); // 2^64-1 unsigned: out of range for any export
        assertThat(request.length()).isEqualTo(0xFFFFFFFFL);
        channel.finishAndReleaseAll();
    }

    @Test
    void oversizeWriteIsSkippedAndTheStreamStaysInSync() {
        EmbeddedChannel channel = transmissionChannel();
        int length = PAYLOAD_MAX + 1;
        channel.writeInbound(NbdWire.request(0, NbdProtocol.CMD_WRITE, 7, 0, length, new byte[length]));
        channel.writeInbound(NbdWire.request(0, NbdProtocol.CMD_READ, 8, 0, 1, null));
        List<NbdRequest> requests = drain(channel);
        assertThat(requests).hasSize(2);
        assertThat(requests.get(0).payloadDropped()).isTrue();
        assertThat(requests.get(0).payload()).isNull();
        assertThat(requests.get(0).length()).isEqualTo(length);
        assertThat(requests.get(1).handle()).isEqualTo(8);
        channel.finishAndReleaseAll();
    }

    @Test
    void oversizeOptionIsSkippedAndAbsurdOneRefused() {
        NbdFrameDecoder decoder = new NbdFrameDecoder(PAYLOAD_MAX);
        decoder.resume(NbdFrameDecoder.Phase.OPTION);
        EmbeddedChannel channel = new EmbeddedChannel(decoder);
        int length = NbdFrameDecoder.OPTION_DATA_MAX_BYTES + 1;
        channel.writeInbound(NbdWire.option(NbdProtocol.OPT_LIST, new byte[length]));
        NbdHandshakeMessage.Option option = channel.readInbound();
        assertThat(option.tooBig()).isTrue();
        assertThat(option.dataLength()).isEqualTo(length);

        decoder.resume(NbdFrameDecoder.Phase.OPTION);
        ByteBuf absurd = Unpooled.buffer().writeLong(NbdProtocol.IHAVEOPT).writeInt(NbdProtocol.OPT_LIST).writeInt(-1);
        assertThatThrownBy(() -> channel.writeInbound(absurd)).isInstanceOf(DecoderException.class)
                .hasCauseInstanceOf(NbdProtocolException.class).hasMessageContaining("length 4294967295");
        assertThat(decoder.phase()).isEqualTo(NbdFrameDecoder.Phase.CLOSED);
        channel.finishAndReleaseAll();
    }

    @Test
    void badMagicIsAProtocolError() {
        EmbeddedChannel channel = transmissionChannel();
        ByteBuf bad = NbdWire.request(0, NbdProtocol.CMD_READ, 1, 0, 1, null).setInt(0, 0x12345678);
        assertThatThrownBy(() -> channel.writeInbound(bad)).isInstanceOf(DecoderException.class)
                .hasMessageContaining("bad request magic 0x12345678");
        // Whatever follows is discarded, never decoded as a request.
        channel.writeInbound(NbdWire.request(0, NbdProtocol.CMD_READ, 2, 0, 1, null));
        assertThat((Object) channel.readInbound()).isNull();
        channel.finishAndReleaseAll();

        NbdFrameDecoder decoder = new NbdFrameDecoder(PAYLOAD_MAX);
        decoder.resume(NbdFrameDecoder.Phase.OPTION);
        EmbeddedChannel options = new EmbeddedChannel(decoder);
        ByteBuf badOption = NbdWire.option(NbdProtocol.OPT_LIST, new byte[0]).setLong(0, 42);
        assertThatThrownBy(() -> options.writeInbound(badOption)).hasMessageContaining("bad option magic");
        options.finishAndReleaseAll();
    }

    @Test
    void pausedTransmissionDecodesNothingUntilResumed() {
        NbdFrameDecoder decoder = new NbdFrameDecoder(PAYLOAD_MAX);
        decoder.resume(NbdFrameDecoder.Phase.TRANSMISSION);
        decoder.pause();
        EmbeddedChannel channel = new EmbeddedChannel(decoder);
        channel.writeInbound(NbdWire.request(0, NbdProtocol.CMD_READ, 1, 0, 1, null));
        assertThat((Object) channel.readInbound()).isNull();
        decoder.resume(NbdFrameDecoder.Phase.TRANSMISSION);
        channel.writeInbound(Unpooled.EMPTY_BUFFER);
        assertThat(drain(channel)).hasSize(1);
        channel.finishAndReleaseAll();
    }

    static EmbeddedChannel transmissionChannel() {
        NbdFrameDecoder decoder = new NbdFrameDecoder(PAYLOAD_MAX);
        decoder.resume(NbdFrameDecoder.Phase.TRANSMISSION);
        return new EmbeddedChannel(decoder);
    }

    static List<NbdRequest> drain(EmbeddedChannel channel) {
        List<NbdRequest> requests = new ArrayList<>();
        for (NbdRequest request; (request = channel.readInbound()) != null; ) {
            requests.add(request);
        }
        return requests;
    }
}
