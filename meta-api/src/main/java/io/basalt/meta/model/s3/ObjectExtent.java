package io.basalt.meta.model.s3;

/**
 * Bytes of an object in an object log: {@code length} bytes at {@code offset} (4 KiB-aligned) of log
 * {@code logId}'s volume. The last block may be partly used; the space taken is length rounded up to
 * 4 KiB.
 */
public record ObjectExtent(long logId, long offset, long length) {
    public static final int ALIGNMENT = 4096;

    public long spaceBytes() {
        return (length + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    }
}
