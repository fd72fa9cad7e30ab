package io.basalt.meta.model.s3;

import java.util.List;
import java.util.Map;

/**
 * One version of an object, or a delete marker. {@code versionId} is "null" for the version an
 * unversioned or suspended bucket holds (S3's null version). {@code headers} are the stored content
 * headers (content-type, content-encoding, content-disposition, content-language, cache-control,
 * expires) and user metadata (x-amz-meta-*), lower-case names. {@code checksums}: algorithm name
 * (CRC32, CRC32C, CRC64NVME, SHA1, SHA256) to base64 value, with {@code checksumType} FULL_OBJECT or
 * COMPOSITE (empty when none). {@code partSizes}: the part sizes of a multipart object, in order (empty
 * for a single PUT), for GET ?partNumber. {@code extents}: where the bytes are, in order; their lengths
 * add up to {@code size}.
 */
public record ObjectVersion(String bucket, String key, String versionId, boolean deleteMarker, boolean latest,
                            long size, String etag, long modifiedMillis, String owner, Map<String, String> headers,
                            Map<String, String> checksums, String checksumType, Map<String, String> tags,
                            List<Long> partSizes, List<ObjectExtent> extents) {
    /** The version id S3 calls "null": the one unversioned (or suspended) buckets overwrite. */
    public static final String NULL_VERSION = "null";
}
