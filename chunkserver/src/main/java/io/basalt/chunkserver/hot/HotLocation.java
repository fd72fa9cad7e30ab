package io.basalt.chunkserver.hot;

import io.basalt.common.io.DurableFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
import java.util.zip.CRC32C;

/**
 * Binds a chunk server's data directory to its hot store, which may live on another device
 * ({@code --hot-dir}). The hot store holds acknowledged writes that exist nowhere else on this
 * server until the freezer has moved them into stripes, so starting with the wrong or an empty hot
 * directory (a typo, a device mounted elsewhere or not at all) would silently serve older data.
 *
 * <p>Two small files carry one random store id: {@code HOTDIR/hot.owner} travels with the store's
 * files, {@code DATA/hot.link} remembers which store this server has and where it was last. A start
 * goes on only when the hot directory's owner file names the linked store (a store moved whole to
 * another directory is followed, and the link updated); a missing or foreign owner file is
 * refused with the directory it expected. The first start with the feature creates both (a
 * data directory from before it adopts the store it finds, which was always {@code DATA/hot}).
 * Formats: docs/formats.md, "Hot store location".
 */
public final class HotLocation {
    static final String OWNER_FILE = "hot.owner";
    static final String LINK_FILE = "hot.link";
    private static final int OWNER_MAGIC = 0x42484F57; // "BHOW"
    private static final int LINK_MAGIC = 0x42484C4B; // "BHLK"
    private static final int FORMAT_VERSION = 1;
    private static final int OWNER_BYTES = 32;
    private static final int PATH_BYTES_MAX = 4096;

    private HotLocation() {}

    /**
     * Checks that {@code hotDir} holds this server's hot store (creating the binding on a first
     * start) and returns the store id.
     *
     * @throws IOException one line naming the directory the store was last seen in and the fix
     */
    public static UUID bind(Path dataDir, Path hotDir) throws IOException {
        Path dir = hotDir.toAbsolutePath().normalize();
        Files.createDirectories(dir);
        Files.createDirectories(dataDir);
        Link link = readLink(dataDir.resolve(LINK_FILE));
        UUID owner = readOwner(dir.resolve(OWNER_FILE));
        if (link == null) {
            if (owner != null) {
                throw new IOException("hot directory " + dir + " holds the hot store of another chunk server (store "
                        + owner + "); give each chunk server its own --hot-dir (or empty that directory if its server is gone"
                        + " for good)");
            }
            boolean defaultDir = dir.equals(dataDir.resolve("hot").toAbsolutePath().normalize());
            if (!defaultDir && Files.exists(dataDir.resolve("hot").resolve(HotStore.MAP_FILE))) {
                throw new IOException("this chunk server's hot store is in " + dataDir.resolve("hot")
                        + ", not in --hot-dir " + dir + "; start without --hot-dir, or stop the server and move"
                        + " that directory's files to " + dir + " first");
            }
            UUID store = UUID.randomUUID();
            writeOwner(dir.resolve(OWNER_FILE), store);
            writeLink(dataDir.resolve(LINK_FILE), new Link(store, dir.toString()));
            return store;
        }
        if (owner == null) {
            throw new IOException("this chunk server's hot store (" + link.store() + ", last in " + link.path()
                    + ") is not in " + dir + ": its unfrozen writes would be lost; pass --hot-dir " + link.path()
                    + " (or mount its device there), or move that store's files to " + dir);
        }
        if (!owner.equals(link.store())) {
            throw new IOException("hot directory " + dir + " holds another hot store (" + owner + ") than this chunk"
                    + " server's (" + link.store() + ", last in " + link.path() + "); pass --hot-dir " + link.path());
        }
        if (!link.path().equals(dir.toString())) {
            writeLink(dataDir.resolve(LINK_FILE), new Link(link.store(), dir.toString()));
        }
        return owner;
    }

    record Link(UUID store, String path) {}

    static UUID readOwner(Path file) throws IOException {
        if (!Files.exists(file)) {
            return null;
        }
        ByteBuffer buffer = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.BIG_ENDIAN);
        if (buffer.capacity() != OWNER_BYTES || buffer.getInt(0) != OWNER_MAGIC) {
            throw new IOException(file + " is not a Basalt hot store owner file (bad magic or size "
                    + buffer.capacity() + ")");
        }
        checkCrcAndVersion(file, buffer, OWNER_BYTES - 4);
        return new UUID(buffer.getLong(8), buffer.getLong(16));
    }

    static void writeOwner(Path file, UUID store) throws IOException {
        ByteBuffer buffer = ByteBuffer.allocate(OWNER_BYTES).order(ByteOrder.BIG_ENDIAN);
        buffer.putInt(0, OWNER_MAGIC);
        buffer.put(4, (byte) FORMAT_VERSION);
        buffer.putLong(8, store.getMostSignificantBits());
        buffer.putLong(16, store.getLeastSignificantBits());
        buffer.putInt(OWNER_BYTES - 4, crc(buffer, OWNER_BYTES - 4));
        DurableFiles.replaceAtomically(file, buffer);
    }

    static Link readLink(Path file) throws IOException {
        if (!Files.exists(file)) {
            return null;
        }
        ByteBuffer buffer = ByteBuffer.wrap(Files.readAllBytes(file)).order(ByteOrder.BIG_ENDIAN);
        int pathBytes = buffer.capacity() >= 30 ? buffer.getShort(24) & 0xffff : -1;
        if (buffer.capacity() < 30 || buffer.getInt(0) != LINK_MAGIC || buffer.capacity() != 30 + pathBytes) {
            throw new IOException(file + " is not a Basalt hot store link file (bad magic or size "
                    + buffer.capacity() + ")");
        }
        checkCrcAndVersion(file, buffer, buffer.capacity() - 4);
        byte[] path = new byte[pathBytes];
        buffer.get(26, path);
        return new Link(new UUID(buffer.getLong(8), buffer.getLong(16)), new String(path, StandardCharsets.UTF_8));
    }

    static void writeLink(Path file, Link link) throws IOException {
        byte[] path = link.path().getBytes(StandardCharsets.UTF_8);
        if (path.length > PATH_BYTES_MAX) {
            throw new IOException("hot directory path longer than " + PATH_BYTES_MAX + " bytes: " + link.path());
        }
        ByteBuffer buffer = ByteBuffer.allocate(30 + path.length).order(ByteOrder.BIG_ENDIAN);
        buffer.putInt(0, LINK_MAGIC);
        buffer.put(4, (byte) FORMAT_VERSION);
        buffer.putLong(8, link.store().getMostSignificantBits());
        buffer.putLong(16, link.store().getLeastSignificantBits());
        buffer.putShort(24, (short) path.length);
        buffer.put(26, path);
        buffer.putInt(buffer.capacity() - 4, crc(buffer, buffer.capacity() - 4));
        DurableFiles.replaceAtomically(file, buffer);
    }

    private static void checkCrcAndVersion(Path file, ByteBuffer buffer, int crcAt) throws IOException {
        if (crc(buffer, crcAt) != buffer.getInt(crcAt)) {
            throw new IOException(file + " fails its CRC32C: damaged");
        }
        int version = buffer.get(4) & 0xff;
        if (version != FORMAT_VERSION) {
            throw new IOException(file + " has format version " + version + "; this build knows " + FORMAT_VERSION
                    + " (use a matching basalt version)");
        }
    }

    private static int crc(ByteBuffer buffer, int length) {
        CRC32C crc = new CRC32C();
        crc.update(buffer.duplicate().position(0).limit(length));
        return (int) crc.getValue();
    }
}
