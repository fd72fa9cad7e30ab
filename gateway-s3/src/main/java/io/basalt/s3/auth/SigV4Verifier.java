package io.basalt.s3.auth;

import io.basalt.s3.HttpDates;
import io.basalt.s3.QueryParameters;
import io.basalt.s3.RequestHeaders;
import io.basalt.s3.S3Error;
import io.basalt.s3.S3Exception;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Objects;

/**
 * Verifies SigV4 signatures of S3 requests, by header ({@code Authorization: AWS4-HMAC-SHA256
 * ...}) or by query parameters (presigned URLs), and answers who signed or why not.
 *
 * <p>Checks, in order, each with the S3 error AWS answers:
 * <ol>
 *   <li>exactly one mechanism (header or query), else AccessDenied (none) or InvalidArgument
 *       (both); SigV2 and other schemes: InvalidRequest;</li>
 *   <li>form of the header or parameters: AuthorizationHeaderMalformed or
 *       AuthorizationQueryParametersError;</li>
 *   <li>the request time: {@code x-amz-date}, else {@code Date}, for the header; missing or
 *       invalid is AccessDenied. The credential's date must be the request's date, its region
 *       this gateway's region, its service {@code s3};</li>
 *   <li>time: a header-signed request more than 15 minutes off the clock is
 *       RequestTimeTooSkewed; a presigned one is AccessDenied before its time (less 15 minutes)
 *       and "Request has expired" after {@code X-Amz-Date + X-Amz-Expires};</li>
 *   <li>the payload hash: {@code x-amz-content-sha256} is required with the header and must be
 *       a hex SHA-256 or one of the {@link PayloadMode} literals (InvalidArgument); SigV4a
 *       streaming is NotImplemented. Presigned without it means {@code UNSIGNED-PAYLOAD};</li>
 *   <li>with the header, every {@code x-amz-*} header present must be signed, else
 *       AccessDenied, as AWS does;</li>
 *   <li>the access key: InvalidAccessKeyId when {@link SecretLookup} does not know it;</li>
 *   <li>the signature, compared in constant time: SignatureDoesNotMatch.</li>
 * </ol>
 * Thread-safe: it holds only immutable configuration and the thread-safe
 * {@link SigningKeyCache}.
 */
public final class SigV4Verifier {
    /** AWS's allowed difference between the request's time and the server's. */
    public static final Duration CLOCK_SKEW_MAX = Duration.ofMinutes(15);
    public static final String SERVICE = "s3";
    public static final String CONTENT_SHA256 = "x-amz-content-sha256";

    private static final String SIGV4A_STREAMING = "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD";

    private final String region;
    private final SecretLookup secrets;
    private final SigningKeyCache signingKeys;
    private final Clock clock;
    private final Duration clockSkewMax;

    /**
     * @param region the region clients must sign for ({@code us-east-1} unless configured)
     */
    public SigV4Verifier(String region, SecretLookup secrets, SigningKeyCache signingKeys,
            Clock clock) {
        this(region, secrets, signingKeys, clock, CLOCK_SKEW_MAX);
    }

    /**
     * @param clockSkewMax the allowed difference between a request's time and the clock
     *     ({@link #CLOCK_SKEW_MAX}, AWS's, unless the gateway is configured otherwise)
     */
    public SigV4Verifier(String region, SecretLookup secrets, SigningKeyCache signingKeys,
            Clock clock, Duration clockSkewMax) {
        if (clockSkewMax.isNegative()) {
            throw new IllegalArgumentException("clock skew " + clockSkewMax + " is negative");
        }
        this.clockSkewMax = clockSkewMax;
        this.region = Objects.requireNonNull(region, "region");
        this.secrets = Objects.requireNonNull(secrets, "secrets");
        this.signingKeys = Objects.requireNonNull(signingKeys, "signingKeys");
        this.clock = Objects.requireNonNull(clock, "clock");
    }

