package io.basalt.chunkserver.ec;

import io.basalt.chunkserver.ChunkVersions;
import io.basalt.chunkserver.CsMetrics;
import io.basalt.chunkserver.store.ChunkletStore;
import io.basalt.chunkserver.wal.WalWriter;
import io.basalt.common.ThreadNames;
import io.basalt.protocol.data.CsException;
import io.basalt.protocol.data.EcLayout;
import io.basalt.protocol.data.EcSection;
import io.basalt.protocol.data.ReplicaClients;
import java.util.Arrays;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A column that holds a prepared strip and has not heard the outcome (it restarted, or the RESOLVE
 * was lost) asks the master that prepared it, instead of waiting for that master to touch the range
 * again: until then the strip serves no read and holds back the WAL checkpoint.
 *
 * <p>Every {@code intervalMillis} it takes each transaction pending here for at least
 * {@code ageMillis} (younger ones are in the normal flow: the RESOLVE is on its way) and PEEKs the
 * master named in its prepare, which answers under its stripe locks. A transaction is committed
 * exactly when every prepare of it is durable, the master's own included (docs/chunkserver.md,
 * "Termination"), so by the master's own parity column:
 * <ul>
 *   <li>its versions hold the transaction (a data strip: its version among the parity's; a parity
 *       strip: the same vector): committed;
 *   <li>it holds the transaction pending too: unknown; left for a later round or for the next
 *       master's termination;
 *   <li>neither: its own prepare never became durable, or it aborted: aborted.
 * </ul>
 * The outcome is logged (EC_RESOLVE, COMMIT or ABORT of that transaction) like any settle. Not
 * asked: a master that is this chunk server (its pending strips are settled when it next runs a
 * request for them), or one that cannot be reached (tried again next round).
 */
public final class PendingResolver implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(PendingResolver.class);

    private final ChunkletStore store;
    private final WalWriter wal;
    private final ChunkVersions versions;
    private final ReplicaClients clients;
    private final String self;
    private final CsMetrics metrics;
    private final ScheduledExecutorService timer;

    public PendingResolver(ChunkletStore store, WalWriter wal, ChunkVersions versions, ReplicaClients clients,
            String selfAddress, CsMetrics metrics) {
        this.store = store;
        this.wal = wal;
        this.versions = versions;
        this.clients = clients;
        this.self = selfAddress;
        this.metrics = metrics;
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread thread = new Thread(r, ThreadNames.of("basalt-cs-ec-resolver"));
            thread.setDaemon(true);
            return thread;
        });
    }

    /** Runs {@link #resolve} every {@code intervalMillis} for transactions pending {@code ageMillis}. */
    public void start(long intervalMillis, long ageMillis) {
        timer.scheduleWithFixedDelay(() -> {
            try {
                resolve(ageMillis);
            } catch (RuntimeException e) {
                log.warn("settling pending erasure-coded strips failed: {}", e.toString());
            }
        }, intervalMillis, intervalMillis, TimeUnit.MILLISECONDS);
    }

    /** One round; returns the number of transactions settled here. */
    public int resolve(long ageMillis) {
        int settled = 0;
        for (ChunkletStore.PendingTxnInfo txn : store.pendingTxns(TimeUnit.MILLISECONDS.toNanos(ageMillis))) {
            if (txn.master().isEmpty() || txn.master().equals(self)) {
                continue;
            }
            Boolean commit = outcome(txn);
            if (commit == null) {
                continue;
            }
            try {
                StripeMaster.settleHere(wal, txn.chunkUid(), (long) txn.firstBlock() * EcLayout.STRIP_BYTES,
                        txn.count() * EcLayout.STRIP_BYTES, txn.txid(), commit, true);
            } catch (CsException e) {
                log.warn("chunk {}: settling ec transaction {} failed: {}", Long.toHexString(txn.chunkUid()),
                        txn.txid(), e.getMessage());
                continue;
            }
            settled++;
            metrics.ecTerminations.labelValues(commit ? "committed" : "aborted").inc();
            log.info("chunk {}: ec transaction {} pending here for {} s {} by its master {}",
                    Long.toHexString(txn.chunkUid()), txn.txid(), txn.pendingNanos() / 1_000_000_000L,
                    commit ? "committed" : "aborted", txn.master());
        }
        return settled;
    }

    /** True committed, false aborted, null unknown (master unreachable, or pending there too). */
    private Boolean outcome(ChunkletStore.PendingTxnInfo txn) {
        long chunkVersion = Math.max(0, versions.known(txn.chunkUid()));
        EcSection view;
        try {
            view = StripeMaster.await(StripeMaster.peek(clients, txn.master(), txn.chunkUid(), chunkVersion,
                    txn.firstBlock(), txn.count()), txn.master());
        } catch (CsException e) {
            return null; // this column's chunk version is behind: meta's pull catches up; next round
        }
        if (view == null) {
            return null;
        }
        int n = txn.versionsPerBlock();
        boolean committed = false;
        for (int i = 0; i < txn.count(); i++) {
            if (!txn.open()[i]) {
                continue;
            }
            if (view.decided()[i] == txn.txid()) {
                return null;
            }
            long[] theirs = StripeMaster.vector(view, i);
            committed |= n == 1 ? Arrays.stream(theirs).anyMatch(v -> v == txn.txid())
                    : Arrays.equals(theirs, Arrays.copyOfRange(txn.versions(), i * n, (i + 1) * n));
        }
        return committed;
    }

    @Override
    public void close() {
        timer.shutdownNow();
    }
}
