package io.basalt.nbd;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.util.List;

/**
 * Splits a client's byte stream into NBD messages: the client flags, option requests, then
 * transmission requests. Headers are read in place at fixed offsets; payloads leave as retained
 * slices (no copy).
 *
 * <p>Phases: the handshake is a strict request/response exchange, so after each handshake message
 * the decoder <em>pauses</em> until the handler has answered and tells it which phase comes next
 * ({@link #resume}); bytes that arrive meanwhile stay buffered (and the handler stops reading, so
 * that buffer stays small). This is how GO can switch to transmission without the decoder guessing.
 * In transmission, requests are decoded back to back (pipelining).
 *
 * <p>Bounds: an option longer than {@link #OPTION_DATA_MAX_BYTES} is skipped on the wire without
 * buffering and delivered with null data (answered NBD_REP_ERR_TOO_BIG); one longer than
 * {@link #OPTION_LENGTH_ABSURD_BYTES} closes the connection (a client that sends that much option data
 * is broken or hostile). A WRITE longer than {@code payloadMaxBytes} is skipped the same way and
 * answered EINVAL. Bad magic cannot be resynchronised and raises {@link NbdProtocolException}, which
 * closes the connection.
 */
public final class NbdFrameDecoder extends ByteToMessageDecoder {
    /** Largest option data we buffer: names and queries are at most 4 KiB each. */
    public static final int OPTION_DATA_MAX_BYTES = 64 << 10;
    /** Option lengths beyond this are not drained but end the connection. */
    public static final long OPTION_LENGTH_ABSURD_BYTES = 16L << 20;

    /** What the decoder expects next. */
    public enum Phase { CLIENT_FLAGS, OPTION, TRANSMISSION, CLOSED }

    private final int payloadMaxBytes;
    private Phase phase = Phase.CLIENT_FLAGS;
    private boolean paused;
    /** Bytes still to skip of an oversize payload, then {@link #afterSkip} is emitted. */
    private long skipRemainingBytes;
    private Object afterSkip;

    public NbdFrameDecoder(int payloadMaxBytes) {
        this.payloadMaxBytes = payloadMaxBytes;
        // Socket reads are chained, not copied into one growing buffer: a 1 MiB WRITE payload
        // leaves as a slice over the pieces it arrived in, and the file device writes them with
        // one pwritev. Headers are read in place across pieces.
        setCumulator(COMPOSITE_CUMULATOR);
    }

    public Phase phase() {
        return phase;
    }

    /**
     * Continues decoding in {@code next} phase after a handshake message was answered. The caller
     * must then re-trigger decoding of buffered bytes (see {@link NbdHandshakeHandler}).
     */
    public void resume(Phase next) {
        phase = next;
        paused = false;
    }

    /**
     * Stops decoding requests until {@link #resume}: the transmission handler's bound on requests in
     * flight. Bytes already read stay buffered (at most one socket read, since reading stops too).
     */
    public void pause() {
        paused = true;
    }

    /** Stops decoding for good: whatever the client sends from now on is discarded. */
    public void close() {
        phase = Phase.CLOSED;
        paused = false;
    }

    /**
     * Decodes at most one message per call. {@code ByteToMessageDecoder} hands each message to the
     * handler before calling again, so a handler that pauses us (in-flight bound, handshake step)
     * takes effect at once rather than after the whole buffer.
     */
    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        if (paused) {
            return;
        }
        if (phase == Phase.CLOSED) {
            in.skipBytes(in.readableBytes());
            return;
        }
        if (skipRemainingBytes > 0) {
            int skip = (int) Math.min(in.readableBytes(), skipRemainingBytes);
            in.skipBytes(skip);
            skipRemainingBytes -= skip;
            if (skipRemainingBytes == 0) {
                emit(afterSkip, out);
                afterSkip = null;
            }
            return;
        }
        Object message = switch (phase) {
            case CLIENT_FLAGS -> decodeClientFlags(in);
            case OPTION -> decodeOption(in);
            case TRANSMISSION -> decodeRequest(in);
            case CLOSED -> null;
        };
        if (message != null) {
            emit(message, out);
        }
    }

    private void emit(Object message, List<Object> out) {
        out.add(message);
        if (message instanceof NbdHandshakeMessage) {
            paused = true;
        }
    }

    private Object decodeClientFlags(ByteBuf in) {
        if (in.readableBytes() < 4) {
            return null;
        }
        return new NbdHandshakeMessage.ClientFlags(in.readInt());
    }

    private Object decodeOption(ByteBuf in) {
        if (in.readableBytes() < NbdProtocol.OPTION_HEADER_BYTES) {
            return null;
        }
        int start = in.readerIndex();
        long magic = in.getLong(start);
        if (magic != NbdProtocol.IHAVEOPT) {
            phase = Phase.CLOSED;
            throw new NbdProtocolException(String.format("bad option magic 0x%016x (expected IHAVEOPT)", magic));
        }
        int option = in.getInt(start + 8);
        long length = in.getUnsignedInt(start + 12);
        if (length > OPTION_LENGTH_ABSURD_BYTES) {
            phase = Phase.CLOSED;
            throw new NbdProtocolException("option " + NbdProtocol.optionName(option) + " length " + length
                    + " (max " + OPTION_LENGTH_ABSURD_BYTES + ")");
        }
        if (length > OPTION_DATA_MAX_BYTES) {
            in.skipBytes(NbdProtocol.OPTION_HEADER_BYTES);
            skipRemainingBytes = length;
            afterSkip = new NbdHandshakeMessage.Option(option, null, length);
            return null;
        }
        if (in.readableBytes() < NbdProtocol.OPTION_HEADER_BYTES + length) {
            return null;
        }
        in.skipBytes(NbdProtocol.OPTION_HEADER_BYTES);
        ByteBuf data = in.readRetainedSlice((int) length);
        return new NbdHandshakeMessage.Option(option, data, length);
    }

    private Object decodeRequest(ByteBuf in) {
        if (in.readableBytes() < NbdProtocol.REQUEST_HEADER_BYTES) {
            return null;
        }
        int start = in.readerIndex();
        int magic = in.getInt(start);
        if (magic != NbdProtocol.REQUEST_MAGIC) {
            phase = Phase.CLOSED;
            throw new NbdProtocolException(String.format("bad request magic 0x%08x (expected 0x%08x)",
                    magic, NbdProtocol.REQUEST_MAGIC));
        }
        int flags = in.getUnsignedShort(start + 4);
        int type = in.getUnsignedShort(start + 6);
        long handle = in.getLong(start + 8);
        long offset = in.getLong(start + 16);
        long length = in.getUnsignedInt(start + 24);
        if (type != NbdProtocol.CMD_WRITE) {
            in.skipBytes(NbdProtocol.REQUEST_HEADER_BYTES);
            return new NbdRequest(flags, type, handle, offset, length, null, false);
        }
        if (length > payloadMaxBytes) {
            in.skipBytes(NbdProtocol.REQUEST_HEADER_BYTES);
            skipRemainingBytes = length;
            afterSkip = new NbdRequest(flags, type, handle, offset, length, null, true);
            return null;
        }
        if (in.readableBytes() < NbdProtocol.REQUEST_HEADER_BYTES + length) {
            return null;
        }
        in.skipBytes(NbdProtocol.REQUEST_HEADER_BYTES);
        ByteBuf payload = in.readRetainedSlice((int) length);
        return new NbdRequest(flags, type, handle, offset, length, payload, false);
    }
}
