package io.basalt.chunkserver.recovery;

import static io.basalt.protocol.data.BlockCrc.BLOCK_SHIFT;
import static io.basalt.protocol.data.BlockCrc.BLOCK_SIZE_BYTES;

import io.basalt.chunkserver.MetaLink;
import io.basalt.chunkserver.store.ChunkletStore;
import io.basalt.chunkserver.wal.WalRecordFormat;
import io.basalt.protocol.data.BlockCrc;
import io.basalt.protocol.data.CsException;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Semaphore;
import java.util.concurrent.CompletableFuture;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Recovers one chunklet of a replicated chunk on this chunk server: a new, empty one (rebuild) or one
 * that was away and holds old data (catch-up). Both are the same diff: the chunklet is cut into
 * segments, each segment's block map (kind, block version, CRC32C per 4 KiB block) is fetched from
 * one healthy replica, the segments spread over every healthy replica in parallel, and only the
 * blocks whose entry differs from this chunklet's own are read (CRC-checked on arrival) and logged
 * here as FILL records. A fresh chunklet differs everywhere something was written; a returning one
 * only where writes happened while it was gone.
 *
 * <p>Design note: why a fill never loses a client's write. Meta made this chunklet RECOVERING at
 * {@code startVersion}; from then on every client write and trim of the chunk carries at least that
 * version and reaches this chunklet too (replicated writes go to UPTODATE and RECOVERING chunklets).
 * Before copying, every source must know {@code startVersion} (INFO until its fence is there), so no
 * write with an older version can land on a source any more without landing here. A FILL applies to
 * a block only if this chunklet's version of it is below {@code startVersion} (decided in the WAL
 * writer's apply, in WAL order with the client writes, and again in replay), so whatever a client
 * wrote here after the recovery began wins over a copy read before it. A copy read after it carries
 * that write's data anyway. Resuming after a restart is the same diff: blocks already filled compare
 * equal and are skipped, so only the metadata is read again.
 *
 * <p>Catch-up precision: a block counts as changed when its version or CRC differs. A write that this
 * chunklet missed at the very version it last had (in flight when it failed) is found by its CRC; one
 * whose new data has the old data's CRC (probability 2^-32) would be missed, and the scrubber's
 * replica comparison is what catches that.
 */
final class ReplicaRecovery {
    private static final Logger log = LoggerFactory.getLogger(ReplicaRecovery.class);
    /** Chunklet bytes one block map covers. */
    static final long SEGMENT_BYTES = 64L << 20;
    /** Most data one read and one FILL record carry. */
    static final int RUN_BYTES_MAX = 1 << 20;
    private static final int MAP_ENTRY = WalRecordFormat.FILL_BLOCK_BYTES;
    /** Runs of one segment read and logged at once (each at most RUN_BYTES_MAX). */
    static final int RUNS_IN_FLIGHT = 4;

    private final MetaLink.RecoveryTask task;
    private final RecoveryContext context;
    private final Progress progress;
    /** Blocks whose read did not match the map (changed since): harmless, counted for the log. */
    private final java.util.concurrent.atomic.AtomicLong changedUnderfoot = new java.util.concurrent.atomic.AtomicLong();

    ReplicaRecovery(MetaLink.RecoveryTask task, RecoveryContext context, Progress progress) {
        this.task = task;
        this.context = context;
        this.progress = progress;
    }

    /** Shared per-task counters, read by the worker for the heartbeat and the log. */
    static final class Progress {
        volatile long bytesTotal;
        volatile long bytesDone;
        volatile long blocksCopied;
        volatile long mapBytes;

        /** Counts work of the recovery's parallel lanes. */
        synchronized void add(long doneBytes, long copiedBlocks, long readMapBytes) {
            bytesDone = Math.min(bytesTotal, bytesDone + doneBytes);
            blocksCopied += copiedBlocks;
            mapBytes += readMapBytes;
        }
    }

