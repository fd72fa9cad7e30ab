package io.basalt.s3.xml;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.basalt.s3.S3Error;
import io.basalt.s3.S3Exception;
import io.basalt.s3.checksum.ChecksumAlgorithm;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.function.Executable;

class RequestXmlTest {
    private static final String NS = " xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";

    @Test
    void completeMultipartUploadParsesPartsInOrder() {
        List<CompletedPart> parts = RequestXml.parseCompleteMultipartUpload(bytes(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUpload" + NS + ">"
                        + "<Part><PartNumber>1</PartNumber><ETag>\"a54357aff0632cce46d942af68356b38\""
                        + "</ETag><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part>\n"
                        + "  <Part><ETag>&quot;0c78aef83f66abc1fa1e8477f296d394&quot;</ETag>"
                        + "<PartNumber>3</PartNumber><Future>ignored</Future></Part>"
                        + "</CompleteMultipartUpload>"));
        assertThat(parts).containsExactly(
                new CompletedPart(1, "a54357aff0632cce46d942af68356b38",
                        Map.of(ChecksumAlgorithm.CRC32, "AAAAAA==")),
                new CompletedPart(3, "0c78aef83f66abc1fa1e8477f296d394", Map.of()));
    }

    @Test
    void completeMultipartUploadErrors() {
        String part1 = "<Part><PartNumber>1</PartNumber><ETag>e</ETag></Part>";
        assertError(S3Error.InvalidPartOrder, () -> complete(
                "<Part><PartNumber>2</PartNumber><ETag>e</ETag></Part>" + part1));
        assertError(S3Error.InvalidPartOrder, () -> complete(part1 + part1));
        assertError(S3Error.InvalidArgument, () -> complete(
                "<Part><PartNumber>10001</PartNumber><ETag>e</ETag></Part>"));
        assertError(S3Error.InvalidArgument, () -> complete(
                "<Part><PartNumber>0</PartNumber><ETag>e</ETag></Part>"));
        assertError(S3Error.InvalidArgument, () -> complete(
                "<Part><PartNumber>99999999999999999999</PartNumber><ETag>e</ETag></Part>"));
        assertError(S3Error.MalformedXML, () -> complete(
                "<Part><PartNumber>x</PartNumber><ETag>e</ETag></Part>"));
        assertError(S3Error.MalformedXML, () -> complete(
                "<Part><PartNumber>1</PartNumber></Part>"));
        assertError(S3Error.MalformedXML, () -> complete(""));
        assertError(S3Error.MalformedXML, () -> RequestXml.parseCompleteMultipartUpload(
                bytes("<Delete>" + part1 + "</Delete>")));
        assertError(S3Error.MalformedXML, () -> RequestXml.parseCompleteMultipartUpload(
                bytes("<CompleteMultipartUpload>" + part1)));
        assertError(S3Error.MalformedXML, () -> RequestXml.parseCompleteMultipartUpload(
                new byte[0]));
        assertError(S3Error.MaxMessageLengthExceeded, () -> RequestXml
                .parseCompleteMultipartUpload(new byte[RequestXml.COMPLETE_MULTIPART_BYTES_MAX
                        + 1]));
    }

    @Test
    void deleteParsesQuietAndVersions() {
        RequestXml.DeleteRequest request = RequestXml.parseDelete(bytes("<Delete" + NS + ">"
                + "<Quiet>true</Quiet><Object><Key>a &amp; b</Key></Object>"
                + "<Object><Key><![CDATA[<c>]]></Key><VersionId>v1</VersionId></Object>"
                + "</Delete>"));
        assertThat(request.quiet()).isTrue();
        assertThat(request.objects()).containsExactly(new ObjectIdentifier("a & b", null),
                new ObjectIdentifier("<c>", "v1"));
        assertThat(RequestXml.parseDelete(bytes("<Delete><Object><Key>k</Key></Object>"
                + "</Delete>")).quiet()).isFalse();
    }

    @Test
    void deleteKeepsWhitespaceInKeys() {
        // Keys " " and " a\t" exist in S3 (s3-tests' cleanup deletes a " " key this way).
        RequestXml.DeleteRequest request = RequestXml.parseDelete(bytes("<Delete" + NS + ">"
                + "<Object><Key> </Key></Object><Object><Key> a\t</Key></Object>"
                + "<Object> <Key>b</Key> <VersionId> v2 </VersionId></Object></Delete>"));
        assertThat(request.objects()).containsExactly(new ObjectIdentifier(" ", null),
                new ObjectIdentifier(" a\t", null), new ObjectIdentifier("b", "v2"));
        assertError(S3Error.MalformedXML, () -> RequestXml.parseDelete(bytes(
                "<Delete><Object><Key></Key></Object></Delete>")));
    }

