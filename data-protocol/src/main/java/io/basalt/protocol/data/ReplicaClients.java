package io.basalt.protocol.data;

import io.basalt.common.ThreadNames;
import io.netty.buffer.ByteBuf;
import io.netty.channel.EventLoopGroup;
import java.io.IOException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;

/**
 * Connections to chunk servers by address: one {@link DataClient} per address, connected on first
 * use and again after it closed. The primary uses it for its replicas, the client library for
 * every chunk server it talks to.
 *
 * <p>Event loop affinity: a request sent from one of {@link #group}'s own event loops goes over a
 * connection pinned to that loop (one per address per loop), so the send, the reply and whatever
 * the caller does with it stay on the caller's thread, with no hand-off to another loop and back.
 * The NBD gateway shares its event loops with the client library for exactly this. Requests from
 * other threads use one shared connection per address.
 *
 * <p>Connecting blocks, so it runs on virtual threads, never on an event loop or a reader thread (a
 * blackholed replica must not stall this CS's reads). A replica that could not be reached is not
 * retried for {@link #RETRY_AFTER_FAILURE_MILLIS}: writes to it fail at once, naming it, instead of
 * each waiting out a connect timeout.
 */
public final class ReplicaClients implements AutoCloseable {
    /** How long a replica that refused or timed out a connect is reported down without retrying. */
    public static final long RETRY_AFTER_FAILURE_MILLIS = 1000;

    private final EventLoopGroup group;
    private final Class<? extends io.netty.channel.Channel> channelClass;
    /** The loop of {@link #group} the current thread runs, or NONE; a thread never changes loop. */
    private final ThreadLocal<Object> currentLoop = ThreadLocal.withInitial(this::findCurrentLoop);
    private static final Object NONE = new Object();
    private final long timeoutMillis;
    private final long payloadMaxBytes;
    private final DataTls tls;
    private final ConcurrentHashMap<String, DataClient> clients = new ConcurrentHashMap<>();
    private final ConcurrentHashMap<String, Long> downUntilNanos = new ConcurrentHashMap<>();
    private final ExecutorService connectors = Executors.newThreadPerTaskExecutor(
            Thread.ofVirtual().name(ThreadNames.of("basalt-cs-replica-"), 0).factory());

    public ReplicaClients(EventLoopGroup group, long timeoutMillis, long payloadMaxBytes) {
        this(group, io.netty.channel.socket.nio.NioSocketChannel.class, timeoutMillis, payloadMaxBytes);
    }

    /** {@code channelClass} must suit {@code group}'s transport (NIO or epoll sockets). */
    public ReplicaClients(EventLoopGroup group, Class<? extends io.netty.channel.Channel> channelClass,
            long timeoutMillis, long payloadMaxBytes) {
        this(group, channelClass, timeoutMillis, payloadMaxBytes, null);
    }

    /** As above, every connection over mutual TLS with {@code tls} (null: plain TCP, --insecure). */
    public ReplicaClients(EventLoopGroup group, Class<? extends io.netty.channel.Channel> channelClass,
            long timeoutMillis, long payloadMaxBytes, DataTls tls) {
        this.tls = tls;
        this.group = group;
        this.channelClass = channelClass;
        this.timeoutMillis = timeoutMillis;
        this.payloadMaxBytes = payloadMaxBytes;
    }

    /**
     * Sends a request to {@code hostPort}; {@code payload} (null for none) is handed over (released on
     * every failure path). The future fails with an {@link IOException} naming the replica when it cannot be reached.
     */
    public CompletableFuture<DataClient.Reply> request(String hostPort, int type, long chunkUid, long chunkVersion,
            long offsetBytes, long lengthBytes, ByteBuf payload) {
        return request(hostPort, type, 0, chunkUid, chunkVersion, offsetBytes, lengthBytes, payload);
    }

    /** As above, with header flags (DataFrame.FLAG_*, e.g. FLAG_BACKGROUND for recovery reads). */
    public CompletableFuture<DataClient.Reply> request(String hostPort, int type, int flags, long chunkUid,
            long chunkVersion, long offsetBytes, long lengthBytes, ByteBuf payload) {
        Object loop = currentLoop.get();
        String key = loop == NONE ? hostPort : hostPort + "@" + System.identityHashCode(loop);
        DataClient client = clients.get(key);
        if (client != null && client.isOpen()) {
            return client.request(type, flags, chunkUid, chunkVersion, offsetBytes, lengthBytes, payload);
        }
        Long downUntil = downUntilNanos.get(hostPort);
        if (downUntil != null && System.nanoTime() - downUntil < 0) {
            io.netty.util.ReferenceCountUtil.release(payload);
            return CompletableFuture.failedFuture(new IOException("replica " + hostPort
                    + " unreachable (last connect failed less than " + RETRY_AFTER_FAILURE_MILLIS + " ms ago)"));
        }
        CompletableFuture<DataClient.Reply> result = new CompletableFuture<>();
        try {
            connectors.execute(() -> {
                try {
                    connected(key, hostPort, loop == NONE ? group : (io.netty.channel.EventLoop) loop)
                            .request(type, flags, chunkUid, chunkVersion, offsetBytes, lengthBytes, payload)
                            .whenComplete((reply, error) -> {
                                if (error != null) {
                                    result.completeExceptionally(error);
                                } else {
                                    result.complete(reply);
                                }
                            });
                } catch (IOException | RuntimeException e) {
                    io.netty.util.ReferenceCountUtil.release(payload);
                    result.completeExceptionally(e);
                }
            });
        } catch (RejectedExecutionException e) {
            io.netty.util.ReferenceCountUtil.release(payload);
            result.completeExceptionally(new IOException("chunk server is shutting down"));
        }
        return result;
    }

    private Object findCurrentLoop() {
        for (io.netty.util.concurrent.EventExecutor executor : group) {
            if (executor.inEventLoop()) {
                return executor;
            }
        }
        return NONE;
    }

    private DataClient connected(String key, String hostPort, EventLoopGroup on) throws IOException {
        synchronized (this) { // one connect per replica at a time; others wait for it
            DataClient client = clients.get(key);
            if (client != null && client.isOpen()) {
                return client;
            }
            try {
                client = DataClient.connect(on, channelClass, hostPort, timeoutMillis, payloadMaxBytes, tls);
            } catch (IOException | RuntimeException e) {
                downUntilNanos.put(hostPort, System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(RETRY_AFTER_FAILURE_MILLIS));
                throw e instanceof IOException io ? io : new IOException(e.getMessage(), e);
            }
            downUntilNanos.remove(hostPort);
            clients.put(key, client);
            return client;
        }
    }

    @Override
    public void close() {
        connectors.shutdownNow();
        clients.values().forEach(DataClient::close);
        clients.clear();
    }
}
