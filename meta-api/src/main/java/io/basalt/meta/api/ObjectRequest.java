package io.basalt.meta.api;

import io.basalt.meta.model.s3.ObjectExtent;
import io.basalt.meta.model.s3.ObjectVersion;
import io.basalt.meta.model.s3.Versioning;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Requests of the object index (docs/objects.md, "The index"; encodings in docs/formats.md,
 * "Ops"). Writes have codes 64..95, reads 96..127. Optional strings (a version id, a marker,
 * If-Match) are "" when absent, never null: the constructors turn null into "". Times come in the
 * request (the gateway's clock), so apply stays deterministic.
 */
public sealed interface ObjectRequest extends MetaRequest {

    /** Decodes the body of an object-index op; the caller checks that every byte was read. */
    static ObjectRequest decodeBody(MetaOp op, WireReader in) {
        return switch (op) {
            case CREATE_BUCKET -> new CreateBucket(in.string(), in.string(), in.string(), in.i64());
            case DELETE_BUCKET -> new DeleteBucket(in.string());
            case SET_BUCKET_VERSIONING -> new SetBucketVersioning(in.string(),
                    Versioning.ofCode(in.u8()));
            case PUT_OBJECT -> new PutObject(in.string(), in.string(), in.i64(), in.string(),
                    in.string(), in.stringMap(), in.stringMap(), in.string(), in.stringMap(),
                    in.i64List(), ObjectExtent.decodeList(in), in.string(), in.bool(), in.i64());
            case PUT_INLINE_OBJECT -> PutInlineObject.decodeBody(in);
            case DELETE_OBJECT -> new DeleteObject(in.string(), in.string(), in.string(), in.i64());
            case PUT_OBJECT_TAGS -> new PutObjectTags(in.string(), in.string(), in.string(),
                    in.stringMap());
            case CREATE_UPLOAD -> new CreateUpload(in.string(), in.string(), in.string(),
                    in.string(), in.stringMap(), in.string(), in.stringMap(), in.i64());
            case PUT_PART -> new PutPart(in.string(), in.string(), in.string(), in.i32(), in.i64(),
                    in.string(), in.stringMap(), ObjectExtent.decodeList(in), in.i64());
            case COMPLETE_UPLOAD -> CompleteUpload.decodeBody(in);
            case ABORT_UPLOAD -> new AbortUpload(in.string(), in.string(), in.string());
            case OPEN_OBJECT_LOG -> new OpenObjectLog(in.string(), in.string(), in.i64List(),
                    in.i64());
            case RESERVE_OBJECT_LOG -> new ReserveObjectLog(in.i64(), in.string(), in.i64(),
                    in.i64());
            case FREED_OBJECT_EXTENTS -> new FreedObjectExtents(in.i64(), in.i64List());
            case SEAL_OBJECT_LOG -> new SealObjectLog(in.i64());
            case CREATE_S3_USER -> new CreateS3User(in.string(), in.string(), in.string(),
                    in.i64());
            case DELETE_S3_USER -> new DeleteS3User(in.string());
            case GET_BUCKET -> new GetBucket(in.string());
            case LIST_BUCKETS -> new ListBuckets();
            case GET_OBJECT -> new GetObject(in.string(), in.string(), in.string());
            case LIST_OBJECTS -> new ListObjects(in.string(), in.string(), in.string(), in.string(),
                    in.i32());
            case LIST_OBJECT_VERSIONS -> new ListObjectVersions(in.string(), in.string(),
                    in.string(), in.string(), in.string(), in.i32());
            case LIST_PARTS -> new ListParts(in.string(), in.string(), in.string(), in.i32(),
                    in.i32());
            case LIST_UPLOADS -> new ListUploads(in.string(), in.string(), in.string(), in.string(),
                    in.string(), in.i32());
            case OBJECT_LOG_GAPS -> new ObjectLogGaps(in.i64(), in.i64(), in.i64(), in.i32());
            case OBJECT_LOG_FREES -> new ObjectLogFrees(in.i64(), in.i64(), in.i32());
            case LIST_OBJECT_LOGS -> new ListObjectLogs();
            case LIST_S3_USERS -> new ListS3Users();
            case GET_S3_USER -> new GetS3User(in.string());
            default -> throw new MalformedMessageException(op + " is not an object-index op");
        };
    }

    private static String orEmpty(String value) {
        return value == null ? "" : value;
    }

    // ---------------------------------------------------------------------------------------
    // Buckets and users

    /** Reply: Bucket. ALREADY_EXISTS says whether {@code owner} owns it already. */
    record CreateBucket(String name, String owner, String policy, long nowMillis)
            implements ObjectRequest {
        public MetaOp op() { return MetaOp.CREATE_BUCKET; }
        public void encodeBody(WireWriter out) {
            out.string(name).string(owner).string(policy).i64(nowMillis);
        }
    }

    /** Reply: empty. NOT_EMPTY while a version, delete marker or upload remains. */
    record DeleteBucket(String name) implements ObjectRequest {
        public MetaOp op() { return MetaOp.DELETE_BUCKET; }
        public void encodeBody(WireWriter out) {
            out.string(name);
        }
    }

    /** Reply: Bucket. Body: {@code string name | u8 versioning}. */
    record SetBucketVersioning(String name, Versioning versioning) implements ObjectRequest {
        public MetaOp op() { return MetaOp.SET_BUCKET_VERSIONING; }
        public void encodeBody(WireWriter out) {
            out.string(name).u8(versioning.code);
        }
    }

    /** Reply: S3User (with its secret). */
    record CreateS3User(String name, String accessKey, String secret, long nowMillis)
            implements ObjectRequest {
        public MetaOp op() { return MetaOp.CREATE_S3_USER; }
        public void encodeBody(WireWriter out) {
            out.string(name).string(accessKey).string(secret).i64(nowMillis);
        }
    }

    /** Reply: empty. */
    record DeleteS3User(String name) implements ObjectRequest {
        public MetaOp op() { return MetaOp.DELETE_S3_USER; }
        public void encodeBody(WireWriter out) {
            out.string(name);
        }
    }

    /** Reply: {@code u8 found [| Bucket]}. */
    record GetBucket(String name) implements ObjectRequest {
        public MetaOp op() { return MetaOp.GET_BUCKET; }
        public void encodeBody(WireWriter out) {
            out.string(name);
        }
    }

    /** Reply: {@code i32 count | count x Bucket}, by name. */
    record ListBuckets() implements ObjectRequest {
        public MetaOp op() { return MetaOp.LIST_BUCKETS; }
        public void encodeBody(WireWriter out) {}
    }

    /** Reply: {@code i32 count | count x S3User} by access key, secrets empty. */
    record ListS3Users() implements ObjectRequest {
        public MetaOp op() { return MetaOp.LIST_S3_USERS; }
        public void encodeBody(WireWriter out) {}
    }

    /** Reply: {@code u8 found [| S3User]}, with the secret (the gateway verifies signatures). */
    record GetS3User(String accessKey) implements ObjectRequest {
        public MetaOp op() { return MetaOp.GET_S3_USER; }
        public void encodeBody(WireWriter out) {
            out.string(accessKey);
        }
    }

    // ---------------------------------------------------------------------------------------
    // Objects

    /**
     * Commits a version whose bytes are in {@code extents}. Reply: ObjectVersion. Body in field
     * order; maps and lists as docs/formats.md says; {@code ifMatch} "" = none.
     */
    record PutObject(String bucket, String key, long size, String etag, String owner,
                     Map<String, String> headers, Map<String, String> checksums,
                     String checksumType, Map<String, String> tags, List<Long> partSizes,
                     List<ObjectExtent> extents, String ifMatch, boolean ifNoneMatchAny,
                     long nowMillis) implements ObjectRequest {
        public PutObject {
            checksumType = orEmpty(checksumType);
            ifMatch = orEmpty(ifMatch);
            partSizes = List.copyOf(partSizes);
            extents = List.copyOf(extents);
        }

        public MetaOp op() { return MetaOp.PUT_OBJECT; }
        public void encodeBody(WireWriter out) {
            out.string(bucket).string(key).i64(size).string(etag).string(owner).stringMap(headers)
                    .stringMap(checksums).string(checksumType).stringMap(tags).i64List(partSizes);
            ObjectExtent.encodeList(out, extents);
            out.string(ifMatch).bool(ifNoneMatchAny).i64(nowMillis);
        }
    }

    /**
     * PUT_OBJECT of a small object whose bytes travel in the entry and stay in the index
     * (docs/objects.md, "Small objects inline"): {@code object} has no extents and its size is
     * {@code data}'s length. Body: {@code PutObject body | i32 length | data | u32 crc32c of
     * data}; a CRC mismatch fails decoding, so damaged bytes never enter the log. Reply:
     * ObjectVersion (wire form 2).
     */
    record PutInlineObject(PutObject object, byte[] data) implements ObjectRequest {
        public MetaOp op() { return MetaOp.PUT_INLINE_OBJECT; }
        public void encodeBody(WireWriter out) {
            object.encodeBody(out);
            out.i32(data.length).bytes(data).i32((int) ObjectVersion.crc32c(data));
        }

        static PutInlineObject decodeBody(WireReader in) {
            PutObject object = (PutObject) ObjectRequest.decodeBody(MetaOp.PUT_OBJECT, in);
            int length = in.i32();
            if (length < 0 || length > ObjectVersion.INLINE_BYTES_MAX) {
                throw new MalformedMessageException("inline data of " + length + " bytes (max "
                        + ObjectVersion.INLINE_BYTES_MAX + ")");
            }
            byte[] data = in.bytes(length);
            if (in.i32() != (int) ObjectVersion.crc32c(data)) {
                throw new MalformedMessageException("inline data of " + object.bucket() + "/"
                        + object.key() + " fails its CRC32C");
            }
            return new PutInlineObject(object, data);
        }

        // Compared by content (tests round-trip requests); a record would compare the array.
        @Override
        public boolean equals(Object other) {
            return other instanceof PutInlineObject that && object.equals(that.object)
                    && java.util.Arrays.equals(data, that.data);
        }

        @Override
        public int hashCode() {
            return object.hashCode() * 31 + java.util.Arrays.hashCode(data);
        }

        @Override
        public String toString() {
            return "PutInlineObject[" + object + ", " + data.length + " bytes]";
        }
    }

    /** Reply: {@code string versionId ("" none) | u8 deleteMarker}. {@code versionId} "" = none. */
    record DeleteObject(String bucket, String key, String versionId, long nowMillis)
            implements ObjectRequest {
        public DeleteObject {
            versionId = orEmpty(versionId);
        }

        public MetaOp op() { return MetaOp.DELETE_OBJECT; }
        public void encodeBody(WireWriter out) {
            out.string(bucket).string(key).string(versionId).i64(nowMillis);
        }
    }

    /** Replaces a version's tags. Reply: ObjectVersion. {@code versionId} "" = current. */
    record PutObjectTags(String bucket, String key, String versionId, Map<String, String> tags)
            implements ObjectRequest {
        public PutObjectTags {
            versionId = orEmpty(versionId);
        }

        public MetaOp op() { return MetaOp.PUT_OBJECT_TAGS; }
        public void encodeBody(WireWriter out) {
            out.string(bucket).string(key).string(versionId).stringMap(tags);
        }
    }

    /** Reply: {@code u8 found [| ObjectVersion]}. {@code versionId} "" = current. */
    record GetObject(String bucket, String key, String versionId) implements ObjectRequest {
        public GetObject {
            versionId = orEmpty(versionId);
        }

        public MetaOp op() { return MetaOp.GET_OBJECT; }
        public void encodeBody(WireWriter out) {
            out.string(bucket).string(key).string(versionId);
        }
    }

    /** Current versions with key > {@code after}. Reply: ObjectListing. */
    record ListObjects(String bucket, String prefix, String delimiter, String after, int maxKeys)
            implements ObjectRequest {
        public ListObjects {
            prefix = orEmpty(prefix);
            delimiter = orEmpty(delimiter);
            after = orEmpty(after);
        }

        public MetaOp op() { return MetaOp.LIST_OBJECTS; }
        public void encodeBody(WireWriter out) {
            out.string(bucket).string(prefix).string(delimiter).string(after).i32(maxKeys);
        }
    }

    /** Every version and delete marker after the markers. Reply: ObjectListing. */
    record ListObjectVersions(String bucket, String prefix, String delimiter, String keyMarker,
                              String versionIdMarker, int maxKeys) implements ObjectRequest {
        public ListObjectVersions {
            prefix = orEmpty(prefix);
            delimiter = orEmpty(delimiter);
            keyMarker = orEmpty(keyMarker);
            versionIdMarker = orEmpty(versionIdMarker);
        }

        public MetaOp op() { return MetaOp.LIST_OBJECT_VERSIONS; }
        public void encodeBody(WireWriter out) {
            out.string(bucket).string(prefix).string(delimiter).string(keyMarker)
                    .string(versionIdMarker).i32(maxKeys);
        }
    }

    // ---------------------------------------------------------------------------------------
    // Multipart uploads

    /** Reply: Upload. {@code uploadId} is chosen by the caller. */
    record CreateUpload(String bucket, String key, String uploadId, String owner,
                        Map<String, String> headers, String checksumAlgorithm,
                        Map<String, String> tags, long nowMillis) implements ObjectRequest {
        public CreateUpload {
            checksumAlgorithm = orEmpty(checksumAlgorithm);
        }

        public MetaOp op() { return MetaOp.CREATE_UPLOAD; }
        public void encodeBody(WireWriter out) {
            out.string(bucket).string(key).string(uploadId).string(owner).stringMap(headers)
                    .string(checksumAlgorithm).stringMap(tags).i64(nowMillis);
        }
    }

    /** Reply: Part. */
    record PutPart(String bucket, String key, String uploadId, int partNumber, long size,
                   String etag, Map<String, String> checksums, List<ObjectExtent> extents,
                   long nowMillis) implements ObjectRequest {
        public PutPart {
            extents = List.copyOf(extents);
        }

        public MetaOp op() { return MetaOp.PUT_PART; }
        public void encodeBody(WireWriter out) {
            out.string(bucket).string(key).string(uploadId).i32(partNumber).i64(size).string(etag)
                    .stringMap(checksums);
            ObjectExtent.encodeList(out, extents);
            out.i64(nowMillis);
        }
    }

    /**
     * Reply: ObjectVersion. Body: {@code string bucket | string key | string uploadId |
     * i32 count | count x (i32 partNumber | string etag) | string ifMatch | u8 ifNoneMatchAny |
     * i64 nowMillis}. The two lists must be as long as each other (a form check).
     */
    record CompleteUpload(String bucket, String key, String uploadId, List<Integer> partNumbers,
                          List<String> partEtags, String ifMatch, boolean ifNoneMatchAny,
                          long nowMillis) implements ObjectRequest {
        public CompleteUpload {
            partNumbers = List.copyOf(partNumbers);
            partEtags = List.copyOf(partEtags);
            ifMatch = orEmpty(ifMatch);
        }

        public MetaOp op() { return MetaOp.COMPLETE_UPLOAD; }
        public void encodeBody(WireWriter out) {
            if (partNumbers.size() != partEtags.size()) {
                throw new IllegalArgumentException(partNumbers.size() + " part numbers but "
                        + partEtags.size() + " ETags");
            }
            out.string(bucket).string(key).string(uploadId).i32(partNumbers.size());
            for (int i = 0; i < partNumbers.size(); i++) {
                out.i32(partNumbers.get(i)).string(partEtags.get(i));
            }
            out.string(ifMatch).bool(ifNoneMatchAny).i64(nowMillis);
        }

        static CompleteUpload decodeBody(WireReader in) {
            String bucket = in.string();
            String key = in.string();
            String uploadId = in.string();
            int count = in.count(4 + 2);
            List<Integer> numbers = new ArrayList<>(count);
            List<String> etags = new ArrayList<>(count);
            for (int i = 0; i < count; i++) {
                numbers.add(in.i32());
                etags.add(in.string());
            }
            return new CompleteUpload(bucket, key, uploadId, numbers, etags, in.string(),
                    in.bool(), in.i64());
        }
    }

    /** Reply: empty. */
    record AbortUpload(String bucket, String key, String uploadId) implements ObjectRequest {
        public MetaOp op() { return MetaOp.ABORT_UPLOAD; }
        public void encodeBody(WireWriter out) {
            out.string(bucket).string(key).string(uploadId);
        }
    }

    /** Reply: PartListing of the parts numbered above {@code partNumberMarker}. */
    record ListParts(String bucket, String key, String uploadId, int partNumberMarker,
                     int maxParts) implements ObjectRequest {
        public MetaOp op() { return MetaOp.LIST_PARTS; }
        public void encodeBody(WireWriter out) {
            out.string(bucket).string(key).string(uploadId).i32(partNumberMarker).i32(maxParts);
        }
    }

    /** Reply: UploadListing. */
    record ListUploads(String bucket, String prefix, String delimiter, String keyMarker,
                       String uploadIdMarker, int maxUploads) implements ObjectRequest {
        public ListUploads {
            prefix = orEmpty(prefix);
            delimiter = orEmpty(delimiter);
            keyMarker = orEmpty(keyMarker);
            uploadIdMarker = orEmpty(uploadIdMarker);
        }

        public MetaOp op() { return MetaOp.LIST_UPLOADS; }
        public void encodeBody(WireWriter out) {
            out.string(bucket).string(prefix).string(delimiter).string(keyMarker)
                    .string(uploadIdMarker).i32(maxUploads);
        }
    }

    // ---------------------------------------------------------------------------------------
    // Object logs

    /**
     * An unsealed log of {@code policy} that no other writer leases, not in
     * {@code excludeLogIds}, else a new one; the writer gets the log's volume lease. Reply:
     * ObjectLog.
     */
    record OpenObjectLog(String policy, String writer, List<Long> excludeLogIds, long nowMillis)
            implements ObjectRequest {
        public OpenObjectLog {
            excludeLogIds = List.copyOf(excludeLogIds);
        }

        public MetaOp op() { return MetaOp.OPEN_OBJECT_LOG; }
        public void encodeBody(WireWriter out) {
            out.string(policy).string(writer).i64List(excludeLogIds).i64(nowMillis);
        }
    }

    /** Raises the log's reservedMark (never lowers it). Reply: ObjectLog. */
    record ReserveObjectLog(long logId, String writer, long reservedMark, long oldestInFlight)
            implements ObjectRequest {
        public MetaOp op() { return MetaOp.RESERVE_OBJECT_LOG; }
        public void encodeBody(WireWriter out) {
            out.i64(logId).string(writer).i64(reservedMark).i64(oldestInFlight);
        }
    }

    /** The writer trimmed these objfree extents (by offset); they are forgotten. Reply: empty. */
    record FreedObjectExtents(long logId, List<Long> offsets) implements ObjectRequest {
        public FreedObjectExtents {
            offsets = List.copyOf(offsets);
        }

        public MetaOp op() { return MetaOp.FREED_OBJECT_EXTENTS; }
        public void encodeBody(WireWriter out) {
            out.i64(logId).i64List(offsets);
        }
    }

    /** Reply: ObjectLog. */
    record SealObjectLog(long logId) implements ObjectRequest {
        public MetaOp op() { return MetaOp.SEAL_OBJECT_LOG; }
        public void encodeBody(WireWriter out) {
            out.i64(logId);
        }
    }

    /**
     * Ranges of [from, to) that no objext entry of the log covers. Reply: {@code i64 resumeFrom
     * (= to when the range was examined to its end) | ObjectExtent list}.
     */
    record ObjectLogGaps(long logId, long from, long to, int max) implements ObjectRequest {
        public MetaOp op() { return MetaOp.OBJECT_LOG_GAPS; }
        public void encodeBody(WireWriter out) {
            out.i64(logId).i64(from).i64(to).i32(max);
        }
    }

    /** The log's objfree entries at or after {@code fromOffset}. Reply: ObjectExtent list. */
    record ObjectLogFrees(long logId, long fromOffset, int max) implements ObjectRequest {
        public MetaOp op() { return MetaOp.OBJECT_LOG_FREES; }
        public void encodeBody(WireWriter out) {
            out.i64(logId).i64(fromOffset).i32(max);
        }
    }

    /** Reply: {@code i32 count | count x ObjectLog}, by id. */
    record ListObjectLogs() implements ObjectRequest {
        public MetaOp op() { return MetaOp.LIST_OBJECT_LOGS; }
        public void encodeBody(WireWriter out) {}
    }
}
