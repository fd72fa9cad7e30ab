package io.basalt.meta.api;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.meta.model.s3.ObjectExtent;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The form rules of the object index: bucket names (S3's), keys, extents, ids, maps. */
class ObjectRequestFormTest {

    @Test
    void bucketNamesFollowTheS3Rule() {
        for (String valid : List.of("abc", "my-bucket", "my.bucket.1", "0abc", "a".repeat(63),
                "a-b.c-d", "192.168.5", "1.2.3.4.5", "xn-a", "sthree", "bucket-s3alia")) {
            assertThat(ObjectRequestForm.checkBucketName(valid)).as(valid).isNull();
        }
        Map<String, String> invalid = new java.util.LinkedHashMap<>();
        invalid.put("ab", "2 characters");
        invalid.put("a".repeat(64), "64 characters");
        invalid.put("My-bucket", "'M' at 0");
        invalid.put("my_bucket", "'_' at 2");
        invalid.put("-abc", "begin and end");
        invalid.put("abc-", "begin and end");
        invalid.put(".abc", "begin and end");
        invalid.put("a..b", "two adjacent dots");
        invalid.put("192.168.5.4", "IP address");
        invalid.put("xn--abc", "reserved prefix \"xn--\"");
        invalid.put("sthree-abc", "reserved prefix \"sthree-\"");
        invalid.put("amzn-s3-demo-x", "reserved prefix");
        invalid.put("abc-s3alias", "reserved suffix \"-s3alias\"");
        invalid.put("abc--ol-s3", "reserved suffix");
        invalid.put("caf\u00e9", "at 3");
        invalid.forEach((name, why) -> assertThat(ObjectRequestForm.checkBucketName(name))
                .as(name).contains(why).contains("use 3-63 characters"));
    }

    @Test
    void createBucketChecksNameOwnerAndPolicy() {
        assertThat(MetaRequestForm.checkForm(new ObjectRequest.CreateBucket("ok-name", "AKID",
                "ec4+2", 0))).isNull();
        assertThat(MetaRequestForm.checkForm(new ObjectRequest.CreateBucket("ok-name", "AKID",
                "ec99+1", 0))).contains("policy");
        assertThat(MetaRequestForm.checkForm(new ObjectRequest.CreateBucket("ok-name", "",
                "rep3", 0))).contains("owner");
        assertThat(MetaRequestForm.checkForm(new ObjectRequest.CreateBucket("Bad", "AKID",
                "rep3", 0))).contains("invalid bucket name");
    }

    private static ObjectRequest.PutObject put(String key, long size, List<ObjectExtent> extents) {
        return new ObjectRequest.PutObject("bkt", key, size, "etag", "AKID", Map.of(), Map.of(),
                "", Map.of(), List.of(), extents, null, false, 0);
    }

    @Test
    void keysAreOneTo1024BytesOfWellFormedUtf8() {
        assertThat(MetaRequestForm.checkForm(put("k", 0, List.of()))).isNull();
        assertThat(MetaRequestForm.checkForm(put("\u00e9".repeat(512), 0, List.of()))).isNull();
        assertThat(MetaRequestForm.checkForm(put("\u00e9".repeat(512) + "x", 0, List.of())))
                .isEqualTo("object key of 1025 UTF-8 bytes (max 1024)");
        assertThat(MetaRequestForm.checkForm(put("", 0, List.of())))
                .isEqualTo("object key is empty");
        assertThat(MetaRequestForm.checkForm(put("a\uD800b", 0, List.of())))
                .contains("unpaired surrogate");
        assertThat(MetaRequestForm.checkForm(put("a\u0000b", 0, List.of()))).isNull();
    }

    @Test
    void extentsMustBeAlignedInsideALogAddUpAndNotOverlap() {
        ObjectExtent a = new ObjectExtent(1, 0, 5000);
        ObjectExtent b = new ObjectExtent(1, 8192, 100);
        assertThat(MetaRequestForm.checkForm(put("k", 5100, List.of(a, b)))).isNull();
        assertThat(MetaRequestForm.checkForm(put("k", 5101, List.of(a, b))))
                .isEqualTo("extents add up to 5100 bytes, not the size 5101");
        assertThat(MetaRequestForm.checkForm(put("k", 5100, List.of(a, new ObjectExtent(1,
                4096, 100))))).contains("overlap");
        assertThat(MetaRequestForm.checkForm(put("k", 200, List.of(new ObjectExtent(1, 4096, 100),
                new ObjectExtent(2, 4096, 100))))).isNull();
        assertThat(MetaRequestForm.checkForm(put("k", 100, List.of(new ObjectExtent(1, 100,
                100))))).contains("multiple of 4096");
        assertThat(MetaRequestForm.checkForm(put("k", 100, List.of(new ObjectExtent(0, 0, 100)))))
                .contains("log id > 0");
        assertThat(MetaRequestForm.checkForm(put("k", 0, List.of(new ObjectExtent(1, 0, 0)))))
                .contains("length > 0");
        long end = 16L << 40;
        assertThat(MetaRequestForm.checkForm(put("k", 4096, List.of(new ObjectExtent(1,
                end - 4096, 4096))))).isNull();
        assertThat(MetaRequestForm.checkForm(put("k", 4097, List.of(new ObjectExtent(1,
                end - 4096, 4097))))).contains("end <=");
        assertThat(MetaRequestForm.checkForm(put("k", Long.MAX_VALUE, List.of(new ObjectExtent(1,
                0, Long.MAX_VALUE))))).contains("size");
    }

    @Test
    void versionIdsUploadIdsPartsAndChecksums() {
        assertThat(MetaRequestForm.checkForm(new ObjectRequest.GetObject("bkt", "k", "null")))
                .isNull();
        assertThat(MetaRequestForm.checkForm(new ObjectRequest.GetObject("bkt", "k",
                "00000000000000ff"))).isNull();
        assertThat(MetaRequestForm.checkForm(new ObjectRequest.GetObject("bkt", "k", "FF")))
                .isEqualTo("invalid version id \"FF\"");
        assertThat(MetaRequestForm.checkForm(new ObjectRequest.PutPart("bkt", "k", "up", 0, 0,
                "0123456789abcdef0123456789abcdef", Map.of(), List.of(), 0)))
                .isEqualTo("part number 0 (1..10000)");
        assertThat(MetaRequestForm.checkForm(new ObjectRequest.PutPart("bkt", "k", "up", 1, 0,
                "\"0123456789ABCDEF0123456789abcdef\"", Map.of("CRC32", "AAAAAA=="), List.of(),
                0))).isNull();
        assertThat(MetaRequestForm.checkForm(new ObjectRequest.PutPart("bkt", "k", "up", 1, 0,
                "abc", Map.of(), List.of(), 0))).contains("not a hex MD5");
        assertThat(MetaRequestForm.checkForm(new ObjectRequest.PutPart("bkt", "k", "up", 1, 0,
                "0123456789abcdef0123456789abcdef", Map.of("CRC32", "AAAA"), List.of(), 0)))
                .isEqualTo("CRC32 checksum of 3 bytes (must be 4)");
        assertThat(MetaRequestForm.checkForm(new ObjectRequest.PutPart("bkt", "k", "up", 1, 0,
                "0123456789abcdef0123456789abcdef", Map.of("MD4", "AAAAAA=="), List.of(), 0)))
                .contains("unknown checksum algorithm");
        assertThat(MetaRequestForm.checkForm(new ObjectRequest.CreateUpload("bkt", "k",
                "has space", "AKID", Map.of(), "", Map.of(), 0))).contains("upload id");
        assertThat(MetaRequestForm.checkForm(new ObjectRequest.ListObjects("bkt", "", "", "",
                -1))).contains("max-keys");
        assertThat(MetaRequestForm.checkForm(new ObjectRequest.ListObjectVersions("bkt", "", "",
                "", "null", 10))).contains("needs a key marker");
    }

    @Test
    void logRequestsAreBounded() {
        assertThat(MetaRequestForm.checkForm(new ObjectRequest.ReserveObjectLog(1, "gw", 4096,
                5000))).contains("oldest in flight 5000");
        assertThat(MetaRequestForm.checkForm(new ObjectRequest.ReserveObjectLog(1, "gw", 4097,
                0))).contains("multiple of 4096");
        assertThat(MetaRequestForm.checkForm(new ObjectRequest.ReserveObjectLog(1, "gw",
                (16L << 40) + 4096, 0))).contains("reserved mark");
        assertThat(MetaRequestForm.checkForm(new ObjectRequest.ObjectLogGaps(1, 10, 5, 1)))
                .contains("gap range");
        assertThat(MetaRequestForm.checkForm(new ObjectRequest.ObjectLogGaps(1, 0, 5, 1001)))
                .contains("page limit 1001");
        assertThat(MetaRequestForm.checkForm(new ObjectRequest.OpenObjectLog("rep3", "a b",
                List.of(), 0))).contains("client id");
        assertThat(MetaRequestForm.checkForm(new ObjectRequest.FreedObjectExtents(1,
                List.of(-1L)))).contains("negative");
    }

    @Test
    void internalVolumesCanBeFetchedButNotCreated() {
        assertThat(MetaRequestForm.checkForm(new MetaRequest.GetVolume(".objlog.7"))).isNull();
        assertThat(MetaRequestForm.checkForm(new MetaRequest.CreateVolume(".objlog.7", 1L << 30,
                "rep3", 0))).contains("invalid volume name");
        assertThat(MetaRequestForm.checkForm(new MetaRequest.DeleteVolume(".objlog.7", true)))
                .contains("invalid volume name");
        assertThat(MetaRequestForm.checkForm(new MetaRequest.ResizeVolume(".objlog.7", 1L << 30,
                false))).contains("invalid volume name");
    }

    @Test
    void inlineObjectsCarryTheirBytesAndNoExtents() {
        byte[] data = new byte[100];
        ObjectRequest.PutObject object = new ObjectRequest.PutObject("bucket", "key", 100, "e",
                "AKIDA", Map.of(), Map.of(), "", Map.of(), List.of(), List.of(), null, false, 0);
        assertThat(ObjectRequestForm.checkForm(new ObjectRequest.PutInlineObject(object, data)))
                .isNull();
        assertThat(ObjectRequestForm.checkForm(new ObjectRequest.PutInlineObject(object,
                new byte[99]))).contains("declares size 100");
        assertThat(ObjectRequestForm.checkForm(new ObjectRequest.PutInlineObject(
                new ObjectRequest.PutObject("bucket", "key", 100, "e", "AKIDA", Map.of(), Map.of(),
                        "", Map.of(), List.of(), List.of(new ObjectExtent(1, 0, 100)), null, false,
                        0), data))).contains("no extents");
        byte[] big = new byte[io.basalt.meta.model.s3.ObjectVersion.INLINE_BYTES_MAX + 1];
        assertThat(ObjectRequestForm.checkForm(new ObjectRequest.PutInlineObject(
                new ObjectRequest.PutObject("bucket", "key", big.length, "e", "AKIDA", Map.of(),
                        Map.of(), "", Map.of(), List.of(), List.of(), null, false, 0), big)))
                .contains("16384 bytes inline");
    }
}
