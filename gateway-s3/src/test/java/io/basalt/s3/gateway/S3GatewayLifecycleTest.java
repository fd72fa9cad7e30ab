package io.basalt.s3.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * Starting on any port, the in-flight limit, and a graceful close: a request in progress
 * finishes first.
 */
class S3GatewayLifecycleTest {
    @Test
    void pastTheInFlightLimitIsSlowDown() throws Exception {
        S3Gateway.Limits defaults = S3Gateway.Limits.defaults();
        GatewayFixture fixture = new GatewayFixture(new S3Gateway.Limits(1,
                defaults.writeSizeBytes(), defaults.requestHeaderBytesMax(),
                defaults.idleTimeout(), defaults.userMetadataBytesMax()));
        S3Client s3 = fixture.client();
        try {
            s3.createBucket(b -> b.bucket("busy"));
            fixture.store.setWriteDelayNanosPerMiB(200_000_000);
            CompletableFuture<String> put = CompletableFuture.supplyAsync(() -> s3.putObject(
                    b -> b.bucket("busy").key("slow"), RequestBody.fromBytes(new byte[4 << 20]))
                    .eTag());
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (fixture.store.openBodyCount() == 0 && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            RawS3 raw = new RawS3(fixture.endpoint, GatewayFixture.ACCESS_KEY,
                    GatewayFixture.SECRET);
            var refused = raw.send("GET", "/", "", java.util.Map.of(), null, null);
            assertThat(refused.statusCode()).isEqualTo(503);
            assertThat(refused.body()).contains("<Code>SlowDown</Code>");
            assertThat(put.get()).isNotEmpty();
            fixture.store.setWriteDelayNanosPerMiB(0);
            assertThat(raw.send("GET", "/", "", java.util.Map.of(), null, null).statusCode())
                    .isEqualTo(200);
        } finally {
            s3.close();
            fixture.close();
        }
    }

    @Test
    void closeLetsARequestInProgressFinish() throws Exception {
        GatewayFixture fixture = new GatewayFixture();
        S3Client s3 = fixture.client();
        try {
            assertThat(fixture.gateway.port()).isPositive();
            s3.createBucket(b -> b.bucket("closing"));
            byte[] data = new byte[8 << 20];
            new Random(7).nextBytes(data);
            fixture.store.setWriteDelayNanosPerMiB(100_000_000); // ~0.8 s for the body
            CompletableFuture<String> put = CompletableFuture.supplyAsync(() -> s3.putObject(
                    b -> b.bucket("closing").key("in-flight"), RequestBody.fromBytes(data))
                    .eTag());
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (fixture.store.openBodyCount() == 0 && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertThat(fixture.store.openBodyCount()).as("the upload started").isPositive();
            fixture.gateway.close();
            assertThat(put.get()).isNotEmpty();
            assertThat(fixture.store.head("closing", "in-flight", null).get()).isPresent();
            assertThatThrownBy(() -> s3.listBuckets()).isInstanceOf(SdkClientException.class);
        } finally {
            s3.close();
            fixture.close();
        }
    }

    /**
     * Jetty's stop cuts every connection's idle timeout to 1 s: a client that is slow to send its
     * body (a loaded machine, an SDK waiting for "100 Continue") must still finish its upload
     * while the gateway closes, since the close waits for requests before it closes connections.
     */
    @Test
    void anUploadWhoseBodyArrivesLateWhileTheGatewayClosesStillFinishes() throws Exception {
        GatewayFixture fixture = new GatewayFixture();
        S3Client s3 = fixture.client();
        try (Socket socket = new Socket(fixture.endpoint.getHost(), fixture.endpoint.getPort())) {
            s3.createBucket(b -> b.bucket("late"));
            byte[] data = new byte[64 << 10];
            new Random(11).nextBytes(data);
            RawS3 raw = new RawS3(fixture.endpoint, GatewayFixture.ACCESS_KEY, GatewayFixture.SECRET);
            Map<String, String> headers = raw.sign("PUT", "/late/body", "",
                    Map.of("content-length", String.valueOf(data.length)), RawS3.hex(RawS3.sha256(data)));
            StringBuilder head = new StringBuilder("PUT /late/body HTTP/1.1\r\n");
            headers.forEach((name, value) -> head.append(name).append(": ").append(value).append("\r\n"));
            socket.setSoTimeout(30_000);
            OutputStream out = socket.getOutputStream();
            out.write(head.append("\r\n").toString().getBytes(StandardCharsets.US_ASCII));
            out.flush();
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (fixture.store.openBodyCount() == 0 && System.nanoTime() < deadline) {
                Thread.sleep(5);
            }
            assertThat(fixture.store.openBodyCount()).as("the upload started").isPositive();
            Thread closer = Thread.ofPlatform().start(fixture.gateway::close);
            Thread.sleep(2_000); // twice Jetty's shutdown idle timeout
            out.write(data);
            out.flush();
            String response = new String(socket.getInputStream().readNBytes(12), StandardCharsets.US_ASCII);
            assertThat(response).isEqualTo("HTTP/1.1 200");
            closer.join(30_000);
            assertThat(closer.isAlive()).as("close finished").isFalse();
            assertThat(fixture.store.head("late", "body", null).get()).isPresent();
        } finally {
            s3.close();
            fixture.close();
        }
    }
}
