package io.basalt.common.crc;

import java.io.IOException;

/**
 * A 4 KiB block's CRC32C did not match the one it was written with. An operating error, not a
 * bug: the caller reads the block from redundancy, repairs it and reports it; the bytes are never
 * returned to a user.
 */
public final class ChecksumMismatchException extends IOException {
    private static final long serialVersionUID = 1L;

    private final int blockIndex;
    private final long offsetBytes;
    private final int expectedCrc;
    private final int actualCrc;

    public ChecksumMismatchException(int blockIndex, long offsetBytes, int lengthBytes,
            int expectedCrc, int actualCrc) {
        super(String.format("CRC32C mismatch in block %d (bytes %d..%d): expected 0x%08x, got 0x%08x",
                blockIndex, offsetBytes, offsetBytes + lengthBytes - 1, expectedCrc, actualCrc));
        this.blockIndex = blockIndex;
        this.offsetBytes = offsetBytes;
        this.expectedCrc = expectedCrc;
        this.actualCrc = actualCrc;
    }

    /** Index of the bad block among those checked (0 = the first). */
    public int blockIndex() {
        return blockIndex;
    }

    /** Offset of the bad block's first byte, in the caller's coordinates. */
    public long offsetBytes() {
        return offsetBytes;
    }

    public int expectedCrc() {
        return expectedCrc;
    }

    public int actualCrc() {
        return actualCrc;
    }
}
