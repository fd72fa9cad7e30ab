package io.basalt.client.object;

import io.basalt.meta.api.MetaClient;
import io.basalt.meta.api.MetaException;
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
import java.util.function.Supplier;

/**
 * The object index in meta, through {@link MetaClient}: each call one meta request (a Raft entry for a
 * change, a linearizable read otherwise), meta's refusals turned into {@link ObjectStoreException}s.
 */
public final class MetaObjectIndex implements ObjectIndex {
    private final MetaClient meta;

    public MetaObjectIndex(MetaClient meta) {
        this.meta = meta;
    }

    @Override
    public Bucket createBucket(String name, String owner, String policyName, long now) {
        return call(() -> meta.createBucket(name, owner, policyName, now));
    }

    @Override
    public void deleteBucket(String name) {
        call(() -> {
            meta.deleteBucket(name);
            return null;
        });
    }

    @Override
    public Optional<Bucket> getBucket(String name) {
        return call(() -> meta.getBucket(name));
    }

    @Override
    public List<Bucket> listBuckets() {
        return call(meta::listBuckets);
    }

    @Override
    public Bucket setBucketVersioning(String name, Versioning versioning) {
        return call(() -> meta.setBucketVersioning(name, versioning));
    }

    @Override
    public ObjectVersion putObject(String bucket, String key, long size, String etag, String owner,
            Map<String, String> headers, Map<String, String> checksums, String checksumType, Map<String, String> tags,
            List<Long> partSizes, List<ObjectExtent> extents, String ifMatch, boolean ifNoneMatchAny, long now) {
        return call(() -> meta.putObject(bucket, key, size, etag, owner, headers, checksums, checksumType, tags,
                partSizes, extents, ifMatch, ifNoneMatchAny, now));
    }

    @Override
    public ObjectVersion putInlineObject(String bucket, String key, byte[] data, String etag, String owner,
            Map<String, String> headers, Map<String, String> checksums, String checksumType,
            Map<String, String> tags, String ifMatch, boolean ifNoneMatchAny, long now) {
        return call(() -> meta.putInlineObject(bucket, key, data, etag, owner, headers, checksums, checksumType,
                tags, ifMatch, ifNoneMatchAny, now));
    }

    @Override
    public Optional<ObjectVersion> getObject(String bucket, String key, String versionId) {
        return call(() -> meta.getObject(bucket, key, versionId));
    }

    @Override
    public ObjectStore.DeleteOutcome deleteObject(String bucket, String key, String versionId, long now) {
        MetaClient.DeleteResult result = call(() -> meta.deleteObject(bucket, key, versionId, now));
        return new ObjectStore.DeleteOutcome(result.versionId(), result.deleteMarker());
    }

    @Override
    public ObjectListing listObjects(String bucket, String prefix, String delimiter, String after, int maxKeys) {
        return call(() -> meta.listObjects(bucket, prefix, delimiter, after, maxKeys));
    }

    @Override
    public ObjectListing listObjectVersions(String bucket, String prefix, String delimiter, String keyMarker,
            String versionIdMarker, int maxKeys) {
        return call(() -> meta.listObjectVersions(bucket, prefix, delimiter, keyMarker, versionIdMarker, maxKeys));
    }

    @Override
    public ObjectVersion putObjectTags(String bucket, String key, String versionId, Map<String, String> tags) {
        return call(() -> meta.putObjectTags(bucket, key, versionId, tags));
    }

    @Override
    public Upload createUpload(String bucket, String key, String uploadId, String owner, Map<String, String> headers,
            String checksumAlgorithm, Map<String, String> tags, long now) {
        return call(() -> meta.createUpload(bucket, key, uploadId, owner, headers, checksumAlgorithm, tags, now));
    }

    @Override
    public Part putPart(String bucket, String key, String uploadId, int partNumber, long size, String etag,
            Map<String, String> checksums, List<ObjectExtent> extents, long now) {
        return call(() -> meta.putPart(bucket, key, uploadId, partNumber, size, etag, checksums, extents, now));
    }

    @Override
    public ObjectVersion completeUpload(String bucket, String key, String uploadId, List<Integer> partNumbers,
            List<String> partEtags, String ifMatch, boolean ifNoneMatchAny, long now) {
        return call(() -> meta.completeUpload(bucket, key, uploadId, partNumbers, partEtags, ifMatch, ifNoneMatchAny,
                now));
    }

