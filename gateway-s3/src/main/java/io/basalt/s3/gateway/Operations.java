package io.basalt.s3.gateway;

import io.basalt.client.object.ObjectStore;
import io.basalt.meta.model.s3.Bucket;
import io.basalt.meta.model.s3.ObjectListing;
import io.basalt.meta.model.s3.ObjectVersion;
import io.basalt.meta.model.s3.Upload;
import io.basalt.meta.model.s3.UploadListing;
import io.basalt.meta.model.s3.Versioning;
import io.basalt.s3.S3Error;
import io.basalt.s3.S3Exception;
import io.basalt.s3.xml.BucketSummary;
import io.basalt.s3.xml.Owner;
import io.basalt.s3.xml.RequestXml;
import io.basalt.s3.xml.ResponseXml;
import io.basalt.s3.xml.VersioningStatus;
import java.time.Instant;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;

/**
 * The S3 operations: this class dispatches and serves the bucket ones; objects, multipart
 * uploads and listings have their own classes. Each runs on the request's virtual thread and
 * ends the exchange or throws (the handler answers the error).
 *
 * <p>Access: a bucket is its owner's (S3's default of private buckets, without ACLs or
 * policies): another user's requests on it are AccessDenied.
 */
final class Operations {
    static final String STORAGE_POLICY_HEADER = "x-basalt-storage-policy";
    static final String STORAGE_CLASS = "STANDARD";
    /** The one region where CreateBucket on a bucket its requester owns is 200 OK. */
    static final String LEGACY_RECREATE_REGION = "us-east-1";
    /** Uploads listed per page while DeleteBucket aborts them (ListMultipartUploads' max). */
    private static final int UPLOAD_PAGE_SIZE = 1000;
    /**
     * Pages of uploads DeleteBucket aborts before it gives up (100,000 uploads); bounds the
     * request's work against a client that keeps starting uploads in the bucket.
     */
    private static final int DELETE_BUCKET_UPLOAD_PAGES_MAX = 100;

    final S3Gateway.Config config;
    final ObjectStore store;
    final GatewayMetrics metrics;
    private final ObjectOperations objects;
    private final MultipartOperations multipart;
    private final ListingOperations listings;

    Operations(S3Gateway.Config config, ObjectStore store, GatewayMetrics metrics) {
        this.config = config;
        this.store = store;
        this.metrics = metrics;
        this.objects = new ObjectOperations(this);
        this.multipart = new MultipartOperations(this);
        this.listings = new ListingOperations(this);
    }

    void serve(Exchange exchange) {
        switch (exchange.operation()) {
            case LIST_BUCKETS -> listBuckets(exchange);
            case CREATE_BUCKET -> createBucket(exchange);
            case HEAD_BUCKET -> headBucket(exchange);
            case DELETE_BUCKET -> deleteBucket(exchange);
            case GET_BUCKET_LOCATION -> getBucketLocation(exchange);
            case GET_BUCKET_VERSIONING -> getBucketVersioning(exchange);
            case PUT_BUCKET_VERSIONING -> putBucketVersioning(exchange);
            case LIST_OBJECTS -> listings.listObjectsV1(exchange);
            case LIST_OBJECTS_V2 -> listings.listObjectsV2(exchange);
            case LIST_OBJECT_VERSIONS -> listings.listObjectVersions(exchange);
            case LIST_MULTIPART_UPLOADS -> listings.listMultipartUploads(exchange);
            case DELETE_OBJECTS -> objects.deleteObjects(exchange);
            case PUT_OBJECT -> objects.putObject(exchange);
            case COPY_OBJECT -> objects.copyObject(exchange);
            case GET_OBJECT, HEAD_OBJECT -> objects.getObject(exchange);
            case DELETE_OBJECT -> objects.deleteObject(exchange);
            case GET_OBJECT_TAGGING -> objects.getObjectTagging(exchange);
            case PUT_OBJECT_TAGGING -> objects.putObjectTagging(exchange);
            case DELETE_OBJECT_TAGGING -> objects.deleteObjectTagging(exchange);
            case CREATE_MULTIPART_UPLOAD -> multipart.createMultipartUpload(exchange);
            case UPLOAD_PART -> multipart.uploadPart(exchange);
            case UPLOAD_PART_COPY -> multipart.uploadPartCopy(exchange);
            case COMPLETE_MULTIPART_UPLOAD -> multipart.completeMultipartUpload(exchange);
            case ABORT_MULTIPART_UPLOAD -> multipart.abortMultipartUpload(exchange);
            case LIST_PARTS -> listings.listParts(exchange);
        }
    }

