package io.basalt.client.object;

/**
 * Why an object store operation failed, in terms a gateway maps one to one onto its protocol's errors
 * (S3: NoSuchBucket, BucketAlreadyExists, ...). The message names the bucket, key or upload.
 */
public final class ObjectStoreException extends RuntimeException {
    public enum Kind {
        NO_SUCH_BUCKET,
        /** The name is taken by another owner. */
        BUCKET_EXISTS,
        /** The caller already owns a bucket of that name. */
        BUCKET_OWNED,
        BUCKET_NOT_EMPTY,
        NO_SUCH_KEY,
        NO_SUCH_VERSION,
        NO_SUCH_UPLOAD,
        /** If-Match / If-None-Match on a write did not hold. */
        PRECONDITION_FAILED,
        /** A completed part list names a part that is not there or whose ETag differs. */
        INVALID_PART,
        INVALID_PART_ORDER,
        /** A part other than the last is smaller than the 5 MiB minimum. */
        ENTITY_TOO_SMALL,
        /** A request meta or the data path refused as malformed (a bug in the caller). */
        INVALID,
        /** The cluster cannot do it now (no meta leader, too few chunk servers); worth retrying. */
        UNAVAILABLE,
        INTERNAL
    }

    private final Kind kind;

    public ObjectStoreException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public ObjectStoreException(Kind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }
}
