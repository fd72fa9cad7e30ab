package io.basalt.chunkserver.protocol;

import io.basalt.protocol.data.DataFrameDecoder;
import io.basalt.protocol.data.DataTls;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.group.DefaultChannelGroup;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioServerSocketChannel;
import io.netty.handler.flush.FlushConsolidationHandler;
import io.netty.util.concurrent.GlobalEventExecutor;
import java.io.IOException;
import java.net.InetSocketAddress;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The chunk server's data-protocol listener: one {@link DataServerHandler} per connection.
 *
 * <p>Closing it closes every connection it accepted, at once: a peer's requests in flight fail
 * ("connection closed") and its next ones go to whatever listens on the port next, instead of
 * waiting out their timeout on a connection nobody reads. Leaving them to the event loop group's
 * shutdown was not enough: a restarted in-process server left one open with unread requests and no
 * thread (HotTierProperties, a stripe master's STRIP_READ unanswered for 30 s).
 */
public final class DataServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(DataServer.class);

    private final Channel serverChannel;
    /** Every connection accepted and still open; one added after close() is closed at once. */
    private final ChannelGroup accepted;

    private DataServer(Channel serverChannel, ChannelGroup accepted) {
        this.serverChannel = serverChannel;
        this.accepted = accepted;
    }

    /** Listens on {@code bindAddress} with the event loops of {@code group} (NIO). */
    public static DataServer start(InetSocketAddress bindAddress, EventLoopGroup group, DataService service)
            throws IOException {
        return start(bindAddress, group, service, null);
    }

    /**
     * As above, every connection over mutual TLS with {@code tls} (null: plain TCP, --insecure):
     * a peer refused by it never reaches the frame decoder (see {@link DataTls}).
     */
    public static DataServer start(InetSocketAddress bindAddress, EventLoopGroup group, DataService service,
            DataTls tls) throws IOException {
        ChannelGroup accepted = new DefaultChannelGroup("cs-data", GlobalEventExecutor.INSTANCE, true);
        ServerBootstrap bootstrap = new ServerBootstrap()
                .group(group)
                .channel(NioServerSocketChannel.class)
                .option(ChannelOption.SO_REUSEADDR, true)
                .option(ChannelOption.SO_BACKLOG, 128)
                .childOption(ChannelOption.TCP_NODELAY, true)
                .childOption(ChannelOption.SO_KEEPALIVE, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, new WriteBufferWaterMark(1 << 20, 4 << 20))
                .childHandler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel channel) {
                        accepted.add(channel);
                        channel.pipeline()
                                .addLast("flush-consolidation", new FlushConsolidationHandler(64, true))
                                .addLast("cs-decoder", new DataFrameDecoder(service.payloadMaxBytes()))
                                .addLast("cs-handler", new DataServerHandler(service));
                        if (tls != null) {
                            tls.addServerHandlers(channel);
                        }
                    }
                });
        try {
            Channel channel = bootstrap.bind(bindAddress).sync().channel();
            log.info("chunk server data protocol on {} ({})", channel.localAddress(),
                    tls == null ? "plain TCP: --insecure" : "mutual TLS as " + tls.identity().name() + ", "
                            + tls.provider());
            return new DataServer(channel, accepted);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted binding " + bindAddress, e);
        } catch (Exception e) {
            throw new IOException("cannot listen on " + bindAddress + ": " + e.getMessage(), e);
        }
    }

    public InetSocketAddress localAddress() {
        return (InetSocketAddress) serverChannel.localAddress();
    }

    /** Stops listening, then closes every accepted connection. */
    @Override
    public void close() {
        serverChannel.close().awaitUninterruptibly();
        accepted.close().awaitUninterruptibly();
    }
}
