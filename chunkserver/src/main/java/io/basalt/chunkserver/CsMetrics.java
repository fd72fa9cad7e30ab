package io.basalt.chunkserver;

import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.Unit;

/**
 * Prometheus metrics of one chunk server: requests, bytes, errors and latency by operation; WAL sync
 * latency and batch size (the group-commit factor is writes / syncs), segments started (recycled or
 * preallocated); corrupt blocks; in flight;
 * disk used/free; protocol errors by kind; erasure-coded stripe writes by parity rule and settled
 * leftovers of earlier stripe masters.
 */
public final class CsMetrics {
    public final Counter requests;
    public final Counter errors;
    public final Counter bytesRead;
    public final Counter bytesWritten;
    public final Histogram latency;
    public final Histogram walSyncLatency;
    public final Histogram walBatchEntries;
    public final Counter walSyncs;
    public final Counter walRecords;
    public final Counter walSegments;
    public final Counter corruptBlocks;
    public final Counter inlineReads;
    public final Gauge requestsInFlight;
    public final Gauge bytesInFlight;
    public final Gauge diskUsedBytes;
    public final Gauge diskFreeBytes;
    public final Gauge connectionsOpen;
    public final Counter protocolErrors;
    public final Counter ecStripeWrites;
    public final Counter ecTerminations;
    public final Counter ecHotSettles;
    public final Counter recoveryBytes;
    public final Counter recoveryChunklets;
    public final Counter recoveryMapBytes;
    public final Gauge recoveryActive;
    public final Gauge recoveryPace;
    public final Counter scrubBytes;
    public final Counter scrubErrors;
    public final Counter scrubRepaired;
    public final Counter scrubUnrepaired;
    public final Counter scrubPasses;
    public final Histogram ecWritePhases;