    @Test
    void deleteErrors() {
        assertError(S3Error.MalformedXML, () -> RequestXml.parseDelete(bytes("<Delete></Delete>")));
        assertError(S3Error.MalformedXML, () -> RequestXml.parseDelete(bytes(
                "<Delete><Quiet>yes</Quiet><Object><Key>k</Key></Object></Delete>")));
        assertError(S3Error.MalformedXML, () -> RequestXml.parseDelete(bytes(
                "<Delete><Object><VersionId>v</VersionId></Object></Delete>")));
        assertError(S3Error.MalformedXML, () -> RequestXml.parseDelete(bytes(
                "<Delete><Object><Key></Key></Object></Delete>")));
        StringBuilder many = new StringBuilder("<Delete>");
        for (int i = 0; i <= RequestXml.DELETE_KEY_COUNT_MAX; i++) {
            many.append("<Object><Key>k").append(i).append("</Key></Object>");
        }
        assertError(S3Error.MalformedXML, () -> RequestXml.parseDelete(bytes(many
                + "</Delete>")));
    }

    @Test
    void taggingRules() {
        assertThat(RequestXml.parseTagging(bytes("<Tagging><TagSet><Tag><Key>k1</Key>"
                + "<Value>v1</Value></Tag><Tag><Key>k2</Key><Value></Value></Tag></TagSet>"
                + "</Tagging>"), RequestXml.OBJECT_TAG_COUNT_MAX))
                .containsExactly(new Tag("k1", "v1"), new Tag("k2", ""));
        assertError(S3Error.MalformedXML, () -> tagging(""));
        assertError(S3Error.MalformedXML, () -> tagging("<TagSet><Tag><Key>k</Key></Tag>"
                + "</TagSet>").isEmpty());
        assertError(S3Error.InvalidTag, () -> tagging(tagSet("k", "v", "k", "w")));
        assertError(S3Error.InvalidTag, () -> tagging(tagSet("", "v")));
        assertError(S3Error.InvalidTag, () -> tagging(tagSet("aws:x", "v")));
        assertError(S3Error.InvalidTag, () -> tagging(tagSet("k".repeat(129), "v")));
        assertError(S3Error.InvalidTag, () -> tagging(tagSet("k", "v".repeat(257))));
        assertThat(tagging(tagSet("\uD83D\uDE00".repeat(128), "v".repeat(256)))).hasSize(1);
        String[] eleven = new String[22];
        for (int i = 0; i < 11; i++) {
            eleven[2 * i] = "k" + i;
            eleven[2 * i + 1] = "v";
        }
        assertError(S3Error.InvalidTag, () -> tagging(tagSet(eleven)));
        assertThat(RequestXml.parseTagging(bytes("<Tagging>" + tagSet(eleven) + "</Tagging>"),
                RequestXml.BUCKET_TAG_COUNT_MAX)).hasSize(11);
    }

    @Test
    void versioningAndCreateBucketConfiguration() {
        assertThat(RequestXml.parseVersioningConfiguration(bytes("<VersioningConfiguration" + NS
                + "><Status>Enabled</Status><MfaDelete>Disabled</MfaDelete>"
                + "</VersioningConfiguration>"))).isEqualTo(VersioningStatus.ENABLED);
        assertThat(RequestXml.parseVersioningConfiguration(bytes(
                "<VersioningConfiguration/>"))).isNull();
        assertError(S3Error.MalformedXML, () -> RequestXml.parseVersioningConfiguration(bytes(
                "<VersioningConfiguration><Status>enabled</Status></VersioningConfiguration>")));
        assertError(S3Error.NotImplemented, () -> RequestXml.parseVersioningConfiguration(
                bytes("<VersioningConfiguration><MfaDelete>Enabled</MfaDelete>"
                        + "</VersioningConfiguration>")));
        assertError(S3Error.MalformedXML, () -> RequestXml.parseVersioningConfiguration(
                bytes("<VersioningConfiguration><MfaDelete>On</MfaDelete>"
                        + "</VersioningConfiguration>")));
        assertThat(RequestXml.parseCreateBucketConfiguration(bytes("<CreateBucketConfiguration"
                + NS + "><LocationConstraint>basalt-1</LocationConstraint>"
                + "</CreateBucketConfiguration>"))).isEqualTo("basalt-1");
        assertThat(RequestXml.parseCreateBucketConfiguration(bytes(" \n"))).isNull();
        assertThat(RequestXml.parseCreateBucketConfiguration(bytes(
                "<CreateBucketConfiguration></CreateBucketConfiguration>"))).isNull();
        assertError(S3Error.MalformedXML, () -> RequestXml.parseCreateBucketConfiguration(
                bytes("<LocationConstraint>x</LocationConstraint>")));
    }

