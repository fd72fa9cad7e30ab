package io.basalt.client;

import static io.basalt.protocol.data.BlockCrc.BLOCK_SHIFT;
import static io.basalt.protocol.data.BlockCrc.BLOCK_SIZE_BYTES;

import io.basalt.common.block.BlockDevice;
import io.basalt.common.block.BlockDeviceException;
import io.basalt.common.block.BlockDeviceException.Kind;
import io.basalt.common.block.Extent;
import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.Policy;
import io.basalt.meta.model.Volume;
import io.basalt.protocol.data.BlockCrc;
import io.basalt.protocol.data.DataFrame;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.PooledByteBufAllocator;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A volume as a {@link BlockDevice}: what every gateway serves. I/O is cut at chunk boundaries and
 * at the chunk server request limit, and every piece goes straight to the chunk servers holding it,
 * in parallel. This class is the device's front: range and lease checks, QoS admission, the write
 * gate, alignment, cutting into pieces and reads through parent layers. The rest lives beside it:
 * <ul>
 *   <li>{@link ReplicatedPieces} and {@link EcPieces}: one try of a piece on a replicated or an
 *       erasure-coded chunk ({@link ChunkPieces});</li>
 *   <li>{@link ChunkRetries}: the retry loop, reply classification and failure reports;</li>
 *   <li>{@link LayerReader} and {@link BlockPresence}: reads through snapshots; {@link Flatten}
 *       copies a clone's blocks up.</li>
 * </ul>
 *
 * <p>Design note.
 * <ul>
 *   <li>Writes: the CRC32C of every 4 KiB block is computed once, at entry, and travels with the
 *       data on every try, so a retry can never carry bytes other than the caller's. A piece goes
 *       to the primary (the first UPTODATE chunklet, else the first MIGRATING one) as FORWARD
 *       with the other replicas that take writes (UPTODATE, MIGRATING and RECOVERING) listed; the
 *       primary answers when every replica has it durable. A write acknowledged to the caller is
 *       therefore durable on every replica in the map: flush has nothing left to do.</li>
 *   <li>Reads go to the primary and every block's CRC32C is checked before it is copied out.
 *       Ranges of never-written chunks read as zeroes without a round trip ({@link ChunkMap}).</li>
 *   <li>Failures: a chunk server that fails (connection, timeout, I/O error, corrupt block, full
 *       disk, or named by the primary as a failed replica) is reported to meta, which replaces its
 *       chunklet and raises the chunk version; the piece is then tried again on the new map. A
 *       refusal for a stale version fetches the map again. The last readable (UPTODATE or
 *       MIGRATING) chunklet of a chunk is never reported (it holds the only good copy): the piece
 *       is retried on it, bounded, and the error reaches the caller only when the tries are used
 *       up.</li>
 *   <li>Unaligned writes (clients that ignore the advertised 4 KiB minimum block size) are done
 *       by read-modify-write of the edge blocks; two concurrent unaligned writes to one block may
 *       lose one of them. NBD clients that honor the minimum (qemu, nbdcopy, fio) never send
 *       them.</li>
 * </ul>
 */
public final class VolumeDevice implements BlockDevice {
    private static final Logger log = LoggerFactory.getLogger(VolumeDevice.class);
    /** Reads of chunks this layer does not have: one line per volume per 10 s. */
    private static final ThrottledLog UNALLOCATED_READ_LOG = new ThrottledLog(10, java.util.concurrent.TimeUnit.SECONDS);

    /** NBD's largest request; anything bigger is split here anyway. */
    public static final int PAYLOAD_BYTES_MAX = 32 << 20;
    /**
     * Volumes with at most this many chunk slots get their whole chunk map at open (a few hundred
     * KiB of cache); bigger ones are looked up chunk by chunk as I/O reaches them.
     */
    static final long PRELOAD_SLOTS_MAX = 1 << 16;
    /** Chunks looked up per block status call, so a huge range answers quickly with a prefix. */
    static final int BLOCK_STATUS_CHUNKS_MAX = 256;

