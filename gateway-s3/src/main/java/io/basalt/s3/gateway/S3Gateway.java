package io.basalt.s3.gateway;

import io.basalt.client.object.ObjectStore;
import io.basalt.s3.auth.SigV4Verifier;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Clock;
import java.time.Duration;
import java.util.LinkedHashSet;
import java.util.Objects;
import java.util.Set;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import org.eclipse.jetty.http.UriCompliance;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.GracefulHandler;
import org.eclipse.jetty.util.thread.QueuedThreadPool;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The S3 gateway: a Jetty 12 server (core Handler API, HTTP/1.1 with keep-alive) serving the S3
 * API over any {@link ObjectStore}. Stateless: every name and byte is in the store, so any number
 * of gateways can serve one cluster. See docs/objects.md, "Gateway", for the request pipeline.
 *
 * <p>Start with {@link #start}, stop with {@link #close} (graceful: requests in progress get
 * {@link Config#stopTimeout} to finish). The store and the registry are the caller's: close does
 * not close the store.
 */
public final class S3Gateway implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(S3Gateway.class);

    /** S3's largest single PUT (PutObject, UploadPart): 5 GiB. */
    public static final long PUT_SIZE_BYTES_MAX = 5L << 30;

    /**
     * What a gateway serves and its limits.
     *
     * @param host the address to bind ({@code 0.0.0.0} for all)
     * @param port the port, 0 for any free one ({@link S3Gateway#port()} tells which)
     * @param baseDomains domains buckets are virtual-hosted under ({@code b.s3.example.com}); the
     *     bind host is added when it is a name
     * @param region the region clients sign for; GetBucketLocation answers it
     * @param defaultPolicy the storage policy of a bucket created without
     *     {@code x-basalt-storage-policy}
     * @param clockSkewMax how far a request's signed time may be from the gateway's clock
     * @param limits request limits
     */
    public record Config(String host, int port, Set<String> baseDomains, String region,
            String defaultPolicy, Duration clockSkewMax, Limits limits, Duration stopTimeout) {
        public Config {
            Objects.requireNonNull(host, "host");
            if (port < 0 || port > 65535) {
                throw new IllegalArgumentException("port " + port + " (must be 0 to 65535)");
            }
            baseDomains = Set.copyOf(baseDomains);
            Objects.requireNonNull(region, "region");
            Objects.requireNonNull(defaultPolicy, "defaultPolicy");
            Objects.requireNonNull(clockSkewMax, "clockSkewMax");
            Objects.requireNonNull(limits, "limits");
            Objects.requireNonNull(stopTimeout, "stopTimeout");
        }

        /** Port 9000 on every address, {@code s3.localhost}, us-east-1, ec4+2, 15 minutes. */
        public static Config defaults() {
            return new Config("0.0.0.0", 9000, Set.of("s3.localhost"), "us-east-1", "ec4+2",
                    SigV4Verifier.CLOCK_SKEW_MAX, Limits.defaults(), Duration.ofSeconds(30));
        }

        public Config withHost(String newHost) {
            return new Config(newHost, port, baseDomains, region, defaultPolicy, clockSkewMax,
                    limits, stopTimeout);
        }

        public Config withPort(int newPort) {
            return new Config(host, newPort, baseDomains, region, defaultPolicy, clockSkewMax,
                    limits, stopTimeout);
        }

        public Config withRegion(String newRegion) {
            return new Config(host, port, baseDomains, newRegion, defaultPolicy, clockSkewMax,
                    limits, stopTimeout);
        }

        public Config withLimits(Limits newLimits) {
            return new Config(host, port, baseDomains, region, defaultPolicy, clockSkewMax,
                    newLimits, stopTimeout);
        }

        public Config withBaseDomains(Set<String> newBaseDomains) {
            return new Config(host, port, newBaseDomains, region, defaultPolicy, clockSkewMax,
                    limits, stopTimeout);
        }
    }

    /**
     * Request limits.
     *
     * @param requestsInFlightMax requests served at once; past it SlowDown (503), so a burst
     *     costs a retry instead of memory
     * @param writeSizeBytes body bytes gathered before each {@code BodyWriter.write}, and so
     *     (with one network read) the most a request holds: the store's writes are awaited one at
     *     a time
     * @param requestHeaderBytesMax the largest request line and headers Jetty accepts
     * @param idleTimeout a connection with nothing read or written for this long is closed
     * @param userMetadataBytesMax S3's limit on x-amz-meta-* names and values: 2 KiB
     */
    public record Limits(int requestsInFlightMax, int writeSizeBytes, int requestHeaderBytesMax,
            Duration idleTimeout, int userMetadataBytesMax) {
        public Limits {
            if (requestsInFlightMax < 1) {
                throw new IllegalArgumentException("requestsInFlightMax " + requestsInFlightMax);
            }
            if (writeSizeBytes < 4096 || writeSizeBytes > (64 << 20)) {
                throw new IllegalArgumentException("writeSizeBytes " + writeSizeBytes
                        + " (must be 4 KiB to 64 MiB)");
            }
        }

        public static Limits defaults() {
            return new Limits(1024, 1 << 20, 16 * 1024, Duration.ofSeconds(60), 2048);
        }
    }

    private final Server server;
    private final ServerConnector connector;
    private final GracefulHandler graceful;
    private final ExecutorService requestThreads;
    private final Config config;

    private S3Gateway(Server server, ServerConnector connector, GracefulHandler graceful,
            ExecutorService requestThreads, Config config) {
        this.server = server;
        this.connector = connector;
        this.graceful = graceful;
        this.requestThreads = requestThreads;
        this.config = config;
    }

    /**
     * Starts a gateway serving {@code store}; its metrics go to {@code registry}.
     *
     * @throws java.io.UncheckedIOException when the port cannot be bound
     */
    public static S3Gateway start(Config config, ObjectStore store, PrometheusRegistry registry) {
        return start(config, store, registry, Clock.systemUTC());
    }

    /** As {@link #start(Config, ObjectStore, PrometheusRegistry)} with a clock for SigV4. */
    public static S3Gateway start(Config config, ObjectStore store, PrometheusRegistry registry,
            Clock clock) {
        Set<String> domains = new LinkedHashSet<>(config.baseDomains());
        if (isHostName(config.host())) {
            domains.add(config.host());
        }
        QueuedThreadPool threads = new QueuedThreadPool(64, 4);
        threads.setName("s3-jetty");
        Server server = new Server(threads);
        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        http.setSendDateHeader(true);
        http.setRequestHeaderSize(config.limits().requestHeaderBytesMax());
        // S3 keys hold anything: %2F, "..", "//" and encoded controls are key bytes the router
        // decodes once, so Jetty must not refuse or normalize them.
        http.setUriCompliance(UriCompliance.UNSAFE);
        // SigV4 signs header values byte for byte: Jetty's field cache must not hand back its
        // own spelling of a common value ("text/plain;charset=utf-8" for "...UTF-8").
        http.setHeaderCacheCaseSensitive(true);
        ServerConnector connector = new ServerConnector(server, new HttpConnectionFactory(http));
        connector.setHost(config.host());
        connector.setPort(config.port());
        connector.setIdleTimeout(config.limits().idleTimeout().toMillis());
        server.addConnector(connector);
        // One virtual thread per request runs its operation: waits on the store park it
        // cheaply, while body bytes flow through Jetty's demand loop (BodyUpload) and the
        // store's ReadSink without holding any thread per chunk.
        ExecutorService requestThreads = Executors.newThreadPerTaskExecutor(
                Thread.ofVirtual().name("s3-request-", 0).factory());
        GatewayMetrics metrics = new GatewayMetrics(registry);
        S3Handler handler = new S3Handler(config, domains, store, metrics, requestThreads, clock);
        // GracefulHandler: stop() waits (up to the stop timeout) for requests in progress and
        // refuses new ones with 503, instead of cutting them.
        GracefulHandler graceful = new GracefulHandler(handler);
        server.setHandler(graceful);
        server.setErrorHandler(new JettyErrors());
        server.setStopTimeout(config.stopTimeout().toMillis());
        try {
            server.start();
        } catch (Exception e) {
            requestThreads.close();
            try {
                server.stop();
            } catch (Exception stopFailure) {
                e.addSuppressed(stopFailure);
            }
            throw new java.io.UncheckedIOException(new java.io.IOException("S3 gateway could not"
                    + " start on " + config.host() + ":" + config.port() + ": " + e.getMessage(),
                    e));
        }
        S3Gateway gateway = new S3Gateway(server, connector, graceful, requestThreads, config);
        LOG.info("S3 gateway listening on {}:{} (region {}, base domains {})", config.host(),
                gateway.port(), config.region(), domains);
        return gateway;
    }

    /** The port bound (the configured one, or the one chosen for port 0). */
    public int port() {
        return connector.getLocalPort();
    }

    public Config config() {
        return config;
    }

    /** Stops accepting, lets requests in progress finish (up to the stop timeout), then stops. */
    @Override
    public void close() {
        try {
            // Requests first, connections second: Jetty's stop cuts every connection's idle
            // timeout to 1 s at once, which would fail an upload whose client is slow to send
            // its body. So new requests get 503 and those in progress finish with the normal
            // idle timeout; only then are the (now idle) connections closed.
            graceful.shutdown().get(config.stopTimeout().toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
        } catch (java.util.concurrent.TimeoutException e) {
            LOG.warn("S3 gateway stop: requests still in progress after {} ms are cut", config.stopTimeout().toMillis());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } catch (java.util.concurrent.ExecutionException e) {
            LOG.warn("S3 gateway stop: {}", e.getCause().toString());
        }
        try {
            server.stop();
        } catch (Exception e) {
            LOG.warn("S3 gateway stop: {}", e.toString());
        } finally {
            requestThreads.shutdown();
        }
    }

    private static boolean isHostName(String host) {
        if (host.isEmpty() || host.contains(":") || host.equals("0.0.0.0")) {
            return false;
        }
        return !host.chars().allMatch(c -> c == '.' || (c >= '0' && c <= '9'));
    }
}
