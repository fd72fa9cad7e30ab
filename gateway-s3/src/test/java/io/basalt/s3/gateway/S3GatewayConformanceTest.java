package io.basalt.s3.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.basalt.s3.RequestHeaders;
import java.io.ByteArrayInputStream;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.BucketVersioningStatus;
import software.amazon.awssdk.services.s3.model.ChecksumAlgorithm;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.NoSuchBucketException;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.UploadPartResponse;

/**
 * Behaviour that Ceph's s3-tests found differing from S3 (docs/objects.md, "Conformance:
 * ceph/s3-tests"), each pinned to the S3 API reference through the AWS SDK or raw requests.
 */
class S3GatewayConformanceTest {
    private static GatewayFixture fixture;
    private static S3Client s3;
    private static RawS3 raw;

    @BeforeAll
    static void start() {
        fixture = new GatewayFixture();
        s3 = fixture.client();
        raw = new RawS3(fixture.endpoint, GatewayFixture.ACCESS_KEY, GatewayFixture.SECRET);
    }

    @AfterAll
    static void stop() {
        s3.close();
        fixture.close();
    }

    private static String errorCode(Throwable e) {
        return ((S3Exception) e).awsErrorDetails().errorCode();
    }

    @Test
    void recreatingOwnBucketIsOkInUsEast1AndAlreadyOwnedElsewhere() {
        s3.createBucket(b -> b.bucket("recreate"));
        s3.createBucket(b -> b.bucket("recreate"));
        try (S3Client other = fixture.client(GatewayFixture.OTHER_ACCESS_KEY,
                GatewayFixture.OTHER_SECRET)) {
            assertThatThrownBy(() -> other.createBucket(b -> b.bucket("recreate")))
                    .satisfies(e -> assertThat(errorCode(e)).isEqualTo("BucketAlreadyExists"));
        }
        try (GatewayFixture euWest = new GatewayFixture(S3Gateway.Config.defaults()
                .withRegion("eu-west-1"));
                S3Client client = euWest.client()) {
            client.createBucket(b -> b.bucket("recreate"));
            assertThatThrownBy(() -> client.createBucket(b -> b.bucket("recreate")))
                    .satisfies(e -> assertThat(errorCode(e))
                            .isEqualTo("BucketAlreadyOwnedByYou"));
        }
    }

    @Test
    void deleteBucketAbortsUploadsInProgressWhenNoObjectIsLeft() {
        s3.createBucket(b -> b.bucket("uploads-only"));
        int logsBefore = fixture.store.logCount();
        for (int i = 0; i < 3; i++) {
            String key = "u" + i;
            String uploadId = s3.createMultipartUpload(b -> b.bucket("uploads-only").key(key))
                    .uploadId();
            s3.uploadPart(b -> b.bucket("uploads-only").key(key).uploadId(uploadId)
                    .partNumber(1), RequestBody.fromString("part"));
        }
        s3.deleteBucket(b -> b.bucket("uploads-only"));
        assertThatThrownBy(() -> s3.headBucket(b -> b.bucket("uploads-only")))
                .isInstanceOf(NoSuchBucketException.class);
        // The parts' bytes were freed (aborted), not left behind with the bucket.
        assertThat(fixture.store.logCount()).isEqualTo(logsBefore);
    }

    @Test
    void contentEncodingIsKeptAsSentWithoutAwsChunked() {
        s3.createBucket(b -> b.bucket("encodings"));
        Map<String, String> sentToStored = new LinkedHashMap<>();
        sentToStored.put("deflate, gzip", "deflate, gzip");
        sentToStored.put("deflate,gzip", "deflate,gzip");
        sentToStored.put("gzip, aws-chunked", "gzip");
        sentToStored.put("aws-chunked, deflate,gzip", "deflate,gzip");
        sentToStored.put("deflate, aws-chunked, gzip", "deflate, gzip");
        sentToStored.forEach((sent, stored) -> {
            s3.putObject(b -> b.bucket("encodings").key("k").contentEncoding(sent),
                    RequestBody.fromString("x"));
            assertThat(s3.headObject(b -> b.bucket("encodings").key("k")).contentEncoding())
                    .as(sent).isEqualTo(stored);
        });
        assertThat(ObjectHeaders.withoutAwsChunked("aws-chunked")).isEmpty();
    }