    private final ClusterClient cluster;
    /**
     * The volume's id, name, policy and chunk size: they never change. Its size and QoS limits
     * do, while open: those are read from {@link #live}.
     */
    private final Volume volume;
    private final LiveVolume live;
    private final VolumeLease lease;
    private final ChunkMap chunks;
    private final ByteBufAllocator alloc = PooledByteBufAllocator.DEFAULT;
    private final WriteGate gate = new WriteGate();
    private final Policy policy;
    private final ChunkRetries retries;
    /** One try of a piece, as the policy lays chunks out (replicas, or EC columns and a master). */
    private final ChunkPieces pieces;
    /** Which blocks a chunk holds, for reads through a parent layer (docs/snapshots.md). */
    private final BlockPresence presence;
    /** This device as a layer of {@link LayerReader}: its own chunks, and its parent by id. */
    private final LayerReader.Layer asLayer;
    /** Parent layers opened read-only (they never change), by volume id. */
    private final ConcurrentHashMap<Long, CompletableFuture<LayerReader.Layer>> layers = new ConcurrentHashMap<>();
    private volatile boolean closed;
    /** Runs a flatten requested while this device holds the lease; null for read-only opens. */
    private volatile FlattenWorker flattenWorker;

    private VolumeDevice(ClusterClient cluster, Volume volume, VolumeLease lease) {
        this.cluster = cluster;
        this.volume = volume;
        this.lease = lease;
        this.chunks = new ChunkMap(cluster, volume.id());
        this.policy = Policy.parse(volume.policyName());
        this.live = new LiveVolume(cluster, volume, chunks);
        this.retries = new ChunkRetries(cluster, volume.name(), chunks, live, policy, () -> closed);
        this.pieces = policy.erasureCoded() ? new EcPieces(cluster, policy, alloc, chunks, retries,
                () -> live.volume().hotTier())
                : new ReplicatedPieces(cluster, alloc, retries);
        this.presence = new BlockPresence(cluster, policy, (target, address, op, reply, error) ->
                retries.checkReply(target, address, op, reply, error, List.of()));
        this.asLayer = new LayerReader.Layer() {
            @Override
            public long sizeBytes() {
                return VolumeDevice.this.sizeBytes();
            }

            @Override
            public CompletableFuture<List<LayerReader.Own>> readOwn(long offsetBytes, int lengthBytes,
                    ByteBuf destination, int destinationIndex) {
                return VolumeDevice.this.readOwn(offsetBytes, lengthBytes, destination, destinationIndex);
            }

            @Override
            public CompletableFuture<LayerReader.Layer> layer(long layerId) {
                return parentLayer(layerId);
            }
        };
    }

    /**
     * A layer below a volume (a snapshot, named or deleted-and-hidden) opened read-only by id: no
     * lease, no record refresh (a layer's data and parent never change while a layer above reads
     * through it).
     */
    CompletableFuture<LayerReader.Layer> parentLayer(long layerId) {
        CompletableFuture<LayerReader.Layer> known = layers.get(layerId);
        if (known != null && !known.isCompletedExceptionally()) {
            return known;
        }
        CompletableFuture<LayerReader.Layer> opening = cluster.callMeta("get_layer", () -> {
            Volume layer = cluster.meta().getLayer(layerId).orElseThrow(() -> AttemptFailure.giveUp(Kind.IO,
                    "layer " + layerId + " below volume \"" + volume.name() + "\" is gone"));
            return new VolumeDevice(cluster, layer, VolumeLease.none(cluster, layer)).asLayer;
        });
        layers.put(layerId, opening);
        return opening;
    }

    /**
     * Blocking: finds the volume and takes its lease; with {@code backgroundFlatten}, runs a
     * flatten requested for it while open ({@link FlattenWorker}).
     */
    static VolumeDevice open(ClusterClient cluster, String name, String clientId, boolean backgroundFlatten) {
        Volume volume = cluster.meta().getVolume(name);
        VolumeLease lease = VolumeLease.acquire(cluster, volume, clientId);
        VolumeDevice device = new VolumeDevice(cluster, volume, lease);
        if (volume.chunkSlots() <= PRELOAD_SLOTS_MAX) {
            try {
                device.chunks.preload(cluster.meta().listChunks(volume.id()), volume.chunkSlots());
            } catch (RuntimeException e) {
                lease.release();
                throw e;
            }
        }
        device.live.startRefresh();
        if (backgroundFlatten) {
            device.flattenWorker = FlattenWorker.start(cluster, device);
        }
        return device;
    }

    /** Blocking: finds the volume and opens it for reads only, taking no lease (writes are refused). */
    static VolumeDevice openReadOnly(ClusterClient cluster, String name) {
        Volume volume = cluster.meta().getVolume(name);
        VolumeDevice device = new VolumeDevice(cluster, volume, VolumeLease.none(cluster, volume));
        device.live.startRefresh();
        return device;
    }

