package io.basalt.nbd;

import io.netty.buffer.ByteBuf;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.ByteToMessageDecoder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.function.Supplier;

/**
 * After STARTTLS on a gateway with pre-shared keys: reads the client's ClientHello and hands the
 * connection to the TLS engine it asks for, the PSK one ({@link PskTlsHandler}) when the hello
 * offers an external PSK whose identity is in the key file or a TLS 1.2 PSK suite, the certificate
 * one otherwise (or when the gateway has no certificate, the PSK one always, which refuses a
 * certificate client with one line). Nothing is consumed: the bytes read go on to the engine chosen.
 *
 * <p>A ClientHello (RFC 8446 section 4.1.2) may span records; they are gathered up to
 * {@link #HELLO_BYTES_MAX}. Anything that does not parse as one goes to the certificate engine,
 * whose alert then says what is wrong.
 */
final class StartTlsRouter extends ByteToMessageDecoder {
    static final int HELLO_BYTES_MAX = 64 * 1024;
    private static final int HANDSHAKE = 22;
    private static final int CLIENT_HELLO = 1;
    private static final int PRE_SHARED_KEY = 41;

    private final NbdPsk keys;
    /** The PSK engine and, when the gateway has a certificate, the certificate engine and its check. */
    private final Supplier<ChannelHandler> psk;
    private final Supplier<ChannelHandler[]> certificate;

    StartTlsRouter(NbdPsk keys, Supplier<ChannelHandler> psk, Supplier<ChannelHandler[]> certificate) {
        this.keys = keys;
        this.psk = psk;
        this.certificate = certificate;
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        Boolean wantsPsk = certificate == null ? Boolean.TRUE : wantsPsk(in);
        if (wantsPsk == null) {
            return; // more of the hello to come
        }
        if (wantsPsk) {
            ctx.pipeline().replace(this, "nbd-tls", psk.get());
        } else {
            ChannelHandler[] handlers = certificate.get(); // the engine, then the check of the peer
            ctx.pipeline().addAfter(ctx.name(), "nbd-tls-peer-check", handlers[1]);
            ctx.pipeline().replace(this, "nbd-tls", handlers[0]);
        }
        // replace() hands the bytes gathered here to the engine: the pipeline links the old place to it
    }

    /** True: a PSK client; false: a certificate client (or not a hello); null: read more. */
    Boolean wantsPsk(ByteBuf in) {
        byte[] hello = gatherHello(in);
        if (hello == null) {
            return in.readableBytes() >= HELLO_BYTES_MAX ? Boolean.FALSE : null;
        }
        if (hello.length == 0) {
            return false;
        }
        try {
            return offersPsk(java.nio.ByteBuffer.wrap(hello));
        } catch (RuntimeException e) {
            return false; // not a hello we can read: the certificate engine's alert will say so
        }
    }

    /**
     * The ClientHello's body from the handshake records at the start of {@code in} (not consumed),
     * null when more bytes are needed, empty when the bytes are not a ClientHello.
     */
    private static byte[] gatherHello(ByteBuf in) {
        java.io.ByteArrayOutputStream handshake = new java.io.ByteArrayOutputStream();
        int at = in.readerIndex();
        int end = in.writerIndex();
        while (true) {
            if (end - at < 5) {
                return null;
            }
            if (in.getUnsignedByte(at) != HANDSHAKE) {
                return new byte[0];
            }
            int length = in.getUnsignedShort(at + 3);
            if (end - at - 5 < length) {
                return null;
            }
            byte[] fragment = new byte[length];
            in.getBytes(at + 5, fragment);
            handshake.writeBytes(fragment);
            at += 5 + length;
            byte[] bytes = handshake.toByteArray();
            if (bytes.length >= 4) {
                if (bytes[0] != CLIENT_HELLO) {
                    return new byte[0];
                }
                int helloLength = (bytes[1] & 0xff) << 16 | (bytes[2] & 0xff) << 8 | (bytes[3] & 0xff);
                if (helloLength > HELLO_BYTES_MAX) {
                    return new byte[0];
                }
                if (bytes.length >= 4 + helloLength) {
                    return java.util.Arrays.copyOfRange(bytes, 4, 4 + helloLength);
                }
            }
        }
    }

    /** Whether a ClientHello body offers a PSK this gateway has, or a TLS 1.2 PSK suite. */
    private boolean offersPsk(java.nio.ByteBuffer hello) {
        hello.position(2 + 32); // legacy_version, random
        skip(hello, hello.get() & 0xff); // legacy_session_id
        int suitesBytes = hello.getShort() & 0xffff;
        boolean pskSuite = false;
        for (int i = 0; i < suitesBytes / 2; i++) {
            pskSuite |= PskTlsHandler.isPskSuite(hello.getShort() & 0xffff);
        }
        skip(hello, hello.get() & 0xff); // legacy_compression_methods
        if (!hello.hasRemaining()) {
            return pskSuite;
        }
        int extensionsEnd = (hello.getShort() & 0xffff) + hello.position();
        while (hello.position() + 4 <= extensionsEnd) {
            int type = hello.getShort() & 0xffff;
            int length = hello.getShort() & 0xffff;
            if (type != PRE_SHARED_KEY) {
                skip(hello, length);
                continue;
            }
            // PreSharedKeyExtension: identities<7..2^16-1> of (identity<1..2^16-1>, u32 age), binders
            int identitiesEnd = (hello.getShort() & 0xffff) + hello.position();
            while (hello.position() + 2 <= identitiesEnd) {
                byte[] identity = new byte[hello.getShort() & 0xffff];
                hello.get(identity);
                hello.getInt();
                if (keys.key(new String(identity, StandardCharsets.UTF_8)) != null) {
                    return true;
                }
            }
            // None we have: a certificate session's ticket, or a PSK client's unknown identity, which
            // also offers PSK suites (GnuTLS does) and so goes to the PSK engine for its one-line refusal.
            return pskSuite;
        }
        return pskSuite;
    }

    private static void skip(java.nio.ByteBuffer buffer, int bytes) {
        buffer.position(buffer.position() + bytes);
    }
}
