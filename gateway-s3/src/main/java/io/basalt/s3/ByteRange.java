package io.basalt.s3;

/**
 * A satisfiable byte range of an object: {@code [first, last]}, both inclusive, as a
 * {@code Content-Range: bytes first-last/size} answer names it.
 */
public record ByteRange(long firstByte, long lastByte) {
    public ByteRange {
        if (firstByte < 0 || lastByte < firstByte) {
            throw new IllegalArgumentException("byte range " + firstByte + "-" + lastByte
                    + " is empty or negative");
        }
    }

    public long lengthBytes() {
        return lastByte - firstByte + 1;
    }

    /** The {@code Content-Range} header value for an object of {@code objectSizeBytes}. */
    public String contentRange(long objectSizeBytes) {
        return "bytes " + firstByte + "-" + lastByte + "/" + objectSizeBytes;
    }
}
