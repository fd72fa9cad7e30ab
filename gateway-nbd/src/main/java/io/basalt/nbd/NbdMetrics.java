package io.basalt.nbd;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Unit;

/**
 * Prometheus metrics of one NBD server: requests, bytes, errors and latency by command;
 * connections; protocol violations by kind. Registered in the registry the daemon exports.
 */
public final class NbdMetrics {
    final Counter requests;
    final Counter errors;
    final Counter bytesRead;
    final Counter bytesWritten;
    final Histogram latency;
    final Gauge connectionsOpen;
    final Counter connections;
    final Counter protocolErrors;
    final Gauge requestsInFlight;
    final Counter accessRefusals;
    final Counter pskRefusals;

    public NbdMetrics(PrometheusRegistry registry) {
        requests = Counter.builder().name("basalt_nbd_requests_total")
                .help("NBD requests received, by command").labelNames("command").register(registry);
        errors = Counter.builder().name("basalt_nbd_request_errors_total")
                .help("NBD requests answered with an error, by command and errno name")
                .labelNames("command", "error").register(registry);
        bytesRead = Counter.builder().name("basalt_nbd_read_bytes_total")
                .help("Bytes returned to NBD clients by READ").unit(Unit.BYTES).register(registry);
        bytesWritten = Counter.builder().name("basalt_nbd_written_bytes_total")
                .help("Bytes received from NBD clients by WRITE").unit(Unit.BYTES).register(registry);
        latency = Histogram.builder().name("basalt_nbd_request_duration_seconds")
                .help("Time from decoding an NBD request to queueing its reply, by command")
                .unit(Unit.SECONDS).labelNames("command")
                .classicUpperBounds(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                        0.1, 0.25, 0.5, 1, 2.5, 10)
                .classicOnly()
                .register(registry);
        connectionsOpen = Gauge.builder().name("basalt_nbd_connections_open")
                .help("Open NBD client connections").register(registry);
        connections = Counter.builder().name("basalt_nbd_connections_total")
                .help("NBD client connections accepted").register(registry);
        protocolErrors = Counter.builder().name("basalt_nbd_protocol_errors_total")
                .help("Connections closed for breaking the NBD protocol, by kind").labelNames("kind")
                .register(registry);
        accessRefusals = Counter.builder().name("basalt_nbd_refused_exports_total")
                .help("Exports a client asked for and may not open under the gateway's --allow lists")
                .register(registry);
        pskRefusals = Counter.builder().name("basalt_nbd_tls_psk_refusals_total")
                .help("NBD connections refused in their TLS-PSK handshake (unknown identity, wrong key)")
                .register(registry);
        requestsInFlight = Gauge.builder().name("basalt_nbd_requests_in_flight")
                .help("NBD requests received and not yet answered").register(registry);
    }

    static String errorName(int errno) {
        return switch (errno) {
            case NbdProtocol.EPERM -> "EPERM";
            case NbdProtocol.EIO -> "EIO";
            case NbdProtocol.ENOMEM -> "ENOMEM";
            case NbdProtocol.EINVAL -> "EINVAL";
            case NbdProtocol.ENOSPC -> "ENOSPC";
            case NbdProtocol.EOVERFLOW -> "EOVERFLOW";
            case NbdProtocol.ENOTSUP -> "ENOTSUP";
            case NbdProtocol.ESHUTDOWN -> "ESHUTDOWN";
            default -> "E" + errno;
        };
    }
}
