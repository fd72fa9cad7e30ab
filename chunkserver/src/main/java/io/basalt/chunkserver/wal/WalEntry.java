package io.basalt.chunkserver.wal;

import io.basalt.protocol.data.CsException;
import io.netty.buffer.ByteBuf;

/**
 * One mutation on its way through the WAL: what to log, and whom to tell when it is durable and
 * applied (or failed). Created by the protocol handler (or by replay), then owned by the
 * {@link WalWriter} thread until {@link Completion#done} is called.
 *
 * <p>Ownership of {@link #payload}: handed over to the writer with {@link WalWriter#submit}; the
 * writer releases it after the completion ran (the completion must not keep it).
 */
public final class WalEntry {
    final int type;
    final long chunkUid;
    final long offsetBytes;
    final int lengthBytes;
    /**
     * WRITE: data then one CRC32C per 4 KiB block (big-endian); EC_PREPARE, EC_WRITE: the same then an
     * EC section; EC_RESOLVE: an EC section; null for the others.
     */
    final ByteBuf payload;
    final Completion completion;
    long lsn;
    /**
     * The chunk version the request carried (its fence), logged with the record and kept per block;
     * for a FILL, the version at which the recovery began (its guard). 0: none (EC records).
     */
    long chunkVersion;
    /** False: applied in WAL order but not written to the log (see {@link #unlogged()}). */
    boolean logged = true;
    /** An unlogged entry that is logged after all when its batch syncs for other records. */
    boolean ridesAlong;
    /** True: a WRITE whose data the store already wrote in place; logged as WRITE_PLACED. */
    private boolean placed;
    /** True: logged by background work whatever its type (see {@link #background()}). */
    private boolean background;

    public WalEntry(int type, long chunkUid, long offsetBytes, int lengthBytes, ByteBuf payload,
            Completion completion) {
        if (!WalRecordFormat.knownType(type)) {
            throw new IllegalArgumentException("unknown WAL record type " + type);
        }
        if (WalRecordFormat.hasPayload(type) != (payload != null)) {
            throw new IllegalArgumentException("a " + WalRecordFormat.typeName(type)
                    + (payload == null ? " needs a payload" : " carries no payload"));
        }
        if (type == WalRecordFormat.TYPE_DELETE_CHUNKLET && (offsetBytes != 0 || lengthBytes != 0)) {
            throw new IllegalArgumentException("a DELETE_CHUNKLET has offset and length 0");
        }
        this.type = type;
        this.chunkUid = chunkUid;
        this.offsetBytes = offsetBytes;
        this.lengthBytes = lengthBytes;
        this.payload = payload;
        this.completion = completion;
    }

    public int type() {
        return type;
    }

    public long chunkUid() {
        return chunkUid;
    }

    public long offsetBytes() {
        return offsetBytes;
    }

    public int lengthBytes() {
        return lengthBytes;
    }

    /** The payload (not a copy; valid until the completion returns). */
    public ByteBuf payload() {
        return payload;
    }

    /** A DELETE_CHUNKLET entry for {@code chunkUid}: the whole chunklet goes, in WAL order. */
    public static WalEntry deleteChunklet(long chunkUid, Completion completion) {
        return new WalEntry(WalRecordFormat.TYPE_DELETE_CHUNKLET, chunkUid, 0, 0, null, completion);
    }

    /**
     * Makes this entry apply in WAL order without waiting for (or forcing) a sync: for a change that
     * replay can do without, because whoever asked for it will ask again. A RESOLVE from the stripe
     * master is one: if it is lost in a crash, its PREPARE is replayed as pending and the master's
     * next request (or the column's PendingResolver) settles it by the versions it decided. Applied
     * changes are made durable by the next checkpoint, which forces the chunklet files before the
     * WAL is trimmed past the PREPARE.
     *
     * <p>It still gets a record when its batch syncs anyway for other records (free: no sync of
     * its own). Under a stream of writes that is nearly every RESOLVE, so replay settles them
     * instead of holding every PREPARE since the checkpoint pending, with its data, in memory (a
     * chunk server with a 256 MiB heap could not restart after a crash during a 2 GiB upload).
     */
    public WalEntry unlogged() {
        if (type != WalRecordFormat.TYPE_EC_RESOLVE) {
            throw new IllegalArgumentException("only an EC_RESOLVE may skip the log, not a "
                    + WalRecordFormat.typeName(type));
        }
        logged = false;
        ridesAlong = true;
        return this;
    }

