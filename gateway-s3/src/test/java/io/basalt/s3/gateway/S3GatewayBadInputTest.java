package io.basalt.s3.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
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
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.S3Exception;

/**
 * Requests the gateway must refuse, each with the S3 error AWS answers, an x-amz-request-id, and
 * nothing stored. Raw HTTP with a test-side signer where the SDK would not send them.
 */
class S3GatewayBadInputTest {
    private static GatewayFixture fixture;
    private static S3Client s3;
    private static RawS3 raw;
    private static final String BUCKET = "bad-input";

    @BeforeAll
    static void start() {
        fixture = new GatewayFixture();
        s3 = fixture.client();
        raw = new RawS3(fixture.endpoint, GatewayFixture.ACCESS_KEY, GatewayFixture.SECRET);
        s3.createBucket(b -> b.bucket(BUCKET));
    }

    @AfterAll
    static void stop() {
        s3.close();
        fixture.close();
    }

    private static void assertError(HttpResponse<String> response, int status, String code) {
        assertThat(response.statusCode()).as(response.body()).isEqualTo(status);
        assertThat(response.body()).contains("<Code>" + code + "</Code>");
        assertThat(response.headers().firstValue("x-amz-request-id")).isPresent();
    }

    private static String errorCode(Throwable e) {
        return ((S3Exception) e).awsErrorDetails().errorCode();
    }

    @Test
    void wrongSecretIsSignatureDoesNotMatch() {
        try (S3Client wrong = fixture.client(GatewayFixture.ACCESS_KEY, "not-the-secret")) {
            assertThatThrownBy(() -> wrong.listBuckets()).isInstanceOf(S3Exception.class)
                    .satisfies(e -> assertThat(errorCode(e)).isEqualTo("SignatureDoesNotMatch"));
            assertThatThrownBy(() -> wrong.putObject(b -> b.bucket(BUCKET).key("w"),
                    RequestBody.fromString("w"))).isInstanceOf(S3Exception.class)
                    .satisfies(e -> assertThat(((S3Exception) e).statusCode()).isEqualTo(403));
        }
        assertThat(s3.listObjectsV2(b -> b.bucket(BUCKET).prefix("w")).contents()).isEmpty();
    }

    @Test
    void unknownAccessKeyIsInvalidAccessKeyId() {
        try (S3Client unknown = fixture.client("AKIDNOBODY", "whatever")) {
            assertThatThrownBy(() -> unknown.listBuckets()).isInstanceOf(S3Exception.class)
                    .satisfies(e -> assertThat(errorCode(e)).isEqualTo("InvalidAccessKeyId"));
        }
    }

    @Test
    void anonymousIsAccessDenied() throws Exception {
        assertError(raw.anonymous("GET", "/"), 403, "AccessDenied");
        assertError(raw.anonymous("GET", "/" + BUCKET + "/some-key"), 403, "AccessDenied");
    }

    @Test
    void wrongContentMd5IsBadDigestAndStoresNothing() throws Exception {
        byte[] body = "the body".getBytes(StandardCharsets.UTF_8);
        String otherMd5 = Base64.getEncoder().encodeToString(RawS3.md5(
                "another body".getBytes(StandardCharsets.UTF_8)));
        int logsBefore = fixture.store.logCount();
        assertError(raw.send("PUT", "/" + BUCKET + "/md5", "", Map.of("content-md5", otherMd5),
                body, RawS3.UNSIGNED), 400, "BadDigest");
        assertError(raw.send("PUT", "/" + BUCKET + "/md5", "", Map.of("content-md5", "xyz"),
                body, RawS3.UNSIGNED), 400, "InvalidDigest");
        assertThat(fixture.store.openBodyCount()).isZero();
        assertThat(fixture.store.logCount()).isEqualTo(logsBefore);
        assertThatThrownBy(() -> s3.headObject(b -> b.bucket(BUCKET).key("md5")))
                .isInstanceOf(S3Exception.class);
        String rightMd5 = Base64.getEncoder().encodeToString(RawS3.md5(body));
        HttpResponse<String> ok = raw.send("PUT", "/" + BUCKET + "/md5", "",
                Map.of("content-md5", rightMd5), body, RawS3.UNSIGNED);
        assertThat(ok.statusCode()).as(ok.body()).isEqualTo(200);
    }

