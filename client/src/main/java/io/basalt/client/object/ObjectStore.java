package io.basalt.client.object;

import io.basalt.meta.model.s3.Bucket;
import io.basalt.meta.model.s3.ObjectListing;
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
import java.util.concurrent.CompletableFuture;

/**
 * Buckets and objects on the cluster (docs/objects.md): names in meta's index, bytes in object logs.
 * What an object gateway needs, in protocol-neutral terms; every operation is asynchronous and fails
 * with an {@link ObjectStoreException} naming what went wrong. Strongly consistent: a put that
 * completed is seen by every later head, read and list, through any gateway.
 */
public interface ObjectStore extends AutoCloseable {

    // ---- buckets ----

    CompletableFuture<Bucket> createBucket(String name, String owner, String policyName);

    /** Fails BUCKET_NOT_EMPTY while any version, delete marker or upload is left. */
    CompletableFuture<Void> deleteBucket(String name);

    CompletableFuture<Optional<Bucket>> bucket(String name);

    CompletableFuture<List<Bucket>> listBuckets();

    CompletableFuture<Bucket> setVersioning(String bucket, Versioning versioning);

    // ---- objects ----

    /** A new body to fill; {@code expectedLength} -1 when unknown (streamed). */
    BodyWriter newBody(String bucket, long expectedLength);

    /** What a put stores besides the bytes. */
    record ObjectAttributes(String owner, String etag, Map<String, String> headers, Map<String, String> checksums,
                            String checksumType, Map<String, String> tags) {}

    /** Conditions a write checks atomically with its commit: If-Match (an ETag) and If-None-Match: *. */
    record WriteConditions(String ifMatch, boolean ifNoneMatchAny) {
        public static final WriteConditions NONE = new WriteConditions(null, false);
    }

    /** Commits a finished body as the key's new version (replacing the null version where not versioned). */
    CompletableFuture<ObjectVersion> putObject(String bucket, String key, BodyWriter.Written body,
            ObjectAttributes attributes, WriteConditions conditions);

    /** The current version ({@code versionId} null) or the named one; empty if none (or a delete marker is current). */
    CompletableFuture<Optional<ObjectVersion>> head(String bucket, String key, String versionId);

    /** Delivers bytes [offset, offset + length) of {@code version} to {@code sink}, every block CRC-checked. */
    CompletableFuture<Void> read(ObjectVersion version, long offset, long length, ReadSink sink);

    /** What a delete did: the version removed, or the delete marker it created. */
    record DeleteOutcome(String versionId, boolean deleteMarker) {}

    CompletableFuture<DeleteOutcome> delete(String bucket, String key, String versionId);

    /** A listing request: ListObjects (v1 marker / v2 start-after or token all map to {@code after}). */
    record ListQuery(String prefix, String delimiter, String after, int maxKeys) {}

    CompletableFuture<ObjectListing> list(String bucket, ListQuery query);

    CompletableFuture<ObjectListing> listVersions(String bucket, String prefix, String delimiter, String keyMarker,
            String versionIdMarker, int maxKeys);

    CompletableFuture<ObjectVersion> putTags(String bucket, String key, String versionId, Map<String, String> tags);

    // ---- multipart ----

    CompletableFuture<Upload> createUpload(String bucket, String key, ObjectAttributes attributes);

    CompletableFuture<Part> putPart(String bucket, String key, String uploadId, int partNumber, BodyWriter.Written body,
            String etag, Map<String, String> checksums);

    /** A part named in CompleteMultipartUpload. */
    record CompletedPart(int number, String etag) {}

    /** Joins the parts into the object (no bytes are copied); checks the list, sizes (5 MiB but the last) and order. */
    CompletableFuture<ObjectVersion> completeUpload(String bucket, String key, String uploadId, List<CompletedPart> parts,
            WriteConditions conditions);

    CompletableFuture<Void> abortUpload(String bucket, String key, String uploadId);

    CompletableFuture<PartListing> listParts(String bucket, String key, String uploadId, int partNumberMarker,
            int maxParts);

    CompletableFuture<UploadListing> listUploads(String bucket, String prefix, String delimiter, String keyMarker,
            String uploadIdMarker, int maxUploads);

    // ---- users ----

    CompletableFuture<Optional<S3User>> user(String accessKey);

    @Override
    void close();
}