    @Test
    void writesToASuspendedBucketDoNotNameTheNullVersion() {
        s3.createBucket(b -> b.bucket("suspended-writes"));
        s3.putBucketVersioning(b -> b.bucket("suspended-writes").versioningConfiguration(
                v -> v.status(BucketVersioningStatus.ENABLED)));
        String enabledId = s3.putObject(b -> b.bucket("suspended-writes").key("k"),
                RequestBody.fromString("one")).versionId();
        assertThat(enabledId).isNotNull().isNotEqualTo("null");
        s3.putBucketVersioning(b -> b.bucket("suspended-writes").versioningConfiguration(
                v -> v.status(BucketVersioningStatus.SUSPENDED)));
        assertThat(s3.putObject(b -> b.bucket("suspended-writes").key("k"),
                RequestBody.fromString("two")).versionId()).isNull();
        assertThat(s3.copyObject(b -> b.sourceBucket("suspended-writes").sourceKey("k")
                .destinationBucket("suspended-writes").destinationKey("copy")).versionId())
                .isNull();
        String uploadId = s3.createMultipartUpload(b -> b.bucket("suspended-writes")
                .key("mp")).uploadId();
        String etag = s3.uploadPart(b -> b.bucket("suspended-writes").key("mp")
                .uploadId(uploadId).partNumber(1), RequestBody.fromString("part")).eTag();
        assertThat(s3.completeMultipartUpload(b -> b.bucket("suspended-writes").key("mp")
                .uploadId(uploadId).multipartUpload(m -> m.parts(CompletedPart.builder()
                        .partNumber(1).eTag(etag).build()))).versionId()).isNull();
        assertThat(s3.headObject(b -> b.bucket("suspended-writes").key("k")).versionId())
                .isEqualTo("null");
    }

    @Test
    void wireHeaderValuesAreReadAsUtf8WhenTheyAreUtf8() {
        assertThat(RequestHeaders.fromWireValue("Hello World\u00c3\u00a9"))
                .isEqualTo("Hello World\u00e9");
        assertThat(RequestHeaders.fromWireValue("\u00e4\u00b8\u00ad")).isEqualTo("\u4e2d");
        // A lone Latin-1 byte is not UTF-8: kept as the client sent and signed it.
        assertThat(RequestHeaders.fromWireValue("Hello World\u00e9"))
                .isEqualTo("Hello World\u00e9");
        assertThat(RequestHeaders.fromWireValue("plain ascii")).isEqualTo("plain ascii");
    }

    @Test
    void utf8UserMetadataIsSignedAndStoredAsText() throws Exception {
        s3.createBucket(b -> b.bucket("unicode-metadata"));
        byte[] body = "bar".getBytes(StandardCharsets.UTF_8);
        String value = "Hello World\u00e9 \u4e2d";
        Map<String, String> signed = raw.sign("PUT", "/unicode-metadata/foo", "",
                Map.of("x-amz-meta-meta1", value), RawS3.hex(RawS3.sha256(body)));
        // java.net.http refuses non-ASCII header values; boto3 and the SDKs send UTF-8 bytes.
        StringBuilder head = new StringBuilder("PUT /unicode-metadata/foo HTTP/1.1\r\n");
        signed.forEach((name, headerValue) -> head.append(name).append(": ")
                .append(headerValue).append("\r\n"));
        head.append("content-length: ").append(body.length)
                .append("\r\nconnection: close\r\n\r\n");
        try (Socket socket = new Socket(fixture.endpoint.getHost(), fixture.endpoint.getPort())) {
            socket.getOutputStream().write(head.toString().getBytes(StandardCharsets.UTF_8));
            socket.getOutputStream().write(body);
            String statusLine = new String(socket.getInputStream().readNBytes(12),
                    StandardCharsets.ISO_8859_1);
            assertThat(statusLine).isEqualTo("HTTP/1.1 200");
        }
        assertThat(fixture.store.head("unicode-metadata", "foo", null).join().orElseThrow()
                .headers()).containsEntry("x-amz-meta-meta1", value);
    }

