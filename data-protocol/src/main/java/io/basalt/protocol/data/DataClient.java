package io.basalt.protocol.data;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.CompositeByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.flush.FlushConsolidationHandler;
import io.netty.handler.ssl.SslHandler;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.zip.CRC32C;

/**
 * A data-protocol client over one connection: pipelined requests, replies matched by request id in
 * any order. Pooled by address (and by event loop) in {@link ReplicaClients}, which the chunk
 * server uses for replication and the client library for everything.
 *
 * <p>Thread-safe: requests may be sent from any thread; the pending map is concurrent and replies
 * complete futures on the connection's event loop (callers must not block there).
 */
public final class DataClient implements AutoCloseable {
    private final Channel channel;
    private final String address;
    private final long timeoutMillis;
    private final AtomicLong nextRequestId = new AtomicLong(1);
    private final ConcurrentHashMap<Long, Pending> pending = new ConcurrentHashMap<>();
    /** Fails requests past their deadline; one task per connection, not one timer per request. */
    private final ScheduledFuture<?> timeoutSweep;

    private record Pending(CompletableFuture<Reply> future, long deadlineNanos) {}

    /**
     * A reply: its status, the error message, or for OK replies the payload (a retained slice of the
     * reply frame, which the caller must {@link #release}).
     */
    public record Reply(CsStatus status, String message, ByteBuf frame) {
        public ByteBuf payload() {
            return frame.slice(frame.readerIndex() + DataFrame.HEADER_BYTES, (int) DataFrame.payloadBytes(frame));
        }

        public long chunkVersion() {
            return DataFrame.chunkVersion(frame);
        }

        public void release() {
            frame.release();
        }
    }

    private DataClient(Channel channel, String address, long timeoutMillis) {
        this.channel = channel;
        this.address = address;
        this.timeoutMillis = timeoutMillis;
        // A timer per request would put one task per request in flight into the loop's timer heap
        // (at 16,000 writes/s and a 30 s timeout, half a million); a sweep checks the few pending.
        long sweepMillis = Math.max(10, Math.min(1000, timeoutMillis / 8));
        this.timeoutSweep = channel.eventLoop().scheduleAtFixedRate(this::failOverdue, sweepMillis, sweepMillis,
                TimeUnit.MILLISECONDS);
        channel.closeFuture().addListener(f -> timeoutSweep.cancel(false));
    }

    private void failOverdue() {
        long now = System.nanoTime();
        for (var entry : pending.entrySet()) {
            if (now - entry.getValue().deadlineNanos() >= 0 && pending.remove(entry.getKey(), entry.getValue())) {
                entry.getValue().future().completeExceptionally(new IOException("no reply from " + address + " within "
                        + timeoutMillis + " ms"));
            }
        }
    }

    /** Connects to {@code host:port} on {@code group} (NIO). */
    public static DataClient connect(EventLoopGroup group, String hostPort, long timeoutMillis, long payloadMaxBytes)
            throws IOException {
        return connect(group, NioSocketChannel.class, hostPort, timeoutMillis, payloadMaxBytes);
    }

    /**
     * Connects to {@code host:port} on {@code group} (which may be a single event loop, to pin the
     * connection to it) with sockets of {@code channelClass}, which must suit the group's transport.
     */
    public static DataClient connect(EventLoopGroup group, Class<? extends Channel> channelClass, String hostPort,
            long timeoutMillis, long payloadMaxBytes) throws IOException {
        return connect(group, channelClass, hostPort, timeoutMillis, payloadMaxBytes, null);
    }

