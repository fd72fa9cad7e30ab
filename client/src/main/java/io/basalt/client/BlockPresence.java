package io.basalt.client;

import static io.basalt.protocol.data.BlockCrc.BLOCK_SHIFT;
import static io.basalt.protocol.data.BlockCrc.BLOCK_SIZE_BYTES;

import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.Policy;
import io.basalt.protocol.data.BlockCrc;
import io.basalt.protocol.data.CsException;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import io.basalt.protocol.data.EcSection;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * Which blocks of a range a chunk holds (docs/snapshots.md, "Reads"): the blocks it never wrote
 * (neither data nor a trim or write-zeroes) read through to the parent layer. Metadata only, one
 * request per piece, no data read:
 * <ul>
 *   <li>replicated: BLOCK_MAP of the primary; kind 0 (never written) is absent, 1 (zeroed),
 *       2 (data) and 3 (damaged metadata: the read that follows fails and repairs) are held;</li>
 *   <li>erasure-coded: STRIP_READ in PEEK_HELD mode at the stripe master, answered under its
 *       stripe locks, so every write it acknowledged is decided there: its parity column keeps, per
 *       stripe, the versions of the k data strips, raised to the seq of its hot copy of each block
 *       (a block only in the hot tier is written); version 0 is a strip never written. With no
 *       UPTODATE parity column (every write since went to the data columns directly), each data
 *       column is asked the same for its own strips.</li>
 * </ul>
 */
final class BlockPresence {
    /** BLOCK_MAP reply: per block u8 kind, u64 version, u32 CRC32C (docs/formats.md). */
    private static final int BLOCK_MAP_ENTRY_BYTES = 13;
    private static final int KIND_NEVER_WRITTEN = 0;
    private static final int KIND_ZEROED = 1;

    /** Turns a reply (or its failure) into an AttemptFailure, or returns when it is OK. */
    @FunctionalInterface
    interface ReplyCheck {
        void check(Chunklet target, String address, String op, DataClient.Reply reply, Throwable error);
    }

    private final ClusterClient cluster;
    private final Policy policy;
    private final ReplyCheck replyCheck;

    BlockPresence(ClusterClient cluster, Policy policy, ReplyCheck replyCheck) {
        this.cluster = cluster;
        this.policy = policy;
        this.replyCheck = replyCheck;
    }

    /** The absent blocks of [chunkOffset, chunkOffset + length) of {@code chunk}: bit i is block i. */
    CompletableFuture<BitSet> absent(Chunk chunk, Chunklet source, long chunkOffset, int lengthBytes) {
        return absent(chunk, source, chunkOffset, lengthBytes, false);
    }

    /**
     * Like {@link #absent(Chunk, Chunklet, long, int)}; with {@code zeroedAbsent}, blocks that hold
     * no space are reported absent too, for counting the blocks that do ({@link LayerReclaim}): a
     * replicated chunk's zeroed blocks (a trim or write-zeroes), and an erasure-coded chunk's
     * strips that its data column keeps as a hole (zeroes written through the stripe master: the
     * column stores an all-zero strip as unwritten, its version kept). A data column that is not
     * UPTODATE is not asked: its strips count as holding space.
     */
    CompletableFuture<BitSet> absent(Chunk chunk, Chunklet source, long chunkOffset, int lengthBytes,
            boolean zeroedAbsent) {
        if (!policy.erasureCoded()) {
            return absentReplicated(chunk, source, chunkOffset, lengthBytes, zeroedAbsent);
        }
        CompletableFuture<BitSet> absent = absentEc(chunk, source, chunkOffset, lengthBytes);
        return zeroedAbsent ? absent.thenCombine(holesInDataColumns(chunk, chunkOffset, lengthBytes), (peek, holes) -> {
            peek.or(holes);
            return peek;
        }) : absent;
    }