    /** The volume's record as last read from meta (its size and limits may have changed). */
    public Volume volume() {
        return live.volume();
    }

    @Override
    public long sizeBytes() {
        return live.volume().sizeBytes();
    }

    @Override
    public int minimumBlockSizeBytes() {
        return BLOCK_SIZE_BYTES;
    }

    @Override
    public int preferredBlockSizeBytes() {
        return BLOCK_SIZE_BYTES;
    }

    @Override
    public int maximumPayloadBytes() {
        return PAYLOAD_BYTES_MAX;
    }

    @Override
    public boolean isReadOnly() {
        return lease.readOnly();
    }

    /** No client-side cache: every acknowledged write is on the chunk servers. */
    @Override
    public boolean sharedCacheAcrossClients() {
        return true;
    }

    @Override
    public boolean supportsFastZero() {
        return true;
    }

    // ---------------------------------------------------------------------------------------
    // Reads

    @Override
    public CompletableFuture<Void> read(long offsetBytes, int lengthBytes, ByteBuf destination) {
        BlockDeviceException refusal = refusal(offsetBytes, lengthBytes, false);
        if (refusal != null) {
            return CompletableFuture.failedFuture(refusal);
        }
        if (lengthBytes == 0) {
            return CompletableFuture.completedFuture(null);
        }
        CompletableFuture<Void> wait = admission(QosLimiter.Kind.READ, lengthBytes);
        if (wait != null) {
            return wait.thenCompose(admitted -> readAdmitted(offsetBytes, lengthBytes, destination));
        }
        return readAdmitted(offsetBytes, lengthBytes, destination);
    }

    private CompletableFuture<Void> readAdmitted(long offsetBytes, int lengthBytes, ByteBuf destination) {
        if (closed) { // closed while it waited for QoS
            return CompletableFuture.failedFuture(closedError());
        }
        long alignedStart = offsetBytes & -BLOCK_SIZE_BYTES;
        long alignedEnd = alignUp(offsetBytes + lengthBytes);
        if (alignedStart == offsetBytes && alignedEnd == offsetBytes + lengthBytes) {
            destination.ensureWritable(lengthBytes);
            int base = destination.writerIndex();
            return readAligned(offsetBytes, lengthBytes, destination, base)
                    .thenRun(() -> destination.writerIndex(base + lengthBytes));
        }
        ByteBuf aligned = alloc.directBuffer((int) (alignedEnd - alignedStart));
        return readAligned(alignedStart, (int) (alignedEnd - alignedStart), aligned, 0).whenComplete((ignored, error) -> {
            if (error == null) {
                destination.writeBytes(aligned, (int) (offsetBytes - alignedStart), lengthBytes);
            }
            aligned.release();
        });
    }

    /**
     * Reads an aligned range into {@code destination} at {@code destinationIndex} (indices
     * unchanged): this volume's own blocks, and through its parent layers those it never wrote
     * ({@link LayerReader}; a volume without a parent asks no chunk server which blocks it holds).
     */
    private CompletableFuture<Void> readAligned(long offsetBytes, int lengthBytes, ByteBuf destination,
            int destinationIndex) {
        return LayerReader.read(asLayer, offsetBytes, lengthBytes, destination, destinationIndex);
    }

    /**
     * One step of a flatten ({@link Flatten#copyUp}) holding the write gate alone, as
     * compare-and-write does: writes of this client that came before finish first and later ones
     * wait, so none lands between the read of what the top layer lacks and the copy of those blocks
     * (and this client is the volume's only writer: the lease). Completes with the bytes copied.
     */
    CompletableFuture<Long> copyUpExclusive(long offsetBytes, int lengthBytes) {
        return gate.enterExclusive().thenCompose(entered -> {
            CompletableFuture<Long> done;
            try {
                checkWritable();
                done = Flatten.copyUp(this, offsetBytes, lengthBytes, this::writeAligned);
            } catch (RuntimeException e) {
                done = CompletableFuture.failedFuture(e);
            }
            return done.whenComplete((copied, error) -> gate.exitExclusive());
        });
    }