    @Test
    void completeChecksumHeaderIsTheObjectsCompositeNotTheXmlBodys() throws Exception {
        s3.createBucket(b -> b.bucket("complete-checksum"));
        byte[] part = "part one".getBytes(StandardCharsets.UTF_8);
        String partSha256 = Base64.getEncoder().encodeToString(RawS3.sha256(part));
        String composite = Base64.getEncoder().encodeToString(RawS3.sha256(
                RawS3.sha256(part))) + "-1";
        String uploadId = s3.createMultipartUpload(b -> b.bucket("complete-checksum").key("k")
                .checksumAlgorithm(ChecksumAlgorithm.SHA256)).uploadId();
        UploadPartResponse uploaded = s3.uploadPart(b -> b.bucket("complete-checksum").key("k")
                .uploadId(uploadId).partNumber(1).checksumAlgorithm(ChecksumAlgorithm.SHA256),
                RequestBody.fromBytes(part));
        assertThat(uploaded.checksumSHA256()).isEqualTo(partSha256);
        CompletedPart completed = CompletedPart.builder().partNumber(1)
                .eTag(uploaded.eTag()).checksumSHA256(uploaded.checksumSHA256()).build();
        String wrong = Base64.getEncoder().encodeToString(RawS3.sha256(new byte[1]));
        assertThatThrownBy(() -> s3.completeMultipartUpload(b -> b.bucket("complete-checksum")
                .key("k").uploadId(uploadId).checksumSHA256(wrong)
                .multipartUpload(m -> m.parts(completed))))
                .satisfies(e -> assertThat(errorCode(e)).isEqualTo("BadDigest"));
        // The refused complete left the upload in progress; the right composite completes it.
        assertThat(s3.completeMultipartUpload(b -> b.bucket("complete-checksum").key("k")
                .uploadId(uploadId).checksumSHA256(composite)
                .multipartUpload(m -> m.parts(completed))).checksumSHA256())
                .isEqualTo(composite);
        // A repeat (an SDK retry) is checked against the completed object.
        assertThat(s3.completeMultipartUpload(b -> b.bucket("complete-checksum").key("k")
                .uploadId(uploadId).checksumSHA256(composite)
                .multipartUpload(m -> m.parts(completed))).checksumSHA256())
                .isEqualTo(composite);
        assertThatThrownBy(() -> s3.completeMultipartUpload(b -> b.bucket("complete-checksum")
                .key("k").uploadId(uploadId).checksumSHA256(wrong)
                .multipartUpload(m -> m.parts(completed))))
                .satisfies(e -> assertThat(errorCode(e)).isEqualTo("BadDigest"));
    }

    /**
     * A CompleteMultipartUpload repeated after it succeeded answers the same object (200, same
     * ETag and version), as S3 does: the SDKs retry a complete whose answer timed out, and
     * s3-tests' test_multipart_upload completes twice on purpose. Other calls on the completed
     * upload stay NoSuchUpload.
     */
    @Test
    void aRepeatedCompleteAnswersTheCompletedObject() {
        s3.createBucket(b -> b.bucket("complete-twice"));
        s3.putBucketVersioning(b -> b.bucket("complete-twice").versioningConfiguration(
                v -> v.status(BucketVersioningStatus.ENABLED)));
        String uploadId = s3.createMultipartUpload(b -> b.bucket("complete-twice").key("k"))
                .uploadId();
        String etag = s3.uploadPart(b -> b.bucket("complete-twice").key("k").uploadId(uploadId)
                .partNumber(1), RequestBody.fromString("only part")).eTag();
        CompletedPart part = CompletedPart.builder().partNumber(1).eTag(etag).build();
        var first = s3.completeMultipartUpload(b -> b.bucket("complete-twice").key("k")
                .uploadId(uploadId).multipartUpload(m -> m.parts(part)));
        var second = s3.completeMultipartUpload(b -> b.bucket("complete-twice").key("k")
                .uploadId(uploadId).multipartUpload(m -> m.parts(part)));
        assertThat(second.eTag()).isEqualTo(first.eTag()).endsWith("-1\"");
        assertThat(second.versionId()).isEqualTo(first.versionId());
        assertThat(s3.listObjectVersions(b -> b.bucket("complete-twice")).versions())
                .as("no second version").hasSize(1);
        assertThatThrownBy(() -> s3.listParts(b -> b.bucket("complete-twice").key("k")
                .uploadId(uploadId)))
                .satisfies(e -> assertThat(errorCode(e)).isEqualTo("NoSuchUpload"));
        assertThatThrownBy(() -> s3.completeMultipartUpload(b -> b.bucket("complete-twice")
                .key("k").uploadId("never-created").multipartUpload(m -> m.parts(part))))
                .satisfies(e -> assertThat(errorCode(e)).isEqualTo("NoSuchUpload"));
    }