    /** The chunk-logical blocks of the range whose data column keeps their strip as a hole. */
    private CompletableFuture<BitSet> holesInDataColumns(Chunk chunk, long chunkOffset, int lengthBytes) {
        int k = policy.dataCount();
        int blocks = lengthBytes >> BLOCK_SHIFT;
        long firstBlock = chunkOffset >> BLOCK_SHIFT;
        long firstStripe = firstBlock / k;
        int stripes = (int) ((firstBlock + blocks - 1) / k - firstStripe + 1);
        List<Chunklet> columns = ChunkRoles.ecColumns(chunk);
        List<CompletableFuture<BitSet>> perColumn = new java.util.ArrayList<>();
        for (int c = 0; c < k; c++) {
            Chunklet column = columns.get(c);
            perColumn.add(column.state() != io.basalt.meta.model.ChunkletState.UPTODATE
                    ? CompletableFuture.completedFuture(new BitSet())
                    : absentReplicated(chunk, column, firstStripe * BLOCK_SIZE_BYTES,
                            stripes * BLOCK_SIZE_BYTES, true));
        }
        return CompletableFuture.allOf(perColumn.toArray(CompletableFuture[]::new)).thenApply(ignored -> {
            BitSet holes = new BitSet(blocks);
            for (int i = 0; i < blocks; i++) {
                long block = firstBlock + i;
                if (perColumn.get((int) (block % k)).join().get((int) (block / k - firstStripe))) {
                    holes.set(i);
                }
            }
            return holes;
        });
    }

    private CompletableFuture<BitSet> absentReplicated(Chunk chunk, Chunklet source, long chunkOffset,
            int lengthBytes, boolean zeroedAbsent) {
        int blocks = lengthBytes >> BLOCK_SHIFT;
        return cluster.directory().address(source.csId()).thenCompose(address ->
                cluster.connections().request(address, DataFrame.TYPE_BLOCK_MAP, chunk.uid(), chunk.version(),
                        chunkOffset, lengthBytes, null).handle((reply, error) -> {
                            try {
                                replyCheck.check(source, address, "block_map", reply, error);
                                ByteBuf payload = reply.payload();
                                int mapBytes = blocks * BLOCK_MAP_ENTRY_BYTES;
                                int at = payload.readerIndex();
                                if (payload.readableBytes() != mapBytes + 4
                                        || BlockCrc.of(payload, at, mapBytes) != payload.getInt(at + mapBytes)) {
                                    throw AttemptFailure.report("bad_reply", List.of(source.csId()),
                                            "block map of chunk " + Long.toHexString(chunk.uid()) + " from "
                                                    + address + " is damaged (length or CRC)");
                                }
                                BitSet absent = new BitSet(blocks);
                                for (int i = 0; i < blocks; i++) {
                                    int kind = payload.getByte(at + i * BLOCK_MAP_ENTRY_BYTES);
                                    if (kind == KIND_NEVER_WRITTEN || (zeroedAbsent && kind == KIND_ZEROED)) {
                                        absent.set(i);
                                    }
                                }
                                return absent;
                            } finally {
                                if (reply != null) {
                                    reply.release();
                                }
                            }
                        }));
    }

    /**
     * The absent blocks of an erasure-coded range: asked of the stripe master (a held PEEK, which
     * counts hot copies as written), or, with no UPTODATE parity column ({@code master} null), of
     * every data column for its own strips.
     */
    private CompletableFuture<BitSet> absentEc(Chunk chunk, Chunklet master, long chunkOffset, int lengthBytes) {
        int k = policy.dataCount();
        int blocks = lengthBytes >> BLOCK_SHIFT;
        long firstBlock = chunkOffset >> BLOCK_SHIFT;
        long firstStripe = firstBlock / k;
        int stripes = (int) ((firstBlock + blocks - 1) / k - firstStripe + 1);
        if (master != null) {
            return heldPeek(chunk, master, firstStripe, stripes, k).thenApply(held -> {
                BitSet absent = new BitSet(blocks);
                for (int i = 0; i < blocks; i++) {
                    long block = firstBlock + i;
                    if (!held.get((int) ((block / k - firstStripe) * k + block % k))) {
                        absent.set(i);
                    }
                }
                return absent;
            });
        }
        List<Chunklet> columns = ChunkRoles.ecColumns(chunk);
        List<CompletableFuture<BitSet>> perColumn = new java.util.ArrayList<>();
        for (int c = 0; c < k; c++) {
            Chunklet column = columns.get(c);
            if (column.state() != io.basalt.meta.model.ChunkletState.UPTODATE) {
                return CompletableFuture.failedFuture(AttemptFailure.giveUp(
                        io.basalt.common.block.BlockDeviceException.Kind.IO, "chunk " + Long.toHexString(chunk.uid())
                                + " has no up-to-date parity column and data column " + c + " is "
                                + column.state() + ": which blocks it holds cannot be told: " + chunk.chunklets()));
            }
            perColumn.add(heldPeek(chunk, column, firstStripe, stripes, 1));
        }
        return CompletableFuture.allOf(perColumn.toArray(CompletableFuture[]::new)).thenApply(ignored -> {
            BitSet absent = new BitSet(blocks);
            for (int i = 0; i < blocks; i++) {
                long block = firstBlock + i;
                if (!perColumn.get((int) (block % k)).join().get((int) (block / k - firstStripe))) {
                    absent.set(i);
                }
            }
            return absent;
        });
    }

