package io.basalt.chunkserver.ec;

import io.basalt.chunkserver.hot.HotStore;
import io.basalt.chunkserver.store.ChunkletStore;
import io.basalt.chunkserver.wal.WalRecordFormat;
import io.basalt.protocol.data.BlockCrc;
import io.basalt.protocol.data.CsException;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import io.basalt.protocol.data.EcLayout;
import io.basalt.protocol.data.ReplicaClients;
import io.netty.buffer.ByteBuf;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;

/**
 * The stripe master's part of the hot tier (docs/hot-tier.md): a HOT_WRITE (part of one stripe) is
 * given a seq from the master's transaction-version generator, above the stripe's cold versions and
 * hot seqs, under the stripe lock, and logged on every hot replica of its blocks: this master's own
 * hot store, every other writable parity column (all blocks, keyed {@link HotStore#PARITY_KEY_BASE}
 * plus the chunk-logical block) and the data column of each block (that block, keyed by its
 * chunklet block). Answered when all are durable: one WAL
 * sync on the path, no reads, no two-phase commit. A replica that fails makes the write fail
 * (REPLICA_FAILED naming it) as a rep3 write would; the replicas that logged it keep an
 * unacknowledged write, which any later write or freeze of the block supersedes by seq.
 *
 * <p>Also the master's hot-over-cold merge for EC_READ ({@link #overlay}), under the stripe locks.
 */
final class HotMaster {
    private static final int S = EcLayout.STRIP_BYTES;

    /** The layout and chunk version of a chunk's last hot write here: what the freezer writes with. */
    record Known(EcLayout layout, long chunkVersion) {}

    /**
     * Per chunk this server is the stripe master of: the newest layout it was given (by a hot write,
     * a STRIP_REBUILD or meta's map; memory only: after a restart the freezer asks meta).
     */
    final java.util.concurrent.ConcurrentHashMap<Long, Known> layouts = new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * Remembers {@code known} for {@code chunkUid} unless a layout of a newer chunk version is known
     * already (a chunk version names one layout); returns the one kept.
     */
    Known learn(long chunkUid, Known known) {
        return layouts.merge(chunkUid, known, (old, now) -> now.chunkVersion() >= old.chunkVersion() ? now : old);
    }
    /** Per chunk, per stripe: System.nanoTime() of its last hot write (the freezer's age). */
    final java.util.concurrent.ConcurrentHashMap<Long, java.util.concurrent.ConcurrentHashMap<Integer, Long>>
            lastWriteNanos = new java.util.concurrent.ConcurrentHashMap<>();

    /** Which stripes' copies here this master may serve without settling them first. */
    final HotTrust trust = new HotTrust();

    private final StripeMaster master;
    private final ChunkletStore store;
    private final HotStore hot;
    private final ReplicaClients clients;

    HotMaster(StripeMaster master, ChunkletStore store, HotStore hot, ReplicaClients clients) {
        this.master = master;
        this.store = store;
        this.hot = hot;
        this.clients = clients;
    }

    /** As StripeMaster.write: counted in flight at its version until answered (a snapshot create waits). */
    void write(StripeMaster.Request request, ByteBuf frame) throws CsException {
        master.fence().beginWrite(request.chunkUid(), request.chunkVersion());
        try {
            writeCounted(request, frame);
        } finally {
            master.fence().endWrite(request.chunkUid(), request.chunkVersion());
        }
    }

