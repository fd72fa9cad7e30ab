package io.basalt.meta.api;

import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.SocketChannel;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * The client end of a meta member's local admin socket (docs/security.md, "The local admin
 * socket"; the frame in docs/formats.md, "Admin socket frame"). One request at a time on one
 * connection; the member forwards each to the group and sends back meta's reply as it came.
 *
 * <p>Why it exists: an admin verb is a fresh JVM, and over Ratis it spends most of its second
 * loading a certificate, setting up gRPC and Netty and doing a TLS handshake in code the JIT has
 * not seen. Over the socket it sends a few bytes. Who may connect is settled by the file system
 * (the socket is its member's user's only) and checked by the member (the peer's user).
 */
final class AdminSocketClient implements AutoCloseable {
    private static final ScheduledExecutorService DEADLINES = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread thread = new Thread(r, "basalt-admin-socket-deadline");
        thread.setDaemon(true);
        return thread;
    });

    private final SocketChannel channel;
    private final Path socket;
    private final Duration deadline;

    private AdminSocketClient(SocketChannel channel, Path socket, Duration deadline) {
        this.channel = channel;
        this.socket = socket;
        this.deadline = deadline;
    }

    /** Connects, or throws at once when nothing listens on {@code socket}. */
    static AdminSocketClient connect(Path socket, Duration deadline) throws IOException {
        SocketChannel channel = SocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            channel.connect(UnixDomainSocketAddress.of(socket));
        } catch (IOException | RuntimeException e) {
            channel.close();
            throw e;
        }
        return new AdminSocketClient(channel, socket, deadline);
    }

    /**
     * Sends one request and returns meta's encoded reply. A member that does not answer within the
     * deadline (it forwards with its own retries, which ride out an election) has the connection
     * closed under it.
     */
    synchronized byte[] send(MetaRequest request) {
        ScheduledFuture<?> timeout = DEADLINES.schedule(this::closeQuietly, deadline.toMillis(), TimeUnit.MILLISECONDS);
        try {
            AdminSocketFrame.write(channel, AdminSocketFrame.KIND_REQUEST, request.encode());
            return AdminSocketFrame.read(channel, AdminSocketFrame.KIND_REPLY);
        } catch (IOException e) {
            throw new MetaException(MetaError.NOT_LEADER, "meta's admin socket " + socket + " did not answer "
                    + request.op() + (timeout.isDone() ? " within " + deadline.toSeconds() + " s" : "")
                    + ": " + e.getMessage() + "; check the meta member's log");
        } finally {
            timeout.cancel(false);
        }
    }

    private void closeQuietly() {
        try {
            channel.close();
        } catch (IOException ignored) {
            // Closing to end a read that waited too long: nothing else to do.
        }
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
