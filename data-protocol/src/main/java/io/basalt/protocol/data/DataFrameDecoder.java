package io.basalt.protocol.data;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.util.List;

/**
 * Splits a byte stream into data-protocol frames ({@link DataFrame}); each leaves as one retained
 * slice (header and payload, no copy) that the next handler owns and must release.
 *
 * <p>Checks before anything is buffered beyond the header: magic, header CRC32C, format version,
 * payload size against {@code payloadMaxBytes}. A bad magic or header CRC cannot be trusted for its
 * length, so nothing can be resynchronised: {@link DataProtocolException}, the connection closes. An
 * over-long frame with an intact header is answerable (request id known): the exception carries it,
 * the handler replies PROTOCOL and closes. Decodes one frame per call, so a handler that stops
 * reading (in-flight bound) takes effect at once.
 */
public final class DataFrameDecoder extends ByteToMessageDecoder {
    private final long payloadMaxBytes;
    private boolean failed;

    public DataFrameDecoder(long payloadMaxBytes) {
        this.payloadMaxBytes = payloadMaxBytes;
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        if (failed) {
            in.skipBytes(in.readableBytes()); // the connection is closing; ignore the rest
            return;
        }
        if (in.readableBytes() < DataFrame.HEADER_BYTES) {
            return;
        }
        int at = in.readerIndex();
        if (DataFrame.magic(in) != DataFrame.MAGIC) {
            failed = true;
            throw new DataProtocolException(DataProtocolException.Kind.BAD_MAGIC,
                    "bad frame magic 0x" + Integer.toHexString(DataFrame.magic(in)) + " (expected 0x"
                            + Integer.toHexString(DataFrame.MAGIC) + ")");
        }
        int computed = DataFrame.computeHeaderCrc(in, at);
        if (DataFrame.headerCrc(in) != computed) {
            failed = true;
            throw new DataProtocolException(DataProtocolException.Kind.BAD_HEADER_CRC,
                    "frame header crc32c 0x" + Integer.toHexString(DataFrame.headerCrc(in)) + " != computed 0x"
                            + Integer.toHexString(computed));
        }
        if (DataFrame.formatVersion(in) != DataFrame.FORMAT_VERSION) {
            failed = true;
            throw new DataProtocolException(DataProtocolException.Kind.UNKNOWN_FORMAT_VERSION,
                    "frame format version " + DataFrame.formatVersion(in) + " unknown (this build speaks "
                            + DataFrame.FORMAT_VERSION + ")", DataFrame.type(in), DataFrame.requestId(in));
        }
        long payloadBytes = DataFrame.payloadBytes(in);
        if (payloadBytes > payloadMaxBytes) {
            failed = true;
            throw new DataProtocolException(DataProtocolException.Kind.FRAME_TOO_LONG,
                    "frame payload " + payloadBytes + " bytes (max " + payloadMaxBytes + ")", DataFrame.type(in),
                    DataFrame.requestId(in));
        }
        int frameBytes = DataFrame.HEADER_BYTES + (int) payloadBytes;
        if (in.readableBytes() < frameBytes) {
            return;
        }
        out.add(in.readRetainedSlice(frameBytes));
    }
}
