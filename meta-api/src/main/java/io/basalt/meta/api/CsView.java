package io.basalt.meta.api;

import io.basalt.meta.api.MetaRequest.Heartbeat.HotReport;
import io.basalt.meta.api.MetaRequest.Heartbeat.RecoveryProgress;
import io.basalt.meta.api.MetaRequest.Heartbeat.ScrubReport;
import io.basalt.meta.model.ChunkServer;
import io.basalt.meta.model.CsHealth;

/**
 * A chunk server as {@code cs list} shows it: the replicated record plus the leader's soft state
 * from heartbeats ({@code heartbeatAgeMillis} -1 and {@code health} null: no heartbeat since this
 * leader took over; {@code recovery}: the progress in its last heartbeat, NONE without one), and
 * {@code recoveringChunklets}, the RECOVERING chunklets placed on it, and {@code chunklets}, the
 * chunks with a chunklet on it (what a drain has left to move; replicated state). Wire form:
 * {@code ChunkServer | i64 usedBytes | i64 heartbeatAgeMillis | u8 healthCode (255: none) |
 * RecoveryProgress (48 bytes) | i64 recoveringChunklets | i64 chunklets | ScrubReport (49 bytes) |
 * HotReport (40 bytes)} ({@code scrub}: the scrubber's report in its last heartbeat; {@code hot}: the
 * hot store's and freezer's).
 */
public record CsView(ChunkServer server, long usedBytes, long heartbeatAgeMillis,
                     CsHealth health, RecoveryProgress recovery, long recoveringChunklets,
                     long chunklets, ScrubReport scrub, HotReport hot) {
    private static final int NO_HEALTH = 255;

    public CsView(ChunkServer server, long usedBytes, long heartbeatAgeMillis, CsHealth health,
                  RecoveryProgress recovery, long recoveringChunklets, long chunklets, ScrubReport scrub) {
        this(server, usedBytes, heartbeatAgeMillis, health, recovery, recoveringChunklets, chunklets, scrub,
                HotReport.NONE);
    }

    public CsView(ChunkServer server, long usedBytes, long heartbeatAgeMillis, CsHealth health) {
        this(server, usedBytes, heartbeatAgeMillis, health, RecoveryProgress.NONE, 0, 0);
    }

    public CsView(ChunkServer server, long usedBytes, long heartbeatAgeMillis, CsHealth health,
                  RecoveryProgress recovery, long recoveringChunklets, long chunklets) {
        this(server, usedBytes, heartbeatAgeMillis, health, recovery, recoveringChunklets, chunklets,
                ScrubReport.NONE);
    }

    public void encode(WireWriter out) {
        server.encode(out);
        out.i64(usedBytes).i64(heartbeatAgeMillis).u8(health == null ? NO_HEALTH : health.code);
        recovery.encode(out);
        out.i64(recoveringChunklets).i64(chunklets);
        scrub.encode(out);
        hot.encode(out);
    }

    public static CsView decode(WireReader in) {
        ChunkServer server = ChunkServer.decode(in);
        long usedBytes = in.i64();
        long ageMillis = in.i64();
        int healthCode = in.u8();
        RecoveryProgress recovery = RecoveryProgress.decode(in);
        long recovering = in.i64();
        long chunklets = in.i64();
        ScrubReport scrub = ScrubReport.decode(in);
        HotReport hot = HotReport.decode(in);
        return new CsView(server, usedBytes, ageMillis,
                healthCode == NO_HEALTH ? null : CsHealth.ofCode(healthCode), recovery, recovering,
                chunklets, scrub, hot);
    }
}
