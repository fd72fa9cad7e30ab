package io.basalt.meta.server;

import io.basalt.meta.api.MetaError;
import io.basalt.meta.api.MetaReply;
import io.basalt.meta.api.ObjectRequest;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;
import io.basalt.meta.model.Policy;
import io.basalt.meta.model.s3.Bucket;
import io.basalt.meta.model.s3.S3User;
import io.basalt.meta.model.s3.Versioning;
import io.basalt.meta.server.ObjectIndex.BucketState;
import io.basalt.meta.store.Keys;
import io.basalt.meta.store.MetaStore;
import io.basalt.meta.store.MetaStore.Table;
import io.basalt.meta.store.ObjectKeys;
import io.basalt.meta.store.Tx;

/** Buckets and S3 users: creation, deletion, versioning, lookups (docs/objects.md). */
final class BucketLogic {
    private BucketLogic() {}

    static byte[] noSuchBucket(String name) {
        return MetaReply.error(MetaError.NOT_FOUND, "bucket \"" + name + "\" does not exist");
    }

    static byte[] createBucket(ObjectRequest.CreateBucket r, Tx tx) {
        BucketState existing = ObjectIndex.bucket(tx, r.name());
        if (existing != null) {
            boolean yours = existing.bucket().owner().equals(r.owner());
            return MetaReply.error(MetaError.ALREADY_EXISTS, "bucket \"" + r.name()
                    + "\" already exists and is " + (yours ? "owned by you"
                    : "owned by another account; choose another name"));
        }
        Policy policy = Policy.parse(r.policy());
        long id = MetaLogic.nextCounter(tx, ObjectIndex.NEXT_BUCKET_ID);
        Bucket bucket = new Bucket(id, r.name(), r.owner(), policy.name(), r.nowMillis(),
                Versioning.UNVERSIONED, 0, 0);
        ObjectIndex.putBucket(tx, new BucketState(bucket, 1));
        tx.put(Table.S3_BUCKET_ID, Keys.u64(id), Keys.ascii(r.name()));
        return MetaLogic.encode(bucket::encode);
    }

    static byte[] deleteBucket(ObjectRequest.DeleteBucket r, Tx tx) {
        BucketState state = ObjectIndex.bucket(tx, r.name());
        if (state == null) {
            return noSuchBucket(r.name());
        }
        byte[] prefix = ObjectKeys.bucketPrefix(state.id());
        if (!tx.store().scan(Table.S3_OBJECT, prefix, prefix, 1).isEmpty()) {
            return MetaReply.error(MetaError.NOT_EMPTY, "bucket \"" + r.name()
                    + "\" is not empty: delete every object version and delete marker first");
        }
        if (!tx.store().scan(Table.S3_UPLOAD, prefix, prefix, 1).isEmpty()) {
            return MetaReply.error(MetaError.NOT_EMPTY, "bucket \"" + r.name()
                    + "\" has multipart uploads in progress: complete or abort them first");
        }
        tx.delete(Table.S3_BUCKET, Keys.ascii(r.name()));
        tx.delete(Table.S3_BUCKET_ID, Keys.u64(state.id()));
        return MetaReply.ok(new byte[0]);
    }

    static byte[] setVersioning(ObjectRequest.SetBucketVersioning r, Tx tx) {
        BucketState state = ObjectIndex.bucket(tx, r.name());
        if (state == null) {
            return noSuchBucket(r.name());
        }
        Bucket bucket = state.bucket();
        if (r.versioning() == Versioning.UNVERSIONED
                && bucket.versioning() != Versioning.UNVERSIONED) {
            return MetaReply.error(MetaError.INVALID, "bucket \"" + r.name() + "\" is "
                    + bucket.versioning() + ": versioning can be suspended, never turned off");
        }
        Bucket updated = bucket.withVersioning(r.versioning());
        ObjectIndex.putBucket(tx, state.withBucket(updated));
        return MetaLogic.encode(updated::encode);
    }

    static byte[] getBucket(ObjectRequest.GetBucket r, MetaStore store) {
        BucketState state = ObjectIndex.bucket(store, r.name());
        return MetaLogic.encode(out -> {
            out.bool(state != null);
            if (state != null) {
                state.bucket().encode(out);
            }
        });
    }

    static byte[] listBuckets(MetaStore store) {
        var entries = store.scan(Table.S3_BUCKET, new byte[0]);
        return MetaLogic.encode(out -> {
            out.i32(entries.size());
            for (MetaStore.Entry entry : entries) {
                BucketState.decode(entry.value()).bucket().encode(out);
            }
        });
    }

    // ---------------------------------------------------------------------------------------
    // Users

    static byte[] createUser(ObjectRequest.CreateS3User r, Tx tx) {
        if (tx.get(Table.S3_USER_NAME, Keys.ascii(r.name())) != null) {
            return MetaReply.error(MetaError.ALREADY_EXISTS, "S3 user \"" + r.name()
                    + "\" already exists");
        }
        if (tx.get(Table.S3_USER, Keys.ascii(r.accessKey())) != null) {
            return MetaReply.error(MetaError.ALREADY_EXISTS, "access key \"" + r.accessKey()
                    + "\" is taken; draw another");
        }
        S3User user = new S3User(r.name(), r.accessKey(), r.secret(), r.nowMillis());
        WireWriter out = new WireWriter();
        user.encode(out);
        tx.put(Table.S3_USER, Keys.ascii(r.accessKey()), out.toByteArray());
        tx.put(Table.S3_USER_NAME, Keys.ascii(r.name()), Keys.ascii(r.accessKey()));
        return MetaLogic.encode(user::encode);
    }

    static byte[] deleteUser(ObjectRequest.DeleteS3User r, Tx tx) {
        byte[] accessKey = tx.get(Table.S3_USER_NAME, Keys.ascii(r.name()));
        if (accessKey == null) {
            return MetaReply.error(MetaError.NOT_FOUND, "S3 user \"" + r.name()
                    + "\" does not exist");
        }
        tx.delete(Table.S3_USER_NAME, Keys.ascii(r.name()));
        tx.delete(Table.S3_USER, accessKey);
        return MetaReply.ok(new byte[0]);
    }

    static byte[] getUser(ObjectRequest.GetS3User r, MetaStore store) {
        byte[] value = store.get(Table.S3_USER, Keys.ascii(r.accessKey()));
        return MetaLogic.encode(out -> {
            out.bool(value != null);
            if (value != null) {
                out.bytes(value);
            }
        });
    }

    static byte[] listUsers(MetaStore store) {
        var entries = store.scan(Table.S3_USER, new byte[0]);
        return MetaLogic.encode(out -> {
            out.i32(entries.size());
            for (MetaStore.Entry entry : entries) {
                S3User.decode(new WireReader(entry.value())).withoutSecret().encode(out);
            }
        });
    }
}
