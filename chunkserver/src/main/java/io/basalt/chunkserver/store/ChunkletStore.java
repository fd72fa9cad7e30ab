package io.basalt.chunkserver.store;

import static io.basalt.protocol.data.BlockCrc.BLOCK_SHIFT;
import static io.basalt.protocol.data.BlockCrc.BLOCK_SIZE_BYTES;

import io.basalt.chunkserver.wal.WalEntry;
import io.basalt.chunkserver.wal.WalRecordFormat;
import io.basalt.chunkserver.wal.WalSink;
import io.basalt.common.io.LinuxFiles;
import io.basalt.protocol.data.BlockCrc;
import io.basalt.protocol.data.CsException;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.EcSection;
import io.netty.buffer.ByteBuf;
import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.ConcurrentHashMap;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import io.netty.buffer.Unpooled;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The chunklets of one chunk server: one sparse data file and one metadata sidecar per chunklet in
 * {@code chunklets/}, driven by the WAL ({@link WalSink}) and read by reader threads.
 *
 * <p>Guarantees: a read returns either the data of the last applied write of each block with its
 * CRC32C verified, zeroes for an unwritten/trimmed block (without disk I/O when the whole range is
 * unwritten), or a CORRUPT_BLOCK error naming the chunklet and the block's offset; never unverified
 * data. A write reserves the space of its unwritten blocks before it is logged ({@link #prepare}),
 * so a full disk refuses it with NO_SPACE and nothing of it is applied.
 *
 * <p>Ownership: the chunklet map is concurrent; chunklets are created and mutated only by the WAL
 * writer thread (prepare/apply/checkpoint); readers take the chunklet's read lock.
 */
public final class ChunkletStore implements WalSink, AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ChunkletStore.class);

    /** Callbacks for metrics. */
    public interface Listener {
        void corruptBlock(long chunkUid, long offsetBytes);

        Listener NONE = (chunkUid, offsetBytes) -> {};
    }

    private final Path dir;
    private final long chunkletSizeMaxBytes;
    private final int blocksMax;
    private final Listener listener;
    private final ConcurrentHashMap<Long, Chunklet> chunklets = new ConcurrentHashMap<>();
    /** Undecided EC prepares per chunk; lists are changed by the writer thread only. */
    private final ConcurrentHashMap<Long, List<PendingTxn>> pending = new ConcurrentHashMap<>();
    private final boolean punchHoles;
    private final long spaceReserveBytes;
    private final FileStore fileStore;
    /**
     * Applied block bytes after which dirty chunklets start writeback ({@link #startWriteback});
     * {@code -Dbasalt.cs.writebackKickMiB=0} turns it off (to measure it).
     */
    static final long WRITEBACK_KICK_BYTES = Long.getLong("basalt.cs.writebackKickMiB", 16) << 20;
    /** Applied since the last {@link #startWriteback}; the writer thread's. */
    long bytesSinceWriteback;
    /**
     * Space accounting of the WAL batch being prepared (writer thread): the usable bytes the file
     * system reported at its first prepare (-1: not asked yet), and the bytes of unwritten blocks its
     * prepared entries will fill when applied. See {@link #prepare}.
     */
    private long usableAtBatchStart = -1;
    private long reservedInBatchBytes;
    /**
     * A WRITE of at least this many bytes to blocks that hold no data is written once, in place
     * (see {@link #place}); 0 turns that off. 64 KiB: where BlueStore stops deferring writes
     * through its log.
     */
    static final int PLACED_WRITE_MIN_BYTES = Integer.getInteger("basalt.cs.placedWriteMinKiB", 64) << 10;
    /**
     * Whether recovery FILLs into empty blocks are written in place too. Off by default: measured
     * with bench/recovery.sh 512M (2026-12-06, one run each, quiet machine), placed fills rebuilt at
     * 31 MiB/s with client write p99 10.6x its level before, with placement off at 45 MiB/s and 4.6x: on
     * one disk shared by 8 servers, the extra fdatasync of freshly allocated chunklet data ahead of
     * every WAL sync costs more than the second write it saves. {@code -Dbasalt.cs.placedFills=true}
     * turns it on (tests do).
     */
    static volatile boolean placedFills = Boolean.getBoolean("basalt.cs.placedFills");
    /** Block ranges of this batch's entries so far, by chunk: a placed write must overlap none. */
    private final Map<Long, List<int[]>> batchRanges = new HashMap<>();
    /** Chunks whose chunklet this batch deletes: nothing of theirs is placed in the same batch. */
    private final java.util.Set<Long> batchDeletes = new java.util.HashSet<>();
    /**
     * LSN of the last DELETE_CHUNKLET (or record applied while the chunklet did not exist) per
     * chunk in this process: nothing is placed in that chunk until the checkpoint passes it.
     */
    private final Map<Long, Long> deleteLsns = new HashMap<>();
    /** Replay never repeats a record at or below this LSN (the WAL's durable checkpoint). */
    private volatile long checkpointedLsn;
    /** Chunklets this batch wrote data into in place; forced by {@link #forcePlaced}. */
    private final java.util.Set<Chunklet> placedInBatch = new java.util.LinkedHashSet<>();
    /** Bytes written in place since this store opened (see {@link #place}). */
    private final java.util.concurrent.atomic.LongAdder placedBytes = new java.util.concurrent.atomic.LongAdder();
    /** This batch's placed entries not applied yet: their space is given back if they never are. */
    private final java.util.Set<WalEntry> placedUnapplied =
            java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());

    private ChunkletStore(Path dir, long chunkletSizeMaxBytes, long spaceReserveBytes, Listener listener)
            throws IOException {
        this.dir = dir;
        this.spaceReserveBytes = spaceReserveBytes;
        this.fileStore = Files.getFileStore(dir);
        this.chunkletSizeMaxBytes = chunkletSizeMaxBytes;
        this.blocksMax = Math.toIntExact(chunkletSizeMaxBytes >> BLOCK_SHIFT);
        this.listener = listener;
        this.punchHoles = LinuxFiles.available();
    }

    /**
     * Opens (creating if needed) the store in {@code dir} and loads every chunklet's metadata.
     *
     * @param spaceReserveBytes free space writes may not take: kept so that the WAL can still log the
     *     trims and deletes that free a full disk (a WAL that cannot log cannot free anything)
     */
    public static ChunkletStore open(Path dir, long chunkletSizeMaxBytes, long spaceReserveBytes, Listener listener)
            throws IOException {
        if (chunkletSizeMaxBytes <= 0 || chunkletSizeMaxBytes % BLOCK_SIZE_BYTES != 0) {
            throw new IllegalArgumentException("chunklet size " + chunkletSizeMaxBytes + " is not a positive multiple of 4096");
        }
        Files.createDirectories(dir);
        ChunkletStore store = new ChunkletStore(dir, chunkletSizeMaxBytes, spaceReserveBytes, listener);
        try (Stream<Path> files = Files.list(dir)) {
            for (Path file : (Iterable<Path>) files::iterator) {
                String name = file.getFileName().toString();
                if (name.endsWith(".meta") && name.length() == 16 + 5) {
                    long chunkUid = Long.parseUnsignedLong(name.substring(0, 16), 16);
                    if (Chunklet.neverPersisted(dir, chunkUid)) {
                        log.warn("chunklet {}: its metadata header never reached the disk (crash right after"
                                + " creation); removing it, WAL replay recreates it", Chunklet.fileStem(chunkUid));
                        Files.deleteIfExists(file);
                        Files.deleteIfExists(dir.resolve(Chunklet.fileStem(chunkUid) + ".data"));
                        continue;
                    }
                    store.chunklets.put(chunkUid, Chunklet.open(dir, chunkUid, store.blocksMax));
                }
            }
        } catch (IOException | RuntimeException e) {
            store.close();
            throw e;
        }
        log.info("chunklet store {}: {} chunklets", dir, store.chunklets.size());
        return store;
    }

    public long chunkletSizeMaxBytes() {
        return chunkletSizeMaxBytes;
    }

    /** Checks that [offset, offset + length) is a whole-block range inside a chunklet. */
    public void checkRange(long offsetBytes, long lengthBytes) throws CsException {
        if (offsetBytes < 0 || lengthBytes <= 0 || (offsetBytes & (BLOCK_SIZE_BYTES - 1)) != 0
                || (lengthBytes & (BLOCK_SIZE_BYTES - 1)) != 0) {
            throw new CsException(CsStatus.INVALID, "offset " + offsetBytes + " length " + lengthBytes
                    + " is not a non-empty range of whole 4096-byte blocks");
        }
        if (offsetBytes + lengthBytes > chunkletSizeMaxBytes) {
            throw new CsException(CsStatus.INVALID, "range ends at " + (offsetBytes + lengthBytes)
                    + ", beyond the chunklet size " + chunkletSizeMaxBytes);
        }
    }

    // ---- WAL sink (writer thread) -------------------------------------------------------------

    /**
     * Reserves by counting, not by allocating. A write's unwritten blocks take their space when it is
     * applied (ext4 and XFS reserve delayed-allocation blocks at the pwrite, and statvfs counts them
     * at once), and apply follows in the same batch. So the free space that statvfs reports at the
     * batch's first prepare, less what the batch's earlier entries will take, is what this entry may
     * use, less the WAL's headroom. Blocks that already hold data need nothing.
     *
     * <p>Why not fallocate each new block, as before: a fallocated block is an unwritten extent, and
     * ext4 must allocate it one call at a time and convert it at writeback; in the 3-replica 4 KiB
     * benchmark (bench/cs.sh) that took 20% of the writer threads in fallocate and most of the
     * checkpoint's fsync time, and counting made it 37% faster. The cost: a write can still meet
     * ENOSPC in apply if another process takes the disk's last free space (beyond the headroom)
     * between this prepare and that apply, a few milliseconds; the WAL then stops taking writes as
     * for any failed apply, with the record durable, until a restart replays it.
     *
     * <p>An EC prepare is the exception: its blocks are written by a later RESOLVE, in another batch,
     * so they are allocated now.
     */
    @Override
    public void prepare(WalEntry entry) throws CsException {
        if (entry.type() == WalRecordFormat.TYPE_DELETE_CHUNKLET) {
            batchDeletes.add(entry.chunkUid());
            return; // frees space; needs nothing
        }
        checkRange(entry.offsetBytes(), entry.lengthBytes());
        try {
            prepareSpace(entry);
        } finally {
            // Every entry that got this far may be logged: later placed writes must not overlap it.
            batchRanges.computeIfAbsent(entry.chunkUid(), uid -> new ArrayList<>()).add(new int[] {
                (int) (entry.offsetBytes() >> BLOCK_SHIFT), entry.lengthBytes() >> BLOCK_SHIFT});
        }
    }

    private void prepareSpace(WalEntry entry) throws CsException {
        if (!WalRecordFormat.carriesBlocks(entry.type()) && entry.type() != WalRecordFormat.TYPE_FILL
                && entry.type() != WalRecordFormat.TYPE_EC_FILL && entry.type() != WalRecordFormat.TYPE_REPAIR) {
            return; // trims free space, resolves use what their prepare reserved
        }
        try {
            Chunklet chunklet = chunkletForWrite(entry.chunkUid());
            int first = (int) (entry.offsetBytes() >> BLOCK_SHIFT);
            int count = entry.lengthBytes() >> BLOCK_SHIFT;
            long newBytes = 0;
            for (int i = first; i < first + count; i++) {
                if (chunklet.lsn(i) == 0) {
                    newBytes += BLOCK_SIZE_BYTES;
                }
            }
            if (usableAtBatchStart < 0) {
                usableAtBatchStart = fileStore.getUsableSpace();
            }
            long usable = usableAtBatchStart - reservedInBatchBytes;
            if (usable - newBytes < spaceReserveBytes) {
                throw new CsException(CsStatus.NO_SPACE, "no space left on the data disk for chunk "
                        + Long.toHexString(entry.chunkUid()) + " (" + usable + " bytes free, " + spaceReserveBytes
                        + " kept for the WAL; trim or delete to free space)");
            }
            if (entry.type() == WalRecordFormat.TYPE_EC_PREPARE) {
                allocateUnwritten(chunklet, first, count);
            }
            if (newBytes == entry.lengthBytes() && placeable(chunklet, entry)) {
                place(chunklet, entry, first, count);
            }
            reservedInBatchBytes += newBytes;
        } catch (IOException e) {
            if (LinuxFiles.isNoSpace(e)) {
                throw new CsException(CsStatus.NO_SPACE, "no space left on the data disk for chunk "
                        + Long.toHexString(entry.chunkUid()) + " (" + dir + ")");
            }
            throw new CsException(CsStatus.IO_ERROR, "reserving space for chunk " + Long.toHexString(entry.chunkUid())
                    + ": " + e.getMessage(), e);
        }
    }

    /**
     * Whether {@code entry}, whose blocks all hold no data (checked by the caller), may be written
     * in place: a replicated WRITE of at least {@link #PLACED_WRITE_MIN_BYTES}, on a chunk with no
     * pending erasure-coded strips, that no earlier entry of this batch touches (their applies run
     * after this data lands, and would overwrite it or, for a delete, remove its file), and whose
     * blocks and chunklet no record after the WAL's checkpoint touched (replay would repeat it).
     */
    private boolean placeable(Chunklet chunklet, WalEntry entry) {
        boolean fill = entry.type() == WalRecordFormat.TYPE_FILL;
        if (fill && !placedFills) {
            return false;
        }
        if (PLACED_WRITE_MIN_BYTES <= 0 || (entry.type() != WalRecordFormat.TYPE_WRITE && !fill)
                || entry.lengthBytes() < PLACED_WRITE_MIN_BYTES
                || batchDeletes.contains(entry.chunkUid()) || pending.containsKey(entry.chunkUid())
                || deleteLsns.getOrDefault(entry.chunkUid(), 0L) > checkpointedLsn) {
            return false;
        }
        int first = (int) (entry.offsetBytes() >> BLOCK_SHIFT);
        int end = first + (entry.lengthBytes() >> BLOCK_SHIFT);
        // A record since the checkpoint that touched a block would be replayed after a crash,
        // over the data placed now (a trim punching it, an older write overwriting it): such a
        // block takes the logged path until a checkpoint has passed that record.
        for (int i = first; i < end; i++) {
            if (chunklet.touchLsn(i) > checkpointedLsn) {
                return false;
            }
            // A fill applies only below its guard version: placed, every block must pass it.
            if (fill && chunklet.blockVersion(i) >= entry.chunkVersion()) {
                return false;
            }
        }
        for (int[] range : batchRanges.getOrDefault(entry.chunkUid(), List.of())) {
            if (range[0] < end && first < range[0] + range[1]) {
                return false;
            }
        }
        return true;
    }

    /**
     * Big first writes are written once (the double write the WAL costs every other write): the
     * data goes to its place in the chunklet file now, {@link #forcePlaced} makes it durable
     * before the WAL appends the record, and the record (WRITE_PLACED) carries only the CRCs. Safe
     * because no metadata entry refers to these blocks until that record is applied: a crash
     * before it leaves them unwritten (reads go by the metadata, whatever the file holds), one
     * after it finds the data durable. Readers meanwhile see the blocks unwritten.
     */
    private void place(Chunklet chunklet, WalEntry entry, int first, int count) throws IOException {
        ByteBuf payload = entry.payload();
        if (entry.type() == WalRecordFormat.TYPE_FILL) {
            placeFill(chunklet, payload, first, count);
        } else {
            writeAt(chunklet, payload, payload.readerIndex(), count, first);
        }
        entry.markPlaced();
        placedInBatch.add(chunklet);
        placedUnapplied.add(entry);
        placedBytes.add((long) count << BLOCK_SHIFT);
    }

    /** Writes a FILL's data blocks (kind 2) to their places, runs of consecutive ones at a time. */
    private static void placeFill(Chunklet chunklet, ByteBuf payload, int first, int count) throws IOException {
        int sectionAt = payload.readerIndex();
        int dataIndex = sectionAt + count * WalRecordFormat.FILL_BLOCK_BYTES;
        int i = 0;
        while (i < count) {
            if (payload.getUnsignedByte(sectionAt + i * WalRecordFormat.FILL_BLOCK_BYTES) != FILL_DATA) {
                i++;
                continue;
            }
            int run = i;
            while (run < count
                    && payload.getUnsignedByte(sectionAt + run * WalRecordFormat.FILL_BLOCK_BYTES) == FILL_DATA) {
                run++;
            }
            writeAt(chunklet, payload, dataIndex, run - i, first + i);
            dataIndex += (run - i) << BLOCK_SHIFT;
            i = run;
        }
    }

    /** Data bytes written once, in place (big first writes), since this store opened. */
    public long placedWriteBytes() {
        return placedBytes.sum();
    }

    @Override
    public void checkpointed(long lsn) {
        checkpointedLsn = lsn;
    }

    @Override
    public void forcePlaced() throws IOException {
        try {
            for (Chunklet chunklet : placedInBatch) {
                chunklet.data.force(false);
            }
        } finally {
            placedInBatch.clear();
        }
    }

    /** Allocates (KEEP_SIZE) the blocks of [first, first + count) that hold no data yet. */
    private static void allocateUnwritten(Chunklet chunklet, int first, int count) throws IOException {
        int runStart = -1;
        for (int i = first; i <= first + count; i++) {
            boolean needs = i < first + count && chunklet.lsn(i) == 0;
            if (needs && runStart < 0) {
                runStart = i;
            } else if (!needs && runStart >= 0) {
                LinuxFiles.fallocate(chunklet.dataFd, LinuxFiles.FALLOC_FL_KEEP_SIZE, (long) runStart << BLOCK_SHIFT,
                        (long) (i - runStart) << BLOCK_SHIFT, chunklet.dataPath.toString());
                runStart = -1;
            }
        }
    }

    @Override
    public void batchEnded() {
        usableAtBatchStart = -1;
        reservedInBatchBytes = 0;
        batchRanges.clear();
        batchDeletes.clear();
        placedInBatch.clear();
        // Placed data whose entry failed (the WAL could not log it): nothing refers to it, but it
        // holds disk space; punched out again where the blocks still hold no data.
        for (WalEntry entry : placedUnapplied) {
            Chunklet chunklet = chunklets.get(entry.chunkUid());
            if (chunklet == null) {
                continue;
            }
            int first = (int) (entry.offsetBytes() >> BLOCK_SHIFT);
            chunklet.lock.writeLock().lock();
            try {
                int end = first + (entry.lengthBytes() >> BLOCK_SHIFT);
                int runStart = -1;
                for (int i = first; i <= end; i++) {
                    boolean free = i < end && chunklet.lsn(i) == 0;
                    if (free && runStart < 0) {
                        runStart = i;
                    } else if (!free && runStart >= 0) {
                        punch(chunklet, (long) runStart << BLOCK_SHIFT, (long) (i - runStart) << BLOCK_SHIFT);
                        runStart = -1;
                    }
                }
            } catch (IOException e) {
                log.warn("giving back the space of an unlogged write in place to {} failed: {}",
                        chunklet.dataPath, e.toString());
            } finally {
                chunklet.lock.writeLock().unlock();
            }
        }
        placedUnapplied.clear();
    }

    Chunklet chunkletForWrite(long chunkUid) throws IOException {
        Chunklet chunklet = chunklets.get(chunkUid);
        if (chunklet == null) {
            chunklet = Chunklet.create(dir, chunkUid, blocksMax);
            chunklets.put(chunkUid, chunklet);
        }
        return chunklet;
    }

    @Override
    public void apply(WalEntry entry) throws IOException {
        applyEntry(entry);
        if (WRITEBACK_KICK_BYTES > 0 && WalRecordFormat.carriesBlocks(entry.type())) {
            bytesSinceWriteback += entry.lengthBytes();
            if (bytesSinceWriteback >= WRITEBACK_KICK_BYTES) {
                startWriteback();
            }
        }
    }

    /**
     * Starts writeback of every dirty chunklet's data. Without it the page cache keeps a whole
     * checkpoint interval of applied writes dirty (256 MiB at the defaults, far below the kernel's
     * own background threshold on a big machine), and the checkpoint's fsyncs then write all of it
     * while the WAL writer waits: 29% of the WAL threads' native samples (JFR) in a 3-replica 4 KiB
     * benchmark. Started every {@link #WRITEBACK_KICK_BYTES}, the writing is spread out and the
     * checkpoint finds little left. Only a hint: durability still comes from the WAL and the
     * checkpoint's fsync.
     */
    private void startWriteback() {
        bytesSinceWriteback = 0;
        if (!LinuxFiles.available()) {
            return;
        }
        for (Chunklet chunklet : chunklets.values()) {
            if (chunklet.dirty && chunklet.dataFd >= 0) {
                try {
                    LinuxFiles.startWriteback(chunklet.dataFd, chunklet.dataPath.toString());
                } catch (IOException e) {
                    log.debug("starting writeback of {} failed: {}", chunklet.dataPath, e.toString());
                }
            }
        }
    }

    private void applyEntry(WalEntry entry) throws IOException {
        int type = entry.type();
        if (type == WalRecordFormat.TYPE_DELETE_CHUNKLET) {
            pending.remove(entry.chunkUid());
            delete(entry.chunkUid());
            deleteLsns.put(entry.chunkUid(), entry.lsn());
            return;
        }
        applyRange(entry);
        Chunklet touched = chunklets.get(entry.chunkUid());
        if (touched != null) {
            touched.touch((int) (entry.offsetBytes() >> BLOCK_SHIFT), entry.lengthBytes() >> BLOCK_SHIFT,
                    entry.lsn());
        } else {
            // A trim of a chunklet that does not exist yet: replay repeats it once the chunklet
            // does, so it counts against the whole chunk, like a delete.
            deleteLsns.put(entry.chunkUid(), entry.lsn());
        }
    }

    private void applyRange(WalEntry entry) throws IOException {
        int type = entry.type();
        int first = (int) (entry.offsetBytes() >> BLOCK_SHIFT);
        int count = entry.lengthBytes() >> BLOCK_SHIFT;
        ByteBuf payload = entry.payload();
        switch (type) {
            case WalRecordFormat.TYPE_WRITE, WalRecordFormat.TYPE_WRITE_PLACED -> {
                if (entry.placed()) {
                    applyPlaced(entry, first, count);
                } else {
                    writeBlocks(entry.chunkUid(), first, count, payload, payload.readerIndex(), entry.lsn(),
                            entry.chunkVersion(), 0, null, 0);
                }
            }
            case WalRecordFormat.TYPE_FILL, WalRecordFormat.TYPE_FILL_PLACED -> {
                placedUnapplied.remove(entry);
                RecoveryWrites.fill(this, entry.chunkUid(), first, count, payload, entry.lsn(),
                        entry.chunkVersion(), entry.placed());
            }
            case WalRecordFormat.TYPE_EC_FILL -> RecoveryWrites.ecFill(this, entry.chunkUid(), first, count, payload,
                    entry.lsn(), entry.chunkVersion());
            case WalRecordFormat.TYPE_REPAIR -> RecoveryWrites.repair(this, entry.chunkUid(), first, payload,
                    entry.lsn());
            case WalRecordFormat.TYPE_EC_PREPARE, WalRecordFormat.TYPE_EC_WRITE, WalRecordFormat.TYPE_EC_RESOLVE -> {
                int sectionAt = payload.readerIndex() + (type == WalRecordFormat.TYPE_EC_RESOLVE ? 0
                        : entry.lengthBytes() + 4 * count);
                EcSection section;
                try {
                    section = EcSection.read(payload, sectionAt, payload.writerIndex() - sectionAt, count);
                } catch (CsException e) {
                    throw new IOException("WAL record " + entry + ": " + e.getMessage(), e);
                }
                settle(entry.chunkUid(), first, count, section, entry.lsn());
                if (type == WalRecordFormat.TYPE_EC_WRITE) {
                    writeBlocks(entry.chunkUid(), first, count, payload, payload.readerIndex(), entry.lsn(),
                            entry.chunkVersion(), section.versionsPerBlock(), section.versions(), 0);
                } else if (type == WalRecordFormat.TYPE_EC_PREPARE) {
                    int blockBytes = entry.lengthBytes() + 4 * count;
                    ByteBuf copy = Unpooled.buffer(blockBytes);
                    copy.writeBytes(payload, payload.readerIndex(), blockBytes);
                    PendingTxn txn = new PendingTxn(entry.lsn(), section.txid(), first, count, copy,
                            section.versionsPerBlock(), section.versions(), section.master());
                    pending.computeIfAbsent(entry.chunkUid(), uid -> new java.util.concurrent.CopyOnWriteArrayList<>())
                            .add(txn);
                }
            }
            default -> {
                Chunklet chunklet = chunklets.get(entry.chunkUid());
                if (chunklet == null) {
                    if (entry.chunkVersion() == 0) {
                        return; // nothing was ever written: already zeroes
                    }
                    // Keep the trim's version even here: on a chunklet being rebuilt it is what stops a
                    // recovery fill from bringing back the data the trim removed (see fill()).
                    chunklet = chunkletForWrite(entry.chunkUid());
                }
                chunklet.lock.writeLock().lock();
                try {
                    punch(chunklet, entry.offsetBytes(), entry.lengthBytes());
                    chunklet.setBlocks(first, count, entry.lsn(), null, entry.chunkVersion());
                } finally {
                    chunklet.lock.writeLock().unlock();
                }
            }
        }
    }

    /**
     * Writes {@code count} blocks at block {@code first}: their data at {@code dataIndex} of {@code src},
     * then one CRC32C per block; with {@code n > 0}, also {@code n} strip versions per block from
     * {@code versions[versionsFrom..]}. Data, metadata and versions change under one write lock.
     */
    void writeBlocks(long chunkUid, int first, int count, ByteBuf src, int dataIndex, long lsn,
            long chunkVersion, int n, long[] versions, int versionsFrom) throws IOException {
        Chunklet chunklet = chunkletForWrite(chunkUid);
        int lengthBytes = count << BLOCK_SHIFT;
        int crcsAt = dataIndex + lengthBytes;
        int[] crcs = new int[count];
        for (int i = 0; i < count; i++) {
            crcs[i] = src.getInt(crcsAt + 4 * i);
        }
        chunklet.lock.writeLock().lock();
        try {
            if (n == 0) {
                writeData(chunklet, first, count, src, dataIndex, lsn, chunkVersion, crcs, 0);
            } else {
                // Erasure-coded strips: a run of all-zero strips (what a trim or write-zeroes of an EC
                // volume sends, and the parity of all-zero stripes) becomes a hole, unwritten in the
                // metadata, so that it frees space; its versions are kept like any strip's.
                boolean[] zero = new boolean[count];
                for (int i = 0; i < count; i++) {
                    zero[i] = isZero(src, dataIndex + (i << BLOCK_SHIFT));
                }
                int runStart = 0;
                for (int i = 1; i <= count; i++) {
                    if (i < count && zero[i] == zero[runStart]) {
                        continue;
                    }
                    if (zero[runStart]) {
                        punch(chunklet, (long) (first + runStart) << BLOCK_SHIFT, (long) (i - runStart) << BLOCK_SHIFT);
                        chunklet.setBlocks(first + runStart, i - runStart, lsn, null, chunkVersion);
                    } else {
                        writeData(chunklet, first + runStart, i - runStart, src, dataIndex + (runStart << BLOCK_SHIFT),
                                lsn, chunkVersion, crcs, runStart);
                    }
                    runStart = i;
                }
                chunklet.setVersions(first, count, n, versions, versionsFrom);
            }
        } finally {
            chunklet.lock.writeLock().unlock();
        }
    }

    /** Writes {@code count} blocks of {@code src} from {@code index} to the chunklet file at block {@code block}. */
    private static void writeAt(Chunklet chunklet, ByteBuf src, int index, int count, int block) throws IOException {
        long position = (long) block << BLOCK_SHIFT;
        for (ByteBuffer part : src.nioBuffers(index, count << BLOCK_SHIFT)) {
            while (part.hasRemaining()) {
                position += chunklet.data.write(part, position);
            }
        }
    }

    /** A placed write's data is in the file already (durable): only its metadata is written. */
    private void applyPlaced(WalEntry entry, int first, int count) throws IOException {
        placedUnapplied.remove(entry);
        Chunklet chunklet = chunkletForWrite(entry.chunkUid());
        ByteBuf payload = entry.payload();
        int crcsAt = entry.crcsIndex();
        int[] crcs = new int[count];
        for (int i = 0; i < count; i++) {
            crcs[i] = payload.getInt(crcsAt + 4 * i);
        }
        chunklet.lock.writeLock().lock();
        try {
            chunklet.setBlocks(first, count, entry.lsn(), crcs, entry.chunkVersion());
        } finally {
            chunklet.lock.writeLock().unlock();
        }
    }

    /** Writes blocks [first, first + count) from {@code src} at {@code dataIndex}; CRCs from crcs[from..]. */
    private static void writeData(Chunklet chunklet, int first, int count, ByteBuf src, int dataIndex, long lsn,
            long chunkVersion, int[] crcs, int from) throws IOException {
        writeAt(chunklet, src, dataIndex, count, first);
        chunklet.setBlocks(first, count, lsn, from == 0 && count == crcs.length ? crcs
                : Arrays.copyOfRange(crcs, from, from + count), chunkVersion);
    }

    /** FILL block kinds (WalRecordFormat.TYPE_FILL) and {@link BlockState} kinds. */
    public static final int FILL_UNTOUCHED = 0;
    public static final int FILL_ZERO = 1;
    public static final int FILL_DATA = 2;
    /** In a FILL only: leave the block as it is (it changed at the source while being copied). */
    public static final int FILL_SKIP = 4;

    /** Whether the 4 KiB block at {@code at} of {@code src} is all zeroes. */
    private static boolean isZero(ByteBuf src, int at) {
        for (int i = 0; i < BLOCK_SIZE_BYTES; i += 8) {
            if (src.getLong(at + i) != 0) {
                return false;
            }
        }
        return true;
    }

    /**
     * Settles the pending strips of blocks [first, first + count) of a chunk as {@code section}'s mode
     * says (EcSection): a committed block is written with the data, CRC and versions its prepare
     * brought, an aborted one is dropped. Runs on the writer thread (and in replay, in the same order).
     */
    private void settle(long chunkUid, int first, int count, EcSection section, long lsn) throws IOException {
        List<PendingTxn> txns = pending.get(chunkUid);
        if (txns == null || section.mode() == EcSection.MODE_NONE || section.peeks()) {
            return;
        }
        for (PendingTxn txn : txns) {
            int from = Math.max(first, txn.firstBlock);
            int to = Math.min(first + count, txn.firstBlock + txn.count);
            if (section.mode() == EcSection.MODE_COMMIT || section.mode() == EcSection.MODE_ABORT) {
                if (txn.txid != section.txid()) {
                    continue;
                }
                // A settle by txid covers the whole transaction on this chunklet.
                from = txn.firstBlock;
                to = txn.firstBlock + txn.count;
            }
            // Committed blocks are written first and only then marked settled: a reader on another
            // thread that finds a block no longer pending must find its data and versions there (seen:
            // a STRIP_READ between the two found neither a pending strip nor versions).
            boolean[] settling = new boolean[Math.max(0, to - from)];
            int runStart = -1;
            for (int block = from; block <= to; block++) {
                boolean commit = false;
                if (block < to && !txn.settled[block - txn.firstBlock]) {
                    commit = switch (section.mode()) {
                        case EcSection.MODE_COMMIT -> true;
                        case EcSection.MODE_BY_DECIDED -> section.decided()[block - first] == txn.txid;
                        default -> false;
                    };
                    // Newest wins, as for a rebuild's strips (RecoveryWrites.ecFill): a block that holds
                    // a later version than the transaction (a rebuild or catch-up wrote it while this
                    // prepare waited, e.g. replayed after a restart) keeps it; committing would put
                    // older data under a parity computed from the newer.
                    commit &= newestVersion(chunkUid, block) < txn.txid;
                    settling[block - from] = true;
                }
                if (commit && runStart < 0) {
                    runStart = block;
                } else if (!commit && runStart >= 0) {
                    writeRun(chunkUid, txn, runStart, block - runStart, lsn);
                    runStart = -1;
                }
            }
            for (int block = from; block < to; block++) {
                if (settling[block - from]) {
                    txn.settled[block - txn.firstBlock] = true;
                    txn.open--;
                }
            }
            if (txn.open == 0) {
                txns.remove(txn);
            }
        }
        if (txns.isEmpty()) {
            pending.remove(chunkUid, txns);
        }
    }

    /** The newest of a block's versions (a data strip's own, a parity strip's largest); 0 when none. */
    long newestVersion(long chunkUid, int block) {
        Chunklet chunklet = chunklets.get(chunkUid);
        if (chunklet == null) {
            return 0;
        }
        long newest = 0;
        chunklet.lock.readLock().lock();
        try {
            for (int j = 0; j < chunklet.versionsPerBlock; j++) {
                newest = Math.max(newest, chunklet.version(block, j));
            }
        } finally {
            chunklet.lock.readLock().unlock();
        }
        return newest;
    }

    /**
     * Settles, without writing, the pending strips of {@code block} whose transaction is not newer than
     * {@code version}, which the block now holds (a rebuild's strip, RecoveryWrites.ecFill): whatever
     * their masters decided, they are superseded, and the block serves reads again at once.
     */
    void supersedePending(long chunkUid, int block, long version) {
        List<PendingTxn> txns = pending.get(chunkUid);
        if (txns == null) {
            return;
        }
        for (PendingTxn txn : txns) {
            int at = block - txn.firstBlock;
            if (at >= 0 && at < txn.count && !txn.settled[at] && txn.txid <= version) {
                txn.settled[at] = true;
                if (--txn.open == 0) {
                    txns.remove(txn);
                }
            }
        }
        if (txns.isEmpty()) {
            pending.remove(chunkUid, txns);
        }
    }

    /** Writes committed blocks [block, block + count) of a pending transaction. */
    private void writeRun(long chunkUid, PendingTxn txn, int block, int count, long lsn) throws IOException {
        int skip = block - txn.firstBlock;
        ByteBuf run = Unpooled.buffer((count << BLOCK_SHIFT) + 4 * count);
        run.writeBytes(txn.blocks, skip << BLOCK_SHIFT, count << BLOCK_SHIFT);
        run.writeBytes(txn.blocks, (txn.count << BLOCK_SHIFT) + 4 * skip, 4 * count);
        writeBlocks(chunkUid, block, count, run, 0, lsn, 0, txn.versionsPerBlock, txn.versions,
                skip * txn.versionsPerBlock);
    }

    /** A prepared, undecided EC transaction on one chunklet: its data lives here and in its WAL record. */
    private static final class PendingTxn {
        final long lsn;
        final long txid;
        final int firstBlock;
        final int count;
        /** Data then one CRC32C per block. */
        final ByteBuf blocks;
        final int versionsPerBlock;
        final long[] versions;
        final String master;
        final boolean[] settled;
        /** When it became pending here (System.nanoTime: at the prepare, or at replay after a restart). */
        final long sinceNanos = System.nanoTime();
        int open;

        PendingTxn(long lsn, long txid, int firstBlock, int count, ByteBuf blocks, int versionsPerBlock,
                long[] versions, String master) {
            this.lsn = lsn;
            this.txid = txid;
            this.firstBlock = firstBlock;
            this.count = count;
            this.blocks = blocks;
            this.versionsPerBlock = versionsPerBlock;
            this.versions = versions;
            this.master = master;
            this.settled = new boolean[count];
            this.open = count;
        }

        boolean pendingIn(int first, int count) {
            int from = Math.max(first, firstBlock);
            int to = Math.min(first + count, firstBlock + this.count);
            for (int block = from; block < to; block++) {
                if (!settled[block - firstBlock]) {
                    return true;
                }
            }
            return false;
        }
    }

    /** True when a strip of blocks [first, first + count) was prepared and not yet decided. */
    public boolean hasPending(long chunkUid, long offsetBytes, int lengthBytes) {
        List<PendingTxn> txns = pending.get(chunkUid);
        if (txns == null) {
            return false;
        }
        int first = (int) (offsetBytes >> BLOCK_SHIFT);
        int count = lengthBytes >> BLOCK_SHIFT;
        for (PendingTxn txn : txns) {
            if (txn.pendingIn(first, count)) {
                return true;
            }
        }
        return false;
    }

    /** One block's pending strip: its transaction version, the master that prepared it, its versions. */
    public record PendingStrip(int block, long txid, String master, long[] versions) {}

    /** A pending transaction of one chunklet: its still-pending blocks and how long it has waited. */
    public record PendingTxnInfo(long chunkUid, long txid, String master, int firstBlock, int count,
            int versionsPerBlock, long[] versions, boolean[] open, long pendingNanos) {}

    /** Every transaction pending here for at least {@code minNanos}. */
    public List<PendingTxnInfo> pendingTxns(long minNanos) {
        long now = System.nanoTime();
        List<PendingTxnInfo> out = new java.util.ArrayList<>();
        pending.forEach((chunkUid, txns) -> {
            for (PendingTxn txn : txns) {
                if (now - txn.sinceNanos < minNanos) {
                    continue;
                }
                boolean[] open = new boolean[txn.count];
                for (int i = 0; i < txn.count; i++) {
                    open[i] = !txn.settled[i];
                }
                out.add(new PendingTxnInfo(chunkUid, txn.txid, txn.master, txn.firstBlock, txn.count,
                        txn.versionsPerBlock, txn.versions, open, now - txn.sinceNanos));
            }
        });
        return out;
    }

    /** The pending (prepared, undecided) strips among blocks [offset, offset + length) of a chunk. */
    public List<PendingStrip> pendingStrips(long chunkUid, long offsetBytes, int lengthBytes) {
        List<PendingTxn> txns = pending.get(chunkUid);
        if (txns == null) {
            return List.of();
        }
        int first = (int) (offsetBytes >> BLOCK_SHIFT);
        int count = lengthBytes >> BLOCK_SHIFT;
        List<PendingStrip> strips = new java.util.ArrayList<>();
        for (PendingTxn txn : txns) {
            int n = txn.versionsPerBlock;
            for (int block = Math.max(first, txn.firstBlock); block < Math.min(first + count, txn.firstBlock + txn.count);
                    block++) {
                int at = block - txn.firstBlock;
                if (!txn.settled[at]) {
                    strips.add(new PendingStrip(block, txn.txid, txn.master,
                            Arrays.copyOfRange(txn.versions, at * n, (at + 1) * n)));
                }
            }
        }
        return strips;
    }

    @Override
    public long retainFromLsn() {
        long lowest = Long.MAX_VALUE;
        for (List<PendingTxn> txns : pending.values()) {
            for (PendingTxn txn : txns) {
                lowest = Math.min(lowest, txn.lsn);
            }
        }
        return lowest;
    }

    /** Strip versions of blocks [first, first + count): {@code n} per block ({@code n} 0: none kept). */
    public record StripVersions(int n, long[] versions) {}

    public StripVersions versions(long chunkUid, long offsetBytes, int lengthBytes) {
        Chunklet chunklet = chunklets.get(chunkUid);
        if (chunklet == null) {
            return new StripVersions(0, new long[0]);
        }
        int first = (int) (offsetBytes >> BLOCK_SHIFT);
        int count = lengthBytes >> BLOCK_SHIFT;
        chunklet.lock.readLock().lock();
        try {
            int n = chunklet.deleted ? 0 : chunklet.versionsPerBlock;
            long[] out = new long[n * count];
            for (int i = 0; i < count; i++) {
                for (int j = 0; j < n; j++) {
                    out[i * n + j] = chunklet.version(first + i, j);
                }
            }
            return new StripVersions(n, out);
        } finally {
            chunklet.lock.readLock().unlock();
        }
    }

    /**
     * Removes a chunklet's files. Out of the map first, so new reads see no chunklet (zeroes);
     * a read that already holds it waits for the write lock and then sees {@code deleted}. The
     * unlink is made durable by the next checkpoint's directory sync; until then the WAL record
     * is replayed, which deletes again (or finds nothing).
     */
    private void delete(long chunkUid) throws IOException {
        Chunklet chunklet = chunklets.remove(chunkUid);
        if (chunklet == null) {
            return; // never written here, or already deleted (replay)
        }
        chunklet.lock.writeLock().lock();
        try {
            chunklet.deleted = true;
            chunklet.close();
            Files.deleteIfExists(chunklet.dataPath);
            Files.deleteIfExists(chunklet.metaPath);
            Files.deleteIfExists(chunklet.versionsPath);
        } finally {
            chunklet.lock.writeLock().unlock();
        }
        log.info("chunklet {} deleted", Chunklet.fileStem(chunkUid));
    }

    void punch(Chunklet chunklet, long offsetBytes, long lengthBytes) throws IOException {
        if (punchHoles) {
            try {
                LinuxFiles.fallocate(chunklet.dataFd, LinuxFiles.FALLOC_FL_PUNCH_HOLE | LinuxFiles.FALLOC_FL_KEEP_SIZE,
                        offsetBytes, lengthBytes, chunklet.dataPath.toString());
                return;
            } catch (IOException e) {
                if (!LinuxFiles.isUnsupported(e)) {
                    throw e;
                }
            }
        }
        // No hole punching here: the metadata says "unwritten", which is what reads go by.
    }

    @Override
    public void checkpoint() throws IOException {
        for (Chunklet chunklet : chunklets.values()) {
            if (chunklet.dirty) {
                chunklet.force();
            }
        }
        try (FileChannel directory = FileChannel.open(dir, StandardOpenOption.READ)) {
            directory.force(true);
        }
    }

    // ---- reads (reader threads) ---------------------------------------------------------------

    /**
     * Reads [offset, offset + length) of chunk {@code chunkUid} and appends to {@code out} the data then
     * one big-endian CRC32C per block (the wire layout). {@code out} must have room for
     * {@code length + 4 * blocks} bytes; on error nothing is guaranteed about what was appended.
     */
    public void read(long chunkUid, long offsetBytes, int lengthBytes, ByteBuf out) throws CsException {
        read(chunkUid, offsetBytes, lengthBytes, out, false);
    }

    /**
     * {@link #read} without blocking: served from the page cache (preadv2 RWF_NOWAIT) or from the
     * block metadata alone (never-written blocks). Returns false, with nothing appended, when some
     * of the data is not cached, the chunklet is being written (its lock is taken), or the platform
     * cannot tell; the caller then reads on a reader thread. Lets the event loop answer hot reads
     * without two thread hand-offs. {@code out} must be a direct buffer with one NIO buffer.
     */
    public boolean readCached(long chunkUid, long offsetBytes, int lengthBytes, ByteBuf out) throws CsException {
        return LinuxFiles.available() && read(chunkUid, offsetBytes, lengthBytes, out, true);
    }

    private boolean read(long chunkUid, long offsetBytes, int lengthBytes, ByteBuf out, boolean cachedOnly)
            throws CsException {
        checkRange(offsetBytes, lengthBytes);
        int first = (int) (offsetBytes >> BLOCK_SHIFT);
        int count = lengthBytes >> BLOCK_SHIFT;
        Chunklet chunklet = chunklets.get(chunkUid);
        int dataAt = out.writerIndex();
        if (chunklet == null) {
            appendZeroes(out, first, count);
            return true;
        }
        if (cachedOnly) {
            if (!chunklet.lock.readLock().tryLock()) {
                return false;
            }
        } else {
            chunklet.lock.readLock().lock();
        }
        try {
            if (chunklet.deleted) {
                appendZeroes(out, first, count);
                return true;
            }
            boolean anyWritten = false;
            for (int i = first; i < first + count; i++) {
                if (chunklet.lsn(i) != 0) {
                    anyWritten = true;
                    break;
                }
            }
            if (!anyWritten) {
                appendZeroes(out, first, count); // thin: no disk I/O
                return true;
            }
            out.ensureWritable(lengthBytes + 4 * count);
            int read = 0;
            if (cachedOnly) {
                MemorySegment target = MemorySegment.ofBuffer(out.nioBuffer(dataAt, lengthBytes));
                if (LinuxFiles.readIfCached(chunklet.dataFd, target, offsetBytes) != lengthBytes) {
                    return false; // not all cached (or past the end of the file): read it on a reader
                }
                read = lengthBytes;
            }
            while (read < lengthBytes) {
                int n = out.setBytes(dataAt + read, chunklet.data, offsetBytes + read, lengthBytes - read);
                if (n < 0) {
                    break; // end of file: the rest is a hole
                }
                read += n;
            }
            if (read < lengthBytes) {
                out.setZero(dataAt + read, lengthBytes - read);
            }
            out.writerIndex(dataAt + lengthBytes);
            ByteBuffer view = BlockCrc.blocksView(out, dataAt, count);
            for (int i = 0; i < count; i++) {
                int block = first + i;
                long lsn = chunklet.lsn(block);
                int blockAt = dataAt + (i << BLOCK_SHIFT);
                long blockOffset = (long) block << BLOCK_SHIFT;
                if (lsn == 0) {
                    out.setZero(blockAt, BLOCK_SIZE_BYTES);
                    out.writeInt(BlockCrc.ZERO_BLOCK_CRC);
                } else if (lsn < 0) {
                    listener.corruptBlock(chunkUid, blockOffset);
                    throw new CsException(CsStatus.CORRUPT_BLOCK, "corrupt block: chunklet " + Chunklet.fileStem(chunkUid)
                            + " offset " + blockOffset + ": its metadata entry is damaged");
                } else {
                    int stored = chunklet.blockCrcs[block];
                    int computed = BlockCrc.ofBlock(view, out, dataAt, i);
                    if (stored != computed) {
                        listener.corruptBlock(chunkUid, blockOffset);
                        log.warn("corrupt block: chunklet {} offset {}: stored crc32c {} computed {}",
                                Chunklet.fileStem(chunkUid), blockOffset, Integer.toHexString(stored),
                                Integer.toHexString(computed));
                        throw new CsException(CsStatus.CORRUPT_BLOCK, "corrupt block: chunklet "
                                + Chunklet.fileStem(chunkUid) + " offset " + blockOffset + ": stored crc32c "
                                + Integer.toHexString(stored) + ", data has " + Integer.toHexString(computed));
                    }
                    out.writeInt(stored);
                }
            }
            return true;
        } catch (IOException e) {
            throw new CsException(CsStatus.IO_ERROR, "reading chunklet " + Chunklet.fileStem(chunkUid) + " at "
                    + offsetBytes + ": " + e.getMessage(), e);
        } finally {
            chunklet.lock.readLock().unlock();
        }
    }

    private static void appendZeroes(ByteBuf out, int first, int count) {
        out.writeZero(count << BLOCK_SHIFT);
        for (int i = 0; i < count; i++) {
            out.writeInt(BlockCrc.ZERO_BLOCK_CRC);
        }
    }

    /** The chunklet of {@code chunkUid} if this server holds one (scrub, recovery), else null. */
    Chunklet chunklet(long chunkUid) {
        return chunklets.get(chunkUid);
    }

    /** The data file of chunklet {@code chunkUid} (it may not exist): for tools and fault tests. */
    public Path chunkletDataPath(long chunkUid) {
        return dir.resolve(Chunklet.fileStem(chunkUid) + ".data");
    }

    /** Uids of every chunklet held here, in order (the scrubber's walk). */
    public java.util.SortedSet<Long> chunkletUids() {
        return new java.util.TreeSet<>(chunklets.keySet());
    }

    Listener listener() {
        return listener;
    }

    /** Block map kind of a block whose metadata entry is damaged (never copied from here). */
    public static final int BLOCK_CORRUPT = 3;

    /**
     * Appends the block map of [offset, offset + length) of a chunklet: per block u8 kind
     * ({@link #FILL_UNTOUCHED}, {@link #FILL_ZERO}, {@link #FILL_DATA}, {@link #BLOCK_CORRUPT}), u64
     * block version, u32 CRC32C (the BLOCK_MAP reply and the FILL record's section; 13 bytes a block).
     * Metadata only: no data is read.
     */
    public void blockMap(long chunkUid, long offsetBytes, int lengthBytes, ByteBuf out) throws CsException {
        blockMap(chunkUid, offsetBytes, lengthBytes, out, null);
    }

    /**
     * As {@link #blockMap(long, long, int, ByteBuf)}, and each block's LSN into {@code lsns} (when not
     * null) under the same lock: the scrubber's repairs are guarded by the LSN it saw with the entry.
     */
    public void blockMap(long chunkUid, long offsetBytes, int lengthBytes, ByteBuf out, long[] lsns)
            throws CsException {
        checkRange(offsetBytes, lengthBytes);
        int first = (int) (offsetBytes >> BLOCK_SHIFT);
        int count = lengthBytes >> BLOCK_SHIFT;
        Chunklet chunklet = chunklets.get(chunkUid);
        if (chunklet == null) {
            out.writeZero(count * WalRecordFormat.FILL_BLOCK_BYTES);
            return;
        }
        chunklet.lock.readLock().lock();
        try {
            for (int block = first; block < first + count; block++) {
                long lsn = chunklet.deleted ? 0 : chunklet.lsn(block);
                long version = chunklet.deleted ? 0 : chunklet.blockVersion(block);
                if (lsns != null) {
                    lsns[block - first] = lsn;
                }
                int kind = lsn < 0 ? BLOCK_CORRUPT : lsn > 0 ? FILL_DATA : version > 0 ? FILL_ZERO : FILL_UNTOUCHED;
                out.writeByte(kind);
                out.writeLong(version);
                out.writeInt(kind == FILL_DATA ? chunklet.blockCrc(block) : 0);
            }
        } finally {
            chunklet.lock.readLock().unlock();
        }
    }

    /** What {@code get chunklet info} answers. */
    /** {@code contentDigest}: Chunklet.contentDigest, equal on replicas that read the same (0: nothing held). */
    public record ChunkletInfo(boolean exists, long writtenBlocks, long allocatedBytes, long lastLsn,
                               long contentDigest) {}

    public ChunkletInfo info(long chunkUid) {
        Chunklet chunklet = chunklets.get(chunkUid);
        if (chunklet == null) {
            return new ChunkletInfo(false, 0, 0, 0, 0);
        }
        chunklet.lock.readLock().lock();
        try {
            if (chunklet.deleted) {
                return new ChunkletInfo(false, 0, 0, 0, 0);
            }
            long lastLsn = 0;
            for (long lsn : chunklet.lsns) {
                lastLsn = Math.max(lastLsn, lsn);
            }
            return new ChunkletInfo(true, chunklet.writtenBlocks, chunklet.allocatedBytes(), lastLsn,
                    chunklet.contentDigest);
        } finally {
            chunklet.lock.readLock().unlock();
        }
    }

    /** Bytes of data held: written (not trimmed) blocks, as reported to meta. */
    public long usedBytes() {
        long used = 0;
        for (Chunklet chunklet : chunklets.values()) {
            used += chunklet.allocatedBytes();
        }
        return used;
    }

    public int chunkletCount() {
        return chunklets.size();
    }

    @Override
    public void close() throws IOException {
        IOException first = null;
        for (Chunklet chunklet : chunklets.values()) {
            try {
                chunklet.close();
            } catch (IOException e) {
                if (first == null) {
                    first = e;
                }
            }
        }
        chunklets.clear();
        if (first != null) {
            throw first;
        }
    }
}