    /**
     * Marks this entry as background work's (the freezer's sweep of dead hot blocks): nobody waits
     * for it, so it yields to client writes: the WAL refuses it BUSY while its queue is three
     * quarters full, keeping the rest for the records clients wait for. Returns this.
     */
    public WalEntry background() {
        background = true;
        return this;
    }

    /** Sets the chunk version logged with this entry (see {@link #chunkVersion()}); returns this. */
    public WalEntry withChunkVersion(long version) {
        if (version < 0 || version > WalRecordFormat.CHUNK_VERSION_MAX) {
            throw new IllegalArgumentException("chunk version " + version + " out of range");
        }
        this.chunkVersion = version;
        return this;
    }

    public long chunkVersion() {
        return chunkVersion;
    }

    /** The LSN the writer gave this entry (0 before it was logged). */
    public long lsn() {
        return lsn;
    }

    /**
     * Marks a WRITE whose data the store has written to its place in the chunklet file (in
     * {@link WalSink#prepare}); the writer makes it durable ({@link WalSink#forcePlaced}) before
     * it logs the entry, as a WRITE_PLACED record with only the block CRCs.
     */
    public void markPlaced() {
        if (type != WalRecordFormat.TYPE_WRITE && type != WalRecordFormat.TYPE_FILL) {
            throw new IllegalArgumentException("only a WRITE or FILL is placed, not a "
                    + WalRecordFormat.typeName(type));
        }
        placed = true;
    }

    /**
     * Whether the data is already in place (see {@link #markPlaced()}); replayed WRITE_PLACED and
     * FILL_PLACED records too.
     */
    public boolean placed() {
        return placed || type == WalRecordFormat.TYPE_WRITE_PLACED
                || type == WalRecordFormat.TYPE_FILL_PLACED;
    }

    /**
     * Whether a client waits for this entry: false for the records recovery and the scrubber log
     * (FILL, EC_FILL, REPAIR, FILL_PLACED) and for entries marked {@link #background()}, whose
     * latency nobody feels.
     */
    public boolean foreground() {
        return !background && type != WalRecordFormat.TYPE_FILL && type != WalRecordFormat.TYPE_EC_FILL
                && type != WalRecordFormat.TYPE_REPAIR && type != WalRecordFormat.TYPE_FILL_PLACED;
    }

    /** The record type logged: WRITE_PLACED or FILL_PLACED for a placed WRITE or FILL. */
    int recordType() {
        if (!placed) {
            return type;
        }
        return type == WalRecordFormat.TYPE_FILL ? WalRecordFormat.TYPE_FILL_PLACED
                : WalRecordFormat.TYPE_WRITE_PLACED;
    }

    /** Index in {@link #payload} of the first block CRC (a WRITE's or WRITE_PLACED's). */
    public int crcsIndex() {
        return payload.readerIndex() + (type == WalRecordFormat.TYPE_WRITE_PLACED ? 0 : lengthBytes);
    }

    int payloadBytes() {
        if (placed) {
            return (type == WalRecordFormat.TYPE_FILL ? WalRecordFormat.FILL_BLOCK_BYTES : 4)
                    * (lengthBytes >> 12);
        }
        return payload == null ? 0 : payload.readableBytes();
    }

    /** What the record carries after its header: a placed WRITE's CRCs only. */
    java.nio.ByteBuffer[] loggedPayload() {
        if (payload == null) {
            return new java.nio.ByteBuffer[0];
        }
        if (placed && type == WalRecordFormat.TYPE_WRITE) {
            return payload.nioBuffers(crcsIndex(), payloadBytes());
        }
        // A FILL's per-block section comes first: placed, the record is that section alone.
        return payload.nioBuffers(payload.readerIndex(), payloadBytes());
    }

    @Override
    public String toString() {
        return WalRecordFormat.typeName(type) + " lsn " + lsn + " chunk " + Long.toHexString(chunkUid)
                + " offset " + offsetBytes + " length " + lengthBytes;
    }

    /** Called once on the writer thread: {@code error} null means durable in the WAL and applied. */
    @FunctionalInterface
    public interface Completion {
        void done(WalEntry entry, CsException error);
    }
}
