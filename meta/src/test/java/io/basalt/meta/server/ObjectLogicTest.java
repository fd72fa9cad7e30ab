package io.basalt.meta.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.basalt.meta.api.MetaError;
import io.basalt.meta.api.MetaReply;
import io.basalt.meta.api.MetaRequest;
import io.basalt.meta.api.ObjectRequest;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.model.Lease;
import io.basalt.meta.model.Volume;
import io.basalt.meta.model.s3.Bucket;
import io.basalt.meta.model.s3.ObjectExtent;
import io.basalt.meta.model.s3.ObjectListing;
import io.basalt.meta.model.s3.ObjectLog;
import io.basalt.meta.model.s3.ObjectVersion;
import io.basalt.meta.model.s3.Part;
import io.basalt.meta.model.s3.S3User;
import io.basalt.meta.model.s3.Versioning;
import io.basalt.meta.store.MetaStore;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Scenarios of the object index that the model test does not spell out. */
class ObjectLogicTest {
    private static final long MIB = 1L << 20;

    @TempDir
    Path dir;

    private StandaloneMeta meta;
    private long nextOffset;

    @BeforeEach
    void open() throws Exception {
        meta = new StandaloneMeta(dir);
        for (int i = 0; i < 3; i++) {
            meta.register("host" + i, 1L << 40);
        }
    }

    @AfterEach
    void close() throws Exception {
        meta.close();
    }

    private String refusal(MetaRequest request, MetaError error) {
        MetaReply reply = request.op().isWrite() ? meta.apply(request) : meta.read(request);
        assertThat(reply.error()).as(request.op().toString()).isEqualTo(error);
        return new WireReader(reply.body()).string();
    }

    private ObjectLog openLog(String writer, List<Long> exclude) {
        return ObjectLog.decode(meta.ok(new ObjectRequest.OpenObjectLog("rep3", writer, exclude,
                meta.nowMillis)));
    }

    @Test
    void logsGoOnePerWriterAndMoveWhenTheLeaseExpires() {
        ObjectLog first = openLog("gw-a", List.of());
        assertThat(first.id()).isEqualTo(1);
        assertThat(first.writer()).isEqualTo("gw-a");
        Volume volume = Volume.decode(meta.read(new MetaRequest.GetVolume(".objlog.1"))
                .bodyOrThrow());
        assertThat(volume.id()).isEqualTo(first.volumeId());
        assertThat(volume.sizeBytes()).isEqualTo(ObjectLog.SIZE_BYTES);
        assertThat(volume.policyName()).isEqualTo("rep3");
        // Hidden from the volume list; a user cannot create, resize or delete such a name.
        meta.create("db1", 1L << 30, "rep3");
        assertThat(volumeNames()).containsExactly("db1");
        refusal(new MetaRequest.DeleteVolume(".objlog.1", true), MetaError.INVALID);

        // Its lease is gw-a's: another writer gets a new log; gw-a gets its own back.
        ObjectLog second = openLog("gw-b", List.of());
        assertThat(second.id()).isEqualTo(2);
        assertThat(openLog("gw-a", List.of()).id()).isEqualTo(1);
        assertThat(openLog("gw-a", List.of(1L)).id()).isEqualTo(3);
        // The writer renews the lease it was given under the same client id.
        Lease lease = Lease.decode(meta.ok(new MetaRequest.AcquireLease(first.volumeId(), "gw-a",
                60_000)));
        assertThat(lease.clientId()).isEqualTo("gw-a");

        // Reservations: the writer only; the mark never goes down.
        assertThat(refusal(new ObjectRequest.ReserveObjectLog(1, "gw-b", 1L << 30, 0),
                MetaError.LEASE_HELD)).contains("written by gw-a");
        ObjectLog reserved = ObjectLog.decode(meta.ok(new ObjectRequest.ReserveObjectLog(1,
                "gw-a", 1L << 30, 4096)));
        assertThat(reserved.reservedMark()).isEqualTo(1L << 30);
        reserved = ObjectLog.decode(meta.ok(new ObjectRequest.ReserveObjectLog(1, "gw-a",
                1L << 20, 8192)));
        assertThat(reserved.reservedMark()).isEqualTo(1L << 30);
        assertThat(reserved.oldestInFlight()).isEqualTo(8192);
        refusal(new ObjectRequest.ReserveObjectLog(99, "gw-a", 4096, 0), MetaError.NOT_FOUND);

        // gw-a stops renewing: after the lease, gw-c takes its logs over, oldest first.
        meta.nowMillis += 61_000;
        ObjectLog taken = openLog("gw-c", List.of());
        assertThat(taken.id()).isEqualTo(1);
        assertThat(taken.writer()).isEqualTo("gw-c");
        assertThat(taken.reservedMark()).isEqualTo(1L << 30);
        refusal(new ObjectRequest.ReserveObjectLog(1, "gw-a", 2L << 30, 0), MetaError.LEASE_HELD);

        // Sealed logs are never handed out; another policy gets its own.
        meta.ok(new ObjectRequest.SealObjectLog(1));
        refusal(new ObjectRequest.ReserveObjectLog(1, "gw-c", 2L << 30, 0), MetaError.INVALID);
        assertThat(openLog("gw-c", List.of()).id()).isNotEqualTo(1);
        ObjectLog ec = ObjectLog.decode(meta.ok(new ObjectRequest.OpenObjectLog("rep2", "gw-c",
                List.of(), meta.nowMillis)));
        assertThat(ec.policyName()).isEqualTo("rep2");
        assertThat(listLogs()).extracting(ObjectLog::id).containsExactly(1L, 2L, 3L, 4L);
    }

