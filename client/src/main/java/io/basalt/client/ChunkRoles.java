package io.basalt.client;

import io.basalt.common.block.BlockDeviceException.Kind;
import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.ChunkletState;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * Which chunklet of a chunk plays which part in I/O, from its state alone: the primary of a
 * replicated chunk, the stripe master of an erasure-coded one, and who takes writes or may be read.
 */
final class ChunkRoles {
    private ChunkRoles() {}

    /**
     * The chunklet reads and writes go to first: the first UPTODATE one, else the first MIGRATING
     * one (the source of a move holds current data; rep1 has nothing else while it moves).
     */
    static Chunklet primary(Chunk chunk) {
        for (Chunklet chunklet : chunk.chunklets()) {
            if (chunklet.state() == ChunkletState.UPTODATE) {
                return chunklet;
            }
        }
        for (Chunklet chunklet : chunk.chunklets()) {
            if (chunklet.state() == ChunkletState.MIGRATING) {
                return chunklet;
            }
        }
        throw AttemptFailure.giveUp(Kind.IO, "chunk " + Long.toHexString(chunk.uid()) + " (version "
                + chunk.version() + ") has no up-to-date replica left: " + chunk.chunklets());
    }

    /**
     * UPTODATE, MIGRATING (the source of a move stays current until the move ends) and RECOVERING
     * chunklets (a replacement or a move's target being filled must not miss new writes).
     */
    static boolean takesWrites(Chunklet chunklet) {
        return chunklet.state() == ChunkletState.UPTODATE || chunklet.state() == ChunkletState.MIGRATING
                || chunklet.state() == ChunkletState.RECOVERING;
    }

    /** Holds current data that may be read: UPTODATE, or MIGRATING (the source of a move). */
    static boolean readable(Chunklet chunklet) {
        return chunklet.state() == ChunkletState.UPTODATE || chunklet.state() == ChunkletState.MIGRATING;
    }

    /**
     * The chunklets of an EC chunk in column order. One per column: meta moves an EC column by
     * REPLACE (a column has one address in a stripe's layout), never with a second, MIGRATING
     * entry as it does for replicas.
     */
    static List<Chunklet> ecColumns(Chunk chunk) {
        List<Chunklet> columns = new ArrayList<>(chunk.chunklets());
        columns.sort(Comparator.comparingInt(Chunklet::index));
        return columns;
    }

    /**
     * The first UPTODATE parity column of an EC chunk (its stripe master), or null when there is none:
     * then every write the chunk took since is on its data columns alone, which answer which blocks
     * they hold themselves ({@link BlockPresence}).
     */
    static Chunklet parityMaster(Chunk chunk, int dataCount) {
        for (Chunklet column : ecColumns(chunk)) {
            if (column.index() >= dataCount && column.state() == ChunkletState.UPTODATE) {
                return column;
            }
        }
        return null;
    }

    /**
     * The stripe master of an EC chunk with {@code dataCount} data columns: the first UPTODATE parity
     * column. None while a parity column is being filled (RECOVERING, encoded from the data columns
     * when every parity column was lost): try again with a fresh map, it is a master soon. None at all:
     * give up (reads of a data column's own strips do not need one; writes then go to each data column
     * directly, see {@link #noParityTakesWrites}).
     */
    static Chunklet ecMaster(Chunk chunk, int dataCount) {
        Chunklet master = parityMaster(chunk, dataCount);
        if (master != null) {
            return master;
        }
        boolean filling = false;
        for (Chunklet column : chunk.chunklets()) {
            filling |= column.index() >= dataCount && takesWrites(column);
        }
        String message = "chunk " + Long.toHexString(chunk.uid()) + " (version " + chunk.version()
                + ") has no up-to-date parity column to act as stripe master: " + chunk.chunklets();
        throw filling ? AttemptFailure.refresh(ChunkRetries.PARITY_FILLING_REASON, message + "; one is being filled, tried again")
                : AttemptFailure.giveUp(Kind.IO, message);
    }

    /**
     * Whether no parity column of an EC chunk takes writes (every one OUTDATED: down, or paused past
     * the grace): there is no stripe master and no parity to keep, so each data column takes its own
     * strips directly (STRIP_WRITE, docs/chunkserver.md "Writes with every parity column down").
     */
    static boolean noParityTakesWrites(Chunk chunk, int dataCount) {
        for (Chunklet column : chunk.chunklets()) {
            if (column.index() >= dataCount && takesWrites(column)) {
                return false;
            }
        }
        return true;
    }
}
