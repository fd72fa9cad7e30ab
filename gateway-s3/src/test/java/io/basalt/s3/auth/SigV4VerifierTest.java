package io.basalt.s3.auth;

import static io.basalt.s3.auth.AwsExamples.AMZ_DATE;
import static io.basalt.s3.auth.AwsExamples.TIME;
import static io.basalt.s3.auth.AwsExamples.authorization;
import static io.basalt.s3.auth.AwsExamples.verifierAt;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.basalt.s3.QueryParameters;
import io.basalt.s3.RequestHeaders;
import io.basalt.s3.S3Error;
import io.basalt.s3.S3Exception;
import java.time.Duration;
import java.time.Instant;
import org.junit.jupiter.api.Test;

/** The documented AWS examples verify; every way of breaking them is refused with its error. */
class SigV4VerifierTest {
    private static final SigV4Verifier VERIFIER = verifierAt(TIME);

    @Test
    void awsExampleGetObjectVerifies() {
        Authentication auth = VERIFIER.verify("GET", "/test.txt", QueryParameters.empty(),
                AwsExamples.getObjectHeaders().build());
        assertThat(auth.accessKeyId()).isEqualTo(AwsExamples.ACCESS_KEY);
        assertThat(auth.payloadMode()).isEqualTo(PayloadMode.SIGNED);
        assertThat(auth.payloadSha256()).isEqualTo(SigV4Crypto.EMPTY_SHA256);
        assertThat(auth.scope().toString()).isEqualTo(AwsExamples.CREDENTIAL_SCOPE);
        assertThat(auth.presigned()).isFalse();
    }

    @Test
    void awsExamplePutObjectVerifiesWithDollarSentRawOrEscaped() {
        RequestHeaders headers = RequestHeaders.builder()
                .add("Date", "Fri, 24 May 2013 00:00:00 GMT")
                .add("Host", "examplebucket.s3.amazonaws.com")
                .add("x-amz-content-sha256", AwsExamples.PUT_OBJECT_PAYLOAD_SHA256)
                .add("x-amz-date", AMZ_DATE)
                .add("x-amz-storage-class", "REDUCED_REDUNDANCY")
                .add("Authorization", authorization(
                        "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
                        AwsExamples.PUT_OBJECT_SIGNATURE))
                .build();
        for (String path : new String[] {"/test%24file.text", "/test$file.text"}) {
            Authentication auth = VERIFIER.verify("PUT", path, QueryParameters.empty(),
                    headers);
            assertThat(auth.payloadSha256()).isEqualTo(AwsExamples.PUT_OBJECT_PAYLOAD_SHA256);
        }
    }

    @Test
    void anEncodedSlashVerifiesSignedEitherWay() {
        // The SDK signs a key's "//" as is; its Apache client then sends "/%2F".
        for (String[] signedAndSent : new String[][] {
                {"/bucket/double//slash", "/bucket/double/%2Fslash"},
                {"/bucket/double/%2Fslash", "/bucket/double/%2Fslash"},
                {"/bucket/a%2Fb", "/bucket/a%2Fb"},
                {"/bucket/a/b", "/bucket/a%2fb"}}) {
            assertThat(verifySigned(signedAndSent[0], signedAndSent[1]).accessKeyId())
                    .isEqualTo(AwsExamples.ACCESS_KEY);
        }
        assertThatThrownBy(() -> verifySigned("/bucket/other", "/bucket/a%2Fb"))
                .isInstanceOf(S3Exception.class).extracting(e -> ((S3Exception) e).error())
                .isEqualTo(S3Error.SignatureDoesNotMatch);
        assertThatThrownBy(() -> verifySigned("/bucket/a/b", "/bucket/a/c"))
                .isInstanceOf(S3Exception.class).extracting(e -> ((S3Exception) e).error())
                .isEqualTo(S3Error.SignatureDoesNotMatch);
    }

    private static Authentication verifySigned(String signedPath, String sentPath) {
        java.util.Map<String, String> signed = TestSigner.mapOf("host", "localhost",
                "x-amz-content-sha256", "UNSIGNED-PAYLOAD", "x-amz-date", AMZ_DATE);
        String signature = TestSigner.signature(AwsExamples.SECRET, AMZ_DATE, "us-east-1", "GET",
                signedPath, java.util.List.of(), signed, "UNSIGNED-PAYLOAD");
        RequestHeaders.Builder headers = RequestHeaders.builder();
        signed.forEach(headers::add);
        headers.add("Authorization", authorization(TestSigner.signedHeaderList(signed),
                signature));
        return VERIFIER.verify("GET", sentPath, QueryParameters.empty(), headers.build());
    }