    private List<String> volumeNames() {
        WireReader in = meta.read(new MetaRequest.ListVolumes()).bodyOrThrow();
        int count = in.count(1);
        List<String> names = new java.util.ArrayList<>();
        for (int i = 0; i < count; i++) {
            names.add(Volume.decode(in).name());
        }
        return names;
    }

    private List<ObjectLog> listLogs() {
        WireReader in = meta.read(new ObjectRequest.ListObjectLogs()).bodyOrThrow();
        int count = in.count(1);
        List<ObjectLog> logs = new java.util.ArrayList<>();
        for (int i = 0; i < count; i++) {
            logs.add(ObjectLog.decode(in));
        }
        return logs;
    }

    @Test
    void logsNeedPlaceableChunksAndAFailedOpenChangesNothing() {
        String message = refusal(new ObjectRequest.OpenObjectLog("rep8", "gw", List.of(),
                meta.nowMillis), MetaError.NO_PLACEMENT);
        assertThat(message).isNotEmpty();
        assertThat(listLogs()).isEmpty();
        assertThat(openLog("gw", List.of()).id()).isEqualTo(1);
    }

    @Test
    void usersAreFoundByAccessKeyAndListedWithoutSecrets() {
        S3User alice = S3User.decode(meta.ok(new ObjectRequest.CreateS3User("alice",
                "AKIAALICE", "s3cr3t/+=", 5)));
        assertThat(alice.secret()).isEqualTo("s3cr3t/+=");
        assertThat(refusal(new ObjectRequest.CreateS3User("alice", "AKIAOTHER", "x", 5),
                MetaError.ALREADY_EXISTS)).contains("\"alice\"");
        assertThat(refusal(new ObjectRequest.CreateS3User("bob", "AKIAALICE", "x", 5),
                MetaError.ALREADY_EXISTS)).contains("access key");
        meta.ok(new ObjectRequest.CreateS3User("bob", "AKIABOB", "y", 6));
        WireReader in = meta.read(new ObjectRequest.GetS3User("AKIAALICE")).bodyOrThrow();
        assertThat(in.bool()).isTrue();
        assertThat(S3User.decode(in)).isEqualTo(alice);
        WireReader list = meta.read(new ObjectRequest.ListS3Users()).bodyOrThrow();
        assertThat(list.count(1)).isEqualTo(2);
        assertThat(S3User.decode(list).secret()).isEmpty();
        meta.ok(new ObjectRequest.DeleteS3User("alice"));
        assertThat(meta.read(new ObjectRequest.GetS3User("AKIAALICE")).bodyOrThrow().bool())
                .isFalse();
        refusal(new ObjectRequest.DeleteS3User("alice"), MetaError.NOT_FOUND);
        refusal(new ObjectRequest.CreateS3User("carol", "AK/1", "z", 0), MetaError.INVALID);
    }

