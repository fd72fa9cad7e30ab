package io.basalt.chunkserver.recovery;

import static io.basalt.protocol.data.BlockCrc.BLOCK_SHIFT;
import static io.basalt.protocol.data.BlockCrc.BLOCK_SIZE_BYTES;

import io.basalt.protocol.data.BlockCrc;
import io.basalt.protocol.data.CsException;
import io.basalt.protocol.data.CsStatus;
import io.basalt.chunkserver.MetaLink;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import io.basalt.chunkserver.store.ChunkletStore;
import io.basalt.chunkserver.wal.WalRecordFormat;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The scrubber's comparison of a replicated chunklet with the chunk's other UPTODATE replicas, by block
 * map (kind, block version and CRC32C per 4 KiB block: metadata only; data crosses the network only for
 * a block that needs repair). Every replica runs it for itself and repairs only itself, so no server
 * ever writes another's chunklet.
 *
 * <p><b>In flight is not divergent.</b> A block whose entries differ is looked at again after
 * {@link #RECHECK_DELAY_MILLIS}: a client write reaches every replica well within that, so only a
 * difference that stays exactly as it was (every replica's entry, and this replica's LSN) counts.
 *
 * <p><b>The vote.</b> The entry most replicas hold wins; among equally held entries the one with the
 * newest block version (a replica without a write at a newer version missed it). Entries with damaged
 * metadata do not vote. Equally held entries of the same version (two replicas of rep2 that disagree,
 * or three different ones) cannot be decided: counted as unrepaired and logged with every entry.
 *
 * <p><b>The repair.</b> A block this replica holds data for is replaced by a REPAIR record from a
 * replica holding the winning entry, guarded by the block's LSN as seen with the entry (a client write
 * since then wins). A block this replica holds no data for (never written, or zeroes) has no LSN to
 * guard with: a trim leaves it 0, so a repair could bring back data the client had just trimmed away.
 * The chunklet is reported failed to meta instead: it turns OUTDATED and the recoverer catches it up in
 * place, copying only the blocks that differ, under the recovery's version fence.
 */
final class ReplicaComparison {
    private static final Logger log = LoggerFactory.getLogger(ReplicaComparison.class);
    private static final int ENTRY = WalRecordFormat.FILL_BLOCK_BYTES;
    /** Blocks compared per request: 16 MiB of chunklet, a 52 KiB block map from each replica. */
    static final int WINDOW_BLOCKS = 4096;
    static final long RECHECK_DELAY_MILLIS = 1000;

    /** What a comparison found: divergent blocks, of which repaired here, undecidable or left to catch-up. */
    record Outcome(int divergent, int repaired, int unrepaired, boolean reportedToMeta) {
        static final Outcome NONE = new Outcome(0, 0, 0, false);
    }

    /** One window's block maps: this replica's (with its LSNs) and each other replica's. */
    private record View(int first, int count, ByteBuf local, long[] lsns, ByteBuf[] remote) {
        boolean differs(int i) {
            for (ByteBuf other : remote) {
                if (!ByteBufUtil.equals(local, i * ENTRY, other, i * ENTRY, ENTRY)) {
                    return true;
                }
            }
            return false;
        }

        /** Whether block {@code i} looks in {@code later} exactly as it does here, everywhere. */
        boolean sameAs(View later, int i) {
            if (lsns[i] != later.lsns[i] || !ByteBufUtil.equals(local, i * ENTRY, later.local, i * ENTRY, ENTRY)) {
                return false;
            }
            for (int r = 0; r < remote.length; r++) {
                if (!ByteBufUtil.equals(remote[r], i * ENTRY, later.remote[r], i * ENTRY, ENTRY)) {
                    return false;
                }
            }
            return true;
        }

        void release() {
            local.release();
            for (ByteBuf other : remote) {
                other.release();
            }
        }
    }

    private final RecoveryContext context;
    private final MetaLink meta;
    private final MetaLink.RecoveryTask map;
    private final List<MetaLink.Member> others = new ArrayList<>();

    private ReplicaComparison(RecoveryContext context, MetaLink meta, MetaLink.RecoveryTask map) {
        this.context = context;
        this.meta = meta;
        this.map = map;
        for (MetaLink.Member member : map.members()) {
            if (member.upToDate() && member.index() != map.targetIndex()) {
                others.add(member);
            }
        }
    }

