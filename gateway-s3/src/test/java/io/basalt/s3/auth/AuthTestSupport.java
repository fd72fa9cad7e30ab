package io.basalt.s3.auth;

import io.basalt.s3.QueryParameters;

/** Authentications of the AWS streaming examples, for the aws-chunked tests in other packages. */
public final class AuthTestSupport {
    private AuthTestSupport() {}

    /** The verified "multiple chunks" example request (seed 4f232c43...). */
    public static Authentication streamingExample() {
        return AwsExamples.verifierAt(AwsExamples.TIME).verify("PUT",
                "/examplebucket/chunkObject.txt", QueryParameters.empty(),
                AwsExamples.streamingHeaders());
    }

    /** The verified "trailing headers" example request (seed 106e2a8a...). */
    public static Authentication trailerExample() {
        return AwsExamples.verifierAt(AwsExamples.TIME).verify("PUT",
                "/examplebucket/chunkObject.txt", QueryParameters.empty(),
                AwsExamples.trailerHeaders());
    }

    public static String secret() {
        return AwsExamples.SECRET;
    }

    public static String[] streamingChunkSignatures() {
        return AwsExamples.STREAMING_CHUNK_SIGNATURES.clone();
    }

    public static String[] trailerChunkSignatures() {
        return AwsExamples.TRAILER_CHUNK_SIGNATURES.clone();
    }

    public static String trailerSignature() {
        return AwsExamples.TRAILER_SIGNATURE;
    }
}
