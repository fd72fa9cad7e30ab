package io.basalt.meta.api;

/**
 * Why meta refused a request. A refusal is a normal reply (status byte != 0), never a failed
 * future: the entry was applied and changed nothing but the applied index.
 */
public enum MetaError {
    INVALID(1), NOT_FOUND(2), ALREADY_EXISTS(3), NO_PLACEMENT(4), LEASE_HELD(5), NOT_LEADER(6),
    STALE_VERSION(7), INTERNAL(8);

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