    private void writeCounted(StripeMaster.Request request, ByteBuf frame) throws CsException {
        int k = request.k();
        EcLayout layout = request.layout();
        if (request.stripeCount() != 1 || request.lengthBytes() >= k * S) {
            throw new CsException(CsStatus.INVALID, "a hot write is part of one stripe (range "
                    + request.offsetBytes() + "+" + request.lengthBytes() + ", stripes of " + k * S + " bytes)");
        }
        int blocks = request.lengthBytes() / S;
        int dataAt = frame.readerIndex() + DataFrame.HEADER_BYTES;
        BlockCrc.verify(frame, dataAt, request.offsetBytes(), blocks, request.chunkUid());
        int stripe = request.firstStripe();
        long firstBlock = request.offsetBytes() / S;
        master.lock(request.chunkUid(), stripe, 1);
        boolean logged = false;
        boolean written = false;
        try {
            master.fenceUnderLock(request);
            // Strips an earlier master left pending here are settled first: one rolled forward later
            // could otherwise carry a version above the seq taken now and hide this write.
            master.termination.terminate(request);
            ChunkletStore.StripVersions own = store.versions(request.chunkUid(), (long) stripe * S, S);
            long highest = Math.max(StripeMaster.max(own.versions()), hot.maxSeq(request.chunkUid(),
                    HotStore.PARITY_KEY_BASE + (long) stripe * k, HotStore.PARITY_KEY_BASE + (long) stripe * k + k));
            long seq = master.nextTxid(highest);
            // Before the blocks exist anywhere: the freezer (which decides under this lock) never takes
            // a block without a time for an old one.
            lastWriteNanos.computeIfAbsent(request.chunkUid(), uid -> new java.util.concurrent.ConcurrentHashMap<>())
                    .put(stripe, System.nanoTime());
            long parityKeyOffset = (HotStore.PARITY_KEY_BASE + firstBlock) * S;
            CompletableFuture<Void> ownLog = master.logAsync(WalRecordFormat.TYPE_HOT_WRITE, request.chunkUid(),
                    parityKeyOffset, request.lengthBytes(), walPayload(frame, dataAt, 0, blocks, blocks, seq));
            logged = true;
            List<CompletableFuture<DataClient.Reply>> sends = new ArrayList<>();
            List<String> addresses = new ArrayList<>();
            for (int col = 0; col < layout.width(); col++) {
                if (col == layout.masterIndex() || !layout.writable(col)) {
                    continue; // RECOVERING columns get hot writes too: they must miss nothing
                }
                long keyOffset;
                int from;
                int count;
                if (col >= k) {
                    keyOffset = parityKeyOffset;
                    from = 0;
                    count = blocks;
                } else if (request.covers(stripe, col)) {
                    keyOffset = (long) stripe * S;
                    from = request.blockIndex(stripe, col);
                    count = 1;
                } else {
                    continue;
                }
                addresses.add(layout.address(col));
                sends.add(clients.request(layout.address(col), DataFrame.TYPE_HOT_PUT, request.chunkUid(),
                        request.chunkVersion(), keyOffset, (long) count * S,
                        putPayload(frame, dataAt, from, count, blocks, seq)));
            }
            List<String> failures = new ArrayList<>();
            boolean full = false;
            for (int i = 0; i < sends.size(); i++) {
                String failure = StripeMaster.outcome(sends.get(i), addresses.get(i));
                if (failure != null) {
                    full |= failure.contains(" answered " + CsStatus.HOT_FULL + ":");
                    failures.add(failure);
                }
            }
            try {
                ownLog.join();
            } catch (CompletionException e) {
                CsException cause = e.getCause() instanceof CsException cs ? cs
                        : new CsException(CsStatus.IO_ERROR, "WAL: " + e.getCause(), e.getCause());
                if (cause.status() == CsStatus.HOT_FULL) {
                    throw cause;
                }
                throw new CsException(cause.status(), "this stripe master's own WAL: " + cause.getMessage());
            }
            if (full) {
                // Some replicas logged it; the EC write the client sends instead gets a version above
                // this seq, so those copies are dead by the read rule.
                throw new CsException(CsStatus.HOT_FULL, String.join("; ", failures));
            }
            if (!failures.isEmpty()) {
                throw new CsException(CsStatus.REPLICA_FAILED, String.join("; ", failures));
            }
            learn(request.chunkUid(), new Known(layout, request.chunkVersion()));
            written = true;
        } finally {
            if (logged && !written) {
                // Its copies here and on the replicas that took it may be orphans: settled before served.
                trust.untrust(request.chunkUid(), stripe);
            }
            master.unlock(request.chunkUid(), stripe, 1);
        }
    }

    /**
     * A HOT_PUT payload for blocks [from, from + count) of the request: data, CRCs, hot section
     * (u8 version, u8[3] 0, u64 seq). Handed over to the send.
     */
    private static ByteBuf putPayload(ByteBuf frame, int dataAt, int from, int count, int blocks, long seq) {
        ByteBuf payload = StripeMaster.pooled(count * (S + 4) + WalRecordFormat.HOT_SECTION_BYTES);
        payload.writeBytes(frame, dataAt + from * S, count * S);
        payload.writeBytes(frame, dataAt + blocks * S + 4 * from, 4 * count);
        payload.writeByte(WalRecordFormat.HOT_FORMAT_VERSION).writeZero(3).writeLong(seq);
        return payload;
    }

    /** A HOT_WRITE WAL payload: a HOT_PUT payload plus room for the slots the hot store chooses. */
    static ByteBuf walPayload(ByteBuf source, int dataAt, int from, int count, int blocks, long seq) {
        ByteBuf payload = StripeMaster.pooled(count * (S + 4) + WalRecordFormat.HOT_SECTION_BYTES + 4 * count);
        payload.writeBytes(source, dataAt + from * S, count * S);
        payload.writeBytes(source, dataAt + blocks * S + 4 * from, 4 * count);
        payload.writeByte(WalRecordFormat.HOT_FORMAT_VERSION).writeZero(3).writeLong(seq);
        payload.writeZero(4 * count);
        return payload;
    }

    /**
     * EC_READ's merge, under the stripe locks: every block of the reply ({@code out}: data, then one
     * CRC per block) whose hot copy here has a seq above the stripe's cold version of it ({@code v},
     * this master's parity record) is replaced by the hot copy.
     */
    static void overlay(HotStore hot, StripeMaster.Request request, long[][] v, ByteBuf out) throws CsException {
        int k = request.k();
        long firstBlock = request.offsetBytes() / S;
        int blocks = request.lengthBytes() / S;
        long base = HotStore.PARITY_KEY_BASE;
        if (!hot.any(request.chunkUid(), base + firstBlock, base + firstBlock + blocks)) {
            return;
        }
        for (int i = 0; i < blocks; i++) {
            long logical = firstBlock + i;
            int si = (int) (logical / k) - request.firstStripe();
            HotStore.HotBlock found = hot.readInto(request.chunkUid(), base + logical, v[si][(int) (logical % k)], out,
                    i * S);
            if (found != null) {
                out.setInt(request.lengthBytes() + 4 * i, found.crc());
            }
        }
    }
}
