package io.basalt.client;

import static io.basalt.protocol.data.BlockCrc.BLOCK_SHIFT;
import static io.basalt.protocol.data.BlockCrc.BLOCK_SIZE_BYTES;

import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.ChunkletState;
import io.basalt.meta.model.Policy;
import io.basalt.protocol.data.BlockCrc;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import io.basalt.protocol.data.EcLayout;
import io.basalt.protocol.data.StripWriteSection;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.CompositeByteBuf;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.function.BooleanSupplier;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Pieces of an erasure-coded chunk (docs/client.md, "Erasure-coded volumes").
 *
 * <p>Design note. A chunk of an ec(k, m) volume is k data columns and m parity columns;
 * chunk-logical byte x is in stripe x / (k * 4096), column (x / 4096) % k. Writes (and zeroes:
 * parity must cover them and versions must advance) go whole to the stripe master (the first
 * UPTODATE parity column), which runs the two-phase commit. Reads go straight to the data columns;
 * anything they cannot give (down, corrupt, an undecided strip) is read through the master, which
 * reconstructs it from k strips whose versions agree.
 */
final class EcPieces implements ChunkPieces {
    private static final Logger log = LoggerFactory.getLogger(EcPieces.class);
    /** Reads through the stripe master: one line per chunk per 5 s (every read of a degraded chunk takes it). */
    private static final ThrottledLog THROUGH_MASTER_LOG = new ThrottledLog(5, java.util.concurrent.TimeUnit.SECONDS);

    private final ClusterClient cluster;
    private final Policy policy;
    private final ByteBufAllocator alloc;
    private final ChunkMap chunks;
    private final ChunkRetries retries;
    /**
     * Whether sub-stripe writes go to the hot tier (docs/hot-tier.md): the volume's feature bit, read
     * from the live volume record at each write so that {@code basalt volume hot-tier} takes effect
     * within the refresh interval; -Dbasalt.client.hotTier=true turns it on for every EC volume this
     * client opens (benchmarks). Turning it off only sends new writes to EC: the freezer still folds
     * what is hot, and reads still merge it.
     */
    private final BooleanSupplier hotTier;
    private static final boolean HOT_TIER_EVERYWHERE = Boolean.getBoolean("basalt.client.hotTier");

    EcPieces(ClusterClient cluster, Policy policy, ByteBufAllocator alloc, ChunkMap chunks, ChunkRetries retries,
            BooleanSupplier volumeHotTier) {
        this.cluster = cluster;
        this.policy = policy;
        this.alloc = alloc;
        this.chunks = chunks;
        this.retries = retries;
        this.hotTier = HOT_TIER_EVERYWHERE ? () -> true : volumeHotTier;
    }

    @Override
    public Chunklet presenceSource(Chunk chunk) {
        return ChunkRoles.parityMaster(chunk, policy.dataCount());
    }

    /** The stripe master writes and reconstructing reads go to (ChunkRoles.ecMaster: fails when none). */
    private Chunklet master(Chunk chunk) {
        return ChunkRoles.ecMaster(chunk, policy.dataCount());
    }

    @Override
    public CompletableFuture<Void> zero(int type, Chunk chunk, long chunkOffset, int lengthBytes) {
        return zeroes(chunk, chunkOffset, lengthBytes);
    }

    @Override
    public CompletableFuture<Void> write(Chunk chunk, long chunkOffset, ByteBuf data, int dataIndex,
            int lengthBytes, int[] crcs, int firstBlock) {
        long stripeBytes = (long) policy.dataCount() * BLOCK_SIZE_BYTES;
        if (ChunkRoles.noParityTakesWrites(chunk, policy.dataCount())) {
            return directWrite(chunk, chunkOffset, data, dataIndex, lengthBytes, crcs, firstBlock);
        }
        if (hotTier.getAsBoolean() && chunkOffset / stripeBytes == (chunkOffset + lengthBytes - 1) / stripeBytes
                && lengthBytes < stripeBytes) {
            return hotWrite(chunk, chunkOffset, data, dataIndex, lengthBytes, crcs, firstBlock);
        }
        return coldWrite(chunk, chunkOffset, data, dataIndex, lengthBytes, crcs, firstBlock);
    }