    /**
     * As above, over mutual TLS with {@code tls} (null: plain TCP, for an --insecure cluster).
     * Returns only after the handshake, with the peer checked to hold a chunk server's certificate,
     * so a refusal is this call's IOException rather than a first request's.
     */
    public static DataClient connect(EventLoopGroup group, Class<? extends Channel> channelClass, String hostPort,
            long timeoutMillis, long payloadMaxBytes, DataTls tls) throws IOException {
        int colon = hostPort.lastIndexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException("address \"" + hostPort + "\" is not HOST:PORT");
        }
        InetSocketAddress address = new InetSocketAddress(hostPort.substring(0, colon),
                Integer.parseInt(hostPort.substring(colon + 1)));
        DataClient[] holder = new DataClient[1];
        Bootstrap bootstrap = new Bootstrap().group(group).channel(channelClass)
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(timeoutMillis, 10_000))
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        // Requests issued together (a primary forwarding the frames of one read, a
                        // caller's burst) leave in one write: one flush per event-loop turn, not one
                        // per request. Without it the forwarding loop spent half its time in writev.
                        ch.pipeline().addLast("flush-consolidation", new FlushConsolidationHandler(64, true))
                                .addLast(new DataFrameDecoder(payloadMaxBytes)).addLast(new ReplyHandler(holder));
                        if (tls != null) {
                            tls.addClientHandler(ch, address.getHostString(), address.getPort());
                        }
                    }
                });
        Channel channel;
        try {
            channel = bootstrap.connect(address).sync().channel();
            if (tls != null) {
                awaitHandshake(channel, hostPort, timeoutMillis);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted connecting to " + hostPort, e);
        } catch (TlsRefused e) {
            throw e.toIOException();
        } catch (Exception e) {
            throw new IOException("cannot connect to chunk server " + hostPort + ": " + e.getMessage(), e);
        }
        DataClient client = new DataClient(channel, hostPort, timeoutMillis);
        holder[0] = client;
        return client;
    }

    /** A refused or failed TLS handshake, already worded: kept apart from connect failures. */
    private static final class TlsRefused extends Exception {
        TlsRefused(IOException cause) {
            super(cause.getMessage(), cause);
        }

        IOException toIOException() {
            return (IOException) getCause();
        }
    }

    private static void awaitHandshake(Channel channel, String hostPort, long timeoutMillis)
            throws TlsRefused, InterruptedException {
        SslHandler handler = channel.pipeline().get(SslHandler.class);
        var handshake = handler.handshakeFuture();
        if (!handshake.await(Math.min(timeoutMillis, 10_000))) {
            channel.close();
            throw new TlsRefused(new IOException("TLS handshake with chunk server " + hostPort + " timed out"));
        }
        if (!handshake.isSuccess()) {
            channel.close();
            throw new TlsRefused(new IOException("TLS with chunk server " + hostPort + " refused: "
                    + DataTls.handshakeFailure(handshake.cause()), handshake.cause()));
        }
        try {
            DataTls.checkServerRole(handler, hostPort);
        } catch (IOException e) {
            channel.close();
            throw new TlsRefused(e);
        }
    }

    public String address() {
        return address;
    }

    public boolean isOpen() {
        return channel.isActive();
    }

    /**
     * Sends a request; {@code payload} (may be null) is handed over. The future fails with an
     * {@link IOException} when the connection closes or the reply does not come within the timeout.
     */
    public CompletableFuture<Reply> request(int type, long chunkUid, long chunkVersion, long offsetBytes,
            long lengthBytes, ByteBuf payload) {
        return request(type, 0, chunkUid, chunkVersion, offsetBytes, lengthBytes, payload);
    }

    /** As {@link #request(int, long, long, long, long, ByteBuf)}, with header flags (DataFrame.FLAG_*). */
    public CompletableFuture<Reply> request(int type, int flags, long chunkUid, long chunkVersion, long offsetBytes,
            long lengthBytes, ByteBuf payload) {
        long requestId = nextRequestId.getAndIncrement();
        CompletableFuture<Reply> future = new CompletableFuture<>();
        pending.put(requestId, new Pending(future, System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMillis)));
        ByteBuf header = channel.alloc().buffer(DataFrame.HEADER_BYTES);
        DataFrame.writeHeader(header, type, flags, requestId, chunkUid, chunkVersion, offsetBytes, lengthBytes,
                payload == null ? 0 : payload.readableBytes(), 0);
        Object message = header;
        if (payload != null) {
            CompositeByteBuf frame = channel.alloc().compositeBuffer(2);
            frame.addComponents(true, header, payload);
            message = frame;
        }
        if (!channel.isActive()) {
            pending.remove(requestId);
            io.netty.util.ReferenceCountUtil.release(message);
            future.completeExceptionally(new IOException("connection to " + address + " is closed"));
            return future;
        }
        channel.writeAndFlush(message).addListener(f -> {
            if (!f.isSuccess()) {
                Pending failed = pending.remove(requestId);
                if (failed != null) {
                    failed.future().completeExceptionally(new IOException("sending to " + address + " failed: "
                            + f.cause()));
                }
            }
        });
        return future;
    }

    /** Payload of a WRITE: {@code data} (whole blocks) followed by its per-block CRC32Cs. */
    public static ByteBuf writePayload(io.netty.buffer.ByteBufAllocator alloc, byte[] data) {
        ByteBuf payload = alloc.buffer(data.length + data.length / 1024);
        payload.writeBytes(data);
        for (int at = 0; at < data.length; at += BlockCrc.BLOCK_SIZE_BYTES) {
            payload.writeInt(BlockCrc.of(payload, at, BlockCrc.BLOCK_SIZE_BYTES));
        }
        return payload;
    }

    /** Payload of a FORWARD: the write payload then the replica list with its CRC32C. */
    public static ByteBuf forwardPayload(io.netty.buffer.ByteBufAllocator alloc, byte[] data, List<String> replicas) {
        ByteBuf payload = writePayload(alloc, data);
        appendReplicaList(payload, replicas);
        return payload;
    }

    /** Appends a FORWARD request's replica list (count, entries, CRC32C) to {@code payload}. */
    public static void appendReplicaList(ByteBuf payload, List<String> replicas) {
        int listAt = payload.writerIndex();
        payload.writeByte(replicas.size());
        for (String replica : replicas) {
            byte[] bytes = replica.getBytes(StandardCharsets.UTF_8);
            payload.writeByte(bytes.length);
            payload.writeBytes(bytes);
        }
        CRC32C crc = new CRC32C();
        crc.update(payload.nioBuffer(listAt, payload.writerIndex() - listAt));
        payload.writeInt((int) crc.getValue());
    }

    @Override
    public void close() {
        channel.close().awaitUninterruptibly();
    }

    private static final class ReplyHandler extends ChannelInboundHandlerAdapter {
        private final DataClient[] holder;

        ReplyHandler(DataClient[] holder) {
            this.holder = holder;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf frame = (ByteBuf) msg;
            DataClient client = holder[0];
            Pending pending = client == null ? null : client.pending.remove(DataFrame.requestId(frame));
            if (pending == null) {
                frame.release(); // timed out already
                return;
            }
            CompletableFuture<Reply> future = pending.future();
            CsStatus status;
            try {
                status = CsStatus.ofCode(DataFrame.status(frame));
            } catch (IllegalArgumentException e) {
                frame.release();
                future.completeExceptionally(new IOException(e.getMessage()));
                return;
            }
            String message = status == CsStatus.OK ? "" : DataFrame.errorMessage(frame);
            if (!future.complete(new Reply(status, message, frame))) {
                frame.release();
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) throws Exception {
            DataClient client = holder[0];
            if (client != null) {
                for (Long id : List.copyOf(client.pending.keySet())) {
                    Pending pending = client.pending.remove(id);
                    if (pending != null) {
                        pending.future().completeExceptionally(new IOException("connection to " + client.address + " closed"));
                    }
                }
            }
            super.channelInactive(ctx);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            ctx.close();
        }
    }
}