    /** Runs the recovery to its end; throws when it cannot (the worker retries at the next poll). */
    void run() throws IOException, InterruptedException {
        List<MetaLink.Member> sources = new ArrayList<>();
        for (MetaLink.Member member : task.members()) {
            // By server, not index: the source of a move (meta's MIGRATING) has the target's index.
            if (member.upToDate() && member.csId() != context.csId()) {
                sources.add(member);
            }
        }
        if (sources.isEmpty()) {
            throw new IOException("no UPTODATE replica to copy from");
        }
        // This server refuses writes older than the recovery from now on (meta's own pull may lag).
        context.versions().chunkVersion(task.chunkUid(), task.chunkVersion());
        sources = fencedSources(sources);
        long size = task.chunkletSizeBytes();
        int segments = (int) ((size + SEGMENT_BYTES - 1) / SEGMENT_BYTES);
        progress.bytesTotal = size;
        // One lane per source: segment s goes to source s mod n, so all of them are read at once.
        List<MetaLink.Member> all = sources;
        RecoveryIo.inParallel(context, all.size(), lane -> {
            for (int s = lane; s < segments; s += all.size()) {
                copySegment(s, all.get(s % all.size()), all);
            }
        });
        // Check: one more diff of the maps alone must find nothing left that a client did not write.
        long leftover = 0;
        for (int s = 0; s < segments; s++) {
            leftover += copySegment(s, sources.get(s % sources.size()), sources);
        }
        if (leftover > 0) {
            log.warn("chunk {}: the check pass after the copy still found {} blocks to copy (copied now)",
                    Long.toHexString(task.chunkUid()), leftover);
        }
        if (changedUnderfoot.get() > 0) {
            log.info("chunk {}: {} blocks changed by clients while being copied (their writes reached this"
                    + " chunklet too)", Long.toHexString(task.chunkUid()), changedUnderfoot);
        }
    }

    /** The sources whose fence has reached {@code startVersion}; see {@link RecoveryIo#fenced}. */
    private List<MetaLink.Member> fencedSources(List<MetaLink.Member> sources) throws IOException, InterruptedException {
        List<MetaLink.Member> fenced = new ArrayList<>();
        for (MetaLink.Member source : sources) {
            if (RecoveryIo.fenced(context, task, source)) {
                fenced.add(source);
            }
        }
        if (fenced.isEmpty()) {
            throw new IOException("no source has the chunk's version " + task.startVersion() + " yet");
        }
        return fenced;
    }

    /** Diffs and copies segment {@code s} from {@code source}; returns the blocks it copied. */
    private long copySegment(int s, MetaLink.Member source, List<MetaLink.Member> all)
            throws IOException, InterruptedException {
        long offset = s * SEGMENT_BYTES;
        int length = (int) Math.min(SEGMENT_BYTES, task.chunkletSizeBytes() - offset);
        int blocks = length >> BLOCK_SHIFT;
        ByteBuf theirs = blockMap(source, offset, length);
        ByteBuf ours = Unpooled.buffer(blocks * MAP_ENTRY);
        long copied = 0;
        try {
            try {
                context.store().blockMap(task.chunkUid(), offset, length, ours);
            } catch (CsException e) {
                throw new IOException(e.getMessage(), e);
            }
            int firstBlock = (int) (offset >> BLOCK_SHIFT);
            int runStart = -1;
            // Up to RUNS_IN_FLIGHT runs at once: the next read overlaps the previous fill's WAL sync.
            Semaphore window = new Semaphore(RUNS_IN_FLIGHT);
            List<CompletableFuture<Long>> runs = new ArrayList<>();
            try {
                for (int i = 0; i <= blocks; i++) {
                    boolean copy = i < blocks && needsCopy(theirs, ours, i);
                    boolean corrupt = copy && theirs.getUnsignedByte(i * MAP_ENTRY) == ChunkletStore.BLOCK_CORRUPT;
                    if (runStart >= 0 && (!copy || corrupt || i - runStart == RUN_BYTES_MAX >> BLOCK_SHIFT)) {
                        int start = runStart;
                        int end = i;
                        runs.add(inWindow(window, () -> flush(source, theirs, firstBlock, start, end)));
                        runStart = -1;
                    }
                    if (corrupt) {
                        // The source's metadata of this block is damaged: take the block from another source.
                        int block = firstBlock + i;
                        runs.add(inWindow(window, () -> copyFromAnother(block, source, all)));
                    } else if (copy && runStart < 0) {
                        runStart = i;
                    }
                }
            } finally {
                // Every run ends before the maps it reads are released; the first failure is thrown.
                IOException failed = null;
                for (CompletableFuture<Long> run : runs) {
                    try {
                        copied += RecoveryIo.await(run);
                    } catch (IOException e) {
                        failed = failed == null ? e : failed;
                    }
                }
                if (failed != null) {
                    throw failed;
                }
            }
            progress.add(length, 0, 0);
            return copied;
        } finally {
            theirs.release();
            ours.release();
        }
    }

