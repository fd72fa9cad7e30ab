package io.basalt.meta.model;

/**
 * Health a chunk server reports in its heartbeat; the code is the byte on the wire. The codes
 * keep the old {@code bool healthy} byte meaningful both ways: 1 (true) is OK, 0 (false) is
 * DISK_FAILED, which the watchdog treats exactly as the old "not healthy".
 */
public enum CsHealth {
    DISK_FAILED(0), OK(1), FULL(2);

    public final int code;

    CsHealth(int code) {
        this.code = code;
    }

    public static CsHealth ofCode(int code) {
        for (CsHealth health : values()) {
            if (health.code == code) {
                return health;
            }
        }
        throw new io.basalt.meta.api.MalformedMessageException(
                "unknown chunk server health " + code);
    }
}
