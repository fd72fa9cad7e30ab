package io.basalt.s3.gateway;

import java.io.IOException;
import java.nio.channels.ClosedChannelException;
import java.util.Locale;
import org.eclipse.jetty.io.EofException;

/**
 * Tells a client that went away from a server fault. A write to a connection the peer closed
 * fails in Jetty with {@link EofException} (often wrapping the kernel's "Broken pipe" or
 * "Connection reset by peer"), or {@link ClosedChannelException} when the endpoint was already
 * closed; neither is the gateway's failure, so neither is a 500.
 */
final class ClientGone {
    /** Causes followed at most; a chain is short, and a cycle must not loop forever. */
    private static final int CAUSE_DEPTH_MAX = 8;

    private ClientGone() {}

    static boolean isClientGone(Throwable failure) {
        Throwable cause = failure;
        for (int depth = 0; cause != null && depth < CAUSE_DEPTH_MAX; depth++) {
            if (cause instanceof EofException || cause instanceof ClosedChannelException) {
                return true;
            }
            if (cause instanceof IOException && cause.getMessage() != null) {
                String message = cause.getMessage().toLowerCase(Locale.ROOT);
                if (message.contains("broken pipe") || message.contains("connection reset")) {
                    return true;
                }
            }
            cause = cause.getCause();
        }
        return false;
    }
}
