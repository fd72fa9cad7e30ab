package io.basalt.s3.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.LoggerFactory;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * A 64 MiB object through the gateway never has more than a bounded amount of body bytes in
 * flight: on the way in, the (slow) store's writers never hold more than one write; on the way
 * out, a client that reads slowly holds the store's reads back.
 */
class S3GatewayBackpressureTest {
    private static final int OBJECT_BYTES = 64 << 20;
    private static final int WRITE_SIZE_BYTES = 1 << 20;
    private static GatewayFixture fixture;
    private static S3Client s3;

    @BeforeAll
    static void start() {
        fixture = new GatewayFixture(S3Gateway.Limits.defaults());
        s3 = fixture.client();
        s3.createBucket(b -> b.bucket("pressure"));
    }

    @AfterAll
    static void stop() {
        s3.close();
        fixture.close();
    }

    /** 64 MiB of seeded random bytes, generated as they are read, never held whole. */
    private static InputStream object(long seed) {
        return new InputStream() {
            private final Random random = new Random(seed);
            private long left = OBJECT_BYTES;

            @Override
            public int read() {
                byte[] one = new byte[1];
                return read(one, 0, 1) < 0 ? -1 : one[0] & 0xFF;
            }

            @Override
            public int read(byte[] buffer, int offset, int length) {
                if (left == 0) {
                    return -1;
                }
                int n = (int) Math.min(length, left);
                byte[] chunk = new byte[n];
                random.nextBytes(chunk);
                System.arraycopy(chunk, 0, buffer, offset, n);
                left -= n;
                return n;
            }
        };
    }

    private static String md5Of(InputStream in) throws Exception {
        MessageDigest md5 = MessageDigest.getInstance("MD5");
        byte[] buffer = new byte[1 << 16];
        int n;
        while ((n = in.read(buffer)) > 0) {
            md5.update(buffer, 0, n);
        }
        return HexFormat.of().formatHex(md5.digest());
    }

    @Test
    void aSlowStoreHoldsTheUploadBack() throws Exception {
        // 10 ms per MiB: the client could send far faster than the store takes.
        fixture.store.setWriteDelayNanosPerMiB(10_000_000);
        fixture.store.resetOutstandingWriteBytesMax();
        try {
            String etag = s3.putObject(b -> b.bucket("pressure").key("big"),
                    RequestBody.fromInputStream(object(1), OBJECT_BYTES)).eTag();
            assertThat(etag).isEqualTo("\"" + md5Of(object(1)) + "\"");
        } finally {
            fixture.store.setWriteDelayNanosPerMiB(0);
        }
        long max = fixture.store.outstandingWriteBytesMax();
        assertThat(max).as("most body bytes in the store's hands at once").isPositive()
                .isLessThanOrEqualTo(WRITE_SIZE_BYTES);
        try (InputStream in = s3.getObject(b -> b.bucket("pressure").key("big"))) {
            assertThat(md5Of(in)).isEqualTo(md5Of(object(1)));
        }
    }

