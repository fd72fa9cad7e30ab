package io.basalt.s3.auth;

import java.time.Instant;

/**
 * A request whose signature verified: who sent it and what its signature says about the body.
 * Holds the signing key so an aws-chunked body can be checked chunk by chunk
 * ({@link #newChunkSignatureChain()}); the key itself does not leave this package.
 *
 * @param accessKeyId the authenticated access key
 * @param scope the credential scope the request was signed in
 * @param amzDate the request timestamp as signed, {@code 20130524T000000Z}
 * @param requestTime the same as an instant
 * @param signature the request's signature: the seed of a chunk signature chain
 * @param payloadMode what {@code x-amz-content-sha256} declared
 * @param payloadSha256 the declared hex SHA-256 of the body when {@code payloadMode} is
 *     {@link PayloadMode#SIGNED}, else null: the gateway hashes the body and answers
 *     XAmzContentSHA256Mismatch when it differs
 * @param presigned whether the request was authenticated by query parameters
 */
public record Authentication(String accessKeyId, CredentialScope scope, String amzDate,
        Instant requestTime, String signature, PayloadMode payloadMode, String payloadSha256,
        boolean presigned, SigningKeyHolder signingKeyHolder) {

    /** Wraps the signing key so that it is not a public record component's array. */
    public static final class SigningKeyHolder {
        private final byte[] signingKey;

        SigningKeyHolder(byte[] signingKey) {
            this.signingKey = signingKey;
        }

        byte[] signingKey() {
            return signingKey;
        }

        @Override
        public String toString() {
            return "SigningKey[redacted]";
        }
    }

    /**
     * A chain to verify the chunk signatures (and the trailer signature) of this request's
     * aws-chunked body, seeded with the request signature.
     *
     * @throws IllegalStateException when the payload mode has no chunk signatures
     */
    public ChunkSignatureChain newChunkSignatureChain() {
        if (!payloadMode.hasChunkSignatures()) {
            throw new IllegalStateException("payload mode " + payloadMode
                    + " has no chunk signatures");
        }
        return new ChunkSignatureChain(signingKeyHolder.signingKey(), amzDate, scope, signature);
    }
}
