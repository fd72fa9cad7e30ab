package io.basalt.chunkserver.store;

import static io.basalt.chunkserver.BlockCrc.BLOCK_SHIFT;
import static io.basalt.chunkserver.BlockCrc.BLOCK_SIZE_BYTES;

import io.basalt.common.io.LinuxFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
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
    long writtenBlocks;
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

    /** Opens an existing chunklet and loads its metadata; damaged entries load as corrupt. */
    static Chunklet open(Path dir, long chunkUid, int blocksMax) throws IOException {
        Path dataPath = dir.resolve(fileStem(chunkUid) + ".data");
        Path metaPath = dir.resolve(fileStem(chunkUid) + ".meta");
        FileChannel meta = FileChannel.open(metaPath, StandardOpenOption.READ, StandardOpenOption.WRITE);
        FileChannel data = FileChannel.open(dataPath, StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE);
        int fd = LinuxFiles.open(dataPath, true);
        Chunklet chunklet = new Chunklet(chunkUid, dataPath, metaPath, data, meta, fd, blocksMax);
        try {
            ByteBuffer header = ByteBuffer.allocate(BlockMetadataFormat.HEADER_BYTES);
            readFully(meta, header, 0);
            BlockMetadataFormat.checkHeader(header.flip(), chunkUid, metaPath.toString());
            long entryBytes = Math.min(meta.size(), BlockMetadataFormat.entryOffset(blocksMax))
                    - BlockMetadataFormat.HEADER_BYTES;
            ByteBuffer entries = ByteBuffer.allocate((int) Math.max(0, entryBytes)).order(ByteOrder.BIG_ENDIAN);
            readFully(meta, entries, BlockMetadataFormat.HEADER_BYTES);
            entries.flip();
            int count = entries.limit() / BlockMetadataFormat.ENTRY_BYTES;
            for (int i = 0; i < count; i++) {
                int at = i * BlockMetadataFormat.ENTRY_BYTES;
                long lsn = BlockMetadataFormat.entryLsn(entries, at, chunkUid, i);
                if (lsn != 0) {
                    chunklet.ensureCapacity(i + 1);
                    chunklet.lsns[i] = lsn;
                    chunklet.blockCrcs[i] = BlockMetadataFormat.entryBlockCrc(entries, at);
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
        }
    }

    long lsn(int blockIndex) {
        return blockIndex < lsns.length ? lsns[blockIndex] : 0;
    }

    /** Metadata of blocks [first, first + count) is set to (lsn, crcs) and written to the sidecar. */
    void setBlocks(int firstBlock, int count, long lsn, int[] crcsOrNull) throws IOException {
        ensureCapacity(firstBlock + count);
        ByteBuffer entries = ByteBuffer.allocate(count * BlockMetadataFormat.ENTRY_BYTES).order(ByteOrder.BIG_ENDIAN);
        for (int i = 0; i < count; i++) {
            int block = firstBlock + i;
            long entryLsn = crcsOrNull == null ? 0 : lsn;
            int crc = crcsOrNull == null ? 0 : crcsOrNull[i];
            if (lsns[block] != 0 && entryLsn == 0) {
                writtenBlocks--;
            } else if (lsns[block] == 0 && entryLsn != 0) {
                writtenBlocks++;
            }
            lsns[block] = entryLsn;
            blockCrcs[block] = crc;
            BlockMetadataFormat.putEntry(entries, i * BlockMetadataFormat.ENTRY_BYTES, chunkUid, block, entryLsn, crc);
        }
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
