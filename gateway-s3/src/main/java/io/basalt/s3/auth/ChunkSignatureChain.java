package io.basalt.s3.auth;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import javax.crypto.Mac;

/**
 * The signature chain of an aws-chunked body (S3 API reference, "Signature Calculations for the
 * Authorization Header: Transferring Payload in Multiple Chunks" and "... Including Trailing
 * Headers"). Chunk n is signed over:
 * <pre>
 * AWS4-HMAC-SHA256-PAYLOAD \n
 * timestamp \n
 * scope \n
 * signature of chunk n-1 (the request's seed signature for the first) \n
 * hex SHA-256 of "" \n
 * hex SHA-256 of chunk n's data
 * </pre>
 * and the trailer over:
 * <pre>
 * AWS4-HMAC-SHA256-TRAILER \n
 * timestamp \n
 * scope \n
 * signature of the final (empty) chunk \n
 * hex SHA-256 of the trailer lines, each "name:value\n"
 * </pre>
 * Data streams through {@link #update}; nothing is buffered. A chain belongs to one request and
 * one thread (the one decoding the body).
 */
public final class ChunkSignatureChain {
    private static final String CHUNK_ALGORITHM = "AWS4-HMAC-SHA256-PAYLOAD";
    private static final String TRAILER_ALGORITHM = "AWS4-HMAC-SHA256-TRAILER";

    private final Mac hmac;
    private final MessageDigest chunkDigest = SigV4Crypto.newSha256();
    private final String prefix;
    private String previousSignature;

    ChunkSignatureChain(byte[] signingKey, String amzDate, CredentialScope scope,
            String seedSignature) {
        this.hmac = SigV4Crypto.newHmac(signingKey);
        this.prefix = amzDate + "\n" + scope + "\n";
        this.previousSignature = seedSignature;
    }

    /** Adds data of the current chunk; the buffer's position moves to its limit. */
    public void update(ByteBuffer data) {
        chunkDigest.update(data);
    }

    public void update(byte[] data, int offset, int length) {
        chunkDigest.update(data, offset, length);
    }

    /**
     * Ends the current chunk: whether {@code claimedSignature} is its signature. On success the
     * chain moves on to the next chunk; on failure the chain is broken and every later check
     * fails too.
     */
    public boolean endChunk(String claimedSignature) {
        String dataHash = SigV4Crypto.hex(chunkDigest.digest());
        String stringToSign = CHUNK_ALGORITHM + "\n" + prefix + previousSignature + "\n"
                + SigV4Crypto.EMPTY_SHA256 + "\n" + dataHash;
        return advance(stringToSign, claimedSignature);
    }

    /**
     * Whether {@code claimedSignature} signs the trailer whose canonical form is
     * {@code canonicalTrailer} (each trailing header as {@code name:value\n}, in order, without
     * the signature line).
     */
    public boolean verifyTrailer(String canonicalTrailer, String claimedSignature) {
        String stringToSign = TRAILER_ALGORITHM + "\n" + prefix + previousSignature + "\n"
                + SigV4Crypto.sha256Hex(canonicalTrailer);
        return advance(stringToSign, claimedSignature);
    }

    private boolean advance(String stringToSign, String claimedSignature) {
        String expected = SigV4Crypto.hex(hmac.doFinal(stringToSign.getBytes(
                StandardCharsets.UTF_8)));
        if (!SigV4Crypto.signaturesEqual(expected, claimedSignature)) {
            previousSignature = "broken";
            return false;
        }
        previousSignature = expected;
        return true;
    }
}
