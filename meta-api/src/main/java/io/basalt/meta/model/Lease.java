package io.basalt.meta.model;

import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;

/**
 * The exclusive writer lease of a volume. {@code expiryMillis} is on the meta leaders' wall clock
 * as stamped into log entries, so every member judges expiry identically.
 */
public record Lease(long volumeId, String clientId, long expiryMillis) {
    public boolean activeAt(long nowMillis) {
        return expiryMillis > nowMillis;
    }

    public void encode(WireWriter out) {
        out.i64(volumeId).string(clientId).i64(expiryMillis);
    }

    public static Lease decode(WireReader in) {
        return new Lease(in.i64(), in.string(), in.i64());
    }
}
