package io.basalt.meta.model;

/** Liveness of a chunk server; the code is its byte on the wire and in RocksDB. */
public enum CsStatus {
    UP(1), UNHEALTHY(2), DOWN(3), DRAINING(4);

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