    @Test
    void bucketsSayWhoOwnsThemAndEmptyOnesGo() {
        Bucket bucket = Bucket.decode(meta.ok(new ObjectRequest.CreateBucket("photos", "AKIDA",
                "EC4+2", 77)));
        assertThat(bucket.policyName()).isEqualTo("ec4+2");
        assertThat(bucket.createdMillis()).isEqualTo(77);
        assertThat(refusal(new ObjectRequest.CreateBucket("photos", "AKIDA", "rep3", 0),
                MetaError.ALREADY_EXISTS)).contains("owned by you");
        assertThat(refusal(new ObjectRequest.CreateBucket("photos", "AKIDB", "rep3", 0),
                MetaError.ALREADY_EXISTS)).contains("owned by another account")
                .doesNotContain("owned by you");
        assertThat(refusal(new ObjectRequest.CreateBucket("192.168.1.1", "AKIDB", "rep3", 0),
                MetaError.INVALID)).contains("IP address");
        refusal(new ObjectRequest.SetBucketVersioning("nope", Versioning.ENABLED),
                MetaError.NOT_FOUND);
        meta.ok(new ObjectRequest.SetBucketVersioning("photos", Versioning.UNVERSIONED));
        meta.ok(new ObjectRequest.SetBucketVersioning("photos", Versioning.SUSPENDED));
        assertThat(refusal(new ObjectRequest.SetBucketVersioning("photos",
                Versioning.UNVERSIONED), MetaError.INVALID)).contains("never turned off");
        meta.ok(new ObjectRequest.CreateUpload("photos", "big", "u1", "AKIDA", Map.of(), "",
                Map.of(), 1));
        assertThat(refusal(new ObjectRequest.DeleteBucket("photos"), MetaError.NOT_EMPTY))
                .contains("multipart uploads");
        meta.ok(new ObjectRequest.AbortUpload("photos", "big", "u1"));
        refusal(new ObjectRequest.AbortUpload("photos", "big", "u1"), MetaError.NO_SUCH_UPLOAD);
        meta.ok(new ObjectRequest.DeleteBucket("photos"));
        refusal(new ObjectRequest.DeleteBucket("photos"), MetaError.NOT_FOUND);
        assertThat(meta.read(new ObjectRequest.GetBucket("photos")).bodyOrThrow().bool())
                .isFalse();
        refusal(new ObjectRequest.ListObjects("photos", "", "", "", 10), MetaError.NOT_FOUND);
    }

    private List<ObjectExtent> extents(long size) {
        if (size == 0) {
            return List.of();
        }
        ObjectExtent extent = new ObjectExtent(1, nextOffset, size);
        nextOffset = extent.endOffset();
        return List.of(extent);
    }

    private ObjectVersion put(String bucket, String key, long size, String etag) {
        return ObjectVersion.decode(meta.ok(new ObjectRequest.PutObject(bucket, key, size, etag,
                "AKIDA", Map.of(), Map.of(), "", Map.of(), List.of(), extents(size), null, false,
                meta.nowMillis)));
    }

    private void readyBucket(String name) {
        openLog("gw", List.of());
        meta.ok(new ObjectRequest.ReserveObjectLog(1, "gw", 1L << 40, 0));
        meta.ok(new ObjectRequest.CreateBucket(name, "AKIDA", "rep3", 0));
    }

    private ObjectVersion get(String bucket, String key, String versionId) {
        WireReader in = meta.read(new ObjectRequest.GetObject(bucket, key, versionId))
                .bodyOrThrow();
        return in.bool() ? ObjectVersion.decode(in) : null;
    }

