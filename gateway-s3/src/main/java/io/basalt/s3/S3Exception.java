package io.basalt.s3;

import java.util.Objects;

/**
 * An S3 request refused with an {@link S3Error}: the protocol layer's one error type. Bad input
 * is an expected operating error, so the exception carries no stack trace (it is built per bad
 * request and never logged with one); the message says what was wrong, with value and limit.
 */
public final class S3Exception extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final S3Error error;

    public S3Exception(S3Error error, String message) {
        super(Objects.requireNonNull(message, "message"), null, false, false);
        this.error = Objects.requireNonNull(error, "error");
    }

    /** With the error's default message. */
    public S3Exception(S3Error error) {
        this(error, error.defaultMessage());
    }

    public S3Error error() {
        return error;
    }

    @Override
    public String toString() {
        return error.code() + ": " + getMessage();
    }
}
