package io.basalt.chunkserver.recovery;

import static io.basalt.protocol.data.BlockCrc.BLOCK_SHIFT;
import static io.basalt.protocol.data.BlockCrc.BLOCK_SIZE_BYTES;

import io.basalt.chunkserver.CsMetrics;
import io.basalt.chunkserver.MetaLink;
import io.basalt.protocol.data.EcLayout;
import io.basalt.chunkserver.ec.StripeVerifier;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import io.basalt.chunkserver.store.ChunkletStore;
import io.basalt.chunkserver.store.ScrubReader;
import io.basalt.chunkserver.wal.WalRecordFormat;
import io.basalt.common.ThreadNames;
import io.basalt.protocol.data.BlockCrc;
import io.basalt.protocol.data.CsStatus;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The scrubber: reads every written block of every chunklet on this chunk server back from disk on a
 * schedule and checks it against its CRC32C (and every metadata entry against its own), whether or not
 * a client ever reads it, and repairs each damaged block in place from the chunk's redundancy: a
 * replica's copy, or for an erasure-coded column the strip the stripe master rebuilds from k others.
 * A repair is a REPAIR WAL record that applies only if the block is still the damaged one (a client
 * write since then replaced it anyway).
 *
 * <p>Schedule: one pass over all chunklets (in uid order) every {@code interval} (start to start),
 * paced by {@code bytesPerSecond} (and yielding to client I/O like recovery does). The pass's position
 * is kept in the {@code scrub} file (ScrubState), so a restart continues the pass where it was.
 */