    @Test
    void suspendedVersioningReplacesTheNullVersionAndKeepsTheOthers() {
        readyBucket("docs");
        ObjectVersion unversioned = put("docs", "k", 10, "e0");
        assertThat(unversioned.versionId()).isEqualTo("null");
        meta.ok(new ObjectRequest.SetBucketVersioning("docs", Versioning.ENABLED));
        ObjectVersion v1 = put("docs", "k", 20, "e1");
        ObjectVersion v2 = put("docs", "k", 30, "e2");
        assertThat(v1.versionId()).matches("[0-9a-f]{16}").isLessThan(v2.versionId());
        meta.ok(new ObjectRequest.SetBucketVersioning("docs", Versioning.SUSPENDED));
        ObjectVersion replaced = put("docs", "k", 40, "e3");
        assertThat(replaced.versionId()).isEqualTo("null");
        // The old null version (e0) was replaced, its extent freed; v1 and v2 remain.
        assertThat(get("docs", "k", "null").etag()).isEqualTo("e3");
        WireReader deleted = meta.ok(new ObjectRequest.DeleteObject("docs", "k", null,
                meta.nowMillis));
        assertThat(deleted.string()).isEqualTo("null");
        assertThat(deleted.bool()).isTrue();
        ObjectVersion current = get("docs", "k", null);
        assertThat(current.deleteMarker()).isTrue();
        assertThat(current.latest()).isTrue();
        ObjectListing versions = ObjectListing.decode(meta.read(
                new ObjectRequest.ListObjectVersions("docs", "", "", "", "", 100)).bodyOrThrow());
        assertThat(versions.entries()).extracting(ObjectVersion::versionId)
                .containsExactly("null", v2.versionId(), v1.versionId());
        assertThat(versions.entries()).extracting(ObjectVersion::latest)
                .containsExactly(true, false, false);
        Bucket bucket = Bucket.decode(new WireReader(getBucketBytes("docs")));
        assertThat(bucket.objectCount()).isZero();
        // Removing the marker by id brings v2 back as current.
        WireReader undeleted = meta.ok(new ObjectRequest.DeleteObject("docs", "k", "null",
                meta.nowMillis));
        assertThat(undeleted.string()).isEqualTo("null");
        assertThat(undeleted.bool()).isTrue();
        assertThat(get("docs", "k", null).versionId()).isEqualTo(v2.versionId());
        bucket = Bucket.decode(new WireReader(getBucketBytes("docs")));
        assertThat(bucket.objectCount()).isEqualTo(1);
        assertThat(bucket.logicalBytes()).isEqualTo(30);
        // Frees: e0 and e3's extents, exactly.
        WireReader frees = meta.read(new ObjectRequest.ObjectLogFrees(1, 0, 10)).bodyOrThrow();
        assertThat(ObjectExtent.decodeList(frees)).extracting(ObjectExtent::length)
                .containsExactly(10L, 40L);
        assertThat(ObjectLog.decode(new WireReader(meta.stateMachine.storeForTests().get(
                io.basalt.meta.store.MetaStore.Table.OBJ_LOG, io.basalt.meta.store.Keys.u64(1))))
                .liveBytes()).isEqualTo(2 * 4096);
    }

    private byte[] getBucketBytes(String name) {
        WireReader in = meta.read(new ObjectRequest.GetBucket(name)).bodyOrThrow();
        assertThat(in.bool()).isTrue();
        byte[] body = meta.read(new ObjectRequest.GetBucket(name)).body();
        return java.util.Arrays.copyOfRange(body, 1, body.length);
    }

