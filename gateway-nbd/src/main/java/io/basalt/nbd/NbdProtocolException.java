package io.basalt.nbd;

/** The client broke the protocol in a way that cannot be answered; the connection is closed. */
public final class NbdProtocolException extends RuntimeException {
    public NbdProtocolException(String message) {
        super(message);
    }
}
