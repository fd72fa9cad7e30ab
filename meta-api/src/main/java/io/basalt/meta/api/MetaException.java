package io.basalt.meta.api;

/** A refusal from meta (or a failure to reach it); the message is one line for the user. */
public final class MetaException extends RuntimeException {
    private final MetaError error;

    public MetaException(MetaError error, String message) {
        super(message);
        this.error = error;
    }

    public MetaException(MetaError error, String message, Throwable cause) {
        super(message, cause);
        this.error = error;
    }

    public MetaError error() {
        return error;
    }
}