    @Test
    void conditionalPutsAreCheckedInTheTransaction() {
        readyBucket("cond");
        assertThat(refusal(new ObjectRequest.PutObject("cond", "k", 1, "e", "AKIDA", Map.of(),
                Map.of(), "", Map.of(), List.of(), extents(1), "\"e\"", false, 0),
                MetaError.NO_SUCH_KEY)).contains("If-Match");
        put("cond", "k", 1, "\"abc\"");
        assertThat(get("cond", "k", null).etag()).isEqualTo("abc");
        refusal(new ObjectRequest.PutObject("cond", "k", 1, "e", "AKIDA", Map.of(), Map.of(), "",
                Map.of(), List.of(), extents(1), null, true, 0), MetaError.PRECONDITION_FAILED);
        refusal(new ObjectRequest.PutObject("cond", "k", 1, "e", "AKIDA", Map.of(), Map.of(), "",
                Map.of(), List.of(), extents(1), "\"abd\"", false, 0),
                MetaError.PRECONDITION_FAILED);
        meta.ok(new ObjectRequest.PutObject("cond", "k", 1, "e2", "AKIDA", Map.of(), Map.of(), "",
                Map.of(), List.of(), extents(1), "\"abc\"", false, 0));
        meta.ok(new ObjectRequest.PutObject("cond", "k", 1, "e3", "AKIDA", Map.of(), Map.of(), "",
                Map.of(), List.of(), extents(1), "*", false, 0));
        // An extent already committed, or past the reserved mark, is refused.
        ObjectExtent taken = get("cond", "k", null).extents().getFirst();
        assertThat(refusal(new ObjectRequest.PutObject("cond", "k2", 1, "e", "AKIDA", Map.of(),
                Map.of(), "", Map.of(), List.of(), List.of(taken), null, false, 0),
                MetaError.INVALID)).contains("overlaps committed extent");
        assertThat(refusal(new ObjectRequest.PutObject("cond", "k2", 1, "e", "AKIDA", Map.of(),
                Map.of(), "", Map.of(), List.of(), List.of(new ObjectExtent(1, 1L << 40, 1)), null,
                false, 0), MetaError.INVALID)).contains("past the log's reserved mark");
    }

    private Part part(String key, String uploadId, int number, long size, byte[] body,
                      Map<String, String> checksums) throws Exception {
        String md5 = java.util.HexFormat.of().formatHex(MessageDigest.getInstance("MD5")
                .digest(body));
        return Part.decode(meta.ok(new ObjectRequest.PutPart("mpu", key, uploadId, number, size,
                md5, checksums, extents(size), meta.nowMillis)));
    }

