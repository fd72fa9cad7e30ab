package io.basalt.client;

import io.basalt.protocol.data.DataTls;
import java.time.Duration;

/**
 * Tunables of the client library.
 *
 * @param requestTimeoutMillis how long one chunk server request may take. Longer than the chunk
 *     server's own request timeout (30 s) so that a slow replica is answered for by the primary
 *     (REPLICA_FAILED naming it) before the client gives up on the primary; a chunk server stopped
 *     for 20 s (SIGSTOP) stalls I/O but does not fail it.
 * @param attemptsMax tries of one piece of I/O (first try plus retries after a failure was
 *     reported or the map refreshed) before the error reaches the caller
 * @param retryBackoffMillisMax the longest pause between tries (doubling from 20 ms)
 * @param leaseDuration how long a lease lasts without renewal; renewed every third of it
 * @param requestBytesMax the largest chunk server request; larger I/O is split
 * @param volumeRefreshMillis how often an open volume's record is read again from meta, so a live
 *     QoS change or resize reaches it (0: never). Two seconds: an operator sees a change take hold
 *     about as fast as they can look, and a read per open volume every two seconds is nothing
 *     to meta (a ReadIndex round, no log entry; the lease renewal, a log entry, comes every 10 s).
 * @param tls mutual TLS to the chunk servers with this holder's certificate (null: plain TCP, for
 *     a cluster run with --insecure)
 */
public record ClientConfig(long requestTimeoutMillis, int attemptsMax, long retryBackoffMillisMax,
                           Duration leaseDuration, int requestBytesMax, long volumeRefreshMillis, DataTls tls) {

    public static ClientConfig defaults() {
        return new ClientConfig(45_000, 12, 1_000, Duration.ofSeconds(30), 1 << 20, 2_000, null);
    }

    public ClientConfig withTls(DataTls tls) {
        return new ClientConfig(requestTimeoutMillis, attemptsMax, retryBackoffMillisMax, leaseDuration,
                requestBytesMax, volumeRefreshMillis, tls);
    }

    public ClientConfig withLeaseDuration(Duration duration) {
        return new ClientConfig(requestTimeoutMillis, attemptsMax, retryBackoffMillisMax, duration,
                requestBytesMax, volumeRefreshMillis, tls);
    }

    public ClientConfig withRequestTimeoutMillis(long millis) {
        return new ClientConfig(millis, attemptsMax, retryBackoffMillisMax, leaseDuration,
                requestBytesMax, volumeRefreshMillis, tls);
    }

    public ClientConfig withVolumeRefreshMillis(long millis) {
        return new ClientConfig(requestTimeoutMillis, attemptsMax, retryBackoffMillisMax,
                leaseDuration, requestBytesMax, millis, tls);
    }
}