    @Test
    void aSlowReaderHoldsTheDownloadBack() throws Exception {
        s3.putObject(b -> b.bucket("pressure").key("download"),
                RequestBody.fromInputStream(object(2), OBJECT_BYTES));
        RawS3 raw = new RawS3(fixture.endpoint, GatewayFixture.ACCESS_KEY,
                GatewayFixture.SECRET);
        Map<String, String> signed = raw.sign("GET", "/pressure/download", "", Map.of(),
                RawS3.UNSIGNED);
        long deliveredBefore = fixture.store.readBytesDelivered();
        try (Socket socket = new Socket()) {
            socket.setReceiveBufferSize(64 * 1024);
            socket.connect(new java.net.InetSocketAddress(fixture.endpoint.getHost(),
                    fixture.endpoint.getPort()));
            socket.setSoTimeout(30_000);
            OutputStream out = socket.getOutputStream();
            StringBuilder head = new StringBuilder("GET /pressure/download HTTP/1.1\r\n");
            signed.forEach((name, value) -> head.append(name).append(": ").append(value)
                    .append("\r\n"));
            out.write(head.append("\r\n").toString().getBytes(StandardCharsets.US_ASCII));
            out.flush();
            InputStream in = socket.getInputStream();
            byte[] buffer = new byte[64 * 1024];
            long received = 0;
            long aheadMax = 0;
            while (received < 8L << 20) {
                int n = in.read(buffer);
                assertThat(n).isPositive();
                received += n;
                if (received % (1 << 20) < n) {
                    Thread.sleep(20); // a slow client
                    long delivered = fixture.store.readBytesDelivered() - deliveredBefore;
                    aheadMax = Math.max(aheadMax, delivered - received);
                }
            }
            // Socket buffers (the kernel's send buffer grows to a few MiB) and Jetty's output
            // buffer sit between the store and the client; without backpressure the store would
            // have delivered all 64 MiB at once.
            assertThat(aheadMax).as("bytes the store read ahead of a slow client")
                    .isLessThan(16L << 20);
        }
    }

    /**
     * A client that drops the connection in the middle of a GET is counted as a disconnect and
     * logged at debug without a stack, not answered (or logged) as a 500.
     */
    @Test
    void aClientGoneMidDownloadIsNotAServerError() throws Exception {
        s3.putObject(b -> b.bucket("pressure").key("dropped"),
                RequestBody.fromInputStream(object(3), OBJECT_BYTES));
        Logger handlerLog = (Logger) LoggerFactory.getLogger(S3Handler.class);
        ListAppender<ILoggingEvent> logged = new ListAppender<>();
        logged.start();
        handlerLog.addAppender(logged);
        try {
            RawS3 raw = new RawS3(fixture.endpoint, GatewayFixture.ACCESS_KEY,
                    GatewayFixture.SECRET);
            Map<String, String> signed = raw.sign("GET", "/pressure/dropped", "", Map.of(),
                    RawS3.UNSIGNED);
            try (Socket socket = new Socket()) {
                socket.connect(new java.net.InetSocketAddress(fixture.endpoint.getHost(),
                        fixture.endpoint.getPort()));
                socket.setSoTimeout(30_000);
                StringBuilder head = new StringBuilder("GET /pressure/dropped HTTP/1.1\r\n");
                signed.forEach((name, value) -> head.append(name).append(": ").append(value)
                        .append("\r\n"));
                socket.getOutputStream().write(head.append("\r\n").toString()
                        .getBytes(StandardCharsets.US_ASCII));
                InputStream in = socket.getInputStream();
                byte[] buffer = new byte[64 * 1024];
                long received = 0;
                while (received < 1 << 20) {
                    int n = in.read(buffer);
                    assertThat(n).isPositive();
                    received += n;
                }
                socket.setSoLinger(true, 0); // close with a reset, as a killed client does
            }
            long deadline = System.nanoTime() + 20_000_000_000L;
            while (disconnects("GET_OBJECT") < 1 && System.nanoTime() < deadline) {
                Thread.sleep(10);
            }
            assertThat(disconnects("GET_OBJECT")).isEqualTo(1);
            assertThat(logged.list).noneMatch(event -> event.getLevel().isGreaterOrEqual(
                    Level.WARN) || event.getThrowableProxy() != null);
        } finally {
            handlerLog.detachAppender(logged);
        }
        // The gateway still serves.
        assertThat(s3.headObject(b -> b.bucket("pressure").key("dropped")).contentLength())
                .isEqualTo(OBJECT_BYTES);
    }

    private static double disconnects(String operation) {
        return fixture.registry.scrape().stream()
                .filter(m -> m.getMetadata().getName().equals("basalt_s3_client_disconnects"))
                .map(m -> (CounterSnapshot) m)
                .flatMap(m -> m.getDataPoints().stream())
                .filter(point -> operation.equals(point.getLabels().get("operation")))
                .mapToDouble(CounterSnapshot.CounterDataPointSnapshot::getValue)
                .sum();
    }
}
