package io.basalt.s3.xml;

import io.basalt.s3.ETags;
import io.basalt.s3.S3Error;
import io.basalt.s3.checksum.ChecksumAlgorithm;
import io.basalt.s3.checksum.ChecksumType;
import java.time.Instant;
import java.util.EnumMap;
import java.util.List;
import java.util.Map;

/**
 * Every S3 response body but the listings ({@link ListingXml}): Error, ListAllMyBucketsResult,
 * LocationConstraint, VersioningConfiguration, Tagging, CopyObjectResult, CopyPartResult,
 * DeleteResult and the multipart results. ETags are given bare and written quoted; checksums
 * are written in {@link ChecksumAlgorithm} order.
 */
public final class ResponseXml {
    /** The region whose LocationConstraint is empty: S3's legacy default. */
    public static final String DEFAULT_REGION = "us-east-1";

    private ResponseXml() {}

    /**
     * The error document. S3 writes it without a namespace.
     *
     * @param resource the bucket or object path the request named, or null
     * @param requestId the request's id, or null
     */
    public static String error(S3Error error, String message, String resource,
            String requestId) {
        return new XmlWriter().startRoot("Error", null)
                .element("Code", error.code())
                .element("Message", message)
                .optionalElement("Resource", resource)
                .optionalElement("RequestId", requestId)
                .end().toXml();
    }

    public static String listBuckets(Owner owner, List<BucketSummary> buckets) {
        XmlWriter xml = new XmlWriter().startRoot("ListAllMyBucketsResult");
        owner.write(xml, "Owner");
        xml.start("Buckets");
        for (BucketSummary bucket : buckets) {
            xml.start("Bucket").element("Name", bucket.name())
                    .element("CreationDate", bucket.creationDate()).end();
        }
        return xml.end().end().toXml();
    }

    /** GetBucketLocation: empty for {@value #DEFAULT_REGION}, as S3 answers. */
    public static String locationConstraint(String region) {
        return new XmlWriter().startRoot("LocationConstraint")
                .text(DEFAULT_REGION.equals(region) ? "" : region).end().toXml();
    }

    /** GetBucketVersioning; a bucket never versioned has no Status. */
    public static String versioningConfiguration(VersioningStatus status) {
        XmlWriter xml = new XmlWriter().startRoot("VersioningConfiguration");
        if (status != null) {
            xml.element("Status", status.xmlName());
        }
        return xml.end().toXml();
    }

    public static String tagging(List<Tag> tags) {
        XmlWriter xml = new XmlWriter().startRoot("Tagging").start("TagSet");
        for (Tag tag : tags) {
            xml.start("Tag").element("Key", tag.key()).element("Value", tag.value()).end();
        }
        return xml.end().end().toXml();
    }

    public static String copyObjectResult(String etag, Instant lastModified,
            Map<ChecksumAlgorithm, String> checksums) {
        return copyResult("CopyObjectResult", etag, lastModified, checksums);
    }

    public static String copyPartResult(String etag, Instant lastModified,
            Map<ChecksumAlgorithm, String> checksums) {
        return copyResult("CopyPartResult", etag, lastModified, checksums);
    }

    /** DeleteObjects; in quiet mode only the failures are listed. */
    public static String deleteResult(boolean quiet, List<DeleteObjectsResult.Deleted> deleted,
            List<DeleteObjectsResult.Failed> failed) {
        XmlWriter xml = new XmlWriter().startRoot("DeleteResult");
        if (!quiet) {
            for (DeleteObjectsResult.Deleted item : deleted) {
                xml.start("Deleted").element("Key", item.key())
                        .optionalElement("VersionId", item.versionId());
                if (item.deleteMarker()) {
                    xml.element("DeleteMarker", true)
                            .optionalElement("DeleteMarkerVersionId",
                                    item.deleteMarkerVersionId());
                }
                xml.end();
            }
        }
        for (DeleteObjectsResult.Failed item : failed) {
            xml.start("Error").element("Key", item.key())
                    .optionalElement("VersionId", item.versionId())
                    .element("Code", item.error().code())
                    .element("Message", item.message())
                    .end();
        }
        return xml.end().toXml();
    }

    public static String initiateMultipartUpload(String bucket, String key, String uploadId) {
        return new XmlWriter().startRoot("InitiateMultipartUploadResult")
                .element("Bucket", bucket).element("Key", key).element("UploadId", uploadId)
                .end().toXml();
    }

    /**
     * @param location the object's URL
     * @param checksumType null when the upload has no additional checksum
     */
    public static String completeMultipartUpload(String location, String bucket, String key,
            String etag, Map<ChecksumAlgorithm, String> checksums, ChecksumType checksumType) {
        XmlWriter xml = new XmlWriter().startRoot("CompleteMultipartUploadResult")
                .element("Location", location).element("Bucket", bucket).element("Key", key)
                .element("ETag", ETags.quote(etag));
        writeChecksums(xml, checksums);
        return xml.optionalElement("ChecksumType", checksumType == null ? null
                : checksumType.name()).end().toXml();
    }

    /** A ListParts page. */
    public record PartsPage(String bucket, String key, String uploadId, int partNumberMarker,
            int nextPartNumberMarker, int maxParts, boolean truncated, Owner owner,
            String storageClass, ChecksumAlgorithm checksumAlgorithm,
            ChecksumType checksumType, List<PartInfo> parts) {}

    public static String listParts(PartsPage page) {
        XmlWriter xml = new XmlWriter().startRoot("ListPartsResult")
                .element("Bucket", page.bucket())
                .element("Key", page.key())
                .element("UploadId", page.uploadId())
                .element("PartNumberMarker", page.partNumberMarker())
                .element("NextPartNumberMarker", page.nextPartNumberMarker())
                .element("MaxParts", page.maxParts())
                .element("IsTruncated", page.truncated());
        for (PartInfo part : page.parts()) {
            xml.start("Part").element("PartNumber", part.partNumber())
                    .element("LastModified", part.lastModified())
                    .element("ETag", ETags.quote(part.etag()))
                    .element("Size", part.sizeBytes());
            writeChecksums(xml, part.checksums());
            xml.end();
        }
        page.owner().write(xml, "Initiator");
        page.owner().write(xml, "Owner");
        xml.element("StorageClass", page.storageClass());
        if (page.checksumAlgorithm() != null) {
            xml.element("ChecksumAlgorithm", page.checksumAlgorithm().algorithmName());
        }
        if (page.checksumType() != null) {
            xml.element("ChecksumType", page.checksumType().name());
        }
        return xml.end().toXml();
    }

    private static String copyResult(String root, String etag, Instant lastModified,
            Map<ChecksumAlgorithm, String> checksums) {
        XmlWriter xml = new XmlWriter().startRoot(root)
                .element("ETag", ETags.quote(etag))
                .element("LastModified", lastModified);
        writeChecksums(xml, checksums);
        return xml.end().toXml();
    }

    private static void writeChecksums(XmlWriter xml, Map<ChecksumAlgorithm, String> checksums) {
        if (!checksums.isEmpty()) {
            new EnumMap<>(checksums).forEach((algorithm, value) -> xml.element(
                    algorithm.xmlElementName(), value));
        }
    }
}