    /** One run of a segment: read from a source and logged here; returns the blocks it copied. */
    @FunctionalInterface
    private interface Run {
        long copy() throws IOException, InterruptedException;
    }

    /** Starts {@code run} once the window has room (blocking until then); the window frees when it ends. */
    private CompletableFuture<Long> inWindow(Semaphore window, Run run) throws InterruptedException {
        window.acquire();
        return CompletableFuture.supplyAsync(() -> {
            try {
                return run.copy();
            } catch (IOException | InterruptedException e) {
                throw new java.util.concurrent.CompletionException(e);
            } finally {
                window.release();
            }
        }, context.executor());
    }

    /** Whether block {@code i} of the maps must be copied: it differs, and no client wrote it here since. */
    private boolean needsCopy(ByteBuf theirs, ByteBuf ours, int i) {
        int at = i * MAP_ENTRY;
        long ourVersion = ours.getLong(at + 1);
        if (ourVersion >= task.startVersion() && ours.getUnsignedByte(at) != ChunkletStore.BLOCK_CORRUPT) {
            return false; // a client write or trim since the recovery began: newer than any copy
        }
        for (int b = 0; b < MAP_ENTRY; b++) {
            if (theirs.getByte(at + b) != ours.getByte(at + b)) {
                return true;
            }
        }
        return false;
    }

    /** Copies blocks [runStart, end) of the segment from {@code source} as one FILL; returns the count. */
    private long flush(MetaLink.Member source, ByteBuf theirs, int firstBlock, int runStart, int end)
            throws IOException, InterruptedException {
        if (runStart < 0 || end <= runStart) {
            return 0;
        }
        int count = end - runStart;
        int dataBlocks = 0;
        for (int i = runStart; i < end; i++) {
            if (theirs.getUnsignedByte(i * MAP_ENTRY) == ChunkletStore.FILL_DATA) {
                dataBlocks++;
            }
        }
        ByteBuf payload = PooledByteBufAllocator.DEFAULT.directBuffer(count * MAP_ENTRY + (dataBlocks << BLOCK_SHIFT));
        try {
            payload.writeBytes(theirs, runStart * MAP_ENTRY, count * MAP_ENTRY);
            if (dataBlocks > 0) {
                readData(source, payload, (long) (firstBlock + runStart) << BLOCK_SHIFT, count);
            }
            fill((long) (firstBlock + runStart) << BLOCK_SHIFT, count, payload.retain());
        } finally {
            payload.release();
        }
        return count;
    }

