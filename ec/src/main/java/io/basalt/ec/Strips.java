package io.basalt.ec;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/** Argument checks shared by the codecs: every message names the value and its limit. */
final class Strips {
    private Strips() {}

    static MemorySegment[] segments(String role, ByteBuffer[] buffers, int expectedCount) {
        if (buffers == null) {
            throw new IllegalArgumentException(role + " buffers are null");
        }
        if (buffers.length != expectedCount) {
            throw new IllegalArgumentException(role + " buffer count " + buffers.length
                    + " (expected " + expectedCount + ")");
        }
        MemorySegment[] segments = new MemorySegment[buffers.length];
        for (int i = 0; i < buffers.length; i++) {
            ByteBuffer buffer = buffers[i];
            if (buffer == null) {
                continue;
            }
            if (!buffer.isDirect()) {
                throw new IllegalArgumentException(role + " buffer " + i
                        + " is a heap buffer; strips must be direct (off-heap) buffers");
            }
            segments[i] = MemorySegment.ofBuffer(buffer);
        }
        return segments;
    }

    static int commonLength(MemorySegment[]... groups) {
        long length = -1;
        for (MemorySegment[] group : groups) {
            for (MemorySegment segment : group) {
                if (segment == null) {
                    continue;
                }
                if (length < 0) {
                    length = segment.byteSize();
                } else if (segment.byteSize() != length) {
                    throw new IllegalArgumentException("buffers differ in length: "
                            + segment.byteSize() + " and " + length + " bytes");
                }
            }
        }
        if (length < 0 || length > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("strip length " + length + " bytes (max "
                    + Integer.MAX_VALUE + ")");
        }
        return (int) length;
    }

    static void checkLength(int lengthBytes) {
        if (lengthBytes <= 0 || lengthBytes % ErasureCodec.LENGTH_ALIGNMENT_BYTES != 0) {
            throw new IllegalArgumentException("strip length " + lengthBytes
                    + " bytes must be positive and a multiple of "
                    + ErasureCodec.LENGTH_ALIGNMENT_BYTES);
        }
    }

    static void checkCount(String role, MemorySegment[] segments, int expectedCount) {
        if (segments == null) {
            throw new IllegalArgumentException(role + " strips are null");
        }
        if (segments.length != expectedCount) {
            throw new IllegalArgumentException(role + " strip count " + segments.length
                    + " (expected " + expectedCount + ")");
        }
    }

    /** A strip must be present, native, inside its segment, and writable if it is an output. */
    static void checkStrip(String role, int index, MemorySegment segment, long offsetBytes,
            int lengthBytes, boolean written) {
        if (segment == null) {
            throw new IllegalArgumentException(role + " strip " + index + " is null");
        }
        if (!segment.isNative()) {
            throw new IllegalArgumentException(role + " strip " + index
                    + " is a heap segment; strips must be off-heap (native) memory");
        }
        if (offsetBytes < 0 || offsetBytes > segment.byteSize() - lengthBytes) {
            throw new IllegalArgumentException(role + " strip " + index + ": offset "
                    + offsetBytes + " + length " + lengthBytes + " exceeds segment size "
                    + segment.byteSize());
        }
        if (written && segment.isReadOnly()) {
            throw new IllegalArgumentException(role + " strip " + index + " is read-only");
        }
    }
}
