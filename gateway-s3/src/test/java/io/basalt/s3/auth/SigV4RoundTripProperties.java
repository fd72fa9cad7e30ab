package io.basalt.s3.auth;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.basalt.s3.HttpDates;
import io.basalt.s3.QueryParameters;
import io.basalt.s3.RequestHeaders;
import io.basalt.s3.S3Error;
import io.basalt.s3.S3Exception;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;

/**
 * Requests signed by {@link TestSigner} verify; changing any signed part (method, path, a query
 * parameter, a signed header, the payload hash) makes them fail with SignatureDoesNotMatch.
 * Keys and values draw from ASCII punctuation, spaces, non-ASCII and astral characters.
 */
class SigV4RoundTripProperties {
    private static final String SECRET = "s3cr3t/with+symbols=";
    private static final String ACCESS_KEY = "BASALTKEY1";
    private static final Instant NOW = Instant.parse("2024-02-29T23:59:30Z");
    private static final SigV4Verifier VERIFIER = new SigV4Verifier("basalt-1",
            key -> key.equals(ACCESS_KEY) ? java.util.Optional.of(SECRET)
                    : java.util.Optional.empty(),
            new SigningKeyCache(), java.time.Clock.fixed(NOW, java.time.ZoneOffset.UTC));

    @Provide
    Arbitrary<String> texts() {
        return Arbitraries.strings()
                .withChars("abcXYZ019-_.~ /+=&?%#$!*'()[]{}:;,@\\\"<>^`|\u00e9\u4e2d")
                .withChars("\uD83D\uDE00".toCharArray())
                .ofMinLength(1).ofMaxLength(24)
                .filter(s -> !hasBrokenSurrogate(s));
    }

    @Property(tries = 300)
    void signedRequestsVerifyAndEveryMutationIsRefused(@ForAll("texts") String key,
            @ForAll("texts") String prefix, @ForAll("texts") String metaValue,
            @ForAll PayloadMode payloadMode, @ForAll @IntRange(min = 0, max = 5) int mutation,
            @ForAll long seed) {
        Random random = new Random(seed);
        String method = random.nextBoolean() ? "PUT" : "GET";
        String path = "/bucket/" + TestSigner.encode(key, false);
        List<String[]> query = new ArrayList<>();
        query.add(new String[] {"prefix", prefix});
        query.add(new String[] {"list-type", "2"});
        query.add(new String[] {"uploads", ""});
        query.add(new String[] {"prefix", prefix + "z"});
        Collections.shuffle(query, random);
        String payloadHash = payloadMode == PayloadMode.SIGNED
                ? TestSigner.hex(TestSigner.sha256(key.getBytes())) : payloadMode.headerValue();
        Map<String, String> signed = new TreeMap<>(TestSigner.mapOf(
                "host", "bucket.s3.basalt.test",
                "x-amz-content-sha256", payloadHash,
                "x-amz-date", HttpDates.formatAmzDate(NOW),
                "x-amz-meta-note", "  spaced   " + metaValue.strip() + "  value "));
        String signature = TestSigner.signature(SECRET, HttpDates.formatAmzDate(NOW),
                "basalt-1", method, path, query, signed, payloadHash);
        String authorization = "AWS4-HMAC-SHA256 Credential=" + ACCESS_KEY + "/20240229/"
                + "basalt-1/s3/aws4_request, SignedHeaders=" + TestSigner.signedHeaderList(signed)
                + ", Signature=" + signature;

        RequestHeaders.Builder headers = RequestHeaders.builder();
        signed.forEach(headers::add);
        headers.add("Authorization", authorization).add("User-Agent", "unsigned is fine");
        String rawQuery = TestSigner.rawQuery(query);

        Authentication auth = VERIFIER.verify(method, path, QueryParameters.parse(rawQuery),
                headers.build());
        assertThat(auth.accessKeyId()).isEqualTo(ACCESS_KEY);
        assertThat(auth.payloadMode()).isEqualTo(payloadMode);
        assertThat(auth.payloadSha256()).isEqualTo(payloadMode == PayloadMode.SIGNED
                ? payloadHash : null);
        if (payloadMode.hasChunkSignatures()) {
            assertThat(auth.newChunkSignatureChain()).isNotNull();
        } else {
            assertThatThrownBy(auth::newChunkSignatureChain)
                    .isInstanceOf(IllegalStateException.class);
        }

        String mutatedMethod = method;
        String mutatedPath = path;
        String mutatedQuery = rawQuery;
        switch (mutation) {
            case 0 -> mutatedMethod = method.equals("PUT") ? "POST" : "HEAD";
            case 1 -> mutatedPath = path + "x";
            case 2 -> mutatedQuery = rawQuery.replaceFirst("list-type=2", "list-type=1");
            case 3 -> mutatedQuery = rawQuery + "&versionId=1";
            case 4 -> headers.set("x-amz-meta-note", metaValue + "!");
            case 5 -> headers.set("x-amz-content-sha256",
                    TestSigner.hex(TestSigner.sha256((key + "!").getBytes())));
            default -> throw new AssertionError(mutation);
        }
        String finalMethod = mutatedMethod;
        String finalPath = mutatedPath;
        QueryParameters finalQuery = QueryParameters.parse(mutatedQuery);
        RequestHeaders finalHeaders = headers.build();
        assertThatThrownBy(() -> VERIFIER.verify(finalMethod, finalPath, finalQuery,
                finalHeaders))
                .isInstanceOfSatisfying(S3Exception.class, e -> assertThat(e.error())
                        .isEqualTo(S3Error.SignatureDoesNotMatch));
    }