    /** This layer's own blocks of an aligned range, and per piece which it does not hold. */
    CompletableFuture<List<LayerReader.Own>> readOwn(long offsetBytes, int lengthBytes, ByteBuf destination,
            int destinationIndex) {
        List<CompletableFuture<LayerReader.Own>> parts = new ArrayList<>();
        forEachPiece(offsetBytes, lengthBytes, (chunkIndex, chunkOffset, pieceBytes, at) -> {
            CompletableFuture<LayerReader.Own> own = new CompletableFuture<>();
            AtomicOwn holder = new AtomicOwn();
            retries.withRetries("read", chunkIndex, () -> readOwnPiece(chunkIndex, chunkOffset, pieceBytes, destination,
                    destinationIndex + at, holder)).whenComplete((ignored, error) -> {
                        if (error != null) {
                            own.completeExceptionally(error);
                        } else {
                            own.complete(holder.own);
                        }
                    });
            parts.add(own);
        });
        return CompletableFuture.allOf(parts.toArray(CompletableFuture[]::new))
                .thenApply(ignored -> parts.stream().map(CompletableFuture::join).toList());
    }

    /** The answer of a piece's successful try (withRetries completes with no value). */
    private static final class AtomicOwn {
        volatile LayerReader.Own own;
    }

    /**
     * One try of a piece: the chunk as cached, which of its blocks it holds (only when the volume
     * has a parent layer), its data, and the parent pointer after all that. A parent that changed
     * during the try (a snapshot) makes it try again, so the pair is one consistent view (see
     * {@link LayerReader}).
     */
    private CompletableFuture<Void> readOwnPiece(long chunkIndex, long chunkOffset, int lengthBytes,
            ByteBuf destination, int destinationIndex, AtomicOwn result) {
        long volumeOffset = chunkIndex * volume.chunkSizeBytes() + chunkOffset;
        int blocks = lengthBytes >> BLOCK_SHIFT;
        long parentAtStart = live.volume().parentId();
        return chunks.lookup(chunkIndex).thenCompose(found -> {
            if (found.isEmpty()) {
                long suppressed = UNALLOCATED_READ_LOG.admit(volume.id());
                if (suppressed >= 0) {
                    log.info("volume \"{}\" chunk index {}: not allocated in this layer, read as {}{}", volume.name(),
                            chunkIndex, live.volume().parentId() == 0 ? "zeroes" : "the parent's",
                            suppressed > 0 ? " (" + suppressed + " more such reads of the volume since the last line)"
                                    : "");
                }
                destination.setZero(destinationIndex, lengthBytes);
                BitSet all = new BitSet(blocks);
                all.set(0, blocks);
                result.own = new LayerReader.Own(volumeOffset, lengthBytes, all, live.volume().parentId());
                return CompletableFuture.completedFuture(null);
            }
            Chunk chunk = found.get();
            CompletableFuture<BitSet> absent = parentAtStart == 0 ? CompletableFuture.completedFuture(new BitSet())
                    : presence.absent(chunk, pieces.presenceSource(chunk), chunkOffset, lengthBytes);
            return absent.thenCompose(bits -> pieces.read(chunk, chunkOffset, lengthBytes, destination,
                    destinationIndex).thenRun(() -> {
                        long parentNow = live.volume().parentId();
                        if (parentNow != parentAtStart) {
                            throw AttemptFailure.retry("layer_changed", "volume \"" + volume.name()
                                    + "\" got a new parent layer during the read (a snapshot)");
                        }
                        result.own = new LayerReader.Own(volumeOffset, lengthBytes, bits, parentNow);
                    }));
        });
    }

    // ---------------------------------------------------------------------------------------
    // Writes

    @Override
    public CompletableFuture<Void> write(long offsetBytes, ByteBuf data, boolean fua) {
        int lengthBytes = data.readableBytes();
        BlockDeviceException refusal = refusal(offsetBytes, lengthBytes, true);
        if (refusal != null) {
            return CompletableFuture.failedFuture(refusal);
        }
        if (lengthBytes == 0) {
            return CompletableFuture.completedFuture(null);
        }
        // Throttled before the gate, so a write waiting for its turn holds no compare-and-write back.
        CompletableFuture<Void> wait = admission(QosLimiter.Kind.WRITE, lengthBytes);
        if (wait != null) {
            return wait.thenCompose(admitted -> gated(() -> writeUngated(offsetBytes, data)));
        }
        return gated(() -> writeUngated(offsetBytes, data));
    }

