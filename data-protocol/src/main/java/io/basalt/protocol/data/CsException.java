package io.basalt.protocol.data;

/**
 * An expected operating error of the chunk server (stale version, corrupt block, no space, I/O
 * error...): carries the {@link CsStatus} that goes on the wire and a one-line message with values
 * and limits. No stack trace is filled: these are answers, not bugs.
 */
public final class CsException extends Exception {
    private final CsStatus status;

    public CsException(CsStatus status, String message) {
        super(message, null, false, false);
        this.status = status;
    }

    public CsException(CsStatus status, String message, Throwable cause) {
        super(message, cause, false, false);
        this.status = status;
    }

    public CsStatus status() {
        return status;
    }

    @Override
    public String toString() {
        return status + ": " + getMessage();
    }
}
