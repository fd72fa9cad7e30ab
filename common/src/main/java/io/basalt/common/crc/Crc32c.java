package io.basalt.common.crc;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.CRC32C;

/**
 * CRC32C (Castagnoli, reflected polynomial 0x82F63B78) helpers for the per-4 KiB block
 * checksums every Basalt block carries end to end.
 *
 * <p>Design note: the bytes go through {@link java.util.zip.CRC32C}, which HotSpot compiles to
 * the SSE4.2 {@code crc32} instruction (three interleaved streams; about 20 GB/s per core, see
 * {@code docs/performance.md}); a hand-written Java CRC cannot beat it, so nothing here replaces
 * it. A call checksums many blocks with one {@code CRC32C} and one buffer slice: no allocation
 * per block. {@link #combine} derives the CRC of a concatenation from the parts' CRCs in
 * O(log n) without touching the bytes (zlib's {@code crc32_combine} method: multiply by
 * x^(8n) modulo the polynomial), so a 64 KiB write's CRC follows from its 16 block CRCs.
 */
public final class Crc32c {
    /** Every Basalt block is this size and carries one CRC32C. */
    public static final int BLOCK_SIZE_BYTES = 4096;

    /** The CRC-32C polynomial, bit-reflected (x^0 in the top bit). */
    private static final int POLYNOMIAL_REFLECTED = 0x82F63B78;
    /** x^0 in reflected form. */
    private static final int ONE = 0x8000_0000;
    /** X2N[i] = x^(2^i) mod P, reflected; 32 entries cover any 2^32-periodic exponent. */
    private static final int[] X2N = new int[32];

    static {
        int p = ONE >>> 1; // x^1
        X2N[0] = p;
        for (int i = 1; i < X2N.length; i++) {
            p = multiplyModP(p, p);
            X2N[i] = p;
        }
    }

    private Crc32c() {}

    /** CRC32C of {@code buffer[offset, offset + length)}; the buffer's position is unchanged. */
    public static int checksum(ByteBuffer buffer, int offsetBytes, int lengthBytes) {
        checkRange(buffer.capacity(), offsetBytes, lengthBytes);
        CRC32C crc = new CRC32C();
        crc.update(buffer.slice(offsetBytes, lengthBytes));
        return (int) crc.getValue();
    }

    /** CRC32C of {@code segment[offset, offset + length)}. */
    public static int checksum(MemorySegment segment, long offsetBytes, int lengthBytes) {
        checkRange(segment.byteSize(), offsetBytes, lengthBytes);
        CRC32C crc = new CRC32C();
        crc.update(segment.asSlice(offsetBytes, lengthBytes).asByteBuffer());
        return (int) crc.getValue();
    }

    /** CRC32C of a byte array range. */
    public static int checksum(byte[] bytes, int offsetBytes, int lengthBytes) {
        checkRange(bytes.length, offsetBytes, lengthBytes);
        CRC32C crc = new CRC32C();
        crc.update(bytes, offsetBytes, lengthBytes);
        return (int) crc.getValue();
    }

    /**
     * Writes the CRC32C of each 4 KiB block of {@code buffer[offset, offset + length)} to
     * {@code crcs[crcsOffset..]}. {@code length} is a multiple of {@link #BLOCK_SIZE_BYTES}.
     */
    public static void blockChecksums(ByteBuffer buffer, int offsetBytes, int lengthBytes,
            int[] crcs, int crcsOffset) {
        int blocks = blockCount(buffer.capacity(), offsetBytes, lengthBytes);
        if (crcsOffset < 0 || crcsOffset > crcs.length - blocks) {
            throw new IllegalArgumentException("crcs has room for " + (crcs.length - crcsOffset)
                    + " from index " + crcsOffset + ", need " + blocks);
        }
        ByteBuffer view = buffer.slice(offsetBytes, lengthBytes);
        CRC32C crc = new CRC32C();
        for (int block = 0; block < blocks; block++) {
            int start = block * BLOCK_SIZE_BYTES;
            view.limit(start + BLOCK_SIZE_BYTES).position(start);
            crc.reset();
            crc.update(view);
            crcs[crcsOffset + block] = (int) crc.getValue();
        }
    }

    /**
     * Index of the first 4 KiB block of {@code buffer[offset, offset + length)} whose CRC32C
     * differs from {@code expected[expectedOffset + block]}, or -1 if all match.
     */
    public static int firstMismatch(ByteBuffer buffer, int offsetBytes, int lengthBytes,
            int[] expected, int expectedOffset) {
        int blocks = blockCount(buffer.capacity(), offsetBytes, lengthBytes);
        if (expectedOffset < 0 || expectedOffset > expected.length - blocks) {
            throw new IllegalArgumentException("expected CRCs: " + (expected.length
                    - expectedOffset) + " from index " + expectedOffset + ", need " + blocks);
        }
        ByteBuffer view = buffer.slice(offsetBytes, lengthBytes);
        CRC32C crc = new CRC32C();
        for (int block = 0; block < blocks; block++) {
            int start = block * BLOCK_SIZE_BYTES;
            view.limit(start + BLOCK_SIZE_BYTES).position(start);
            crc.reset();
            crc.update(view);
            if ((int) crc.getValue() != expected[expectedOffset + block]) {
                return block;
            }
        }
        return -1;
    }