    @Test
    void dtdsEntitiesAndBombsAreRefused() {
        String xxe = "<?xml version=\"1.0\"?><!DOCTYPE Delete [<!ENTITY x SYSTEM "
                + "\"file:///etc/passwd\">]><Delete><Object><Key>&x;</Key></Object></Delete>";
        assertError(S3Error.MalformedXML, () -> RequestXml.parseDelete(bytes(xxe)));
        String laughs = "<?xml version=\"1.0\"?><!DOCTYPE Delete [<!ENTITY a \"aaaaaaaaaa\">"
                + "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">]>"
                + "<Delete><Object><Key>&b;</Key></Object></Delete>";
        assertError(S3Error.MalformedXML, () -> RequestXml.parseDelete(bytes(laughs)));
        assertError(S3Error.MalformedXML, () -> RequestXml.parseDelete(bytes(
                "<Delete><Object><Key>&undeclared;</Key></Object></Delete>")));
        String deep = "<Delete>" + "<a>".repeat(10) + "</a>".repeat(10) + "</Delete>";
        assertError(S3Error.MalformedXML, () -> RequestXml.parseDelete(bytes(deep)));
        assertError(S3Error.MalformedXML, () -> RequestXml.parseDelete(bytes(
                "<Delete><Object><Key>" + "k".repeat(XmlTree.TEXT_LENGTH_MAX + 1)
                        + "</Key></Object></Delete>")));
        assertError(S3Error.MalformedXML, () -> RequestXml.parseDelete(bytes(
                "<Delete><Object><Key>k</Key></Object></Delete><Delete/>")));
    }

    @Test
    void bodiesMustBeUtf8AndMayStartWithAByteOrderMark() {
        byte[] latin1 = "<Delete><Object><Key>caf\u00e9</Key></Object></Delete>"
                .getBytes(StandardCharsets.ISO_8859_1);
        assertError(S3Error.MalformedXML, () -> RequestXml.parseDelete(latin1));
        byte[] utf8 = "<Delete><Object><Key>caf\u00e9</Key></Object></Delete>"
                .getBytes(StandardCharsets.UTF_8);
        byte[] withBom = new byte[utf8.length + 3];
        withBom[0] = (byte) 0xEF;
        withBom[1] = (byte) 0xBB;
        withBom[2] = (byte) 0xBF;
        System.arraycopy(utf8, 0, withBom, 3, utf8.length);
        assertThat(RequestXml.parseDelete(withBom).objects()).containsExactly(
                new ObjectIdentifier("caf\u00e9", null));
    }

    @Test
    void readBodyCapsTheInput() throws Exception {
        assertThat(RequestXml.readBody(new ByteArrayInputStream(new byte[10]), 10)).hasSize(10);
        assertError(S3Error.MaxMessageLengthExceeded, () -> RequestXml.readBody(
                new ByteArrayInputStream(new byte[11]), 10));
    }

    private static List<CompletedPart> complete(String parts) {
        return RequestXml.parseCompleteMultipartUpload(bytes("<CompleteMultipartUpload>" + parts
                + "</CompleteMultipartUpload>"));
    }

    private static List<Tag> tagging(String inner) {
        return RequestXml.parseTagging(bytes("<Tagging>" + inner + "</Tagging>"),
                RequestXml.OBJECT_TAG_COUNT_MAX);
    }

    private static String tagSet(String... keysAndValues) {
        StringBuilder xml = new StringBuilder("<TagSet>");
        for (int i = 0; i < keysAndValues.length; i += 2) {
            xml.append("<Tag><Key>").append(keysAndValues[i]).append("</Key><Value>")
                    .append(keysAndValues[i + 1]).append("</Value></Tag>");
        }
        return xml.append("</TagSet>").toString();
    }

    private static byte[] bytes(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    private static void assertError(S3Error error, Executable executable) {
        assertThatThrownBy(executable::execute).isInstanceOfSatisfying(S3Exception.class,
                e -> assertThat(e.error()).as(e.toString()).isEqualTo(error));
    }
}
