package io.basalt.client;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;

/** What the client library counts: retries and their reasons, failures reported, meta calls. */
final class ClientMetrics {
    final Counter retries;
    final Counter failuresReported;
    final Counter metaCalls;
    final Counter corruptReads;
    final Counter qosThrottledSeconds;
    final Counter qosThrottledRequests;
    final Counter ecDirectWrites;

    ClientMetrics(PrometheusRegistry registry) {
        retries = Counter.builder().name("basalt_client_retries_total")
                .help("I/O pieces tried again, by reason").labelNames("op", "reason")
                .register(registry);
        failuresReported = Counter.builder().name("basalt_client_failures_reported_total")
                .help("Chunk server failures reported to meta").register(registry);
        metaCalls = Counter.builder().name("basalt_client_meta_calls_total")
                .help("Calls to meta, by operation").labelNames("op").register(registry);
        corruptReads = Counter.builder().name("basalt_client_corrupt_reads_total")
                .help("Read replies whose data failed its CRC32C (wire or disk), read again elsewhere")
                .register(registry);
        qosThrottledSeconds = Counter.builder().name("basalt_client_qos_throttled_seconds_total")
                .help("Time requests waited for their volume's QoS limits, by volume and op")
                .labelNames("volume", "op").register(registry);
        qosThrottledRequests = Counter.builder().name("basalt_client_qos_throttled_requests_total")
                .help("Requests that waited for their volume's QoS limits, by volume and op")
                .labelNames("volume", "op").register(registry);
        ecDirectWrites = Counter.builder().name("basalt_client_ec_direct_writes_total")
                .help("Writes of erasure-coded chunks with every parity column down, sent to each data column"
                        + " directly (no stripe master)")
                .register(registry);
    }
}