    /** A write of the readable bytes of {@code data}, inside the gate. */
    private CompletableFuture<Void> writeUngated(long offsetBytes, ByteBuf data) {
        int lengthBytes = data.readableBytes();
        long alignedStart = offsetBytes & -BLOCK_SIZE_BYTES;
        long alignedEnd = alignUp(offsetBytes + lengthBytes);
        if (alignedStart == offsetBytes && alignedEnd == offsetBytes + lengthBytes) {
            return writeAligned(offsetBytes, data.slice());
        }
        // Read-modify-write of the edge blocks (see the class note).
        int alignedBytes = (int) (alignedEnd - alignedStart);
        ByteBuf merged = alloc.directBuffer(alignedBytes);
        return readAligned(alignedStart, alignedBytes, merged, 0).thenCompose(ignored -> {
            merged.setBytes((int) (offsetBytes - alignedStart), data, data.readerIndex(), lengthBytes);
            merged.writerIndex(alignedBytes);
            return writeAligned(alignedStart, merged);
        }).whenComplete((ignored, error) -> merged.release());
    }

    /** Writes {@code data} (whole blocks, readable bytes) at an aligned offset. */
    private CompletableFuture<Void> writeAligned(long offsetBytes, ByteBuf data) {
        int lengthBytes = data.readableBytes();
        int[] crcs = new int[lengthBytes >> BLOCK_SHIFT];
        int dataAt = data.readerIndex();
        ByteBuffer view = BlockCrc.blocksView(data, dataAt, crcs.length);
        for (int i = 0; i < crcs.length; i++) {
            crcs[i] = BlockCrc.ofBlock(view, data, dataAt, i);
        }
        List<CompletableFuture<Void>> parts = new ArrayList<>();
        forEachPiece(offsetBytes, lengthBytes, (chunkIndex, chunkOffset, pieceBytes, at) ->
                parts.add(retries.withRetries("write", chunkIndex, () -> writePiece(chunkIndex, chunkOffset, data,
                        dataAt + at, pieceBytes, crcs, at >> BLOCK_SHIFT))));
        return allOf(parts);
    }

    private CompletableFuture<Void> writePiece(long chunkIndex, long chunkOffset, ByteBuf data, int dataIndex,
            int lengthBytes, int[] crcs, int firstBlock) {
        String fenced = lease.fencedReason();
        if (fenced != null) {
            return CompletableFuture.failedFuture(AttemptFailure.giveUp(Kind.IO, fenced));
        }
        return chunks.allocate(chunkIndex).thenCompose(chunk ->
                pieces.write(chunk, chunkOffset, data, dataIndex, lengthBytes, crcs, firstBlock));
    }

    // ---------------------------------------------------------------------------------------
    // Trim, zeroes, flush, block status

    @Override
    public CompletableFuture<Void> flush() {
        // Every acknowledged write is already durable on every replica (see the class note).
        return closed ? CompletableFuture.failedFuture(closedError()) : CompletableFuture.completedFuture(null);
    }

    @Override
    public CompletableFuture<Void> trim(long offsetBytes, long lengthBytes, boolean fua) {
        BlockDeviceException refusal = refusal(offsetBytes, lengthBytes, true);
        if (refusal != null) {
            return CompletableFuture.failedFuture(refusal);
        }
        // A hint: only the whole blocks inside the range are discarded.
        long start = alignUp(offsetBytes);
        long end = (offsetBytes + lengthBytes) & -BLOCK_SIZE_BYTES;
        if (end <= start) {
            return CompletableFuture.completedFuture(null);
        }
        // One write operation and no bytes: a trim moves no data (docs/client.md, "QoS").
        CompletableFuture<Void> wait = admission(QosLimiter.Kind.WRITE, 0);
        if (wait != null) {
            return wait.thenCompose(admitted -> gated(() -> zeroAligned(DataFrame.TYPE_TRIM, start, end - start)));
        }
        return gated(() -> zeroAligned(DataFrame.TYPE_TRIM, start, end - start));
    }

    @Override
    public CompletableFuture<Void> writeZeroes(long offsetBytes, long lengthBytes, boolean mayDeallocate,
            boolean fastOnly, boolean fua) {
        BlockDeviceException refusal = refusal(offsetBytes, lengthBytes, true);
        if (refusal != null) {
            return CompletableFuture.failedFuture(refusal);
        }
        if (lengthBytes == 0) {
            return CompletableFuture.completedFuture(null);
        }
        // One write operation and no bytes: the zeroes are made on the chunk servers.
        CompletableFuture<Void> wait = admission(QosLimiter.Kind.WRITE, 0);
        if (wait != null) {
            return wait.thenCompose(admitted -> gated(() -> writeZeroesUngated(offsetBytes, lengthBytes)));
        }
        return gated(() -> writeZeroesUngated(offsetBytes, lengthBytes));
    }