    /**
     * Hot tier (docs/hot-tier.md): part of one stripe goes to the stripe master as HOT_WRITE, which
     * logs it on the m + 1 hot replicas of each block (one WAL sync, no read-modify-write); a master
     * whose hot store is full (HOT_FULL) gets it again as an EC write, so writes never fail for it.
     */
    private CompletableFuture<Void> hotWrite(Chunk chunk, long chunkOffset, ByteBuf data, int dataIndex,
            int lengthBytes, int[] crcs, int firstBlock) {
        Chunklet master = master(chunk);
        return layoutOf(chunk, master).thenCompose(layout -> {
            String address = layout.address(layout.masterIndex());
            List<Chunklet> others = chunk.chunklets().stream().filter(c -> c != master).toList();
            return cluster.connections().request(address, DataFrame.TYPE_HOT_WRITE, chunk.uid(), chunk.version(),
                    chunkOffset, lengthBytes, payload(layout, data, dataIndex, lengthBytes, crcs, firstBlock))
                    .handle((reply, error) -> {
                        try {
                            if (error == null && reply.status() == CsStatus.HOT_FULL) {
                                cluster.metrics().retries.labelValues("write", "hot_full").inc();
                                return true;
                            }
                            retries.checkReply(master, address, DataFrame.typeName(DataFrame.TYPE_HOT_WRITE), reply,
                                    error, others);
                            return false;
                        } finally {
                            ChunkRetries.release(reply);
                        }
                    }).thenCompose(full -> full
                            ? coldWrite(chunk, chunkOffset, data, dataIndex, lengthBytes, crcs, firstBlock)
                            : CompletableFuture.<Void>completedFuture(null));
        });
    }

    private CompletableFuture<Void> coldWrite(Chunk chunk, long chunkOffset, ByteBuf data, int dataIndex,
            int lengthBytes, int[] crcs, int firstBlock) {
        if (ChunkRoles.noParityTakesWrites(chunk, policy.dataCount())) {
            return directWrite(chunk, chunkOffset, data, dataIndex, lengthBytes, crcs, firstBlock);
        }
        Chunklet master = master(chunk);
        return layoutOf(chunk, master).thenCompose(layout -> toMaster(chunk, master, layout,
                DataFrame.TYPE_EC_WRITE, chunkOffset, lengthBytes,
                payload(layout, data, dataIndex, lengthBytes, crcs, firstBlock), reply -> null));
    }

    /**
     * Every parity column is OUTDATED, so there is no stripe master (docs/chunkserver.md, "Writes with
     * every parity column down"): each data column is sent its own strips of the range (STRIP_WRITE)
     * and writes them alone, at a version above everything it holds for them; acknowledged once every
     * one has. Every data column must be UPTODATE (with one missing too, fewer than k columns hold the
     * chunk: the write fails, as a write through a master would). A failed column is reported, and
     * the whole write is tried again (writing the same strips twice is harmless).
     */
    private CompletableFuture<Void> directWrite(Chunk chunk, long chunkOffset, ByteBuf data, int dataIndex,
            int lengthBytes, int[] crcs, int firstBlock) {
        int k = policy.dataCount();
        List<Chunklet> columns = ChunkRoles.ecColumns(chunk);
        for (Chunklet column : columns) {
            if (column.index() < k && column.state() != ChunkletState.UPTODATE) {
                return CompletableFuture.failedFuture(AttemptFailure.giveUp(
                        io.basalt.common.block.BlockDeviceException.Kind.IO, "chunk " + Long.toHexString(chunk.uid())
                                + " (version " + chunk.version() + ") has no parity column and data column "
                                + column.index() + " is " + column.state() + ": fewer than " + k
                                + " columns hold it, nothing was written (bring chunk servers back)"));
            }
        }
        List<CompletableFuture<String>> lookups = new ArrayList<>();
        for (int c = 0; c < k; c++) {
            lookups.add(cluster.directory().address(columns.get(c).csId()));
        }
        return CompletableFuture.allOf(lookups.toArray(CompletableFuture[]::new)).thenCompose(ignored ->
                directWrite(chunk, lookups.stream().map(CompletableFuture::join).toList(), chunkOffset, data,
                        dataIndex, lengthBytes, crcs, firstBlock));
    }

