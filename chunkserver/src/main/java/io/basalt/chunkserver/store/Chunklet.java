package io.basalt.chunkserver.store;

import static io.basalt.protocol.data.BlockCrc.BLOCK_SHIFT;
import static io.basalt.protocol.data.BlockCrc.BLOCK_SIZE_BYTES;

import io.basalt.common.io.LinuxFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.locks.ReentrantReadWriteLock;

/**
 * One chunklet on disk: a sparse data file and its block-metadata sidecar ({@link BlockMetadataFormat}),
 * with the metadata held in memory (12 bytes per 4 KiB block: lsn + CRC32C) after it was loaded.
 *
 * <p>Concurrency: the WAL writer thread is the only writer (apply, reserve); reader threads read. The
 * read/write lock makes a read see a block's data and metadata from the same apply, so a read racing a
 * write never reports a false "corrupt block".
 */
final class Chunklet implements AutoCloseable {
    final long chunkUid;
    final Path dataPath;
    final Path metaPath;
    final FileChannel data;
    final FileChannel meta;
    /** Own descriptor for fallocate (reserve, punch hole); same inode as {@link #data}. */
    final int dataFd;
    final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    long[] lsns;
    int[] blockCrcs;
    /** Per block: the chunk version of the request that last set it (BlockMetadataFormat). */
    long[] blockVersions;
    /**
     * Per block: the LSN of the last WAL record applied to it in this process (writes, trims,
     * fills; 0 none). Memory only. A block may take a write in place only when this is at or
     * below the WAL's checkpoint: no record replay could repeat touches it (ChunkletStore.place).
     */
    long[] touchLsns;
    long writtenBlocks;
    /**
     * What the chunklet holds, in 64 bits: the XOR over its blocks holding data other than zeroes of
     * {@link #blockDigest}, kept as blocks change. Equal on two replicas that read the same (same
     * CRC32C for every block; a block of zeroes counts as no data whether written or trimmed),
     * whatever their histories (versions, LSNs). INFO reports it; snapshot create compares a frozen
     * chunk's replicas by it (docs/snapshots.md, "Fencing", step 6). Written under the write lock.
     */
    volatile long contentDigest;
    boolean dirty;
    /** Set (under the write lock) when the chunklet was deleted: a reader holding it sees zeroes. */
    boolean deleted;
    /**
     * Strip versions of an erasure-coded chunklet ({@link StripVersionsFormat}): {@code versionsPerBlock}
     * per block (1 for a data column, k for a parity column), 0 until the first versioned write. The
     * file is opened with the first versioned write, or at open when it exists.
     */
    int versionsPerBlock;
    long[] versions = new long[0];
    final Path versionsPath;
    FileChannel versionsFile;

    private Chunklet(long chunkUid, Path dataPath, Path metaPath, FileChannel data, FileChannel meta, int dataFd,
            int blocksMax) {
        this.chunkUid = chunkUid;
        this.dataPath = dataPath;
        this.metaPath = metaPath;
        this.data = data;
        this.meta = meta;
        this.dataFd = dataFd;
        this.lsns = new long[Math.min(blocksMax, 256)];
        this.blockCrcs = new int[lsns.length];
        this.blockVersions = new long[lsns.length];
        this.touchLsns = new long[lsns.length];
        this.versionsPath = dataPath.resolveSibling(fileStem(chunkUid) + ".ver");
    }

    static String fileStem(long chunkUid) {
        return String.format("%016x", chunkUid);
    }

