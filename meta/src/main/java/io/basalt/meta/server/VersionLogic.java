package io.basalt.meta.server;

import io.basalt.meta.api.MetaError;
import io.basalt.meta.api.MetaReply;
import io.basalt.meta.api.ObjectRequest;
import io.basalt.meta.api.ObjectRequestForm;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.model.s3.Bucket;
import io.basalt.meta.model.s3.ObjectVersion;
import io.basalt.meta.model.s3.Versioning;
import io.basalt.meta.server.ObjectIndex.BucketState;
import io.basalt.meta.server.ObjectIndex.Stored;
import io.basalt.meta.store.MetaStore;
import io.basalt.meta.store.MetaStore.Table;
import io.basalt.meta.store.ObjectKeys;
import io.basalt.meta.store.Tx;
import java.util.List;
import java.util.Map;

/**
 * Object versions: put, delete (S3's rules for unversioned, enabled and suspended buckets), tags
 * and reads. Every change keeps the extent tables and the bucket's counters exact
 * ({@link ObjectIndex}).
 */
final class VersionLogic {
    private VersionLogic() {}

    /**
     * Conditional writes, checked inside the transaction against the current version: null if
     * they hold, else the refusal. If-Match needs a current version that is not a delete marker
     * (S3 answers 404 otherwise) and, unless "*", its ETag; If-None-Match: * needs none.
     */
    static byte[] preconditionError(Stored current, String ifMatch, boolean ifNoneMatchAny,
                                    String key) {
        boolean exists = current != null && !current.version().deleteMarker();
        if (ifNoneMatchAny && exists) {
            return MetaReply.error(MetaError.PRECONDITION_FAILED, "object \"" + key
                    + "\" exists (If-None-Match: *)");
        }
        if (!ifMatch.isEmpty()) {
            if (!exists) {
                return MetaReply.error(MetaError.NO_SUCH_KEY, "object \"" + key
                        + "\" does not exist (If-Match)");
            }
            String wanted = ObjectRequestForm.unquote(ifMatch);
            if (!wanted.equals("*") && !wanted.equals(current.version().etag())) {
                return MetaReply.error(MetaError.PRECONDITION_FAILED, "object \"" + key
                        + "\" has ETag \"" + current.version().etag() + "\", not " + ifMatch
                        + " (If-Match)");
            }
        }
        return null;
    }

    /**
     * Makes {@code version} the key's newest entry: draws its sequence number, names it (a
     * version id when versioning is enabled, else "null", replacing the null version there was),
     * counts it, and writes the bucket. The caller records the version's extents as owned by
     * the returned sequence number.
     */
    static Stored install(Tx tx, BucketState state, Stored current, ObjectVersion version) {
        long seq = state.nextSeq();
        boolean versioned = state.bucket().versioning() == Versioning.ENABLED;
        if (!versioned) {
            Stored oldNull = ObjectIndex.named(tx.store(), state.id(), version.key(),
                    ObjectVersion.NULL_VERSION);
            if (oldNull != null) {
                ObjectIndex.removeVersion(tx, state.id(), oldNull);
            }
        }
        ObjectVersion named = version.withVersionId(versioned ? ObjectRequestForm.versionId(seq)
                : ObjectVersion.NULL_VERSION).withLatest(true);
        ObjectIndex.putVersion(tx, state.id(), seq, named);
        Bucket counted = ObjectIndex.countCurrent(state.bucket(),
                current == null ? null : current.version(), named);
        ObjectIndex.putBucket(tx, state.withBucket(counted).advanced());
        return new Stored(seq, named);
    }

    /**
     * PUT_OBJECT, or PUT_INLINE_OBJECT when {@code inlineData} is not null: then the bytes are
     * kept in the version itself and no extent is committed.
     */
    static byte[] putObject(ObjectRequest.PutObject r, byte[] inlineData, Tx tx) {
        BucketState state = ObjectIndex.bucket(tx, r.bucket());
        if (state == null) {
            return BucketLogic.noSuchBucket(r.bucket());
        }
        Stored current = ObjectIndex.current(tx.store(), state.id(), r.key());
        byte[] refused = preconditionError(current, r.ifMatch(), r.ifNoneMatchAny(), r.key());
        if (refused != null) {
            return refused;
        }
        String extentError = ObjectIndex.checkNewExtents(tx, r.extents());
        if (extentError != null) {
            return MetaReply.error(MetaError.INVALID, extentError);
        }
        ObjectVersion version = new ObjectVersion(r.bucket(), r.key(), "", false, true, r.size(),
                ObjectRequestForm.unquote(r.etag()), r.nowMillis(), r.owner(), r.headers(),
                r.checksums(), r.checksumType(), r.tags(), r.partSizes(), r.extents(),
                inlineData);
        Stored installed = install(tx, state, current, version);
        ObjectIndex.commit(tx, r.extents(),
                ObjectIndex.Owner.version(state.id(), installed.seq(), r.key()));
        return MetaLogic.encode(installed.version()::encode);
    }

