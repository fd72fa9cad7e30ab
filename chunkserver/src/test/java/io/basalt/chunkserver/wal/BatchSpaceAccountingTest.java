package io.basalt.chunkserver.wal;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.basalt.chunkserver.Tmpfs;
import io.basalt.chunkserver.store.ChunkletStore;
import io.basalt.protocol.data.CsException;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.netty.buffer.UnpooledByteBufAllocator;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * A write into unwritten blocks takes its space only when it is applied, after its whole WAL batch
 * was prepared and logged. So the store's prepare must count what the batch's earlier entries will
 * take: otherwise one batch could promise more than the disk has and fail after it was logged.
 */
class BatchSpaceAccountingTest {
    private static final long UID = 0x77;
    private static final int MIB = 1 << 20;

    @Test
    void preparesOfOneBatchCountTheSpaceOfTheEntriesBeforeThem() throws Exception {
        try (Tmpfs tmpfs = Tmpfs.mount("8m");
                ChunkletStore store = ChunkletStore.open(tmpfs.path().resolve("chunklets"), 64L << 20, MIB,
                        ChunkletStore.Listener.NONE)) {
            WalEntry creates = write(32L * MIB); // creates the chunklet's files, which take a little space
            store.prepare(creates);
            creates.payload().release();
            store.batchEnded();
            long usable = Files.getFileStore(tmpfs.path()).getUsableSpace();
            int fits = (int) ((usable - MIB) / MIB);
            List<WalEntry> batch = new ArrayList<>();
            CsException refused = null;
            for (int i = 0; i < 16 && refused == null; i++) {
                WalEntry entry = write((long) i * MIB);
                try {
                    store.prepare(entry);
                    batch.add(entry);
                } catch (CsException e) {
                    entry.payload().release();
                    refused = e;
                }
            }
            assertThat(refused).as("an 8 MiB disk cannot take 16 MiB in one batch").isNotNull();
            assertThat(refused.status()).isEqualTo(CsStatus.NO_SPACE);
            assertThat(batch).as("entries prepared before the refusal").hasSize(fits);

            // What was prepared fits when applied; the next batch sees the disk as it now is.
            long lsn = 1;
            for (WalEntry entry : batch) {
                entry.lsn = lsn++;
                store.apply(entry);
                entry.payload().release();
            }
            store.batchEnded();
            WalEntry overwrite = write(0);
            store.prepare(overwrite); // written blocks need no new space
            overwrite.payload().release();
            WalEntry more = write((long) fits * MIB);
            assertThatThrownBy(() -> store.prepare(more)).isInstanceOf(CsException.class)
                    .hasMessageContaining("no space");
            more.payload().release();
            store.batchEnded();
        }
    }

    @Test
    void aBatchThatEndsUnappliedGivesItsReservationBack() throws Exception {
        try (Tmpfs tmpfs = Tmpfs.mount("8m");
                ChunkletStore store = ChunkletStore.open(tmpfs.path().resolve("chunklets"), 64L << 20, MIB,
                        ChunkletStore.Listener.NONE)) {
            List<WalEntry> prepared = new ArrayList<>();
            for (int i = 0; i < 4; i++) {
                WalEntry entry = write((long) i * MIB);
                store.prepare(entry);
                prepared.add(entry);
            }
            // The batch failed before it was applied (say, the WAL could not be written).
            store.batchEnded();
            for (int i = 0; i < 4; i++) {
                WalEntry again = write((long) (4 + i) * MIB);
                store.prepare(again);
                again.payload().release();
            }
            store.batchEnded();
            prepared.forEach(e -> e.payload().release());
        }
    }

    private static WalEntry write(long offsetBytes) {
        byte[] data = new byte[MIB];
        new Random(offsetBytes).nextBytes(data);
        return new WalEntry(WalRecordFormat.TYPE_WRITE, UID, offsetBytes, MIB,
                DataClient.writePayload(UnpooledByteBufAllocator.DEFAULT, data), (e, error) -> {});
    }
}
