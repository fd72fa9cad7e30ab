package io.basalt.nbd;

import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.IoHandlerFactory;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollIoHandler;
import io.netty.channel.epoll.EpollServerSocketChannel;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.ServerSocketChannel;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.channel.uring.IoUring;
import io.netty.channel.uring.IoUringIoHandler;
import io.netty.channel.uring.IoUringServerSocketChannel;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.flush.FlushConsolidationHandler;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An NBD server (fixed newstyle) on one TCP port, serving {@link NbdExports} to any number of
 * clients. Netty event loops run the protocol; device work happens wherever the device puts it.
 *
 * <p>Per connection the pipeline is: flush consolidation (fewer syscalls when many replies are
 * ready at once), {@link NbdFrameDecoder}, then {@link NbdHandshakeHandler}, which hands over to
 * {@link NbdTransmissionHandler} once an export is chosen. A protocol error closes only its own
 * connection.
 */
public final class NbdServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(NbdServer.class);

    /** Server-wide state the handlers of every connection share. */
    static final class Shared {
        final NbdExports exports;
        final NbdMetrics metrics;
        final Set<NbdTransmissionHandler> sessions = ConcurrentHashMap.newKeySet();
        /** Every accepted connection, in handshake or in session; closed ones leave by themselves. */
        final io.netty.channel.group.ChannelGroup channels =
                new io.netty.channel.group.DefaultChannelGroup(io.netty.util.concurrent.GlobalEventExecutor.INSTANCE);
        volatile boolean shuttingDown;
        final NbdTls tls;

        Shared(NbdExports exports, NbdMetrics metrics, NbdTls tls) {
            this.exports = exports;
            this.metrics = metrics;
            this.tls = tls;
        }
    }

    /**
     * The socket transport, which is also where a device may do its I/O: on {@link #IO_URING} the
     * file device submits writes and syncs to the event loop's own ring
     * ({@link io.basalt.common.block.BlockDevice#forEventLoop}).
     */
    public enum Transport {
        IO_URING("io_uring"),
        EPOLL("epoll"),
        NIO("nio");

        private final String displayName;

        Transport(String displayName) {
            this.displayName = displayName;
        }

        /** The best socket transport without io_uring: epoll when available, else NIO. */
        public static Transport withoutIoUring() {
            return Epoll.isAvailable() ? EPOLL : NIO;
        }

        /** Why io_uring cannot be used here, or null when it can. */
        public static String ioUringUnavailableReason() {
            if (IoUring.isAvailable()) {
                return null;
            }
            Throwable cause = IoUring.unavailabilityCause();
            return cause == null ? "unknown" : cause.toString();
        }

        IoHandlerFactory ioHandlerFactory() {
            return switch (this) {
                case IO_URING -> IoUringIoHandler.newFactory();
                case EPOLL -> EpollIoHandler.newFactory();
                case NIO -> NioIoHandler.newFactory();
            };
        }

        Class<? extends ServerSocketChannel> serverChannelClass() {
            return switch (this) {
                case IO_URING -> IoUringServerSocketChannel.class;
                case EPOLL -> EpollServerSocketChannel.class;
                case NIO -> NioServerSocketChannel.class;
            };
        }

        @Override
        public String toString() {
            return displayName;
        }
    }

    /**
     * Socket reads grow up to this size while they fill their buffer (Netty's adaptive guess, whose
     * default stops at 64 KiB). A 1 MiB WRITE then arrives in a few reads instead of sixteen: on
     * io_uring each read is a ring round trip, and fewer pieces make a shorter iovec for the file.
     * Measured with bench/nbd-file.sh, 1 MiB sequential write QD4: io_uring 2,537 -> 3,568 MiB/s,
     * epoll 3,123 -> 3,394 MiB/s. Small requests keep small reads (the guess shrinks again).
     */
    static final int RECEIVE_BYTES_MAX = 1 << 20;
    private static final int RECEIVE_BYTES_MIN = 64;
    private static final int RECEIVE_BYTES_INITIAL = 2048;

    private final Shared shared;
    private final EventLoopGroup group;
    private final Channel serverChannel;
    private final int payloadMaxBytes;

    private NbdServer(Shared shared, EventLoopGroup group, Channel serverChannel, int payloadMaxBytes) {
        this.shared = shared;
        this.group = group;
        this.serverChannel = serverChannel;
        this.payloadMaxBytes = payloadMaxBytes;
    }

    /**
     * Binds and starts serving.
     *
     * @param payloadMaxBytes largest WRITE payload accepted (the decoder's buffer bound); exports
     *     advertise their own maximum, which must not exceed it
     * @param eventLoopThreads 0 for one per core
     */
    public static NbdServer start(InetSocketAddress bindAddress, NbdExports exports, NbdMetrics metrics,
            int payloadMaxBytes, int eventLoopThreads) throws IOException {
        return start(bindAddress, exports, metrics, payloadMaxBytes, eventLoopThreads, Transport.withoutIoUring());
    }

    /** Binds and starts serving on event loops of {@code transport} (it must be available). */
    public static NbdServer start(InetSocketAddress bindAddress, NbdExports exports, NbdMetrics metrics,
            int payloadMaxBytes, int eventLoopThreads, Transport transport) throws IOException {
        return start(bindAddress, exports, metrics, payloadMaxBytes,
                newEventLoopGroup(eventLoopThreads, transport), transport, true);
    }

    /**
     * Serves on {@code group} (from {@link #newEventLoopGroup}), which the caller shares with other
     * work (the client library's chunk server connections) and shuts down after {@link #close}.
     */
    public static NbdServer start(InetSocketAddress bindAddress, NbdExports exports, NbdMetrics metrics,
            int payloadMaxBytes, EventLoopGroup group) throws IOException {
        return start(bindAddress, exports, metrics, payloadMaxBytes, group, NbdTls.OFF);
    }

    /** As above, offering or requiring STARTTLS as {@code tls} says. */
    public static NbdServer start(InetSocketAddress bindAddress, NbdExports exports, NbdMetrics metrics,
            int payloadMaxBytes, EventLoopGroup group, NbdTls tls) throws IOException {
        return start(bindAddress, exports, metrics, payloadMaxBytes, group, Transport.withoutIoUring(), false, tls);
    }

    /** Event loops of the transport the server uses: epoll when available, else NIO. */
    public static EventLoopGroup newEventLoopGroup(int threads) {
        return newEventLoopGroup(threads, Transport.withoutIoUring());
    }

    static EventLoopGroup newEventLoopGroup(int threads, Transport transport) {
        return new MultiThreadIoEventLoopGroup(threads,
                new io.netty.util.concurrent.DefaultThreadFactory("basalt-nbd", true), transport.ioHandlerFactory());
    }

    /** Client sockets for {@link #newEventLoopGroup}'s transport. */
    public static Class<? extends Channel> clientChannelClass() {
        return Epoll.isAvailable() ? io.netty.channel.epoll.EpollSocketChannel.class
                : io.netty.channel.socket.nio.NioSocketChannel.class;
    }

    private static NbdServer start(InetSocketAddress bindAddress, NbdExports exports, NbdMetrics metrics,
            int payloadMaxBytes, EventLoopGroup group, Transport transport, boolean ownsGroup) throws IOException {
        return start(bindAddress, exports, metrics, payloadMaxBytes, group, transport, ownsGroup, NbdTls.OFF);
    }

    private static NbdServer start(InetSocketAddress bindAddress, NbdExports exports, NbdMetrics metrics,
            int payloadMaxBytes, EventLoopGroup group, Transport transport, boolean ownsGroup, NbdTls tls)
            throws IOException {
        Shared shared = new Shared(exports, metrics, tls);
        Class<? extends ServerSocketChannel> channelClass = transport.serverChannelClass();
        try {
            ServerBootstrap bootstrap = new ServerBootstrap()
                    .group(group)
                    .channel(channelClass)
                    .option(ChannelOption.SO_REUSEADDR, true)
                    .option(ChannelOption.SO_BACKLOG, 128)
                    .childOption(ChannelOption.TCP_NODELAY, true)
                    .childOption(ChannelOption.SO_KEEPALIVE, true)
                    .childOption(ChannelOption.RCVBUF_ALLOCATOR, new AdaptiveRecvByteBufAllocator(
                            RECEIVE_BYTES_MIN, RECEIVE_BYTES_INITIAL, RECEIVE_BYTES_MAX))
                    .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK,
                            new WriteBufferWaterMark(1 << 20, 4 << 20))
                    .childHandler(new ChannelInitializer<SocketChannel>() {
                        @Override
                        protected void initChannel(SocketChannel channel) {
                            NbdFrameDecoder decoder = new NbdFrameDecoder(payloadMaxBytes);
                            channel.pipeline()
                                    .addLast("flush-consolidation", new FlushConsolidationHandler(64, true))
                                    .addLast("nbd-decoder", decoder)
                                    .addLast("nbd-connection", new ConnectionTracker(shared))
                                    .addLast("nbd-handshake", new NbdHandshakeHandler(shared, decoder));
                        }
                    });
            Channel serverChannel = bootstrap.bind(bindAddress).sync().channel();
            log.info("NBD server listening on {} ({} transport, TLS {})", serverChannel.localAddress(), transport,
                    tls.mode().name().toLowerCase(java.util.Locale.ROOT));
            return new NbdServer(shared, ownsGroup ? group : null, serverChannel, payloadMaxBytes);
        } catch (Exception e) {
            if (ownsGroup) {
                group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            }
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            throw new IOException("cannot listen on " + bindAddress + ": " + e.getMessage(), e);
        }
    }

    public InetSocketAddress localAddress() {
        return (InetSocketAddress) serverChannel.localAddress();
    }

    public int payloadMaxBytes() {
        return payloadMaxBytes;
    }

    /**
     * Stops accepting, lets every session finish the requests it has (up to {@code drainMillis}),
     * then closes all connections and the event loops.
     */
    public void close(long drainMillis) {
        shared.shuttingDown = true;
        serverChannel.close().awaitUninterruptibly();
        for (NbdTransmissionHandler session : shared.sessions) {
            session.shutdown();
        }
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(drainMillis);
        while (!shared.sessions.isEmpty() && System.nanoTime() < deadline) {
            try {
                Thread.sleep(10);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        if (!shared.sessions.isEmpty()) {
            log.warn("{} NBD sessions still busy after {} ms; closing them", shared.sessions.size(), drainMillis);
        }
        shared.channels.close().awaitUninterruptibly();
        if (group != null) { // null: the caller's event loops, which the caller shuts down
            group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly();
        }
    }

    @Override
    public void close() {
        close(10_000);
    }

    /**
     * Runs the decoder over bytes it buffered while paused, then resumes reading. Called from a task
     * of its own on the event loop: firing a read into the pipeline from inside the decoder's own
     * callback would re-enter it. The read is paired with a read-complete so that flush
     * consolidation, which holds flushes while a read is in progress, releases them.
     */
    static void decodeBuffered(Channel channel) {
        if (!channel.isActive()) {
            return;
        }
        channel.pipeline().fireChannelRead(io.netty.buffer.Unpooled.EMPTY_BUFFER);
        channel.pipeline().fireChannelReadComplete();
        channel.config().setAutoRead(true);
    }

    /**
     * What every NBD handler does with an exception: a protocol violation or a reset connection is
     * an operating error (one log line, a metric, close this connection); anything else is a bug,
     * logged with its stack, and the connection closes too. The server goes on either way.
     */
    static void closeOnException(ChannelHandlerContext ctx, Throwable cause, NbdFrameDecoder decoder,
            NbdMetrics metrics) {
        decoder.close();
        Throwable root = cause instanceof DecoderException && cause.getCause() != null ? cause.getCause() : cause;
        if (root instanceof NbdProtocolException) {
            metrics.protocolErrors.labelValues("malformed_frame").inc();
            log.info("{}: closing: {}", ctx.channel().remoteAddress(), root.getMessage());
        } else if (root instanceof IOException) {
            log.debug("{}: connection error: {}", ctx.channel().remoteAddress(), root.toString());
        } else {
            metrics.protocolErrors.labelValues("internal_error").inc();
            log.warn("{}: closing after unexpected error", ctx.channel().remoteAddress(), root);
        }
        ctx.close();
    }

    /** Counts connections and logs them opening and closing. */
    private static final class ConnectionTracker extends io.netty.channel.ChannelInboundHandlerAdapter {
        private final NbdMetrics metrics;
        private final Shared shared;

        ConnectionTracker(Shared shared) {
            this.metrics = shared.metrics;
            this.shared = shared;
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            shared.channels.add(ctx.channel());
            metrics.connections.inc();
            metrics.connectionsOpen.inc();
            log.debug("{}: connected", ctx.channel().remoteAddress());
            ctx.fireChannelActive();
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            metrics.connectionsOpen.dec();
            log.debug("{}: disconnected", ctx.channel().remoteAddress());
            ctx.fireChannelInactive();
        }
    }
}
