package io.basalt.chunkserver;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;

/** A small tmpfs for a test: a disk that fills up. Skips the test where mount is not allowed. */
public final class Tmpfs implements AutoCloseable {
    private final Path mount;

    private Tmpfs(Path mount) {
        this.mount = mount;
    }

    /** Mounts a tmpfs of {@code size} (mount(8) syntax, e.g. "8m") on a new temporary directory. */
    public static Tmpfs mount(String size) throws Exception {
        Path mount = Files.createTempDirectory("cs-tmpfs");
        Process p = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=" + size, "tmpfs", mount.toString())
                .redirectErrorStream(true).start();
        if (!p.waitFor(10, TimeUnit.SECONDS) || p.exitValue() != 0) {
            Files.delete(mount);
            Assumptions.abort("cannot mount a tmpfs here (needs root/CAP_SYS_ADMIN)");
        }
        return new Tmpfs(mount);
    }

    public Path path() {
        return mount;
    }

    @Override
    public void close() throws Exception {
        Process umount = new ProcessBuilder("umount", mount.toString()).start();
        if (!umount.waitFor(10, TimeUnit.SECONDS) || umount.exitValue() != 0) {
            new ProcessBuilder("umount", "-l", mount.toString()).start().waitFor(10, TimeUnit.SECONDS);
        }
        try (Stream<Path> files = Files.walk(mount)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
