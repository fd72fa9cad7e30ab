package io.basalt.meta.server;

import io.basalt.meta.api.ObjectRequest;
import io.basalt.meta.model.s3.ObjectListing;
import io.basalt.meta.model.s3.UploadListing;
import io.basalt.meta.server.ObjectIndex.BucketState;
import io.basalt.meta.store.MetaStore;
import io.basalt.meta.store.Tx;

/**
 * The object index in meta's state machine (docs/objects.md, "The index"; docs/meta.md, "Object
 * index"): dispatches its requests to the logic by idea: buckets and users
 * ({@link BucketLogic}), versions ({@link VersionLogic}), multipart uploads
 * ({@link MultipartLogic}), listings ({@link ObjectListingLogic}) and object logs
 * ({@link ObjectLogLogic}), over the tables {@link ObjectIndex} keeps consistent.
 *
 * <p>Apply is deterministic like the rest of {@link MetaLogic}: times come in the request, ids
 * from counters in the state (buckets, logs, and each bucket's sequence for versions and
 * uploads), and only sorted data is iterated. A refusal returns before the first write, so it
 * changes nothing but {@code lastApplied}.
 */
final class ObjectLogic {
    private ObjectLogic() {}

    static byte[] apply(ObjectRequest request, MetaLogic.EntryContext context, Tx tx) {
        return switch (request) {
            case ObjectRequest.CreateBucket r -> BucketLogic.createBucket(r, tx);
            case ObjectRequest.DeleteBucket r -> BucketLogic.deleteBucket(r, tx);
            case ObjectRequest.SetBucketVersioning r -> BucketLogic.setVersioning(r, tx);
            case ObjectRequest.CreateS3User r -> BucketLogic.createUser(r, tx);
            case ObjectRequest.DeleteS3User r -> BucketLogic.deleteUser(r, tx);
            case ObjectRequest.PutObject r -> VersionLogic.putObject(r, null, tx);
            case ObjectRequest.PutInlineObject r -> VersionLogic.putObject(r.object(), r.data(), tx);
            case ObjectRequest.DeleteObject r -> VersionLogic.deleteObject(r, tx);
            case ObjectRequest.PutObjectTags r -> VersionLogic.putTags(r, tx);
            case ObjectRequest.CreateUpload r -> MultipartLogic.createUpload(r, tx);
            case ObjectRequest.PutPart r -> MultipartLogic.putPart(r, tx);
            case ObjectRequest.CompleteUpload r -> MultipartLogic.completeUpload(r, tx);
            case ObjectRequest.AbortUpload r -> MultipartLogic.abortUpload(r, tx);
            case ObjectRequest.OpenObjectLog r -> ObjectLogLogic.open(r, context, tx);
            case ObjectRequest.ReserveObjectLog r -> ObjectLogLogic.reserve(r, tx);
            case ObjectRequest.FreedObjectExtents r -> ObjectLogLogic.freed(r, tx);
            case ObjectRequest.SealObjectLog r -> ObjectLogLogic.seal(r, tx);
            default -> MetaLogic.readThroughLog(request);
        };
    }

    static byte[] read(ObjectRequest request, MetaStore store) {
        return read(request, store, ObjectListingLogic.EXAMINED_MAX);
    }

    /** A read; {@code examinedMax} bounds the index entries a listing page steps over. */
    static byte[] read(ObjectRequest request, MetaStore store, int examinedMax) {
        return switch (request) {
            case ObjectRequest.GetBucket r -> BucketLogic.getBucket(r, store);
            case ObjectRequest.ListBuckets r -> BucketLogic.listBuckets(store);
            case ObjectRequest.GetS3User r -> BucketLogic.getUser(r, store);
            case ObjectRequest.ListS3Users r -> BucketLogic.listUsers(store);
            case ObjectRequest.GetObject r -> VersionLogic.getObject(r, store);
            case ObjectRequest.ListObjects r -> {
                BucketState state = ObjectIndex.bucket(store, r.bucket());
                if (state == null) {
                    yield BucketLogic.noSuchBucket(r.bucket());
                }
                ObjectListing listing = ObjectListingLogic.listObjects(r, state, store,
                        examinedMax);
                yield MetaLogic.encode(listing::encode);
            }
            case ObjectRequest.ListObjectVersions r -> {
                BucketState state = ObjectIndex.bucket(store, r.bucket());
                if (state == null) {
                    yield BucketLogic.noSuchBucket(r.bucket());
                }
                ObjectListing listing = ObjectListingLogic.listVersions(r, state, store,
                        examinedMax);
                yield MetaLogic.encode(listing::encode);
            }
            case ObjectRequest.ListUploads r -> {
                BucketState state = ObjectIndex.bucket(store, r.bucket());
                if (state == null) {
                    yield BucketLogic.noSuchBucket(r.bucket());
                }
                UploadListing listing = ObjectListingLogic.listUploads(r, state, store,
                        examinedMax);
                yield MetaLogic.encode(listing::encode);
            }
            case ObjectRequest.ListParts r -> MultipartLogic.listParts(r, store);
            case ObjectRequest.ObjectLogGaps r -> ObjectLogLogic.gaps(r, store, examinedMax);
            case ObjectRequest.ObjectLogFrees r -> ObjectLogLogic.frees(r, store);
            case ObjectRequest.ListObjectLogs r -> ObjectLogLogic.listLogs(store);
            default -> MetaLogic.writeNotRead(request);
        };
    }
}