    /**
     * Reads the data blocks of a run from {@code source} and appends them to {@code payload} after its
     * map section, each checked against its CRC; a block whose CRC is not the one in the map changed
     * since the map was read (a client write, which reaches this chunklet too): its entry becomes a
     * SKIP, and the FILL leaves that block alone.
     */
    private void readData(MetaLink.Member source, ByteBuf payload, long offset, int count)
            throws IOException, InterruptedException {
        int lengthBytes = count << BLOCK_SHIFT;
        context.throttle().acquire(lengthBytes);
        DataClient.Reply reply = await(context.clients().request(source.address(), DataFrame.TYPE_READ,
                DataFrame.FLAG_BACKGROUND, task.chunkUid(), task.chunkVersion(), offset, lengthBytes, null));
        try {
            if (reply.status() != CsStatus.OK) {
                throw RecoveryIo.failure("reading chunk " + Long.toHexString(task.chunkUid()) + " at " + offset
                        + " from cs " + source.csId(), reply);
            }
            ByteBuf data = reply.payload();
            if (data.readableBytes() != lengthBytes + 4 * count) {
                throw new IOException("read reply of " + data.readableBytes() + " bytes from cs " + source.csId());
            }
            for (int i = 0; i < count; i++) {
                int at = i * MAP_ENTRY;
                if (payload.getUnsignedByte(at) != ChunkletStore.FILL_DATA) {
                    continue;
                }
                int dataAt = data.readerIndex() + (i << BLOCK_SHIFT);
                int crc = BlockCrc.of(data, dataAt, BLOCK_SIZE_BYTES);
                if (crc != data.getInt(data.readerIndex() + lengthBytes + 4 * i)) {
                    throw new IOException("block at " + (offset + ((long) i << BLOCK_SHIFT)) + " of chunk "
                            + Long.toHexString(task.chunkUid()) + " from cs " + source.csId()
                            + " fails its CRC32C on arrival");
                }
                if (crc != payload.getInt(at + 9)) {
                    changedUnderfoot.incrementAndGet();
                    payload.setByte(at, ChunkletStore.FILL_SKIP);
                    continue;
                }
                payload.writeBytes(data, dataAt, BLOCK_SIZE_BYTES);
                context.recordCopied(task.catchUp(), BLOCK_SIZE_BYTES);
            }
            // Blocks turned SKIP above have no data slot, so the section and the data still agree (the
            // FILL reads one data block per DATA entry, in order).
        } finally {
            reply.release();
        }
    }

    /** Copies one block whose metadata is damaged on {@code bad} from another source; returns 1 or 0. */
    private long copyFromAnother(int block, MetaLink.Member bad, List<MetaLink.Member> all)
            throws IOException, InterruptedException {
        long offset = (long) block << BLOCK_SHIFT;
        for (MetaLink.Member other : all) {
            if (other == bad) {
                continue;
            }
            ByteBuf map = blockMap(other, offset, BLOCK_SIZE_BYTES);
            try {
                if (map.getUnsignedByte(0) == ChunkletStore.BLOCK_CORRUPT) {
                    continue;
                }
                return flush(other, map, block, 0, 1);
            } finally {
                map.release();
            }
        }
        throw new IOException("block at " + offset + " of chunk " + Long.toHexString(task.chunkUid())
                + " is damaged on every source");
    }

    /** The block map of a range from {@code source}: 13 bytes a block, CRC-checked. */
    private ByteBuf blockMap(MetaLink.Member source, long offset, int length) throws IOException, InterruptedException {
        ByteBuf map = RecoveryIo.blockMap(context, source.address(), task.chunkUid(), task.chunkVersion(), offset,
                length);
        progress.add(0, 0, map.readableBytes());
        context.recordMapBytes(map.readableBytes());
        return map;
    }

    /** Logs one FILL of {@code count} blocks at {@code offset} here and waits until it is applied. */
    private void fill(long offset, int count, ByteBuf payload) throws IOException, InterruptedException {
        RecoveryIo.log(context, WalRecordFormat.TYPE_FILL, task, offset, count << BLOCK_SHIFT, payload);
        progress.add(0, count, 0);
    }

    private static <T> T await(CompletableFuture<T> future) throws IOException, InterruptedException {
        return RecoveryIo.await(future);
    }
}
