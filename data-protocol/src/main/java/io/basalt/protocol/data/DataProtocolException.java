package io.basalt.protocol.data;

/**
 * A frame that breaks the data protocol. {@link #kind} names it for metrics; when the header was
 * intact ({@link #requestId} known) the connection gets an error reply before it is closed.
 */
public final class DataProtocolException extends RuntimeException {
    public enum Kind { BAD_MAGIC, BAD_HEADER_CRC, UNKNOWN_FORMAT_VERSION, FRAME_TOO_LONG, BAD_REPLY }

    private final Kind kind;
    private final long requestId;
    private final int requestType;
    private final boolean answerable;

    public DataProtocolException(Kind kind, String message) {
        super(message, null, false, false);
        this.kind = kind;
        this.requestId = 0;
        this.requestType = 0;
        this.answerable = false;
    }

    public DataProtocolException(Kind kind, String message, int requestType, long requestId) {
        super(message, null, false, false);
        this.kind = kind;
        this.requestId = requestId;
        this.requestType = requestType;
        this.answerable = true;
    }

    public Kind kind() {
        return kind;
    }

    public boolean answerable() {
        return answerable;
    }

    public long requestId() {
        return requestId;
    }

    public int requestType() {
        return requestType;
    }
}