    @Test
    void completedUploadsHaveTheMultipartEtagAndCompositeChecksums() throws Exception {
        readyBucket("mpu");
        meta.ok(new ObjectRequest.CreateUpload("mpu", "obj", "u1", "AKIDA",
                Map.of("content-type", "video/mp4"), "SHA256", Map.of("a", "b"), 5));
        byte[] one = "part one".getBytes();
        byte[] two = "part two".getBytes();
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        byte[] shaOne = sha.digest(one);
        byte[] shaTwo = sha.digest(two);
        Part first = part("obj", "u1", 1, 5 * MIB, one,
                Map.of("SHA256", Base64.getEncoder().encodeToString(shaOne)));
        Part small = part("obj", "u1", 2, 7, two,
                Map.of("SHA256", Base64.getEncoder().encodeToString(shaTwo)));
        // Too small: part 1 replaced by a 7-byte one, then back.
        part("obj", "u1", 1, 7, one, Map.of());
        assertThat(refusal(new ObjectRequest.CompleteUpload("mpu", "obj", "u1", List.of(1, 2),
                List.of(first.etag(), small.etag()), null, false, 0), MetaError.ENTITY_TOO_SMALL))
                .contains("5 MiB");
        first = part("obj", "u1", 1, 5 * MIB, one,
                Map.of("SHA256", Base64.getEncoder().encodeToString(shaOne)));
        Part second = part("obj", "u1", 2, 7, two,
                Map.of("SHA256", Base64.getEncoder().encodeToString(shaTwo)));
        part("obj", "u1", 3, 9, "unused".getBytes(), Map.of());
        refusal(new ObjectRequest.CompleteUpload("mpu", "obj", "u1", List.of(2, 1),
                List.of(second.etag(), first.etag()), null, false, 0),
                MetaError.INVALID_PART_ORDER);
        refusal(new ObjectRequest.CompleteUpload("mpu", "obj", "u1", List.of(1, 4),
                List.of(first.etag(), second.etag()), null, false, 0), MetaError.INVALID_PART);
        ObjectVersion object = ObjectVersion.decode(meta.ok(new ObjectRequest.CompleteUpload("mpu",
                "obj", "u1", List.of(1, 2), List.of("\"" + first.etag().toUpperCase() + "\"",
                second.etag()), null, false, 99)));
        MessageDigest md5 = MessageDigest.getInstance("MD5");
        md5.update(MessageDigest.getInstance("MD5").digest(one));
        md5.update(MessageDigest.getInstance("MD5").digest(two));
        assertThat(object.etag()).isEqualTo(java.util.HexFormat.of().formatHex(md5.digest())
                + "-2");
        MessageDigest composite = MessageDigest.getInstance("SHA-256");
        composite.update(shaOne);
        composite.update(shaTwo);
        assertThat(object.checksums()).isEqualTo(Map.of("SHA256",
                Base64.getEncoder().encodeToString(composite.digest()) + "-2"));
        assertThat(object.checksumType()).isEqualTo("COMPOSITE");
        assertThat(object.partSizes()).containsExactly(5 * MIB, 7L);
        assertThat(object.size()).isEqualTo(5 * MIB + 7);
        assertThat(object.headers()).isEqualTo(Map.of("content-type", "video/mp4"));
        assertThat(object.tags()).isEqualTo(Map.of("a", "b"));
        assertThat(object.modifiedMillis()).isEqualTo(99);
        assertThat(object.extents()).containsExactlyElementsOf(
                java.util.stream.Stream.concat(first.extents().stream(),
                        second.extents().stream()).toList());
        refusal(new ObjectRequest.ListParts("mpu", "obj", "u1", 0, 10), MetaError.NO_SUCH_UPLOAD);
        // The three replaced parts and the unused part 3 are free; the object's extents live.
        List<ObjectExtent> frees = ObjectExtent.decodeList(meta.read(
                new ObjectRequest.ObjectLogFrees(1, 0, 100)).bodyOrThrow());
        assertThat(frees).extracting(ObjectExtent::length).containsExactlyInAnyOrder(5 * MIB, 7L,
                7L, 9L);
    }

    @Test
    void smallObjectsKeepTheirBytesInTheIndexAndFreeNothing() {
        readyBucket("small");
        byte[] data = "tiny object".getBytes();
        ObjectVersion big = put("small", "k", 5000, "e0");
        ObjectVersion inline = ObjectVersion.decode(meta.ok(new ObjectRequest.PutInlineObject(
                new ObjectRequest.PutObject("small", "k", data.length, "e1", "AKIDA",
                        Map.of("content-type", "text/plain"), Map.of(), "", Map.of(), List.of(),
                        List.of(), null, false, meta.nowMillis), data)));
        assertThat(inline.inlineData()).isEqualTo(data);
        assertThat(inline.extents()).isEmpty();
        ObjectVersion read = get("small", "k", null);
        assertThat(read).isEqualTo(inline);
        assertThat(read.headers()).containsEntry("content-type", "text/plain");
        // The replaced version's extents are free; the inline one owns none.
        List<ObjectExtent> frees = ObjectExtent.decodeList(meta.read(
                new ObjectRequest.ObjectLogFrees(1, 0, 100)).bodyOrThrow());
        assertThat(frees).containsExactlyElementsOf(big.extents());
        ObjectListing listing = ObjectListing.decode(meta.read(new ObjectRequest.ListObjects(
                "small", "", "", "", 10)).bodyOrThrow());
        assertThat(listing.entries()).singleElement()
                .satisfies(summary -> assertThat(summary.isInline()).isFalse())
                .satisfies(summary -> assertThat(summary.size()).isEqualTo(data.length));
        // Preconditions hold for inline puts too; a refused one changes nothing.
        assertThat(refusal(new ObjectRequest.PutInlineObject(new ObjectRequest.PutObject("small",
                "k", 1, "e2", "AKIDA", Map.of(), Map.of(), "", Map.of(), List.of(), List.of(),
                null, true, meta.nowMillis), new byte[] {7}), MetaError.PRECONDITION_FAILED))
                .isNotEmpty();
        meta.ok(new ObjectRequest.DeleteObject("small", "k", null, meta.nowMillis));
        assertThat(get("small", "k", null)).isNull();
        assertThat(ObjectExtent.decodeList(meta.read(new ObjectRequest.ObjectLogFrees(1, 0, 100))
                .bodyOrThrow())).containsExactlyElementsOf(big.extents());
    }