    /** {@link #directWrite} once the data columns' addresses are known (every column asks the others). */
    private CompletableFuture<Void> directWrite(Chunk chunk, List<String> addresses, long chunkOffset, ByteBuf data,
            int dataIndex, int lengthBytes, int[] crcs, int firstBlock) {
        int k = policy.dataCount();
        List<Chunklet> columns = ChunkRoles.ecColumns(chunk);
        long stripeBytes = (long) k * BLOCK_SIZE_BYTES;
        List<Chunklet> dataColumns = columns.subList(0, k);
        List<CompletableFuture<AttemptFailure>> parts = new ArrayList<>();
        for (int c = 0; c < k; c++) {
            long[] run = columnStripes(chunkOffset, lengthBytes, k, c);
            if (run == null) {
                continue;
            }
            long from = run[0];
            long to = run[1];
            Chunklet column = columns.get(c);
            int strips = (int) (to - from + 1);
            CompositeByteBuf payload = alloc.compositeBuffer(strips + 1);
            ByteBuf trailer = alloc.buffer(4 * strips + 64 * k);
            for (long stripe = from; stripe <= to; stripe++) {
                int at = (int) (stripe * stripeBytes + (long) c * BLOCK_SIZE_BYTES - chunkOffset);
                payload.addComponent(true, data.retainedSlice(dataIndex + at, BLOCK_SIZE_BYTES));
                trailer.writeInt(crcs[firstBlock + (at >> BLOCK_SHIFT)]);
            }
            StripWriteSection.write(trailer, c, k, policy.parityCount(), addresses);
            payload.addComponent(true, trailer);
            String address = addresses.get(c);
            parts.add(cluster.connections().request(address, DataFrame.TYPE_STRIP_WRITE, chunk.uid(), chunk.version(), from * BLOCK_SIZE_BYTES,
                            strips * BLOCK_SIZE_BYTES, payload)
                    .handle((reply, error) -> {
                        try {
                            // A REPLICA_FAILED names another data column the column could not ask.
                            retries.checkReply(column, address, "strip_write", reply, error, dataColumns);
                            return (AttemptFailure) null;
                        } catch (AttemptFailure failure) {
                            return failure;
                        } finally {
                            ChunkRetries.release(reply);
                        }
                    }));
        }
        cluster.metrics().ecDirectWrites.inc();
        return CompletableFuture.allOf(parts.toArray(CompletableFuture[]::new)).thenApply(ignored -> {
            List<Integer> failed = new ArrayList<>();
            AttemptFailure first = null;
            for (CompletableFuture<AttemptFailure> part : parts) {
                AttemptFailure failure = part.join();
                if (failure == null) {
                    continue;
                }
                if (failure.remedy == AttemptFailure.Remedy.GIVE_UP) {
                    throw failure;
                }
                failed.addAll(failure.remedy == AttemptFailure.Remedy.REPORT ? failure.failedCsIds : List.of());
                first = first == null || first.remedy == AttemptFailure.Remedy.RETRY ? failure : first;
            }
            if (first == null) {
                return null;
            }
            throw failed.isEmpty() ? first : AttemptFailure.report(first.reason, failed, first.getMessage());
        });
    }

