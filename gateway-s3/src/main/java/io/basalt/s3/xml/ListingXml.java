package io.basalt.s3.xml;

import io.basalt.s3.ETags;
import io.basalt.s3.UriEncoding;
import java.util.List;

/**
 * The listing responses: ListObjects (v1, {@code ListBucketResult}), ListObjectsV2 (also
 * {@code ListBucketResult}), ListObjectVersions ({@code ListVersionsResult}) and
 * ListMultipartUploads ({@code ListMultipartUploadsResult}). Element order is S3's.
 *
 * <p>With {@code encoding-type=url} in the request, S3 URL-encodes the fields that hold keys
 * (Key, Prefix, Delimiter, Marker, NextMarker, StartAfter, KeyMarker, NextKeyMarker and each
 * CommonPrefixes Prefix) and echoes {@code <EncodingType>url</EncodingType>}, so keys with
 * characters XML 1.0 cannot carry survive. Encoded here with SigV4's UriEncode, slashes kept;
 * the SDKs decode with URL-decoding (boto3 with unquote_plus), which reads it back exactly.
 * Tokens and upload ids are not encoded.
 */
public final class ListingXml {
    private ListingXml() {}

    /** A ListObjects (v1) page. {@code nextMarker} is set only when truncated. */
    public record V1Page(String bucket, String prefix, String marker, String delimiter,
            int maxKeys, boolean encodeUrl, boolean truncated, String nextMarker,
            List<ObjectSummary> contents, List<String> commonPrefixes) {}

    /** A ListObjectsV2 page; KeyCount is contents plus common prefixes. */
    public record V2Page(String bucket, String prefix, String delimiter, int maxKeys,
            boolean encodeUrl, String continuationToken, String nextContinuationToken,
            String startAfter, boolean truncated, List<ObjectSummary> contents,
            List<String> commonPrefixes) {}

    /** A ListObjectVersions page. */
    public record VersionsPage(String bucket, String prefix, String keyMarker,
            String versionIdMarker, String delimiter, int maxKeys, boolean encodeUrl,
            boolean truncated, String nextKeyMarker, String nextVersionIdMarker,
            List<VersionEntry> entries, List<String> commonPrefixes) {}

    /** A ListMultipartUploads page. */
    public record UploadsPage(String bucket, String prefix, String keyMarker,
            String uploadIdMarker, String delimiter, int maxUploads, boolean encodeUrl,
            boolean truncated, String nextKeyMarker, String nextUploadIdMarker,
            List<UploadSummary> uploads, List<String> commonPrefixes) {}

    public static String listObjectsV1(V1Page page) {
        boolean url = page.encodeUrl();
        XmlWriter xml = new XmlWriter().startRoot("ListBucketResult");
        xml.element("Name", page.bucket())
                .element("Prefix", encode(page.prefix(), url))
                .element("Marker", encode(page.marker(), url))
                .optionalElement("NextMarker", page.truncated() ? encodeOrNull(
                        page.nextMarker(), url) : null)
                .element("MaxKeys", page.maxKeys())
                .optionalElement("Delimiter", encodeOrNull(page.delimiter(), url))
                .optionalElement("EncodingType", url ? "url" : null)
                .element("IsTruncated", page.truncated());
        page.contents().forEach(object -> writeObject(xml, object, url));
        writeCommonPrefixes(xml, page.commonPrefixes(), url);
        return xml.end().toXml();
    }

    public static String listObjectsV2(V2Page page) {
        boolean url = page.encodeUrl();
        XmlWriter xml = new XmlWriter().startRoot("ListBucketResult");
        xml.element("Name", page.bucket())
                .element("Prefix", encode(page.prefix(), url))
                .optionalElement("ContinuationToken", page.continuationToken())
                .optionalElement("NextContinuationToken", page.truncated()
                        ? page.nextContinuationToken() : null)
                .optionalElement("StartAfter", encodeOrNull(page.startAfter(), url))
                .element("KeyCount", page.contents().size() + page.commonPrefixes().size())
                .element("MaxKeys", page.maxKeys())
                .optionalElement("Delimiter", encodeOrNull(page.delimiter(), url))
                .optionalElement("EncodingType", url ? "url" : null)
                .element("IsTruncated", page.truncated());
        page.contents().forEach(object -> writeObject(xml, object, url));
        writeCommonPrefixes(xml, page.commonPrefixes(), url);
        return xml.end().toXml();
    }