    @Test
    void aRepeatedCompleteAnswersTheSameObjectUntilTheRecordExpires() throws Exception {
        readyBucket("mpu");
        long start = 1_000_000;
        meta.ok(new ObjectRequest.CreateUpload("mpu", "obj", "u1", "AKIDA", Map.of(), "",
                Map.of(), start));
        Part only = part("obj", "u1", 1, 7, "part".getBytes(), Map.of());
        ObjectRequest.CompleteUpload complete = new ObjectRequest.CompleteUpload("mpu", "obj",
                "u1", List.of(1), List.of(only.etag()), null, false, start);
        ObjectVersion first = ObjectVersion.decode(meta.ok(complete));
        ObjectVersion again = ObjectVersion.decode(meta.ok(new ObjectRequest.CompleteUpload(
                "mpu", "obj", "u1", List.of(1), List.of(only.etag()), null, false,
                start + CompletedUploads.RETENTION_MILLIS)));
        assertThat(again.etag()).isEqualTo(first.etag());
        assertThat(again.versionId()).isEqualTo(first.versionId());
        assertThat(again.size()).isEqualTo(first.size());
        assertThat(again.extents()).as("the record keeps no extents").isEmpty();
        // An upload that never existed is still NoSuchUpload; so is this one past retention.
        refusal(new ObjectRequest.CompleteUpload("mpu", "obj", "u2", List.of(1),
                List.of(only.etag()), null, false, start), MetaError.NO_SUCH_UPLOAD);
        refusal(new ObjectRequest.CompleteUpload("mpu", "obj", "u1", List.of(1),
                List.of(only.etag()), null, false, start + CompletedUploads.RETENTION_MILLIS + 1),
                MetaError.NO_SUCH_UPLOAD);
        refusal(new ObjectRequest.ListParts("mpu", "obj", "u1", 0, 10), MetaError.NO_SUCH_UPLOAD);
        // Later completions delete expired records, at most 16 each, oldest first.
        int uploads = CompletedUploads.EXPIRED_PER_COMPLETE_MAX + 4;
        for (int i = 0; i < uploads; i++) {
            meta.ok(new ObjectRequest.CreateUpload("mpu", "k" + i, "u", "AKIDA", Map.of(), "",
                    Map.of(), start));
            Part part = part("k" + i, "u", 1, 3, ("p" + i).getBytes(), Map.of());
            meta.ok(new ObjectRequest.CompleteUpload("mpu", "k" + i, "u", List.of(1),
                    List.of(part.etag()), null, false, start + i));
        }
        assertThat(meta.dump().get(MetaStore.Table.S3_UPLOAD_DONE))
                .hasSize(uploads + 1);
        long late = start + CompletedUploads.RETENTION_MILLIS + uploads + 1;
        meta.ok(new ObjectRequest.CreateUpload("mpu", "late", "u", "AKIDA", Map.of(), "",
                Map.of(), late));
        Part latePart = part("late", "u", 1, 3, "late".getBytes(), Map.of());
        meta.ok(new ObjectRequest.CompleteUpload("mpu", "late", "u", List.of(1),
                List.of(latePart.etag()), null, false, late));
        assertThat(meta.dump().get(MetaStore.Table.S3_UPLOAD_DONE))
                .hasSize(uploads + 1 - CompletedUploads.EXPIRED_PER_COMPLETE_MAX + 1);
        assertThat(meta.dump().get(MetaStore.Table.S3_UPLOAD_DONE_TIME))
                .hasSize(uploads + 1 - CompletedUploads.EXPIRED_PER_COMPLETE_MAX + 1);
    }