    /**
     * Data column {@code c}'s strips in a chunk-logical range: a contiguous run of stripes {from, to}
     * (the ends may not reach c), or null when the range has none of them.
     */
    private static long[] columnStripes(long chunkOffset, int lengthBytes, int k, int c) {
        long stripeBytes = (long) k * BLOCK_SIZE_BYTES;
        long firstStripe = chunkOffset / stripeBytes;
        long lastStripe = (chunkOffset + lengthBytes - 1) / stripeBytes;
        long from = firstStripe * stripeBytes + (long) c * BLOCK_SIZE_BYTES >= chunkOffset ? firstStripe
                : firstStripe + 1;
        long to = lastStripe * stripeBytes + (long) c * BLOCK_SIZE_BYTES < chunkOffset + lengthBytes ? lastStripe
                : lastStripe - 1;
        return from > to ? null : new long[] {from, to};
    }

    /** A write's payload: the data, one CRC32C per block, then the layout the master needs. */
    private ByteBuf payload(EcLayout layout, ByteBuf data, int dataIndex, int lengthBytes, int[] crcs,
            int firstBlock) {
        int blocks = lengthBytes >> BLOCK_SHIFT;
        ByteBuf trailer = alloc.buffer(4 * blocks + layout.encodedBytes());
        for (int i = 0; i < blocks; i++) {
            trailer.writeInt(crcs[firstBlock + i]);
        }
        layout.writeTo(trailer);
        CompositeByteBuf payload = alloc.compositeBuffer(2);
        payload.addComponents(true, data.retainedSlice(dataIndex, lengthBytes), trailer);
        return payload;
    }

    /**
     * Zeroes go through the master like data: parity must cover them, and versions must advance.
     * Always to the stripes, never hot: their version then hides any older hot copy (read rule).
     */
    private CompletableFuture<Void> zeroes(Chunk chunk, long chunkOffset, int lengthBytes) {
        ByteBuf zeroes = alloc.directBuffer(lengthBytes).writeZero(lengthBytes);
        int[] crcs = new int[lengthBytes >> BLOCK_SHIFT];
        Arrays.fill(crcs, BlockCrc.ZERO_BLOCK_CRC);
        return coldWrite(chunk, chunkOffset, zeroes, 0, lengthBytes, crcs, 0)
                .whenComplete((ignored, error) -> zeroes.release());
    }

    /**
     * Zeroes {@code lengthBytes} (chunk-logical, whole strips) of {@code chunk} through its stripe
     * master at the chunk's version, outside any volume's retry loop: how {@link LayerReclaim}
     * frees a hidden layer's shadowed strips (a data column keeps an all-zero strip as a hole, and
     * the parity of a stripe that became all zeroes too). True when the master applied it.
     */
    static CompletableFuture<Boolean> zeroThroughMaster(ClusterClient cluster, Policy policy, Chunk chunk,
            long chunkOffset, int lengthBytes) {
        Chunklet master;
        try {
            master = ChunkRoles.ecMaster(chunk, policy.dataCount());
        } catch (AttemptFailure noMaster) {
            return CompletableFuture.completedFuture(false);
        }
        return layoutOf(cluster, policy, chunk, master).thenCompose(layout -> {
            int blocks = lengthBytes >> BLOCK_SHIFT;
            ByteBuf payload = io.netty.buffer.PooledByteBufAllocator.DEFAULT.directBuffer(
                    lengthBytes + 4 * blocks + layout.encodedBytes());
            payload.writeZero(lengthBytes);
            for (int i = 0; i < blocks; i++) {
                payload.writeInt(BlockCrc.ZERO_BLOCK_CRC);
            }
            layout.writeTo(payload);
            return cluster.connections().request(layout.address(layout.masterIndex()), DataFrame.TYPE_EC_WRITE,
                    chunk.uid(), chunk.version(), chunkOffset, lengthBytes, payload);
        }).handle((reply, error) -> {
            try {
                return error == null && reply.status() == CsStatus.OK;
            } finally {
                ChunkRetries.release(reply);
            }
        });
    }