    @Property(tries = 200)
    void presignedUrlsVerifyAndMutationsAreRefused(@ForAll("texts") String key,
            @ForAll @IntRange(min = 1, max = 604_800) int expiresSeconds,
            @ForAll @IntRange(min = 0, max = 2) int mutation) {
        String amzDate = HttpDates.formatAmzDate(NOW.minusSeconds(expiresSeconds / 2));
        String path = "/bucket/" + TestSigner.encode(key, false);
        List<String[]> query = new ArrayList<>(List.of(
                new String[] {"X-Amz-Algorithm", "AWS4-HMAC-SHA256"},
                new String[] {"X-Amz-Credential", ACCESS_KEY + "/" + amzDate.substring(0, 8)
                        + "/basalt-1/s3/aws4_request"},
                new String[] {"X-Amz-Date", amzDate},
                new String[] {"X-Amz-Expires", Integer.toString(expiresSeconds)},
                new String[] {"X-Amz-SignedHeaders", "host"},
                new String[] {"response-content-type", key}));
        String signature = TestSigner.signature(SECRET, amzDate, "basalt-1", "GET", path, query,
                Map.of("host", "bucket.s3.basalt.test"), "UNSIGNED-PAYLOAD");
        query.add(new String[] {"X-Amz-Signature", signature});
        RequestHeaders headers = RequestHeaders.of("Host", "bucket.s3.basalt.test");
        String rawQuery = TestSigner.rawQuery(query);
        Authentication auth = VERIFIER.verify("GET", path, QueryParameters.parse(rawQuery),
                headers);
        assertThat(auth.presigned()).isTrue();

        String mutatedPath = mutation == 0 ? path + "x" : path;
        String mutatedQuery = mutation == 1 ? rawQuery + "&partNumber=2" : rawQuery;
        RequestHeaders mutatedHeaders = mutation == 2
                ? RequestHeaders.of("Host", "other.s3.basalt.test") : headers;
        assertThatThrownBy(() -> VERIFIER.verify("GET", mutatedPath, QueryParameters.parse(
                mutatedQuery), mutatedHeaders))
                .isInstanceOfSatisfying(S3Exception.class, e -> assertThat(e.error())
                        .isEqualTo(S3Error.SignatureDoesNotMatch));
    }

    @Property(tries = 50)
    void dateHeaderSignsWhenXAmzDateIsAbsent(@ForAll("texts") String key) {
        String path = "/bucket/" + TestSigner.encode(key, false);
        Map<String, String> signed = TestSigner.mapOf("host", "s3.basalt.test",
                "date", HttpDates.formatHttpDate(NOW),
                "x-amz-content-sha256", "UNSIGNED-PAYLOAD");
        String signature = TestSigner.signature(SECRET, HttpDates.formatAmzDate(NOW), "basalt-1",
                "DELETE", path, List.of(), signed, "UNSIGNED-PAYLOAD");
        RequestHeaders.Builder headers = RequestHeaders.builder();
        signed.forEach(headers::add);
        headers.add("Authorization", "AWS4-HMAC-SHA256 Credential=" + ACCESS_KEY
                + "/20240229/basalt-1/s3/aws4_request,SignedHeaders="
                + TestSigner.signedHeaderList(signed) + ",Signature=" + signature);
        assertThat(VERIFIER.verify("DELETE", path, QueryParameters.empty(), headers.build())
                .requestTime()).isEqualTo(NOW.truncatedTo(java.time.temporal.ChronoUnit.SECONDS));
    }

    private static boolean hasBrokenSurrogate(String text) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (Character.isHighSurrogate(c)) {
                if (i + 1 >= text.length() || !Character.isLowSurrogate(text.charAt(i + 1))) {
                    return true;
                }
                i++;
            } else if (Character.isLowSurrogate(c)) {
                return true;
            }
        }
        return false;
    }
}
