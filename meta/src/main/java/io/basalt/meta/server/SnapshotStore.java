package io.basalt.meta.server;

import io.basalt.meta.api.MalformedMessageException;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.CRC32C;
import org.apache.ratis.server.protocol.TermIndex;
import org.apache.ratis.server.storage.FileInfo;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.statemachine.SnapshotInfo;
import org.apache.ratis.statemachine.SnapshotRetentionPolicy;
import org.apache.ratis.statemachine.StateMachineStorage;
import org.apache.ratis.statemachine.impl.FileListSnapshotInfo;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Snapshots of the meta state: each is a RocksDB checkpoint in a directory
 * {@code snapshot.<term>_<index>} under the Ratis state machine directory, plus a manifest
 * {@value #MANIFEST} listing every file with its size and CRC32C.
 *
 * <p>Design note. The live RocksDB lives outside the Ratis storage directory, because when a
 * follower installs a snapshot from the leader, Ratis replaces the whole state machine directory
 * with what it received (files named relative to the storage root, MD5-checked in transit). Then
 * {@link MetaStateMachine#reinitialize()} copies the newest verified snapshot over the live DB.
 *
 * <p>Manifest format (big-endian): u8 formatVersion (1), i64 term, i64 index, i32 fileCount,
 * then per file: string name, i64 sizeBytes, i32 crc32c; then i32 CRC32C of all preceding bytes.
 */
final class SnapshotStore implements StateMachineStorage {
    private static final Logger LOG = LoggerFactory.getLogger(SnapshotStore.class);
    static final String MANIFEST = "BASALT-SNAPSHOT";
    static final int MANIFEST_FORMAT_VERSION = 1;
    private static final Pattern NAME = Pattern.compile("snapshot\\.(\\d+)_(\\d+)");
    private static final int RETAINED_MIN = 2;

    private volatile Path stateMachineDir;
    private volatile FileListSnapshotInfo latest;

    @Override
    public void init(RaftStorage storage) throws IOException {
        stateMachineDir = storage.getStorageDir().getStateMachineDir().toPath();
        Files.createDirectories(stateMachineDir);
        latest = scan();
    }

    @Override
    public void format() {}

    @Override
    public SnapshotInfo getLatestSnapshot() {
        return latest;
    }

    /** Rescans the directory, e.g. after Ratis installed a snapshot from the leader. */
    FileListSnapshotInfo reload() throws IOException {
        latest = scan();
        return latest;
    }

    Path dirFor(TermIndex termIndex) {
        return stateMachineDir.resolve("snapshot." + termIndex.getTerm() + "_" + termIndex.getIndex());
    }

    /** Seals a checkpoint written into {@code dir}: writes its manifest and makes it the latest. */
    FileListSnapshotInfo seal(Path dir, TermIndex termIndex) throws IOException {
        List<Path> files;
        try (Stream<Path> listing = Files.list(dir)) {
            files = listing.filter(Files::isRegularFile).sorted().toList();
        }
        WireWriter out = new WireWriter();
        out.u8(MANIFEST_FORMAT_VERSION).i64(termIndex.getTerm()).i64(termIndex.getIndex())
                .i32(files.size());
        for (Path file : files) {
            out.string(file.getFileName().toString()).i64(Files.size(file)).i32(crc32c(file));
        }
        byte[] body = out.toByteArray();
        CRC32C crc = new CRC32C();
        crc.update(body);
        byte[] manifest = new WireWriter().bytes(body).i32((int) crc.getValue()).toByteArray();
        Path tmp = dir.resolve(MANIFEST + ".tmp");
        Files.write(tmp, manifest);
        try (var channel = java.nio.channels.FileChannel.open(tmp,
                java.nio.file.StandardOpenOption.WRITE)) {
            channel.force(true);
        }
        Files.move(tmp, dir.resolve(MANIFEST), StandardCopyOption.ATOMIC_MOVE);
        latest = info(dir, termIndex);
        return latest;
    }

    private static FileListSnapshotInfo info(Path dir, TermIndex termIndex) throws IOException {
        List<FileInfo> infos = new ArrayList<>();
        try (Stream<Path> listing = Files.list(dir)) {
            // Digest null: Ratis computes the MD5 while it streams each file to a follower.
            for (Path file : listing.filter(Files::isRegularFile)
                    .filter(f -> !f.getFileName().toString().endsWith(".md5")).sorted().toList()) {
                infos.add(new FileInfo(file.toAbsolutePath(), null));
            }
        }
        return new FileListSnapshotInfo(infos, termIndex);
    }

    private FileListSnapshotInfo scan() throws IOException {
        for (Path dir : snapshotDirsNewestFirst()) {
            try {
                TermIndex termIndex = verify(dir);
                return info(dir, termIndex);
            } catch (IOException | MalformedMessageException e) {
                LOG.warn("ignoring snapshot {}: {}", dir, e.getMessage());
            }
        }
        return null;
    }

    private List<Path> snapshotDirsNewestFirst() throws IOException {
        if (stateMachineDir == null || !Files.isDirectory(stateMachineDir)) {
            return List.of();
        }
        try (Stream<Path> listing = Files.list(stateMachineDir)) {
            return listing.filter(Files::isDirectory)
                    .filter(p -> NAME.matcher(p.getFileName().toString()).matches())
                    .sorted(Comparator.comparingLong(SnapshotStore::indexOf).reversed())
                    .toList();
        }
    }

    private static long indexOf(Path dir) {
        Matcher matcher = NAME.matcher(dir.getFileName().toString());
        return matcher.matches() ? Long.parseLong(matcher.group(2)) : -1;
    }

    /**
     * Checks a snapshot directory against its manifest (every file's size and CRC32C) and
     * returns its term and index; throws if anything differs.
     */
    static TermIndex verify(Path dir) throws IOException {
        byte[] manifest = Files.readAllBytes(dir.resolve(MANIFEST));
        if (manifest.length < 4) {
            throw new MalformedMessageException("snapshot manifest of " + manifest.length + " bytes");
        }
        CRC32C crc = new CRC32C();
        crc.update(manifest, 0, manifest.length - 4);
        int stored = new WireReader(manifest, manifest.length - 4, 4).i32();
        if (stored != (int) crc.getValue()) {
            throw new MalformedMessageException("snapshot manifest CRC32C mismatch in " + dir);
        }
        WireReader in = new WireReader(manifest, 0, manifest.length - 4);
        int formatVersion = in.u8();
        if (formatVersion != MANIFEST_FORMAT_VERSION) {
            throw new MalformedMessageException("snapshot manifest format version " + formatVersion
                    + " (this server knows " + MANIFEST_FORMAT_VERSION + ")");
        }
        TermIndex termIndex = TermIndex.valueOf(in.i64(), in.i64());
        int count = in.count(2 + 8 + 4);
        for (int i = 0; i < count; i++) {
            Path file = dir.resolve(in.string());
            long size = in.i64();
            int fileCrc = in.i32();
            if (!Files.isRegularFile(file) || Files.size(file) != size || crc32c(file) != fileCrc) {
                throw new IOException("snapshot file " + file + " is missing or differs from the"
                        + " manifest (size " + size + ")");
            }
        }
        in.end();
        return termIndex;
    }

    /** Names of the checkpoint files of a verified snapshot (the manifest excluded). */
    static List<String> files(Path dir) throws IOException {
        byte[] manifest = Files.readAllBytes(dir.resolve(MANIFEST));
        WireReader in = new WireReader(manifest, 0, manifest.length - 4);
        in.u8();
        in.i64();
        in.i64();
        int count = in.count(2 + 8 + 4);
        List<String> names = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            names.add(in.string());
            in.i64();
            in.i32();
        }
        return names;
    }

    static int crc32c(Path file) throws IOException {
        CRC32C crc = new CRC32C();
        byte[] buffer = new byte[64 * 1024];
        try (InputStream in = Files.newInputStream(file)) {
            for (int read; (read = in.read(buffer)) > 0; ) {
                crc.update(buffer, 0, read);
            }
        }
        return (int) crc.getValue();
    }

    @Override
    public void cleanupOldSnapshots(SnapshotRetentionPolicy policy) throws IOException {
        int retained = Math.max(RETAINED_MIN, policy == null ? 0 : policy.getNumSnapshotsRetained());
        List<Path> dirs = snapshotDirsNewestFirst();
        for (Path dir : dirs.subList(Math.min(retained, dirs.size()), dirs.size())) {
            deleteTree(dir);
        }
    }

    static void deleteTree(Path root) throws IOException {
        if (!Files.exists(root)) {
            return;
        }
        try (Stream<Path> walk = Files.walk(root)) {
            for (Path path : walk.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        }
    }
}