    /**
     * A held PEEK (EcSection PEEK_HELD) of stripes [firstStripe, firstStripe + stripes) at
     * {@code column}, which keeps {@code width} versions a strip (k at a parity column, 1 at a data
     * column): bit i set when version i (stripe i / width, strip i % width) is written, in the
     * column's strips or its hot copies, or (at a data column) has a transaction pending: its read
     * then needs the master that decides it, and fails rather than read through to the parent. At
     * a parity column the server itself raises the versions by its pending strips' version vectors
     * (which say the data strips each covers), so its decided() needs no counting here.
     */
    private CompletableFuture<BitSet> heldPeek(Chunk chunk, Chunklet column, long firstStripe, int stripes,
            int width) {
        EcSection ask = EcSection.peekHeld(stripes, width);
        // The stripe master gets the chunk's layout too: it may first have to check hot copies it
        // does not trust yet against their data columns (docs/hot-tier.md, "Orphan copies").
        CompletableFuture<io.basalt.protocol.data.EcLayout> layout = width == 1
                ? CompletableFuture.completedFuture(null) : EcPieces.layoutOf(cluster, policy, chunk, column);
        return layout.thenCompose(known -> cluster.directory().address(column.csId()).thenCompose(address -> {
            ByteBuf payload = Unpooled.buffer(ask.encodedBytes() + (known == null ? 0 : known.encodedBytes()));
            ask.writeTo(payload);
            if (known != null) {
                known.writeTo(payload);
            }
            return cluster.connections().request(address, DataFrame.TYPE_STRIP_READ, chunk.uid(), chunk.version(),
                    firstStripe * BLOCK_SIZE_BYTES, (long) stripes * BLOCK_SIZE_BYTES, payload)
                    .handle((reply, error) -> held(chunk, column, address, stripes, width, reply, error));
        }));
    }

    /** The held bits of a held peek's reply (see heldPeek); the reply is released. */
    private BitSet held(Chunk chunk, Chunklet column, String address, int stripes, int width,
            io.basalt.protocol.data.DataClient.Reply reply, Throwable error) {
        try {
            replyCheck.check(column, address, "peek", reply, error);
            ByteBuf frame = reply.payload();
            EcSection view;
            try {
                view = EcSection.read(frame, frame.readerIndex(), frame.readableBytes(), stripes);
            } catch (CsException e) {
                throw AttemptFailure.report("bad_reply", List.of(column.csId()), "peek of chunk "
                        + Long.toHexString(chunk.uid()) + " at " + address + ": " + e.getMessage());
            }
            if (view.mode() != EcSection.MODE_PEEK_HELD || view.versionsPerBlock() != width) {
                throw AttemptFailure.report("bad_reply", List.of(column.csId()), "peek of chunk "
                        + Long.toHexString(chunk.uid()) + " at " + address + " answered mode " + view.mode()
                        + " with " + view.versionsPerBlock() + " versions a strip (expected " + width + ")");
            }
            BitSet held = new BitSet(stripes * width);
            for (int i = 0; i < stripes * width; i++) {
                if (view.versions()[i] != 0 || (width == 1 && view.decided()[i] != 0)) {
                    held.set(i);
                }
            }
            return held;
        } finally {
            if (reply != null) {
                reply.release();
            }
        }
    }
}
