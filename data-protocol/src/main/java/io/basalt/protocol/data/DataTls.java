package io.basalt.protocol.data;

import io.basalt.common.tls.Role;
import io.basalt.common.tls.TlsIdentity;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.handler.ssl.ClientAuth;
import io.netty.handler.ssl.NotSslRecordException;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslContextBuilder;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import io.netty.handler.ssl.SslProvider;
import java.io.IOException;
import java.net.SocketAddress;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.EnumSet;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.atomic.LongAdder;
import javax.net.ssl.SSLException;
import javax.net.ssl.SSLPeerUnverifiedException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Mutual TLS for the data protocol: both ends present a certificate of the cluster CA, and each
 * checks the other's role (docs/security.md). A chunk server accepts chunk servers, gateways and
 * admins; a client accepts only a chunk server (a gateway's certificate cannot act as one).
 *
 * <p>Refusals: the server logs one line naming the peer's address (and its certificate, when it
 * had a valid one) and why, counts it, and closes that connection; nothing else is disturbed.
 * The client fails its connect with an {@link IOException} saying the same.
 *
 * <p>Provider: BoringSSL (netty-tcnative) where its native library loads, else the JDK's; both
 * TLS 1.3. {@code -Dbasalt.tls.provider=jdk|openssl} picks one (benchmarks). BoringSSL is the
 * default because the JDK's engine spent several times the CPU per byte (copies between Netty's
 * direct buffers and its heap arrays): BoringSSL moved up to ten times as many 1 MiB reads in the
 * same run (docs/performance.md has the pairs). BoringSSL offers no Ed25519 signature, so an
 * identity with an Ed25519 key (made before EC P-256 holders) keeps the JDK's engine, and a
 * BoringSSL peer refuses it: reissue such certificates (basalt up does). Clients pass the peer's host and port to the engine so the JDK can
 * resume sessions, and check that the chunk server's certificate names the address they dialled
 * (HTTPS-style endpoint identification: issue chunk server certificates with --host).
 */
public final class DataTls {
    private static final Logger log = LoggerFactory.getLogger(DataTls.class);
    private static final String PROTOCOL = "TLSv1.3";
    /** Roles a chunk server serves: peers (replication, recovery, EC), gateways, admin tools. */
    public static final Set<Role> CHUNK_SERVER_CLIENTS = EnumSet.of(Role.CHUNK_SERVER, Role.GATEWAY, Role.ADMIN);

    /** The provider every DataTls of this process uses (see the class note). */
    public static final SslProvider PROVIDER = provider(System.getProperty("basalt.tls.provider", ""));

    /** On an accepted server channel: the role of the peer's certificate (absent without TLS). */
    public static final io.netty.util.AttributeKey<Role> PEER_ROLE = io.netty.util.AttributeKey.valueOf("basalt.peerRole");
    /** On an accepted server channel: the holder name in the peer's certificate. */
    public static final io.netty.util.AttributeKey<String> PEER_NAME = io.netty.util.AttributeKey.valueOf("basalt.peerName");

    private final TlsIdentity identity;
    /** {@link #PROVIDER}, or the JDK's for an identity whose key BoringSSL cannot sign with (Ed25519). */
    private final SslProvider provider;
    private final SslContext serverContext;
    private final SslContext clientContext;
    private final Set<Role> acceptedClients;
    private final LongAdder refusals = new LongAdder();

    private DataTls(TlsIdentity identity, Set<Role> acceptedClients) throws SSLException {
        this.identity = identity;
        this.acceptedClients = Set.copyOf(acceptedClients);
        this.provider = PROVIDER == SslProvider.OPENSSL && !"EC".equals(identity.certificate().getPublicKey().getAlgorithm())
                ? SslProvider.JDK : PROVIDER;
        this.serverContext = SslContextBuilder.forServer(identity.keyManagers())
                .trustManager(identity.trustManagers()).clientAuth(ClientAuth.REQUIRE)
                .sslProvider(provider).protocols(PROTOCOL).build();
        this.clientContext = SslContextBuilder.forClient().keyManager(identity.keyManagers())
                .trustManager(identity.trustManagers()).endpointIdentificationAlgorithm("HTTPS")
                .sslProvider(provider).protocols(PROTOCOL).build();
    }

    private static SslProvider provider(String asked) {
        return switch (asked) {
            case "jdk" -> SslProvider.JDK;
            case "openssl" -> {
                if (!io.netty.handler.ssl.OpenSsl.isAvailable()) {
                    throw new IllegalStateException("-Dbasalt.tls.provider=openssl, but BoringSSL does not load here: "
                            + io.netty.handler.ssl.OpenSsl.unavailabilityCause());
                }
                yield SslProvider.OPENSSL;
            }
            case "" -> io.netty.handler.ssl.OpenSsl.isAvailable() ? SslProvider.OPENSSL : SslProvider.JDK;
            default -> throw new IllegalStateException("-Dbasalt.tls.provider=" + asked + " unknown; pass jdk or openssl");
        };
    }

    /** TLS for a holder of {@code identity}; as a server it accepts {@link #CHUNK_SERVER_CLIENTS}. */
    public static DataTls of(TlsIdentity identity) throws IOException {
        return of(identity, CHUNK_SERVER_CLIENTS);
    }

    /** As {@link #of(TlsIdentity)}, accepting clients of {@code acceptedClients} when serving. */
    public static DataTls of(TlsIdentity identity, Set<Role> acceptedClients) throws IOException {
        try {
            return new DataTls(identity, acceptedClients);
        } catch (SSLException e) {
            throw new IOException("cannot set up TLS with " + identity.directory() + ": " + e.getMessage(), e);
        }
    }

    public TlsIdentity identity() {
        return identity;
    }

