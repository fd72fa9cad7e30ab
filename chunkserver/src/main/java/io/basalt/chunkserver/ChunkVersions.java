package io.basalt.chunkserver;

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
 *
 * <p>File {@code versions} (rewritten whole, atomically by rename, on every change; changes are rare:
 * chunk creation, chunklet set change, lease move, meta leader change). Big-endian:
 * <pre>
 *   0  u32  magic 0x42435654 "BCVT"
 *   4  u8   formatVersion (1)
 *   5  u8[3] reserved
 *   8  u32  count
 *  12  count x (u64 chunkUid, u64 version)
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
    public static final int FORMAT_VERSION = 1;

    private final Path file;
    private final ConcurrentHashMap<Long, Long> versions = new ConcurrentHashMap<>();
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
            if (formatVersion != FORMAT_VERSION) {
                throw new IOException("chunk versions file " + file + " has format version " + formatVersion
                        + "; this build knows " + FORMAT_VERSION);
            }
            int count = buffer.getInt(8);
            if (count < 0 || buffer.capacity() != 12 + 16L * count + 4) {
                throw new IOException("chunk versions file " + file + " is damaged (count " + count + ", "
                        + buffer.capacity() + " bytes)");
            }
            CRC32C crc = new CRC32C();
            crc.update(buffer.duplicate().limit(buffer.capacity() - 4));
            if ((int) crc.getValue() != buffer.getInt(buffer.capacity() - 4)) {
                throw new IOException("chunk versions file " + file + " fails its CRC32C");
            }
            for (int i = 0; i < count; i++) {
                chunkVersions.versions.put(buffer.getLong(12 + 16 * i), buffer.getLong(20 + 16 * i));
            }
        }
        return chunkVersions;
    }

    /** The version meta told for {@code chunkUid}, or -1 when none. */
    public long known(long chunkUid) {
        Long version = versions.get(chunkUid);
        return version == null ? -1 : version;
    }

    /** Refuses {@code requestVersion} when it is older than the known version of {@code chunkUid}. */
    public void check(long chunkUid, long requestVersion) throws CsException {
        long known = known(chunkUid);
        if (requestVersion < known) {
            throw new CsException(CsStatus.STALE_VERSION, "stale chunk version " + requestVersion + " < " + known
                    + " for chunk " + Long.toHexString(chunkUid));
        }
        if (requestVersion > known) {
            behindListener.run();
        }
    }

    /** Told (on an event loop: signal only) when a request carries a version newer than the known one. */
    public void onBehind(Runnable listener) {
        this.behindListener = java.util.Objects.requireNonNull(listener);
    }

    @Override
    public Set<Long> knownChunkUids() {
        return Set.copyOf(versions.keySet());
    }

    @Override
    public synchronized void chunkVersions(Map<Long, Long> updates, Set<Long> deleted) throws IOException {
        boolean changed = false;
        for (Map.Entry<Long, Long> update : updates.entrySet()) {
            if (update.getValue() < 0) {
                throw new IllegalArgumentException("chunk version " + update.getValue() + " < 0");
            }
            if (known(update.getKey()) < update.getValue()) {
                versions.put(update.getKey(), update.getValue()); // versions never go back
                changed = true;
            }
        }
        for (long chunkUid : deleted) {
            changed |= versions.remove(chunkUid) != null;
        }
        if (changed) {
            persist(); // one file rewrite for the whole pull
        }
    }

    @Override
    public synchronized void chunkVersion(long chunkUid, long version) throws IOException {
        if (version < 0) {
            throw new IllegalArgumentException("chunk version " + version + " < 0");
        }
        if (known(chunkUid) >= version) {
            return; // versions never go back
        }
        versions.put(chunkUid, version);
        persist();
    }

    @Override
    public synchronized void chunkDeleted(long chunkUid) throws IOException {
        if (versions.remove(chunkUid) != null) {
            persist();
        }
    }

    private void persist() throws IOException {
        Map<Long, Long> snapshot = Map.copyOf(versions);
        ByteBuffer buffer = ByteBuffer.allocate(12 + 16 * snapshot.size() + 4).order(ByteOrder.BIG_ENDIAN);
        buffer.putInt(MAGIC).put((byte) FORMAT_VERSION).put((byte) 0).put((byte) 0).put((byte) 0);
        buffer.putInt(snapshot.size());
        snapshot.forEach((uid, version) -> buffer.putLong(uid).putLong(version));
        CRC32C crc = new CRC32C();
        crc.update(buffer.duplicate().flip());
        buffer.putInt((int) crc.getValue()).flip();
        io.basalt.common.io.DurableFiles.replaceAtomically(file, buffer);
    }
}