    @Test
    void awsExampleSubresourceAndSortedQueryVerify() {
        RequestHeaders.Builder base = RequestHeaders.builder()
                .add("Host", "examplebucket.s3.amazonaws.com")
                .add("x-amz-content-sha256", SigV4Crypto.EMPTY_SHA256)
                .add("x-amz-date", AMZ_DATE);
        String signed = "host;x-amz-content-sha256;x-amz-date";
        VERIFIER.verify("GET", "/", QueryParameters.parse("lifecycle"), base.set(
                "Authorization", authorization(signed, AwsExamples.GET_LIFECYCLE_SIGNATURE))
                .build());
        RequestHeaders list = base.set("Authorization", authorization(signed,
                AwsExamples.LIST_OBJECTS_SIGNATURE)).build();
        VERIFIER.verify("GET", "/", QueryParameters.parse("max-keys=2&prefix=J"), list);
        VERIFIER.verify("GET", "/", QueryParameters.parse("prefix=J&max-keys=2"), list);
    }

    @Test
    void awsExamplePresignedUrlVerifiesUntilItExpires() {
        QueryParameters query = QueryParameters.parse(presignedQuery(
                AwsExamples.PRESIGNED_SIGNATURE));
        RequestHeaders headers = RequestHeaders.of("Host", "examplebucket.s3.amazonaws.com");
        for (Instant now : new Instant[] {TIME, TIME.plusSeconds(86_400),
            TIME.minus(Duration.ofMinutes(15))}) {
            Authentication auth = verifierAt(now).verify("GET", "/test.txt", query, headers);
            assertThat(auth.presigned()).isTrue();
            assertThat(auth.payloadMode()).isEqualTo(PayloadMode.UNSIGNED);
        }
        assertRefused(verifierAt(TIME.plusSeconds(86_401)), "GET", "/test.txt", query, headers,
                S3Error.AccessDenied, "Request has expired");
        assertRefused(verifierAt(TIME.minus(Duration.ofMinutes(16))), "GET", "/test.txt", query,
                headers, S3Error.AccessDenied, "not valid yet");
        assertRefused(VERIFIER, "GET", "/test2.txt", query, headers,
                S3Error.SignatureDoesNotMatch, "");
        assertRefused(VERIFIER, "GET", "/test.txt", QueryParameters.parse(presignedQuery(
                AwsExamples.PRESIGNED_SIGNATURE) + "&extra=1"), headers,
                S3Error.SignatureDoesNotMatch, "");
    }

    @Test
    void awsExampleStreamingSeedsVerify() {
        Authentication streaming = VERIFIER.verify("PUT", "/examplebucket/chunkObject.txt",
                QueryParameters.empty(), AwsExamples.streamingHeaders());
        assertThat(streaming.payloadMode()).isEqualTo(PayloadMode.STREAMING_SIGNED);
        assertThat(streaming.signature()).isEqualTo(AwsExamples.STREAMING_SEED_SIGNATURE);
        Authentication trailer = VERIFIER.verify("PUT", "/examplebucket/chunkObject.txt",
                QueryParameters.empty(), AwsExamples.trailerHeaders());
        assertThat(trailer.payloadMode()).isEqualTo(PayloadMode.STREAMING_SIGNED_TRAILER);
    }

