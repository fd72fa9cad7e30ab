package io.basalt.nbd;

import io.basalt.common.block.BlockDevice;
import io.basalt.common.block.BlockDeviceException;
import io.basalt.common.block.Extent;
import io.basalt.nbd.NbdExports.ExportInfo;
import io.basalt.nbd.NbdExports.OpenExport;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.util.ReferenceCountUtil;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The transmission phase: each decoded {@link NbdRequest} is checked, handed to the export's
 * {@link BlockDevice}, and answered when the device completes, in whatever order requests finish
 * (pipelined, out of order; the client matches replies by handle).
 *
 * <p>Bounds: at most {@link #IN_FLIGHT_REQUESTS_MAX} requests and {@link #IN_FLIGHT_BYTES_MAX}
 * payload bytes per connection are between decode and the reply reaching the socket; past either,
 * the connection stops reading until replies drain below half. A request stays "in flight" until
 * its reply is written, so a client that stops reading replies also stops being read.
 *
 * <p>Threading: all fields are owned by the channel's event loop. Device completions arrive on
 * other threads and hop back to the loop before touching state or writing.
 *
 * <p>Errors: a bad request gets its errno (EINVAL, ENOSPC, EPERM, ENOTSUP, EIO) and the connection
 * goes on. With structured replies, errors carry a message for people.
 */
final class NbdTransmissionHandler extends ChannelInboundHandlerAdapter {
    private static final Logger log = LoggerFactory.getLogger(NbdTransmissionHandler.class);

    static final int IN_FLIGHT_REQUESTS_MAX = 256;
    static final long IN_FLIGHT_BYTES_MAX = 128L << 20;
    /** BLOCK_STATUS answers with at most this many extents (the client asks again for the rest). */
    static final int BLOCK_STATUS_EXTENTS_MAX = 1024;
    private static final int FLAGS_ALWAYS_VALID = NbdProtocol.CMD_FLAG_FUA;

    private final NbdServer.Shared shared;
    private final NbdFrameDecoder decoder;
    private final OpenExport export;
    private final ExportInfo info;
    /** The export's device as this connection's event loop sees it ({@link BlockDevice#forEventLoop}). */
    private BlockDevice device;
    private final boolean structuredReplies;
    private final int baseAllocationContextId;

    private Channel channel;
    private int inFlightRequests;
    private long inFlightBytes;
    private boolean readingPaused;
    private boolean disconnectRequested;
    private boolean released;

    NbdTransmissionHandler(NbdServer.Shared shared, NbdFrameDecoder decoder, OpenExport export,
            boolean structuredReplies, int baseAllocationContextId) {
        this.shared = shared;
        this.decoder = decoder;
        this.export = export;
        this.info = export.info();
        this.structuredReplies = structuredReplies;
        this.baseAllocationContextId = baseAllocationContextId;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        channel = ctx.channel();
        // Every call below is made on this loop, so the device may do its I/O on it (io_uring).
        device = export.device().forEventLoop(channel.eventLoop());
        shared.sessions.add(this);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof NbdRequest request)) {
            ReferenceCountUtil.release(msg);
            return;
        }
        if (disconnectRequested) {
            // The client promised to send nothing after DISC.
            ReferenceCountUtil.release(request.payload());
            return;
        }
        long startNanos = System.nanoTime();
        String command = NbdProtocol.commandName(request.type());
        shared.metrics.requests.labelValues(command).inc();
        if (request.type() == NbdProtocol.CMD_DISC) {
            onDisconnect(ctx);
            return;
        }
        long payloadBytes = request.type() == NbdProtocol.CMD_READ || request.type() == NbdProtocol.CMD_WRITE
                ? request.length() : 0;
        inFlightRequests++;
        inFlightBytes += payloadBytes;
        shared.metrics.requestsInFlight.inc();
        if (inFlightRequests >= IN_FLIGHT_REQUESTS_MAX || inFlightBytes >= IN_FLIGHT_BYTES_MAX) {
            pauseReading();
        }
        Reply reply = new Reply(request, command, payloadBytes, startNanos);
        try {
            dispatch(ctx, request, reply);
        } catch (RuntimeException e) {
            // A bug in dispatch (or a device that throws instead of failing its future): answer and go on.
            log.warn("{}: {} failed unexpectedly", channel.remoteAddress(), command, e);
            reply.error(ctx, NbdProtocol.EIO, command + " failed: " + e);
        }
    }

    private void dispatch(ChannelHandlerContext ctx, NbdRequest request, Reply reply) {
        String refusal = checkFlags(request);
        if (refusal != null) {
            ReferenceCountUtil.release(request.payload());
            reply.error(ctx, NbdProtocol.EINVAL, refusal);
            return;
        }
        boolean fua = (request.flags() & NbdProtocol.CMD_FLAG_FUA) != 0;
        long offset = request.offset();
        long length = request.length();
        switch (request.type()) {
            case NbdProtocol.CMD_READ -> {
                if (rejectRange(ctx, reply, offset, length, NbdProtocol.EINVAL)
                        || rejectPayloadLength(ctx, reply, length)) {
                    return;
                }
                read(ctx, reply, offset, (int) length);
            }
            case NbdProtocol.CMD_WRITE -> {
                ByteBuf payload = request.payload();
                if (request.payloadDropped()) {
                    rejectPayloadLength(ctx, reply, length); // the payload was skipped on the wire
                    return;
                }
                if (rejectReadOnly(ctx, reply) || rejectRange(ctx, reply, offset, length, NbdProtocol.ENOSPC)) {
                    payload.release();
                    return;
                }
                shared.metrics.bytesWritten.inc(length);
                CompletableFuture<Void> written;
                try {
                    written = device.write(offset, payload, fua);
                } catch (RuntimeException e) {
                    payload.release();
                    throw e;
                }
                written.whenComplete((ignored, failure) -> {
                    payload.release();
                    complete(ctx, reply, failure, NbdProtocol.ENOSPC);
                });
            }
            case NbdProtocol.CMD_FLUSH -> {
                if (offset != 0 || length != 0) {
                    reply.error(ctx, NbdProtocol.EINVAL, "FLUSH offset and length must be zero");
                    return;
                }
                // inFlightRequests counts this flush: alone, it may run in this thread (see flushAlone).
                (inFlightRequests == 1 ? device.flushAlone() : device.flush())
                        .whenComplete((ignored, failure) -> complete(ctx, reply, failure, NbdProtocol.EINVAL));
            }
            case NbdProtocol.CMD_TRIM -> {
                if (rejectReadOnly(ctx, reply) || rejectRange(ctx, reply, offset, length, NbdProtocol.ENOSPC)) {
                    return;
                }
                device.trim(offset, length, fua)
                        .whenComplete((ignored, failure) -> complete(ctx, reply, failure, NbdProtocol.ENOSPC));
            }
            case NbdProtocol.CMD_WRITE_ZEROES -> {
                if (rejectReadOnly(ctx, reply) || rejectRange(ctx, reply, offset, length, NbdProtocol.ENOSPC)) {
                    return;
                }
                boolean mayDeallocate = (request.flags() & NbdProtocol.CMD_FLAG_NO_HOLE) == 0;
                boolean fastOnly = (request.flags() & NbdProtocol.CMD_FLAG_FAST_ZERO) != 0;
                device.writeZeroes(offset, length, mayDeallocate, fastOnly, fua)
                        .whenComplete((ignored, failure) -> complete(ctx, reply, failure, NbdProtocol.ENOSPC));
            }
            case NbdProtocol.CMD_CACHE -> {
                if (rejectRange(ctx, reply, offset, length, NbdProtocol.EINVAL)) {
                    return;
                }
                device.prefetch(offset, length)
                        .whenComplete((ignored, failure) -> complete(ctx, reply, failure, NbdProtocol.EINVAL));
            }
            case NbdProtocol.CMD_BLOCK_STATUS -> {
                if (baseAllocationContextId == 0) {
                    reply.error(ctx, NbdProtocol.EINVAL, "BLOCK_STATUS needs a meta context (SET_META_CONTEXT base:allocation)");
                    return;
                }
                if (rejectRange(ctx, reply, offset, length, NbdProtocol.EINVAL)) {
                    return;
                }
                int extentsMax = (request.flags() & NbdProtocol.CMD_FLAG_REQ_ONE) != 0 ? 1 : BLOCK_STATUS_EXTENTS_MAX;
                device.blockStatus(offset, length, extentsMax).whenComplete((extents, failure) -> {
                    if (failure != null) {
                        complete(ctx, reply, failure, NbdProtocol.EINVAL);
                    } else {
                        onEventLoop(ctx, () -> reply.blockStatus(ctx, extents, length));
                    }
                });
            }
            default -> reply.error(ctx, NbdProtocol.EINVAL, "unknown command type " + request.type());
        }
    }

    private void read(ChannelHandlerContext ctx, Reply reply, long offset, int length) {
        ByteBuf out = structuredReplies
                ? NbdReplies.offsetDataChunk(ctx.alloc(), reply.request.handle(), offset, length)
                : NbdReplies.simpleReply(ctx.alloc(), reply.request.handle(), 0, length);
        CompletableFuture<Void> read;
        try {
            read = device.read(offset, length, out);
        } catch (RuntimeException e) {
            out.release();
            throw e;
        }
        read.whenComplete((ignored, failure) -> onEventLoop(ctx, () -> {
            if (failure != null) {
                out.release();
                reply.failed(ctx, failure, NbdProtocol.EINVAL);
                return;
            }
            shared.metrics.bytesRead.inc(length);
            reply.send(ctx, out);
        }));
    }

    /** Null when the flags suit the command, else why not. */
    private String checkFlags(NbdRequest request) {
        int allowed = FLAGS_ALWAYS_VALID;
        switch (request.type()) {
            case NbdProtocol.CMD_READ -> allowed |= structuredReplies ? NbdProtocol.CMD_FLAG_DF : 0;
            case NbdProtocol.CMD_WRITE_ZEROES -> allowed |= NbdProtocol.CMD_FLAG_NO_HOLE
                    | (info.fastZero() ? NbdProtocol.CMD_FLAG_FAST_ZERO : 0);
            case NbdProtocol.CMD_BLOCK_STATUS -> allowed |= NbdProtocol.CMD_FLAG_REQ_ONE;
            default -> { }
        }
        int unknown = request.flags() & ~allowed;
        if (unknown == 0) {
            return null;
        }
        if ((unknown & NbdProtocol.CMD_FLAG_FAST_ZERO) != 0 && request.type() == NbdProtocol.CMD_WRITE_ZEROES) {
            return "FAST_ZERO was not advertised for this export";
        }
        return String.format("flags 0x%04x are not valid for %s", unknown, NbdProtocol.commandName(request.type()));
    }

    private boolean rejectRange(ChannelHandlerContext ctx, Reply reply, long offset, long length, int errno) {
        if (length == 0) {
            reply.error(ctx, NbdProtocol.EINVAL, "zero-length " + reply.command);
            return true;
        }
        // offset is unsigned on the wire: above 2^63 it arrives negative, which is out of range too.
        if (offset < 0 || offset > info.sizeBytes() || length > info.sizeBytes() - offset) {
            reply.error(ctx, errno, String.format("%s of %d bytes at offset %s is past the end of the export (%d bytes)",
                    reply.command, length, Long.toUnsignedString(offset), info.sizeBytes()));
            return true;
        }
        return false;
    }

    private boolean rejectPayloadLength(ChannelHandlerContext ctx, Reply reply, long length) {
        if (length > info.maximumPayloadBytes()) {
            reply.error(ctx, NbdProtocol.EINVAL, reply.command + " of " + length + " bytes exceeds the maximum "
                    + info.maximumPayloadBytes() + " (see NBD_INFO_BLOCK_SIZE)");
            return true;
        }
        return false;
    }

    private boolean rejectReadOnly(ChannelHandlerContext ctx, Reply reply) {
        if (info.readOnly()) {
            reply.error(ctx, NbdProtocol.EPERM, "export \"" + info.name() + "\" is read-only");
            return true;
        }
        return false;
    }

    /**
     * Runs {@code task} on the channel's event loop: at once when already there (a device that
     * completed inline, e.g. a read from the page cache), else as a task.
     */
    private static void onEventLoop(ChannelHandlerContext ctx, Runnable task) {
        if (ctx.executor().inEventLoop()) {
            task.run();
        } else {
            ctx.executor().execute(task);
        }
    }

    private void complete(ChannelHandlerContext ctx, Reply reply, Throwable failure, int outOfRangeErrno) {
        onEventLoop(ctx, () -> {
            if (failure == null) {
                reply.success(ctx);
            } else {
                reply.failed(ctx, failure, outOfRangeErrno);
            }
        });
    }

    private void onDisconnect(ChannelHandlerContext ctx) {
        disconnectRequested = true;
        decoder.close();
        pauseReading();
        log.debug("{}: disconnect requested, {} requests in flight", channel.remoteAddress(), inFlightRequests);
        closeIfDrained(ctx);
    }

    /** Server shutdown: answer what is in flight, refuse the rest with ESHUTDOWN, then close. */
    void shutdown() {
        channel.eventLoop().execute(() -> {
            ChannelHandlerContext ctx = channel.pipeline().context(this);
            if (ctx == null) {
                return;
            }
            disconnectRequested = true;
            decoder.close();
            pauseReading();
            closeIfDrained(ctx);
        });
    }

    boolean isIdle() {
        return inFlightRequests == 0;
    }

    private void closeIfDrained(ChannelHandlerContext ctx) {
        if (disconnectRequested && inFlightRequests == 0) {
            ctx.flush();
            ctx.close();
        }
    }

    private void pauseReading() {
        if (!readingPaused) {
            readingPaused = true;
            channel.config().setAutoRead(false);
            if (decoder.phase() == NbdFrameDecoder.Phase.TRANSMISSION) {
                decoder.pause();
            }
        }
    }

    private void replyWritten(ChannelHandlerContext ctx, long payloadBytes) {
        inFlightRequests--;
        inFlightBytes -= payloadBytes;
        shared.metrics.requestsInFlight.dec();
        if (readingPaused && !disconnectRequested && inFlightRequests <= IN_FLIGHT_REQUESTS_MAX / 2
                && inFlightBytes <= IN_FLIGHT_BYTES_MAX / 2) {
            readingPaused = false;
            decoder.resume(NbdFrameDecoder.Phase.TRANSMISSION);
            // Decode what was buffered while paused (in a fresh task: we may be inside the decoder).
            ctx.executor().execute(() -> {
                if (!readingPaused) {
                    NbdServer.decodeBuffered(channel);
                }
            });
        }
        closeIfDrained(ctx);
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        release();
        ctx.fireChannelInactive();
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        release();
    }

    private void release() {
        if (!released) {
            released = true;
            shared.sessions.remove(this);
            export.releaseQuietly();
        }
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        NbdServer.closeOnException(ctx, cause, decoder, shared.metrics);
    }

    /** The answer to one request; sends exactly one reply and accounts for it. */
    private final class Reply {
        final NbdRequest request;
        final String command;
        final long payloadBytes;
        final long startNanos;

        Reply(NbdRequest request, String command, long payloadBytes, long startNanos) {
            this.request = request;
            this.command = command;
            this.payloadBytes = payloadBytes;
            this.startNanos = startNanos;
        }

        void success(ChannelHandlerContext ctx) {
            send(ctx, structuredReplies && request.type() == NbdProtocol.CMD_READ
                    ? NbdReplies.noneChunk(ctx.alloc(), request.handle())
                    : NbdReplies.simpleReply(ctx.alloc(), request.handle(), 0, 0));
        }

        void blockStatus(ChannelHandlerContext ctx, List<Extent> extents, long requestLength) {
            int count = Math.min(extents.size(), BLOCK_STATUS_EXTENTS_MAX);
            long[] lengths = new long[count];
            int[] statuses = new int[count];
            long total = 0;
            int used = 0;
            for (int i = 0; i < count && total < requestLength; i++) {
                Extent extent = extents.get(i);
                long extentLength = Math.min(extent.lengthBytes(), requestLength - total);
                lengths[used] = extentLength;
                statuses[used] = (extent.hole() ? NbdProtocol.STATE_HOLE : 0) | (extent.zero() ? NbdProtocol.STATE_ZERO : 0);
                total += extentLength;
                used++;
            }
            send(ctx, NbdReplies.blockStatusChunk(ctx.alloc(), request.handle(), baseAllocationContextId,
                    lengths, statuses, used));
        }

        void failed(ChannelHandlerContext ctx, Throwable failure, int outOfRangeErrno) {
            Throwable cause = failure;
            while (cause instanceof CompletionException && cause.getCause() != null) {
                cause = cause.getCause();
            }
            int errno;
            if (cause instanceof BlockDeviceException e) {
                errno = switch (e.kind()) {
                    case INVALID -> NbdProtocol.EINVAL;
                    case OUT_OF_RANGE -> outOfRangeErrno;
                    case READ_ONLY -> NbdProtocol.EPERM;
                    case NO_SPACE -> NbdProtocol.ENOSPC;
                    case NOT_SUPPORTED -> NbdProtocol.ENOTSUP;
                    case IO -> NbdProtocol.EIO;
                    case SHUTDOWN -> NbdProtocol.ESHUTDOWN;
                };
            } else {
                errno = NbdProtocol.EIO;
                log.warn("{}: {} at offset {} failed", channel.remoteAddress(), command, request.offset(), cause);
            }
            error(ctx, errno, cause.getMessage());
        }

        void error(ChannelHandlerContext ctx, int errno, String message) {
            shared.metrics.errors.labelValues(command, NbdMetrics.errorName(errno)).inc();
            if (errno == NbdProtocol.EIO) {
                log.warn("{}: {} answered EIO: {}", channel.remoteAddress(), command, message);
            } else {
                log.debug("{}: {} answered {}: {}", channel.remoteAddress(), command, NbdMetrics.errorName(errno), message);
            }
            send(ctx, structuredReplies
                    ? NbdReplies.errorChunk(ctx.alloc(), request.handle(), errno, message)
                    : NbdReplies.simpleReply(ctx.alloc(), request.handle(), errno, 0));
        }

        void send(ChannelHandlerContext ctx, ByteBuf out) {
            shared.metrics.latency.labelValues(command).observe((System.nanoTime() - startNanos) / 1e9);
            if (!channel.isActive()) {
                out.release();
                replyWritten(ctx, payloadBytes);
                return;
            }
            ctx.writeAndFlush(out).addListener((ChannelFutureListener) future -> replyWritten(ctx, payloadBytes));
        }
    }
}
