package io.basalt.s3.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.Random;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.core.exception.SdkClientException;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;

/** Starting on any port, and a graceful close: a request in progress finishes first. */
class S3GatewayLifecycleTest {
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
}