    // ---- shared helpers ----

    /**
     * The bucket, if it exists and the requester owns it.
     *
     * @throws S3Exception NoSuchBucket, AccessDenied
     */
    Bucket ownedBucket(Exchange exchange, String name) {
        Optional<Bucket> bucket = StoreErrors.await(store.bucket(name));
        if (bucket.isEmpty()) {
            throw new S3Exception(S3Error.NoSuchBucket, "bucket \"" + name
                    + "\" does not exist");
        }
        if (!bucket.get().owner().equals(exchange.accessKey())) {
            throw new S3Exception(S3Error.AccessDenied, "bucket \"" + name
                    + "\" belongs to another user");
        }
        return bucket.get();
    }

    /**
     * The version a GET, HEAD, copy or tagging request names.
     *
     * @throws S3Exception NoSuchKey (with x-amz-delete-marker when a delete marker is current),
     *     NoSuchVersion, MethodNotAllowed for a named delete marker
     */
    ObjectVersion requireVersion(Exchange exchange, Bucket bucket, String key,
            String versionId) {
        Optional<ObjectVersion> found = StoreErrors.await(store.head(bucket.name(), key,
                versionId));
        if (found.isEmpty()) {
            if (versionId != null) {
                throw new S3Exception(S3Error.NoSuchVersion, "version \"" + versionId
                        + "\" of \"" + key + "\" does not exist");
            }
            if (Operations.showsVersionIds(bucket)) {
                ObjectListing newest = StoreErrors.await(store.listVersions(bucket.name(), key,
                        null, null, null, 1));
                if (!newest.entries().isEmpty() && newest.entries().getFirst().key().equals(key)
                        && newest.entries().getFirst().deleteMarker()) {
                    exchange.setHeader("x-amz-delete-marker", "true");
                    exchange.setHeader("x-amz-version-id", newest.entries().getFirst()
                            .versionId());
                }
            }
            throw new S3Exception(S3Error.NoSuchKey, "key \"" + key + "\" does not exist");
        }
        ObjectVersion version = found.get();
        if (version.deleteMarker()) {
            exchange.setHeader("x-amz-delete-marker", "true");
            exchange.setHeader("x-amz-version-id", version.versionId());
            exchange.setHeader("Allow", "DELETE");
            throw new S3Exception(S3Error.MethodNotAllowed, "version \"" + versionId
                    + "\" is a delete marker");
        }
        return version;
    }

    static Owner owner(String accessKey) {
        return new Owner(accessKey, accessKey);
    }

    /**
     * x-amz-version-id of a write's answer (PutObject, CopyObject, CompleteMultipartUpload): the
     * new version's id in a versioning-enabled bucket. A write to an unversioned or suspended
     * bucket makes the "null" version, which S3 does not name in the answer.
     */
    static void setWrittenVersionId(Exchange exchange, Bucket bucket, ObjectVersion version) {
        if (showsVersionIds(bucket) && !version.versionId().equals(ObjectVersion.NULL_VERSION)) {
            exchange.setHeader("x-amz-version-id", version.versionId());
        }
    }

    /** Whether responses about {@code bucket}'s objects carry x-amz-version-id. */
    static boolean showsVersionIds(Bucket bucket) {
        return bucket.versioning() != Versioning.UNVERSIONED;
    }

    // ---- buckets ----

    private void listBuckets(Exchange exchange) {
        List<BucketSummary> buckets = StoreErrors.await(store.listBuckets()).stream()
                .filter(bucket -> bucket.owner().equals(exchange.accessKey()))
                .sorted(Comparator.comparing(Bucket::name))
                .map(bucket -> new BucketSummary(bucket.name(), Instant.ofEpochMilli(
                        bucket.createdMillis())))
                .toList();
        exchange.sendXml(200, ResponseXml.listBuckets(owner(exchange.accessKey()), buckets));
    }