    /** Creates the files of a new chunklet; the sidecar is preallocated for {@code blocksMax} entries. */
    static Chunklet create(Path dir, long chunkUid, int blocksMax) throws IOException {
        Path dataPath = dir.resolve(fileStem(chunkUid) + ".data");
        Path metaPath = dir.resolve(fileStem(chunkUid) + ".meta");
        FileChannel meta = FileChannel.open(metaPath, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE);
        FileChannel data = null;
        int fd = -1;
        try {
            long metaBytes = BlockMetadataFormat.entryOffset(blocksMax);
            int metaFd = LinuxFiles.open(metaPath, true);
            try {
                LinuxFiles.fallocate(metaFd, 0, 0, metaBytes, metaPath.toString());
            } finally {
                LinuxFiles.close(metaFd);
            }
            ByteBuffer header = BlockMetadataFormat.header(chunkUid, BLOCK_SIZE_BYTES);
            while (header.hasRemaining()) {
                meta.write(header, header.position());
            }
            data = FileChannel.open(dataPath, StandardOpenOption.CREATE, StandardOpenOption.READ,
                    StandardOpenOption.WRITE);
            fd = LinuxFiles.open(dataPath, true);
            return new Chunklet(chunkUid, dataPath, metaPath, data, meta, fd, blocksMax);
        } catch (IOException | RuntimeException e) {
            meta.close();
            if (data != null) {
                data.close();
            }
            LinuxFiles.close(fd);
            Files.deleteIfExists(metaPath);
            Files.deleteIfExists(dataPath);
            throw e;
        }
    }

    /**
     * True when the sidecar's header never reached the disk (empty file, or a header of zeroes): the
     * chunklet was created after the last checkpoint (a checkpoint forces sidecars and the directory),
     * so everything it held is still in the WAL, which recreates it on replay.
     */
    static boolean neverPersisted(Path dir, long chunkUid) throws IOException {
        Path metaPath = dir.resolve(fileStem(chunkUid) + ".meta");
        try (FileChannel meta = FileChannel.open(metaPath, StandardOpenOption.READ)) {
            ByteBuffer header = ByteBuffer.allocate(BlockMetadataFormat.HEADER_BYTES);
            readFully(meta, header, 0);
            header.flip();
            while (header.hasRemaining()) {
                if (header.get() != 0) {
                    return false;
                }
            }
            return true;
        }
    }

    /**
     * Opens an existing chunklet and loads its metadata; damaged entries load as corrupt. A sidecar of
     * format version 1 (earlier builds) is first rewritten as version 2 ({@link #upgradeSidecar}).
     */
    static Chunklet open(Path dir, long chunkUid, int blocksMax) throws IOException {
        Path dataPath = dir.resolve(fileStem(chunkUid) + ".data");
        Path metaPath = dir.resolve(fileStem(chunkUid) + ".meta");
        if (sidecarFormatVersion(metaPath, chunkUid) == BlockMetadataFormat.FORMAT_VERSION_1) {
            upgradeSidecar(dir, chunkUid, blocksMax);
        }
        FileChannel meta = FileChannel.open(metaPath, StandardOpenOption.READ, StandardOpenOption.WRITE);
        FileChannel data = FileChannel.open(dataPath, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE);
        int fd = LinuxFiles.open(dataPath, true);
        Chunklet chunklet = new Chunklet(chunkUid, dataPath, metaPath, data, meta, fd, blocksMax);
        try {
            for (Loaded entry : loadEntries(meta, chunkUid, blocksMax, metaPath.toString())) {
                chunklet.ensureCapacity(entry.block + 1);
                chunklet.lsns[entry.block] = entry.entry.lsn();
                chunklet.blockCrcs[entry.block] = entry.entry.blockCrc();
                chunklet.contentDigest ^= blockDigest(entry.block, entry.entry.lsn(), entry.entry.blockCrc());
                chunklet.blockVersions[entry.block] = entry.entry.version();
                if (entry.entry.lsn() != 0) {
                    chunklet.writtenBlocks++;
                }
            }
            chunklet.loadVersions();
            return chunklet;
        } catch (IOException | RuntimeException e) {
            chunklet.close();
            throw e;
        }
    }

    private record Loaded(int block, BlockMetadataFormat.Entry entry) {}

    private static int sidecarFormatVersion(Path metaPath, long chunkUid) throws IOException {
        try (FileChannel meta = FileChannel.open(metaPath, StandardOpenOption.READ)) {
            ByteBuffer header = ByteBuffer.allocate(BlockMetadataFormat.HEADER_BYTES);
            readFully(meta, header, 0);
            return BlockMetadataFormat.checkHeader(header.flip(), chunkUid, metaPath.toString());
        }
    }

