package io.basalt.meta.api;

/**
 * Why meta refused a request. A refusal is a normal reply (status byte != 0), never a failed
 * future: the entry was applied and changed nothing but the applied index.
 *
 * <p>The object index's codes map one to one onto S3 errors: NOT_FOUND is the bucket (or object
 * log, or user), NO_SUCH_KEY the key or version, NO_SUCH_UPLOAD the upload; NOT_EMPTY
 * BucketNotEmpty; PRECONDITION_FAILED 412; INVALID_PART, INVALID_PART_ORDER and
 * ENTITY_TOO_SMALL the CompleteMultipartUpload errors of those names.
 */
public enum MetaError {
    INVALID(1), NOT_FOUND(2), ALREADY_EXISTS(3), NO_PLACEMENT(4), LEASE_HELD(5), NOT_LEADER(6),
    STALE_VERSION(7), INTERNAL(8), NOT_EMPTY(9), PRECONDITION_FAILED(10), INVALID_PART(11),
    INVALID_PART_ORDER(12), ENTITY_TOO_SMALL(13), NO_SUCH_UPLOAD(14), NO_SUCH_KEY(15),
    /**
     * The holder's certificate role may not send this operation, or its certificate was refused
     * (raised by the client from the transport's refusal: gRPC PERMISSION_DENIED, a failed TLS
     * handshake); or, in a reply, a chunk server id bound to another certificate holder
     * (docs/security.md, "Own chunklets only").
     */
    FORBIDDEN(16);

    public final int code;

    MetaError(int code) {
        this.code = code;
    }

    public static MetaError ofCode(int code) {
        for (MetaError error : values()) {
            if (error.code == code) {
                return error;
            }
        }
        throw new MalformedMessageException("unknown meta error code " + code);
    }
}