    @Test
    void presignedParametersAreChecked() {
        RequestHeaders headers = RequestHeaders.of("Host", "examplebucket.s3.amazonaws.com");
        String good = presignedQuery(AwsExamples.PRESIGNED_SIGNATURE);
        assertPresignedRefused(good.replace("&X-Amz-Expires=86400", ""), headers, "requires");
        assertPresignedRefused(good.replace("X-Amz-Expires=86400", "X-Amz-Expires=604801"),
                headers, "604800");
        assertPresignedRefused(good.replace("X-Amz-Expires=86400", "X-Amz-Expires=-1"), headers,
                "non-negative");
        assertPresignedRefused(good.replace("X-Amz-Expires=86400", "X-Amz-Expires=abc"),
                headers, "non-negative");
        assertPresignedRefused(good.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512"), headers,
                "not supported");
        assertPresignedRefused(good.replace("X-Amz-Date=20130524T000000Z",
                "X-Amz-Date=2013-05-24"), headers, "yyyyMMdd");
        assertPresignedRefused(good.replace("X-Amz-Date=20130524T000000Z",
                "X-Amz-Date=20130525T000000Z"), headers, "credential date");
        assertPresignedRefused(good.replace("us-east-1", "eu-west-1"), headers, "region");
        assertPresignedRefused(good.replace("%2Fs3%2F", "%2Fec2%2F"), headers, "service");
        assertPresignedRefused(good.replace("aws4_request", "aws5_request"), headers,
                "aws4_request");
        assertPresignedRefused(good.replace("X-Amz-SignedHeaders=host",
                "X-Amz-SignedHeaders=range"), headers, "host");
        assertPresignedRefused(good.replace(AwsExamples.PRESIGNED_SIGNATURE, "abc"), headers,
                "64 lowercase hex");
        assertRefused(VERIFIER, "GET", "/test.txt", QueryParameters.parse(good.replace(
                "AKIAIOSFODNN7EXAMPLE", "AKIDUNKNOWN")), headers, S3Error.InvalidAccessKeyId,
                "AKIDUNKNOWN");
    }

    @Test
    void headerAuthenticationErrorsMapToS3Codes() {
        RequestHeaders good = AwsExamples.getObjectHeaders().build();
        assertHeaderRefused(good.toBuilder().remove("Authorization"), S3Error.AccessDenied,
                "anonymous");
        assertHeaderRefused(good.toBuilder().set("Authorization", "AWS AKID:c2lnbmF0dXJl"),
                S3Error.InvalidRequest, "not supported");
        // A Signature Version 2 presigned URL (boto3's default for S3) names what to change.
        assertRefused(VERIFIER, "GET", "/test.txt", QueryParameters.parse(
                "AWSAccessKeyId=AKID&Signature=c2ln&Expires=1700000000"),
                good.toBuilder().remove("Authorization").build(), S3Error.AccessDenied,
                "signature_version='s3v4'");
        assertHeaderRefused(good.toBuilder().set("Authorization",
                good.first("Authorization").replace("Signature=", "Sig=")),
                S3Error.AuthorizationHeaderMalformed, "unknown");
        assertHeaderRefused(good.toBuilder().set("Authorization",
                good.first("Authorization").replace(",Signature=" + AwsExamples
                        .GET_OBJECT_SIGNATURE, "")), S3Error.AuthorizationHeaderMalformed,
                "needs");
        assertHeaderRefused(good.toBuilder().set("Authorization",
                good.first("Authorization") + ",Signature=" + AwsExamples.GET_OBJECT_SIGNATURE),
                S3Error.AuthorizationHeaderMalformed, "repeated");
        assertHeaderRefused(good.toBuilder().set("Authorization",
                good.first("Authorization").replace("/20130524/", "/2013052/")),
                S3Error.AuthorizationHeaderMalformed, "yyyyMMdd");
        assertHeaderRefused(good.toBuilder().set("Authorization",
                good.first("Authorization").replace("us-east-1", "eu-west-1")),
                S3Error.AuthorizationHeaderMalformed, "region 'eu-west-1' is wrong");
        assertHeaderRefused(good.toBuilder().set("Authorization",
                good.first("Authorization").replace("host;range", "Host;range")),
                S3Error.AuthorizationHeaderMalformed, "lowercase");
        assertHeaderRefused(good.toBuilder().set("Authorization",
                good.first("Authorization").replace("AKIAIOSFODNN7EXAMPLE", "AKIDUNKNOWN")),
                S3Error.InvalidAccessKeyId, "AKIDUNKNOWN");
        assertHeaderRefused(good.toBuilder().remove("x-amz-date"), S3Error.AccessDenied,
                "Date or x-amz-date");
        assertHeaderRefused(good.toBuilder().set("x-amz-date", "yesterday"),
                S3Error.AccessDenied, "Date or x-amz-date");
        assertHeaderRefused(good.toBuilder().set("x-amz-date", "20130525T000000Z"),
                S3Error.AuthorizationHeaderMalformed, "credential date");
        assertHeaderRefused(good.toBuilder().remove("x-amz-content-sha256"),
                S3Error.InvalidRequest, "x-amz-content-sha256");
        assertHeaderRefused(good.toBuilder().set("x-amz-content-sha256", "abc"),
                S3Error.InvalidArgument, "x-amz-content-sha256");
        assertHeaderRefused(good.toBuilder().set("x-amz-content-sha256",
                "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD"), S3Error.NotImplemented, "SigV4a");
        assertHeaderRefused(good.toBuilder().add("x-amz-meta-color", "red"),
                S3Error.AccessDenied, "x-amz-meta-color");
        assertHeaderRefused(good.toBuilder().set("Range", "bytes=0-10"),
                S3Error.SignatureDoesNotMatch, "");
        assertThatThrownBy(() -> VERIFIER.verify("GET", "/test.txt", QueryParameters.parse(
                presignedQuery(AwsExamples.PRESIGNED_SIGNATURE)), good))
                .isInstanceOfSatisfying(S3Exception.class, e -> assertThat(e.error())
                        .isEqualTo(S3Error.InvalidArgument));
    }