    @Test
    void completedUploadRecordsRoundTripAndRefuseDamage() {
        ObjectVersion version = new ObjectVersion("b", "k", "null", false, true, 5, "e-1", 7,
                "AKIDA", Map.of("content-type", "x"), Map.of(), "", Map.of(), List.of(5L),
                List.of());
        byte[] value = CompletedUploads.encode(42, version);
        assertThat(CompletedUploads.decode(value))
                .isEqualTo(new CompletedUploads.Completed(42, version));
        for (int i = 0; i < value.length; i++) {
            byte[] damaged = value.clone();
            damaged[i] ^= 0x10;
            assertThatThrownBy(() -> CompletedUploads.decode(damaged))
                    .isInstanceOf(IllegalStateException.class);
        }
    }

    @Test
    void compositeChecksumsCoverCrcsAndNeedEveryPart() {
        CRC32C crc = new CRC32C();
        byte[] a = {1, 2, 3, 4};
        byte[] b = {5, 6, 7, 8};
        crc.update(a);
        crc.update(b);
        long value = crc.getValue();
        String expected = Base64.getEncoder().encodeToString(new byte[] {(byte) (value >>> 24),
                (byte) (value >>> 16), (byte) (value >>> 8), (byte) value}) + "-2";
        List<Part> parts = List.of(
                new Part(1, 1, "e", Map.of("CRC32C", Base64.getEncoder().encodeToString(a)), 0,
                        List.of()),
                new Part(2, 1, "e", Map.of("CRC32C", Base64.getEncoder().encodeToString(b)), 0,
                        List.of()));
        assertThat(MultipartLogic.compositeChecksum("CRC32C", parts))
                .isEqualTo(Map.of("CRC32C", expected));
        assertThat(MultipartLogic.compositeChecksum("CRC32", parts)).isEmpty();
        assertThat(MultipartLogic.compositeChecksum("CRC64NVME", parts)).isEmpty();
        assertThat(MultipartLogic.compositeChecksum("", parts)).isEmpty();
    }

    @Test
    void gapsAreWhatNoCommittedExtentCovers() {
        readyBucket("gaps");
        nextOffset = 8192;
        put("gaps", "a", 5000, "e");           // [8192, 16384)
        nextOffset = 32768;
        put("gaps", "b", 4096, "e");           // [32768, 36864)
        put("gaps", "c", 1, "e");              // [36864, 40960)
        meta.ok(new ObjectRequest.DeleteObject("gaps", "b", null, 0));
        WireReader in = meta.read(new ObjectRequest.ObjectLogGaps(1, 4096, 1L << 20, 10))
                .bodyOrThrow();
        assertThat(in.i64()).isEqualTo(1L << 20);
        assertThat(ObjectExtent.decodeList(in)).containsExactly(
                new ObjectExtent(1, 4096, 4096), new ObjectExtent(1, 16384, 20480),
                new ObjectExtent(1, 40960, (1L << 20) - 40960));
        // From inside an extent; one gap a page.
        in = meta.read(new ObjectRequest.ObjectLogGaps(1, 12288, 1L << 20, 1)).bodyOrThrow();
        assertThat(in.i64()).isEqualTo(40960);
        assertThat(ObjectExtent.decodeList(in)).containsExactly(new ObjectExtent(1, 16384, 20480));
        refusal(new ObjectRequest.ObjectLogGaps(9, 0, 4096, 1), MetaError.NOT_FOUND);
        // The freed extent of "b", trimmed and reported, is forgotten; unknown offsets too.
        meta.ok(new ObjectRequest.FreedObjectExtents(1, List.of(32768L, 12345L)));
        assertThat(ObjectExtent.decodeList(meta.read(new ObjectRequest.ObjectLogFrees(1, 0, 10))
                .bodyOrThrow())).isEmpty();
    }
}
