package io.basalt.meta.api;

/** Bytes that are not a valid meta message or record: wrong version, CRC, length or field. */
public final class MalformedMessageException extends RuntimeException {
    public MalformedMessageException(String message) {
        super(message);
    }
}
