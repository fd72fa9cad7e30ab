package io.basalt.client;

import static io.basalt.protocol.data.BlockCrc.BLOCK_SHIFT;
import static io.basalt.protocol.data.BlockCrc.BLOCK_SIZE_BYTES;

import io.basalt.common.block.BlockDevice;
import io.basalt.common.block.BlockDeviceException;
import io.basalt.common.block.BlockDeviceException.Kind;
import io.basalt.common.block.Extent;
import io.basalt.meta.api.MetaError;
import io.basalt.meta.api.MetaException;
import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.ChunkletState;
import io.basalt.meta.model.Policy;
import io.basalt.meta.model.Volume;
import io.basalt.protocol.data.BlockCrc;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import io.basalt.protocol.data.EcLayout;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.CompositeByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A replicated volume as a {@link BlockDevice}: what every gateway serves. I/O is cut at chunk
 * boundaries and at the chunk server request limit, and every piece goes straight to the chunk
 * servers holding it, in parallel.
 *
 * <p>Design note.
 * <ul>
 *   <li>Writes: the CRC32C of every 4 KiB block is computed once, at entry, and travels with the
 *       data on every try, so a retry can never carry bytes other than the caller's. A piece goes
 *       to the primary (the first UPTODATE chunklet, else the first MIGRATING one) as FORWARD
 *       with the other replicas that take writes (UPTODATE, MIGRATING and RECOVERING) listed; the primary answers when every replica has it durable. A write
 *       acknowledged to the caller is therefore durable on every replica in the map: flush has
 *       nothing left to do.</li>
 *   <li>Reads go to the primary and every block's CRC32C is checked before it is copied out.
 *       Ranges of never-written chunks read as zeroes without a round trip ({@link ChunkMap}).</li>
 *   <li>Failures: a chunk server that fails (connection, timeout, I/O error, corrupt block, full
 *       disk, or named by the primary as a failed replica) is reported to meta, which replaces its
 *       chunklet and raises the chunk version; the piece is then tried again on the new map. A
 *       refusal for a stale version fetches the map again. The last readable (UPTODATE or
 *       MIGRATING) chunklet of a chunk is
 *       never reported (it holds the only good copy): the piece is retried on it, bounded, and the
 *       error reaches the caller only when the tries are used up.</li>
 *   <li>Unaligned writes (clients that ignore the advertised 4 KiB minimum block size) are done
 *       by read-modify-write of the edge blocks; two concurrent unaligned writes to one block may
 *       lose one of them. NBD clients that honor the minimum (qemu, nbdcopy, fio) never send
 *       them.</li>
 * </ul>
 */
public final class VolumeDevice implements BlockDevice {
    private static final Logger log = LoggerFactory.getLogger(VolumeDevice.class);
    /**
     * Sub-stripe writes of EC volumes go to the hot tier (docs/hot-tier.md); off by default. Read
     * when a device opens, so a test can turn it on for the devices it opens.
     */
    private final boolean hotTier = Boolean.getBoolean("basalt.client.hotTier");
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
    private final ConcurrentHashMap<ReportKey, CompletableFuture<Chunk>> reports = new ConcurrentHashMap<>();
    private final WriteGate gate = new WriteGate();
    private static final String STRIPE_UNAVAILABLE_REASON = "stripe_unavailable";
    /** Set for an erasure-coded volume: writes go to each chunk's stripe master (see the EC section). */
    private final Policy policy;
    /** Which blocks a chunk holds, for reads through a parent layer (docs/snapshots.md). */
    private final BlockPresence presence;
    /** This device as a layer of {@link LayerReader}: its own chunks, and its parent by id. */
    private final LayerReader.Layer asLayer;
    /** Parent layers opened read-only (they never change), by volume id. */
    private final ConcurrentHashMap<Long, CompletableFuture<LayerReader.Layer>> layers = new ConcurrentHashMap<>();
    private volatile boolean closed;

    private record ReportKey(long chunkUid, long chunkVersion, int csId) {}

