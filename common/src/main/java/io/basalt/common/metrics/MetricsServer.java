package io.basalt.common.metrics;

import io.prometheus.metrics.exporter.httpserver.HTTPServer;
import io.prometheus.metrics.instrumentation.jvm.JvmMetrics;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.net.BindException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Prometheus endpoint every Basalt daemon serves ({@code http://HOST:PORT/metrics}), with JVM
 * metrics (GC, memory, threads) beside the daemon's own.
 */
public final class MetricsServer implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(MetricsServer.class);

    private final HTTPServer server;

    private MetricsServer(HTTPServer server) {
        this.server = server;
    }

    /**
     * Starts serving {@code registry} on {@code bindHost:port}; port 0 means "don't serve" and returns
     * null.
     *
     * @throws IllegalArgumentException naming the port and the fix when it is taken
     */
    public static MetricsServer start(PrometheusRegistry registry, String bindHost, int port) throws IOException {
        if (port == 0) {
            return null;
        }
        JvmMetrics.builder().register(registry);
        try {
            HTTPServer server = HTTPServer.builder().hostname(bindHost).port(port).registry(registry).buildAndStart();
            log.info("metrics on http://{}:{}/metrics", bindHost, server.getPort());
            return new MetricsServer(server);
        } catch (BindException e) {
            throw new IllegalArgumentException("metrics port " + port + " is in use; pick another with --metrics-port, or 0 to disable");
        }
    }

    public int port() {
        return server.getPort();
    }

    @Override
    public void close() {
        server.close();
    }
}