    @Test
    void clockSkewOfFifteenMinutesIsTheLimit() {
        RequestHeaders headers = AwsExamples.getObjectHeaders().build();
        Duration skew = SigV4Verifier.CLOCK_SKEW_MAX;
        verifierAt(TIME.plus(skew)).verify("GET", "/test.txt", QueryParameters.empty(), headers);
        verifierAt(TIME.minus(skew)).verify("GET", "/test.txt", QueryParameters.empty(),
                headers);
        for (Instant now : new Instant[] {TIME.plus(skew).plusSeconds(1),
            TIME.minus(skew).minusSeconds(1)}) {
            assertRefused(verifierAt(now), "GET", "/test.txt", QueryParameters.empty(), headers,
                    S3Error.RequestTimeTooSkewed, "15 minutes");
        }
    }

    @Test
    void signingKeysAreCachedPerScopeAndRotatedSecretsAreNotServedStale() {
        SigningKeyCache cache = new SigningKeyCache(2);
        CredentialScope day1 = new CredentialScope("20130524", "us-east-1", "s3");
        CredentialScope day2 = new CredentialScope("20130525", "us-east-1", "s3");
        CredentialScope day3 = new CredentialScope("20130526", "us-east-1", "s3");
        byte[] first = cache.signingKey("AK", "secret", day1);
        assertThat(cache.signingKey("AK", "secret", day1)).isSameAs(first);
        assertThat(cache.signingKey("AK", "rotated", day1)).isNotEqualTo(first)
                .isEqualTo(SigV4Crypto.deriveSigningKey("rotated", day1));
        cache.signingKey("AK", "secret", day2);
        cache.signingKey("AK", "secret", day3);
        assertThat(cache.entryCount()).isEqualTo(2);
        assertThatThrownBy(() -> new SigningKeyCache(0))
                .isInstanceOf(IllegalArgumentException.class);
    }

    static String presignedQuery(String signature) {
        return "X-Amz-Algorithm=AWS4-HMAC-SHA256"
                + "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2F"
                + "aws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400"
                + "&X-Amz-SignedHeaders=host&X-Amz-Signature=" + signature;
    }

    private static void assertPresignedRefused(String query, RequestHeaders headers,
            String messagePart) {
        assertRefused(VERIFIER, "GET", "/test.txt", QueryParameters.parse(query), headers,
                S3Error.AuthorizationQueryParametersError, messagePart);
    }

    private static void assertHeaderRefused(RequestHeaders.Builder headers, S3Error error,
            String messagePart) {
        assertRefused(VERIFIER, "GET", "/test.txt", QueryParameters.empty(), headers.build(),
                error, messagePart);
    }

    static void assertRefused(SigV4Verifier verifier, String method, String path,
            QueryParameters query, RequestHeaders headers, S3Error error, String messagePart) {
        assertThatThrownBy(() -> verifier.verify(method, path, query, headers))
                .isInstanceOfSatisfying(S3Exception.class, e -> {
                    assertThat(e.error()).as(e.toString()).isEqualTo(error);
                    assertThat(e.getMessage()).contains(messagePart);
                });
    }
}
