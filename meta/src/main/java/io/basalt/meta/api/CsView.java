package io.basalt.meta.api;

import io.basalt.meta.model.ChunkServer;

/**
 * A chunk server as {@code cs list} shows it: the replicated record plus the leader's soft state
 * from heartbeats ({@code heartbeatAgeMillis} -1: no heartbeat since this leader took over).
 */
public record CsView(ChunkServer server, long usedBytes, long heartbeatAgeMillis) {
    public void encode(WireWriter out) {
        server.encode(out);
        out.i64(usedBytes).i64(heartbeatAgeMillis);
    }

    public static CsView decode(WireReader in) {
        return new CsView(ChunkServer.decode(in), in.i64(), in.i64());
    }
}
