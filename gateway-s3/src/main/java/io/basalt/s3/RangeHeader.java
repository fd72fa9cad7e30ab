package io.basalt.s3;

import java.util.Optional;

/**
 * The {@code Range} request header of GetObject and HeadObject, and the
 * {@code x-amz-copy-source-range} of UploadPartCopy.
 *
 * <p>S3 serves one byte range (RFC 7233): {@code bytes=a-b}, {@code bytes=a-} and the suffix
 * {@code bytes=-n}. What it does with the rest, which this class copies:
 * <ul>
 *   <li>several ranges ({@code bytes=0-1,5-6}): S3 does not serve multipart/byteranges; it
 *       ignores the header and answers 200 with the whole object (observed on AWS, and what
 *       RFC 7233 allows: "a server MAY ignore the Range header");</li>
 *   <li>a header that does not parse ({@code bytes=5-2}, {@code items=0-1}, {@code bytes=x}):
 *       ignored, whole object (RFC 7233 section 3.1);</li>
 *   <li>a syntactically valid range that does not overlap the object (first byte at or past the
 *       size, a zero-length suffix, any range of an empty object): 416 InvalidRange;</li>
 *   <li>a last byte past the end is cut to the end.</li>
 * </ul>
 */
public final class RangeHeader {
    /** Longest header value read: a real range is at most ~45 characters. */
    private static final int VALUE_LENGTH_MAX = 256;

    private RangeHeader() {}

    /**
     * The range of a {@code Range} header for an object of {@code objectSizeBytes}.
     *
     * @return empty to serve the whole object (no header, several ranges, or not parseable)
     * @throws S3Exception InvalidRange when the range cannot be satisfied
     */
    public static Optional<ByteRange> resolve(String header, long objectSizeBytes) {
        if (objectSizeBytes < 0) {
            throw new IllegalArgumentException("object size " + objectSizeBytes);
        }
        if (header == null || header.length() > VALUE_LENGTH_MAX) {
            return Optional.empty();
        }
        String value = header.strip();
        if (!value.regionMatches(true, 0, "bytes=", 0, 6) || value.indexOf(',') >= 0) {
            return Optional.empty();
        }
        String spec = value.substring(6).strip();
        int dash = spec.indexOf('-');
        if (dash < 0) {
            return Optional.empty();
        }
        long first = parseDigits(spec.substring(0, dash).strip());
        long last = parseDigits(spec.substring(dash + 1).strip());
        boolean hasFirst = dash > 0;
        boolean hasLast = dash < spec.length() - 1;
        if ((hasFirst && first < 0) || (hasLast && last < 0) || (!hasFirst && !hasLast)) {
            return Optional.empty();
        }
        if (!hasFirst) {
            // Suffix range: the last `last` bytes.
            if (last == 0 || objectSizeBytes == 0) {
                throw unsatisfiable(header, objectSizeBytes);
            }
            long length = Math.min(last, objectSizeBytes);
            return Optional.of(new ByteRange(objectSizeBytes - length, objectSizeBytes - 1));
        }
        if (hasLast && last < first) {
            return Optional.empty();
        }
        if (first >= objectSizeBytes) {
            throw unsatisfiable(header, objectSizeBytes);
        }
        long end = hasLast ? Math.min(last, objectSizeBytes - 1) : objectSizeBytes - 1;
        return Optional.of(new ByteRange(first, end));
    }

    /**
     * {@code x-amz-copy-source-range: bytes=first-last}, both bounds required, within the source
     * object of {@code sourceSizeBytes}.
     *
     * @throws S3Exception InvalidArgument when malformed, InvalidRange when outside the source
     */
    public static ByteRange parseCopySourceRange(String header, long sourceSizeBytes) {
        String value = header.strip();
        int dash = value.indexOf('-');
        if (!value.startsWith("bytes=") || dash < 0) {
            throw new S3Exception(S3Error.InvalidArgument, "x-amz-copy-source-range \"" + header
                    + "\" is not of the form bytes=first-last");
        }
        long first = parseDigits(value.substring(6, dash));
        long last = parseDigits(value.substring(dash + 1));
        if (first < 0 || last < 0 || last < first) {
            throw new S3Exception(S3Error.InvalidArgument, "x-amz-copy-source-range \"" + header
                    + "\" is not of the form bytes=first-last");
        }
        if (last >= sourceSizeBytes) {
            throw new S3Exception(S3Error.InvalidRange, "x-amz-copy-source-range \"" + header
                    + "\" is outside the source object of " + sourceSizeBytes + " bytes");
        }
        return new ByteRange(first, last);
    }

    private static S3Exception unsatisfiable(String header, long objectSizeBytes) {
        return new S3Exception(S3Error.InvalidRange, "range \"" + header
                + "\" is not satisfiable for an object of " + objectSizeBytes + " bytes");
    }

    /** A non-negative decimal of at most 18 digits (no overflow), or -1. */
    private static long parseDigits(String text) {
        if (text.isEmpty() || text.length() > 18) {
            return -1;
        }
        long value = 0;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c < '0' || c > '9') {
                return -1;
            }
            value = value * 10 + (c - '0');
        }
        return value;
    }
}
