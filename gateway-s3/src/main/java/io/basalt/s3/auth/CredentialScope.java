package io.basalt.s3.auth;

/**
 * The scope of a SigV4 credential: {@code 20130524/us-east-1/s3/aws4_request}. Only the
 * {@code aws4_request} terminator exists, so it is not a field.
 */
public record CredentialScope(String date, String region, String service) {
    public static final String TERMINATOR = "aws4_request";

    /** The scope as it appears in the credential and in the string to sign. */
    @Override
    public String toString() {
        return date + "/" + region + "/" + service + "/" + TERMINATOR;
    }
}
