package io.basalt.chunkserver.hot;

import static io.basalt.protocol.data.BlockCrc.BLOCK_SHIFT;
import static io.basalt.protocol.data.BlockCrc.BLOCK_SIZE_BYTES;

import io.basalt.chunkserver.wal.WalEntry;
import io.basalt.chunkserver.wal.WalRecordFormat;
import io.basalt.chunkserver.wal.WalSink;
import io.basalt.common.io.DurableFiles;
import io.basalt.protocol.data.BlockCrc;
import io.basalt.protocol.data.CsException;
import io.basalt.protocol.data.CsStatus;
import io.netty.buffer.ByteBuf;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The chunk server's hot store (docs/hot-tier.md): small writes of erasure-coded chunks kept as
 * replicas, redirect-on-write, in 4 KiB slots of one file ({@code hot.data}), bounded in size.
 *
 * <p>Design note. The extent map (chunk, chunk-logical block) → (slot, seq, CRC32C) lives in memory.
 * It is made durable through the chunk server's WAL, whose records it applies as a {@link WalSink}
 * (beside the chunklet store, see {@link TieredSink}): HOT_WRITE carries the data, the CRCs, the seq
 * and the slot of every block; HOT_FREE drops entries up to a seq; DELETE_CHUNKLET drops a chunk's.
 * Slots are chosen at {@link #prepare} on the WAL writer thread, in log order, and written into the
 * record, so replay repeats the placement exactly and needs no allocator. A write only ever goes
 * into a free slot (redirect-on-write), so no reader can see a slot half rewritten: the map points
 * at the new slot only after its data is in place, and the old slot is freed in the same step.
 * At each WAL checkpoint {@code hot.data} is forced and the map written whole to {@code hot.map}
 * ({@link HotMapFormat}, atomic replace) with the LSN of the last record applied; replay loads it and
 * applies only later records (the WAL checkpoint may lag the map's LSN: it stops short of pending
 * EC prepares, and a repeated HOT_WRITE could write into a slot reused since).
 *
 * <p>Newest wins: a HOT_WRITE whose seq is not above a block's current seq leaves that block as it
 * is (a reordered or repeated write), so every replica ends with the highest seq it received,
 * whatever the arrival order.
 *
 * <p>Threads: {@link #prepare}, {@link #apply}, {@link #batchEnded} and {@link #checkpoint} run on
 * the WAL writer thread (or replay, before it starts), which alone changes the map and the
 * allocator. Readers take {@link #lock}'s read lock for the lookup and the pread together; the
 * writer takes the write lock to change the map, so a slot a reader found is not reused under it.
 */
public final class HotStore implements WalSink, AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(HotStore.class);
    static final String DATA_FILE = "hot.data";
    static final String MAP_FILE = "hot.map";
    /**
     * Block keys: a data column keys its hot blocks by their chunklet block (so a plain READ of its
     * chunklet range finds them directly); a parity column, which holds blocks of every column of the
     * stripe, by this base plus the chunk-logical block. The base lies above any chunklet block, so the
     * two key spaces never meet, whatever role a chunk server has.
     */
    public static final long PARITY_KEY_BASE = 1L << 40;
    /** Slot numbers are u32 in the records; bound the count well inside a Java int. */
    static final long SLOTS_MAX = 1L << 30;
    /** Largest capacity a hot store takes (SLOTS_MAX slots of 4 KiB: 4 TiB). */
    public static final long CAPACITY_MAX_BYTES = SLOTS_MAX << BLOCK_SHIFT;

    /** A map entry. Immutable: a new write makes a new one. */
    record Slot(int slot, long seq, int crc) {}

    /** What a read found: the block's seq and CRC (its data was appended to the caller's buffer). */
    public record HotBlock(long seq, int crc) {}

    private final Path dir;
    private final FileChannel data;
    private final int slotsMax;
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    /** chunkUid → block → slot. Writer thread changes it under the write lock. */
    private final Map<Long, NavigableMap<Long, Slot>> map = new HashMap<>();
    /** Slots in use or reserved by a prepared entry. Writer thread only. */
    private final BitSet used = new BitSet();
    /** Lowest slot that may be free (allocation is lowest free first, keeping hot.data compact). */
    private int freeHint;
    private volatile int usedSlots;
    /** HOT_WRITEs refused for want of room (each went to the stripes instead). */
    private final AtomicLong fullRefusals = new AtomicLong();
    /** The WAL writer thread said the store is full and has not yet said it has room again. */
    private boolean fullLogged;
    /** Slots reserved by prepared entries not applied yet: given back at the batch's end. */
    private final Map<WalEntry, int[]> reserved = new IdentityHashMap<>();
    /** Hot records with an LSN at or below this are in the map already (loaded from hot.map). */
    private final long loadedLsn;
    private long appliedLsn;
    private long snapshotLsn;
    private boolean dirty;
    private final AtomicLong corruptBlocks = new AtomicLong();

    private HotStore(Path dir, FileChannel data, int slotsMax, long loadedLsn) {
        this.dir = dir;
        this.data = data;
        this.slotsMax = slotsMax;
        this.loadedLsn = loadedLsn;
        this.appliedLsn = loadedLsn;
        this.snapshotLsn = loadedLsn;
    }

    /**
     * Opens (creating it if needed) the hot store in {@code dir} with room for
     * {@code capacityBytes} of hot data, and loads its map. Entries in slots beyond a capacity that
     * was larger before stay until they are freed; no new block goes there.
     */
    public static HotStore open(Path dir, long capacityBytes) throws IOException {
        long slots = capacityBytes >> BLOCK_SHIFT;
        if (slots < 1 || slots > SLOTS_MAX) {
            throw new IllegalArgumentException("hot store capacity " + capacityBytes + " bytes: must be 4096 to "
                    + (SLOTS_MAX << BLOCK_SHIFT));
        }
        Files.createDirectories(dir);
        FileChannel data = FileChannel.open(dir.resolve(DATA_FILE), StandardOpenOption.CREATE,
                StandardOpenOption.READ, StandardOpenOption.WRITE);
        try {
            Path mapFile = dir.resolve(MAP_FILE);
            HotMapFormat.Snapshot snapshot = Files.exists(mapFile)
                    ? HotMapFormat.decode(ByteBuffer.wrap(Files.readAllBytes(mapFile)), mapFile)
                    : new HotMapFormat.Snapshot(0, List.of());
            HotStore store = new HotStore(dir, data, (int) slots, snapshot.lsn());
            for (HotMapFormat.Entry entry : snapshot.entries()) {
                if (entry.slot() < 0 || store.used.get(entry.slot())) {
                    throw new IOException("hot map " + mapFile + " gives slot " + entry.slot()
                            + " twice or out of range (chunk " + Long.toHexString(entry.chunkUid()) + " block "
                            + entry.block() + "): damaged");
                }
                Slot previous = store.chunk(entry.chunkUid()).put(entry.block(),
                        new Slot(entry.slot(), entry.seq(), entry.crc()));
                if (previous != null) {
                    throw new IOException("hot map " + mapFile + " lists chunk " + Long.toHexString(entry.chunkUid())
                            + " block " + entry.block() + " twice: damaged");
                }
                store.used.set(entry.slot());
            }
            store.usedSlots = store.used.cardinality();
            return store;
        } catch (IOException | RuntimeException e) {
            data.close();
            throw e;
        }
    }

    private NavigableMap<Long, Slot> chunk(long chunkUid) {
        return map.computeIfAbsent(chunkUid, uid -> new TreeMap<>());
    }

    // ---- WAL writer thread -----------------------------------------------------------------------

    /**
     * Checks a HOT_WRITE's form and reserves a free slot for each of its blocks, written into the
     * payload's hot section (so the record carries them).
     *
     * @throws CsException HOT_FULL when the store has fewer free slots than blocks (nothing reserved);
     *     INVALID for a malformed payload
     */
    @Override
    public void prepare(WalEntry entry) throws CsException {
        if (entry.type() != WalRecordFormat.TYPE_HOT_WRITE) {
            if (entry.type() == WalRecordFormat.TYPE_HOT_FREE) {
                checkFree(entry);
            }
            return; // frees need nothing; DELETE_CHUNKLET frees
        }
        int blocks = checkWrite(entry);
        if (usedSlots + blocks > slotsMax) {
            fullRefusals.incrementAndGet();
            if (!fullLogged) {
                // Once per filling (until it drains below 3/4): under a flood this is every write.
                fullLogged = true;
                LOG.warn("hot store {} full ({} of {} slots): small writes go to the erasure-coded stripes until"
                        + " the freezer frees room (--hot-capacity sizes it)", dir, usedSlots, slotsMax);
            }
            throw new CsException(CsStatus.HOT_FULL, "hot store full: " + usedSlots + " of " + slotsMax
                    + " slots used, a write of " + blocks + " blocks refused (write it to the erasure-coded stripes)");
        }
        if (fullLogged && usedSlots + blocks <= slotsMax / 4 * 3) {
            fullLogged = false;
            LOG.info("hot store {} has room again ({} of {} slots used); {} writes went to the stripes while it was"
                    + " full (since start)", dir, usedSlots, slotsMax, fullRefusals.get());
        }
        int[] slots = new int[blocks];
        for (int i = 0; i < blocks; i++) {
            int slot = used.nextClearBit(freeHint);
            if (slot >= slotsMax) {
                slot = used.nextClearBit(0); // below the hint after a capacity change
            }
            used.set(slot);
            freeHint = slot + 1;
            slots[i] = slot;
        }
        usedSlots += blocks;
        reserved.put(entry, slots);
        ByteBuf payload = entry.payload();
        int slotsAt = payload.readerIndex() + blocks * (BLOCK_SIZE_BYTES + 4) + WalRecordFormat.HOT_SECTION_BYTES;
        for (int i = 0; i < blocks; i++) {
            payload.setInt(slotsAt + 4 * i, slots[i]);
        }
    }

    /** The number of blocks of a well-formed HOT_WRITE. */
    private static int checkWrite(WalEntry entry) throws CsException {
        if (entry.lengthBytes() <= 0 || (entry.lengthBytes() & (BLOCK_SIZE_BYTES - 1)) != 0
                || (entry.offsetBytes() & (BLOCK_SIZE_BYTES - 1)) != 0 || entry.offsetBytes() < 0) {
            throw new CsException(CsStatus.INVALID, "hot write range " + entry.offsetBytes() + "+"
                    + entry.lengthBytes() + " is not whole 4 KiB blocks");
        }
        int blocks = entry.lengthBytes() >> BLOCK_SHIFT;
        ByteBuf payload = entry.payload();
        int expected = blocks * (BLOCK_SIZE_BYTES + 4) + WalRecordFormat.HOT_SECTION_BYTES + 4 * blocks;
        if (payload.readableBytes() != expected) {
            throw new CsException(CsStatus.INVALID, "hot write payload " + payload.readableBytes()
                    + " bytes, expected " + expected + " for " + blocks + " blocks");
        }
        checkSectionVersion(payload.getByte(payload.readerIndex() + blocks * (BLOCK_SIZE_BYTES + 4)));
        return blocks;
    }

    private static void checkFree(WalEntry entry) throws CsException {
        if (entry.payload().readableBytes() != WalRecordFormat.HOT_SECTION_BYTES) {
            throw new CsException(CsStatus.INVALID, "hot free payload " + entry.payload().readableBytes()
                    + " bytes, expected " + WalRecordFormat.HOT_SECTION_BYTES);
        }
        checkSectionVersion(entry.payload().getByte(entry.payload().readerIndex()));
    }

    private static void checkSectionVersion(byte version) throws CsException {
        if ((version & 0xff) != WalRecordFormat.HOT_FORMAT_VERSION) {
            throw new CsException(CsStatus.INVALID, "hot section format version " + (version & 0xff)
                    + "; this build knows " + WalRecordFormat.HOT_FORMAT_VERSION);
        }
    }

    @Override
    public void batchEnded() {
        // Entries prepared but never logged (the WAL failed them): their slots go back.
        for (int[] slots : reserved.values()) {
            for (int slot : slots) {
                release(slot);
            }
        }
        reserved.clear();
    }

    private void release(int slot) {
        assert used.get(slot) : "slot " + slot + " released twice";
        used.clear(slot);
        usedSlots--;
        freeHint = Math.min(freeHint, slot);
    }

    @Override
    public void apply(WalEntry entry) throws IOException {
        if (entry.lsn() != 0 && entry.lsn() <= loadedLsn) {
            return; // replay: hot.map already holds it (see the class note)
        }
        try {
            switch (entry.type()) {
                case WalRecordFormat.TYPE_HOT_WRITE -> applyWrite(entry);
                case WalRecordFormat.TYPE_HOT_FREE -> applyFree(entry);
                case WalRecordFormat.TYPE_DELETE_CHUNKLET -> applyDelete(entry.chunkUid());
                default -> throw new IllegalArgumentException("the hot store does not apply "
                        + WalRecordFormat.typeName(entry.type()));
            }
        } catch (CsException e) {
            // Checked at prepare; a logged record that fails it now is damage the record CRC missed.
            throw new IOException("hot store cannot apply " + entry + ": " + e.getMessage(), e);
        }
        appliedLsn = Math.max(appliedLsn, entry.lsn());
        dirty = true;
    }

    private void applyWrite(WalEntry entry) throws IOException, CsException {
        int blocks = checkWrite(entry);
        int[] slots = reserved.remove(entry);
        ByteBuf payload = entry.payload();
        int base = payload.readerIndex();
        int sectionAt = base + blocks * (BLOCK_SIZE_BYTES + 4);
        long seq = payload.getLong(sectionAt + 4);
        if (slots == null) {
            // Replay: the slots come from the record, and are free in the replayed state.
            slots = new int[blocks];
            for (int i = 0; i < blocks; i++) {
                int slot = payload.getInt(sectionAt + WalRecordFormat.HOT_SECTION_BYTES + 4 * i);
                if (slot < 0 || used.get(slot)) {
                    throw new IOException("hot record " + entry + " names slot " + slot + ", which is in use");
                }
                used.set(slot);
                usedSlots++;
                slots[i] = slot;
            }
        }
        long firstBlock = entry.offsetBytes() >> BLOCK_SHIFT;
        // Reads of the map here need no lock (this thread alone changes it); changes take the write lock.
        NavigableMap<Long, Slot> existing = map.get(entry.chunkUid());
        // Data first, into free slots no reader can reach; then the map, under the write lock.
        boolean[] take = new boolean[blocks];
        for (int i = 0; i < blocks; i++) {
            Slot current = existing == null ? null : existing.get(firstBlock + i);
            take[i] = current == null || current.seq() < seq;
            if (take[i]) {
                ByteBuffer block = payload.nioBuffer(base + i * BLOCK_SIZE_BYTES, BLOCK_SIZE_BYTES);
                long position = (long) slots[i] << BLOCK_SHIFT;
                while (block.hasRemaining()) {
                    position += data.write(block, position);
                }
            }
        }
        lock.writeLock().lock();
        try {
            NavigableMap<Long, Slot> blocksOfChunk = chunk(entry.chunkUid());
            for (int i = 0; i < blocks; i++) {
                if (!take[i]) {
                    release(slots[i]); // an older write than the block holds: newest wins
                    continue;
                }
                int crc = payload.getInt(base + blocks * BLOCK_SIZE_BYTES + 4 * i);
                Slot previous = blocksOfChunk.put(firstBlock + i, new Slot(slots[i], seq, crc));
                if (previous != null) {
                    release(previous.slot());
                }
            }
            if (blocksOfChunk.isEmpty()) {
                map.remove(entry.chunkUid());
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    private void applyFree(WalEntry entry) throws CsException {
        checkFree(entry);
        long seqMax = entry.payload().getLong(entry.payload().readerIndex() + 4);
        NavigableMap<Long, Slot> blocksOfChunk = map.get(entry.chunkUid());
        if (blocksOfChunk == null) {
            return;
        }
        long first = entry.offsetBytes() >> BLOCK_SHIFT;
        long end = first + (entry.lengthBytes() >> BLOCK_SHIFT);
        lock.writeLock().lock();
        try {
            var range = blocksOfChunk.subMap(first, true, end, false).entrySet().iterator();
            while (range.hasNext()) {
                Slot slot = range.next().getValue();
                if (slot.seq() <= seqMax) {
                    range.remove();
                    release(slot.slot());
                }
            }
            if (blocksOfChunk.isEmpty()) {
                map.remove(entry.chunkUid());
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    private void applyDelete(long chunkUid) {
        lock.writeLock().lock();
        try {
            NavigableMap<Long, Slot> blocksOfChunk = map.remove(chunkUid);
            if (blocksOfChunk != null) {
                for (Slot slot : blocksOfChunk.values()) {
                    release(slot.slot());
                }
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    /**
     * Forces the slots' data, then replaces {@code hot.map} with the map as of the last record
     * applied. Nothing to do when no hot record was applied since the last one.
     */
    @Override
    public void checkpoint() throws IOException {
        if (!dirty) {
            return;
        }
        data.force(false);
        List<HotMapFormat.Entry> entries = new ArrayList<>(usedSlots);
        for (Map.Entry<Long, NavigableMap<Long, Slot>> chunk : map.entrySet()) {
            for (Map.Entry<Long, Slot> block : chunk.getValue().entrySet()) {
                Slot slot = block.getValue();
                entries.add(new HotMapFormat.Entry(chunk.getKey(), block.getKey(), slot.slot(), slot.seq(), slot.crc()));
            }
        }
        DurableFiles.replaceAtomically(dir.resolve(MAP_FILE), HotMapFormat.encode(appliedLsn, entries));
        snapshotLsn = appliedLsn;
        dirty = false;
    }

    // ---- readers (any thread) --------------------------------------------------------------------

    /**
     * Appends the 4096 bytes of hot block {@code block} of chunk {@code chunkUid} to {@code out} and
     * returns its seq and CRC, or returns null (nothing appended) when the block is not hot here.
     *
     * @throws CsException CORRUPT_BLOCK when the data read does not match its CRC32C (nothing is
     *     appended); IO_ERROR when the read fails
     */
    public HotBlock read(long chunkUid, long block, ByteBuf out) throws CsException {
        int at = out.writerIndex();
        out.ensureWritable(BLOCK_SIZE_BYTES);
        HotBlock found = readInto(chunkUid, block, -1, out, at);
        if (found != null) {
            out.writerIndex(at + BLOCK_SIZE_BYTES);
        }
        return found;
    }

    /**
     * If hot block {@code block} of chunk {@code chunkUid} is here with a seq above
     * {@code coldVersion}, writes its 4096 bytes at {@code out[index]} (writerIndex unchanged) and
     * returns its seq and CRC; else returns null and leaves {@code out} alone. Lookup and read happen
     * under one read lock, so the slot cannot be reused in between.
     *
     * @throws CsException CORRUPT_BLOCK when the data read does not match its CRC32C; IO_ERROR when
     *     the read fails (the 4096 bytes at index are then undefined)
     */
    public HotBlock readInto(long chunkUid, long block, long coldVersion, ByteBuf out, int index) throws CsException {
        lock.readLock().lock();
        try {
            NavigableMap<Long, Slot> blocksOfChunk = map.get(chunkUid);
            Slot slot = blocksOfChunk == null ? null : blocksOfChunk.get(block);
            if (slot == null || slot.seq() <= coldVersion) {
                return null;
            }
            ByteBuffer target = out.nioBuffer(index, BLOCK_SIZE_BYTES);
            long position = (long) slot.slot() << BLOCK_SHIFT;
            while (target.hasRemaining()) {
                if (data.read(target, position + target.position()) < 0) {
                    break; // past the end of hot.data: only a slot whose data never reached the file
                }
            }
            if (target.hasRemaining()) {
                out.setZero(index + target.position(), target.remaining());
            }
            int crc = BlockCrc.of(out, index, BLOCK_SIZE_BYTES);
            if (crc != slot.crc()) {
                corruptBlocks.incrementAndGet();
                throw new CsException(CsStatus.CORRUPT_BLOCK, "corrupt hot block: chunk "
                        + Long.toHexString(chunkUid) + " block " + block + " slot " + slot.slot() + ": stored crc32c "
                        + Integer.toHexString(slot.crc()) + ", data has " + Integer.toHexString(crc));
            }
            return new HotBlock(slot.seq(), slot.crc());
        } catch (IOException e) {
            throw new CsException(CsStatus.IO_ERROR, "reading hot block " + block + " of chunk "
                    + Long.toHexString(chunkUid) + " from " + dir.resolve(DATA_FILE) + ": " + e.getMessage(), e);
        } finally {
            lock.readLock().unlock();
        }
    }

    /**
     * The lock a hot-over-cold merge holds from before it reads the cold data until it has chosen
     * (a read lock, reentrant: {@link #readInto} inside is fine). While it is held no hot record is
     * applied, so a hot block cannot be freed between the cold read and the choice; the cold side
     * is checked by reading its versions before and after.
     */
    public java.util.concurrent.locks.Lock mergeLock() {
        return lock.readLock();
    }

    /** Whether chunk {@code chunkUid} has a hot block in [firstBlock, endBlock) here (cheap when none). */
    public boolean any(long chunkUid, long firstBlock, long endBlock) {
        if (usedSlots == 0) {
            return false;
        }
        lock.readLock().lock();
        try {
            NavigableMap<Long, Slot> blocksOfChunk = map.get(chunkUid);
            if (blocksOfChunk == null) {
                return false;
            }
            Long first = blocksOfChunk.ceilingKey(firstBlock);
            return first != null && first < endBlock;
        } finally {
            lock.readLock().unlock();
        }
    }

    /** The highest seq of chunk {@code chunkUid}'s hot blocks in [firstBlock, endBlock) here; 0 when none. */
    public long maxSeq(long chunkUid, long firstBlock, long endBlock) {
        long max = 0;
        for (long[] block : blocks(chunkUid, firstBlock, endBlock)) {
            max = Math.max(max, block[1]);
        }
        return max;
    }

    /** The seq of hot block {@code block} of chunk {@code chunkUid}, or -1 when it is not hot here. */
    public long seq(long chunkUid, long block) {
        lock.readLock().lock();
        try {
            NavigableMap<Long, Slot> blocksOfChunk = map.get(chunkUid);
            Slot slot = blocksOfChunk == null ? null : blocksOfChunk.get(block);
            return slot == null ? -1 : slot.seq();
        } finally {
            lock.readLock().unlock();
        }
    }

    /**
     * The hot blocks of chunk {@code chunkUid} in [firstBlock, endBlock) with their seqs, in block
     * order: pairs {block, seq} (for the freezer and the read merge).
     */
    public List<long[]> blocks(long chunkUid, long firstBlock, long endBlock) {
        lock.readLock().lock();
        try {
            NavigableMap<Long, Slot> blocksOfChunk = map.get(chunkUid);
            if (blocksOfChunk == null) {
                return List.of();
            }
            List<long[]> result = new ArrayList<>();
            for (Map.Entry<Long, Slot> block : blocksOfChunk.subMap(firstBlock, true, endBlock, false).entrySet()) {
                result.add(new long[] {block.getKey(), block.getValue().seq()});
            }
            return result;
        } finally {
            lock.readLock().unlock();
        }
    }

    /** How many hot blocks of chunk {@code chunkUid} this server holds (cheap when none). */
    public int count(long chunkUid) {
        if (usedSlots == 0) {
            return 0;
        }
        lock.readLock().lock();
        try {
            NavigableMap<Long, Slot> blocksOfChunk = map.get(chunkUid);
            return blocksOfChunk == null ? 0 : blocksOfChunk.size();
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Chunks with at least one hot block here. */
    public List<Long> chunks() {
        lock.readLock().lock();
        try {
            return new ArrayList<>(map.keySet());
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Slots in use (hot blocks, plus slots reserved by writes on their way through the WAL). */
    public int usedSlots() {
        return usedSlots;
    }

    /** Hot writes refused since start because the store was full (each went to the stripes). */
    public long fullRefusals() {
        return fullRefusals.get();
    }

    public int capacitySlots() {
        return slotsMax;
    }

    public long corruptBlocks() {
        return corruptBlocks.get();
    }

    /** LSN of the map last written to hot.map (tests). */
    long snapshotLsn() {
        return snapshotLsn;
    }

    /** Path of the slots file (tests that damage it). */
    Path dataPath() {
        return dir.resolve(DATA_FILE);
    }

    @Override
    public void close() throws IOException {
        data.close();
    }
}
