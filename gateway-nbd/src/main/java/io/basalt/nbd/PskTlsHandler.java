package io.basalt.nbd;

import io.basalt.protocol.data.DataTls;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.ssl.SslHandshakeCompletionEvent;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.SecureRandom;
import java.util.ArrayDeque;
import java.util.Vector;
import org.bouncycastle.tls.AlertDescription;
import org.bouncycastle.tls.AlertLevel;
import org.bouncycastle.tls.BasicTlsPSKExternal;
import org.bouncycastle.tls.CipherSuite;
import org.bouncycastle.tls.PRFAlgorithm;
import org.bouncycastle.tls.PSKTlsServer;
import org.bouncycastle.tls.ProtocolVersion;
import org.bouncycastle.tls.PskIdentity;
import org.bouncycastle.tls.TlsPSKExternal;
import org.bouncycastle.tls.TlsPSKIdentityManager;
import org.bouncycastle.tls.TlsServerProtocol;
import org.bouncycastle.tls.TlsUtils;
import org.bouncycastle.tls.crypto.TlsCrypto;
import org.bouncycastle.tls.crypto.impl.jcajce.JcaTlsCryptoProvider;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The server side of TLS with a pre-shared key ({@link NbdPsk}) for an NBD connection after
 * STARTTLS, where BoringSSL and the JDK offer certificates only: Bouncy Castle's TLS engine in its
 * non-blocking mode, records in and out through this handler. TLS 1.3 with an external PSK and
 * (EC)DHE, which is what GnuTLS clients (libnbd, qemu) offer; TLS 1.2 PSK cipher suites for older
 * clients. The ciphers run on the JDK's providers (AES-GCM with AES-NI).
 *
 * <p>When the handshake is done the client's PSK identity is the channel's
 * {@link DataTls#PEER_NAME} (what {@code --allow} lists name) and an
 * {@link SslHandshakeCompletionEvent} goes up the pipeline as after a certificate handshake. A
 * failed handshake (unknown identity, wrong key) is logged in one line, counted, and closes the
 * connection. Confined to the channel's event loop.
 */
final class PskTlsHandler extends ChannelDuplexHandler {
    private static final Logger log = LoggerFactory.getLogger(PskTlsHandler.class);
    private static final TlsCrypto CRYPTO = new JcaTlsCryptoProvider().create(new SecureRandom());
    /**
     * TLS 1.3 suites (the PSK is external) and the TLS 1.2 PSK ones, strongest key exchange first. The
     * TLS 1.3 ones hash with SHA-256, the hash of an external PSK (RFC 8446 section 4.2.11): with a
     * SHA-384 suite GnuTLS and the engine derive different keys.
     */
    private static final int[] SUITES = TlsUtils.getSupportedCipherSuites(CRYPTO, new int[] {
            CipherSuite.TLS_AES_128_GCM_SHA256, CipherSuite.TLS_CHACHA20_POLY1305_SHA256,
            CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_GCM_SHA256, CipherSuite.TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256,
            CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256, CipherSuite.TLS_DHE_PSK_WITH_AES_128_GCM_SHA256,
            CipherSuite.TLS_PSK_WITH_AES_128_GCM_SHA256});

    private final NbdPsk keys;
    private final NbdMetrics metrics;
    private final TlsServerProtocol protocol = new TlsServerProtocol();
    private final Server server = new Server(new Lookup());
    /** Plain text written before the handshake finished (none in NBD's flow; kept in order anyway). */
    private final ArrayDeque<Object[]> early = new ArrayDeque<>();
    private boolean done;
    private boolean failed;

    PskTlsHandler(NbdPsk keys, NbdMetrics metrics) {
        this.keys = keys;
        this.metrics = metrics;
    }

    /** TLS 1.2 PSK suites a ClientHello may offer: such a client is one for this handler. */
    static boolean isPskSuite(int suite) {
        for (int each : SUITES) {
            if (each == suite && !TlsUtils.isValidCipherSuiteForVersion(suite, ProtocolVersion.TLSv13)) {
                return true;
            }
        }
        return false;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) throws Exception {
        protocol.accept(server);
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
        if (!(msg instanceof ByteBuf in)) {
            ctx.fireChannelRead(msg);
            return;
        }
        if (failed) {
            in.release();
            return;
        }
        byte[] records = ByteBufUtil.getBytes(in);
        in.release();
        try {
            protocol.offerInput(records);
        } catch (IOException e) {
            fail(ctx, e);
            return;
        }
        flushRecords(ctx);
        if (!done && protocol.isConnected() && !protocol.isHandshaking()) {
            done = true;
            ctx.channel().attr(DataTls.PEER_NAME).set(server.lookup.identity);
            log.debug("{}: TLS-PSK session with {} ({})", ctx.channel().remoteAddress(), server.lookup.identity,
                    server.version);
            ctx.fireUserEventTriggered(SslHandshakeCompletionEvent.SUCCESS);
            while (!early.isEmpty()) {
                Object[] write = early.poll();
                write(ctx, write[0], (ChannelPromise) write[1]);
            }
            ctx.flush();
        }
        int available = protocol.getAvailableInputBytes();
        if (available > 0) {
            byte[] plain = new byte[available];
            protocol.readInput(plain, 0, available);
            ctx.fireChannelRead(Unpooled.wrappedBuffer(plain));
        }
        if (protocol.isClosed()) {
            ctx.close();
        }
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) throws Exception {
        if (!(msg instanceof ByteBuf plain)) {
            // Never past the session unencrypted (as SslHandler, which takes only ByteBufs too).
            io.netty.util.ReferenceCountUtil.release(msg);
            promise.tryFailure(new io.netty.handler.codec.UnsupportedMessageTypeException(msg, ByteBuf.class));
            return;
        }
        if (!done) {
            early.add(new Object[] {msg, promise});
            return;
        }
        try {
            if (plain.hasArray()) {
                protocol.writeApplicationData(plain.array(), plain.arrayOffset() + plain.readerIndex(),
                        plain.readableBytes());
            } else {
                byte[] bytes = ByteBufUtil.getBytes(plain);
                protocol.writeApplicationData(bytes, 0, bytes.length);
            }
        } catch (IOException e) {
            promise.tryFailure(e);
            return;
        } finally {
            plain.release();
        }
        int pending = protocol.getAvailableOutputBytes();
        byte[] records = new byte[pending];
        protocol.readOutput(records, 0, pending);
        ctx.write(Unpooled.wrappedBuffer(records), promise);
    }

    @Override
    public void close(ChannelHandlerContext ctx, ChannelPromise promise) throws Exception {
        if (!failed && protocol.isConnected()) {
            try {
                protocol.close(); // close_notify
            } catch (IOException e) {
                // the peer went first: nothing to say
            }
            flushRecords(ctx);
        }
        releaseEarly();
        ctx.close(promise);
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        releaseEarly();
    }

    private void releaseEarly() {
        while (!early.isEmpty()) {
            Object[] write = early.poll();
            io.netty.util.ReferenceCountUtil.release(write[0]);
            ((ChannelPromise) write[1]).tryFailure(new IOException("the TLS session ended before its handshake"));
        }
    }

    /** Writes and flushes the records the engine has to send (handshake messages, alerts). */
    private void flushRecords(ChannelHandlerContext ctx) {
        int pending = protocol.getAvailableOutputBytes();
        if (pending > 0) {
            byte[] records = new byte[pending];
            protocol.readOutput(records, 0, pending);
            ctx.writeAndFlush(Unpooled.wrappedBuffer(records));
        }
    }

    private void fail(ChannelHandlerContext ctx, IOException e) {
        failed = true;
        flushRecords(ctx); // the alert, when the engine raised one
        if (!done) {
            metrics.pskRefusals.inc();
            log.warn("refused NBD connection from {}: TLS-PSK handshake failed: {}", ctx.channel().remoteAddress(),
                    server.why(e));
            ctx.fireUserEventTriggered(new SslHandshakeCompletionEvent(e));
        } else {
            log.info("{} ({}): TLS-PSK session ended: {}", ctx.channel().remoteAddress(), server.lookup.identity,
                    e.getMessage());
        }
        ctx.close();
    }

    /** Keys by identity from the file; remembers which identity was asked and which one matched. */
    private final class Lookup implements TlsPSKIdentityManager {
        private String identity;
        private String asked;

        @Override
        public byte[] getHint() {
            return null;
        }

        @Override
        public byte[] getPSK(byte[] raw) {
            String name = new String(raw, StandardCharsets.UTF_8);
            asked = name;
            byte[] key = keys.key(name);
            if (key != null) {
                identity = name;
            }
            return key;
        }
    }

    /** The engine's side of the server: TLS 1.3 external PSKs and TLS 1.2 PSK suites, alerts remembered. */
    private final class Server extends PSKTlsServer {
        private final Lookup lookup;
        private String alert;
        private ProtocolVersion version;

        Server(Lookup lookup) {
            super(CRYPTO, lookup);
            this.lookup = lookup;
        }

        @Override
        protected ProtocolVersion[] getSupportedVersions() {
            return ProtocolVersion.TLSv13.downTo(ProtocolVersion.TLSv12);
        }

        @Override
        protected int[] getSupportedCipherSuites() {
            return SUITES.clone();
        }

        @Override
        public TlsPSKExternal getExternalPSK(Vector identities) {
            for (Object each : identities) {
                byte[] raw = ((PskIdentity) each).getIdentity();
                byte[] key = lookup.getPSK(raw);
                if (key != null) {
                    return new BasicTlsPSKExternal(raw, getCrypto().createSecret(key), PRFAlgorithm.tls13_hkdf_sha256);
                }
            }
            return null;
        }

        @Override
        public void notifyHandshakeComplete() throws IOException {
            super.notifyHandshakeComplete();
            version = context.getServerVersion();
        }

        @Override
        public void notifyAlertRaised(short level, short description, String message, Throwable cause) {
            if (level == AlertLevel.fatal) {
                alert = AlertDescription.getText(description) + (message == null ? "" : " (" + message + ")");
            }
        }

        @Override
        public void notifyAlertReceived(short level, short description) {
            if (level == AlertLevel.fatal) {
                alert = "the client sent " + AlertDescription.getText(description);
            }
        }

        /** One line: which identity, and why it failed. */
        String why(IOException e) {
            String asked = lookup.asked;
            String who = asked == null ? "no PSK identity offered (is the client using a certificate"
                    + " or another key file?)" : lookup.identity == null ? "identity \"" + asked + "\" is not in "
                    + keys.file() : "identity \"" + asked + "\": wrong key (the client's key differs from "
                    + keys.file() + ")";
            return who + "; " + (alert != null ? alert : e.getMessage());
        }
    }
}
