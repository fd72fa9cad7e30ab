package io.basalt.s3.auth;

import io.basalt.s3.HttpDates;
import io.basalt.s3.QueryParameters;
import io.basalt.s3.S3Error;
import io.basalt.s3.S3Exception;
import java.time.Instant;
import java.util.List;

/**
 * The SigV4 query parameters of a presigned URL (S3 API reference, "Authenticating Requests:
 * Using Query Parameters"): {@code X-Amz-Algorithm}, {@code X-Amz-Credential},
 * {@code X-Amz-Date}, {@code X-Amz-Expires}, {@code X-Amz-SignedHeaders},
 * {@code X-Amz-Signature}. Every one is required.
 */
public record PresignedParameters(Credential credential, String amzDate, Instant requestTime,
        long expiresSeconds, List<String> signedHeaders, String signature) {
    /** AWS's limit: a presigned URL lives at most seven days. */
    public static final long EXPIRES_SECONDS_MAX = 604_800;

    public static final String ALGORITHM = "X-Amz-Algorithm";
    public static final String CREDENTIAL = "X-Amz-Credential";
    public static final String DATE = "X-Amz-Date";
    public static final String EXPIRES = "X-Amz-Expires";
    public static final String SIGNED_HEADERS = "X-Amz-SignedHeaders";
    public static final String SIGNATURE = "X-Amz-Signature";

    private static final S3Error MALFORMED = S3Error.AuthorizationQueryParametersError;

    /** Whether the query carries SigV4 query authentication. */
    public static boolean isPresigned(QueryParameters query) {
        return query.contains(ALGORITHM) || query.contains(CREDENTIAL)
                || query.contains(SIGNATURE);
    }

    /** @throws S3Exception AuthorizationQueryParametersError for anything malformed */
    public static PresignedParameters parse(QueryParameters query) {
        String algorithm = query.first(ALGORITHM);
        String credential = query.first(CREDENTIAL);
        String amzDate = query.first(DATE);
        String expires = query.first(EXPIRES);
        String signedHeaders = query.first(SIGNED_HEADERS);
        String signature = query.first(SIGNATURE);
        if (algorithm == null || credential == null || amzDate == null || expires == null
                || signedHeaders == null || signature == null) {
            throw new S3Exception(MALFORMED, "query-string authentication version 4 requires"
                    + " the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date,"
                    + " X-Amz-SignedHeaders, and X-Amz-Expires parameters");
        }
        if (!algorithm.equals(SigV4Crypto.ALGORITHM)) {
            throw new S3Exception(MALFORMED, "X-Amz-Algorithm \"" + algorithm
                    + "\" is not supported; use AWS4-HMAC-SHA256");
        }
        Instant requestTime = HttpDates.parseAmzDate(amzDate);
        if (requestTime == null) {
            throw new S3Exception(MALFORMED, "X-Amz-Date \"" + amzDate
                    + "\" is not of the form yyyyMMdd'T'HHmmss'Z'");
        }
        long expiresSeconds = parseExpires(expires);
        if (!SigV4Crypto.isLowerHex64(signature)) {
            throw new S3Exception(MALFORMED, "X-Amz-Signature \"" + signature
                    + "\" is not 64 lowercase hex digits");
        }
        return new PresignedParameters(Credential.parse(credential, MALFORMED), amzDate,
                requestTime, expiresSeconds, SignedHeaderList.parse(signedHeaders, MALFORMED),
                signature);
    }

    private static long parseExpires(String expires) {
        long seconds;
        try {
            seconds = expires.length() > 12 ? -1 : Long.parseLong(expires);
        } catch (NumberFormatException e) {
            seconds = -1;
        }
        if (seconds < 0) {
            throw new S3Exception(MALFORMED, "X-Amz-Expires \"" + expires
                    + "\" is not a non-negative number of seconds");
        }
        if (seconds > EXPIRES_SECONDS_MAX) {
            throw new S3Exception(MALFORMED, "X-Amz-Expires must be less than a week (in"
                    + " seconds) that is 604800, got " + seconds);
        }
        return seconds;
    }
}
