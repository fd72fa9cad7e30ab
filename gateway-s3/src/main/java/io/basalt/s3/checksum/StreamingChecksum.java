package io.basalt.s3.checksum;

import java.nio.ByteBuffer;
import java.util.Base64;

/**
 * A checksum computed as the bytes stream past: {@code update} as often as needed, then
 * {@link #digest()} once. The digest is the checksum's bytes in the order S3 encodes them
 * (CRCs big-endian, hashes as is); {@link #digestBase64()} is the header value. Not
 * thread-safe: one instance per stream.
 */
public interface StreamingChecksum {
    void update(byte[] bytes, int offset, int length);

    /** Consumes the buffer from its position to its limit. */
    void update(ByteBuffer buffer);

    /** The checksum of everything updated so far; the instance is reset afterwards. */
    byte[] digest();

    /** {@link #digest()} in base64, as in {@code x-amz-checksum-*} headers and XML. */
    default String digestBase64() {
        return Base64.getEncoder().encodeToString(digest());
    }
}