    /** The TLS implementation in use (OPENSSL: BoringSSL, or JDK). */
    public SslProvider provider() {
        return provider;
    }

    /** Connections refused so far (no or bad certificate, wrong role, not TLS). */
    public long refusals() {
        return refusals.sum();
    }

    /**
     * Puts the server side of TLS first in {@code channel}'s pipeline, followed by the check of
     * the client's role; frames reach the handlers after them only from an accepted peer.
     */
    public void addServerHandlers(Channel channel) {
        channel.pipeline().addFirst("tls-peer-check", new PeerCheck(acceptedClients, "data connection"))
                .addFirst("tls", serverContext.newHandler(channel.alloc()));
    }

    /**
     * The server side of TLS for a protocol that switches to it mid-stream (NBD STARTTLS):
     * {@code startTls} lets the first write (the plain-text reply that accepts the switch) pass
     * unencrypted. Follow it with {@link #peerCheck(String)}.
     */
    public SslHandler serverHandler(io.netty.buffer.ByteBufAllocator alloc, boolean startTls) {
        return new SslHandler(serverContext.newEngine(alloc), startTls);
    }

    /**
     * The handler that, right after a server {@link SslHandler}, accepts the client only in an
     * allowed role, logging and counting each refusal ({@code what}: "NBD connection"...).
     */
    public io.netty.channel.ChannelHandler peerCheck(String what) {
        return new PeerCheck(acceptedClients, what);
    }

    /** Puts the client side of TLS first in {@code channel}'s pipeline, for {@code host:port}. */
    public SslHandler addClientHandler(Channel channel, String host, int port) {
        SslHandler handler = clientContext.newHandler(channel.alloc(), host, port);
        channel.pipeline().addFirst("tls", handler);
        return handler;
    }

    /**
     * After a client handshake: the chunk server's role, or an IOException naming what it
     * presented when that is not a chunk server's certificate.
     */
    static void checkServerRole(SslHandler handler, String address) throws IOException {
        X509Certificate peer;
        try {
            peer = peerCertificate(handler);
        } catch (SSLPeerUnverifiedException e) {
            throw new IOException("chunk server " + address + " presented no certificate", e);
        }
        Optional<Role> role = Role.of(peer);
        if (role.orElse(null) != Role.CHUNK_SERVER) {
            throw new IOException(address + " presented a certificate of " + Role.holderName(peer) + " with role "
                    + role.map(Role::label).orElse("none") + ", not a chunk server's; refused");
        }
    }

    private static X509Certificate peerCertificate(SslHandler handler) throws SSLPeerUnverifiedException {
        Certificate[] chain = handler.engine().getSession().getPeerCertificates();
        return (X509Certificate) chain[0];
    }

    /** Why a handshake failed, in words an operator acts on. */
    static String handshakeFailure(Throwable cause) {
        Throwable root = cause;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String message = String.valueOf(cause.getMessage()) + " / " + root.getMessage();
        if (cause instanceof NotSslRecordException || root instanceof NotSslRecordException) {
            return "not TLS (a plain-text client: give it a certificate, or run the cluster with --insecure)";
        }
        if (root instanceof java.nio.channels.ClosedChannelException) {
            return "closed before the TLS handshake ended";
        }
        if (message.contains("Empty client certificate chain") || message.contains("certificate_required")) {
            return "no client certificate";
        }
        if (message.contains("PKIX path") || message.contains("unable to find valid certification path")
                || message.contains("unknown_ca")) {
            return "certificate not signed by this cluster's CA (" + root.getMessage() + ")";
        }
        if (message.contains("certificate_unknown") || message.contains("bad_certificate")) {
            return "the peer refused this side's certificate (is it from another cluster's CA?)";
        }
        if (message.contains("validity") || message.contains("expired") || message.contains("certificate_expired")) {
            return "certificate expired or not yet valid (" + root.getMessage() + ")";
        }
        return "TLS handshake failed: " + root.getMessage();
    }

    /**
     * Waits for the server handshake, then accepts the client only in an allowed role. Logs each
     * refusal once (one line: who, why) and closes the connection.
     */
    private final class PeerCheck extends ChannelInboundHandlerAdapter {
        private final Set<Role> accepted;
        private final String what;
        private boolean refused;

        PeerCheck(Set<Role> accepted, String what) {
            this.accepted = accepted;
            this.what = what;
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object event) throws Exception {
            if (event instanceof SslHandshakeCompletionEvent completion) {
                if (!completion.isSuccess()) {
                    refuse(ctx, ctx.channel().remoteAddress(), handshakeFailure(completion.cause()));
                    return;
                }
                X509Certificate peer = peerCertificate(ctx.pipeline().get(SslHandler.class));
                Optional<Role> role = Role.of(peer);
                if (role.isEmpty() || !accepted.contains(role.get())) {
                    refuse(ctx, ctx.channel().remoteAddress() + " (" + Role.holderName(peer) + ")",
                            "role " + role.map(Role::label).orElse("none") + " may not open a " + what
                                    + " (accepted: " + accepted.stream().map(Role::label).sorted().toList() + ")");
                    return;
                }
                ctx.channel().attr(PEER_ROLE).set(role.get());
                ctx.channel().attr(PEER_NAME).set(Role.holderName(peer));
                ctx.pipeline().remove(this);
            }
            super.userEventTriggered(ctx, event);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            // Before the peer is accepted every error is the handshake's: say why once, close.
            refuse(ctx, ctx.channel().remoteAddress(), handshakeFailure(cause));
        }

        private void refuse(ChannelHandlerContext ctx, Object who, String why) {
            if (!refused) {
                refused = true;
                refusals.increment();
                log.warn("refused {} from {}: {}", what, who instanceof SocketAddress a ? a.toString() : who, why);
            }
            ctx.close();
        }
    }
}