    /**
     * Compares this server's chunklet of the replicated chunk {@code map} (targetIndex: this server's)
     * with every other UPTODATE replica and repairs what this replica holds wrongly. Nothing when this
     * chunklet is not UPTODATE itself (a recovery owns it) or has no UPTODATE peer. A peer that cannot
     * answer, or knows a newer chunk version, ends the comparison (the next pass tries again).
     */
    static Outcome run(RecoveryContext context, MetaLink meta, MetaLink.RecoveryTask map)
            throws IOException, InterruptedException {
        MetaLink.Member self = map.members().stream().filter(m -> m.index() == map.targetIndex()).findFirst()
                .orElse(null);
        if (map.erasureCoded() || self == null || !self.upToDate()) {
            return Outcome.NONE;
        }
        ReplicaComparison comparison = new ReplicaComparison(context, meta, map);
        return comparison.others.isEmpty() ? Outcome.NONE : comparison.run();
    }

    private Outcome run() throws IOException, InterruptedException {
        int blocks = (int) (map.chunkletSizeBytes() >> BLOCK_SHIFT);
        List<View> suspects = new ArrayList<>();
        try {
            for (int first = 0; first < blocks; first += WINDOW_BLOCKS) {
                View view = view(first, Math.min(WINDOW_BLOCKS, blocks - first));
                boolean differs = false;
                for (int i = 0; i < view.count() && !differs; i++) {
                    differs = view.differs(i);
                }
                if (differs) {
                    suspects.add(view);
                } else {
                    view.release();
                }
            }
            if (suspects.isEmpty()) {
                return Outcome.NONE;
            }
            Thread.sleep(RECHECK_DELAY_MILLIS);
            int divergent = 0;
            int repaired = 0;
            int unrepaired = 0;
            for (View before : suspects) {
                View after = view(before.first(), before.count());
                try {
                    for (int i = 0; i < before.count(); i++) {
                        if (!before.differs(i) || !before.sameAs(after, i)) {
                            continue; // agreed, or changed meanwhile: a write in flight, not a divergence
                        }
                        byte[] mine = entry(after.local(), i);
                        if ((mine[0] & 0xff) == ChunkletStore.BLOCK_CORRUPT) {
                            continue; // damaged metadata here: the CRC check reports and repairs it
                        }
                        byte[] winner = vote(after, i);
                        if (winner != null && Arrays.equals(winner, mine)) {
                            continue; // the others are wrong: each repairs itself in its own scrub
                        }
                        divergent++;
                        long offset = (long) (after.first() + i) << BLOCK_SHIFT;
                        if (winner == null) {
                            unrepaired++;
                            log.warn("scrub: chunk {} block at {}: replicas disagree and no entry wins: {}; not"
                                    + " repaired", Long.toHexString(map.chunkUid()), offset, describe(after, i));
                        } else if (after.lsns()[i] == 0) {
                            // No data here, so no LSN to guard a REPAIR with: an in-place catch-up instead.
                            log.warn("scrub: chunk {} block at {}: this replica lacks what the others hold ({});"
                                    + " reporting its chunklet to meta for an in-place catch-up",
                                    Long.toHexString(map.chunkUid()), offset, describe(after, i));
                            meta.reportFailure(map.chunkUid(), map.chunkVersion(), context.csId());
                            return new Outcome(divergent, repaired, unrepaired, true);
                        } else if (repair(after, i, winner)) {
                            repaired++;
                        } else {
                            unrepaired++;
                        }
                    }
                } finally {
                    after.release();
                }
            }
            return new Outcome(divergent, repaired, unrepaired, false);
        } finally {
            suspects.forEach(View::release);
        }
    }

    private View view(int first, int count) throws IOException, InterruptedException {
        long offset = (long) first << BLOCK_SHIFT;
        int length = count << BLOCK_SHIFT;
        ByteBuf local = Unpooled.buffer(count * ENTRY);
        long[] lsns = new long[count];
        ByteBuf[] remote = new ByteBuf[others.size()];
        try {
            context.store().blockMap(map.chunkUid(), offset, length, local, lsns);
            for (int r = 0; r < remote.length; r++) {
                remote[r] = RecoveryIo.blockMap(context, others.get(r).address(), map.chunkUid(), map.chunkVersion(),
                        offset, length);
                context.recordMapBytes(remote[r].readableBytes());
            }
            return new View(first, count, local, lsns, remote);
        } catch (CsException | IOException | RuntimeException e) {
            local.release();
            for (ByteBuf other : remote) {
                if (other != null) {
                    other.release();
                }
            }
            throw e instanceof IOException io ? io : new IOException(e.getMessage(), e);
        }
    }

    /** The winning entry of block {@code i} (see the class comment), or null when none wins. */
    private static byte[] vote(View view, int i) {
        List<byte[]> entries = new ArrayList<>();
        entries.add(entry(view.local(), i));
        for (ByteBuf other : view.remote()) {
            entries.add(entry(other, i));
        }
        byte[] best = null;
        int bestVotes = 0;
        boolean tied = false;
        for (byte[] candidate : entries) {
            if ((candidate[0] & 0xff) == ChunkletStore.BLOCK_CORRUPT) {
                continue;
            }
            int votes = 0;
            for (byte[] other : entries) {
                votes += Arrays.equals(candidate, other) ? 1 : 0;
            }
            if (best == null || votes > bestVotes
                    || (votes == bestVotes && !Arrays.equals(candidate, best) && version(candidate) > version(best))) {
                tied = false;
                best = candidate;
                bestVotes = votes;
            } else if (votes == bestVotes && !Arrays.equals(candidate, best) && version(candidate) == version(best)) {
                tied = true;
            }
        }
        return tied ? null : best;
    }

