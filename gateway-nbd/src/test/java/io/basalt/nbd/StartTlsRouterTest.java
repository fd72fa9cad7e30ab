package io.basalt.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.SecureRandom;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLEngine;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import org.bouncycastle.tls.BasicTlsPSKIdentity;
import org.bouncycastle.tls.PSKTlsClient;
import org.bouncycastle.tls.TlsClientProtocol;
import org.bouncycastle.tls.crypto.impl.jcajce.JcaTlsCryptoProvider;
import org.junit.jupiter.api.Test;

/**
 * Which engine the STARTTLS router picks from a client's first bytes: real ClientHellos (a PSK one
 * from Bouncy Castle's client, a certificate one from the JDK's), whole, a byte at a time and split
 * over two records, and bytes that are no hello at all.
 */
class StartTlsRouterTest {
    private static final byte[] KEY = new byte[32];

    private static StartTlsRouter router() throws Exception {
        Path file = Files.createTempFile("keys", ".psk");
        try {
            Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
            Files.writeString(file, "alice:" + java.util.HexFormat.of().formatHex(KEY) + "\n");
            return new StartTlsRouter(NbdPsk.load(file), () -> null, () -> null);
        } finally {
            Files.delete(file);
        }
    }

    private static byte[] pskHello() throws Exception {
        TlsClientProtocol client = new TlsClientProtocol();
        client.connect(new PSKTlsClient(new JcaTlsCryptoProvider().create(new SecureRandom()),
                new BasicTlsPSKIdentity("alice", KEY)));
        byte[] hello = new byte[client.getAvailableOutputBytes()];
        client.readOutput(hello, 0, hello.length);
        return hello;
    }

    private static byte[] certificateHello() throws Exception {
        SSLEngine engine = SSLContext.getDefault().createSSLEngine("127.0.0.1", 10809);
        engine.setUseClientMode(true);
        java.nio.ByteBuffer out = java.nio.ByteBuffer.allocate(engine.getSession().getPacketBufferSize());
        engine.beginHandshake();
        engine.wrap(java.nio.ByteBuffer.allocate(0), out);
        out.flip();
        byte[] hello = new byte[out.remaining()];
        out.get(hello);
        return hello;
    }

    @Test
    void aPskClientGoesToThePskEngineAndACertificateClientToTheOther() throws Exception {
        StartTlsRouter router = router();
        assertThat(router.wantsPsk(Unpooled.wrappedBuffer(pskHello()))).isTrue();
        assertThat(router.wantsPsk(Unpooled.wrappedBuffer(certificateHello()))).isFalse();
    }

    @Test
    void theDecisionWaitsForTheWholeHelloEvenOverTwoRecords() throws Exception {
        StartTlsRouter router = router();
        byte[] hello = pskHello();
        for (int length = 0; length < hello.length; length++) {
            assertThat(router.wantsPsk(Unpooled.wrappedBuffer(hello, 0, length))).as("%d bytes", length).isNull();
        }
        // The same handshake message in two records.
        int body = hello.length - 5;
        int half = body / 2;
        ByteBuf split = Unpooled.buffer();
        split.writeByte(22).writeShort(0x0303).writeShort(half).writeBytes(hello, 5, half);
        split.writeByte(22).writeShort(0x0303).writeShort(body - half).writeBytes(hello, 5 + half, body - half);
        assertThat(router.wantsPsk(split.slice(0, split.readableBytes() - 1))).isNull();
        assertThat(router.wantsPsk(split)).isTrue();
    }

    @Property(tries = 300)
    void bytesThatAreNoHelloNeverThrowAndNeverChooseThePskEngine(@ForAll byte[] noise) throws Exception {
        StartTlsRouter router = router();
        Boolean decision = router.wantsPsk(Unpooled.wrappedBuffer(noise));
        assertThat(decision).isNotEqualTo(Boolean.TRUE);
    }
}
