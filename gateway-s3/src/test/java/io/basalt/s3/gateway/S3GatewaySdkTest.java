package io.basalt.s3.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import software.amazon.awssdk.core.ResponseBytes;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;
import software.amazon.awssdk.services.s3.model.BucketVersioningStatus;
import software.amazon.awssdk.services.s3.model.ChecksumAlgorithm;
import software.amazon.awssdk.services.s3.model.ChecksumMode;
import software.amazon.awssdk.services.s3.model.CommonPrefix;
import software.amazon.awssdk.services.s3.model.CompletedPart;
import software.amazon.awssdk.services.s3.model.CopyObjectResponse;
import software.amazon.awssdk.services.s3.model.DeleteObjectsResponse;
import software.amazon.awssdk.services.s3.model.GetObjectResponse;
import software.amazon.awssdk.services.s3.model.HeadObjectResponse;
import software.amazon.awssdk.services.s3.model.ListObjectVersionsResponse;
import software.amazon.awssdk.services.s3.model.ListObjectsV2Response;
import software.amazon.awssdk.services.s3.model.ListObjectsResponse;
import software.amazon.awssdk.services.s3.model.MetadataDirective;
import software.amazon.awssdk.services.s3.model.NoSuchBucketException;
import software.amazon.awssdk.services.s3.model.NoSuchKeyException;
import software.amazon.awssdk.services.s3.model.ObjectIdentifier;
import software.amazon.awssdk.services.s3.model.PutObjectResponse;
import software.amazon.awssdk.services.s3.model.S3Exception;
import software.amazon.awssdk.services.s3.model.S3Object;
import software.amazon.awssdk.services.s3.model.Tag;
import software.amazon.awssdk.services.s3.presigner.S3Presigner;

/** The gateway through the AWS SDK for Java v2, with its default integrity settings. */
class S3GatewaySdkTest {
    private static GatewayFixture fixture;
    private static S3Client s3;

    @BeforeAll
    static void start() {
        fixture = new GatewayFixture();
        s3 = fixture.client();
    }

    @AfterAll
    static void stop() {
        s3.close();
        fixture.close();
    }

    private static String newBucket(String name) {
        s3.createBucket(b -> b.bucket(name));
        return name;
    }

    private static byte[] randomBytes(int length, long seed) {
        byte[] bytes = new byte[length];
        new Random(seed).nextBytes(bytes);
        return bytes;
    }

