package io.basalt.s3.xml;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.basalt.s3.S3Error;
import io.basalt.s3.checksum.ChecksumAlgorithm;
import io.basalt.s3.checksum.ChecksumType;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ResponseXmlTest {
    private static final String DECLARATION = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
    private static final String NS = " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";
    private static final Instant TIME = Instant.parse("2013-05-24T00:00:00Z");
    private static final Owner OWNER = new Owner("id1", "alice");

    @Test
    void errorDocumentHasNoNamespaceAndEscapes() {
        assertThat(ResponseXml.error(S3Error.NoSuchKey, "no <key> & \"such\"", "/b/k'1", "r1"))
                .isEqualTo(DECLARATION + "<Error><Code>NoSuchKey</Code>"
                        + "<Message>no &lt;key&gt; &amp; &quot;such&quot;</Message>"
                        + "<Resource>/b/k&apos;1</Resource><RequestId>r1</RequestId></Error>");
        assertThat(ResponseXml.error(S3Error.SlowDown, "m", null, null))
                .isEqualTo(DECLARATION + "<Error><Code>SlowDown</Code><Message>m</Message>"
                        + "</Error>");
    }

    @Test
    void controlCharactersBecomeCharacterReferences() {
        String xml = new XmlWriter().startRoot("R", null).element("Key", "a\u0001b\rc\td\u0085")
                .end().toXml();
        assertThat(xml).endsWith("<R><Key>a&#x1;b&#xD;c\td&#x85;</Key></R>");
    }

    @Test
    void writerRefusesMisuse() {
        assertThatThrownBy(() -> new XmlWriter().start("A")).isInstanceOf(
                IllegalStateException.class);
        assertThatThrownBy(() -> new XmlWriter().startRoot("A").toXml()).isInstanceOf(
                IllegalStateException.class);
        assertThatThrownBy(() -> new XmlWriter().startRoot("A").end().startRoot("B"))
                .isInstanceOf(IllegalStateException.class);
        assertThatThrownBy(() -> new XmlWriter().end()).isInstanceOf(
                IllegalStateException.class);
    }

    @Test
    void listObjectsV1WithUrlEncoding() {
        ObjectSummary object = new ObjectSummary("photos/2013 a+b.jpg", TIME, "abc", 5,
                "STANDARD", OWNER, null);
        String xml = ListingXml.listObjectsV1(new ListingXml.V1Page("bkt", "photos/", "",
                "/", 2, true, true, "photos/2013 a+b.jpg", List.of(object),
                List.of("photos/x y/")));
        assertThat(xml).isEqualTo(DECLARATION + "<ListBucketResult" + NS + "><Name>bkt</Name>"
                + "<Prefix>photos/</Prefix><Marker></Marker>"
                + "<NextMarker>photos/2013%20a%2Bb.jpg</NextMarker><MaxKeys>2</MaxKeys>"
                + "<Delimiter>/</Delimiter><EncodingType>url</EncodingType>"
                + "<IsTruncated>true</IsTruncated><Contents>"
                + "<Key>photos/2013%20a%2Bb.jpg</Key>"
                + "<LastModified>2013-05-24T00:00:00.000Z</LastModified>"
                + "<ETag>&quot;abc&quot;</ETag><Size>5</Size>"
                + "<Owner><ID>id1</ID><DisplayName>alice</DisplayName></Owner>"
                + "<StorageClass>STANDARD</StorageClass></Contents>"
                + "<CommonPrefixes><Prefix>photos/x%20y/</Prefix></CommonPrefixes>"
                + "</ListBucketResult>");
    }

    @Test
    void listObjectsV2CountsKeysAndPrefixes() {
        ObjectSummary object = new ObjectSummary("a&b", TIME, "e", 0, "STANDARD", null,
                ChecksumAlgorithm.CRC64NVME);
        String xml = ListingXml.listObjectsV2(new ListingXml.V2Page("bkt", null, "/", 1000,
                false, "tok", "next", "a", false, List.of(object), List.of("c/", "d/")));
        assertThat(xml).contains("<Prefix></Prefix><ContinuationToken>tok</ContinuationToken>"
                + "<StartAfter>a</StartAfter><KeyCount>3</KeyCount><MaxKeys>1000</MaxKeys>")
                .contains("<Key>a&amp;b</Key>")
                .contains("<ChecksumAlgorithm>CRC64NVME</ChecksumAlgorithm><Size>0</Size>"
                        + "<StorageClass>")
                .doesNotContain("NextContinuationToken").doesNotContain("EncodingType")
                .doesNotContain("<Owner>");
    }

    @Test
    void listVersionsInterleavesVersionsAndDeleteMarkers() {
        String xml = ListingXml.listObjectVersions(new ListingXml.VersionsPage("bkt", "", "",
                null, null, 10, false, false, null, null, List.of(
                        new VersionEntry.DeleteMarker("k", "v2", true, TIME, OWNER),
                        new VersionEntry.ObjectVersion("k", "v1", false, TIME, "e", 3,
                                "STANDARD", OWNER)), List.of()));
        assertThat(xml).contains("<KeyMarker></KeyMarker><VersionIdMarker></VersionIdMarker>"
                + "<MaxKeys>10</MaxKeys><IsTruncated>false</IsTruncated><DeleteMarker>"
                + "<Key>k</Key><VersionId>v2</VersionId><IsLatest>true</IsLatest>")
                .contains("</DeleteMarker><Version><Key>k</Key><VersionId>v1</VersionId>"
                        + "<IsLatest>false</IsLatest>")
                .doesNotContain("NextKeyMarker");
    }

    @Test
    void multipartResults() {
        assertThat(ResponseXml.initiateMultipartUpload("b", "k", "u1")).isEqualTo(DECLARATION
                + "<InitiateMultipartUploadResult" + NS + "><Bucket>b</Bucket><Key>k</Key>"
                + "<UploadId>u1</UploadId></InitiateMultipartUploadResult>");
        assertThat(ResponseXml.completeMultipartUpload("http://h/b/k", "b", "k", "abc-2",
                Map.of(ChecksumAlgorithm.SHA256, "s", ChecksumAlgorithm.CRC32, "c"),
                ChecksumType.COMPOSITE)).contains("<ETag>&quot;abc-2&quot;</ETag>"
                        + "<ChecksumCRC32>c</ChecksumCRC32><ChecksumSHA256>s</ChecksumSHA256>"
                        + "<ChecksumType>COMPOSITE</ChecksumType>");
        String parts = ResponseXml.listParts(new ResponseXml.PartsPage("b", "k", "u1", 0, 2,
                1000, false, OWNER, "STANDARD", ChecksumAlgorithm.CRC32C, ChecksumType.FULL_OBJECT,
                List.of(new PartInfo(2, TIME, "e2", 5, Map.of(ChecksumAlgorithm.CRC32C, "x")))));
        assertThat(parts).contains("<PartNumberMarker>0</PartNumberMarker>"
                + "<NextPartNumberMarker>2</NextPartNumberMarker>")
                .contains("<Part><PartNumber>2</PartNumber>")
                .contains("<ChecksumCRC32C>x</ChecksumCRC32C></Part><Initiator>")
                .endsWith("<ChecksumAlgorithm>CRC32C</ChecksumAlgorithm>"
                        + "<ChecksumType>FULL_OBJECT</ChecksumType></ListPartsResult>");
        String uploads = ListingXml.listMultipartUploads(new ListingXml.UploadsPage("b", null,
                null, null, null, 1000, false, true, "k", "u1", List.of(new UploadSummary("k",
                        "u1", TIME, "STANDARD", OWNER)), List.of()));
        assertThat(uploads).contains("<NextKeyMarker>k</NextKeyMarker>"
                + "<NextUploadIdMarker>u1</NextUploadIdMarker>")
                .contains("<Upload><Key>k</Key><UploadId>u1</UploadId><Initiator>");
    }

    @Test
    void bucketAndObjectConfigurationResults() {
        assertThat(ResponseXml.listBuckets(OWNER, List.of(new BucketSummary("b1", TIME))))
                .contains("<Buckets><Bucket><Name>b1</Name><CreationDate>"
                        + "2013-05-24T00:00:00.000Z</CreationDate></Bucket></Buckets>");
        assertThat(ResponseXml.locationConstraint("us-east-1")).endsWith(
                "<LocationConstraint" + NS + "></LocationConstraint>");
        assertThat(ResponseXml.locationConstraint("basalt-1")).endsWith(
                "<LocationConstraint" + NS + ">basalt-1</LocationConstraint>");
        assertThat(ResponseXml.versioningConfiguration(null)).endsWith(
                "<VersioningConfiguration" + NS + "></VersioningConfiguration>");
        assertThat(ResponseXml.versioningConfiguration(VersioningStatus.SUSPENDED))
                .contains("<Status>Suspended</Status>");
        assertThat(ResponseXml.tagging(List.of(new Tag("k", "")))).endsWith(
                "<Tagging" + NS + "><TagSet><Tag><Key>k</Key><Value></Value></Tag></TagSet>"
                        + "</Tagging>");
        assertThat(ResponseXml.copyObjectResult("e", TIME, Map.of())).endsWith(
                "<CopyObjectResult" + NS + "><ETag>&quot;e&quot;</ETag>"
                        + "<LastModified>2013-05-24T00:00:00.000Z</LastModified>"
                        + "</CopyObjectResult>");
        assertThat(ResponseXml.copyPartResult("e", TIME, Map.of(ChecksumAlgorithm.SHA1, "s")))
                .contains("<ChecksumSHA1>s</ChecksumSHA1></CopyPartResult>");
    }

    @Test
    void deleteResultQuietListsOnlyFailures() {
        List<DeleteObjectsResult.Deleted> deleted = List.of(
                new DeleteObjectsResult.Deleted("a", null, false, null),
                new DeleteObjectsResult.Deleted("b", null, true, "m1"));
        List<DeleteObjectsResult.Failed> failed = List.of(new DeleteObjectsResult.Failed("c",
                "v", S3Error.AccessDenied, "Access Denied"));
        assertThat(ResponseXml.deleteResult(false, deleted, failed)).contains(
                "<Deleted><Key>a</Key></Deleted><Deleted><Key>b</Key>"
                        + "<DeleteMarker>true</DeleteMarker>"
                        + "<DeleteMarkerVersionId>m1</DeleteMarkerVersionId></Deleted>"
                        + "<Error><Key>c</Key><VersionId>v</VersionId><Code>AccessDenied</Code>"
                        + "<Message>Access Denied</Message></Error>");
        assertThat(ResponseXml.deleteResult(true, deleted, failed)).doesNotContain("Deleted")
                .contains("<Error><Key>c</Key>");
    }
}
