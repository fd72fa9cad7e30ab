package io.basalt.meta.api;

import io.basalt.meta.model.ChunkServer;
import io.basalt.meta.model.CsHealth;

/**
 * A chunk server as {@code cs list} shows it: the replicated record plus the leader's soft state
 * from heartbeats ({@code heartbeatAgeMillis} -1 and {@code health} null: no heartbeat since this
 * leader took over). Wire form: {@code ChunkServer | i64 usedBytes | i64 heartbeatAgeMillis |
 * u8 healthCode (255: none)}.
 */
public record CsView(ChunkServer server, long usedBytes, long heartbeatAgeMillis,
                     CsHealth health) {
    private static final int NO_HEALTH = 255;

    public void encode(WireWriter out) {
        server.encode(out);
        out.i64(usedBytes).i64(heartbeatAgeMillis).u8(health == null ? NO_HEALTH : health.code);
    }

    public static CsView decode(WireReader in) {
        ChunkServer server = ChunkServer.decode(in);
        long usedBytes = in.i64();
        long ageMillis = in.i64();
        int healthCode = in.u8();
        return new CsView(server, usedBytes, ageMillis,
                healthCode == NO_HEALTH ? null : CsHealth.ofCode(healthCode));
    }
}
