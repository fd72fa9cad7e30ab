package io.basalt.s3.gateway;

import io.basalt.client.object.ObjectStoreException;
import io.basalt.s3.S3Error;
import io.basalt.s3.S3Exception;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;

/** Maps what the store and the futures throw onto S3 errors. */
final class StoreErrors {
    private StoreErrors() {}

    /** The S3 error answering a store failure, one to one by kind. */
    static S3Error s3Error(ObjectStoreException.Kind kind) {
        return switch (kind) {
            case NO_SUCH_BUCKET -> S3Error.NoSuchBucket;
            case BUCKET_EXISTS -> S3Error.BucketAlreadyExists;
            case BUCKET_OWNED -> S3Error.BucketAlreadyOwnedByYou;
            case BUCKET_NOT_EMPTY -> S3Error.BucketNotEmpty;
            case NO_SUCH_KEY -> S3Error.NoSuchKey;
            case NO_SUCH_VERSION -> S3Error.NoSuchVersion;
            case NO_SUCH_UPLOAD -> S3Error.NoSuchUpload;
            case PRECONDITION_FAILED -> S3Error.PreconditionFailed;
            case INVALID_PART -> S3Error.InvalidPart;
            case INVALID_PART_ORDER -> S3Error.InvalidPartOrder;
            case ENTITY_TOO_SMALL -> S3Error.EntityTooSmall;
            case INVALID -> S3Error.InvalidArgument;
            case UNAVAILABLE -> S3Error.ServiceUnavailable;
            case INTERNAL -> S3Error.InternalError;
        };
    }

    /** The cause a future failed with, unwrapped from CompletionException/ExecutionException. */
    static Throwable unwrap(Throwable failure) {
        Throwable cause = failure;
        while ((cause instanceof CompletionException || cause instanceof ExecutionException)
                && cause.getCause() != null) {
            cause = cause.getCause();
        }
        return cause;
    }

    /**
     * Waits for {@code future} on the request's virtual thread; a store failure comes out as
     * the S3Exception it maps to, anything else unwrapped.
     */
    static <T> T await(CompletableFuture<T> future) {
        try {
            return future.join();
        } catch (CompletionException | java.util.concurrent.CancellationException e) {
            throw rethrowable(unwrap(e));
        }
    }

    /**
     * {@code failure} as an unchecked exception: store failures mapped to S3 errors (but
     * INTERNAL, left as is for the handler to log with its stack), an Error wrapped.
     */
    static RuntimeException rethrowable(Throwable failure) {
        Throwable cause = unwrap(failure);
        if (cause instanceof ObjectStoreException store) {
            S3Error error = s3Error(store.kind());
            if (error == S3Error.InternalError) {
                return store; // answered InternalError and logged with its stack by the handler
            }
            return new S3Exception(error, store.getMessage() == null ? error.defaultMessage()
                    : store.getMessage());
        }
        if (cause instanceof RuntimeException runtime) {
            return runtime;
        }
        return new CompletionException(cause);
    }
}
