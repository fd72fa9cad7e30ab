package io.basalt.chunkserver.hot;

import io.basalt.chunkserver.wal.WalEntry;
import io.basalt.chunkserver.wal.WalRecordFormat;
import io.basalt.chunkserver.wal.WalSink;
import io.basalt.protocol.data.CsException;
import java.io.IOException;

/**
 * What the WAL drives when the chunk server has a hot store: hot records (HOT_WRITE, HOT_FREE) go to
 * the {@link HotStore}, every other record to the chunklet store, and DELETE_CHUNKLET to both (the
 * chunk's hot blocks go with its chunklet). One log for both keeps their records in one order and
 * under one group commit. The checkpoint forces the chunklets, then the hot store, before the WAL
 * moves its checkpoint; the chunklet store alone keeps records back ({@link #retainFromLsn}).
 */
public final class TieredSink implements WalSink {
    private final WalSink cold;
    private final HotStore hot;

    public TieredSink(WalSink cold, HotStore hot) {
        this.cold = cold;
        this.hot = hot;
    }

    @Override
    public void prepare(WalEntry entry) throws CsException {
        if (WalRecordFormat.isHot(entry.type())) {
            hot.prepare(entry);
        } else {
            cold.prepare(entry);
        }
    }

    @Override
    public void batchEnded() {
        try {
            cold.batchEnded();
        } finally {
            hot.batchEnded();
        }
    }

    @Override
    public void forcePlaced() throws IOException {
        cold.forcePlaced();
    }

    @Override
    public void apply(WalEntry entry) throws IOException {
        if (WalRecordFormat.isHot(entry.type())) {
            hot.apply(entry);
            return;
        }
        cold.apply(entry);
        if (entry.type() == WalRecordFormat.TYPE_DELETE_CHUNKLET) {
            hot.apply(entry);
        }
    }

    @Override
    public void checkpoint() throws IOException {
        cold.checkpoint();
        hot.checkpoint();
    }

    @Override
    public void checkpointed(long lsn) {
        cold.checkpointed(lsn);
    }

    @Override
    public long retainFromLsn() {
        return cold.retainFromLsn();
    }
}
