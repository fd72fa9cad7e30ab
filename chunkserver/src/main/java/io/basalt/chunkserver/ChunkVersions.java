package io.basalt.chunkserver;

import io.basalt.protocol.data.CsException;
import io.basalt.protocol.data.CsStatus;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.zip.CRC32C;

/**
 * The chunk versions meta told this CS, persisted so that a restart does not forget a fence. A
 * request whose version is older than the known one is refused ("stale chunk version 3 < 4"); a
 * chunk meta said nothing about yet is not fenced. Versions never go back: a lower update is ignored.
 * A chunk meta removed from this CS keeps a tombstone (version {@link #DELETED}): every request
 * for it is refused, so a stale client cannot recreate a chunklet that was deleted; a later
 * version from meta (the chunk placed here again) replaces the tombstone.
 *
 * <p>A write a primary relays to its replicas ({@link #checkRelayed}) is fenced at the chunk's
 * writersFrom instead: the oldest version with the same chunklets as the known one (meta's version
 * index says which). The primary accepted it at that version before it heard of the new one, and
 * it reaches exactly the chunklets the new version names; refusing it on one replica while the
 * primary and the others apply it would leave the copies different for good where the writer
 * retries elsewhere (a snapshot's frozen chunk; docs/snapshots.md, "Fencing").
 *
 * <p>File {@code versions} (rewritten whole, atomically by rename, on every change; changes are rare:
 * chunk creation, chunklet set change, lease move, meta leader change). Big-endian:
 * <pre>
 *   0  u32  magic 0x42435654 "BCVT"
 *   4  u8   formatVersion (2; 1 is read: entries of 16 bytes, writersFrom = version)
 *   5  u8[3] reserved
 *   8  u32  count
 *  12  count x (u64 chunkUid, u64 version; 0x7fffffffffffffff: deleted from this CS, u64 writersFrom)
 *  ..  u32  crc32c of all preceding bytes
 * </pre>
 * Ownership: the map is concurrent for readers (event loops check fences); updates are serialized by
 * this object's monitor, which also orders the file rewrites.
 *
 * <p>A request with a version <em>newer</em> than the known one is served (meta may have moved
 * on before this CS heard), but it is a hint that this CS is behind: {@link #onBehind}'s listener
 * is told, on the caller's thread (an event loop), so it must only signal, never block.
 */
public final class ChunkVersions implements ChunkVersionSink {
    public static final int MAGIC = 0x42435654;
    public static final int FORMAT_VERSION = 2;
    /**
     * The version of a tombstone. Same layout as a version, and an older build reading it fences
     * every request for that chunk, which is the meaning: no format version bump needed.
     */
    public static final long DELETED = Long.MAX_VALUE;

    private final Path file;
    private final ConcurrentHashMap<Long, Long> versions = new ConcurrentHashMap<>();
    /** writersFrom of the chunks where it is older than their version (else it equals it). */
    private final ConcurrentHashMap<Long, Long> writersFrom = new ConcurrentHashMap<>();
    private volatile Runnable behindListener = () -> {};

    private ChunkVersions(Path file) {
        this.file = file;
    }

