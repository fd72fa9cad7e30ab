package io.basalt.cli;

/** An error caused by the user's input or environment; its message is one line naming the fix. */
public final class UserError extends RuntimeException {
    public UserError(String message) {
        super(message);
    }

    public UserError(String message, Throwable cause) {
        super(message, cause);
    }
}
