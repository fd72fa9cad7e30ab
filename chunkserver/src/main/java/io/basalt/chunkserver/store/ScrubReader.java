package io.basalt.chunkserver.store;

import static io.basalt.protocol.data.BlockCrc.BLOCK_SHIFT;
import static io.basalt.protocol.data.BlockCrc.BLOCK_SIZE_BYTES;

import io.basalt.protocol.data.BlockCrc;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;

/**
 * The scrubber's read of a chunklet: every written block of a range read from the file and checked
 * against its CRC32C, and every metadata entry against its own CRC, reporting all damage instead of
 * failing at the first (as a client read does). Reads take the chunklet's read lock per range, so a
 * block and its metadata come from the same apply.
 */
public final class ScrubReader {
    /** A damaged block: its index, the LSN its metadata holds (-1: the entry itself is damaged), why. */
    public record Damage(int block, long lsn, String why) {}

    private final ChunkletStore store;

    public ScrubReader(ChunkletStore store) {
        this.store = store;
    }

    /** Blocks past the last written one of a chunklet (0 if it holds none): where a scrub can stop. */
    public int writtenExtentBlocks(long chunkUid) {
        Chunklet chunklet = store.chunklet(chunkUid);
        if (chunklet == null) {
            return 0;
        }
        chunklet.lock.readLock().lock();
        try {
            for (int block = chunklet.lsns.length - 1; block >= 0; block--) {
                if (chunklet.lsns[block] != 0) {
                    return block + 1;
                }
            }
            return 0;
        } finally {
            chunklet.lock.readLock().unlock();
        }
    }

    /**
     * Checks blocks [first, first + count) of a chunklet; returns the damaged ones (empty when all are
     * good) and adds the bytes it read to {@code readBytes[0]}. A chunklet deleted meanwhile has none.
     */
    public List<Damage> check(long chunkUid, int first, int count, long[] readBytes) throws IOException {
        List<Damage> damage = new ArrayList<>();
        Chunklet chunklet = store.chunklet(chunkUid);
        if (chunklet == null) {
            return damage;
        }
        ByteBuffer buffer = ByteBuffer.allocateDirect(count << BLOCK_SHIFT);
        chunklet.lock.readLock().lock();
        try {
            if (chunklet.deleted) {
                return damage;
            }
            boolean any = false;
            for (int i = 0; i < count && !any; i++) {
                any = chunklet.lsn(first + i) != 0;
            }
            if (!any) {
                return damage;
            }
            long position = (long) first << BLOCK_SHIFT;
            while (buffer.hasRemaining()) {
                int n = chunklet.data.read(buffer, position + buffer.position());
                if (n < 0) {
                    break; // past the end of the sparse file: zeroes
                }
            }
            readBytes[0] += buffer.position();
            while (buffer.hasRemaining()) {
                buffer.put((byte) 0);
            }
            for (int i = 0; i < count; i++) {
                int block = first + i;
                long lsn = chunklet.lsn(block);
                if (lsn == 0) {
                    continue;
                }
                if (lsn < 0) {
                    damage.add(new Damage(block, lsn, "its metadata entry is damaged"));
                    continue;
                }
                int stored = chunklet.blockCrc(block);
                int computed = BlockCrc.of(buffer.duplicate().position(i << BLOCK_SHIFT)
                        .limit((i + 1) << BLOCK_SHIFT));
                if (stored != computed) {
                    damage.add(new Damage(block, lsn, "stored crc32c " + Integer.toHexString(stored) + ", data has "
                            + Integer.toHexString(computed)));
                    store.listener().corruptBlock(chunkUid, (long) block * BLOCK_SIZE_BYTES);
                }
            }
            return damage;
        } finally {
            chunklet.lock.readLock().unlock();
        }
    }

    /** What {@link #lsnIfVersions} answers when the strip's versions are not the expected ones. */
    public static final long VERSIONS_CHANGED = Long.MIN_VALUE;

    /**
     * The LSN of block {@code block} of a chunklet if its strip versions are exactly {@code versions}
     * (read under one lock), else {@link #VERSIONS_CHANGED}: the guard of a strip repair, which must
     * replace only the strip whose stripe the master checked.
     */
    public long lsnIfVersions(long chunkUid, int block, long[] versions) {
        Chunklet chunklet = store.chunklet(chunkUid);
        if (chunklet == null) {
            return VERSIONS_CHANGED;
        }
        chunklet.lock.readLock().lock();
        try {
            if (chunklet.deleted || chunklet.versionsPerBlock != versions.length) {
                return VERSIONS_CHANGED;
            }
            for (int j = 0; j < versions.length; j++) {
                if (chunklet.version(block, j) != versions[j]) {
                    return VERSIONS_CHANGED;
                }
            }
            return chunklet.lsn(block);
        } finally {
            chunklet.lock.readLock().unlock();
        }
    }
}