    /**
     * Logs a REPAIR of block {@code i} from a replica holding {@code winner}, guarded by the LSN this
     * replica had; true once applied (or skipped by its guard, a client write having made it current).
     */
    private boolean repair(View view, int i, byte[] winner) throws InterruptedException {
        long offset = (long) (view.first() + i) << BLOCK_SHIFT;
        for (int r = 0; r < others.size(); r++) {
            if (!Arrays.equals(entry(view.remote()[r], i), winner)) {
                continue;
            }
            MetaLink.Member source = others.get(r);
            try {
                ByteBuf payload = repairPayload(context, source, map, offset, view.lsns()[i], winner[0] & 0xff,
                        version(winner), crc(winner));
                if (payload == null) {
                    continue;
                }
                RecoveryIo.log(context, WalRecordFormat.TYPE_REPAIR, map, offset, BLOCK_SIZE_BYTES, payload);
                log.info("scrub: chunk {} block at {} repaired from cs {} (the replicas' majority)",
                        Long.toHexString(map.chunkUid()), offset, source.csId());
                return true;
            } catch (IOException e) {
                log.info("scrub: chunk {} block at {}: cs {} could not give it: {}", Long.toHexString(map.chunkUid()),
                        offset, source.csId(), e.getMessage());
            }
        }
        log.warn("scrub: chunk {} block at {}: no replica holding the majority's copy could give it; not repaired",
                Long.toHexString(map.chunkUid()), offset);
        return false;
    }

    /**
     * A REPAIR payload (WalRecordFormat.TYPE_REPAIR, no strip versions) that makes a block what
     * {@code source} holds: kind, version, CRC and, for data, the block read from it, checked against
     * that CRC. Null when the source's data no longer matches (it changed since its entry was read).
     */
    static ByteBuf repairPayload(RecoveryContext context, MetaLink.Member source, MetaLink.RecoveryTask map,
            long offset, long expectedLsn, int kind, long version, int crc) throws IOException, InterruptedException {
        ByteBuf payload = PooledByteBufAllocator.DEFAULT.directBuffer(22 + BLOCK_SIZE_BYTES);
        payload.writeLong(expectedLsn).writeByte(0).writeByte(kind).writeLong(version).writeInt(crc);
        if (kind != ChunkletStore.FILL_DATA) {
            return payload;
        }
        try {
            DataClient.Reply reply = RecoveryIo.await(context.clients().request(source.address(),
                    DataFrame.TYPE_READ, map.chunkUid(), map.chunkVersion(), offset, BLOCK_SIZE_BYTES, null));
            try {
                ByteBuf data = reply.payload();
                if (reply.status() != CsStatus.OK || BlockCrc.of(data, data.readerIndex(), BLOCK_SIZE_BYTES) != crc) {
                    payload.release();
                    return null;
                }
                payload.writeBytes(data, data.readerIndex(), BLOCK_SIZE_BYTES);
                return payload;
            } finally {
                reply.release();
            }
        } catch (IOException | InterruptedException | RuntimeException e) {
            payload.release();
            throw e;
        }
    }

    private String describe(View view, int i) {
        StringBuilder out = new StringBuilder("here ").append(describe(entry(view.local(), i)));
        for (int r = 0; r < others.size(); r++) {
            out.append(", cs ").append(others.get(r).csId()).append(' ').append(describe(entry(view.remote()[r], i)));
        }
        return out.toString();
    }

    private static String describe(byte[] entry) {
        String kind = switch (entry[0] & 0xff) {
            case ChunkletStore.FILL_UNTOUCHED -> "never written";
            case ChunkletStore.FILL_ZERO -> "zeroes";
            case ChunkletStore.FILL_DATA -> "data crc32c " + Integer.toHexString(crc(entry));
            default -> "damaged metadata";
        };
        return kind + " v" + version(entry);
    }

    private static byte[] entry(ByteBuf map, int i) {
        byte[] entry = new byte[ENTRY];
        map.getBytes(i * ENTRY, entry);
        return entry;
    }

    private static long version(byte[] entry) {
        return Unpooled.wrappedBuffer(entry).getLong(1);
    }

    private static int crc(byte[] entry) {
        return Unpooled.wrappedBuffer(entry).getInt(9);
    }
}