    static byte[] deleteObject(ObjectRequest.DeleteObject r, Tx tx) {
        BucketState state = ObjectIndex.bucket(tx, r.bucket());
        if (state == null) {
            return BucketLogic.noSuchBucket(r.bucket());
        }
        MetaStore store = tx.store();
        Stored current = ObjectIndex.current(store, state.id(), r.key());
        if (!r.versionId().isEmpty()) {
            Stored target = ObjectIndex.named(store, state.id(), r.key(), r.versionId());
            if (target == null) {
                // S3 answers a delete of a version that is not there with success.
                return deleteReply(r.versionId(), false);
            }
            removeFromHistory(tx, state, current, target);
            return deleteReply(target.version().versionId(), target.version().deleteMarker());
        }
        switch (state.bucket().versioning()) {
            case UNVERSIONED -> {
                Stored nullVersion = ObjectIndex.named(store, state.id(), r.key(),
                        ObjectVersion.NULL_VERSION);
                if (nullVersion != null) {
                    removeFromHistory(tx, state, current, nullVersion);
                }
                return deleteReply("", false);
            }
            case ENABLED, SUSPENDED -> {
                ObjectVersion marker = new ObjectVersion(r.bucket(), r.key(), "", true, true, 0,
                        "", r.nowMillis(), state.bucket().owner(), Map.of(), Map.of(), "",
                        Map.of(), List.of(), List.of());
                Stored installed = install(tx, state, current, marker);
                return deleteReply(installed.version().versionId(), true);
            }
            default -> throw new IllegalStateException("versioning " + state.bucket().versioning());
        }
    }

    /** Removes one version; if it was the current one, the next older becomes current. */
    private static void removeFromHistory(Tx tx, BucketState state, Stored current,
                                          Stored target) {
        ObjectIndex.removeVersion(tx, state.id(), target);
        Bucket bucket = state.bucket();
        if (current != null && current.seq() == target.seq()) {
            Stored next = olderThan(tx.store(), state.id(), target);
            bucket = ObjectIndex.countCurrent(bucket, target.version(),
                    next == null ? null : next.version());
        }
        ObjectIndex.putBucket(tx, state.withBucket(bucket));
    }

    /** The version just older than {@code stored} in its key's history (read from the store). */
    private static Stored olderThan(MetaStore store, long bucketId, Stored stored) {
        String key = stored.version().key();
        byte[] prefix = ObjectKeys.keyPrefix(bucketId, key);
        try (MetaStore.Cursor cursor = store.cursor(Table.S3_OBJECT)) {
            cursor.seek(ObjectKeys.objectKey(bucketId, key, stored.seq()));
            if (cursor.valid() && ObjectKeys.versionSeqOf(cursor.key()) == stored.seq()) {
                cursor.next();
            }
            if (!cursor.valid() || !ObjectKeys.startsWith(cursor.key(), prefix)) {
                return null;
            }
            return new Stored(ObjectKeys.versionSeqOf(cursor.key()),
                    ObjectVersion.decode(new WireReader(cursor.value())));
        }
    }

    private static byte[] deleteReply(String versionId, boolean deleteMarker) {
        return MetaLogic.encode(out -> out.string(versionId).bool(deleteMarker));
    }

    static byte[] putTags(ObjectRequest.PutObjectTags r, Tx tx) {
        BucketState state = ObjectIndex.bucket(tx, r.bucket());
        if (state == null) {
            return BucketLogic.noSuchBucket(r.bucket());
        }
        Stored target = ObjectIndex.named(tx.store(), state.id(), r.key(), r.versionId());
        if (target == null || (target.version().deleteMarker() && r.versionId().isEmpty())) {
            return noSuchKey(r.key(), r.versionId());
        }
        if (target.version().deleteMarker()) {
            return MetaReply.error(MetaError.INVALID, "version " + r.versionId() + " of \""
                    + r.key() + "\" is a delete marker, which has no tags");
        }
        ObjectVersion tagged = target.version().withTags(r.tags());
        ObjectIndex.putVersion(tx, state.id(), target.seq(), tagged);
        Stored current = ObjectIndex.current(tx.store(), state.id(), r.key());
        ObjectVersion reply = tagged.withLatest(current.seq() == target.seq());
        return MetaLogic.encode(reply::encode);
    }

    static byte[] noSuchKey(String key, String versionId) {
        return MetaReply.error(MetaError.NO_SUCH_KEY, versionId.isEmpty()
                ? "object \"" + key + "\" does not exist"
                : "version " + versionId + " of \"" + key + "\" does not exist");
    }

    static byte[] getObject(ObjectRequest.GetObject r, MetaStore store) {
        BucketState state = ObjectIndex.bucket(store, r.bucket());
        if (state == null) {
            return BucketLogic.noSuchBucket(r.bucket());
        }
        Stored target = ObjectIndex.named(store, state.id(), r.key(), r.versionId());
        if (target == null) {
            return MetaLogic.encode(out -> out.bool(false));
        }
        boolean latest = r.versionId().isEmpty()
                || ObjectIndex.current(store, state.id(), r.key()).seq() == target.seq();
        ObjectVersion version = target.version().withLatest(latest);
        return MetaLogic.encode(out -> {
            out.bool(true);
            version.encode(out);
        });
    }
}
