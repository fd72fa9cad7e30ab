package io.basalt.cli.it;

import static org.assertj.core.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.SplittableRandom;

/** Test data files: seeded random content with holes, byte comparison, test resources. */
final class ItFiles {
    private ItFiles() {}

    /**
     * Writes {@code sizeBytes} of seeded random data in 1 MiB pieces, leaving every fourth MiB as
     * zeroes so copies also cross zero runs (nbdcopy and qemu-img treat those specially).
     */
    static Path randomFile(Path file, long sizeBytes, long seed) throws IOException {
        SplittableRandom random = new SplittableRandom(seed);
        byte[] piece = new byte[1 << 20];
        try (OutputStream out = Files.newOutputStream(file)) {
            for (long offset = 0, index = 0; offset < sizeBytes; offset += piece.length, index++) {
                int length = (int) Math.min(piece.length, sizeBytes - offset);
                if (index % 4 == 3) {
                    Arrays.fill(piece, (byte) 0);
                } else {
                    random.nextBytes(piece);
                }
                out.write(piece, 0, length);
            }
        }
        System.out.println("test data: " + file + " " + sizeBytes + " bytes, seed " + seed);
        return file;
    }

    /** Fails with the first differing offset unless both files hold the same bytes. */
    static void assertSameBytes(Path expected, Path actual) throws IOException {
        long expectedSize = Files.size(expected);
        long actualSize = Files.size(actual);
        if (expectedSize != actualSize) {
            fail(actual + " is " + actualSize + " bytes, expected " + expectedSize + " like " + expected);
        }
        try (InputStream a = Files.newInputStream(expected); InputStream b = Files.newInputStream(actual)) {
            byte[] bufA = new byte[1 << 20];
            byte[] bufB = new byte[1 << 20];
            long offset = 0;
            while (true) {
                int n = a.readNBytes(bufA, 0, bufA.length);
                int m = b.readNBytes(bufB, 0, n);
                if (n == 0) {
                    return;
                }
                int mismatch = Arrays.mismatch(bufA, 0, n, bufB, 0, m);
                if (mismatch >= 0) {
                    fail(actual + " differs from " + expected + " at byte offset " + (offset + mismatch)
                            + ": expected 0x" + Integer.toHexString(bufA[mismatch] & 0xff) + ", got 0x"
                            + Integer.toHexString(bufB[mismatch] & 0xff));
                }
                offset += n;
            }
        }
    }

    /** A file under src/test/resources, e.g. {@code resource("nbd/trim.py")}. */
    static Path resource(String name) {
        URL url = ItFiles.class.getClassLoader().getResource(name);
        if (url == null) {
            throw new IllegalStateException("test resource " + name + " missing from the class path");
        }
        try {
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Blocks (512 B) the file occupies on disk, from stat(1): shows whether holes were punched. */
    static long allocatedBlocks(Path file) {
        Tools.Result result = Tools.runOk("stat", "-c", "%b", file.toString());
        return Long.parseLong(result.stdout().strip());
    }
}