    /**
     * A body sent with Transfer-Encoding: chunked and no Content-Length (java.net.http chunks a
     * stream of unknown length, as Go's client does) is taken, streamed in writes of at most
     * 1 MiB, for PutObject (unsigned and signed payloads) and UploadPart.
     */
    @Test
    void httpChunkedBodiesWithoutContentLengthAreStreamedIn() throws Exception {
        s3.createBucket(b -> b.bucket("http-chunked"));
        byte[] data = new byte[(3 << 20) + 12345];
        new java.util.Random(16).nextBytes(data);
        fixture.store.resetOutstandingWriteBytesMax();
        HttpResponse<String> put = sendChunked("PUT", "/http-chunked/unsigned", "", data,
                RawS3.UNSIGNED);
        assertThat(put.statusCode()).as(put.body()).isEqualTo(200);
        assertThat(put.headers().firstValue("etag")).contains(
                "\"" + RawS3.hex(RawS3.md5(data)) + "\"");
        assertThat(fixture.store.outstandingWriteBytesMax()).as("bytes in one store write")
                .isPositive().isLessThanOrEqualTo(1 << 20);
        assertThat(s3.getObjectAsBytes(b -> b.bucket("http-chunked").key("unsigned"))
                .asByteArray()).isEqualTo(data);

        HttpResponse<String> signed = sendChunked("PUT", "/http-chunked/signed", "", data,
                RawS3.hex(RawS3.sha256(data)));
        assertThat(signed.statusCode()).as(signed.body()).isEqualTo(200);
        HttpResponse<String> wrongHash = sendChunked("PUT", "/http-chunked/wrong", "", data,
                RawS3.hex(RawS3.sha256(new byte[1])));
        assertThat(wrongHash.body()).contains("XAmzContentSHA256Mismatch");
        assertThat(fixture.store.head("http-chunked", "wrong", null).join()).isEmpty();

        String uploadId = s3.createMultipartUpload(b -> b.bucket("http-chunked").key("mp"))
                .uploadId();
        HttpResponse<String> part = sendChunked("PUT", "/http-chunked/mp",
                "partNumber=1&uploadId=" + uploadId, data, RawS3.UNSIGNED);
        assertThat(part.statusCode()).as(part.body()).isEqualTo(200);
        String etag = part.headers().firstValue("etag").orElseThrow();
        s3.completeMultipartUpload(b -> b.bucket("http-chunked").key("mp").uploadId(uploadId)
                .multipartUpload(m -> m.parts(CompletedPart.builder().partNumber(1).eTag(etag)
                        .build())));
        assertThat(s3.getObjectAsBytes(b -> b.bucket("http-chunked").key("mp")).asByteArray())
                .isEqualTo(data);
    }

    /** Sends {@code body} with Transfer-Encoding: chunked (a stream of unknown length). */
    private static HttpResponse<String> sendChunked(String method, String path, String query,
            byte[] body, String payloadHash) throws Exception {
        Map<String, String> signed = raw.sign(method, path, query, Map.of(), payloadHash);
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(fixture.endpoint + path
                + (query.isEmpty() ? "" : "?" + query)));
        signed.forEach((name, value) -> {
            if (!name.equals("host")) {
                request.header(name, value);
            }
        });
        request.method(method, HttpRequest.BodyPublishers.ofInputStream(
                () -> new ByteArrayInputStream(body)));
        return HttpClient.newHttpClient().send(request.build(),
                HttpResponse.BodyHandlers.ofString());
    }

    /**
     * The AWS SDK v2 given a precomputed checksum and its algorithm (checksumSHA256 with
     * checksumAlgorithm SHA256) sends the value as a header over STREAMING-AWS4-HMAC-SHA256-PAYLOAD
     * (no trailer in the body) and still names it in x-amz-trailer; that was refused as
     * InvalidRequest. The header's value is checked: a wrong one is BadDigest.
     */
    @Test
    void sdkUploadsWithAPrecomputedSha256AreTaken() throws Exception {
        s3.createBucket(b -> b.bucket("precomputed"));
        byte[] part = "precomputed part".getBytes(StandardCharsets.UTF_8);
        String sha256 = Base64.getEncoder().encodeToString(RawS3.sha256(part));
        String uploadId = s3.createMultipartUpload(b -> b.bucket("precomputed").key("k")
                .checksumAlgorithm(ChecksumAlgorithm.SHA256)).uploadId();
        UploadPartResponse uploaded = s3.uploadPart(b -> b.bucket("precomputed").key("k")
                .uploadId(uploadId).partNumber(1).checksumAlgorithm(ChecksumAlgorithm.SHA256)
                .checksumSHA256(sha256), RequestBody.fromBytes(part));
        assertThat(uploaded.checksumSHA256()).isEqualTo(sha256);
        assertThat(s3.putObject(b -> b.bucket("precomputed").key("whole")
                .checksumAlgorithm(ChecksumAlgorithm.SHA256).checksumSHA256(sha256),
                RequestBody.fromBytes(part)).checksumSHA256()).isEqualTo(sha256);
        String wrong = Base64.getEncoder().encodeToString(RawS3.sha256(new byte[1]));
        assertThatThrownBy(() -> s3.uploadPart(b -> b.bucket("precomputed").key("k")
                .uploadId(uploadId).partNumber(2).checksumAlgorithm(ChecksumAlgorithm.SHA256)
                .checksumSHA256(wrong), RequestBody.fromBytes(part)))
                .satisfies(e -> assertThat(errorCode(e)).isEqualTo("BadDigest"));
        String composite = Base64.getEncoder().encodeToString(RawS3.sha256(
                RawS3.sha256(part))) + "-1";
        assertThat(s3.completeMultipartUpload(b -> b.bucket("precomputed").key("k")
                .uploadId(uploadId).multipartUpload(m -> m.parts(CompletedPart.builder()
                        .partNumber(1).eTag(uploaded.eTag()).checksumSHA256(sha256).build())))
                .checksumSHA256()).isEqualTo(composite);
    }
}
