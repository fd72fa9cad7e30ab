package io.basalt.protocol.data;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
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
    /** Bytes of the frame whose header has arrived and whose payload has not all; 0 between frames. */
    private int pendingFrameBytes;

    public DataFrameDecoder(long payloadMaxBytes) {
        this.payloadMaxBytes = payloadMaxBytes;
        setCumulator(this::cumulate);
    }

    /**
     * Netty's merge, except that a buffer grown for a frame whose header has arrived is grown once,
     * to the whole frame. Merging alone grows by doubling: a 1 MiB payload arriving in 64 KiB reads
     * was copied again at 128 KiB, 256 KiB, 512 KiB and 1 MiB (as many bytes again as the frame) and
     * ended in a 2 MiB buffer that the frame's slice kept alive until its payload was released.
     */
    private ByteBuf cumulate(ByteBufAllocator alloc, ByteBuf cumulation, ByteBuf in) {
        int buffered = cumulation.readableBytes();
        boolean mustGrow = in.readableBytes() > cumulation.maxFastWritableBytes() || cumulation.refCnt() > 1
                || cumulation.isReadOnly();
        if (pendingFrameBytes == 0 || buffered == 0 || !mustGrow) {
            return MERGE_CUMULATOR.cumulate(alloc, cumulation, in);
        }
        // As the merge does: `in` is released whatever happens, `cumulation` only once copied (on a
        // failure it stays the decoder's, which releases it when the channel goes).
        ByteBuf grown = null;
        try {
            grown = alloc.buffer(Math.max(pendingFrameBytes, buffered + in.readableBytes()));
            grown.writeBytes(cumulation).writeBytes(in);
            cumulation.release();
            ByteBuf result = grown;
            grown = null;
            return result;
        } finally {
            in.release();
            if (grown != null) {
                grown.release();
            }
        }
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
            pendingFrameBytes = frameBytes;
            return;
        }
        pendingFrameBytes = 0;
        out.add(in.readRetainedSlice(frameBytes));
    }
}