    @Override
    public CompletableFuture<Void> read(Chunk chunk, long chunkOffset, int lengthBytes, ByteBuf destination,
            int destinationIndex) {
        int k = policy.dataCount();
        List<Chunklet> columns = ChunkRoles.ecColumns(chunk);
        long stripeBytes = (long) k * BLOCK_SIZE_BYTES;
        List<CompletableFuture<AttemptFailure>> parts = new ArrayList<>();
        for (int c = 0; c < k; c++) {
            long[] run = columnStripes(chunkOffset, lengthBytes, k, c);
            if (run == null) {
                continue;
            }
            long from = run[0];
            long to = run[1];
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
                                    retries.checkReply(column, address, "read", reply, error, List.of());
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
                                    ChunkRetries.release(reply);
                                }
                            })));
        }
        return CompletableFuture.allOf(parts.toArray(CompletableFuture[]::new)).thenCompose(ignored -> {
            List<Integer> failed = new ArrayList<>();
            boolean anyFailure = false;
            AttemptFailure stale = null;
            for (CompletableFuture<AttemptFailure> part : parts) {
                AttemptFailure failure = part.join();
                if (failure != null) {
                    anyFailure = true;
                    if (failure.remedy == AttemptFailure.Remedy.REPORT) {
                        failed.addAll(failure.failedCsIds);
                    } else if (failure.remedy == AttemptFailure.Remedy.REFRESH) {
                        stale = failure;
                    }
                }
            }
            if (!anyFailure) {
                return CompletableFuture.completedFuture(null);
            }
            if (stale != null && failed.isEmpty()) {
                // A column knows a newer chunk version: this map is old, and so is the layout it would
                // give the master (a column it names usable may be rebuilt elsewhere by now). Read again
                // with the new map, from the data columns first.
                return CompletableFuture.failedFuture(stale);
            }
            cluster.metrics().retries.labelValues("read", "ec_reconstruct").inc();
            // Meta marks them, so writes leave them out and the recoverer rebuilds them (or the
            // directory learns that one restarted elsewhere): the master is then told the news.
            CompletableFuture<Void> reported = failed.isEmpty() ? CompletableFuture.completedFuture(null)
                    : retries.report(chunk, failed).exceptionally(error -> {
                        log.warn("reporting failed columns of chunk {}: {}", Long.toHexString(chunk.uid()),
                                ChunkRetries.rootMessage(error));
                        return null;
                    });
            return reported.thenCompose(done -> chunks.lookup(chunk.index())).thenCompose(latest -> {
                Chunk current = latest.orElse(chunk);
                if (failed.isEmpty() && ChunkRoles.noParityTakesWrites(current, k)) {
                    // Every parity column is down, so no master can decide a strip a dead one left
                    // pending (the data column answers PENDING) or rebuild one. Meta brings a parity
                    // column back (the server returns, or after its grace period one is encoded from
                    // the data columns elsewhere, which rolls those strips forward): wait for it as
                    // writes wait for the encode, rather than fail the read at once (the thrasher:
                    // EIO 10 s after the first parity server died while the second was paused).
                    throw AttemptFailure.refresh(ChunkRetries.NO_PARITY_REASON, "chunk "
                            + Long.toHexString(current.uid()) + " (version " + current.version() + "): a data column"
                            + " cannot serve the read alone and no parity column is up: "
                            + firstMessage(parts) + "; waiting for a parity column to come back");
                }
                Chunklet master = master(current);
                return layoutOf(current, master).thenApply(layout -> Map.entry(current, layout));
            }).thenCompose(entry -> {
                Chunk current = entry.getKey();
                EcLayout layout = entry.getValue();
                Chunklet master = ChunkRoles.ecColumns(current).get(layout.masterIndex());
                long suppressed = THROUGH_MASTER_LOG.admit(current.uid());
                if (suppressed >= 0) {
                    log.info("chunk {} (version {}) range {}+{}: read through the stripe master, column {} (cs {}): {}{}",
                            Long.toHexString(current.uid()), current.version(), chunkOffset, lengthBytes,
                            layout.masterIndex(), master.csId(), firstMessage(parts),
                            suppressed > 0 ? " (" + suppressed + " more such reads of the chunk since the last line)" : "");
                }
                ByteBuf payload = alloc.buffer(layout.encodedBytes());
                layout.writeTo(payload);
                return toMaster(current, master, layout, DataFrame.TYPE_EC_READ, chunkOffset, lengthBytes, payload,
                        reply -> {
                            retries.copyVerified(current, master, layout.address(layout.masterIndex()),
                                    chunkOffset, lengthBytes, reply, destination, destinationIndex);
                            return null;
                        });
            });
        });
    }

    /** The message of the first failed part (all are done). */
    private static String firstMessage(List<CompletableFuture<AttemptFailure>> parts) {
        for (CompletableFuture<AttemptFailure> part : parts) {
            AttemptFailure failure = part.join();
            if (failure != null) {
                return failure.getMessage();
            }
        }
        return "no part failed";
    }

    /** Sends an EC_WRITE or EC_READ to the stripe master and checks the reply. */
    private CompletableFuture<Void> toMaster(Chunk chunk, Chunklet master, EcLayout layout, int type,
            long chunkOffset, int lengthBytes, ByteBuf payload, Function<DataClient.Reply, Void> ok) {
        String address = layout.address(layout.masterIndex());
        List<Chunklet> others = chunk.chunklets().stream().filter(c -> c != master).toList();
        return cluster.connections().request(address, type, chunk.uid(), chunk.version(), chunkOffset, lengthBytes,
                payload).handle((reply, error) -> {
                    try {
                        retries.checkReply(master, address, DataFrame.typeName(type), reply, error, others);
                        return ok.apply(reply);
                    } finally {
                        ChunkRetries.release(reply);
                    }
                });
    }


    /**
     * Asks the stripe master of {@code chunk} to freeze now every stripe of the chunk that holds hot
     * blocks (HOT_FREEZE, docs/snapshots.md): how snapshot create settles the copies a hot write in
     * flight across it may have left on some replicas. True when the master answered (frozen, or
     * nothing hot); false when there is no master or it refused.
     */
    static CompletableFuture<Boolean> freezeHot(ClusterClient cluster, Policy policy, Chunk chunk,
            long chunkSizeBytes) {
        Chunklet master = ChunkRoles.parityMaster(chunk, policy.dataCount());
        if (master == null) {
            return CompletableFuture.completedFuture(false);
        }
        long stripeBytes = (long) policy.dataCount() * BLOCK_SIZE_BYTES;
        long lengthBytes = (chunkSizeBytes + stripeBytes - 1) / stripeBytes * stripeBytes;
        return layoutOf(cluster, policy, chunk, master).thenCompose(layout -> {
            ByteBuf payload = io.netty.buffer.Unpooled.buffer(layout.encodedBytes());
            layout.writeTo(payload);
            return cluster.connections().request(layout.address(layout.masterIndex()), DataFrame.TYPE_HOT_FREEZE,
                    chunk.uid(), chunk.version(), 0, lengthBytes, payload);
        }).handle((reply, error) -> {
            if (reply == null) {
                return false;
            }
            try {
                return reply.status() == CsStatus.OK;
            } finally {
                reply.release();
            }
        });
    }

    /** The layout the master needs: every column's address, and which are UPTODATE (take part). */
    private CompletableFuture<EcLayout> layoutOf(Chunk chunk, Chunklet master) {
        return layoutOf(cluster, policy, chunk, master);
    }

    static CompletableFuture<EcLayout> layoutOf(ClusterClient cluster, Policy policy, Chunk chunk,
            Chunklet master) {
        List<Chunklet> columns = ChunkRoles.ecColumns(chunk);
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

    /** Copies one 4 KiB strip into {@code destination}, safely from any thread (see read). */
    private static void copyStrip(ByteBuf destination, int index, ByteBuf source, int sourceIndex) {
        if (destination.nioBufferCount() == 1) {
            destination.nioBuffer(index, BLOCK_SIZE_BYTES).put(source.nioBuffer(sourceIndex, BLOCK_SIZE_BYTES));
        } else {
            synchronized (destination) {
                destination.setBytes(index, source, sourceIndex, BLOCK_SIZE_BYTES);
            }
        }
    }
}
