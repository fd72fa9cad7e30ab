package io.basalt.client.object;

import io.basalt.meta.model.s3.Bucket;
import io.basalt.meta.model.s3.ObjectExtent;
import io.basalt.meta.model.s3.ObjectListing;
import io.basalt.meta.model.s3.ObjectLog;
import io.basalt.meta.model.s3.ObjectVersion;
import io.basalt.meta.model.s3.Part;
import io.basalt.meta.model.s3.PartListing;
import io.basalt.meta.model.s3.S3User;
import io.basalt.meta.model.s3.Upload;
import io.basalt.meta.model.s3.UploadListing;
import io.basalt.meta.model.s3.Versioning;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The object index as the object store uses it: meta's S3 operations (docs/objects.md, "The index"),
 * blocking, failing with {@link ObjectStoreException}. {@link MetaObjectIndex} is the real one; tests
 * use an in-memory one. {@code now} arguments are the caller's clock: meta's state machine takes
 * times from requests so that every replica applies the same.
 */
public interface ObjectIndex {
    Bucket createBucket(String name, String owner, String policyName, long now);

    void deleteBucket(String name);

    Optional<Bucket> getBucket(String name);

    List<Bucket> listBuckets();

    Bucket setBucketVersioning(String name, Versioning versioning);

    ObjectVersion putObject(String bucket, String key, long size, String etag, String owner, Map<String, String> headers,
            Map<String, String> checksums, String checksumType, Map<String, String> tags, List<Long> partSizes,
            List<ObjectExtent> extents, String ifMatch, boolean ifNoneMatchAny, long now);

    /** A small object whose bytes stay in the index entry (docs/objects.md, "Small objects inline"). */
    ObjectVersion putInlineObject(String bucket, String key, byte[] data, String etag, String owner,
            Map<String, String> headers, Map<String, String> checksums, String checksumType,
            Map<String, String> tags, String ifMatch, boolean ifNoneMatchAny, long now);

    Optional<ObjectVersion> getObject(String bucket, String key, String versionId);

    ObjectStore.DeleteOutcome deleteObject(String bucket, String key, String versionId, long now);

    ObjectListing listObjects(String bucket, String prefix, String delimiter, String after, int maxKeys);

    ObjectListing listObjectVersions(String bucket, String prefix, String delimiter, String keyMarker,
            String versionIdMarker, int maxKeys);

    ObjectVersion putObjectTags(String bucket, String key, String versionId, Map<String, String> tags);

    Upload createUpload(String bucket, String key, String uploadId, String owner, Map<String, String> headers,
            String checksumAlgorithm, Map<String, String> tags, long now);

    Part putPart(String bucket, String key, String uploadId, int partNumber, long size, String etag,
            Map<String, String> checksums, List<ObjectExtent> extents, long now);

    ObjectVersion completeUpload(String bucket, String key, String uploadId, List<Integer> partNumbers,
            List<String> partEtags, String ifMatch, boolean ifNoneMatchAny, long now);

    void abortUpload(String bucket, String key, String uploadId);

    PartListing listParts(String bucket, String key, String uploadId, int partNumberMarker, int maxParts);

    UploadListing listUploads(String bucket, String prefix, String delimiter, String keyMarker, String uploadIdMarker,
            int maxUploads);

    /** An unsealed log of {@code policyName} no one writes (not in {@code exclude}), or a new one. */
    ObjectLog openObjectLog(String policyName, String writer, List<Long> exclude, long now);

    ObjectLog reserveObjectLog(long logId, String writer, long reservedMark, long oldestInFlight);

    /** Ranges of [from, to) of a log that no object or part owns. */
    List<ObjectExtent> objectLogGaps(long logId, long from, long to, int max);

    /** Extents of a log freed by deletes, not yet trimmed. */
    List<ObjectExtent> objectLogFrees(long logId, int max);

    void objectExtentsFreed(long logId, List<Long> offsets);

    ObjectLog sealObjectLog(long logId);

    Optional<S3User> getS3User(String accessKey);

    /** The volume name of object log {@code logId} (meta creates it so). */
    static String volumeName(long logId) {
        return ".objlog." + logId;
    }
}