    @Test
    void wrongPayloadHashIsRefusedAndStoresNothing() throws Exception {
        byte[] body = "signed payload".getBytes(StandardCharsets.UTF_8);
        String otherHash = RawS3.hex(RawS3.sha256("something else".getBytes(
                StandardCharsets.UTF_8)));
        assertError(raw.send("PUT", "/" + BUCKET + "/sha", "", Map.of(), body, otherHash), 400,
                "XAmzContentSHA256Mismatch");
        assertThat(fixture.store.openBodyCount()).isZero();
        HttpResponse<String> ok = raw.send("PUT", "/" + BUCKET + "/sha", "", Map.of(), body,
                null);
        assertThat(ok.statusCode()).as(ok.body()).isEqualTo(200);
        assertThat(s3.getObjectAsBytes(b -> b.bucket(BUCKET).key("sha")).asUtf8String())
                .isEqualTo("signed payload");
    }

    @Test
    void wrongChecksumHeaderIsBadDigest() throws Exception {
        byte[] body = "checked".getBytes(StandardCharsets.UTF_8);
        assertError(raw.send("PUT", "/" + BUCKET + "/crc", "", Map.of("x-amz-checksum-crc32",
                "AAAAAA=="), body, RawS3.UNSIGNED), 400, "BadDigest");
        assertThat(fixture.store.openBodyCount()).isZero();
    }

    @Test
    void unsignedTrailerUploadChecksTheTrailingChecksum() throws Exception {
        byte[] data = "hello, trailer".getBytes(StandardCharsets.UTF_8);
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        crc.update(data);
        String good = Base64.getEncoder().encodeToString(java.nio.ByteBuffer.allocate(4)
                .putInt((int) crc.getValue()).array());
        Map<String, String> headers = Map.of("content-encoding", "aws-chunked",
                "x-amz-decoded-content-length", Integer.toString(data.length),
                "x-amz-trailer", "x-amz-checksum-crc32");
        for (String checksum : new String[] {"AAAAAA==", good}) {
            byte[] body = (Integer.toHexString(8) + "\r\n" + "hello, t" + "\r\n"
                    + Integer.toHexString(6) + "\r\n" + "railer" + "\r\n" + "0\r\n"
                    + "x-amz-checksum-crc32:" + checksum + "\r\n\r\n").getBytes(
                            StandardCharsets.UTF_8);
            HttpResponse<String> response = raw.send("PUT", "/" + BUCKET + "/trailer", "",
                    headers, body, "STREAMING-UNSIGNED-PAYLOAD-TRAILER");
            if (checksum.equals(good)) {
                assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
                assertThat(response.headers().firstValue("x-amz-checksum-crc32")).contains(good);
            } else {
                assertError(response, 400, "BadDigest");
                assertThat(fixture.store.openBodyCount()).isZero();
            }
        }
        var got = s3.getObjectAsBytes(b -> b.bucket(BUCKET).key("trailer").checksumMode(
                software.amazon.awssdk.services.s3.model.ChecksumMode.ENABLED));
        assertThat(got.asUtf8String()).isEqualTo("hello, trailer");
        assertThat(got.response().checksumCRC32()).isEqualTo(good);
        assertThat(got.response().contentEncoding()).isNull();
    }