    @Override
    public void abortUpload(String bucket, String key, String uploadId) {
        call(() -> {
            meta.abortUpload(bucket, key, uploadId);
            return null;
        });
    }

    @Override
    public PartListing listParts(String bucket, String key, String uploadId, int partNumberMarker, int maxParts) {
        return call(() -> meta.listParts(bucket, key, uploadId, partNumberMarker, maxParts));
    }

    @Override
    public UploadListing listUploads(String bucket, String prefix, String delimiter, String keyMarker,
            String uploadIdMarker, int maxUploads) {
        return call(() -> meta.listUploads(bucket, prefix, delimiter, keyMarker, uploadIdMarker, maxUploads));
    }

    @Override
    public ObjectLog openObjectLog(String policyName, String writer, List<Long> exclude, long now) {
        return call(() -> meta.openObjectLog(policyName, writer, exclude, now));
    }

    @Override
    public ObjectLog reserveObjectLog(long logId, String writer, long reservedMark, long oldestInFlight) {
        return call(() -> meta.reserveObjectLog(logId, writer, reservedMark, oldestInFlight));
    }

    @Override
    public List<ObjectExtent> objectLogGaps(long logId, long from, long to, int max) {
        return call(() -> meta.objectLogGaps(logId, from, to, max));
    }

    @Override
    public List<ObjectExtent> objectLogFrees(long logId, int max) {
        return call(() -> meta.objectLogFrees(logId, max));
    }

    @Override
    public void objectExtentsFreed(long logId, List<Long> offsets) {
        call(() -> {
            meta.objectExtentsFreed(logId, offsets);
            return null;
        });
    }

    @Override
    public ObjectLog sealObjectLog(long logId) {
        return call(() -> meta.sealObjectLog(logId));
    }

    @Override
    public Optional<S3User> getS3User(String accessKey) {
        return call(() -> meta.getS3User(accessKey));
    }

    private static <T> T call(Supplier<T> request) {
        try {
            return request.get();
        } catch (MetaException e) {
            throw translate(e);
        } catch (RuntimeException e) {
            throw new ObjectStoreException(ObjectStoreException.Kind.UNAVAILABLE, "meta: " + e.getMessage(), e);
        }
    }

    /** Meta's refusal as the object store's error kind. */
    static ObjectStoreException translate(MetaException e) {
        ObjectStoreException.Kind kind = switch (e.error()) {
            case NOT_FOUND -> ObjectStoreException.Kind.NO_SUCH_BUCKET;
            case NO_SUCH_KEY -> e.getMessage().contains("version") ? ObjectStoreException.Kind.NO_SUCH_VERSION
                    : ObjectStoreException.Kind.NO_SUCH_KEY;
            case NO_SUCH_UPLOAD -> ObjectStoreException.Kind.NO_SUCH_UPLOAD;
            case ALREADY_EXISTS -> e.getMessage().contains("owned by you") ? ObjectStoreException.Kind.BUCKET_OWNED
                    : ObjectStoreException.Kind.BUCKET_EXISTS;
            case NOT_EMPTY -> ObjectStoreException.Kind.BUCKET_NOT_EMPTY;
            case PRECONDITION_FAILED -> ObjectStoreException.Kind.PRECONDITION_FAILED;
            case INVALID_PART -> ObjectStoreException.Kind.INVALID_PART;
            case INVALID_PART_ORDER -> ObjectStoreException.Kind.INVALID_PART_ORDER;
            case ENTITY_TOO_SMALL -> ObjectStoreException.Kind.ENTITY_TOO_SMALL;
            case INVALID -> ObjectStoreException.Kind.INVALID;
            case NOT_LEADER, LEASE_HELD, NO_PLACEMENT, STALE_VERSION -> ObjectStoreException.Kind.UNAVAILABLE;
            // A gateway whose certificate meta refuses is misconfigured: the operator's error.
            case INTERNAL, FORBIDDEN -> ObjectStoreException.Kind.INTERNAL;
        };
        return new ObjectStoreException(kind, e.getMessage(), e);
    }
}