public final class Scrubber implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(Scrubber.class);
    private static final int RANGE_BLOCKS = 256;
    private static final long SAVE_EVERY_MILLIS = 10_000;

    /** How often a pass starts and how fast it reads. */
    public record Config(Duration interval, long bytesPerSecond) {
        /** A pass a week, at most 32 MiB/s (a 4 TB disk at full fill takes ~1.5 days of it). */
        public static Config defaults() {
            return new Config(Duration.ofDays(7), 32L << 20);
        }

        public Config {
            if (interval.isNegative() || interval.isZero() || bytesPerSecond < 0) {
                throw new IllegalArgumentException("scrub interval " + interval + " (must be > 0), rate "
                        + bytesPerSecond + " bytes/s (must be >= 0)");
            }
        }
    }

    /** What status shows: the current pass, if any, and what the last finished pass found. */
    public record Progress(boolean running, long passBytes, long passDamaged, long passRepaired,
            long lastPassEndMillis, long lastPassDamaged, long lastPassRepaired) {}

    private final MetaLink meta;
    private final int csId;
    private final ChunkletStore store;
    private final ScrubReader reader;
    private final RecoveryContext context;
    private final CsMetrics metrics;
    private final Config config;
    private final Path stateFile;
    /** Checks the parity of the erasure-coded chunks this server is the stripe master of. */
    private final StripeVerifier stripes;
    private final Thread thread;
    private volatile ScrubState state;
    private volatile boolean closed;
    private long lastSaveMillis;

    Scrubber(MetaLink meta, int csId, ChunkletStore store, RecoveryContext context, CsMetrics metrics,
            Config config, Path stateFile, StripeVerifier stripes) throws IOException {
        this.stripes = stripes;
        this.meta = meta;
        this.csId = csId;
        this.store = store;
        this.reader = new ScrubReader(store);
        this.context = context;
        this.metrics = metrics;
        this.config = config;
        this.stateFile = stateFile;
        this.state = ScrubState.read(stateFile);
        this.thread = Thread.ofPlatform().daemon().name(ThreadNames.of("basalt-cs-scrub")).unstarted(this::loop);
    }

    public void start() {
        if (state.running()) {
            log.info("scrub: resuming the pass begun at {} from chunklet {}", java.time.Instant.ofEpochMilli(
                    state.passStartMillis()), Long.toHexString(state.cursorChunkUid()));
        }
        thread.start();
    }

    public Progress progress() {
        ScrubState s = state;
        return new Progress(s.running(), s.passBytes(), s.passDamaged(), s.passRepaired(), s.lastPassEndMillis(),
                s.lastPassDamaged(), s.lastPassRepaired());
    }

    private void loop() {
        while (!closed) {
            try {
                long now = System.currentTimeMillis();
                ScrubState s = state;
                if (!s.running()) {
                    long due = s.passStartMillis() + config.interval().toMillis();
                    if (s.passStartMillis() != 0 && now < due) {
                        Thread.sleep(Math.min(due - now, 1000));
                        continue;
                    }
                    state = new ScrubState(now, 1, s.lastPassEndMillis(), s.lastPassDamaged(),
                            s.lastPassRepaired(), 0, 0, 0);
                    save(true);
                    log.info("scrub: pass started over {} chunklets", store.chunkletCount());
                }
                pass();
            } catch (InterruptedException e) {
                return;
            } catch (IOException | RuntimeException e) {
                log.warn("scrub: {}; trying again in 10 s", e.toString());
                try {
                    Thread.sleep(10_000);
                } catch (InterruptedException interrupted) {
                    return;
                }
            }
        }
    }

    /** Runs the current pass from its cursor to its end. */
    private void pass() throws IOException, InterruptedException {
        for (long uid : store.chunkletUids().tailSet(state.cursorChunkUid())) {
            if (closed) {
                return;
            }
            scrubChunklet(uid);
            ScrubState s = state;
            state = new ScrubState(s.passStartMillis(), uid + 1, s.lastPassEndMillis(), s.lastPassDamaged(),
                    s.lastPassRepaired(), s.passDamaged(), s.passRepaired(), s.passBytes());
            save(false);
        }
        ScrubState s = state;
        state = new ScrubState(s.passStartMillis(), 0, System.currentTimeMillis(), s.passDamaged(), s.passRepaired(),
                s.passDamaged(), s.passRepaired(), s.passBytes());
        save(true);
        metrics.scrubPasses.inc();
        log.info("scrub: pass done in {} s: {} bytes read, {} damaged blocks found, {} repaired",
                (System.currentTimeMillis() - s.passStartMillis()) / 1000, s.passBytes(), s.passDamaged(),
                s.passRepaired());
    }

    private void save(boolean now) throws IOException {
        long millis = System.currentTimeMillis();
        if (now || millis - lastSaveMillis >= SAVE_EVERY_MILLIS) {
            state.write(stateFile);
            lastSaveMillis = millis;
        }
    }

    /** Checks every written block of one chunklet, repairing what is damaged. */
    void scrubChunklet(long uid) throws IOException, InterruptedException {
        int extent = reader.writtenExtentBlocks(uid);
        for (int first = 0; first < extent && !closed; first += RANGE_BLOCKS) {
            int count = Math.min(RANGE_BLOCKS, extent - first);
            context.throttle().acquire((long) count << BLOCK_SHIFT);
            long[] read = new long[1];
            List<ScrubReader.Damage> damage = reader.check(uid, first, count, read);
            metrics.scrubBytes.inc(read[0]);
            long repaired = 0;
            for (ScrubReader.Damage d : damage) {
                metrics.scrubErrors.labelValues(d.lsn() < 0 ? "metadata" : "crc").inc();
                log.warn("scrub: chunklet {} block at {}: {}", Long.toHexString(uid),
                        (long) d.block() << BLOCK_SHIFT, d.why());
                if (repair(uid, d)) {
                    repaired++;
                    metrics.scrubRepaired.inc();
                } else {
                    metrics.scrubUnrepaired.inc();
                }
            }
            count(damage.size(), repaired, read[0]);
        }
        checkAgainstRedundancy(uid, extent);
    }

    /**
     * Checks a chunklet against the chunk's other chunklets: a replica against the other replicas
     * (ReplicaComparison); an erasure-coded chunk's stripes, parity against data, on its stripe master
     * (StripeVerifier). Counts what they found.
     */
    private void checkAgainstRedundancy(long uid, int extentBlocks) throws InterruptedException {
        if (closed) {
            return;
        }
        try {
            MetaLink.RecoveryTask map = meta.chunkMap(uid, csId);
            if (map == null || map.targetIndex() < 0) {
                return;
            }
            if (!map.erasureCoded()) {
                ReplicaComparison.Outcome outcome = ReplicaComparison.run(context, meta, map);
                found("divergent", outcome.divergent(), outcome.repaired(), outcome.unrepaired());
            } else if (stripes != null) {
                verifyStripes(map, extentBlocks);
            }
        } catch (IOException e) {
            log.info("scrub: checking chunklet {} against the chunk's redundancy: {}; the next pass tries again",
                    Long.toHexString(uid), e.getMessage());
        }
    }

    /** Parity re-encoded and compared, stripe by stripe, if this server is the chunk's stripe master. */
    private void verifyStripes(MetaLink.RecoveryTask map, int stripeCount) throws IOException, InterruptedException {
        EcLayout layout = map.masterLayout(true);
        if (layout == null) {
            return;
        }
        for (int first = 0; first < stripeCount && !closed; first += StripeVerifier.STRIPES_MAX) {
            int count = Math.min(StripeVerifier.STRIPES_MAX, stripeCount - first);
            context.throttle().acquire((long) count * layout.width() << BLOCK_SHIFT);
            StripeVerifier.Outcome outcome;
            try {
                outcome = stripes.verify(map.chunkUid(), map.chunkVersion(), layout, first, count);
            } catch (io.basalt.protocol.data.CsException e) {
                throw new IOException(e.getMessage(), e);
            }
            found("parity", outcome.inconsistent(), outcome.repaired(), outcome.inconsistent() - outcome.repaired());
        }
    }

    /** A damaged strip of this stripe master's own parity column, re-encoded here from the data columns. */
    private boolean repairOwnParity(MetaLink.RecoveryTask map, ScrubReader.Damage damage) {
        try {
            boolean repaired = stripes.repairOwnParity(map.chunkUid(), map.chunkVersion(), map.masterLayout(false),
                    damage.block(), damage.lsn());
            if (repaired) {
                log.info("scrub: chunk {} stripe {}: this master's parity strip re-encoded from the data columns",
                        Long.toHexString(map.chunkUid()), damage.block());
            }
            return repaired;
        } catch (io.basalt.protocol.data.CsException e) {
            log.warn("scrub: chunk {} stripe {}: re-encoding this master's parity strip failed: {}",
                    Long.toHexString(map.chunkUid()), damage.block(), e.getMessage());
            return false;
        }
    }

    private void found(String kind, int found, int repaired, int unrepaired) {
        if (found > 0) {
            metrics.scrubErrors.labelValues(kind).inc(found);
            metrics.scrubRepaired.inc(repaired);
            metrics.scrubUnrepaired.inc(unrepaired);
            count(found, repaired, 0);
        }
    }

    private void count(long damaged, long repaired, long bytes) {
        ScrubState s = state;
        state = new ScrubState(s.passStartMillis(), s.cursorChunkUid(), s.lastPassEndMillis(), s.lastPassDamaged(),
                s.lastPassRepaired(), s.passDamaged() + damaged, s.passRepaired() + repaired, s.passBytes() + bytes);
    }

    /** Repairs one damaged block from the chunk's redundancy; false (logged) when it cannot. */
    private boolean repair(long uid, ScrubReader.Damage damage) throws InterruptedException {
        try {
            MetaLink.RecoveryTask map = meta.chunkMap(uid, csId);
            if (map == null || map.targetIndex() < 0) {
                log.info("scrub: chunk {} is not on this server in meta's map (deleted or moved); not repaired",
                        Long.toHexString(uid));
                return false;
            }
            if (map.erasureCoded() && stripes != null && map.masterLayout(false) != null) {
                return repairOwnParity(map, damage);
            }
            ByteBuf payload = map.erasureCoded() ? ecRepairPayload(map, damage) : replicaRepairPayload(map, damage);
            if (payload == null) {
                return false;
            }
            RecoveryIo.log(context, WalRecordFormat.TYPE_REPAIR, map, (long) damage.block() << BLOCK_SHIFT,
                    BLOCK_SIZE_BYTES, payload);
            log.info("scrub: chunklet {} block at {} repaired from redundancy", Long.toHexString(uid),
                    (long) damage.block() << BLOCK_SHIFT);
            return true;
        } catch (IOException e) {
            log.warn("scrub: repairing chunklet {} block at {} failed: {}", Long.toHexString(uid),
                    (long) damage.block() << BLOCK_SHIFT, e.getMessage());
            return false;
        }
    }

    /** The block's entry and data from an UPTODATE replica as a REPAIR payload; null if none has it. */
    private ByteBuf replicaRepairPayload(MetaLink.RecoveryTask map, ScrubReader.Damage damage)
            throws InterruptedException {
        long offset = (long) damage.block() << BLOCK_SHIFT;
        for (MetaLink.Member source : map.members()) {
            if (!source.upToDate() || source.index() == map.targetIndex()) {
                continue;
            }
            try {
                ByteBuf entry = RecoveryIo.blockMap(context, source.address(), map.chunkUid(), map.chunkVersion(),
                        offset, BLOCK_SIZE_BYTES);
                int kind = entry.getUnsignedByte(0);
                long version = entry.getLong(1);
                int crc = entry.getInt(9);
                entry.release();
                if (kind == ChunkletStore.BLOCK_CORRUPT) {
                    continue;
                }
                ByteBuf payload = ReplicaComparison.repairPayload(context, source, map, offset, damage.lsn(), kind,
                        version, crc);
                if (payload != null) {
                    return payload;
                }
            } catch (IOException e) {
                log.info("scrub: replica cs {} could not give block {} of chunk {}: {}", source.csId(), offset,
                        Long.toHexString(map.chunkUid()), e.getMessage());
            }
        }
        log.warn("scrub: no UPTODATE replica of chunk {} could give block at {}", Long.toHexString(map.chunkUid()),
                offset);
        return null;
    }

    /**
     * The strip as the stripe master rebuilds it from k others (STRIP_REBUILD of this one stripe, asked
     * with no versions so that it is always sent), as a REPAIR payload. Null when this server is the
     * master (its own parity would have to be rebuilt by another master: not done) or there is none.
     */
    private ByteBuf ecRepairPayload(MetaLink.RecoveryTask map, ScrubReader.Damage damage)
            throws IOException, InterruptedException {
        int k = map.dataCount();
        int column = map.targetIndex();
        MetaLink.Member master = null;
        for (MetaLink.Member member : map.members()) {
            if (master == null && member.index() >= k && member.upToDate()) {
                master = member;
            }
        }
        if (master == null || master.index() == column) {
            log.warn("scrub: chunk {} column {}: {}; not repaired", Long.toHexString(map.chunkUid()), column,
                    master == null ? "no UPTODATE parity column" : "this server is its stripe master, and it has no"
                            + " parity verifier");
            return null;
        }
        // The damaged column takes writes (it is UPTODATE) but is no source: written, never read.
        EcLayout layout = map.layout(master.index(), column);
        int n = column < k ? 1 : k;
        ByteBuf request = PooledByteBufAllocator.DEFAULT.directBuffer(8 + 8 * n + layout.encodedBytes());
        request.writeByte(column).writeByte(n).writeShort(0).writeInt(8 * n).writeZero(8 * n);
        layout.writeTo(request);
        DataClient.Reply reply = RecoveryIo.await(context.clients().request(master.address(),
                DataFrame.TYPE_STRIP_REBUILD, map.chunkUid(), map.chunkVersion(),
                (long) damage.block() * layout.stripeBytes(), layout.stripeBytes(), request));
        try {
            if (reply.status() != CsStatus.OK) {
                throw new IOException("stripe master cs " + master.csId() + ": " + reply.status() + " "
                        + reply.message());
            }
            ByteBuf strips = reply.payload();
            int at = strips.readerIndex();
            if (strips.readableBytes() != 1 + BLOCK_SIZE_BYTES + 4 + 8 * n || strips.getUnsignedByte(at) != 1) {
                log.warn("scrub: chunk {} stripe {}: the master holds no decided strip for it; not repaired",
                        Long.toHexString(map.chunkUid()), damage.block());
                return null;
            }
            int stripAt = at + 1;
            int crc = strips.getInt(stripAt + BLOCK_SIZE_BYTES);
            if (BlockCrc.of(strips, stripAt, BLOCK_SIZE_BYTES) != crc) {
                throw new IOException("the rebuilt strip fails its CRC32C on arrival");
            }
            ByteBuf payload = PooledByteBufAllocator.DEFAULT.directBuffer(22 + 8 * n + BLOCK_SIZE_BYTES);
            payload.writeLong(damage.lsn()).writeByte(n).writeByte(ChunkletStore.FILL_DATA)
                    .writeLong(map.chunkVersion()).writeInt(crc);
            payload.writeBytes(strips, stripAt + BLOCK_SIZE_BYTES + 4, 8 * n);
            payload.writeBytes(strips, stripAt, BLOCK_SIZE_BYTES);
            return payload;
        } finally {
            reply.release();
        }
    }

    @Override
    public void close() {
        closed = true;
        thread.interrupt();
        try {
            thread.join(5000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try {
            state.write(stateFile);
        } catch (IOException e) {
            log.warn("scrub: saving its state failed: {}", e.getMessage());
        }
    }
}
