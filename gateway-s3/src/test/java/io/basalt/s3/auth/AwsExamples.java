package io.basalt.s3.auth;

import io.basalt.s3.RequestHeaders;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.Map;
import java.util.Optional;

/**
 * The example requests of the S3 API reference, SigV4 pages ("Signature Calculations for the
 * Authorization Header: Transferring Payload in a Single Chunk", "... in Multiple Chunks",
 * "... Including Trailing Headers", "Authenticating Requests: Using Query Parameters"). They all
 * use this key pair, 2013-05-24 00:00:00 UTC and us-east-1; the signatures are the documented
 * ones.
 */
final class AwsExamples {
    static final String ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE";
    static final String SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    static final String AMZ_DATE = "20130524T000000Z";
    static final Instant TIME = Instant.parse("2013-05-24T00:00:00Z");
    static final String REGION = "us-east-1";
    static final String CREDENTIAL_SCOPE = "20130524/us-east-1/s3/aws4_request";

    /** Example "GET Object": the first 10 bytes of test.txt. */
    static final String GET_OBJECT_SIGNATURE =
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
    /** Example "PUT Object": "Welcome to Amazon S3." as test$file.text. */
    static final String PUT_OBJECT_SIGNATURE =
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd";
    static final String PUT_OBJECT_PAYLOAD_SHA256 =
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";
    /** Example "GET Bucket Lifecycle": a subresource without a value. */
    static final String GET_LIFECYCLE_SIGNATURE =
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543";
    /** Example "Get Bucket (List Objects)": ?max-keys=2&amp;prefix=J. */
    static final String LIST_OBJECTS_SIGNATURE =
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7";
    /** Query-parameter example: a presigned GET of test.txt valid for 86400 s. */
    static final String PRESIGNED_SIGNATURE =
            "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";

    /** Multiple-chunks example: seed, then 65536 and 1024 bytes of 'a', then the final chunk. */
    static final String STREAMING_SEED_SIGNATURE =
            "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
    static final String[] STREAMING_CHUNK_SIGNATURES = {
        "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
        "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
        "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
    };
    /** Trailing-headers example: same data, a CRC32C trailer, its signature. */
    static final String TRAILER_SEED_SIGNATURE =
            "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e";
    static final String[] TRAILER_CHUNK_SIGNATURES = {
        "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
        "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
        "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
    };
    static final String TRAILER_CRC32C = "sOO8/Q==";
    static final String TRAILER_SIGNATURE =
            "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435";

    private AwsExamples() {}

    static SecretLookup secrets() {
        Map<String, String> secrets = Map.of(ACCESS_KEY, SECRET);
        return accessKey -> Optional.ofNullable(secrets.get(accessKey));
    }

    static SigV4Verifier verifierAt(Instant now) {
        return new SigV4Verifier(REGION, secrets(), new SigningKeyCache(),
                Clock.fixed(now, ZoneOffset.UTC));
    }

    static String authorization(String signedHeaders, String signature) {
        return "AWS4-HMAC-SHA256 Credential=" + ACCESS_KEY + "/" + CREDENTIAL_SCOPE
                + ",SignedHeaders=" + signedHeaders + ",Signature=" + signature;
    }

    /** The headers of the "GET Object" example, signed. */
    static RequestHeaders.Builder getObjectHeaders() {
        return RequestHeaders.builder()
                .add("Host", "examplebucket.s3.amazonaws.com")
                .add("Range", "bytes=0-9")
                .add("x-amz-content-sha256", SigV4Crypto.EMPTY_SHA256)
                .add("x-amz-date", AMZ_DATE)
                .add("Authorization", authorization("host;range;x-amz-content-sha256;x-amz-date",
                        GET_OBJECT_SIGNATURE));
    }

    /** The headers of the multiple-chunks example, signed (seed signature). */
    static RequestHeaders streamingHeaders() {
        return RequestHeaders.builder()
                .add("Host", "s3.amazonaws.com")
                .add("x-amz-date", AMZ_DATE)
                .add("x-amz-storage-class", "REDUCED_REDUNDANCY")
                .add("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
                .add("Content-Encoding", "aws-chunked")
                .add("x-amz-decoded-content-length", "66560")
                .add("Content-Length", "66824")
                .add("Authorization", authorization("content-encoding;content-length;host;"
                        + "x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
                        + "x-amz-storage-class", STREAMING_SEED_SIGNATURE))
                .build();
    }

    /** The headers of the trailing-headers example, signed (seed signature). */
    static RequestHeaders trailerHeaders() {
        return RequestHeaders.builder()
                .add("Host", "s3.amazonaws.com")
                .add("x-amz-date", AMZ_DATE)
                .add("x-amz-storage-class", "REDUCED_REDUNDANCY")
                .add("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
                .add("Content-Encoding", "aws-chunked")
                .add("x-amz-decoded-content-length", "66560")
                .add("x-amz-trailer", "x-amz-checksum-crc32c")
                .add("Authorization", authorization("content-encoding;host;"
                        + "x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
                        + "x-amz-storage-class;x-amz-trailer", TRAILER_SEED_SIGNATURE))
                .build();
    }
}
