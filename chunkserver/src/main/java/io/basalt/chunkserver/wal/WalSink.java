package io.basalt.chunkserver.wal;

import io.basalt.protocol.data.CsException;
import java.io.IOException;

/**
 * What the WAL drives: the chunklet store. All calls come from the WAL writer thread (or from replay
 * before the writer starts), in LSN order.
 */
public interface WalSink {
    /**
     * Reserves what applying {@code entry} will need (disk blocks), before it is logged, so that a
     * full disk fails the request cleanly instead of after it was made durable.
     *
     * @throws CsException NO_SPACE / IO_ERROR / INVALID: the entry is then not logged
     */
    void prepare(WalEntry entry) throws CsException;

    /**
     * Every entry prepared since the last call has been applied or failed: what {@link #prepare}
     * reserved for this batch alone can be released (applied data now holds its own space).
     */
    default void batchEnded() {}

    /**
     * Makes durable the data that {@link #prepare} wrote in place for entries it
     * {@link WalEntry#markPlaced() placed} since the last call; called once per batch after the
     * prepares and before any record of the batch is appended.
     */
    default void forcePlaced() throws IOException {}

    /** Applies a durable entry to the chunklet files (no sync needed: the WAL holds it). */
    void apply(WalEntry entry) throws IOException;

    /** Forces everything applied so far to stable storage; afterwards the WAL can be trimmed. */
    void checkpoint() throws IOException;

    /**
     * Replay will never again repeat a record with an LSN at or below {@code lsn} (the durable
     * checkpoint, after replay at open and after every checkpoint).
     */
    default void checkpointed(long lsn) {}

    /**
     * The lowest LSN whose record the store still needs from the log (an undecided EC prepare keeps
     * its data only there); the checkpoint never passes it. No such record: {@code Long.MAX_VALUE}.
     */
    default long retainFromLsn() {
        return Long.MAX_VALUE;
    }
}