    private CompletableFuture<Void> writeZeroesUngated(long offsetBytes, long lengthBytes) {
        long start = alignUp(offsetBytes);
        long end = (offsetBytes + lengthBytes) & -BLOCK_SIZE_BYTES;
        List<CompletableFuture<Void>> parts = new ArrayList<>();
        if (end > start) {
            parts.add(zeroAligned(DataFrame.TYPE_WRITE_ZEROES, start, end - start));
        }
        // Edges that are not whole blocks are written as zero bytes (read-modify-write).
        long headEnd = Math.min(offsetBytes + lengthBytes, start);
        if (headEnd > offsetBytes) {
            parts.add(writeZeroBytes(offsetBytes, (int) (headEnd - offsetBytes)));
        }
        long tailStart = Math.max(end, headEnd);
        if (offsetBytes + lengthBytes > tailStart && tailStart >= start) {
            parts.add(writeZeroBytes(tailStart, (int) (offsetBytes + lengthBytes - tailStart)));
        }
        return allOf(parts);
    }

    private CompletableFuture<Void> writeZeroBytes(long offsetBytes, int lengthBytes) {
        ByteBuf zeroes = alloc.buffer(lengthBytes).writeZero(lengthBytes);
        return writeUngated(offsetBytes, zeroes).whenComplete((ignored, error) -> zeroes.release());
    }

    /**
     * Compare-and-write ({@link BlockDevice#compareAndWrite}): whole blocks, at most one request
     * ({@link ClientConfig#requestBytesMax}). It holds the device's write gate alone: writes that
     * came before it finish first, later ones wait, so nothing of this client lands between the
     * read and the write; and this client is the only writer of the volume (the lease).
     */
    @Override
    public CompletableFuture<Boolean> compareAndWrite(long offsetBytes, ByteBuf expected, ByteBuf data) {
        int lengthBytes = data.readableBytes();
        BlockDeviceException refusal = refusal(offsetBytes, lengthBytes, true);
        if (refusal == null && (expected.readableBytes() != lengthBytes || lengthBytes == 0
                || (offsetBytes & (BLOCK_SIZE_BYTES - 1)) != 0 || (lengthBytes & (BLOCK_SIZE_BYTES - 1)) != 0
                || lengthBytes > cluster.config().requestBytesMax())) {
            refusal = new BlockDeviceException(Kind.INVALID, "compare-and-write of " + lengthBytes
                    + " bytes (expected " + expected.readableBytes() + ") at " + offsetBytes
                    + ": needs equal lengths of whole 4096-byte blocks, at most "
                    + cluster.config().requestBytesMax());
        }
        if (refusal != null) {
            return CompletableFuture.failedFuture(refusal);
        }
        CompletableFuture<Void> wait = admission(QosLimiter.Kind.WRITE, lengthBytes);
        if (wait != null) {
            return wait.thenCompose(admitted -> compareAndWriteAdmitted(offsetBytes, expected, data));
        }
        return compareAndWriteAdmitted(offsetBytes, expected, data);
    }

    private CompletableFuture<Boolean> compareAndWriteAdmitted(long offsetBytes, ByteBuf expected, ByteBuf data) {
        int lengthBytes = data.readableBytes();
        return gate.enterExclusive().thenCompose(entered -> {
            ByteBuf current = alloc.directBuffer(lengthBytes);
            CompletableFuture<Boolean> done;
            try {
                done = readAligned(offsetBytes, lengthBytes, current, 0).thenCompose(read -> {
                    current.writerIndex(lengthBytes);
                    if (!ByteBufUtil.equals(current, 0, expected, expected.readerIndex(), lengthBytes)) {
                        return CompletableFuture.completedFuture(false);
                    }
                    return writeAligned(offsetBytes, data.slice()).thenApply(written -> true);
                });
            } catch (RuntimeException e) {
                done = CompletableFuture.failedFuture(e);
            }
            return done.whenComplete((result, error) -> {
                current.release();
                gate.exitExclusive();
            });
        });
    }

