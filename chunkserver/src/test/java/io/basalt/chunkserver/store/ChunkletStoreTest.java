package io.basalt.chunkserver.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.basalt.chunkserver.Tmpfs;
import io.basalt.chunkserver.wal.WalWriter;
import io.basalt.common.io.LinuxFiles;
import io.basalt.protocol.data.CsException;
import io.basalt.protocol.data.CsStatus;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

class ChunkletStoreTest {
    static final long UID = 0x1234_5678_9abcL;
    Path dir;

    @BeforeEach
    void setUp() throws IOException {
        dir = Files.createTempDirectory("cs-store");
    }

    @AfterEach
    void tearDown() throws IOException {
        delete(dir);
    }

    static byte[] random(int bytes, long seed) {
        byte[] data = new byte[bytes];
        new Random(seed).nextBytes(data);
        return data;
    }

    /**
     * The content digest INFO reports (snapshot create compares a frozen chunk's replicas by it):
     * equal for chunklets that read the same, whatever their histories (a block of zeroes written
     * or trimmed, a block rewritten to what it was), different as soon as one block differs, and
     * the same after a restart.
     */
    @Test
    void theContentDigestIsEqualExactlyForChunkletsThatReadTheSame() throws Exception {
        byte[] data = random(4 * 4096, 30);
        byte[] other = random(4096, 31);
        long first;
        try (StoreHarness a = new StoreHarness(dir.resolve("a")); StoreHarness b = new StoreHarness(dir.resolve("b"))) {
            assertThat(a.store.info(UID).contentDigest()).as("nothing held").isZero();
            a.write(UID, 0, data);
            a.write(UID, 4096, new byte[4096]); // zeroes written
            a.write(UID, 2 * 4096, other);
            a.write(UID, 2 * 4096, java.util.Arrays.copyOfRange(data, 2 * 4096, 3 * 4096)); // back as it was
            b.write(UID, 0, data);
            b.trim(UID, 4096, 4096); // zeroes by trim
            first = a.store.info(UID).contentDigest();
            assertThat(first).isNotZero().isEqualTo(b.store.info(UID).contentDigest());
            b.write(UID, 3 * 4096, other);
            assertThat(b.store.info(UID).contentDigest()).as("one block differs").isNotEqualTo(first);
            b.write(UID, 3 * 4096, java.util.Arrays.copyOfRange(data, 3 * 4096, 4 * 4096));
            assertThat(b.store.info(UID).contentDigest()).isEqualTo(first);
            b.write(UID, 5 * 4096, other);
            assertThat(b.store.info(UID).contentDigest()).as("a block more").isNotEqualTo(first);
        }
        try (StoreHarness again = new StoreHarness(dir.resolve("a"))) {
            assertThat(again.store.info(UID).contentDigest()).as("after a restart").isEqualTo(first);
        }
    }

    @Test
    void writtenBlocksReadBackWithTheirCrcs() throws Exception {
        try (StoreHarness h = new StoreHarness(dir)) {
            byte[] data = random(3 * 4096, 1);
            h.write(UID, 8192, data);
            assertThat(h.read(UID, 8192, 3 * 4096)).isEqualTo(data);
            // Partly written range: unwritten blocks come back as zeroes.
            byte[] wide = h.read(UID, 0, 6 * 4096);
            assertThat(java.util.Arrays.copyOfRange(wide, 0, 8192)).containsOnly(0);
            assertThat(java.util.Arrays.copyOfRange(wide, 8192, 8192 + data.length)).isEqualTo(data);
            assertThat(h.store.info(UID).writtenBlocks()).isEqualTo(3);
            assertThat(h.store.usedBytes()).isEqualTo(3 * 4096);
        }
    }

