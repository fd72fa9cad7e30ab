package io.basalt.meta.server;

import io.basalt.meta.api.AdminSocketFrame;
import io.basalt.meta.api.MalformedMessageException;
import io.basalt.meta.api.MetaClient;
import io.basalt.meta.api.MetaError;
import io.basalt.meta.api.MetaException;
import io.basalt.meta.api.MetaReply;
import io.basalt.meta.api.MetaRequest;
import java.io.IOException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.nio.file.attribute.UserPrincipal;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.LongAdder;
import jdk.net.ExtendedSocketOptions;
import jdk.net.UnixDomainPrincipal;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A meta member's local admin socket (docs/security.md, "The local admin socket"): a Unix socket in
 * the member's data directory over which a process of the same user on this machine sends meta
 * requests, which the member forwards to the group with its own client (role meta) and answers with
 * meta's reply as it came. An admin verb run beside {@code basalt up} uses it instead of TLS, gRPC
 * and Ratis' client, which were most of its second (docs/performance.md).
 *
 * <p>Who may connect: the socket file is made owner-only (0600), and every connection's peer
 * credentials (SO_PEERCRED) must name this process's user or root; anyone else is closed at once,
 * logged and counted. So it grants what the member's user could do anyway: read the member's own
 * key and the cluster's admin key in the same data tree.
 *
 * <p>Each connection runs on a virtual thread, one request at a time; at most
 * {@value #CONNECTIONS_MAX} at once (more are closed, with a log line). A malformed frame or
 * request gets an INVALID reply when it can be answered, else the connection is closed; nothing of
 * it reaches the group. Thread-safe.
 */
public final class AdminSocketServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(AdminSocketServer.class);
    static final int CONNECTIONS_MAX = 64;

    private final Path path;
    private final ServerSocketChannel server;
    private final MetaClient forwardTo;
    private final UserPrincipal owner;
    private final Semaphore connections = new Semaphore(CONNECTIONS_MAX);
    private final Set<SocketChannel> open = ConcurrentHashMap.newKeySet();
    private final LongAdder requests = new LongAdder();
    private final LongAdder refusedPeers = new LongAdder();
    private final Thread acceptor;
    private volatile boolean closed;

    private AdminSocketServer(Path path, ServerSocketChannel server, MetaClient forwardTo, UserPrincipal owner) {
        this.path = path;
        this.server = server;
        this.forwardTo = forwardTo;
        this.owner = owner;
        this.acceptor = Thread.ofPlatform().daemon().name("meta-admin-socket").unstarted(this::acceptLoop);
    }

    /**
     * Listens on {@code path}, replacing a socket file a stopped member left (the caller holds the
     * data directory: Ratis locks its storage), and forwards through {@code forwardTo}.
     */
    public static AdminSocketServer start(Path path, MetaClient forwardTo) throws IOException {
        Files.deleteIfExists(path);
        ServerSocketChannel server = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
        try {
            server.bind(UnixDomainSocketAddress.of(path));
            Files.setPosixFilePermissions(path, PosixFilePermissions.fromString("rw-------"));
        } catch (IOException | RuntimeException e) {
            server.close();
            throw e;
        }
        AdminSocketServer socket = new AdminSocketServer(path, server, forwardTo, Files.getOwner(path));
        socket.acceptor.start();
        log.info("admin socket on {} (this user's admin verbs on this machine need no certificate)", path);
        return socket;
    }

    public Path path() {
        return path;
    }

    /** Requests answered so far. */
    public long requests() {
        return requests.sum();
    }

    /** Connections closed because their peer was another user. */
    public long refusedPeers() {
        return refusedPeers.sum();
    }

    private void acceptLoop() {
        while (!closed) {
            SocketChannel channel;
            try {
                channel = server.accept();
            } catch (ClosedChannelException e) {
                return;
            } catch (IOException e) {
                if (!closed) {
                    log.warn("admin socket {}: accept failed: {}", path, e.getMessage());
                }
                continue;
            }
            if (!connections.tryAcquire()) {
                log.warn("admin socket {}: {} connections open already; closing a new one", path, CONNECTIONS_MAX);
                closeQuietly(channel);
                continue;
            }
            open.add(channel);
            Thread.ofVirtual().name("meta-admin-connection").start(() -> {
                try {
                    serve(channel);
                } finally {
                    open.remove(channel);
                    closeQuietly(channel);
                    connections.release();
                }
            });
        }
    }

    private void serve(SocketChannel channel) {
        String peer;
        try {
            UnixDomainPrincipal principal = channel.getOption(ExtendedSocketOptions.SO_PEERCRED);
            peer = principal.user().getName();
            if (!principal.user().equals(owner) && !peer.equals("root")) {
                refusedPeers.increment();
                log.warn("admin socket {}: refused a connection of user {} (only {} and root may use it)", path,
                        peer, owner.getName());
                return;
            }
        } catch (IOException | UnsupportedOperationException e) {
            log.warn("admin socket {}: cannot tell who connected ({}); closing", path, e.getMessage());
            return;
        }
        while (!closed) {
            byte[] payload;
            try {
                payload = AdminSocketFrame.read(channel, AdminSocketFrame.KIND_REQUEST);
            } catch (MalformedMessageException e) {
                log.warn("admin socket {}: malformed frame from user {}: {}; closing", path, peer, e.getMessage());
                return;
            } catch (IOException e) {
                return;
            }
            if (payload == null) {
                return;
            }
            byte[] reply = answer(payload);
            try {
                AdminSocketFrame.write(channel, AdminSocketFrame.KIND_REPLY, reply);
            } catch (IOException e) {
                return;
            }
        }
    }

    /** Meta's reply to one request, or the reason it was not sent, as a {@link MetaReply}. */
    private byte[] answer(byte[] payload) {
        requests.increment();
        MetaRequest request;
        try {
            request = MetaRequest.decode(payload);
        } catch (RuntimeException e) {
            return MetaReply.error(MetaError.INVALID, "malformed request: " + e.getMessage());
        }
        try {
            return forwardTo.callForReply(request);
        } catch (MetaException e) {
            return MetaReply.error(e.error(), e.getMessage());
        } catch (RuntimeException e) {
            log.warn("admin socket {}: {} failed", path, request.op(), e);
            return MetaReply.error(MetaError.NOT_LEADER, request.op() + " failed in the meta member: " + e);
        }
    }

    private static void closeQuietly(SocketChannel channel) {
        try {
            channel.close();
        } catch (IOException ignored) {
            // Nothing left to do with a connection that would not close.
        }
    }

    /** Stops accepting, closes every connection and removes the socket file. */
    @Override
    public void close() {
        closed = true;
        try {
            server.close();
        } catch (IOException e) {
            log.warn("admin socket {}: close failed: {}", path, e.getMessage());
        }
        open.forEach(AdminSocketServer::closeQuietly);
        try {
            Files.deleteIfExists(path);
        } catch (IOException e) {
            log.warn("admin socket {}: cannot remove the file: {}", path, e.getMessage());
        }
    }
}
