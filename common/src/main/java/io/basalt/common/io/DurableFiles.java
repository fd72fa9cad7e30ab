package io.basalt.common.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/** Small metadata files that must survive a crash whole: either the old content or the new. */
public final class DurableFiles {
    private DurableFiles() {}

    /**
     * Replaces {@code file} with the remaining bytes of {@code content}: write a sibling temp file,
     * fsync it, rename it over the file, fsync the directory (without the last step the rename
     * itself may be lost in a crash).
     */
    public static void replaceAtomically(Path file, ByteBuffer content) throws IOException {
        replaceAtomically(file, content, null);
    }

    /**
     * As {@link #replaceAtomically(Path, ByteBuffer)}, the new file created with POSIX permissions
     * {@code mode} ("rw-------" for secrets: never readable by others, not even for a moment).
     */
    public static void replaceAtomically(Path file, String content, String mode) throws IOException {
        replaceAtomically(file, java.nio.charset.StandardCharsets.UTF_8.encode(content), mode);
    }

    private static void replaceAtomically(Path file, ByteBuffer content, String mode) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
        if (mode != null) {
            Files.deleteIfExists(tmp); // created anew, so that it has the mode from its first byte
            Files.createFile(tmp, java.nio.file.attribute.PosixFilePermissions.asFileAttribute(
                    java.nio.file.attribute.PosixFilePermissions.fromString(mode)));
        }
        try (FileChannel channel = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                StandardOpenOption.TRUNCATE_EXISTING)) {
            while (content.hasRemaining()) {
                channel.write(content);
            }
            channel.force(true);
        }
        Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        try (FileChannel directory = FileChannel.open(file.toAbsolutePath().getParent(), StandardOpenOption.READ)) {
            directory.force(true);
        }
    }
}