    @Test
    void headersOverTheLimitGetAnS3Error() throws Exception {
        try (Socket socket = new Socket(fixture.endpoint.getHost(), fixture.endpoint.getPort())) {
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            out.write(("GET /" + BUCKET + " HTTP/1.1\r\nhost: x\r\nx-big: " + "a".repeat(
                    20_000) + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.flush();
            String response = new String(socket.getInputStream().readAllBytes(),
                    StandardCharsets.UTF_8);
            assertThat(response).startsWith("HTTP/1.1 431").containsIgnoringCase(
                    "x-amz-request-id").contains("<Code>InvalidRequest</Code>");
        }
    }

    @Test
    void createBucketTakesAPolicyAndChecksTheLocation() throws Exception {
        assertThat(raw.send("PUT", "/replicated", "", Map.of("x-basalt-storage-policy", "rep3"),
                null, null).statusCode()).isEqualTo(200);
        assertThat(fixture.store.bucket("replicated").get().orElseThrow().policyName())
                .isEqualTo("rep3");
        assertThat(raw.send("PUT", "/default-policy", "", Map.of(), null, null).statusCode())
                .isEqualTo(200);
        assertThat(fixture.store.bucket("default-policy").get().orElseThrow().policyName())
                .isEqualTo("ec4+2");
        assertError(raw.send("PUT", "/bogus-policy", "", Map.of("x-basalt-storage-policy",
                "bogus"), null, null), 400, "InvalidArgument");
        byte[] elsewhere = ("<CreateBucketConfiguration><LocationConstraint>eu-west-1"
                + "</LocationConstraint></CreateBucketConfiguration>").getBytes(
                        StandardCharsets.UTF_8);
        assertError(raw.send("PUT", "/elsewhere", "", Map.of(), elsewhere, null), 400,
                "IllegalLocationConstraintException");
        byte[] here = ("<CreateBucketConfiguration><LocationConstraint>us-east-1"
                + "</LocationConstraint></CreateBucketConfiguration>").getBytes(
                        StandardCharsets.UTF_8);
        assertThat(raw.send("PUT", "/here", "", Map.of(), here, null).statusCode())
                .isEqualTo(200);
    }

    @Test
    void invalidBucketName() throws Exception {
        assertError(raw.send("PUT", "/Bad_Bucket", "", Map.of(), null, null), 400,
                "InvalidBucketName");
        assertError(raw.send("PUT", "/ab", "", Map.of(), null, null), 400, "InvalidBucketName");
    }

    @Test
    void keyOverTheLimitIsKeyTooLong() throws Exception {
        String key = "k".repeat(1025);
        assertError(raw.send("PUT", "/" + BUCKET + "/" + key, "", Map.of(),
                new byte[] {1}, null), 400, "KeyTooLongError");
        String justFits = "é".repeat(512); // 1024 bytes of UTF-8
        String encoded = "%C3%A9".repeat(512);
        HttpResponse<String> ok = raw.send("PUT", "/" + BUCKET + "/" + encoded, "", Map.of(),
                new byte[] {1}, null);
        assertThat(ok.statusCode()).as(ok.body()).isEqualTo(200);
        assertThat(s3.headObject(b -> b.bucket(BUCKET).key(justFits)).contentLength())
                .isEqualTo(1);
    }

    @Test
    void tooSmallPartIsEntityTooSmall() {
        String uploadId = s3.createMultipartUpload(b -> b.bucket(BUCKET).key("small-parts"))
                .uploadId();
        String first = s3.uploadPart(b -> b.bucket(BUCKET).key("small-parts").uploadId(uploadId)
                .partNumber(1), RequestBody.fromString("tiny")).eTag();
        String second = s3.uploadPart(b -> b.bucket(BUCKET).key("small-parts")
                .uploadId(uploadId).partNumber(2), RequestBody.fromString("last")).eTag();
        assertThatThrownBy(() -> s3.completeMultipartUpload(b -> b.bucket(BUCKET)
                .key("small-parts").uploadId(uploadId).multipartUpload(m -> m.parts(
                        CompletedPart.builder().partNumber(1).eTag(first).build(),
                        CompletedPart.builder().partNumber(2).eTag(second).build()))))
                .isInstanceOf(S3Exception.class)
                .satisfies(e -> assertThat(errorCode(e)).isEqualTo("EntityTooSmall"));
        // A single small part is fine: it is the last.
        s3.completeMultipartUpload(b -> b.bucket(BUCKET).key("small-parts").uploadId(uploadId)
                .multipartUpload(m -> m.parts(CompletedPart.builder().partNumber(2)
                        .eTag(second).build())));
        assertThat(s3.getObjectAsBytes(b -> b.bucket(BUCKET).key("small-parts"))
                .asUtf8String()).isEqualTo("last");
    }

    @Test
    void wrongPartListIsInvalidPart() {
        String uploadId = s3.createMultipartUpload(b -> b.bucket(BUCKET).key("wrong-parts"))
                .uploadId();
        String etag = s3.uploadPart(b -> b.bucket(BUCKET).key("wrong-parts").uploadId(uploadId)
                .partNumber(1), RequestBody.fromString("part")).eTag();
        assertThatThrownBy(() -> s3.completeMultipartUpload(b -> b.bucket(BUCKET)
                .key("wrong-parts").uploadId(uploadId).multipartUpload(m -> m.parts(
                        CompletedPart.builder().partNumber(1)
                                .eTag("\"0123456789abcdef0123456789abcdef\"").build()))))
                .isInstanceOf(S3Exception.class)
                .satisfies(e -> assertThat(errorCode(e)).isEqualTo("InvalidPart"));
        assertThatThrownBy(() -> s3.completeMultipartUpload(b -> b.bucket(BUCKET)
                .key("wrong-parts").uploadId(uploadId).multipartUpload(m -> m.parts(
                        CompletedPart.builder().partNumber(1).eTag(etag).build(),
                        CompletedPart.builder().partNumber(7).eTag(etag).build()))))
                .isInstanceOf(S3Exception.class)
                .satisfies(e -> assertThat(errorCode(e)).isEqualTo("InvalidPart"));
        assertThatThrownBy(() -> s3.uploadPart(b -> b.bucket(BUCKET).key("wrong-parts")
                .uploadId("no-such-upload").partNumber(1), RequestBody.fromString("x")))
                .isInstanceOf(S3Exception.class)
                .satisfies(e -> assertThat(errorCode(e)).isEqualTo("NoSuchUpload"));
    }

    @Test
    void partsOutOfOrderInTheListIsInvalidPartOrder() throws Exception {
        String xml = "<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>a</ETag>"
                + "</Part><Part><PartNumber>1</PartNumber><ETag>b</ETag></Part>"
                + "</CompleteMultipartUpload>";
        String uploadId = s3.createMultipartUpload(b -> b.bucket(BUCKET).key("order"))
                .uploadId();
        assertError(raw.send("POST", "/" + BUCKET + "/order", "uploadId=" + uploadId, Map.of(),
                xml.getBytes(StandardCharsets.UTF_8), null), 400, "InvalidPartOrder");
    }

    @Test
    void nonEmptyBucketIsBucketNotEmpty() throws Exception {
        s3.createBucket(b -> b.bucket("not-empty"));
        s3.putObject(b -> b.bucket("not-empty").key("x"), RequestBody.fromString("x"));
        assertError(raw.send("DELETE", "/not-empty", "", Map.of(), null, null), 409,
                "BucketNotEmpty");
        // An object keeps its bucket's uploads in progress: a refused delete aborts none.
        String uploadId = s3.createMultipartUpload(b -> b.bucket("not-empty").key("u"))
                .uploadId();
        assertError(raw.send("DELETE", "/not-empty", "", Map.of(), null, null), 409,
                "BucketNotEmpty");
        assertThat(s3.listMultipartUploads(b -> b.bucket("not-empty")).uploads())
                .extracting(upload -> upload.uploadId()).containsExactly(uploadId);
        // Uploads alone do not keep a bucket: S3 deletes it and them (Conformance test).
        s3.deleteObject(b -> b.bucket("not-empty").key("x"));
        assertThat(raw.send("DELETE", "/not-empty", "", Map.of(), null, null).statusCode())
                .isEqualTo(204);
    }

    @Test
    void malformedXmlIsMalformedXml() throws Exception {
        byte[] garbage = "<Delete><Object><Key>a</Key></Object>".getBytes(
                StandardCharsets.UTF_8);
        assertError(raw.send("POST", "/" + BUCKET, "delete", Map.of(), garbage, null), 400,
                "MalformedXML");
        assertError(raw.send("PUT", "/" + BUCKET, "versioning", Map.of(),
                "<VersioningConfiguration><Status>On</Status></VersioningConfiguration>"
                        .getBytes(StandardCharsets.UTF_8), null), 400, "MalformedXML");
        assertError(raw.send("PUT", "/" + BUCKET + "/x", "tagging", Map.of(),
                "not xml at all".getBytes(StandardCharsets.UTF_8), null), 400, "MalformedXML");
        byte[] doctype = ("<?xml version=\"1.0\"?><!DOCTYPE d [<!ENTITY e \"x\">]>"
                + "<Delete><Object><Key>&e;</Key></Object></Delete>").getBytes(
                        StandardCharsets.UTF_8);
        assertError(raw.send("POST", "/" + BUCKET, "delete", Map.of(), doctype, null), 400,
                "MalformedXML");
    }

    @Test
    void oversizedXmlIsMaxMessageLengthExceeded() throws Exception {
        byte[] big = ("<Tagging><TagSet>" + "<Tag><Key>k</Key><Value>v</Value></Tag>".repeat(
                3000) + "</TagSet></Tagging>").getBytes(StandardCharsets.UTF_8);
        assertError(raw.send("PUT", "/" + BUCKET + "/x", "tagging", Map.of(), big, null), 400,
                "MaxMessageLengthExceeded");
    }

    @Test
    void unknownSubresourceIsNotImplemented() throws Exception {
        assertError(raw.send("GET", "/" + BUCKET, "acl", Map.of(), null, null), 501,
                "NotImplemented");
        assertError(raw.send("PUT", "/" + BUCKET + "/k", "acl", Map.of(), new byte[] {1},
                null), 501, "NotImplemented");
    }

    @Test
    void missingContentLengthOnPlainPut() throws Exception {
        // Neither Content-Length nor Transfer-Encoding: chunked (which is taken, see
        // S3GatewayConformanceTest.httpChunkedBodiesWithoutContentLengthAreStreamedIn).
        String response = rawExchange("PUT", "/" + BUCKET + "/no-length", Map.of(),
                RawS3.UNSIGNED, new byte[0], false);
        assertThat(response).startsWith("HTTP/1.1 411").contains(
                "<Code>MissingContentLength</Code>");
    }

    @Test
    void declaredLengthOverFiveGibIsEntityTooLarge() throws Exception {
        String response = rawExchange("PUT", "/" + BUCKET + "/huge",
                Map.of("content-length", Long.toString(6L << 30), "expect", "100-continue"),
                RawS3.UNSIGNED, new byte[0], false);
        assertThat(response).startsWith("HTTP/1.1 400").contains("<Code>EntityTooLarge</Code>");
        assertThat(fixture.store.openBodyCount()).isZero();
    }

    @Test
    void clientGoneMidUploadAbortsTheBody() throws Exception {
        Map<String, String> headers = new LinkedHashMap<>();
        headers.put("content-length", Integer.toString(8 << 20));
        try (Socket socket = new Socket(fixture.endpoint.getHost(), fixture.endpoint.getPort())) {
            OutputStream out = socket.getOutputStream();
            out.write(requestHead("PUT", "/" + BUCKET + "/dropped", headers, RawS3.UNSIGNED));
            out.write(new byte[1 << 20]);
            out.flush();
            // The body has started: a writer is open. Then the client disappears.
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (fixture.store.openBodyCount() == 0 && System.nanoTime() < deadline) {
                Thread.onSpinWait();
            }
        }
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (fixture.store.openBodyCount() != 0 && System.nanoTime() < deadline) {
            Thread.sleep(10);
        }
        assertThat(fixture.store.openBodyCount()).isZero();
        assertThatThrownBy(() -> s3.headObject(b -> b.bucket(BUCKET).key("dropped")))
                .isInstanceOf(S3Exception.class);
    }

    private static byte[] requestHead(String method, String path, Map<String, String> headers,
            String payloadHash) throws Exception {
        Map<String, String> signed = raw.sign(method, path, "", headers, payloadHash);
        StringBuilder head = new StringBuilder(method + " " + path + " HTTP/1.1\r\n");
        signed.forEach((name, value) -> head.append(name).append(": ").append(value)
                .append("\r\n"));
        head.append("\r\n");
        return head.toString().getBytes(StandardCharsets.US_ASCII);
    }

    /** Sends a request on a raw socket and reads the response head and body (up to 64 KiB). */
    private static String rawExchange(String method, String path, Map<String, String> headers,
            String payloadHash, byte[] body, boolean sendBody) throws Exception {
        try (Socket socket = new Socket(fixture.endpoint.getHost(), fixture.endpoint.getPort())) {
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            out.write(requestHead(method, path, headers, payloadHash));
            if (sendBody) {
                out.write(body);
            }
            out.flush();
            InputStream in = socket.getInputStream();
            byte[] buffer = new byte[65536];
            StringBuilder response = new StringBuilder();
            int n;
            while (!response.toString().contains("</Error>") && (n = in.read(buffer)) > 0) {
                response.append(new String(buffer, 0, n, StandardCharsets.UTF_8));
            }
            return response.toString();
        }
    }
}