    public CsMetrics(PrometheusRegistry registry) {
        requests = Counter.builder().name("basalt_cs_requests_total")
                .help("Data protocol requests received, by operation").labelNames("op").register(registry);
        errors = Counter.builder().name("basalt_cs_request_errors_total")
                .help("Requests answered with an error, by operation and status").labelNames("op", "status")
                .register(registry);
        bytesRead = Counter.builder().name("basalt_cs_read_bytes_total").help("Data bytes returned by reads")
                .unit(Unit.BYTES).register(registry);
        bytesWritten = Counter.builder().name("basalt_cs_written_bytes_total")
                .help("Data bytes made durable by writes").unit(Unit.BYTES).register(registry);
        latency = Histogram.builder().name("basalt_cs_request_duration_seconds")
                .help("Time from decoding a request to queueing its reply, by operation").unit(Unit.SECONDS)
                .labelNames("op")
                .classicUpperBounds(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                        0.25, 0.5, 1, 2.5, 10)
                .classicOnly().register(registry);
        walSyncLatency = Histogram.builder().name("basalt_cs_wal_sync_duration_seconds")
                .help("Duration of one WAL fdatasync (one per group-commit batch)").unit(Unit.SECONDS)
                .classicUpperBounds(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                        0.25, 1)
                .classicOnly().register(registry);
        walBatchEntries = Histogram.builder().name("basalt_cs_wal_batch_entries")
                .help("WAL records made durable by one sync (group commit)")
                .classicUpperBounds(1, 2, 4, 8, 16, 32, 64).classicOnly().register(registry);
        walSyncs = Counter.builder().name("basalt_cs_wal_syncs_total").help("WAL syncs (fdatasync)").register(registry);
        walRecords = Counter.builder().name("basalt_cs_wal_records_total").help("WAL records made durable")
                .register(registry);
        walSegments = Counter.builder().name("basalt_cs_wal_segments_total")
                .help("WAL segments started, by kind: recycled (a spare reused) or preallocated (a new file)")
                .labelNames("kind").register(registry);
        corruptBlocks = Counter.builder().name("basalt_cs_corrupt_blocks_total")
                .help("Blocks read from disk whose data did not match their CRC32C (never returned)")
                .register(registry);
        inlineReads = Counter.builder().name("basalt_cs_inline_reads_total")
                .help("Reads answered on the event loop from the page cache (no reader thread)")
                .register(registry);
        requestsInFlight = Gauge.builder().name("basalt_cs_requests_in_flight")
                .help("Requests received and not yet answered").register(registry);
        bytesInFlight = Gauge.builder().name("basalt_cs_in_flight_bytes")
                .help("Bytes of requests received and not yet answered").unit(Unit.BYTES).register(registry);
        diskUsedBytes = Gauge.builder().name("basalt_cs_disk_used_bytes")
                .help("Bytes of chunklet data held (written, not trimmed blocks)").unit(Unit.BYTES).register(registry);
        diskFreeBytes = Gauge.builder().name("basalt_cs_disk_free_bytes")
                .help("Usable free bytes of the data directory's file system").unit(Unit.BYTES).register(registry);
        connectionsOpen = Gauge.builder().name("basalt_cs_connections_open").help("Open data connections")
                .register(registry);
        protocolErrors = Counter.builder().name("basalt_cs_protocol_errors_total")
                .help("Connections closed for breaking the data protocol, by kind").labelNames("kind")
                .register(registry);
        ecStripeWrites = Counter.builder().name("basalt_cs_ec_stripe_writes_total")
                .help("Stripes written as stripe master, by how parity was made: full (whole stripe encoded),"
                        + " reencode (partial: untouched strips read), delta (partial: parity delta)")
                .labelNames("rule").register(registry);
        ecHotSettles = Counter.builder().name("basalt_cs_ec_hot_settles_total")
                .help("Stripes a stripe master froze before serving them because its hot copies there were"
                        + " untrusted (found at start, brought by another master, or left by a failed hot write)")
                .register(registry);
        ecWritePhases = Histogram.builder().name("basalt_cs_ec_write_phase_duration_seconds")
                .help("Where a stripe master's EC write spends its time: lock (waiting for the stripes),"
                        + " read_encode (own versions, strip reads, parity), prepare (until every prepare is"
                        + " durable), commit_own (its own strips committed, after the client's answer)")
                .unit(Unit.SECONDS).labelNames("phase")
                .classicUpperBounds(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                        0.25, 1)
                .classicOnly().register(registry);
        ecTerminations = Counter.builder().name("basalt_cs_ec_terminations_total")
                .help("Pending strips of an earlier stripe master settled by this one, by outcome")
                .labelNames("outcome").register(registry);
        recoveryBytes = Counter.builder().name("basalt_cs_recovery_bytes_total")
                .help("Data bytes copied into chunklets being recovered here, by kind: rebuild (a new"
                        + " chunklet filled) or catchup (a returning chunklet given what it missed)")
                .labelNames("kind").register(registry);
        recoveryMapBytes = Counter.builder().name("basalt_cs_recovery_map_bytes_total")
                .help("Block-map bytes fetched from sources to decide what to copy (metadata, not data)")
                .register(registry);
        recoveryChunklets = Counter.builder().name("basalt_cs_recovery_chunklets_total")
                .help("Chunklet recoveries ended here, by kind and outcome (done, stale, restarted at a new chunk version, failed, stopped)")
                .labelNames("kind", "outcome").register(registry);
        recoveryActive = Gauge.builder().name("basalt_cs_recovery_active")
                .help("Chunklet recoveries running now").register(registry);
        recoveryPace = Gauge.builder().name("basalt_cs_recovery_pace_bytes_per_second")
                .help("Bytes a second recovery may copy now, paced by the WAL's sync latency (0: no recovery running)")
                .register(registry);
        scrubBytes = Counter.builder().name("basalt_cs_scrub_read_bytes_total")
                .help("Bytes the scrubber read back and checked").register(registry);
        scrubErrors = Counter.builder().name("basalt_cs_scrub_errors_total")
                .help("Damaged blocks the scrubber found, by kind: crc (data does not match its CRC32C),"
                        + " metadata (the block's metadata entry is damaged), divergent (replicas hold different"
                        + " blocks at rest; counted by the replica in the minority), parity (an erasure-coded stripe whose parity"
                        + " does not match its data; counted by the stripe master)")
                .labelNames("kind").register(registry);
        scrubRepaired = Counter.builder().name("basalt_cs_scrub_repaired_total")
                .help("Damaged blocks the scrubber repaired in place from redundancy").register(registry);
        scrubUnrepaired = Counter.builder().name("basalt_cs_scrub_unrepaired_total")
                .help("Damaged blocks the scrubber could not repair (logged with the reason)").register(registry);
        scrubPasses = Counter.builder().name("basalt_cs_scrub_passes_total")
                .help("Scrub passes finished over every chunklet").register(registry);
    }
}