    @Test
    void aByteFlippedBehindTheStoresBackIsReportedAsCorruptAndNeverReturned() throws Exception {
        try (StoreHarness h = new StoreHarness(dir)) {
            h.write(UID, 0, random(4 * 4096, 2));
            Path data = dir.resolve("chunklets").resolve(String.format("%016x.data", UID));
            try (FileChannel channel = FileChannel.open(data, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                ByteBuffer one = ByteBuffer.allocate(1);
                channel.read(one, 2 * 4096 + 100);
                one.put(0, (byte) (one.get(0) ^ 0x01)).rewind();
                channel.write(one, 2 * 4096 + 100);
            }
            assertThatThrownBy(() -> h.read(UID, 0, 4 * 4096))
                    .isInstanceOfSatisfying(CsException.class, e -> assertThat(e.status()).isEqualTo(CsStatus.CORRUPT_BLOCK))
                    .hasMessageContaining("corrupt block")
                    .hasMessageContaining(String.format("chunklet %016x", UID))
                    .hasMessageContaining("offset 8192");
            assertThat(h.corruptBlocks.get()).isEqualTo(1);
            // The neighbours are fine, and a rewrite heals the block.
            assertThat(h.read(UID, 0, 2 * 4096)).hasSize(2 * 4096);
            byte[] fresh = random(4096, 3);
            h.write(UID, 8192, fresh);
            assertThat(h.read(UID, 8192, 4096)).isEqualTo(fresh);
        }
    }

    @Test
    void cachedReadsReturnWhatReadsReturnAndCheckTheSameCrcs() throws Exception {
        try (StoreHarness h = new StoreHarness(dir)) {
            byte[] data = random(8 * 4096, 6);
            h.write(UID, 4096, data);
            // Just written, so in the page cache: served, byte for byte what read gives.
            assertThat(h.readCached(UID, 4096, data.length)).isEqualTo(data);
            assertThat(h.readCached(UID, 0, 9 * 4096)).isEqualTo(h.read(UID, 0, 9 * 4096));
            assertThat(h.readCached(UID, 0, 12 * 4096)).as("past the end of the file: declined").isNull();
            assertThat(h.readCached(888, 0, 4096)).containsOnly(0); // no chunklet: zeroes, no I/O
            Path file = dir.resolve("chunklets").resolve(String.format("%016x.data", UID));
            try (FileChannel channel = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
                channel.write(ByteBuffer.wrap(new byte[] {(byte) ~data[5000]}), 4096 + 5000);
            }
            assertThatThrownBy(() -> h.readCached(UID, 4096, data.length))
                    .isInstanceOfSatisfying(CsException.class, e -> assertThat(e.status()).isEqualTo(CsStatus.CORRUPT_BLOCK))
                    .hasMessageContaining("offset 8192");
        }
    }

    @Test
    void unwrittenBlocksReadAsZeroesByMetadataNotByFileContents() throws Exception {
        try (StoreHarness h = new StoreHarness(dir)) {
            assertThat(h.read(777, 0, 4 * 4096)).containsOnly(0); // no chunklet at all
            h.write(UID, 0, random(4096, 4));
            // Garbage in the hole of an unwritten block: the metadata says unwritten, reads give zeroes.
            Path data = dir.resolve("chunklets").resolve(String.format("%016x.data", UID));
            try (FileChannel channel = FileChannel.open(data, StandardOpenOption.WRITE)) {
                channel.write(ByteBuffer.wrap(random(4096, 5)), 5 * 4096);
            }
            assertThat(h.read(UID, 5 * 4096, 4096)).containsOnly(0);
        }
    }

    @Test
    void trimPunchesHolesAndFreesSpace() throws Exception {
        Assumptions.assumeTrue(LinuxFiles.available(), "needs fallocate");
        try (StoreHarness h = new StoreHarness(dir)) {
            h.write(UID, 0, random(16 * 4096, 6));
            Path data = dir.resolve("chunklets").resolve(String.format("%016x.data", UID));
            int fd = LinuxFiles.open(data, false);
            try {
                assertThat(LinuxFiles.seekData(fd, 0, "data")).isEqualTo(0);
                h.trim(UID, 0, 16 * 4096);
                assertThat(LinuxFiles.seekData(fd, 0, "data")).isEqualTo(-1); // all hole
            } finally {
                LinuxFiles.close(fd);
            }
            assertThat(h.read(UID, 0, 16 * 4096)).containsOnly(0);
            assertThat(h.store.usedBytes()).isZero();
        }
    }

    @Test
    void outOfRangeAndUnalignedRequestsAreRefused() throws Exception {
        try (StoreHarness h = new StoreHarness(dir)) {
            assertThatThrownBy(() -> h.write(UID, 100, new byte[4096])).hasMessageContaining("whole 4096-byte blocks");
            assertThatThrownBy(() -> h.write(UID, (64L << 20) - 4096, new byte[8192]))
                    .hasMessageContaining("beyond the chunklet size");
            assertThat(h.store.chunkletCount()).isZero();
        }
    }

    @Test
    void everyAcknowledgedWriteSurvivesACrashAndReplay() throws Exception {
        List<byte[]> written = new ArrayList<>();
        // Checkpoint often and use small segments, so replay starts from a checkpoint and trimmed segments.
        WalWriter.Config config = new WalWriter.Config(64 << 10, 16, 1024, 128 << 10, 8192 + 64);
        StoreHarness h = new StoreHarness(dir, 16L << 20, config);
        for (int i = 0; i < 100; i++) {
            byte[] data = random(8192, 100 + i);
            h.write(UID + (i % 3), (long) (i % 40) * 8192, data);
            written.add(data);
        }
        h.trim(UID, 0, 8192);
        h.crash();
        long segments;
        try (Stream<Path> files = Files.list(dir.resolve("wal"))) {
            segments = files.filter(p -> p.toString().endsWith(".wal")).count();
        }
        assertThat(segments).as("segments behind the checkpoint are deleted").isLessThan(15);
        try (StoreHarness again = new StoreHarness(dir, 16L << 20, config)) {
            for (int i = 60; i < 100; i++) { // the last write of each (chunk, offset)
                long uid = UID + (i % 3);
                long offset = (long) (i % 40) * 8192;
                byte[] expected = uid == UID && offset == 0 ? new byte[8192] : written.get(i);
                boolean overwritten = false;
                for (int later = i + 1; later < 100; later++) {
                    if (later % 3 == i % 3 && later % 40 == i % 40) {
                        overwritten = true;
                    }
                }
                if (!overwritten) {
                    assertThat(again.read(uid, offset, 8192)).as("write %d", i).isEqualTo(expected);
                }
            }
        }
    }

    /** An EC_PREPARE of {@code data} (whole blocks) at block 0 of a data column, transaction {@code txid}. */
    static io.netty.buffer.ByteBuf ecPrepare(byte[] data, long txid) {
        int blocks = data.length / 4096;
        io.netty.buffer.ByteBuf payload = io.netty.buffer.Unpooled.buffer();
        payload.writeBytes(data);
        for (int i = 0; i < blocks; i++) {
            payload.writeInt(io.basalt.protocol.data.BlockCrc.of(ByteBuffer.wrap(data, i * 4096, 4096)));
        }
        long[] versions = new long[blocks];
        java.util.Arrays.fill(versions, txid);
        new io.basalt.protocol.data.EcSection(1, io.basalt.protocol.data.EcSection.MODE_BY_DECIDED, txid,
                "127.0.0.1:1", versions, new long[blocks]).writeTo(payload);
        return payload;
    }

    /** An EC_FILL (a rebuild's strip) of one data-column block at {@code version}. */
    static io.netty.buffer.ByteBuf ecFill(byte[] block, long version) {
        io.netty.buffer.ByteBuf payload = io.netty.buffer.Unpooled.buffer();
        payload.writeByte(1).writeZero(3).writeByte(1); // n = 1, then the block's "included" flag
        payload.writeBytes(block).writeInt(io.basalt.protocol.data.BlockCrc.of(ByteBuffer.wrap(block)));
        payload.writeLong(version);
        return payload;
    }

    /**
     * Seen with real processes (EcVolumeIT, a column restarted during writes): a prepare replayed as
     * pending, a catch-up filling the block with a newer strip meanwhile, then the old transaction's
     * commit arriving. Newest wins: the block keeps the rebuilt strip, and it serves reads again as
     * soon as the rebuild wrote it; the block the rebuild left alone commits as before. After a crash,
     * replay decides the same.
     */
    @Test
    void anOldTransactionsCommitNeverOverwritesAStripARebuildWroteSince() throws Exception {
        byte[] prepared = random(2 * 4096, 7);
        byte[] rebuilt = random(4096, 8);
        StoreHarness h = new StoreHarness(dir);
        StoreHarness.await(h.submit(io.basalt.chunkserver.wal.WalRecordFormat.TYPE_EC_PREPARE, UID, 0, 2 * 4096,
                ecPrepare(prepared, 100), 1));
        assertThat(h.store.hasPending(UID, 0, 4096)).isTrue();
        StoreHarness.await(h.submit(io.basalt.chunkserver.wal.WalRecordFormat.TYPE_EC_FILL, UID, 0, 4096,
                ecFill(rebuilt, 200), 1));
        assertThat(h.store.hasPending(UID, 0, 4096)).as("superseded by the rebuild").isFalse();
        assertThat(h.store.hasPending(UID, 4096, 4096)).isTrue();
        io.netty.buffer.ByteBuf commit = io.netty.buffer.Unpooled.buffer();
        io.basalt.protocol.data.EcSection.settle(100, true).writeTo(commit);
        StoreHarness.await(h.submit(io.basalt.chunkserver.wal.WalRecordFormat.TYPE_EC_RESOLVE, UID, 0, 2 * 4096,
                commit, 1));
        for (StoreHarness store : new StoreHarness[] {h, null}) {
            StoreHarness at = store != null ? store : new StoreHarness(dir);
            try {
                assertThat(java.util.Arrays.equals(at.read(UID, 0, 4096), rebuilt)).as("block 0: the rebuilt strip")
                        .isTrue();
                assertThat(java.util.Arrays.equals(at.read(UID, 4096, 4096),
                        java.util.Arrays.copyOfRange(prepared, 4096, 8192))).as("block 1: the committed one").isTrue();
                assertThat(at.store.versions(UID, 0, 2 * 4096).versions()).containsExactly(200, 100);
                assertThat(at.store.hasPending(UID, 0, 2 * 4096)).isFalse();
            } finally {
                if (store != null) {
                    at.crash(); // no checkpoint: the next start replays all three records
                } else {
                    at.close();
                }
            }
        }
    }

    @Test
    void aDeleteIsOrderedWithTheWritesAroundItAndReplayedAfterACrash() throws Exception {
        Path chunklets = dir.resolve("chunklets");
        String stem = String.format("%016x", UID);
        StoreHarness h = new StoreHarness(dir);
        h.write(UID, 0, random(8192, 1));
        h.write(UID + 1, 0, random(4096, 2));
        h.deleteChunklet(UID);
        assertThat(h.store.info(UID).exists()).isFalse();
        assertThat(h.read(UID, 0, 8192)).containsOnly(0);
        assertThat(chunklets.resolve(stem + ".data")).doesNotExist();
        assertThat(chunklets.resolve(stem + ".meta")).doesNotExist();
        h.deleteChunklet(UID + 7); // never written here: nothing to do
        // A write after the delete starts a new chunklet holding only itself.
        h.write(UID, 4096, random(4096, 3));
        h.crash(); // no checkpoint: replay runs write, write, delete, write again
        try (StoreHarness again = new StoreHarness(dir)) {
            assertThat(again.read(UID, 0, 4096)).containsOnly(0);
            assertThat(again.read(UID, 4096, 4096)).isEqualTo(random(4096, 3));
            assertThat(again.store.info(UID).writtenBlocks()).isEqualTo(1);
            assertThat(again.read(UID + 1, 0, 4096)).isEqualTo(random(4096, 2));
            again.deleteChunklet(UID);
        }
        // Deleted, then a clean close (checkpoint): gone for good after the next start.
        try (StoreHarness third = new StoreHarness(dir)) {
            assertThat(third.store.info(UID).exists()).isFalse();
            assertThat(chunklets.resolve(stem + ".data")).doesNotExist();
            assertThat(third.store.chunkletCount()).isEqualTo(1);
        }
    }

    /**
     * Seen in ThrashIT: meta moved a parity column of a chunk away from this server and later placed a
     * data column of the same chunk here. Replay after a crash ran the parity column's records (4
     * versions per block) into the new data chunklet (1 per block) and the chunk server could not
     * start. Records before a chunklet's delete are skipped; the new chunklet is what its own
     * records made it.
     */
    @Test
    void aChunkletDeletedAndPlacedHereAgainInAnotherRoleReplaysAsTheNewOne() throws Exception {
        byte[] parity = random(4096, 21);
        byte[] data = random(4096, 22);
        StoreHarness h = new StoreHarness(dir);
        io.netty.buffer.ByteBuf parityFill = io.netty.buffer.Unpooled.buffer();
        parityFill.writeByte(4).writeZero(3).writeByte(1); // n = 4: a parity column of ec4+m
        parityFill.writeBytes(parity).writeInt(io.basalt.protocol.data.BlockCrc.of(ByteBuffer.wrap(parity)));
        parityFill.writeLong(11).writeLong(12).writeLong(13).writeLong(14);
        StoreHarness.await(h.submit(io.basalt.chunkserver.wal.WalRecordFormat.TYPE_EC_FILL, UID, 4096, 4096,
                parityFill, 1));
        h.deleteChunklet(UID);
        StoreHarness.await(h.submit(io.basalt.chunkserver.wal.WalRecordFormat.TYPE_EC_FILL, UID, 0, 4096,
                ecFill(data, 300), 2));
        h.crash(); // no checkpoint: replay meets the parity fill, the delete, the data fill
        try (StoreHarness again = new StoreHarness(dir)) {
            assertThat(again.read(UID, 0, 4096)).isEqualTo(data);
            assertThat(again.read(UID, 4096, 4096)).as("the old chunklet's block").containsOnly(0);
            assertThat(again.store.versions(UID, 0, 4096).versions()).containsExactly(300);
            assertThat(again.store.info(UID).writtenBlocks()).isEqualTo(1);
        }
    }

    @Test
    void aChunkletWhoseCreationNeverReachedTheDiskIsRebuiltFromTheWal() throws Exception {
        StoreHarness h = new StoreHarness(dir);
        byte[] data = random(8192, 11);
        h.write(UID, 4096, data);
        h.crash();
        // As after a power cut right after creation: the sidecar exists but its header is zeroes.
        Path meta = dir.resolve("chunklets").resolve(String.format("%016x.meta", UID));
        try (FileChannel channel = FileChannel.open(meta, StandardOpenOption.WRITE)) {
            channel.write(ByteBuffer.allocate(64), 0);
        }
        try (StoreHarness again = new StoreHarness(dir)) {
            assertThat(again.read(UID, 4096, 8192)).isEqualTo(data);
        }
    }

    @Test
    void fullDiskRefusesWritesCleanlyAndKeepsTheStoreConsistent() throws Exception {
        try (Tmpfs tmpfs = Tmpfs.mount("3m")) {
            Path mount = tmpfs.path();
            WalWriter.Config config = new WalWriter.Config(256 << 10, 16, 1024, 512 << 10, (64 << 10) + 1024);
            List<Long> acknowledged = new ArrayList<>();
            CsException refused = null;
            try (StoreHarness h = new StoreHarness(mount, 64L << 20, config)) {
                for (int i = 0; i < 200; i++) {
                    try {
                        h.write(UID, (long) i << 16, random(64 << 10, i));
                        acknowledged.add((long) i);
                    } catch (CsException e) {
                        refused = e;
                        break;
                    }
                }
                assertThat(refused).as("the 3 MiB disk fills up").isNotNull();
                assertThat(refused.status()).isEqualTo(CsStatus.NO_SPACE);
                assertThat(refused.getMessage()).contains("no space");
                assertThat(h.wal.failure()).as("a full disk does not fail the WAL").isNull();
                assertThat(acknowledged).isNotEmpty();
                long failedOffset = (long) acknowledged.size() << 16;
                assertThat(h.read(UID, failedOffset, 64 << 10)).as("nothing of the refused write").containsOnly(0);
                for (long i : acknowledged) {
                    assertThat(h.read(UID, i << 16, 64 << 10)).isEqualTo(random(64 << 10, (int) i));
                }
                // Free space by trimming, then writing works again.
                h.trim(UID, 0, 8 * (64 << 10));
                h.write(UID, failedOffset, random(64 << 10, 999));
            }
            try (StoreHarness again = new StoreHarness(mount, 64L << 20, config)) {
                assertThat(again.read(UID, (long) acknowledged.size() << 16, 64 << 10)).isEqualTo(random(64 << 10, 999));
                assertThat(again.read(UID, 0, 64 << 10)).containsOnly(0);
                for (long i : acknowledged) {
                    if (i >= 8) {
                        assertThat(again.read(UID, i << 16, 64 << 10)).isEqualTo(random(64 << 10, (int) i));
                    }
                }
            }
        }
    }

    static void delete(Path dir) throws IOException {
        if (dir == null || !Files.exists(dir)) {
            return;
        }
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