    public static ChunkVersions open(Path file) throws IOException {
        ChunkVersions chunkVersions = new ChunkVersions(file);
        if (Files.exists(file)) {
            ByteBuffer buffer = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.BIG_ENDIAN);
            if (buffer.capacity() < 16 || buffer.getInt(0) != MAGIC) {
                throw new IOException("chunk versions file " + file + " is damaged (bad magic or short)");
            }
            int formatVersion = buffer.get(4) & 0xff;
            if (formatVersion != 1 && formatVersion != FORMAT_VERSION) {
                throw new IOException("chunk versions file " + file + " has format version " + formatVersion
                        + "; this build knows 1 and " + FORMAT_VERSION);
            }
            int entryBytes = formatVersion == 1 ? 16 : 24;
            int count = buffer.getInt(8);
            if (count < 0 || buffer.capacity() != 12 + (long) entryBytes * count + 4) {
                throw new IOException("chunk versions file " + file + " is damaged (count " + count + ", "
                        + buffer.capacity() + " bytes)");
            }
            CRC32C crc = new CRC32C();
            crc.update(buffer.duplicate().limit(buffer.capacity() - 4));
            if ((int) crc.getValue() != buffer.getInt(buffer.capacity() - 4)) {
                throw new IOException("chunk versions file " + file + " fails its CRC32C");
            }
            for (int i = 0; i < count; i++) {
                int at = 12 + entryBytes * i;
                long uid = buffer.getLong(at);
                long version = buffer.getLong(at + 8);
                chunkVersions.versions.put(uid, version);
                long from = entryBytes == 24 ? buffer.getLong(at + 16) : version;
                if (from < version && version != DELETED) {
                    chunkVersions.writersFrom.put(uid, from);
                }
            }
        }
        return chunkVersions;
    }

    /** The version meta told for {@code chunkUid}, or -1 when none (or deleted). */
    public long known(long chunkUid) {
        Long version = versions.get(chunkUid);
        return version == null || version == DELETED ? -1 : version;
    }

    /** Whether meta removed {@code chunkUid} from this CS (and did not place it here again). */
    public boolean deleted(long chunkUid) {
        Long version = versions.get(chunkUid);
        return version != null && version == DELETED;
    }

    /** The stored value: -1 for none, {@link #DELETED} for a tombstone. */
    private long raw(long chunkUid) {
        Long version = versions.get(chunkUid);
        return version == null ? -1 : version;
    }

    /**
     * Chunks whose delete is being logged and applied, before their tombstone is written (the
     * tombstone follows the durable delete, see ReclaimingVersionSink): fenced in memory meanwhile,
     * so that no request reads a chunklet half gone, or an emptied one as if it were current (seen: a
     * stripe master whose column had just been deleted answered a PEEK "aborted" for a transaction
     * it had committed before, and its columns dropped an acknowledged write).
     */
    private final Set<Long> removing = java.util.concurrent.ConcurrentHashMap.newKeySet();

    /** Fences {@code chunkUids} in memory until {@link #removed} (their delete is on its way). */
    public void removing(Set<Long> chunkUids) {
        removing.addAll(chunkUids);
    }

    /** Ends {@link #removing}: the tombstones are written, or the delete failed (the pull is retried). */
    public void removed(Set<Long> chunkUids) {
        removing.removeAll(chunkUids);
    }

    /**
     * Writes in flight that were fenced at a version, per chunk: a primary's replicated write until
     * its replicas answered, and a direct strip write (ec.DirectStripWrite: no parity column takes
     * writes) until applied. Each as the chunk version it was fenced at, sorted, in an immutable
     * array replaced under the map's per-key lock. {@link #fencedVersion} reports the oldest, so
     * that whoever waits for this server to fence a version through INFO also waits for writes of
     * an older version that passed the fence before the new version arrived: a recovery
     * (RecoveryIo.fenced) reads no stripe one of them is still changing, and a snapshot create
     * returns only once the writes its chunks took at the old version reached every replica.
     */
    private final ConcurrentHashMap<Long, long[]> writesInFlight = new ConcurrentHashMap<>();

    /**
     * Fences a write ({@link #check}) and counts it in flight until {@link #endWrite}. It is counted
     * before the check: a version update after the check then finds it counted, so INFO never
     * reports the new version while a write of the old one is still going.
     */
    public void beginWrite(long chunkUid, long requestVersion) throws CsException {
        writesInFlight.compute(chunkUid, (uid, now) -> {
            long[] more = now == null ? new long[1] : java.util.Arrays.copyOf(now, now.length + 1);
            more[more.length - 1] = requestVersion;
            java.util.Arrays.sort(more);
            return more;
        });
        try {
            check(chunkUid, requestVersion);
        } catch (CsException | RuntimeException e) {
            endWrite(chunkUid, requestVersion);
            throw e;
        }
    }

    /** Ends a write begun with {@link #beginWrite} (applied, answered or failed). */
    public void endWrite(long chunkUid, long requestVersion) {
        writesInFlight.computeIfPresent(chunkUid, (uid, now) -> {
            int at = java.util.Arrays.binarySearch(now, requestVersion);
            if (at < 0) {
                return now;
            }
            if (now.length == 1) {
                return null;
            }
            long[] less = new long[now.length - 1];
            System.arraycopy(now, 0, less, 0, at);
            System.arraycopy(now, at + 1, less, at, less.length - at);
            return less;
        });
    }

    /**
     * The version this server fences {@code chunkUid} at for everything it may still apply: {@link
     * #known}, or the oldest version of a write still in flight when that is older (what INFO
     * reports). Reads known first: a write begun before a version update is then seen too.
     */
    public long fencedVersion(long chunkUid) {
        long known = known(chunkUid);
        long[] inFlight = writesInFlight.get(chunkUid);
        return inFlight == null || inFlight.length == 0 ? known : Math.min(known, inFlight[0]);
    }

    /** Refuses {@code requestVersion} when it is older than the known version of {@code chunkUid}. */
    public void check(long chunkUid, long requestVersion) throws CsException {
        long known = raw(chunkUid);
        if (known == DELETED || removing.contains(chunkUid)) {
            behindListener.run(); // unless meta placed it here again since
            throw new CsException(CsStatus.STALE_VERSION, "chunk " + Long.toHexString(chunkUid)
                    + " was removed from this chunk server by meta; reload the chunk map");
        }
        if (requestVersion < known) {
            throw new CsException(CsStatus.STALE_VERSION, "stale chunk version " + requestVersion + " < " + known
                    + " for chunk " + Long.toHexString(chunkUid));
        }
        if (requestVersion > known) {
            behindListener.run();
        }
    }

    /**
     * Refuses a write a primary relays ({@code DataFrame.FLAG_RELAYED}) when {@code requestVersion}
     * is older than the chunk's writersFrom (see the class note); else as {@link #check}.
     */
    public void checkRelayed(long chunkUid, long requestVersion) throws CsException {
        // The version first, then writersFrom (the order updates write them in reverse): a pair
        // read across an update is the old version with the new writersFrom, no laxer than either.
        long known = raw(chunkUid);
        Long from = known == DELETED || requestVersion >= known ? null : writersFrom.get(chunkUid);
        if (from == null || requestVersion < from || removing.contains(chunkUid)) {
            check(chunkUid, requestVersion);
        }
    }

    /**
     * For requests that are not fenced (INFO): tells the {@link #onBehind} listener when
     * {@code requestVersion} is newer than the known version, and nothing else.
     */
    public void note(long chunkUid, long requestVersion) {
        long known = raw(chunkUid);
        if (known != DELETED && requestVersion > known) {
            behindListener.run();
        }
    }

    /** Told (on an event loop: signal only) when a request carries a version newer than the known one. */
    public void onBehind(Runnable listener) {
        this.behindListener = java.util.Objects.requireNonNull(listener);
    }

    @Override
    public Set<Long> knownChunkUids() {
        Set<Long> live = new java.util.HashSet<>();
        versions.forEach((uid, version) -> {
            if (version != DELETED) {
                live.add(uid);
            }
        });
        return live;
    }

    @Override
    public synchronized void chunkVersions(Map<Long, Long> updates, Map<Long, Long> writersFromUpdates,
            Set<Long> deleted) throws IOException {
        boolean changed = false;
        for (Map.Entry<Long, Long> update : updates.entrySet()) {
            changed |= apply(update.getKey(), update.getValue(),
                    writersFromUpdates.getOrDefault(update.getKey(), update.getValue()));
        }
        for (long chunkUid : deleted) {
            writersFrom.remove(chunkUid);
            changed |= !java.util.Objects.equals(versions.put(chunkUid, DELETED), DELETED);
        }
        if (changed) {
            persist(); // one file rewrite for the whole pull
        }
    }

    @Override
    public void chunkVersions(Map<Long, Long> updates, Set<Long> deleted) throws IOException {
        chunkVersions(updates, Map.of(), deleted);
    }

    @Override
    public synchronized void chunkVersion(long chunkUid, long version) throws IOException {
        chunkVersion(chunkUid, version, version);
    }

    /** As {@link #chunkVersion(long, long)}, with the chunk's writersFrom (see the class note). */
    public synchronized void chunkVersion(long chunkUid, long version, long from) throws IOException {
        if (apply(chunkUid, version, from)) {
            persist();
        }
    }

    /** Takes a newer version and its writersFrom; false when the version is not newer (never back). */
    private boolean apply(long chunkUid, long version, long from) {
        if (version < 0 || version == DELETED) {
            throw new IllegalArgumentException("chunk version " + version + " out of range");
        }
        if (from < 0 || from > version) {
            throw new IllegalArgumentException("writersFrom " + from + " outside [0, version " + version + "]");
        }
        long known = raw(chunkUid);
        if (known != DELETED && known >= version) {
            return false;
        }
        // writersFrom first, then the version: checkRelayed reads them the other way round, so it
        // never pairs a new writersFrom with an older version.
        if (from < version) {
            writersFrom.put(chunkUid, from);
        } else {
            writersFrom.remove(chunkUid);
        }
        versions.put(chunkUid, version);
        return true;
    }

    @Override
    public synchronized void chunkDeleted(long chunkUid) throws IOException {
        if (raw(chunkUid) != DELETED) {
            writersFrom.remove(chunkUid);
            versions.put(chunkUid, DELETED);
            persist();
        }
    }

    private void persist() throws IOException {
        Map<Long, Long> snapshot = Map.copyOf(versions);
        ByteBuffer buffer = ByteBuffer.allocate(12 + 24 * snapshot.size() + 4).order(ByteOrder.BIG_ENDIAN);
        buffer.putInt(MAGIC).put((byte) FORMAT_VERSION).put((byte) 0).put((byte) 0).put((byte) 0);
        buffer.putInt(snapshot.size());
        snapshot.forEach((uid, version) -> buffer.putLong(uid).putLong(version)
                .putLong(version == DELETED ? version : writersFrom.getOrDefault(uid, version)));
        CRC32C crc = new CRC32C();
        crc.update(buffer.duplicate().flip());
        buffer.putInt((int) crc.getValue()).flip();
        io.basalt.common.io.DurableFiles.replaceAtomically(file, buffer);
    }
}