    /**
     * @param method the HTTP method as received
     * @param rawPath the request path as received, percent-escapes intact, without the query
     * @param query the parsed raw query
     * @throws S3Exception when the request is not authenticated, with the S3 error to answer
     */
    public Authentication verify(String method, String rawPath, QueryParameters query,
            RequestHeaders headers) {
        String authorization = headers.first("authorization");
        boolean presigned = PresignedParameters.isPresigned(query);
        if (authorization != null && presigned) {
            throw new S3Exception(S3Error.InvalidArgument,
                    "only one auth mechanism allowed; only the X-Amz-Algorithm query parameter,"
                            + " Signature query string parameter or the Authorization header"
                            + " should be specified");
        }
        if (presigned) {
            return verifyPresigned(method, rawPath, query, headers);
        }
        if (authorization == null && query.first("Signature") != null && query.first("AWSAccessKeyId") != null) {
            // Signature Version 2 in the query (boto3's presigned URLs unless told s3v4).
            throw new S3Exception(S3Error.AccessDenied, "Signature Version 2 is not supported; presign with"
                    + " SigV4 (boto3: Config(signature_version='s3v4'); aws cli v1: aws configure set"
                    + " default.s3.signature_version s3v4)");
        }
        if (authorization == null) {
            throw new S3Exception(S3Error.AccessDenied,
                    "anonymous requests are not allowed; sign the request with SigV4");
        }
        return verifyHeader(method, rawPath, query, headers, AuthorizationHeader.parse(
                authorization));
    }

    private Authentication verifyHeader(String method, String rawPath, QueryParameters query,
            RequestHeaders headers, AuthorizationHeader authorization) {
        Instant requestTime;
        String amzDateHeader = headers.first("x-amz-date");
        if (amzDateHeader != null) {
            requestTime = HttpDates.parseAmzDate(amzDateHeader.strip());
        } else {
            requestTime = HttpDates.parseHttpDate(headers.first("date"));
        }
        if (requestTime == null) {
            throw new S3Exception(S3Error.AccessDenied,
                    "AWS authentication requires a valid Date or x-amz-date header");
        }
        String amzDate = HttpDates.formatAmzDate(requestTime);
        CredentialScope scope = authorization.credential().scope();
        checkScope(scope, amzDate, S3Error.AuthorizationHeaderMalformed);
        Instant now = clock.instant();
        if (Duration.between(requestTime, now).abs().compareTo(clockSkewMax) > 0) {
            throw new S3Exception(S3Error.RequestTimeTooSkewed, "request time " + amzDate
                    + " is more than " + clockSkewMax.toMinutes() + " minutes from the"
                    + " server time " + HttpDates.formatAmzDate(now));
        }
        String payloadHash = headers.first(CONTENT_SHA256);
        if (payloadHash == null) {
            throw new S3Exception(S3Error.InvalidRequest,
                    "missing required header for this request: x-amz-content-sha256");
        }
        payloadHash = payloadHash.strip();
        PayloadMode payloadMode = payloadMode(payloadHash);
        checkAmzHeadersSigned(headers, authorization.signedHeaders());
        byte[] signingKey = signingKey(authorization.credential());
        String signedPayloadHash = payloadHash;
        checkSignature(signingKey, amzDate, scope, authorization.signature(), rawPath,
                path -> CanonicalRequest.build(method, path, query, null, headers,
                        authorization.signedHeaders(), signedPayloadHash));
        return new Authentication(authorization.credential().accessKeyId(), scope, amzDate,
                requestTime, authorization.signature(), payloadMode,
                payloadMode == PayloadMode.SIGNED ? payloadHash : null, false,
                new Authentication.SigningKeyHolder(signingKey));
    }

    private Authentication verifyPresigned(String method, String rawPath, QueryParameters query,
            RequestHeaders headers) {
        PresignedParameters parameters = PresignedParameters.parse(query);
        CredentialScope scope = parameters.credential().scope();
        checkScope(scope, parameters.amzDate(), S3Error.AuthorizationQueryParametersError);
        Instant now = clock.instant();
        if (now.isBefore(parameters.requestTime().minus(clockSkewMax))) {
            throw new S3Exception(S3Error.AccessDenied, "request is not valid yet: X-Amz-Date "
                    + parameters.amzDate() + " is in the future");
        }
        Instant expiry = parameters.requestTime().plusSeconds(parameters.expiresSeconds());
        if (now.isAfter(expiry)) {
            throw new S3Exception(S3Error.AccessDenied, "Request has expired: it expired at "
                    + HttpDates.formatAmzDate(expiry) + ", now is " + HttpDates.formatAmzDate(
                            now));
        }
        String payloadHash = headers.first(CONTENT_SHA256);
        payloadHash = payloadHash == null ? PayloadMode.UNSIGNED.headerValue()
                : payloadHash.strip();
        PayloadMode payloadMode = payloadMode(payloadHash);
        byte[] signingKey = signingKey(parameters.credential());
        String presignedPayloadHash = payloadHash;
        checkSignature(signingKey, parameters.amzDate(), scope, parameters.signature(), rawPath,
                path -> CanonicalRequest.build(method, path, query,
                        PresignedParameters.SIGNATURE, headers, parameters.signedHeaders(),
                        presignedPayloadHash));
        return new Authentication(parameters.credential().accessKeyId(), scope,
                parameters.amzDate(), parameters.requestTime(), parameters.signature(),
                payloadMode, payloadMode == PayloadMode.SIGNED ? payloadHash : null, true,
                new Authentication.SigningKeyHolder(signingKey));
    }

