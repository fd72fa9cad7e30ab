package io.basalt.meta.api;

import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.CsStatus;
import java.util.ArrayList;
import java.util.List;

/**
 * A RECOVERING chunklet a chunk server must fill (op LIST_RECOVERY_TASKS): the chunk's full
 * current map, the version at which this recovery started (to send back with RECOVERY_DONE),
 * its kind ({@link #KIND_REBUILD}: a new, empty chunklet; {@link #KIND_CATCH_UP}: the chunklet
 * is already on that CS with older data), the volume's policy and chunklet size, and where every
 * chunklet of the chunk lives. Wire form: {@code Chunk | u64 startVersion | u8 kind |
 * string policyName | u64 chunkletSizeBytes | i32 count | count x (u32 csId | string address |
 * u8 statusCode)}.
 */
public record RecoveryTask(Chunk chunk, long startVersion, int kind, String policyName,
                           long chunkletSizeBytes, List<Peer> peers) {
    public static final int KIND_REBUILD = 1;
    public static final int KIND_CATCH_UP = 2;

    /** A chunk server that holds a chunklet of the chunk; {@code statusCode}: a CsStatus code. */
    public record Peer(int csId, String address, int statusCode) {
        public CsStatus status() {
            return CsStatus.ofCode(statusCode);
        }
    }

    public RecoveryTask {
        peers = List.copyOf(peers);
    }

    /** The chunklet of this task: the one on {@code csId} (the chunk server that asked). */
    public Chunklet chunkletOn(int csId) {
        for (Chunklet chunklet : chunk.chunklets()) {
            if (chunklet.csId() == csId) {
                return chunklet;
            }
        }
        throw new IllegalArgumentException("chunk " + chunk.uid() + " has no chunklet on cs "
                + csId);
    }

    /** The address of chunk server {@code csId}, or null if it holds no chunklet of the chunk. */
    public String addressOf(int csId) {
        for (Peer peer : peers) {
            if (peer.csId() == csId) {
                return peer.address();
            }
        }
        return null;
    }

    public void encode(WireWriter out) {
        chunk.encode(out);
        out.i64(startVersion).u8(kind).string(policyName).i64(chunkletSizeBytes).i32(peers.size());
        for (Peer peer : peers) {
            out.i32(peer.csId()).string(peer.address()).u8(peer.statusCode());
        }
    }

    public static RecoveryTask decode(WireReader in) {
        Chunk chunk = Chunk.decode(in);
        long startVersion = in.i64();
        int kind = in.u8();
        String policyName = in.string();
        long chunkletSizeBytes = in.i64();
        int count = in.count(4 + 2 + 1);
        List<Peer> peers = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            peers.add(new Peer(in.i32(), in.string(), in.u8()));
        }
        return new RecoveryTask(chunk, startVersion, kind, policyName, chunkletSizeBytes, peers);
    }
}