    /** Runs a write-like operation inside the write gate (shared: many at once). */
    private CompletableFuture<Void> gated(Supplier<CompletableFuture<Void>> operation) {
        return gate.enterShared().thenCompose(entered -> {
            CompletableFuture<Void> done;
            try {
                done = operation.get();
            } catch (RuntimeException e) {
                done = CompletableFuture.failedFuture(e);
            }
            return done.whenComplete((ignored, error) -> gate.exitShared());
        });
    }

    /** Pieces of one TRIM or WRITE_ZEROES in flight at most (see {@link Windowed}: 16 MiB of EC zeroes). */
    static final int ZERO_PIECES_IN_FLIGHT_MAX = 4;

    /**
     * TRIM or WRITE_ZEROES of an aligned range: to every replica of each allocated chunk, a few
     * pieces at a time however long the range (a whole-volume discard is millions of pieces).
     */
    private CompletableFuture<Void> zeroAligned(int type, long offsetBytes, long lengthBytes) {
        String op = DataFrame.typeName(type);
        return Windowed.run(pieces(offsetBytes, lengthBytes), ZERO_PIECES_IN_FLIGHT_MAX, piece ->
                retries.withRetries(op, piece.chunkIndex(), () -> zeroPiece(type, piece.chunkIndex(), piece.chunkOffset(),
                        piece.lengthBytes())));
    }

    private CompletableFuture<Void> zeroPiece(int type, long chunkIndex, long chunkOffset, int lengthBytes) {
        String fenced = lease.fencedReason();
        if (fenced != null) {
            return CompletableFuture.failedFuture(AttemptFailure.giveUp(Kind.IO, fenced));
        }
        // Under a parent layer, zeroes must be written into this layer's own chunk, so that the
        // blocks read as zeroes instead of falling through to the parent's data.
        CompletableFuture<Optional<Chunk>> zeroChunk = live.volume().parentId() != 0
                ? chunks.allocate(chunkIndex).thenApply(Optional::of) : chunks.lookup(chunkIndex);
        return zeroChunk.thenCompose(found -> {
            if (found.isEmpty()) {
                return CompletableFuture.completedFuture(null); // never written: already zeroes
            }
            return pieces.zero(type, found.get(), chunkOffset, lengthBytes);
        });
    }

    @Override
    public CompletableFuture<List<Extent>> blockStatus(long offsetBytes, long lengthBytes, int extentsMax) {
        BlockDeviceException refusal = refusal(offsetBytes, lengthBytes, false);
        if (refusal != null) {
            return CompletableFuture.failedFuture(refusal);
        }
        if (lengthBytes == 0) {
            return CompletableFuture.failedFuture(new BlockDeviceException(Kind.INVALID, "block status of 0 bytes"));
        }
        if (live.volume().parentId() != 0) {
            // A hole here may be data in a parent layer: say data (always true) rather than ask
            // every layer; copy tools then read it all.
            return CompletableFuture.completedFuture(List.of(Extent.data(Math.min(lengthBytes,
                    sizeBytes() - offsetBytes))));
        }
        long chunkSize = volume.chunkSizeBytes();
        long end = offsetBytes + lengthBytes;
        long firstChunk = offsetBytes / chunkSize;
        long lastChunk = Math.min((end - 1) / chunkSize, firstChunk + BLOCK_STATUS_CHUNKS_MAX - 1);
        List<CompletableFuture<Optional<Chunk>>> lookups = new ArrayList<>();
        for (long index = firstChunk; index <= lastChunk; index++) {
            lookups.add(chunks.lookup(index));
        }
        return CompletableFuture.allOf(lookups.toArray(CompletableFuture[]::new)).handle((ignored, error) -> {
            if (error != null) {
                throw new BlockDeviceException(Kind.IO, "block status of volume \"" + volume.name() + "\": "
                        + ChunkRetries.rootMessage(error), error);
            }
            List<Extent> extents = new ArrayList<>();
            long at = offsetBytes;
            long stop = Math.min(end, Math.min(sizeBytes(), (lastChunk + 1) * chunkSize));
            boolean runHole = false;
            long runStart = at;
            for (int i = 0; at < stop; i++) {
                long chunkEnd = Math.min(stop, (firstChunk + i + 1) * chunkSize);
                boolean hole = lookups.get(i).join().isEmpty();
                if (at == runStart) {
                    runHole = hole;
                } else if (hole != runHole) {
                    extents.add(new Extent(at - runStart, runHole, runHole));
                    if (extents.size() == extentsMax) {
                        return extents;
                    }
                    runStart = at;
                    runHole = hole;
                }
                at = chunkEnd;
            }
            extents.add(new Extent(at - runStart, runHole, runHole));
            return extents;
        });
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        // Requests waiting for QoS go on and fail rather than hang: reads as closed, writes as
        // fenced (the lease is released).
        FlattenWorker worker = flattenWorker;
        if (worker != null) {
            worker.stop(); // before the lease goes: its next step would be fenced anyway
        }
        live.close();
        lease.release();
    }

