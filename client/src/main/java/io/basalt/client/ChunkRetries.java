package io.basalt.client;

import static io.basalt.protocol.data.BlockCrc.BLOCK_SHIFT;

import io.basalt.common.block.BlockDeviceException;
import io.basalt.common.block.BlockDeviceException.Kind;
import io.basalt.meta.api.MetaException;
import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.Policy;
import io.basalt.protocol.data.BlockCrc;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.netty.buffer.ByteBuf;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The failure side of one volume's I/O (see {@link VolumeDevice}'s design note): every piece runs
 * in {@link #withRetries}, every chunk server reply goes through {@link #checkReply}, which turns
 * it into an {@link AttemptFailure}, and the failure's remedy runs before the next try: report
 * chunk servers to meta (which replaces their chunklets and raises the chunk version), read the
 * volume record and the chunk map again, or just wait. The last readable chunklet of a chunk is
 * never reported: it holds the only good copy.
 *
 * <p>Thread-safety: called from any thread; the only state is the map of reports in flight,
 * which makes pieces failing together on one chunk server share one report.
 */
final class ChunkRetries {
    private static final Logger log = LoggerFactory.getLogger(ChunkRetries.class);
    /**
     * An erasure-coded chunk with no UPTODATE parity column while one is being encoded from the data
     * columns (ChunkRoles.ecMaster): its writes wait for it, up to {@link #PARITY_FILLING_ATTEMPTS} tries
     * (about 40 s at the usual 1 s backoff; a chunk's encode took 2 s in the thrasher, started up to 5 s
     * after the state changed), rather than the usual dozen (about 6 s).
     */
    static final String PARITY_FILLING_REASON = "ec_parity_filling";
    static final int PARITY_FILLING_ATTEMPTS = 45;
    /**
     * A read of an erasure-coded chunk whose data column cannot answer alone (a strip left pending by
     * a master that died) while every parity column is down: it waits as long as writes wait for
     * {@link #PARITY_FILLING_REASON}, until meta has a parity column back (its server returns, or one
     * is encoded elsewhere after the grace period).
     */
    static final String NO_PARITY_REASON = "ec_no_parity";
    /** The reason of a STRIPE_UNAVAILABLE failure: tried once more after its report, not twelve times. */
    static final String STRIPE_UNAVAILABLE_REASON = "stripe_unavailable";
    /**
     * A chunk server (or a replica or column behind it) answered BUSY: its disk is behind. Nothing
     * failed, so nobody is reported; tried again after the usual pause, with the longer budget of
     * {@link #PARITY_FILLING_REASON} (a disk can stay behind for seconds under a burst).
     */
    static final String BUSY_REASON = "busy";

    private final ClusterClient cluster;
    private final String volumeName;
    private final ChunkMap chunks;
    private final LiveVolume live;
    private final Policy policy;
    /** True once the device is closed: a failed try is then not tried again. */
    private final BooleanSupplier closed;
    private final ConcurrentHashMap<ReportKey, CompletableFuture<Chunk>> reports = new ConcurrentHashMap<>();

    private record ReportKey(long chunkUid, long chunkVersion, int csId) {}

    ChunkRetries(ClusterClient cluster, String volumeName, ChunkMap chunks, LiveVolume live, Policy policy,
            BooleanSupplier closed) {
        this.cluster = cluster;
        this.volumeName = volumeName;
        this.chunks = chunks;
        this.live = live;
        this.policy = policy;
        this.closed = closed;
    }

    /** Tries {@code attempt} until it succeeds, a failure says give up, or the tries are used up. */
    CompletableFuture<Void> withRetries(String op, long chunkIndex, Supplier<CompletableFuture<Void>> attempt) {
        CompletableFuture<Void> result = new CompletableFuture<>();
        tryOnce(op, chunkIndex, attempt, 1, false, result);
        return result;
    }

    /**
     * One try; {@code waitingForParity}: an earlier try of this operation met a chunk waiting for a
     * parity column (its encode, or one to come back) or a BUSY server, whose longer budget then
     * holds for the rest of the operation: the tries that follow meet the recovery's next steps (a
     * stale version while the column is caught up, a pending strip), and counting them against the
     * usual dozen gave up while the parity was seconds from back (EcVolumeIT, session 24).
     */
    private void tryOnce(String op, long chunkIndex, Supplier<CompletableFuture<Void>> attempt, int attemptNumber,
            boolean waitingForParity, CompletableFuture<Void> result) {
        CompletableFuture<Void> tried;
        try {
            tried = attempt.get();
        } catch (RuntimeException e) {
            tried = CompletableFuture.failedFuture(e);
        }
        tried.whenComplete((ignored, error) -> {
            if (error == null) {
                result.complete(null);
                return;
            }
            Throwable cause = unwrap(error);
            AttemptFailure failure = cause instanceof AttemptFailure f ? f : classifyOther(cause);
            boolean isClosed = closed.getAsBoolean();
            boolean waiting = waitingForParity || failure.reason.equals(PARITY_FILLING_REASON)
                    || failure.reason.equals(NO_PARITY_REASON) || failure.reason.equals(BUSY_REASON);
            int attemptsMax = waiting ? Math.max(PARITY_FILLING_ATTEMPTS, cluster.config().attemptsMax())
                    : cluster.config().attemptsMax();
            if (failure.remedy == AttemptFailure.Remedy.GIVE_UP || isClosed
                    || attemptNumber >= attemptsMax
                    || (failure.reason.equals(STRIPE_UNAVAILABLE_REASON) && attemptNumber >= 2)) {
                String tries = attemptNumber > 1 ? " (after " + attemptNumber + " tries)" : "";
                result.completeExceptionally(new BlockDeviceException(isClosed ? Kind.SHUTDOWN : failure.kind,
                        op + " of volume \"" + volumeName + "\" chunk " + chunkIndex + ": " + failure.getMessage()
                                + tries, cause));
                return;
            }
            cluster.metrics().retries.labelValues(op, failure.reason).inc();
            log.debug("{} of volume \"{}\" chunk {} try {}: {}", op, volumeName, chunkIndex, attemptNumber,
                    failure.getMessage());
            remedy(chunkIndex, failure).whenComplete((done, remedyError) -> {
                if (remedyError != null) {
                    log.warn("{} of volume \"{}\" chunk {}: {}", op, volumeName, chunkIndex,
                            rootMessage(remedyError));
                }
                long delayMillis = Math.min(cluster.config().retryBackoffMillisMax(),
                        20L << Math.min(attemptNumber - 1, 10));
                cluster.scheduler().schedule(() -> tryOnce(op, chunkIndex, attempt, attemptNumber + 1, waiting, result),
                        delayMillis, TimeUnit.MILLISECONDS);
            });
        });
    }

    private CompletableFuture<?> remedy(long chunkIndex, AttemptFailure failure) {
        return switch (failure.remedy) {
            // The volume record first: a snapshot moves the chunk out of this volume and changes its
            // parent in one meta entry, and the parent must be known before the chunk is seen gone
            // (docs/snapshots.md, "Fencing"). A failed record read is no reason not to retry.
            case REFRESH -> live.refresh().handle((fresh, error) -> null).thenCompose(ignored ->
                    chunks.lookup(chunkIndex)).thenCompose(found -> found.isEmpty()
                    ? CompletableFuture.completedFuture(found)
                    : chunks.refresh(chunkIndex, found.get().version()));
            case REPORT -> chunks.lookup(chunkIndex).thenCompose(found -> found.isEmpty()
                    ? CompletableFuture.completedFuture(null)
                    : report(found.get(), failure.failedCsIds));
            case RETRY, GIVE_UP -> CompletableFuture.completedFuture(null);
        };
    }

    /**
     * Reports {@code csIds} failed for {@code chunk}, one after another (each report raises the
     * version, and meta ignores a report about an older one), except the last UPTODATE chunklet (for
     * an erasure-coded chunk: while only k are UPTODATE, the least that still holds the data).
     */
    CompletableFuture<Void> report(Chunk chunk, List<Integer> csIds) {
        CompletableFuture<Chunk> current = CompletableFuture.completedFuture(chunk);
        for (int csId : csIds.stream().distinct().toList()) {
            current = current.thenCompose(latest -> {
                long upToDate = latest.chunklets().stream().filter(ChunkRoles::readable).count();
                boolean isUpToDate = latest.chunklets().stream()
                        .anyMatch(c -> c.csId() == csId && ChunkRoles.readable(c));
                boolean holds = latest.chunklets().stream().anyMatch(c -> c.csId() == csId);
                if (!holds) {
                    return CompletableFuture.completedFuture(latest);
                }
                boolean lastNeeded = isUpToDate && upToDate <= (policy.erasureCoded() ? policy.dataCount() : 1);
                // Pieces failing together on one chunk server share one report.
                ReportKey key = new ReportKey(latest.uid(), latest.version(), csId);
                CompletableFuture<Chunk> mine = new CompletableFuture<>();
                CompletableFuture<Chunk> running = reports.putIfAbsent(key, mine);
                if (running != null) {
                    return running;
                }
                cluster.directory().moved(csId).whenComplete((moved, error) -> {
                    if (error == null && moved) {
                        // Restarted elsewhere: the retry goes to its new address; nothing failed.
                        log.info("chunk server {} moved; retrying chunk {} of volume \"{}\" there", csId,
                                Long.toHexString(latest.uid()), volumeName);
                        reports.remove(key, mine);
                        mine.complete(latest);
                    } else if (lastNeeded) {
                        // Without it the data is gone: keep it, retry. But "last" is this map's view,
                        // which may be older than a rebuild that brought the other columns back: no
                        // write reaches a dead stripe master to be told STALE_VERSION, so the device
                        // would retry the dead master until its tries ran out (EIO; the thrasher with
                        // snapshots). Meta is asked again; the next try uses what it says now.
                        chunks.refresh(latest.index(), latest.version()).whenComplete((fresh, refreshError) -> {
                            reports.remove(key, mine);
                            mine.complete(refreshError == null && fresh.isPresent() && fresh.get().uid() == latest.uid()
                                    ? fresh.get() : latest);
                        });
                    } else {
                        reportNow(latest, csId, key, mine);
                    }
                });
                return mine;
            });
        }
        return current.thenApply(ignored -> null);
    }

    private void reportNow(Chunk latest, int csId, ReportKey key, CompletableFuture<Chunk> mine) {
        cluster.metrics().failuresReported.inc();
        log.warn("reporting chunk server {} failed for chunk {} (version {}) of volume \"{}\"", csId,
                Long.toHexString(latest.uid()), latest.version(), volumeName);
        cluster.callMeta("report_failure", () -> cluster.meta().reportFailure(latest.uid(), latest.version(), csId))
                .whenComplete((updated, error) -> {
                    reports.remove(key, mine);
                    if (error != null) {
                        mine.completeExceptionally(error);
                    } else {
                        chunks.update(updated);
                        log.info("chunk {} of volume \"{}\" is now version {}: {}", Long.toHexString(updated.uid()),
                                volumeName, updated.version(), updated.chunklets());
                        mine.complete(updated);
                    }
                });
    }

    /**
     * Turns a chunk server reply (or its failure) into an {@link AttemptFailure}, or returns when it
     * is OK. {@code replicas}: the chunklets a FORWARD named, to map REPLICA_FAILED to ids.
     */
    void checkReply(Chunklet target, String address, String op, DataClient.Reply reply,
            Throwable error, List<Chunklet> replicas) {
        String who = "chunk server " + target.csId() + " at " + address;
        if (error != null) {
            throw AttemptFailure.report("unreachable", List.of(target.csId()), who + ": " + rootMessage(error));
        }
        CsStatus status = reply.status();
        if (status == CsStatus.OK) {
            return;
        }
        String message = who + " refused the " + op + ": " + status + " " + reply.message();
        throw switch (status) {
            case STALE_VERSION -> AttemptFailure.refresh(message);
            case BAD_CRC -> AttemptFailure.retry("bad_crc", message);
            case PENDING -> AttemptFailure.retry("pending", message);
            case BUSY -> AttemptFailure.retry(BUSY_REASON, message);
            // The master names the columns it could not use; one may have restarted elsewhere: one
            // more try after the report (which first asks meta whether they moved), not twelve.
            case STRIPE_UNAVAILABLE -> {
                AttemptFailure named = replicaFailure(message, reply.message(), replicas);
                yield named.remedy == AttemptFailure.Remedy.REPORT
                        ? AttemptFailure.report(STRIPE_UNAVAILABLE_REASON, named.failedCsIds, message)
                        : AttemptFailure.giveUp(Kind.IO, message);
            }
            case REPLICA_FAILED -> replicaFailure(message, reply.message(), replicas);
            case CORRUPT_BLOCK, IO_ERROR, TIMEOUT, UNAVAILABLE, NO_SPACE ->
                    AttemptFailure.report(status.name().toLowerCase(Locale.ROOT), List.of(target.csId()),
                            message);
            default -> AttemptFailure.giveUp(Kind.IO, message);
        };
    }

    /** The primary names each failed replica by address ("replica HOST:PORT failed: ..."; ...). */
    private AttemptFailure replicaFailure(String message, String detail, List<Chunklet> replicas) {
        if (detail.contains(CsStatus.STALE_VERSION.name())) {
            return AttemptFailure.refresh(message);
        }
        List<Integer> failed = new ArrayList<>();
        boolean busy = false;
        for (String part : detail.split("; ")) {
            if (part.startsWith("replica ") && part.contains(" answered " + CsStatus.BUSY.name() + ":")) {
                busy = true; // behind, not failed: the retry finds it caught up
                continue;
            }
            if (part.startsWith("replica ")) {
                int end = part.indexOf(' ', "replica ".length());
                String address = part.substring("replica ".length(), end < 0 ? part.length() : end);
                int csId = cluster.directory().idOf(address);
                if (csId >= 0 && replicas.stream().anyMatch(c -> c.csId() == csId)) {
                    failed.add(csId);
                }
            }
        }
        if (failed.isEmpty()) {
            return AttemptFailure.retry(busy ? BUSY_REASON : "replica_failed", message);
        }
        return AttemptFailure.report("replica_failed", failed, message);
    }


    private AttemptFailure classifyOther(Throwable cause) {
        if (cause instanceof MetaException meta) {
            return switch (meta.error()) {
                // Often brief (servers UNHEALTHY for a moment after a stall): tried again, ENOSPC
                // only when the tries run out (seen: a fill failed ENOSPC on a near-empty cluster).
                case NO_PLACEMENT -> AttemptFailure.retry("no_placement", Kind.NO_SPACE,
                        "meta cannot place a new chunk: " + meta.getMessage());
                case NOT_FOUND -> AttemptFailure.giveUp(Kind.IO, meta.getMessage());
                case NOT_LEADER -> AttemptFailure.retry("meta_unavailable", meta.getMessage());
                default -> AttemptFailure.giveUp(Kind.IO, meta.getMessage());
            };
        }
        if (cause instanceof BlockDeviceException device) {
            return AttemptFailure.giveUp(device.kind(), device.getMessage());
        }
        if (cause instanceof IOException || cause instanceof IllegalStateException) {
            return AttemptFailure.retry("error", rootMessage(cause));
        }
        log.error("unexpected error in the client library", cause);
        return AttemptFailure.giveUp(Kind.IO, "unexpected error: " + cause);
    }

    /** Checks every block's CRC32C in a READ reply, then copies the data out. */
    void copyVerified(Chunk chunk, Chunklet source, String address, long chunkOffset, int lengthBytes,
            DataClient.Reply reply, ByteBuf destination, int destinationIndex) {
        ByteBuf payload = reply.payload();
        int blocks = lengthBytes >> BLOCK_SHIFT;
        if (payload.readableBytes() != lengthBytes + 4 * blocks) {
            throw AttemptFailure.report("bad_reply", List.of(source.csId()), "chunk server " + source.csId()
                    + " at " + address + " sent " + payload.readableBytes() + " bytes for a " + lengthBytes
                    + "-byte read");
        }
        int dataAt = payload.readerIndex();
        ByteBuffer view = BlockCrc.blocksView(payload, dataAt, blocks);
        for (int i = 0; i < blocks; i++) {
            int sent = payload.getInt(dataAt + lengthBytes + 4 * i);
            if (BlockCrc.ofBlock(view, payload, dataAt, i) != sent) {
                cluster.metrics().corruptReads.inc();
                throw AttemptFailure.report("corrupt_reply", List.of(source.csId()), "block at offset "
                        + (chunkOffset + ((long) i << BLOCK_SHIFT)) + " of chunk " + Long.toHexString(chunk.uid())
                        + " from chunk server " + source.csId() + " at " + address + " fails its CRC32C");
            }
        }
        destination.setBytes(destinationIndex, payload, dataAt, lengthBytes);
    }

    static void release(DataClient.Reply reply) {
        if (reply != null) {
            reply.release();
        }
    }

    static Throwable unwrap(Throwable error) {
        Throwable cause = error;
        while (cause instanceof CompletionException && cause.getCause() != null) {
            cause = cause.getCause();
        }
        return cause;
    }

    static String rootMessage(Throwable error) {
        Throwable cause = unwrap(error);
        return cause.getMessage() == null ? cause.toString() : cause.getMessage();
    }
}
