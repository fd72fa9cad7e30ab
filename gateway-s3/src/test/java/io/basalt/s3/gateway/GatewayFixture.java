package io.basalt.s3.gateway;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.URI;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.time.ZoneId;
import java.time.ZoneOffset;
import software.amazon.awssdk.auth.credentials.AwsBasicCredentials;
import software.amazon.awssdk.auth.credentials.StaticCredentialsProvider;
import software.amazon.awssdk.http.apache.ApacheHttpClient;
import software.amazon.awssdk.regions.Region;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.S3Configuration;
import software.amazon.awssdk.services.s3.presigner.S3Presigner;

/**
 * A gateway on a loopback port over an {@link InMemoryObjectStore} with one user, and SDK
 * clients for it (path-style, static credentials, the SDK's default integrity settings). The
 * gateway's clock can be moved ({@link #advanceClock}) to expire presigned URLs without sleeping.
 */
final class GatewayFixture implements AutoCloseable {
    static final String ACCESS_KEY = "AKIDBASALTTEST000001";
    static final String SECRET = "basalt/test/secret/key/0123456789abcdefgh";
    static final String OTHER_ACCESS_KEY = "AKIDBASALTTEST000002";
    static final String OTHER_SECRET = "another/secret/key/0123456789abcdefghijk";

    final InMemoryObjectStore store = new InMemoryObjectStore();
    final PrometheusRegistry registry = new PrometheusRegistry();
    final MovableClock clock = new MovableClock();
    final S3Gateway gateway;
    final URI endpoint;
    final Region region;

    GatewayFixture() {
        this(S3Gateway.Limits.defaults());
    }

    GatewayFixture(S3Gateway.Limits limits) {
        this(S3Gateway.Config.defaults().withLimits(limits));
    }

    /** A gateway with {@code config}, moved to an ephemeral loopback port. */
    GatewayFixture(S3Gateway.Config baseConfig) {
        store.addUser("tester", ACCESS_KEY, SECRET);
        store.addUser("other", OTHER_ACCESS_KEY, OTHER_SECRET);
        S3Gateway.Config config = baseConfig.withHost("127.0.0.1").withPort(0);
        region = Region.of(config.region());
        gateway = S3Gateway.start(config, store, registry, clock);
        endpoint = URI.create("http://127.0.0.1:" + gateway.port());
    }

    S3Client client() {
        return client(ACCESS_KEY, SECRET);
    }

    S3Client client(String accessKey, String secret) {
        return S3Client.builder()
                .endpointOverride(endpoint)
                .region(region)
                .credentialsProvider(StaticCredentialsProvider.create(
                        AwsBasicCredentials.create(accessKey, secret)))
                .forcePathStyle(true)
                .httpClient(ApacheHttpClient.builder().maxConnections(16).build())
                .build();
    }

    S3Presigner presigner() {
        return S3Presigner.builder()
                .endpointOverride(endpoint)
                .region(region)
                .credentialsProvider(StaticCredentialsProvider.create(
                        AwsBasicCredentials.create(ACCESS_KEY, SECRET)))
                .serviceConfiguration(S3Configuration.builder().pathStyleAccessEnabled(true)
                        .build())
                .build();
    }

    void advanceClock(Duration by) {
        clock.offset = clock.offset.plus(by);
    }

    void resetClock() {
        clock.offset = Duration.ZERO;
    }

    @Override
    public void close() {
        gateway.close();
        store.close();
    }

    /** The system clock plus an offset tests move. */
    static final class MovableClock extends Clock {
        volatile Duration offset = Duration.ZERO;

        @Override
        public ZoneId getZone() {
            return ZoneOffset.UTC;
        }

        @Override
        public Clock withZone(ZoneId zone) {
            return this;
        }

        @Override
        public Instant instant() {
            return Instant.now().plus(offset);
        }
    }
}