    private void createBucket(Exchange exchange) {
        byte[] body = SmallBody.read(exchange, RequestXml.SMALL_CONFIGURATION_BYTES_MAX,
                metrics);
        String location = RequestXml.parseCreateBucketConfiguration(body);
        if (location != null && !location.equals(config.region())) {
            throw new S3Exception(S3Error.IllegalLocationConstraintException, "the "
                    + location + " location constraint is incompatible with the region "
                    + config.region() + " of this endpoint");
        }
        String policy = exchange.header(STORAGE_POLICY_HEADER);
        policy = policy == null || policy.isBlank() ? config.defaultPolicy() : policy.strip();
        try {
            StoreErrors.await(store.createBucket(exchange.bucket(), exchange.accessKey(),
                    policy));
        } catch (S3Exception e) {
            // S3's legacy rule for North Virginia: re-creating a bucket you own is 200 OK there
            // (every other region says BucketAlreadyOwnedByYou). Clients written against
            // us-east-1 (boto3's "make sure it exists" create_bucket, s3-tests' fixtures) rely
            // on it. The bucket is left as it is: Basalt has no ACLs to reset.
            if (e.error() != S3Error.BucketAlreadyOwnedByYou
                    || !config.region().equals(LEGACY_RECREATE_REGION)) {
                throw e;
            }
        }
        exchange.setHeader("Location", "/" + exchange.bucket());
        exchange.sendEmpty(200);
    }

    private void headBucket(Exchange exchange) {
        ownedBucket(exchange, exchange.bucket());
        exchange.setHeader("x-amz-bucket-region", config.region());
        exchange.sendEmpty(200);
    }

    private void deleteBucket(Exchange exchange) {
        ownedBucket(exchange, exchange.bucket());
        try {
            StoreErrors.await(store.deleteBucket(exchange.bucket()));
        } catch (S3Exception e) {
            if (e.error() != S3Error.BucketNotEmpty || !abortUploadsIfNoObjects(
                    exchange.bucket())) {
                throw e;
            }
            StoreErrors.await(store.deleteBucket(exchange.bucket()));
        }
        exchange.sendEmpty(204);
    }

    /**
     * S3 deletes a bucket that holds no object versions even when multipart uploads are still in
     * progress in it; the uploads go with it. Meta refuses (aborting every upload of a bucket in
     * one Raft transaction would be unbounded work), so the gateway aborts them first, a page at
     * a time, each abort its own transaction that frees the parts' extents.
     *
     * @return whether the bucket held no object versions and its uploads were aborted (an upload
     *     started meanwhile makes the retried delete BucketNotEmpty, which is then the answer)
     */
    private boolean abortUploadsIfNoObjects(String bucket) {
        ObjectListing versions = StoreErrors.await(store.listVersions(bucket, null, null, null,
                null, 1));
        if (!versions.entries().isEmpty()) {
            return false;
        }
        for (int page = 0; page < DELETE_BUCKET_UPLOAD_PAGES_MAX; page++) {
            UploadListing uploads = StoreErrors.await(store.listUploads(bucket, null, null, null,
                    null, UPLOAD_PAGE_SIZE));
            for (Upload upload : uploads.uploads()) {
                try {
                    StoreErrors.await(store.abortUpload(bucket, upload.key(), upload.uploadId()));
                } catch (S3Exception e) {
                    if (e.error() != S3Error.NoSuchUpload) { // completed or aborted meanwhile
                        throw e;
                    }
                }
            }
            if (!uploads.truncated()) {
                return true;
            }
        }
        return true;
    }

    private void getBucketLocation(Exchange exchange) {
        ownedBucket(exchange, exchange.bucket());
        exchange.sendXml(200, ResponseXml.locationConstraint(config.region()));
    }

    private void getBucketVersioning(Exchange exchange) {
        Bucket bucket = ownedBucket(exchange, exchange.bucket());
        VersioningStatus status = switch (bucket.versioning()) {
            case UNVERSIONED -> null;
            case ENABLED -> VersioningStatus.ENABLED;
            case SUSPENDED -> VersioningStatus.SUSPENDED;
        };
        exchange.sendXml(200, ResponseXml.versioningConfiguration(status));
    }

    private void putBucketVersioning(Exchange exchange) {
        ownedBucket(exchange, exchange.bucket());
        byte[] body = SmallBody.read(exchange, RequestXml.SMALL_CONFIGURATION_BYTES_MAX,
                metrics);
        VersioningStatus status = RequestXml.parseVersioningConfiguration(body);
        if (status != null) {
            StoreErrors.await(store.setVersioning(exchange.bucket(),
                    status == VersioningStatus.ENABLED ? Versioning.ENABLED
                            : Versioning.SUSPENDED));
        }
        exchange.sendEmpty(200);
    }
}