    /**
     * Checks every 4 KiB block against its expected CRC32C.
     *
     * @param baseOffsetBytes where {@code buffer[offset]} sits in the caller's coordinates
     *     (chunk offset, file offset) so the error names the block where it is
     * @throws ChecksumMismatchException naming the first bad block's index and offset
     */
    public static void verifyBlocks(ByteBuffer buffer, int offsetBytes, int lengthBytes,
            int[] expected, int expectedOffset, long baseOffsetBytes)
            throws ChecksumMismatchException {
        int bad = firstMismatch(buffer, offsetBytes, lengthBytes, expected, expectedOffset);
        if (bad >= 0) {
            int actual = checksum(buffer, offsetBytes + bad * BLOCK_SIZE_BYTES,
                    BLOCK_SIZE_BYTES);
            throw new ChecksumMismatchException(bad,
                    baseOffsetBytes + (long) bad * BLOCK_SIZE_BYTES, BLOCK_SIZE_BYTES,
                    expected[expectedOffset + bad], actual);
        }
    }

    /**
     * CRC32C of the concatenation A || B from {@code crcA}, {@code crcB} and B's length:
     * {@code crc(A||B) = crcA * x^(8 * lengthB) mod P XOR crcB} (the pre- and post-conditioning
     * cancel out, as in zlib's {@code crc32_combine}).
     */
    public static int combine(int crcA, int crcB, long lengthBytesB) {
        if (lengthBytesB < 0) {
            throw new IllegalArgumentException("length of B " + lengthBytesB + " (min 0)");
        }
        return multiplyModP(xPow8nModP(lengthBytesB), crcA) ^ crcB;
    }

    /** a * b mod P, both reflected. */
    private static int multiplyModP(int a, int b) {
        int product = 0;
        for (int m = ONE; m != 0; m >>>= 1) {
            if ((a & m) != 0) {
                product ^= b;
                if ((a & (m - 1)) == 0) {
                    break;
                }
            }
            b = (b & 1) != 0 ? (b >>> 1) ^ POLYNOMIAL_REFLECTED : b >>> 1;
        }
        return product;
    }

    /** x^(8n) mod P: multiply the x^(2^i) factors for the set bits of 8n. */
    private static int xPow8nModP(long n) {
        int p = ONE;
        int k = 3; // 8n = n << 3: bit i of n is bit i+3 of the exponent
        while (n != 0) {
            if ((n & 1) != 0) {
                p = multiplyModP(X2N[k & 31], p);
            }
            n >>>= 1;
            k++;
        }
        return p;
    }

    /** What computes the bytes, for {@code basalt doctor}. */
    public static String describe() {
        String intrinsic;
        try {
            var bean = ManagementFactory.getPlatformMXBean(
                    com.sun.management.HotSpotDiagnosticMXBean.class);
            intrinsic = "UseCRC32CIntrinsics="
                    + bean.getVMOption("UseCRC32CIntrinsics").getValue();
        } catch (RuntimeException | LinkageError e) {
            // A diagnostic flag in recent JDKs; HotSpot turns it on where the CPU has the
            // instruction, so report the CPU feature instead.
            intrinsic = cpuHasCrc32Instruction()
                    ? "HotSpot crc32 intrinsic: CPU has SSE4.2"
                    : "CPU feature unknown: may run without the crc32 intrinsic";
        }
        return "java.util.zip.CRC32C (" + intrinsic + ")";
    }

    private static boolean cpuHasCrc32Instruction() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("flags")) {
                    return line.contains(" sse4_2");
                }
                if (line.startsWith("Features")) {
                    return line.contains(" crc32"); // AArch64
                }
            }
        } catch (IOException | RuntimeException e) {
            return false;
        }
        return false;
    }

    private static int blockCount(long capacity, int offsetBytes, int lengthBytes) {
        checkRange(capacity, offsetBytes, lengthBytes);
        if (lengthBytes % BLOCK_SIZE_BYTES != 0) {
            throw new IllegalArgumentException("length " + lengthBytes
                    + " bytes is not a multiple of the block size " + BLOCK_SIZE_BYTES);
        }
        return lengthBytes / BLOCK_SIZE_BYTES;
    }

    private static void checkRange(long capacity, long offsetBytes, int lengthBytes) {
        if (offsetBytes < 0 || lengthBytes < 0 || offsetBytes > capacity - lengthBytes) {
            throw new IllegalArgumentException("range offset " + offsetBytes + " length "
                    + lengthBytes + " outside buffer of " + capacity + " bytes");
        }
    }
}
