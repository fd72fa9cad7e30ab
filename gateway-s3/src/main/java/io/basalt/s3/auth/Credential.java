package io.basalt.s3.auth;

import io.basalt.s3.S3Error;
import io.basalt.s3.S3Exception;

/**
 * A parsed SigV4 credential, {@code AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request}:
 * the access key id and the scope. The key id is everything before the last four components, so
 * it may itself contain a slash.
 */
public record Credential(String accessKeyId, CredentialScope scope) {
    /** Bound on the credential text; real ones are under 100 characters. */
    static final int LENGTH_MAX = 512;

    /**
     * @param error the error for a malformed credential: AuthorizationHeaderMalformed for the
     *     header, AuthorizationQueryParametersError for a presigned URL
     */
    static Credential parse(String text, S3Error error) {
        if (text.length() > LENGTH_MAX) {
            throw new S3Exception(error, "credential is " + text.length() + " characters (max "
                    + LENGTH_MAX + ")");
        }
        String[] parts = new String[4];
        int end = text.length();
        for (int i = 3; i >= 0; i--) {
            int slash = text.lastIndexOf('/', end - 1);
            if (slash < 0) {
                throw new S3Exception(error, "credential \"" + text + "\" is not of the form"
                        + " <key>/<date>/<region>/<service>/aws4_request");
            }
            parts[i] = text.substring(slash + 1, end);
            end = slash;
        }
        String accessKeyId = text.substring(0, end);
        if (accessKeyId.isEmpty() || parts[0].length() != 8 || !isDigits(parts[0])
                || parts[1].isEmpty() || parts[2].isEmpty()) {
            throw new S3Exception(error, "credential \"" + text + "\" is not of the form"
                    + " <key>/<yyyyMMdd>/<region>/<service>/aws4_request");
        }
        if (!parts[3].equals(CredentialScope.TERMINATOR)) {
            throw new S3Exception(error, "credential ends with \"" + parts[3]
                    + "\", expected aws4_request");
        }
        return new Credential(accessKeyId, new CredentialScope(parts[0], parts[1], parts[2]));
    }

    private static boolean isDigits(String text) {
        for (int i = 0; i < text.length(); i++) {
            if (text.charAt(i) < '0' || text.charAt(i) > '9') {
                return false;
            }
        }
        return true;
    }
}
