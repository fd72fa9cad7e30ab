package io.basalt.chunkserver.wal;

import io.basalt.protocol.data.CsException;
import io.netty.buffer.ByteBufUtil;
import java.util.ArrayList;
import java.util.List;

/** A WAL sink that records what was applied (type, chunk, offset, length, payload bytes). */
final class RecordingSink implements WalSink {
    record Applied(long lsn, int type, long chunkUid, long offsetBytes, int lengthBytes, byte[] payload) {
        boolean sameAs(Applied other) {
            return type == other.type && chunkUid == other.chunkUid && offsetBytes == other.offsetBytes
                    && lengthBytes == other.lengthBytes && java.util.Arrays.equals(payload, other.payload);
        }
    }

    final List<Applied> applied = new ArrayList<>();
    int checkpoints;

    @Override
    public void prepare(WalEntry entry) throws CsException {}

    @Override
    public synchronized void apply(WalEntry entry) {
        applied.add(new Applied(entry.lsn(), entry.type(), entry.chunkUid(), entry.offsetBytes(), entry.lengthBytes(),
                entry.payload() == null ? null : ByteBufUtil.getBytes(entry.payload())));
    }

    @Override
    public void checkpoint() {
        checkpoints++;
    }
}
