package io.basalt.meta.model.s3;

import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;
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
 *
 * <p>Wire form: {@code string bucket | string key | string versionId | u8 deleteMarker |
 * u8 latest | i64 size | string etag | i64 modifiedMillis | string owner | map headers |
 * map checksums | string checksumType | map tags | i64 list partSizes | ObjectExtent list}.
 */
public record ObjectVersion(String bucket, String key, String versionId, boolean deleteMarker, boolean latest,
                            long size, String etag, long modifiedMillis, String owner, Map<String, String> headers,
                            Map<String, String> checksums, String checksumType, Map<String, String> tags,
                            List<Long> partSizes, List<ObjectExtent> extents) {
    /** The version id S3 calls "null": the one unversioned (or suspended) buckets overwrite. */
    public static final String NULL_VERSION = "null";

    public ObjectVersion withLatest(boolean newLatest) {
        return new ObjectVersion(bucket, key, versionId, deleteMarker, newLatest, size, etag,
                modifiedMillis, owner, headers, checksums, checksumType, tags, partSizes, extents);
    }

    public ObjectVersion withTags(Map<String, String> newTags) {
        return new ObjectVersion(bucket, key, versionId, deleteMarker, latest, size, etag,
                modifiedMillis, owner, headers, checksums, checksumType, newTags, partSizes,
                extents);
    }

    /**
     * What a listing carries: no headers, tags, part sizes or extents (a page of 1000 entries
     * stays small; a GET or HEAD reads the whole version).
     */
    public ObjectVersion summary() {
        return new ObjectVersion(bucket, key, versionId, deleteMarker, latest, size, etag,
                modifiedMillis, owner, Map.of(), checksums, checksumType, Map.of(), List.of(),
                List.of());
    }

    public void encode(WireWriter out) {
        out.string(bucket).string(key).string(versionId).bool(deleteMarker).bool(latest).i64(size)
                .string(etag).i64(modifiedMillis).string(owner).stringMap(headers)
                .stringMap(checksums).string(checksumType).stringMap(tags).i64List(partSizes);
        ObjectExtent.encodeList(out, extents);
    }

    public static ObjectVersion decode(WireReader in) {
        return new ObjectVersion(in.string(), in.string(), in.string(), in.bool(), in.bool(),
                in.i64(), in.string(), in.i64(), in.string(), in.stringMap(), in.stringMap(),
                in.string(), in.stringMap(), in.i64List(), ObjectExtent.decodeList(in));
    }
}