    private static String md5Hex(byte[] bytes) throws Exception {
        return HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(bytes));
    }

    @Test
    void bucketLifecycle() {
        String bucket = newBucket("lifecycle");
        assertThat(s3.listBuckets().buckets()).extracting(b -> b.name()).contains(bucket);
        s3.headBucket(b -> b.bucket(bucket));
        assertThat(s3.getBucketLocation(b -> b.bucket(bucket)).locationConstraintAsString())
                .isEmpty();
        // us-east-1 (the fixture's region): re-creating one's own bucket is 200 OK.
        s3.createBucket(b -> b.bucket(bucket));
        s3.putObject(b -> b.bucket(bucket).key("k"), RequestBody.fromString("x"));
        assertThatThrownBy(() -> s3.deleteBucket(b -> b.bucket(bucket)))
                .isInstanceOf(S3Exception.class)
                .satisfies(e -> assertThat(((S3Exception) e).awsErrorDetails().errorCode())
                        .isEqualTo("BucketNotEmpty"));
        s3.deleteObject(b -> b.bucket(bucket).key("k"));
        s3.deleteBucket(b -> b.bucket(bucket));
        assertThatThrownBy(() -> s3.headBucket(b -> b.bucket(bucket)))
                .isInstanceOf(NoSuchBucketException.class);
        assertThat(s3.listBuckets().buckets()).extracting(b -> b.name()).doesNotContain(bucket);
    }

    @Test
    void anotherUsersBucketIsAccessDenied() {
        String bucket = newBucket("private-bucket");
        try (S3Client other = fixture.client(GatewayFixture.OTHER_ACCESS_KEY,
                GatewayFixture.OTHER_SECRET)) {
            assertThatThrownBy(() -> other.headBucket(b -> b.bucket(bucket)))
                    .isInstanceOf(S3Exception.class)
                    .satisfies(e -> assertThat(((S3Exception) e).statusCode()).isEqualTo(403));
            assertThat(other.listBuckets().buckets()).isEmpty();
            assertThatThrownBy(() -> other.createBucket(b -> b.bucket(bucket)))
                    .isInstanceOf(S3Exception.class)
                    .satisfies(e -> assertThat(((S3Exception) e).awsErrorDetails().errorCode())
                            .isEqualTo("BucketAlreadyExists"));
        }
    }

    @Test
    void putGetHeadDeleteWithMetadata() throws Exception {
        String bucket = newBucket("objects");
        byte[] data = randomBytes(300_000, 1);
        PutObjectResponse put = s3.putObject(b -> b.bucket(bucket).key("dir/ünïcode key+%.bin")
                .contentType("application/x-test").contentDisposition("attachment")
                .cacheControl("max-age=60")
                .metadata(Map.of("color", "blue", "Mixed-Case", "Value With Spaces")),
                RequestBody.fromBytes(data));
        assertThat(put.eTag()).isEqualTo("\"" + md5Hex(data) + "\"");
        ResponseBytes<GetObjectResponse> got = s3.getObjectAsBytes(b -> b.bucket(bucket)
                .key("dir/ünïcode key+%.bin"));
        assertThat(got.asByteArray()).isEqualTo(data);
        assertThat(got.response().contentType()).isEqualTo("application/x-test");
        assertThat(got.response().contentDisposition()).isEqualTo("attachment");
        assertThat(got.response().cacheControl()).isEqualTo("max-age=60");
        assertThat(got.response().metadata()).containsEntry("color", "blue")
                .containsEntry("mixed-case", "Value With Spaces");
        assertThat(got.response().eTag()).isEqualTo(put.eTag());
        HeadObjectResponse head = s3.headObject(b -> b.bucket(bucket)
                .key("dir/ünïcode key+%.bin"));
        assertThat(head.contentLength()).isEqualTo(data.length);
        assertThat(head.metadata()).containsEntry("color", "blue");
        assertThat(head.contentEncoding()).isNull();
        s3.deleteObject(b -> b.bucket(bucket).key("dir/ünïcode key+%.bin"));
        assertThatThrownBy(() -> s3.getObjectAsBytes(b -> b.bucket(bucket)
                .key("dir/ünïcode key+%.bin"))).isInstanceOf(NoSuchKeyException.class);
        assertThatThrownBy(() -> s3.headObject(b -> b.bucket(bucket)
                .key("dir/ünïcode key+%.bin"))).isInstanceOf(NoSuchKeyException.class);
        s3.deleteObject(b -> b.bucket(bucket).key("never-there")); // 204 all the same
    }

    @Test
    void emptyObject() {
        String bucket = newBucket("empty-object");
        s3.putObject(b -> b.bucket(bucket).key("empty"), RequestBody.empty());
        ResponseBytes<GetObjectResponse> got = s3.getObjectAsBytes(b -> b.bucket(bucket)
                .key("empty"));
        assertThat(got.asByteArray()).isEmpty();
        assertThat(got.response().eTag()).isEqualTo("\"d41d8cd98f00b204e9800998ecf8427e\"");
    }

    @Test
    void rangedAndConditionalGets() {
        String bucket = newBucket("ranges");
        byte[] data = randomBytes(100_000, 2);
        String etag = s3.putObject(b -> b.bucket(bucket).key("r"), RequestBody.fromBytes(data))
                .eTag();
        ResponseBytes<GetObjectResponse> middle = s3.getObjectAsBytes(b -> b.bucket(bucket)
                .key("r").range("bytes=1000-1999"));
        assertThat(middle.asByteArray()).isEqualTo(Arrays.copyOfRange(data, 1000, 2000));
        assertThat(middle.response().contentRange()).isEqualTo("bytes 1000-1999/100000");
        ResponseBytes<GetObjectResponse> suffix = s3.getObjectAsBytes(b -> b.bucket(bucket)
                .key("r").range("bytes=-10"));
        assertThat(suffix.asByteArray()).isEqualTo(Arrays.copyOfRange(data, 99_990, 100_000));
        ResponseBytes<GetObjectResponse> open = s3.getObjectAsBytes(b -> b.bucket(bucket)
                .key("r").range("bytes=99000-"));
        assertThat(open.asByteArray()).isEqualTo(Arrays.copyOfRange(data, 99_000, 100_000));
        assertThatThrownBy(() -> s3.getObjectAsBytes(b -> b.bucket(bucket).key("r")
                .range("bytes=100000-")))
                .isInstanceOf(S3Exception.class)
                .satisfies(e -> {
                    assertThat(((S3Exception) e).statusCode()).isEqualTo(416);
                    assertThat(((S3Exception) e).awsErrorDetails().errorCode())
                            .isEqualTo("InvalidRange");
                });
        assertThat(s3.getObjectAsBytes(b -> b.bucket(bucket).key("r").ifMatch(etag))
                .asByteArray()).isEqualTo(data);
        assertThatThrownBy(() -> s3.getObjectAsBytes(b -> b.bucket(bucket).key("r")
                .ifMatch("\"0123\""))).isInstanceOf(S3Exception.class)
                .satisfies(e -> assertThat(((S3Exception) e).statusCode()).isEqualTo(412));
        assertThatThrownBy(() -> s3.getObjectAsBytes(b -> b.bucket(bucket).key("r")
                .ifNoneMatch(etag))).isInstanceOf(S3Exception.class)
                .satisfies(e -> assertThat(((S3Exception) e).statusCode()).isEqualTo(304));
        assertThatThrownBy(() -> s3.getObjectAsBytes(b -> b.bucket(bucket).key("r")
                .ifModifiedSince(java.time.Instant.now().plusSeconds(3600))))
                .isInstanceOf(S3Exception.class)
                .satisfies(e -> assertThat(((S3Exception) e).statusCode()).isEqualTo(304));
        assertThatThrownBy(() -> s3.getObjectAsBytes(b -> b.bucket(bucket).key("r")
                .ifUnmodifiedSince(java.time.Instant.now().minusSeconds(3600))))
                .isInstanceOf(S3Exception.class)
                .satisfies(e -> assertThat(((S3Exception) e).statusCode()).isEqualTo(412));
        GetObjectResponse overridden = s3.getObjectAsBytes(b -> b.bucket(bucket).key("r")
                .responseContentType("text/plain").responseContentDisposition("inline"))
                .response();
        assertThat(overridden.contentType()).isEqualTo("text/plain");
        assertThat(overridden.contentDisposition()).isEqualTo("inline");
    }

    @Test
    void conditionalWrites() {
        String bucket = newBucket("conditional-writes");
        s3.putObject(b -> b.bucket(bucket).key("once").ifNoneMatch("*"),
                RequestBody.fromString("first"));
        assertThatThrownBy(() -> s3.putObject(b -> b.bucket(bucket).key("once")
                .ifNoneMatch("*"), RequestBody.fromString("second")))
                .isInstanceOf(S3Exception.class)
                .satisfies(e -> assertThat(((S3Exception) e).statusCode()).isEqualTo(412));
        String etag = s3.headObject(b -> b.bucket(bucket).key("once")).eTag();
        s3.putObject(b -> b.bucket(bucket).key("once").ifMatch(etag),
                RequestBody.fromString("third"));
        assertThatThrownBy(() -> s3.putObject(b -> b.bucket(bucket).key("once").ifMatch(etag),
                RequestBody.fromString("fourth")))
                .isInstanceOf(S3Exception.class)
                .satisfies(e -> assertThat(((S3Exception) e).statusCode()).isEqualTo(412));
        assertThat(s3.getObjectAsBytes(b -> b.bucket(bucket).key("once")).asUtf8String())
                .isEqualTo("third");
    }

    @Test
    void listingTwoThousandKeysPageByPage() {
        String bucket = newBucket("listing");
        List<String> keys = new ArrayList<>();
        for (int dir = 0; dir < 20; dir++) {
            for (int file = 0; file < 100; file++) {
                keys.add(String.format("dir%02d/file%03d", dir, file));
            }
        }
        try (ExecutorService pool = Executors.newFixedThreadPool(8)) {
            List<Future<?>> puts = new ArrayList<>();
            for (String key : keys) {
                puts.add(pool.submit(() -> s3.putObject(b -> b.bucket(bucket).key(key),
                        RequestBody.fromString(key))));
            }
            for (Future<?> put : puts) {
                put.get();
            }
        } catch (Exception e) {
            throw new AssertionError(e);
        }
        Collections.sort(keys);
        // v2, no delimiter, pages of 333.
        List<String> listed = new ArrayList<>();
        String token = null;
        int pages = 0;
        do {
            String continuation = token;
            ListObjectsV2Response page = s3.listObjectsV2(b -> b.bucket(bucket).maxKeys(333)
                    .continuationToken(continuation));
            page.contents().forEach(object -> listed.add(object.key()));
            assertThat(page.contents().size()).isLessThanOrEqualTo(333);
            token = page.isTruncated() ? page.nextContinuationToken() : null;
            pages++;
        } while (token != null);
        assertThat(listed).isEqualTo(keys);
        assertThat(pages).isEqualTo(7);
        // v2 through the SDK's paginator, default page size 1000.
        assertThat(s3.listObjectsV2Paginator(b -> b.bucket(bucket)).contents().stream()
                .map(S3Object::key).toList()).isEqualTo(keys);
        // Delimiter: 20 common prefixes, in pages of 7.
        List<String> prefixes = new ArrayList<>();
        token = null;
        do {
            String continuation = token;
            ListObjectsV2Response page = s3.listObjectsV2(b -> b.bucket(bucket).delimiter("/")
                    .maxKeys(7).continuationToken(continuation));
            assertThat(page.contents()).isEmpty();
            page.commonPrefixes().forEach(prefix -> prefixes.add(prefix.prefix()));
            token = page.isTruncated() ? page.nextContinuationToken() : null;
        } while (token != null);
        assertThat(prefixes).hasSize(20).first().isEqualTo("dir00/");
        assertThat(prefixes).last().isEqualTo("dir19/");
        // Prefix and delimiter, v2 start-after.
        ListObjectsV2Response dir5 = s3.listObjectsV2(b -> b.bucket(bucket).prefix("dir05/")
                .delimiter("/").startAfter("dir05/file089"));
        assertThat(dir5.contents()).extracting(S3Object::key).hasSize(10)
                .startsWith("dir05/file090");
        // v1 with marker, prefix and delimiter.
        List<String> v1 = new ArrayList<>();
        String marker = null;
        do {
            String from = marker;
            ListObjectsResponse page = s3.listObjects(b -> b.bucket(bucket).prefix("dir1")
                    .maxKeys(250).marker(from));
            page.contents().forEach(object -> v1.add(object.key()));
            marker = page.isTruncated() ? (page.nextMarker() != null ? page.nextMarker()
                    : page.contents().getLast().key()) : null;
        } while (marker != null);
        assertThat(v1).hasSize(1000).allMatch(key -> key.startsWith("dir1"));
        ListObjectsResponse grouped = s3.listObjects(b -> b.bucket(bucket).prefix("dir1")
                .delimiter("/"));
        assertThat(grouped.commonPrefixes()).extracting(CommonPrefix::prefix).hasSize(10);
        // v1 with a delimiter, paged by NextMarker (a common prefix when the page ends on one).
        List<String> v1Prefixes = new ArrayList<>();
        String prefixMarker = null;
        do {
            String from = prefixMarker;
            ListObjectsResponse page = s3.listObjects(b -> b.bucket(bucket).delimiter("/")
                    .maxKeys(3).marker(from));
            page.commonPrefixes().forEach(prefix -> v1Prefixes.add(prefix.prefix()));
            prefixMarker = page.isTruncated() ? page.nextMarker() : null;
        } while (prefixMarker != null);
        assertThat(v1Prefixes).hasSize(20).doesNotHaveDuplicates();
        // encoding-type=url: the SDK decodes keys back.
        s3.putObject(b -> b.bucket(bucket).key("zz/with space&amp<>"),
                RequestBody.fromString("x"));
        ListObjectsV2Response encoded = s3.listObjectsV2(b -> b.bucket(bucket).prefix("zz/")
                .encodingType("url"));
        assertThat(encoded.contents()).extracting(S3Object::key)
                .containsExactly("zz/with space&amp<>");
    }

    @Test
    void versioningAndDeleteMarkers() {
        String bucket = newBucket("versioned");
        assertThat(s3.getBucketVersioning(b -> b.bucket(bucket)).status()).isNull();
        s3.putObject(b -> b.bucket(bucket).key("before"), RequestBody.fromString("null"));
        s3.putBucketVersioning(b -> b.bucket(bucket).versioningConfiguration(v -> v.status(
                BucketVersioningStatus.ENABLED)));
        assertThat(s3.getBucketVersioning(b -> b.bucket(bucket)).status())
                .isEqualTo(BucketVersioningStatus.ENABLED);
        String v1 = s3.putObject(b -> b.bucket(bucket).key("k"), RequestBody.fromString("one"))
                .versionId();
        String v2 = s3.putObject(b -> b.bucket(bucket).key("k"), RequestBody.fromString("two"))
                .versionId();
        assertThat(v1).isNotEqualTo(v2).isNotEqualTo("null");
        assertThat(s3.getObjectAsBytes(b -> b.bucket(bucket).key("k")).asUtf8String())
                .isEqualTo("two");
        assertThat(s3.getObjectAsBytes(b -> b.bucket(bucket).key("k").versionId(v1))
                .asUtf8String()).isEqualTo("one");
        var deleted = s3.deleteObject(b -> b.bucket(bucket).key("k"));
        assertThat(deleted.deleteMarker()).isTrue();
        String markerId = deleted.versionId();
        assertThatThrownBy(() -> s3.getObjectAsBytes(b -> b.bucket(bucket).key("k")))
                .isInstanceOf(NoSuchKeyException.class)
                .satisfies(e -> assertThat(((S3Exception) e).awsErrorDetails().sdkHttpResponse()
                        .firstMatchingHeader("x-amz-delete-marker")).contains("true"));
        assertThat(s3.getObjectAsBytes(b -> b.bucket(bucket).key("k").versionId(v2))
                .asUtf8String()).isEqualTo("two");
        ListObjectVersionsResponse versions = s3.listObjectVersions(b -> b.bucket(bucket));
        assertThat(versions.versions()).extracting(v -> v.key() + "@" + v.versionId()
                + (v.isLatest() ? "*" : "")).containsExactly("before@null*", "k@" + v2,
                        "k@" + v1);
        assertThat(versions.deleteMarkers()).singleElement().satisfies(marker -> {
            assertThat(marker.key()).isEqualTo("k");
            assertThat(marker.versionId()).isEqualTo(markerId);
            assertThat(marker.isLatest()).isTrue();
        });
        // Paging through versions one at a time gives the same sequence.
        List<String> paged = new ArrayList<>();
        String keyMarker = null;
        String versionMarker = null;
        while (true) {
            String km = keyMarker;
            String vm = versionMarker;
            ListObjectVersionsResponse page = s3.listObjectVersions(b -> b.bucket(bucket)
                    .maxKeys(1).keyMarker(km).versionIdMarker(vm));
            page.versions().forEach(v -> paged.add(v.versionId()));
            page.deleteMarkers().forEach(m -> paged.add(m.versionId()));
            if (!page.isTruncated()) {
                break;
            }
            keyMarker = page.nextKeyMarker();
            versionMarker = page.nextVersionIdMarker();
        }
        assertThat(paged).containsExactly("null", markerId, v2, v1);
        // Deleting the delete marker brings the object back.
        s3.deleteObject(b -> b.bucket(bucket).key("k").versionId(markerId));
        assertThat(s3.getObjectAsBytes(b -> b.bucket(bucket).key("k")).asUtf8String())
                .isEqualTo("two");
        s3.deleteObject(b -> b.bucket(bucket).key("k").versionId(v2));
        assertThat(s3.getObjectAsBytes(b -> b.bucket(bucket).key("k")).asUtf8String())
                .isEqualTo("one");
        s3.putBucketVersioning(b -> b.bucket(bucket).versioningConfiguration(v -> v.status(
                BucketVersioningStatus.SUSPENDED)));
        // A suspended bucket's write makes the "null" version; S3's answer does not name it
        // (PutObject's "versioning suspended" example), GET and HEAD do.
        assertThat(s3.putObject(b -> b.bucket(bucket).key("k"), RequestBody.fromString("s"))
                .versionId()).isNull();
        assertThat(s3.headObject(b -> b.bucket(bucket).key("k")).versionId()).isEqualTo("null");
    }

    @Test
    void multipartPartsInParallelAndOutOfOrder() throws Exception {
        String bucket = newBucket("multipart");
        int partSize = 5 << 20;
        byte[] data = randomBytes(3 * partSize + 123_457, 3);
        String uploadId = s3.createMultipartUpload(b -> b.bucket(bucket).key("big")
                .contentType("video/test").metadata(Map.of("m", "v"))).uploadId();
        int partCount = 4;
        String[] etags = new String[partCount];
        MessageDigest partMd5s = MessageDigest.getInstance("MD5");
        try (ExecutorService pool = Executors.newFixedThreadPool(partCount)) {
            List<Future<?>> uploads = new ArrayList<>();
            for (int part = partCount; part >= 1; part--) { // last part first
                int number = part;
                uploads.add(pool.submit(() -> {
                    int from = (number - 1) * partSize;
                    int to = Math.min(data.length, from + partSize);
                    etags[number - 1] = s3.uploadPart(b -> b.bucket(bucket).key("big")
                            .uploadId(uploadId).partNumber(number),
                            RequestBody.fromBytes(Arrays.copyOfRange(data, from, to))).eTag();
                }));
            }
            for (Future<?> upload : uploads) {
                upload.get();
            }
        }
        for (int part = 0; part < partCount; part++) {
            int from = part * partSize;
            int to = Math.min(data.length, from + partSize);
            partMd5s.update(MessageDigest.getInstance("MD5").digest(Arrays.copyOfRange(data,
                    from, to)));
        }
        assertThat(s3.listParts(b -> b.bucket(bucket).key("big").uploadId(uploadId)).parts())
                .extracting(p -> p.partNumber()).containsExactly(1, 2, 3, 4);
        // Paged: a marker of 0 is "from the first part" (boto3 sends it as it pages), then on from
        // each page's NextPartNumberMarker; a marker that is no number is refused.
        var firstPage = s3.listParts(b -> b.bucket(bucket).key("big").uploadId(uploadId)
                .partNumberMarker(0).maxParts(3));
        assertThat(firstPage.parts()).extracting(p -> p.partNumber()).containsExactly(1, 2, 3);
        assertThat(firstPage.isTruncated()).isTrue();
        assertThat(s3.listParts(b -> b.bucket(bucket).key("big").uploadId(uploadId)
                .partNumberMarker(firstPage.nextPartNumberMarker()).maxParts(3)).parts())
                .extracting(p -> p.partNumber()).containsExactly(4);
        assertThatThrownBy(() -> s3.listParts(b -> b.bucket(bucket).key("big").uploadId(uploadId)
                .partNumberMarker(-1))).isInstanceOf(S3Exception.class)
                .satisfies(e -> assertThat(((S3Exception) e).awsErrorDetails().errorCode())
                        .isEqualTo("InvalidArgument"));
        assertThat(s3.listMultipartUploads(b -> b.bucket(bucket)).uploads())
                .extracting(u -> u.uploadId()).containsExactly(uploadId);
        List<CompletedPart> parts = new ArrayList<>();
        for (int part = 1; part <= partCount; part++) {
            parts.add(CompletedPart.builder().partNumber(part).eTag(etags[part - 1]).build());
        }
        String etag = s3.completeMultipartUpload(b -> b.bucket(bucket).key("big")
                .uploadId(uploadId).multipartUpload(m -> m.parts(parts))).eTag();
        String expected = "\"" + HexFormat.of().formatHex(partMd5s.digest()) + "-4\"";
        assertThat(etag).isEqualTo(expected);
        ResponseBytes<GetObjectResponse> got = s3.getObjectAsBytes(b -> b.bucket(bucket)
                .key("big"));
        assertThat(got.asByteArray()).isEqualTo(data);
        assertThat(got.response().eTag()).isEqualTo(expected);
        assertThat(got.response().contentType()).isEqualTo("video/test");
        assertThat(got.response().metadata()).containsEntry("m", "v");
        ResponseBytes<GetObjectResponse> part2 = s3.getObjectAsBytes(b -> b.bucket(bucket)
                .key("big").partNumber(2));
        assertThat(part2.asByteArray()).isEqualTo(Arrays.copyOfRange(data, partSize,
                2 * partSize));
        assertThat(part2.response().partsCount()).isEqualTo(4);
        assertThat(s3.listMultipartUploads(b -> b.bucket(bucket)).uploads()).isEmpty();
        // An aborted upload is gone.
        String aborted = s3.createMultipartUpload(b -> b.bucket(bucket).key("gone")).uploadId();
        s3.uploadPart(b -> b.bucket(bucket).key("gone").uploadId(aborted).partNumber(1),
                RequestBody.fromString("x"));
        s3.abortMultipartUpload(b -> b.bucket(bucket).key("gone").uploadId(aborted));
        assertThatThrownBy(() -> s3.listParts(b -> b.bucket(bucket).key("gone")
                .uploadId(aborted))).isInstanceOf(S3Exception.class)
                .satisfies(e -> assertThat(((S3Exception) e).awsErrorDetails().errorCode())
                        .isEqualTo("NoSuchUpload"));
    }

    @Test
    void uploadPartCopyWithRanges() {
        String bucket = newBucket("part-copy");
        byte[] source = randomBytes(6 << 20, 4);
        s3.putObject(b -> b.bucket(bucket).key("source"), RequestBody.fromBytes(source));
        String uploadId = s3.createMultipartUpload(b -> b.bucket(bucket).key("assembled"))
                .uploadId();
        String first = s3.uploadPartCopy(b -> b.sourceBucket(bucket).sourceKey("source")
                .destinationBucket(bucket).destinationKey("assembled").uploadId(uploadId)
                .partNumber(1).copySourceRange("bytes=0-" + ((5 << 20) - 1)))
                .copyPartResult().eTag();
        String second = s3.uploadPartCopy(b -> b.sourceBucket(bucket).sourceKey("source")
                .destinationBucket(bucket).destinationKey("assembled").uploadId(uploadId)
                .partNumber(2).copySourceRange("bytes=" + (5 << 20) + "-" + (source.length - 1)))
                .copyPartResult().eTag();
        s3.completeMultipartUpload(b -> b.bucket(bucket).key("assembled").uploadId(uploadId)
                .multipartUpload(m -> m.parts(
                        CompletedPart.builder().partNumber(1).eTag(first).build(),
                        CompletedPart.builder().partNumber(2).eTag(second).build())));
        assertThat(s3.getObjectAsBytes(b -> b.bucket(bucket).key("assembled")).asByteArray())
                .isEqualTo(source);
    }

    @Test
    void copyObjectCopiesBytesAndMetadata() {
        String bucket = newBucket("copies");
        String other = newBucket("copies-target");
        byte[] data = randomBytes(200_000, 5);
        s3.putObject(b -> b.bucket(bucket).key("src").contentType("text/x-src")
                .metadata(Map.of("a", "1")).tagging("t=1"), RequestBody.fromBytes(data));
        CopyObjectResponse copied = s3.copyObject(b -> b.sourceBucket(bucket).sourceKey("src")
                .destinationBucket(other).destinationKey("copy"));
        ResponseBytes<GetObjectResponse> got = s3.getObjectAsBytes(b -> b.bucket(other)
                .key("copy"));
        assertThat(got.asByteArray()).isEqualTo(data);
        assertThat(got.response().contentType()).isEqualTo("text/x-src");
        assertThat(got.response().metadata()).containsEntry("a", "1");
        assertThat(got.response().eTag()).isEqualTo(copied.copyObjectResult().eTag());
        assertThat(s3.getObjectTagging(b -> b.bucket(other).key("copy")).tagSet())
                .extracting(Tag::key).containsExactly("t");
        s3.copyObject(b -> b.sourceBucket(bucket).sourceKey("src").destinationBucket(bucket)
                .destinationKey("src").metadataDirective(MetadataDirective.REPLACE)
                .metadata(Map.of("b", "2")).contentType("text/replaced"));
        HeadObjectResponse replaced = s3.headObject(b -> b.bucket(bucket).key("src"));
        assertThat(replaced.metadata()).containsExactly(Map.entry("b", "2"));
        assertThat(replaced.contentType()).isEqualTo("text/replaced");
        assertThatThrownBy(() -> s3.copyObject(b -> b.sourceBucket(bucket).sourceKey("src")
                .destinationBucket(bucket).destinationKey("src")))
                .isInstanceOf(S3Exception.class)
                .satisfies(e -> assertThat(((S3Exception) e).awsErrorDetails().errorCode())
                        .isEqualTo("InvalidRequest"));
        assertThatThrownBy(() -> s3.copyObject(b -> b.sourceBucket(bucket).sourceKey("src")
                .destinationBucket(other).destinationKey("c2").copySourceIfMatch("\"nope\"")))
                .isInstanceOf(S3Exception.class)
                .satisfies(e -> assertThat(((S3Exception) e).statusCode()).isEqualTo(412));
        // The copy owns its bytes: deleting the source leaves it readable.
        s3.deleteObject(b -> b.bucket(bucket).key("src"));
        assertThat(s3.getObjectAsBytes(b -> b.bucket(other).key("copy")).asByteArray())
                .isEqualTo(data);
    }

    @Test
    void objectTagging() {
        String bucket = newBucket("tagging");
        s3.putObject(b -> b.bucket(bucket).key("t").tagging("a=1&b=two%20words"),
                RequestBody.fromString("x"));
        assertThat(s3.getObjectTagging(b -> b.bucket(bucket).key("t")).tagSet())
                .extracting(tag -> tag.key() + "=" + tag.value())
                .containsExactlyInAnyOrder("a=1", "b=two words");
        assertThat(s3.getObjectAsBytes(b -> b.bucket(bucket).key("t")).response().tagCount())
                .isEqualTo(2);
        s3.putObjectTagging(b -> b.bucket(bucket).key("t").tagging(t -> t.tagSet(
                Tag.builder().key("new").value("v").build())));
        assertThat(s3.getObjectTagging(b -> b.bucket(bucket).key("t")).tagSet())
                .extracting(Tag::key).containsExactly("new");
        s3.deleteObjectTagging(b -> b.bucket(bucket).key("t"));
        assertThat(s3.getObjectTagging(b -> b.bucket(bucket).key("t")).tagSet()).isEmpty();
    }

    @Test
    void deleteObjectsQuietAndVerbose() {
        String bucket = newBucket("bulk-delete");
        for (int i = 0; i < 30; i++) {
            int n = i;
            s3.putObject(b -> b.bucket(bucket).key("k" + n), RequestBody.fromString("x"));
        }
        List<ObjectIdentifier> first = new ArrayList<>();
        for (int i = 0; i < 20; i++) {
            first.add(ObjectIdentifier.builder().key("k" + i).build());
        }
        DeleteObjectsResponse verbose = s3.deleteObjects(b -> b.bucket(bucket).delete(d -> d
                .objects(first)));
        assertThat(verbose.deleted()).hasSize(20);
        assertThat(verbose.errors()).isEmpty();
        List<ObjectIdentifier> rest = new ArrayList<>();
        for (int i = 20; i < 30; i++) {
            rest.add(ObjectIdentifier.builder().key("k" + i).build());
        }
        DeleteObjectsResponse quiet = s3.deleteObjects(b -> b.bucket(bucket).delete(d -> d
                .objects(rest).quiet(true)));
        assertThat(quiet.deleted()).isEmpty();
        assertThat(s3.listObjectsV2(b -> b.bucket(bucket)).contents()).isEmpty();
    }

    @Test
    void presignedGetAndPut() throws Exception {
        String bucket = newBucket("presigned");
        HttpClient http = HttpClient.newHttpClient();
        try (S3Presigner presigner = fixture.presigner()) {
            URI putUrl = presigner.presignPutObject(p -> p.signatureDuration(Duration
                    .ofMinutes(5)).putObjectRequest(r -> r.bucket(bucket).key("via url")))
                    .url().toURI();
            HttpResponse<String> put = http.send(HttpRequest.newBuilder(putUrl)
                    .PUT(HttpRequest.BodyPublishers.ofString("presigned body")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(put.statusCode()).as(put.body()).isEqualTo(200);
            URI getUrl = presigner.presignGetObject(p -> p.signatureDuration(Duration
                    .ofMinutes(1)).getObjectRequest(r -> r.bucket(bucket).key("via url")))
                    .url().toURI();
            HttpResponse<String> get = http.send(HttpRequest.newBuilder(getUrl).GET().build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(get.statusCode()).isEqualTo(200);
            assertThat(get.body()).isEqualTo("presigned body");
            assertThat(get.headers().firstValue("x-amz-request-id")).isPresent();
            // Two minutes later the one-minute URL has expired.
            fixture.advanceClock(Duration.ofMinutes(2));
            try {
                HttpResponse<String> expired = http.send(HttpRequest.newBuilder(getUrl).GET()
                        .build(), HttpResponse.BodyHandlers.ofString());
                assertThat(expired.statusCode()).isEqualTo(403);
                assertThat(expired.body()).contains("<Code>AccessDenied</Code>")
                        .contains("expired");
            } finally {
                fixture.resetClock();
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = ChecksumAlgorithm.class, names = {"CRC32", "CRC32_C", "CRC64_NVME",
            "SHA1", "SHA256"})
    void everyChecksumAlgorithmOnPutAndGet(ChecksumAlgorithm algorithm) {
        String bucket = "checksums-" + algorithm.name().toLowerCase().replace('_', '-');
        newBucket(bucket);
        byte[] data = randomBytes(150_000, algorithm.ordinal());
        PutObjectResponse put = s3.putObject(b -> b.bucket(bucket).key("c")
                .checksumAlgorithm(algorithm), RequestBody.fromBytes(data));
        String sent = switch (algorithm) {
            case CRC32 -> put.checksumCRC32();
            case CRC32_C -> put.checksumCRC32C();
            case CRC64_NVME -> put.checksumCRC64NVME();
            case SHA1 -> put.checksumSHA1();
            case SHA256 -> put.checksumSHA256();
            default -> throw new AssertionError(algorithm);
        };
        assertThat(sent).isNotNull();
        // Checksum mode: the SDK validates the body against the stored checksum.
        ResponseBytes<GetObjectResponse> got = s3.getObjectAsBytes(b -> b.bucket(bucket)
                .key("c").checksumMode(ChecksumMode.ENABLED));
        assertThat(got.asByteArray()).isEqualTo(data);
        String returned = switch (algorithm) {
            case CRC32 -> got.response().checksumCRC32();
            case CRC32_C -> got.response().checksumCRC32C();
            case CRC64_NVME -> got.response().checksumCRC64NVME();
            case SHA1 -> got.response().checksumSHA1();
            case SHA256 -> got.response().checksumSHA256();
            default -> throw new AssertionError(algorithm);
        };
        assertThat(returned).isEqualTo(sent);
        assertThat(s3.headObject(b -> b.bucket(bucket).key("c")
                .checksumMode(ChecksumMode.ENABLED)).checksumType().toString())
                .isEqualTo("FULL_OBJECT");
    }

    @Test
    void multipartWithCompositeChecksum() {
        String bucket = newBucket("composite");
        byte[] data = randomBytes((5 << 20) + 1000, 9);
        String uploadId = s3.createMultipartUpload(b -> b.bucket(bucket).key("mp")
                .checksumAlgorithm(ChecksumAlgorithm.SHA256)).uploadId();
        var p1 = s3.uploadPart(b -> b.bucket(bucket).key("mp").uploadId(uploadId).partNumber(1)
                .checksumAlgorithm(ChecksumAlgorithm.SHA256),
                RequestBody.fromBytes(Arrays.copyOfRange(data, 0, 5 << 20)));
        var p2 = s3.uploadPart(b -> b.bucket(bucket).key("mp").uploadId(uploadId).partNumber(2)
                .checksumAlgorithm(ChecksumAlgorithm.SHA256),
                RequestBody.fromBytes(Arrays.copyOfRange(data, 5 << 20, data.length)));
        var completed = s3.completeMultipartUpload(b -> b.bucket(bucket).key("mp")
                .uploadId(uploadId).multipartUpload(m -> m.parts(
                        CompletedPart.builder().partNumber(1).eTag(p1.eTag())
                                .checksumSHA256(p1.checksumSHA256()).build(),
                        CompletedPart.builder().partNumber(2).eTag(p2.eTag())
                                .checksumSHA256(p2.checksumSHA256()).build())));
        assertThat(completed.checksumSHA256()).endsWith("-2");
        ResponseBytes<GetObjectResponse> got = s3.getObjectAsBytes(b -> b.bucket(bucket)
                .key("mp").checksumMode(ChecksumMode.ENABLED));
        assertThat(got.asByteArray()).isEqualTo(data);
        assertThat(got.response().checksumSHA256()).isEqualTo(completed.checksumSHA256());
    }

    @Test
    void metricsCountRequests() {
        String bucket = newBucket("metrics");
        s3.putObject(b -> b.bucket(bucket).key("m"), RequestBody.fromString("metrics"));
        s3.getObjectAsBytes(b -> b.bucket(bucket).key("m"));
        var requests = (io.prometheus.metrics.model.snapshots.CounterSnapshot) fixture.registry
                .scrape().stream().filter(m -> m.getMetadata().getName().equals(
                        "basalt_s3_requests")).findFirst().orElseThrow();
        assertThat(requests.getDataPoints()).anySatisfy(point -> {
            assertThat(point.getLabels().get("operation")).isEqualTo("PUT_OBJECT");
            assertThat(point.getLabels().get("status")).isEqualTo("200");
            assertThat(point.getValue()).isGreaterThanOrEqualTo(1);
        });
        assertThat(requests.getDataPoints()).anySatisfy(point -> assertThat(point.getLabels()
                .get("operation")).isEqualTo("GET_OBJECT"));
        var sent = (io.prometheus.metrics.model.snapshots.CounterSnapshot) fixture.registry
                .scrape().stream().filter(m -> m.getMetadata().getName().equals(
                        "basalt_s3_sent_bytes")).findFirst().orElseThrow();
        assertThat(sent.getDataPoints().getFirst().getValue()).isGreaterThanOrEqualTo(7);
    }
}
