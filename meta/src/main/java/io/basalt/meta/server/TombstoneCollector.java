package io.basalt.meta.server;

import io.basalt.meta.api.MetaRequest;
import io.basalt.meta.api.MetaRequest.CollectTombstones;
import io.basalt.meta.api.WireReader;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.LongAdder;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Leader duty: drops version-index tombstones the chunk servers no longer need (docs/meta.md,
 * "Version index"). A chunk server's heartbeat says up to which changeSeq it has applied its
 * index (its chunklet deletes are durable by then); every tombstone of that server at or below
 * that seq is proposed for collection (COLLECT_TOMBSTONES, at most
 * {@link CollectTombstones#SEQS_MAX} a log entry).
 *
 * <p>Each server's index is scanned once: {@link #scannedThrough} remembers how far, and no
 * tombstone can appear at or below a seq already reached, because new entries always take the
 * next, higher seq. A new leader starts from 0 (one scan of each index). A server that stays away
 * reports nothing, so its tombstones wait for it (or for {@code basalt cs remove}, which drops
 * its whole index).
 *
 * <p>Owned by the leader-duty thread; only {@link #collectedTotal} is read elsewhere.
 */
final class TombstoneCollector {
    private static final Logger LOG = LoggerFactory.getLogger(TombstoneCollector.class);

    private final Map<Integer, Long> scannedThrough = new HashMap<>();
    private final LongAdder collected = new LongAdder();
    private long leaderSinceNanos;

    /** Runs one pass; returns how many tombstones it collected. */
    int pass(MetaStateMachine stateMachine, Function<MetaRequest, WireReader> propose) {
        if (stateMachine.leaderSinceNanos() != leaderSinceNanos) {
            leaderSinceNanos = stateMachine.leaderSinceNanos();
            scannedThrough.clear();
        }
        int total = 0;
        for (var beat : stateMachine.beats().entrySet()) {
            int csId = beat.getKey();
            long applied = beat.getValue().appliedChangeSeq();
            long scanned = scannedThrough.getOrDefault(csId, 0L);
            while (applied > scanned) {
                long after = scanned;
                List<Long> seqs = stateMachine.readState(store -> CsVersionIndex.tombstonesIn(
                        store, csId, after, applied, CollectTombstones.SEQS_MAX));
                if (!seqs.isEmpty()) {
                    int dropped = propose.apply(new CollectTombstones(csId, applied, seqs)).i32();
                    total += dropped;
                    collected.add(dropped);
                }
                scanned = seqs.size() < CollectTombstones.SEQS_MAX ? applied : seqs.getLast();
                scannedThrough.put(csId, scanned);
            }
        }
        if (total > 0) {
            LOG.info("collected {} version-index tombstones the chunk servers have applied", total);
        }
        return total;
    }

    /** Tombstones this member collected as leader since it started. */
    long collectedTotal() {
        return collected.sum();
    }
}