    private VolumeDevice(ClusterClient cluster, Volume volume, VolumeLease lease) {
        this.cluster = cluster;
        this.volume = volume;
        this.lease = lease;
        this.chunks = new ChunkMap(cluster, volume.id());
        this.policy = Policy.parse(volume.policyName());
        this.live = new LiveVolume(cluster, volume, chunks);
        this.presence = new BlockPresence(cluster, policy,
                (target, address, op, reply, error) -> checkReply(target, address, op, reply, error, List.of()));
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
    private CompletableFuture<LayerReader.Layer> parentLayer(long layerId) {
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

    /** Blocking: finds the volume and takes its lease. */
    static VolumeDevice open(ClusterClient cluster, String name, String clientId) {
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

    /** This layer's own blocks of an aligned range, and per piece which it does not hold. */
    private CompletableFuture<List<LayerReader.Own>> readOwn(long offsetBytes, int lengthBytes, ByteBuf destination,
            int destinationIndex) {
        List<CompletableFuture<LayerReader.Own>> parts = new ArrayList<>();
        forEachPiece(offsetBytes, lengthBytes, (chunkIndex, chunkOffset, pieceBytes, at) -> {
            CompletableFuture<LayerReader.Own> own = new CompletableFuture<>();
            AtomicOwn holder = new AtomicOwn();
            withRetries("read", chunkIndex, () -> readOwnPiece(chunkIndex, chunkOffset, pieceBytes, destination,
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

    /**
     * One step of a flatten ({@link Flatten}): writes into this volume's own chunks every non-zero
     * block of the aligned range that it reads through its parent layers; completes with the bytes
     * written. An all-zero block is left absent: once the parent is detached it reads as zeroes
     * anyway, and the volume stays thin. The caller holds the lease, so no other write races the
     * copy; run again, a step copies only what is still absent (resumable).
     */
    CompletableFuture<Long> copyUp(long offsetBytes, int lengthBytes) {
        ByteBuf own = alloc.directBuffer(lengthBytes, lengthBytes);
        return readOwn(offsetBytes, lengthBytes, own, 0).thenCompose(pieces -> {
            List<CompletableFuture<Long>> copies = new ArrayList<>();
            for (LayerReader.Own piece : pieces) {
                if (piece.complete()) {
                    continue;
                }
                int blocks = piece.lengthBytes() >> BLOCK_SHIFT;
                for (int run = piece.absent().nextSetBit(0); run >= 0 && run < blocks;
                        run = piece.absent().nextSetBit(run)) {
                    int runEnd = Math.min(piece.absent().nextClearBit(run), blocks);
                    long runOffset = piece.offsetBytes() + ((long) run << BLOCK_SHIFT);
                    int runBytes = (runEnd - run) << BLOCK_SHIFT;
                    copies.add(parentLayer(piece.parentId()).thenCompose(parent -> {
                        ByteBuf below = alloc.directBuffer(runBytes, runBytes);
                        return LayerReader.read(parent, runOffset, runBytes, below, 0)
                                .thenCompose(read -> writeNonZero(runOffset, below, runBytes))
                                .whenComplete((written, error) -> below.release());
                    }));
                    run = runEnd;
                }
            }
            return CompletableFuture.allOf(copies.toArray(CompletableFuture[]::new))
                    .thenApply(ignored -> copies.stream().mapToLong(CompletableFuture::join).sum());
        }).whenComplete((done, error) -> own.release());
    }

    /** Writes the runs of non-zero blocks of {@code data} (indices unchanged) at {@code offsetBytes}. */
    private CompletableFuture<Long> writeNonZero(long offsetBytes, ByteBuf data, int lengthBytes) {
        List<CompletableFuture<Void>> writes = new ArrayList<>();
        long written = 0;
        int blocks = lengthBytes >> BLOCK_SHIFT;
        int block = 0;
        while (block < blocks) {
            while (block < blocks && isZeroBlock(data, block << BLOCK_SHIFT)) {
                block++;
            }
            int start = block;
            while (block < blocks && !isZeroBlock(data, block << BLOCK_SHIFT)) {
                block++;
            }
            if (block > start) {
                int bytes = (block - start) << BLOCK_SHIFT;
                writes.add(write(offsetBytes + ((long) start << BLOCK_SHIFT),
                        data.slice(start << BLOCK_SHIFT, bytes), false)); // data is released after all complete
                written += bytes;
            }
        }
        long total = written;
        return allOf(writes).thenApply(ignored -> total);
    }

    private static boolean isZeroBlock(ByteBuf data, int index) {
        for (int i = 0; i < BLOCK_SIZE_BYTES; i += 8) {
            if (data.getLong(index + i) != 0) {
                return false;
            }
        }
        return true;
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
                destination.setZero(destinationIndex, lengthBytes);
                BitSet all = new BitSet(blocks);
                all.set(0, blocks);
                result.own = new LayerReader.Own(volumeOffset, lengthBytes, all, live.volume().parentId());
                return CompletableFuture.completedFuture(null);
            }
            Chunk chunk = found.get();
            CompletableFuture<BitSet> absent = parentAtStart == 0 ? CompletableFuture.completedFuture(new BitSet())
                    : presence.absent(chunk, policy.erasureCoded() ? ecMaster(chunk) : primary(chunk), chunkOffset,
                            lengthBytes);
            return absent.thenCompose(bits -> readPiece(chunk, chunkOffset, lengthBytes, destination,
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

    private CompletableFuture<Void> readPiece(Chunk chunk, long chunkOffset, int lengthBytes, ByteBuf destination,
            int destinationIndex) {
        {
            if (policy.erasureCoded()) {
                return ecRead(chunk, chunkOffset, lengthBytes, destination, destinationIndex);
            }
            Chunklet source = primary(chunk);
            return cluster.directory().address(source.csId()).thenCompose(address ->
                    cluster.connections().request(address, DataFrame.TYPE_READ, chunk.uid(), chunk.version(),
                            chunkOffset, lengthBytes, null)
                            .handle((reply, error) -> {
                                try {
                                    checkReply(source, address, "read", reply, error, List.of());
                                    copyVerified(chunk, source, address, chunkOffset, lengthBytes, reply,
                                            destination, destinationIndex);
                                    return (Void) null;
                                } finally {
                                    release(reply);
                                }
                            }));
        }
    }

    /** Checks every block's CRC32C in a READ reply, then copies the data out. */
    private void copyVerified(Chunk chunk, Chunklet source, String address, long chunkOffset, int lengthBytes,
            DataClient.Reply reply, ByteBuf destination, int destinationIndex) {
        ByteBuf payload = reply.payload();
        int blocks = lengthBytes >> BLOCK_SHIFT;
        if (payload.readableBytes() != lengthBytes + 4 * blocks) {
            throw AttemptFailure.report("bad_reply", List.of(source.csId()), "chunk server " + source.csId()
                    + " at " + address + " sent " + payload.readableBytes() + " bytes for a " + lengthBytes
                    + "-byte read");
        }
        int dataAt = payload.readerIndex();
        ByteBuffer view = BlockCrc.blocksView(payload, dataAt, blocks);
        for (int i = 0; i < blocks; i++) {
            int sent = payload.getInt(dataAt + lengthBytes + 4 * i);
            if (BlockCrc.ofBlock(view, payload, dataAt, i) != sent) {
                cluster.metrics().corruptReads.inc();
                throw AttemptFailure.report("corrupt_reply", List.of(source.csId()), "block at offset "
                        + (chunkOffset + ((long) i << BLOCK_SHIFT)) + " of chunk " + Long.toHexString(chunk.uid())
                        + " from chunk server " + source.csId() + " at " + address + " fails its CRC32C");
            }
        }
        destination.setBytes(destinationIndex, payload, dataAt, lengthBytes);
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
                parts.add(withRetries("write", chunkIndex, () -> writePiece(chunkIndex, chunkOffset, data,
                        dataAt + at, pieceBytes, crcs, at >> BLOCK_SHIFT))));
        return allOf(parts);
    }

    private CompletableFuture<Void> writePiece(long chunkIndex, long chunkOffset, ByteBuf data, int dataIndex,
            int lengthBytes, int[] crcs, int firstBlock) {
        String fenced = lease.fencedReason();
        if (fenced != null) {
            return CompletableFuture.failedFuture(AttemptFailure.giveUp(Kind.IO, fenced));
        }
        return chunks.allocate(chunkIndex).thenCompose(chunk -> {
            if (policy.erasureCoded()) {
                return ecWrite(chunk, chunkOffset, data, dataIndex, lengthBytes, crcs, firstBlock);
            }
            Chunklet primary = primary(chunk);
            List<Chunklet> others = new ArrayList<>();
            for (Chunklet chunklet : chunk.chunklets()) {
                if (chunklet != primary && takesWrites(chunklet)) {
                    others.add(chunklet);
                }
            }
            return addresses(primary, others).thenCompose(addresses -> {
                String primaryAddress = addresses.getFirst();
                List<String> replicaAddresses = addresses.subList(1, addresses.size());
                int blocks = lengthBytes >> BLOCK_SHIFT;
                ByteBuf trailer = alloc.buffer(4 * blocks + (replicaAddresses.isEmpty() ? 0 : 64 * addresses.size()));
                for (int i = 0; i < blocks; i++) {
                    trailer.writeInt(crcs[firstBlock + i]);
                }
                if (!replicaAddresses.isEmpty()) {
                    DataClient.appendReplicaList(trailer, replicaAddresses);
                }
                CompositeByteBuf payload = alloc.compositeBuffer(2);
                payload.addComponents(true, data.retainedSlice(dataIndex, lengthBytes), trailer);
                int type = replicaAddresses.isEmpty() ? DataFrame.TYPE_WRITE : DataFrame.TYPE_FORWARD;
                return cluster.connections().request(primaryAddress, type, chunk.uid(), chunk.version(), chunkOffset,
                        lengthBytes, payload).handle((reply, error) -> {
                            try {
                                checkReply(primary, primaryAddress, "write", reply, error, others);
                                return null;
                            } finally {
                                release(reply);
                            }
                        });
            });
        });
    }

    private CompletableFuture<List<String>> addresses(Chunklet primary, List<Chunklet> others) {
        List<CompletableFuture<String>> lookups = new ArrayList<>();
        lookups.add(cluster.directory().address(primary.csId()));
        for (Chunklet chunklet : others) {
            lookups.add(cluster.directory().address(chunklet.csId()));
        }
        return CompletableFuture.allOf(lookups.toArray(CompletableFuture[]::new))
                .thenApply(ignored -> lookups.stream().map(CompletableFuture::join).toList());
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

    /** TRIM or WRITE_ZEROES of an aligned range: to every replica of each allocated chunk. */
    private CompletableFuture<Void> zeroAligned(int type, long offsetBytes, long lengthBytes) {
        List<CompletableFuture<Void>> parts = new ArrayList<>();
        String op = DataFrame.typeName(type);
        forEachPiece(offsetBytes, lengthBytes, (chunkIndex, chunkOffset, pieceBytes, at) ->
                parts.add(withRetries(op, chunkIndex, () -> zeroPiece(type, chunkIndex, chunkOffset, pieceBytes))));
        return allOf(parts);
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
            Chunk chunk = found.get();
            if (policy.erasureCoded()) {
                return ecZero(chunk, chunkOffset, lengthBytes);
            }
            List<Chunklet> targets = chunk.chunklets().stream().filter(VolumeDevice::takesWrites).toList();
            List<CompletableFuture<AttemptFailure>> sends = new ArrayList<>();
            for (Chunklet target : targets) {
                sends.add(cluster.directory().address(target.csId()).thenCompose(address ->
                        cluster.connections().request(address, type, chunk.uid(), chunk.version(), chunkOffset,
                                lengthBytes, null).handle((reply, error) -> {
                                    try {
                                        checkReply(target, address, DataFrame.typeName(type), reply, error,
                                                List.of());
                                        return (AttemptFailure) null;
                                    } catch (AttemptFailure failure) {
                                        return failure;
                                    } finally {
                                        release(reply);
                                    }
                                })));
            }
            return CompletableFuture.allOf(sends.toArray(CompletableFuture[]::new)).thenApply(ignored -> {
                AttemptFailure worst = null;
                List<Integer> failed = new ArrayList<>();
                for (CompletableFuture<AttemptFailure> send : sends) {
                    AttemptFailure failure = send.join();
                    if (failure == null) {
                        continue;
                    }
                    failed.addAll(failure.failedCsIds);
                    if (worst == null || failure.remedy.ordinal() > worst.remedy.ordinal()) {
                        worst = failure;
                    }
                }
                if (worst == null) {
                    return null;
                }
                if (worst.remedy == AttemptFailure.Remedy.REPORT) {
                    throw AttemptFailure.report(worst.reason, failed, worst.getMessage());
                }
                throw worst;
            });
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
                        + rootMessage(error), error);
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
    // Erasure-coded chunks (docs/client.md, "Erasure-coded volumes")
    //
    // A chunk of an ec(k, m) volume is k data columns and m parity columns; chunk-logical byte x is
    // in stripe x / (k * 4096), column (x / 4096) % k. Writes go whole to the stripe master (the
    // first UPTODATE parity column), which runs the two-phase commit. Reads go straight to the data
    // columns; anything they cannot give (down, corrupt, an undecided strip) is read through the
    // master, which reconstructs it from k strips whose versions agree.

    private CompletableFuture<Void> ecWrite(Chunk chunk, long chunkOffset, ByteBuf data, int dataIndex,
            int lengthBytes, int[] crcs, int firstBlock) {
        long stripeBytes = (long) policy.dataCount() * BLOCK_SIZE_BYTES;
        if (hotTier && chunkOffset / stripeBytes == (chunkOffset + lengthBytes - 1) / stripeBytes
                && lengthBytes < stripeBytes) {
            return hotWrite(chunk, chunkOffset, data, dataIndex, lengthBytes, crcs, firstBlock);
        }
        return coldWrite(chunk, chunkOffset, data, dataIndex, lengthBytes, crcs, firstBlock);
    }

    /**
     * Hot tier (docs/hot-tier.md): part of one stripe goes to the stripe master as HOT_WRITE, which
     * logs it on the m + 1 hot replicas of each block (one WAL sync, no read-modify-write); a master
     * whose hot store is full (HOT_FULL) gets it again as an EC write, so writes never fail for it.
     * Off unless {@code -Dbasalt.client.hotTier=true}: the freezer that moves hot data into the
     * stripes is not built yet, so hot data stays hot until the store fills.
     */
    private CompletableFuture<Void> hotWrite(Chunk chunk, long chunkOffset, ByteBuf data, int dataIndex,
            int lengthBytes, int[] crcs, int firstBlock) {
        Chunklet master = ecMaster(chunk);
        return ecLayout(chunk, master).thenCompose(layout -> {
            int blocks = lengthBytes >> BLOCK_SHIFT;
            ByteBuf trailer = alloc.buffer(4 * blocks + layout.encodedBytes());
            for (int i = 0; i < blocks; i++) {
                trailer.writeInt(crcs[firstBlock + i]);
            }
            layout.writeTo(trailer);
            CompositeByteBuf payload = alloc.compositeBuffer(2);
            payload.addComponents(true, data.retainedSlice(dataIndex, lengthBytes), trailer);
            String address = layout.address(layout.masterIndex());
            List<Chunklet> others = chunk.chunklets().stream().filter(c -> c != master).toList();
            return cluster.connections().request(address, DataFrame.TYPE_HOT_WRITE, chunk.uid(), chunk.version(),
                    chunkOffset, lengthBytes, payload).handle((reply, error) -> {
                        try {
                            if (error == null && reply.status() == CsStatus.HOT_FULL) {
                                cluster.metrics().retries.labelValues("write", "hot_full").inc();
                                return true;
                            }
                            checkReply(master, address, DataFrame.typeName(DataFrame.TYPE_HOT_WRITE), reply, error,
                                    others);
                            return false;
                        } finally {
                            release(reply);
                        }
                    }).thenCompose(full -> full
                            ? coldWrite(chunk, chunkOffset, data, dataIndex, lengthBytes, crcs, firstBlock)
                            : CompletableFuture.<Void>completedFuture(null));
        });
    }

    private CompletableFuture<Void> coldWrite(Chunk chunk, long chunkOffset, ByteBuf data, int dataIndex,
            int lengthBytes, int[] crcs, int firstBlock) {
        Chunklet master = ecMaster(chunk);
        return ecLayout(chunk, master).thenCompose(layout -> {
            int blocks = lengthBytes >> BLOCK_SHIFT;
            ByteBuf trailer = alloc.buffer(4 * blocks + layout.encodedBytes());
            for (int i = 0; i < blocks; i++) {
                trailer.writeInt(crcs[firstBlock + i]);
            }
            layout.writeTo(trailer);
            CompositeByteBuf payload = alloc.compositeBuffer(2);
            payload.addComponents(true, data.retainedSlice(dataIndex, lengthBytes), trailer);
            return ecToMaster(chunk, master, layout, DataFrame.TYPE_EC_WRITE, chunkOffset, lengthBytes, payload,
                    reply -> null);
        });
    }

    /**
     * Zeroes go through the master like data: parity must cover them, and versions must advance.
     * Always to the stripes, never hot: their version then hides any older hot copy (read rule).
     */
    private CompletableFuture<Void> ecZero(Chunk chunk, long chunkOffset, int lengthBytes) {
        ByteBuf zeroes = alloc.directBuffer(lengthBytes).writeZero(lengthBytes);
        int[] crcs = new int[lengthBytes >> BLOCK_SHIFT];
        java.util.Arrays.fill(crcs, BlockCrc.ZERO_BLOCK_CRC);
        return coldWrite(chunk, chunkOffset, zeroes, 0, lengthBytes, crcs, 0)
                .whenComplete((ignored, error) -> zeroes.release());
    }

    private CompletableFuture<Void> ecRead(Chunk chunk, long chunkOffset, int lengthBytes, ByteBuf destination,
            int destinationIndex) {
        int k = policy.dataCount();
        List<Chunklet> columns = ecColumns(chunk);
        long stripeBytes = (long) k * BLOCK_SIZE_BYTES;
        long firstStripe = chunkOffset / stripeBytes;
        long lastStripe = (chunkOffset + lengthBytes - 1) / stripeBytes;
        List<CompletableFuture<AttemptFailure>> parts = new ArrayList<>();
        for (int c = 0; c < k; c++) {
            // Column c's strips in the range: a contiguous run of stripes (the ends may not reach c).
            long from = firstStripe * stripeBytes + (long) c * BLOCK_SIZE_BYTES >= chunkOffset ? firstStripe
                    : firstStripe + 1;
            long to = lastStripe * stripeBytes + (long) c * BLOCK_SIZE_BYTES < chunkOffset + lengthBytes ? lastStripe
                    : lastStripe - 1;
            if (from > to) {
                continue;
            }
            Chunklet column = columns.get(c);
            if (column.state() != ChunkletState.UPTODATE) {
                parts.add(CompletableFuture.completedFuture(AttemptFailure.retry("ec_degraded", "column " + c
                        + " is " + column.state())));
                continue;
            }
            int column0 = c;
            int strips = (int) (to - from + 1);
            parts.add(cluster.directory().address(column.csId()).thenCompose(address ->
                    cluster.connections().request(address, DataFrame.TYPE_READ, chunk.uid(), chunk.version(),
                            from * BLOCK_SIZE_BYTES, strips * BLOCK_SIZE_BYTES, null).handle((reply, error) -> {
                                try {
                                    checkReply(column, address, "read", reply, error, List.of());
                                    ByteBuf payload = reply.payload();
                                    int dataAt = payload.readerIndex();
                                    int bytes = strips * BLOCK_SIZE_BYTES;
                                    if (payload.readableBytes() != bytes + 4 * strips) {
                                        throw AttemptFailure.report("bad_reply", List.of(column.csId()),
                                                "chunk server " + column.csId() + " sent " + payload.readableBytes()
                                                        + " bytes for a " + bytes + "-byte read");
                                    }
                                    ByteBuffer view = BlockCrc.blocksView(payload, dataAt, strips);
                                    for (int i = 0; i < strips; i++) {
                                        if (BlockCrc.ofBlock(view, payload, dataAt, i)
                                                != payload.getInt(dataAt + bytes + 4 * i)) {
                                            cluster.metrics().corruptReads.inc();
                                            throw AttemptFailure.report("corrupt_reply", List.of(column.csId()),
                                                    "strip " + (from + i) + " of column " + column0 + " of chunk "
                                                            + Long.toHexString(chunk.uid()) + " fails its CRC32C");
                                        }
                                        long logical = (from + i) * stripeBytes + (long) column0 * BLOCK_SIZE_BYTES;
                                        // Columns answer on different threads: each copies through its
                                        // own NIO view (ByteBuf.setBytes is not safe from several
                                        // threads at once; seen: BufferOverflowException in the
                                        // adaptive allocator's shared internal buffer).
                                        copyStrip(destination, destinationIndex + (int) (logical - chunkOffset),
                                                payload, dataAt + i * BLOCK_SIZE_BYTES);
                                    }
                                    return (AttemptFailure) null;
                                } catch (AttemptFailure failure) {
                                    return failure;
                                } finally {
                                    release(reply);
                                }
                            })));
        }
        return CompletableFuture.allOf(parts.toArray(CompletableFuture[]::new)).thenCompose(ignored -> {
            List<Integer> failed = new ArrayList<>();
            boolean anyFailure = false;
            for (CompletableFuture<AttemptFailure> part : parts) {
                AttemptFailure failure = part.join();
                if (failure != null) {
                    anyFailure = true;
                    if (failure.remedy == AttemptFailure.Remedy.REPORT) {
                        failed.addAll(failure.failedCsIds);
                    }
                }
            }
            if (!anyFailure) {
                return CompletableFuture.completedFuture(null);
            }
            cluster.metrics().retries.labelValues("read", "ec_reconstruct").inc();
            // Meta marks them, so writes leave them out and the recoverer rebuilds them (or the
            // directory learns that one restarted elsewhere): the master is then told the news.
            CompletableFuture<Void> reported = failed.isEmpty() ? CompletableFuture.completedFuture(null)
                    : report(chunk, failed).exceptionally(error -> {
                        log.warn("reporting failed columns of chunk {}: {}", Long.toHexString(chunk.uid()),
                                rootMessage(error));
                        return null;
                    });
            return reported.thenCompose(done -> chunks.lookup(chunk.index())).thenCompose(latest -> {
                Chunk current = latest.orElse(chunk);
                Chunklet master = ecMaster(current);
                return ecLayout(current, master).thenApply(layout -> Map.entry(current, layout));
            }).thenCompose(entry -> {
                Chunk current = entry.getKey();
                EcLayout layout = entry.getValue();
                Chunklet master = ecColumns(current).get(layout.masterIndex());
                ByteBuf payload = alloc.buffer(layout.encodedBytes());
                layout.writeTo(payload);
                return ecToMaster(current, master, layout, DataFrame.TYPE_EC_READ, chunkOffset, lengthBytes, payload,
                        reply -> {
                            copyVerified(current, master, layout.address(layout.masterIndex()), chunkOffset, lengthBytes,
                                    reply, destination, destinationIndex);
                            return null;
                        });
            });
        });
    }

    /** Sends an EC_WRITE or EC_READ to the stripe master and checks the reply. */
    private CompletableFuture<Void> ecToMaster(Chunk chunk, Chunklet master, EcLayout layout, int type,
            long chunkOffset, int lengthBytes, ByteBuf payload, java.util.function.Function<DataClient.Reply, Void> ok) {
        String address = layout.address(layout.masterIndex());
        List<Chunklet> others = chunk.chunklets().stream().filter(c -> c != master).toList();
        return cluster.connections().request(address, type, chunk.uid(), chunk.version(), chunkOffset, lengthBytes,
                payload).handle((reply, error) -> {
                    try {
                        checkReply(master, address, DataFrame.typeName(type), reply, error, others);
                        return ok.apply(reply);
                    } finally {
                        release(reply);
                    }
                });
    }

    /**
     * The chunklets of an EC chunk in column order. One per column: meta moves an EC column by
     * REPLACE (a column has one address in a stripe's layout), never with a second, MIGRATING
     * entry as it does for replicas.
     */
    private static List<Chunklet> ecColumns(Chunk chunk) {
        List<Chunklet> columns = new ArrayList<>(chunk.chunklets());
        columns.sort(java.util.Comparator.comparingInt(Chunklet::index));
        return columns;
    }

    /** The stripe master: the first UPTODATE parity column. */
    private Chunklet ecMaster(Chunk chunk) {
        for (Chunklet column : ecColumns(chunk)) {
            if (column.index() >= policy.dataCount() && column.state() == ChunkletState.UPTODATE) {
                return column;
            }
        }
        throw AttemptFailure.giveUp(Kind.IO, "chunk " + Long.toHexString(chunk.uid()) + " (version " + chunk.version()
                + ") has no up-to-date parity column to act as stripe master: " + chunk.chunklets());
    }

    /** The layout the master needs: every column's address, and which are UPTODATE (take part). */
    private CompletableFuture<EcLayout> ecLayout(Chunk chunk, Chunklet master) {
        List<Chunklet> columns = ecColumns(chunk);
        List<CompletableFuture<String>> lookups = new ArrayList<>();
        for (Chunklet column : columns) {
            lookups.add(cluster.directory().address(column.csId()));
        }
        return CompletableFuture.allOf(lookups.toArray(CompletableFuture[]::new)).thenApply(ignored -> new EcLayout(
                policy.dataCount(), policy.parityCount(), columns.indexOf(master),
                lookups.stream().map(CompletableFuture::join).toList(),
                columns.stream().map(c -> c.state() == ChunkletState.UPTODATE).toList(),
                // RECOVERING columns are written (never read) so that they miss nothing while rebuilt.
                columns.stream().map(c -> c.state() == ChunkletState.RECOVERING).toList()));
    }

    // ---------------------------------------------------------------------------------------
    // The retry loop and reply classification

    /** Tries {@code attempt} until it succeeds, a failure says give up, or the tries are used up. */
    private CompletableFuture<Void> withRetries(String op, long chunkIndex, Supplier<CompletableFuture<Void>> attempt) {
        CompletableFuture<Void> result = new CompletableFuture<>();
        tryOnce(op, chunkIndex, attempt, 1, result);
        return result;
    }

    private void tryOnce(String op, long chunkIndex, Supplier<CompletableFuture<Void>> attempt, int attemptNumber,
            CompletableFuture<Void> result) {
        CompletableFuture<Void> tried;
        try {
            tried = attempt.get();
        } catch (RuntimeException e) {
            tried = CompletableFuture.failedFuture(e);
        }
        tried.whenComplete((ignored, error) -> {
            if (error == null) {
                result.complete(null);
                return;
            }
            Throwable cause = unwrap(error);
            AttemptFailure failure = cause instanceof AttemptFailure f ? f : classifyOther(cause);
            if (failure.remedy == AttemptFailure.Remedy.GIVE_UP || closed
                    || attemptNumber >= cluster.config().attemptsMax()
                    || (failure.reason.equals(STRIPE_UNAVAILABLE_REASON) && attemptNumber >= 2)) {
                String tries = attemptNumber > 1 ? " (after " + attemptNumber + " tries)" : "";
                result.completeExceptionally(new BlockDeviceException(closed ? Kind.SHUTDOWN : failure.kind,
                        op + " of volume \"" + volume.name() + "\" chunk " + chunkIndex + ": " + failure.getMessage()
                                + tries, cause));
                return;
            }
            cluster.metrics().retries.labelValues(op, failure.reason).inc();
            log.debug("{} of volume \"{}\" chunk {} try {}: {}", op, volume.name(), chunkIndex, attemptNumber,
                    failure.getMessage());
            remedy(chunkIndex, failure).whenComplete((done, remedyError) -> {
                if (remedyError != null) {
                    log.warn("{} of volume \"{}\" chunk {}: {}", op, volume.name(), chunkIndex,
                            rootMessage(remedyError));
                }
                long delayMillis = Math.min(cluster.config().retryBackoffMillisMax(),
                        20L << Math.min(attemptNumber - 1, 10));
                cluster.scheduler().schedule(() -> tryOnce(op, chunkIndex, attempt, attemptNumber + 1, result),
                        delayMillis, TimeUnit.MILLISECONDS);
            });
        });
    }

    private CompletableFuture<?> remedy(long chunkIndex, AttemptFailure failure) {
        return switch (failure.remedy) {
            // The volume record first: a snapshot moves the chunk out of this volume and changes its
            // parent in one meta entry, and the parent must be known before the chunk is seen gone
            // (docs/snapshots.md, "Fencing"). A failed record read is no reason not to retry.
            case REFRESH -> live.refresh().handle((fresh, error) -> null).thenCompose(ignored ->
                    chunks.lookup(chunkIndex)).thenCompose(found -> found.isEmpty()
                    ? CompletableFuture.completedFuture(found)
                    : chunks.refresh(chunkIndex, found.get().version()));
            case REPORT -> chunks.lookup(chunkIndex).thenCompose(found -> found.isEmpty()
                    ? CompletableFuture.completedFuture(null)
                    : report(found.get(), failure.failedCsIds));
            case RETRY, GIVE_UP -> CompletableFuture.completedFuture(null);
        };
    }

    /**
     * Reports {@code csIds} failed for {@code chunk}, one after another (each report raises the
     * version, and meta ignores a report about an older one), except the last UPTODATE chunklet (for
     * an erasure-coded chunk: while only k are UPTODATE, the least that still holds the data).
     */
    private CompletableFuture<Void> report(Chunk chunk, List<Integer> csIds) {
        CompletableFuture<Chunk> current = CompletableFuture.completedFuture(chunk);
        for (int csId : csIds.stream().distinct().toList()) {
            current = current.thenCompose(latest -> {
                long upToDate = latest.chunklets().stream().filter(VolumeDevice::readable).count();
                boolean isUpToDate = latest.chunklets().stream()
                        .anyMatch(c -> c.csId() == csId && readable(c));
                boolean holds = latest.chunklets().stream().anyMatch(c -> c.csId() == csId);
                if (!holds) {
                    return CompletableFuture.completedFuture(latest);
                }
                boolean lastNeeded = isUpToDate && upToDate <= (policy.erasureCoded() ? policy.dataCount() : 1);
                // Pieces failing together on one chunk server share one report.
                ReportKey key = new ReportKey(latest.uid(), latest.version(), csId);
                CompletableFuture<Chunk> mine = new CompletableFuture<>();
                CompletableFuture<Chunk> running = reports.putIfAbsent(key, mine);
                if (running != null) {
                    return running;
                }
                cluster.directory().moved(csId).whenComplete((moved, error) -> {
                    if (error == null && moved) {
                        // Restarted elsewhere: the retry goes to its new address; nothing failed.
                        log.info("chunk server {} moved; retrying chunk {} of volume \"{}\" there", csId,
                                Long.toHexString(latest.uid()), volume.name());
                        reports.remove(key, mine);
                        mine.complete(latest);
                    } else if (lastNeeded) {
                        reports.remove(key, mine); // without it the data is gone: keep it, retry
                        mine.complete(latest);
                    } else {
                        reportNow(latest, csId, key, mine);
                    }
                });
                return mine;
            });
        }
        return current.thenApply(ignored -> null);
    }

    private void reportNow(Chunk latest, int csId, ReportKey key, CompletableFuture<Chunk> mine) {
        cluster.metrics().failuresReported.inc();
        log.warn("reporting chunk server {} failed for chunk {} (version {}) of volume \"{}\"", csId,
                Long.toHexString(latest.uid()), latest.version(), volume.name());
        cluster.callMeta("report_failure", () -> cluster.meta().reportFailure(latest.uid(), latest.version(), csId))
                .whenComplete((updated, error) -> {
                    reports.remove(key, mine);
                    if (error != null) {
                        mine.completeExceptionally(error);
                    } else {
                        chunks.update(updated);
                        log.info("chunk {} of volume \"{}\" is now version {}: {}", Long.toHexString(updated.uid()),
                                volume.name(), updated.version(), updated.chunklets());
                        mine.complete(updated);
                    }
                });
    }

    /**
     * Turns a chunk server reply (or its failure) into an {@link AttemptFailure}, or returns when it
     * is OK. {@code replicas}: the chunklets a FORWARD named, to map REPLICA_FAILED to ids.
     */
    private void checkReply(Chunklet target, String address, String op, DataClient.Reply reply,
            Throwable error, List<Chunklet> replicas) {
        String who = "chunk server " + target.csId() + " at " + address;
        if (error != null) {
            throw AttemptFailure.report("unreachable", List.of(target.csId()), who + ": " + rootMessage(error));
        }
        CsStatus status = reply.status();
        if (status == CsStatus.OK) {
            return;
        }
        String message = who + " refused the " + op + ": " + status + " " + reply.message();
        throw switch (status) {
            case STALE_VERSION -> AttemptFailure.refresh(message);
            case BAD_CRC -> AttemptFailure.retry("bad_crc", message);
            case PENDING -> AttemptFailure.retry("pending", message);
            // The master names the columns it could not use; one may have restarted elsewhere: one
            // more try after the report (which first asks meta whether they moved), not twelve.
            case STRIPE_UNAVAILABLE -> {
                AttemptFailure named = replicaFailure(message, reply.message(), replicas);
                yield named.remedy == AttemptFailure.Remedy.REPORT
                        ? AttemptFailure.report(STRIPE_UNAVAILABLE_REASON, named.failedCsIds, message)
                        : AttemptFailure.giveUp(Kind.IO, message);
            }
            case REPLICA_FAILED -> replicaFailure(message, reply.message(), replicas);
            case CORRUPT_BLOCK, IO_ERROR, TIMEOUT, UNAVAILABLE, NO_SPACE ->
                    AttemptFailure.report(status.name().toLowerCase(java.util.Locale.ROOT), List.of(target.csId()),
                            message);
            default -> AttemptFailure.giveUp(Kind.IO, message);
        };
    }

    /** The primary names each failed replica by address ("replica HOST:PORT failed: ..."; ...). */
    private AttemptFailure replicaFailure(String message, String detail, List<Chunklet> replicas) {
        if (detail.contains(CsStatus.STALE_VERSION.name())) {
            return AttemptFailure.refresh(message);
        }
        List<Integer> failed = new ArrayList<>();
        for (String part : detail.split("; ")) {
            if (part.startsWith("replica ")) {
                int end = part.indexOf(' ', "replica ".length());
                String address = part.substring("replica ".length(), end < 0 ? part.length() : end);
                int csId = cluster.directory().idOf(address);
                if (csId >= 0 && replicas.stream().anyMatch(c -> c.csId() == csId)) {
                    failed.add(csId);
                }
            }
        }
        return failed.isEmpty() ? AttemptFailure.retry("replica_failed", message)
                : AttemptFailure.report("replica_failed", failed, message);
    }

    /** Copies one 4 KiB strip into {@code destination}, safely from any thread (see ecRead). */
    private static void copyStrip(ByteBuf destination, int index, ByteBuf source, int sourceIndex) {
        if (destination.nioBufferCount() == 1) {
            destination.nioBuffer(index, BLOCK_SIZE_BYTES).put(source.nioBuffer(sourceIndex, BLOCK_SIZE_BYTES));
        } else {
            synchronized (destination) {
                destination.setBytes(index, source, sourceIndex, BLOCK_SIZE_BYTES);
            }
        }
    }

    private AttemptFailure classifyOther(Throwable cause) {
        if (cause instanceof MetaException meta) {
            return switch (meta.error()) {
                // Often brief (servers UNHEALTHY for a moment after a stall): tried again, ENOSPC
                // only when the tries run out (seen: a fill failed ENOSPC on a near-empty cluster).
                case NO_PLACEMENT -> AttemptFailure.retry("no_placement", Kind.NO_SPACE,
                        "meta cannot place a new chunk: " + meta.getMessage());
                case NOT_FOUND -> AttemptFailure.giveUp(Kind.IO, meta.getMessage());
                case NOT_LEADER -> AttemptFailure.retry("meta_unavailable", meta.getMessage());
                default -> AttemptFailure.giveUp(Kind.IO, meta.getMessage());
            };
        }
        if (cause instanceof BlockDeviceException device) {
            return AttemptFailure.giveUp(device.kind(), device.getMessage());
        }
        if (cause instanceof IOException || cause instanceof IllegalStateException) {
            return AttemptFailure.retry("error", rootMessage(cause));
        }
        log.error("unexpected error in the client library", cause);
        return AttemptFailure.giveUp(Kind.IO, "unexpected error: " + cause);
    }

    // ---------------------------------------------------------------------------------------
    // Helpers

    /**
     * The chunklet reads and writes go to first: the first UPTODATE one, else the first MIGRATING
     * one (the source of a move holds current data; rep1 has nothing else while it moves).
     */
    private static Chunklet primary(Chunk chunk) {
        for (Chunklet chunklet : chunk.chunklets()) {
            if (chunklet.state() == ChunkletState.UPTODATE) {
                return chunklet;
            }
        }
        for (Chunklet chunklet : chunk.chunklets()) {
            if (chunklet.state() == ChunkletState.MIGRATING) {
                return chunklet;
            }
        }
        throw AttemptFailure.giveUp(Kind.IO, "chunk " + Long.toHexString(chunk.uid()) + " (version "
                + chunk.version() + ") has no up-to-date replica left: " + chunk.chunklets());
    }

    /**
     * UPTODATE, MIGRATING (the source of a move stays current until the move ends) and RECOVERING
     * chunklets (a replacement or a move's target being filled must not miss new writes).
     */
    private static boolean takesWrites(Chunklet chunklet) {
        return chunklet.state() == ChunkletState.UPTODATE || chunklet.state() == ChunkletState.MIGRATING
                || chunklet.state() == ChunkletState.RECOVERING;
    }

    /** Holds current data that may be read: UPTODATE, or MIGRATING (the source of a move). */
    private static boolean readable(Chunklet chunklet) {
        return chunklet.state() == ChunkletState.UPTODATE || chunklet.state() == ChunkletState.MIGRATING;
    }

    /** A piece of I/O inside one chunk. */
    @FunctionalInterface
    private interface PieceConsumer {
        void piece(long chunkIndex, long chunkOffset, int lengthBytes, int bufferOffset);
    }

    /** Cuts {@code [offset, offset + length)} at chunk boundaries and at the request size limit. */
    private void forEachPiece(long offsetBytes, long lengthBytes, PieceConsumer consumer) {
        long chunkSize = volume.chunkSizeBytes();
        int requestMax = cluster.config().requestBytesMax();
        long at = offsetBytes;
        long end = offsetBytes + lengthBytes;
        while (at < end) {
            long chunkIndex = at / chunkSize;
            long chunkOffset = at % chunkSize;
            int pieceBytes = (int) Math.min(Math.min(end - at, chunkSize - chunkOffset), requestMax);
            consumer.piece(chunkIndex, chunkOffset, pieceBytes, (int) Math.min(Integer.MAX_VALUE, at - offsetBytes));
            at += pieceBytes;
        }
    }

    private static void release(DataClient.Reply reply) {
        if (reply != null) {
            reply.release();
        }
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

    private static Throwable unwrap(Throwable error) {
        Throwable cause = error;
        while (cause instanceof CompletionException && cause.getCause() != null) {
            cause = cause.getCause();
        }
        return cause;
    }

    private static String rootMessage(Throwable error) {
        Throwable cause = unwrap(error);
        return cause.getMessage() == null ? cause.toString() : cause.getMessage();
    }
}