    private void checkScope(CredentialScope scope, String amzDate, S3Error error) {
        if (!amzDate.startsWith(scope.date())) {
            throw new S3Exception(error, "invalid credential date \"" + scope.date()
                    + "\": it is not the date of the request time " + amzDate);
        }
        if (!scope.region().equals(region)) {
            throw new S3Exception(error, "the region '" + scope.region()
                    + "' is wrong; expecting '" + region + "'");
        }
        if (!scope.service().equals(SERVICE)) {
            throw new S3Exception(error, "the service '" + scope.service()
                    + "' is wrong; expecting 's3'");
        }
    }

    private static PayloadMode payloadMode(String payloadHash) {
        if (SigV4Crypto.isLowerHex64(payloadHash)) {
            return PayloadMode.SIGNED;
        }
        for (PayloadMode mode : PayloadMode.values()) {
            if (payloadHash.equals(mode.headerValue())) {
                return mode;
            }
        }
        if (payloadHash.startsWith(SIGV4A_STREAMING)) {
            throw new S3Exception(S3Error.NotImplemented, "x-amz-content-sha256 \""
                    + payloadHash + "\" (SigV4a) is not supported");
        }
        throw new S3Exception(S3Error.InvalidArgument, "x-amz-content-sha256 \"" + payloadHash
                + "\" must be UNSIGNED-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER],"
                + " STREAMING-UNSIGNED-PAYLOAD-TRAILER or a hex SHA-256");
    }

    private static void checkAmzHeadersSigned(RequestHeaders headers, List<String> signed) {
        for (String name : headers.names()) {
            if (name.startsWith("x-amz-") && !signed.contains(name)) {
                throw new S3Exception(S3Error.AccessDenied, "there were headers present in the"
                        + " request which were not signed: " + name);
            }
        }
    }

    private byte[] signingKey(Credential credential) {
        String secret = secrets.secretFor(credential.accessKeyId()).orElseThrow(
                () -> new S3Exception(S3Error.InvalidAccessKeyId, "the access key id \""
                        + credential.accessKeyId() + "\" does not exist"));
        return signingKeys.signingKey(credential.accessKeyId(), secret, credential.scope());
    }

    /**
     * Checks the signature of the canonical request built for the raw path, or else for its
     * {@link #candidatePaths other spelling}.
     */
    private static void checkSignature(byte[] signingKey, String amzDate, CredentialScope scope,
            String claimedSignature, String rawPath,
            java.util.function.Function<String, String> canonicalRequestForPath) {
        for (String path : candidatePaths(rawPath)) {
            String expected = SigV4Crypto.signature(signingKey, SigV4Crypto.stringToSign(
                    amzDate, scope, canonicalRequestForPath.apply(path)));
            if (SigV4Crypto.signaturesEqual(expected, claimedSignature)) {
                return;
            }
        }
        throw new S3Exception(S3Error.SignatureDoesNotMatch);
    }

    /**
     * The raw path, then (only if it holds an encoded slash) the same path with {@code %2F} as
     * {@code /}. The AWS SDK for Java signs a key's {@code //} as is, and then its Apache HTTP
     * client sends it as {@code /%2F} (so that nothing on the way collapses the slashes); both
     * spellings name the same key, since the router decodes {@code %2F} to {@code /}, so
     * either signature is the client's.
     */
    private static List<String> candidatePaths(String rawPath) {
        if (!hasEncodedSlash(rawPath)) {
            return List.of(rawPath);
        }
        return List.of(rawPath, rawPath.replace("%2F", "/").replace("%2f", "/"));
    }

    private static boolean hasEncodedSlash(String rawPath) {
        return rawPath.contains("%2F") || rawPath.contains("%2f");
    }
}
