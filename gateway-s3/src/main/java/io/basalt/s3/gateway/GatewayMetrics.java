package io.basalt.s3.gateway;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Unit;

/**
 * Prometheus metrics of one S3 gateway: requests by operation and HTTP status, body bytes in and
 * out, latency by operation, requests in flight. Operation labels are the router's operation
 * names ({@code PUT_OBJECT}...), {@code UNROUTED} for requests refused before routing.
 */
final class GatewayMetrics {
    final Counter requests;
    final Counter receivedBytes;
    final Counter sentBytes;
    final Histogram latency;
    final Gauge requestsInFlight;
    final Counter clientDisconnects;

    GatewayMetrics(PrometheusRegistry registry) {
        requests = Counter.builder().name("basalt_s3_requests_total")
                .help("S3 requests answered, by operation and HTTP status")
                .labelNames("operation", "status").register(registry);
        receivedBytes = Counter.builder().name("basalt_s3_received_bytes_total")
                .help("Request body bytes received (as sent, aws-chunked framing included)")
                .unit(Unit.BYTES).register(registry);
        sentBytes = Counter.builder().name("basalt_s3_sent_bytes_total")
                .help("Response body bytes sent (object data and XML)")
                .unit(Unit.BYTES).register(registry);
        latency = Histogram.builder().name("basalt_s3_request_duration_seconds")
                .help("Time from a request's arrival to its last response byte, by operation")
                .unit(Unit.SECONDS).labelNames("operation")
                .classicUpperBounds(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                        0.5, 1, 2.5, 5, 10, 30, 60, 300)
                .classicOnly()
                .register(registry);
        requestsInFlight = Gauge.builder().name("basalt_s3_requests_in_flight")
                .help("S3 requests received and not yet answered").register(registry);
        clientDisconnects = Counter.builder().name("basalt_s3_client_disconnects_total")
                .help("Requests whose client closed the connection before the answer was"
                        + " written, by operation")
                .labelNames("operation").register(registry);
    }
}
