package io.basalt.meta.model;

/**
 * Liveness of a chunk server; the code is its byte on the wire and in RocksDB. FULL: up and
 * serving, but its disk reported full, so placement gives it no new chunklets (the watchdog
 * moves UP and FULL into each other from the health in heartbeats; docs/meta.md).
 */
public enum CsStatus {
    UP(1), UNHEALTHY(2), DOWN(3), DRAINING(4), FULL(5);

    public final int code;

    CsStatus(int code) {
        this.code = code;
    }

    public static CsStatus ofCode(int code) {
        for (CsStatus status : values()) {
            if (status.code == code) {
                return status;
            }
        }
        throw new io.basalt.meta.api.MalformedMessageException("unknown chunk server status " + code);
    }
}
