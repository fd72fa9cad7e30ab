package io.basalt.common.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;

/**
 * What a set of files looked like when a daemon read them (modification time and size of each): a
 * different stamp later means read them again. For files an operator replaces under a running
 * daemon (certificates, keys, revocation lists, NBD pre-shared keys), looked at now and then by
 * {@link Check} rather than watched with inotify: a handshake is the only reader, so a look on the
 * next handshake after a change is soon enough.
 */
public record FileStamp(List<Long> modifiedMillis, List<Long> sizes) {
    /** The stamp of {@code files} now; an IOException when one is missing or being replaced. */
    public static FileStamp of(Path... files) throws IOException {
        List<Long> times = new ArrayList<>(files.length);
        List<Long> sizes = new ArrayList<>(files.length);
        for (Path file : files) {
            BasicFileAttributes attributes = Files.readAttributes(file, BasicFileAttributes.class);
            times.add(attributes.lastModifiedTime().toMillis());
            sizes.add(attributes.size());
        }
        return new FileStamp(List.copyOf(times), List.copyOf(sizes));
    }

    /** Rate limit of the looks: {@link #due()} is true at most once per interval. Thread-safe. */
    public static final class Check {
        private final long intervalNanos;
        private volatile long nextNanos;

        public Check(long intervalMillis) {
            this.intervalNanos = intervalMillis * 1_000_000L;
            this.nextNanos = System.nanoTime() + intervalNanos;
        }

        /** Whether the interval has passed since the last true (or since creation); rearms when so. */
        public boolean due() {
            long now = System.nanoTime();
            if (now - nextNanos < 0) {
                return false;
            }
            nextNanos = now + intervalNanos;
            return true;
        }
    }
}