    /** Null when a request may go now (always, without limits); else a future for when it may. */
    private CompletableFuture<Void> admission(QosLimiter.Kind kind, long bytes) {
        QosLimiter qos = live.limiter();
        return qos == null ? null : qos.admit(kind, bytes);
    }

    /**
     * Reads the volume record from meta now and takes its size and QoS limits (see
     * {@link LiveVolume}): the NBD gateway calls it when a new connection opens a volume already
     * open, so that connection sees a resize at once. Completes with the record in force.
     */
    public CompletableFuture<Volume> refreshVolume() {
        return live.refresh();
    }

    // ---------------------------------------------------------------------------------------
    // Helpers

    /** A piece of I/O inside one chunk. */
    @FunctionalInterface
    private interface PieceConsumer {
        void piece(long chunkIndex, long chunkOffset, int lengthBytes, int bufferOffset);
    }

    /** Cuts {@code [offset, offset + length)} at chunk boundaries and at the request size limit. */
    private void forEachPiece(long offsetBytes, long lengthBytes, PieceConsumer consumer) {
        for (java.util.Iterator<Piece> pieces = pieces(offsetBytes, lengthBytes); pieces.hasNext(); ) {
            Piece piece = pieces.next();
            consumer.piece(piece.chunkIndex(), piece.chunkOffset(), piece.lengthBytes(),
                    (int) Math.min(Integer.MAX_VALUE, piece.rangeOffset()));
        }
    }

    /** A piece of a range: inside one chunk, at most one request long, {@code rangeOffset} into the range. */
    private record Piece(long chunkIndex, long chunkOffset, int lengthBytes, long rangeOffset) {}

    /** The pieces of {@code [offset, offset + length)}, cut as they are asked for (a range may be millions). */
    private java.util.Iterator<Piece> pieces(long offsetBytes, long lengthBytes) {
        long chunkSize = volume.chunkSizeBytes();
        int requestMax = cluster.config().requestBytesMax();
        long end = offsetBytes + lengthBytes;
        return new java.util.Iterator<>() {
            private long at = offsetBytes;

            @Override
            public boolean hasNext() {
                return at < end;
            }

            @Override
            public Piece next() {
                if (at >= end) {
                    throw new java.util.NoSuchElementException();
                }
                long chunkOffset = at % chunkSize;
                Piece piece = new Piece(at / chunkSize, chunkOffset,
                        (int) Math.min(Math.min(end - at, chunkSize - chunkOffset), requestMax), at - offsetBytes);
                at += piece.lengthBytes();
                return piece;
            }
        };
    }

    private static CompletableFuture<Void> allOf(List<CompletableFuture<Void>> parts) {
        if (parts.size() == 1) {
            return parts.getFirst();
        }
        return CompletableFuture.allOf(parts.toArray(CompletableFuture[]::new));
    }

    private static long alignUp(long offsetBytes) {
        return (offsetBytes + BLOCK_SIZE_BYTES - 1) & -BLOCK_SIZE_BYTES;
    }

    /** Null when a request may go ahead; otherwise why not: closed, fenced (writes), out of range. */
    private BlockDeviceException refusal(long offsetBytes, long lengthBytes, boolean write) {
        try {
            if (write) {
                checkWritable();
            } else {
                checkOpen();
            }
            BlockDevice.checkRange(offsetBytes, lengthBytes, sizeBytes());
            return null;
        } catch (BlockDeviceException e) {
            return e;
        }
    }

    private void checkOpen() {
        if (closed) {
            throw closedError();
        }
    }

    private void checkWritable() {
        checkOpen();
        String fenced = lease.fencedReason();
        if (fenced != null) {
            throw new BlockDeviceException(Kind.IO, fenced);
        }
    }

    private BlockDeviceException closedError() {
        return new BlockDeviceException(Kind.SHUTDOWN, "volume \"" + volume.name() + "\" is closed");
    }

}