    public static String listObjectVersions(VersionsPage page) {
        boolean url = page.encodeUrl();
        XmlWriter xml = new XmlWriter().startRoot("ListVersionsResult");
        xml.element("Name", page.bucket())
                .element("Prefix", encode(page.prefix(), url))
                .element("KeyMarker", encode(page.keyMarker(), url))
                .element("VersionIdMarker", page.versionIdMarker() == null ? ""
                        : page.versionIdMarker())
                .optionalElement("NextKeyMarker", page.truncated() ? encodeOrNull(
                        page.nextKeyMarker(), url) : null)
                .optionalElement("NextVersionIdMarker", page.truncated()
                        ? page.nextVersionIdMarker() : null)
                .element("MaxKeys", page.maxKeys())
                .optionalElement("Delimiter", encodeOrNull(page.delimiter(), url))
                .optionalElement("EncodingType", url ? "url" : null)
                .element("IsTruncated", page.truncated());
        for (VersionEntry entry : page.entries()) {
            switch (entry) {
                case VersionEntry.ObjectVersion version -> {
                    xml.start("Version")
                            .element("Key", encode(version.key(), url))
                            .element("VersionId", version.versionId())
                            .element("IsLatest", version.isLatest())
                            .element("LastModified", version.lastModified())
                            .element("ETag", ETags.quote(version.etag()))
                            .element("Size", version.sizeBytes());
                    if (version.owner() != null) {
                        version.owner().write(xml, "Owner");
                    }
                    xml.element("StorageClass", version.storageClass()).end();
                }
                case VersionEntry.DeleteMarker marker -> {
                    xml.start("DeleteMarker")
                            .element("Key", encode(marker.key(), url))
                            .element("VersionId", marker.versionId())
                            .element("IsLatest", marker.isLatest())
                            .element("LastModified", marker.lastModified());
                    if (marker.owner() != null) {
                        marker.owner().write(xml, "Owner");
                    }
                    xml.end();
                }
            }
        }
        writeCommonPrefixes(xml, page.commonPrefixes(), url);
        return xml.end().toXml();
    }

    public static String listMultipartUploads(UploadsPage page) {
        boolean url = page.encodeUrl();
        XmlWriter xml = new XmlWriter().startRoot("ListMultipartUploadsResult");
        xml.element("Bucket", page.bucket())
                .element("KeyMarker", encode(page.keyMarker(), url))
                .element("UploadIdMarker", page.uploadIdMarker() == null ? ""
                        : page.uploadIdMarker())
                .optionalElement("NextKeyMarker", page.truncated() ? encodeOrNull(
                        page.nextKeyMarker(), url) : null)
                .optionalElement("NextUploadIdMarker", page.truncated()
                        ? page.nextUploadIdMarker() : null)
                .element("Prefix", encode(page.prefix(), url))
                .optionalElement("Delimiter", encodeOrNull(page.delimiter(), url))
                .element("MaxUploads", page.maxUploads())
                .optionalElement("EncodingType", url ? "url" : null)
                .element("IsTruncated", page.truncated());
        for (UploadSummary upload : page.uploads()) {
            xml.start("Upload")
                    .element("Key", encode(upload.key(), url))
                    .element("UploadId", upload.uploadId());
            upload.owner().write(xml, "Initiator");
            upload.owner().write(xml, "Owner");
            xml.element("StorageClass", upload.storageClass())
                    .element("Initiated", upload.initiated())
                    .end();
        }
        writeCommonPrefixes(xml, page.commonPrefixes(), url);
        return xml.end().toXml();
    }

    private static void writeObject(XmlWriter xml, ObjectSummary object, boolean url) {
        xml.start("Contents")
                .element("Key", encode(object.key(), url))
                .element("LastModified", object.lastModified())
                .element("ETag", ETags.quote(object.etag()));
        if (object.checksumAlgorithm() != null) {
            xml.element("ChecksumAlgorithm", object.checksumAlgorithm().algorithmName());
        }
        xml.element("Size", object.sizeBytes());
        if (object.owner() != null) {
            object.owner().write(xml, "Owner");
        }
        xml.element("StorageClass", object.storageClass()).end();
    }

    private static void writeCommonPrefixes(XmlWriter xml, List<String> prefixes, boolean url) {
        for (String prefix : prefixes) {
            xml.start("CommonPrefixes").element("Prefix", encode(prefix, url)).end();
        }
    }

    /** {@code value} URL-encoded when asked; null as empty. */
    static String encode(String value, boolean url) {
        if (value == null) {
            return "";
        }
        return url ? UriEncoding.encode(value, false) : value;
    }

    private static String encodeOrNull(String value, boolean url) {
        return value == null ? null : encode(value, url);
    }
}
