package io.basalt.s3.auth;

/**
 * What {@code x-amz-content-sha256} says about the body (S3 API reference, "Authenticating
 * Requests: Using the Authorization Header", the table of its values).
 */
public enum PayloadMode {
    /** The header is the hex SHA-256 of the body; the gateway checks it as the body streams. */
    SIGNED(null),
    /** {@code UNSIGNED-PAYLOAD}: the body is not covered by the signature. */
    UNSIGNED("UNSIGNED-PAYLOAD"),
    /** aws-chunked, each chunk signed, chained from the seed signature. */
    STREAMING_SIGNED("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
    /** aws-chunked, each chunk signed, then signed trailing headers. */
    STREAMING_SIGNED_TRAILER("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"),
    /** aws-chunked without chunk signatures, then unsigned trailing headers (checksums). */
    STREAMING_UNSIGNED_TRAILER("STREAMING-UNSIGNED-PAYLOAD-TRAILER");

    private final String headerValue;

    PayloadMode(String headerValue) {
        this.headerValue = headerValue;
    }

    /** The literal value of {@code x-amz-content-sha256}; null for {@link #SIGNED}. */
    public String headerValue() {
        return headerValue;
    }

    /** Whether the body is {@code Content-Encoding: aws-chunked}. */
    public boolean isStreaming() {
        return this == STREAMING_SIGNED || this == STREAMING_SIGNED_TRAILER
                || this == STREAMING_UNSIGNED_TRAILER;
    }

    /** Whether each chunk carries a {@code chunk-signature}. */
    public boolean hasChunkSignatures() {
        return this == STREAMING_SIGNED || this == STREAMING_SIGNED_TRAILER;
    }

    /** Whether trailing headers follow the last chunk. */
    public boolean hasTrailer() {
        return this == STREAMING_SIGNED_TRAILER || this == STREAMING_UNSIGNED_TRAILER;
    }
}