    /** Every entry of the sidecar that is not "never touched" (corrupt ones with lsn LSN_CORRUPT). */
    private static List<Loaded> loadEntries(FileChannel meta, long chunkUid, int blocksMax, String name)
            throws IOException {
        ByteBuffer header = ByteBuffer.allocate(BlockMetadataFormat.HEADER_BYTES);
        readFully(meta, header, 0);
        int formatVersion = BlockMetadataFormat.checkHeader(header.flip(), chunkUid, name);
        int entrySize = BlockMetadataFormat.entryBytes(formatVersion);
        long entryBytes = Math.min(meta.size(), BlockMetadataFormat.HEADER_BYTES + (long) entrySize * blocksMax)
                - BlockMetadataFormat.HEADER_BYTES;
        ByteBuffer entries = ByteBuffer.allocate((int) Math.max(0, entryBytes)).order(ByteOrder.BIG_ENDIAN);
        readFully(meta, entries, BlockMetadataFormat.HEADER_BYTES);
        entries.flip();
        int count = entries.limit() / entrySize;
        List<Loaded> loaded = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            BlockMetadataFormat.Entry entry = BlockMetadataFormat.entry(entries, i * entrySize, chunkUid, i,
                    formatVersion);
            if (entry.lsn() != 0 || entry.version() != 0) {
                loaded.add(new Loaded(i, entry));
            }
        }
        return loaded;
    }

    /**
     * Rewrites a version-1 sidecar as version 2 (block versions 0): a new file beside it, forced,
     * renamed over the old one, directory forced. A crash before the rename leaves the old file
     * (and a stray temporary, replaced next time); after it, the new one.
     */
    private static void upgradeSidecar(Path dir, long chunkUid, int blocksMax) throws IOException {
        Path metaPath = dir.resolve(fileStem(chunkUid) + ".meta");
        Path tmp = dir.resolve(fileStem(chunkUid) + ".meta.upgrade");
        List<Loaded> loaded;
        try (FileChannel old = FileChannel.open(metaPath, StandardOpenOption.READ)) {
            loaded = loadEntries(old, chunkUid, blocksMax, metaPath.toString());
        }
        try (FileChannel out = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            ByteBuffer header = BlockMetadataFormat.header(chunkUid, BLOCK_SIZE_BYTES);
            while (header.hasRemaining()) {
                out.write(header, header.position());
            }
            ByteBuffer entry = ByteBuffer.allocate(BlockMetadataFormat.ENTRY_BYTES).order(ByteOrder.BIG_ENDIAN);
            for (Loaded one : loaded) {
                if (one.entry.lsn() == BlockMetadataFormat.LSN_CORRUPT) {
                    // Keep it detectably damaged rather than turn it into "never written".
                    entry.clear();
                    entry.putLong(0, -1).putLong(8, 0).putLong(16, 0);
                } else {
                    BlockMetadataFormat.putEntry(entry.clear(), 0, chunkUid, one.block, one.entry.lsn(), 0,
                            one.entry.blockCrc());
                }
                long position = BlockMetadataFormat.entryOffset(one.block);
                entry.position(0).limit(BlockMetadataFormat.ENTRY_BYTES);
                while (entry.hasRemaining()) {
                    position += out.write(entry, position);
                }
            }
            out.force(true);
        }
        Files.move(tmp, metaPath, java.nio.file.StandardCopyOption.ATOMIC_MOVE,
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        try (FileChannel directory = FileChannel.open(dir, StandardOpenOption.READ)) {
            directory.force(true);
        }
    }

    /** Loads the strip versions file if there is one whose header reached the disk. */
    private void loadVersions() throws IOException {
        if (!Files.exists(versionsPath)) {
            return;
        }
        FileChannel file = FileChannel.open(versionsPath, StandardOpenOption.READ, StandardOpenOption.WRITE);
        versionsFile = file;
        ByteBuffer header = ByteBuffer.allocate(StripVersionsFormat.HEADER_BYTES);
        readFully(file, header, 0);
        header.flip();
        int n = StripVersionsFormat.checkHeader(header, chunkUid, versionsPath.toString());
        if (n == 0) {
            return; // header never persisted: the WAL still holds every versioned write
        }
        versionsPerBlock = n;
        int entryBytes = StripVersionsFormat.entryBytes(n);
        long count = (file.size() - StripVersionsFormat.HEADER_BYTES) / entryBytes;
        ByteBuffer entries = ByteBuffer.allocate((int) (count * entryBytes)).order(ByteOrder.BIG_ENDIAN);
        readFully(file, entries, StripVersionsFormat.HEADER_BYTES);
        entries.flip();
        versions = new long[(int) count * n];
        for (int i = 0; i < count; i++) {
            StripVersionsFormat.readEntry(entries, i * entryBytes, chunkUid, i, n, versions, i * n);
        }
    }

    /** Version {@code j} of block {@code block} (0: never written with a version). */
    long version(int block, int j) {
        int at = block * versionsPerBlock + j;
        return versionsPerBlock == 0 || at >= versions.length ? 0 : versions[at];
    }

    /**
     * Sets the versions of blocks [first, first + count) to {@code values[from..]} ({@code n} per
     * block) and writes them to the versions file. A chunklet's {@code n} never changes.
     */
    void setVersions(int firstBlock, int count, int n, long[] values, int from) throws IOException {
        if (versionsPerBlock == 0) {
            if (versionsFile == null) {
                versionsFile = FileChannel.open(versionsPath, StandardOpenOption.CREATE, StandardOpenOption.READ,
                        StandardOpenOption.WRITE);
            }
            ByteBuffer header = StripVersionsFormat.header(chunkUid, n);
            while (header.hasRemaining()) {
                versionsFile.write(header, header.position());
            }
            versionsPerBlock = n;
        } else if (n != versionsPerBlock) {
            throw new IOException("chunklet " + fileStem(chunkUid) + " keeps " + versionsPerBlock
                    + " versions per block, a write brought " + n);
        }
        int needed = (firstBlock + count) * n;
        if (needed > versions.length) {
            versions = Arrays.copyOf(versions, Math.max(needed, versions.length * 2));
        }
        System.arraycopy(values, from, versions, firstBlock * n, count * n);
        int entryBytes = StripVersionsFormat.entryBytes(n);
        ByteBuffer entries = ByteBuffer.allocate(count * entryBytes).order(ByteOrder.BIG_ENDIAN);
        for (int i = 0; i < count; i++) {
            StripVersionsFormat.putEntry(entries, i * entryBytes, chunkUid, firstBlock + i, n, versions,
                    (firstBlock + i) * n);
        }
        long position = StripVersionsFormat.HEADER_BYTES + (long) firstBlock * entryBytes;
        while (entries.hasRemaining()) {
            position += versionsFile.write(entries, position);
        }
        dirty = true;
    }

    void ensureCapacity(int blocks) {
        if (blocks > lsns.length) {
            int capacity = Math.max(blocks, lsns.length * 2);
            lsns = Arrays.copyOf(lsns, capacity);
            blockCrcs = Arrays.copyOf(blockCrcs, capacity);
            blockVersions = Arrays.copyOf(blockVersions, capacity);
            touchLsns = Arrays.copyOf(touchLsns, capacity);
        }
    }

    long lsn(int blockIndex) {
        return blockIndex < lsns.length ? lsns[blockIndex] : 0;
    }

    /** Records that the WAL record {@code lsn} was applied to blocks [first, first + count). */
    void touch(int firstBlock, int count, long lsn) {
        ensureCapacity(firstBlock + count);
        Arrays.fill(touchLsns, firstBlock, firstBlock + count, lsn);
    }

    long touchLsn(int blockIndex) {
        return blockIndex < touchLsns.length ? touchLsns[blockIndex] : 0;
    }

    /**
     * Block {@code block}'s share of {@link #contentDigest}: 0 for no data or zeroes, else a mix of
     * its index and CRC32C (damaged metadata has a share of its own, so it never matches a peer).
     */
    static long blockDigest(int block, long lsn, int crc) {
        if (lsn == 0 || (crc == io.basalt.protocol.data.BlockCrc.ZERO_BLOCK_CRC && lsn != BlockMetadataFormat.LSN_CORRUPT)) {
            return 0;
        }
        long x = ((long) block << 32) ^ (crc & 0xffffffffL) ^ (lsn == BlockMetadataFormat.LSN_CORRUPT ? 0x5bd1e995L << 40 : 0);
        // SplitMix64's finalizer: every input bit moves every output bit, so XORs of distinct
        // blocks do not cancel by accident.
        x = (x ^ (x >>> 30)) * 0xbf58476d1ce4e5b9L;
        x = (x ^ (x >>> 27)) * 0x94d049bb133111ebL;
        return x ^ (x >>> 31);
    }

    long blockVersion(int blockIndex) {
        return blockIndex < blockVersions.length ? blockVersions[blockIndex] : 0;
    }

    int blockCrc(int blockIndex) {
        return blockIndex < blockCrcs.length ? blockCrcs[blockIndex] : 0;
    }

    /**
     * Metadata of blocks [first, first + count) is set to (lsn, crcs, version) and written to the
     * sidecar; {@code crcsOrNull} null makes them hold no data (zeroes) since {@code version}.
     */
    void setBlocks(int firstBlock, int count, long lsn, int[] crcsOrNull, long version) throws IOException {
        setBlocks(firstBlock, count, i -> crcsOrNull == null ? 0 : lsn,
                i -> crcsOrNull == null ? 0 : crcsOrNull[i], i -> version);
    }

    /** Metadata of blocks [first, first + count): block first + i gets (lsn(i), crc(i), version(i)). */
    void setBlocks(int firstBlock, int count, java.util.function.IntToLongFunction lsnOf,
            java.util.function.IntUnaryOperator crcOf, java.util.function.IntToLongFunction versionOf)
            throws IOException {
        ensureCapacity(firstBlock + count);
        ByteBuffer entries = ByteBuffer.allocate(count * BlockMetadataFormat.ENTRY_BYTES).order(ByteOrder.BIG_ENDIAN);
        long digestChange = 0; // applied once: the digest is volatile (INFO reads it without the lock)
        for (int i = 0; i < count; i++) {
            int block = firstBlock + i;
            long entryLsn = lsnOf.applyAsLong(i);
            int crc = entryLsn == 0 ? 0 : crcOf.applyAsInt(i);
            long version = versionOf.applyAsLong(i);
            if (lsns[block] != 0 && entryLsn == 0) {
                writtenBlocks--;
            } else if (lsns[block] == 0 && entryLsn != 0) {
                writtenBlocks++;
            }
            digestChange ^= blockDigest(block, lsns[block], blockCrcs[block]) ^ blockDigest(block, entryLsn, crc);
            lsns[block] = entryLsn;
            blockCrcs[block] = crc;
            blockVersions[block] = version;
            BlockMetadataFormat.putEntry(entries, i * BlockMetadataFormat.ENTRY_BYTES, chunkUid, block, entryLsn,
                    version, crc);
        }
        contentDigest ^= digestChange;
        long position = BlockMetadataFormat.entryOffset(firstBlock);
        while (entries.hasRemaining()) {
            position += meta.write(entries, position);
        }
        dirty = true;
    }

    static void readFully(FileChannel channel, ByteBuffer buffer, long position) throws IOException {
        long at = position;
        while (buffer.hasRemaining()) {
            int n = channel.read(buffer, at);
            if (n < 0) {
                break;
            }
            at += n;
        }
    }

    long allocatedBytes() {
        return writtenBlocks << BLOCK_SHIFT;
    }

    void force() throws IOException {
        data.force(false);
        meta.force(false);
        if (versionsFile != null) {
            versionsFile.force(false);
        }
        dirty = false;
    }

    @Override
    public void close() throws IOException {
        try {
            data.close();
            meta.close();
            if (versionsFile != null) {
                versionsFile.close();
            }
        } finally {
            LinuxFiles.close(dataFd);
        }
    }
}
