package io.basalt.meta.model;

import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;
import java.util.ArrayList;
import java.util.List;

/**
 * A chunk of a volume and where its chunklets are. {@code uid} is cluster-wide and never reused;
 * {@code version} only rises and fences stale clients (ARCHITECTURE.md, "Versions fence").
 */
public record Chunk(long uid, long volumeId, long index, long version, List<Chunklet> chunklets) {
    public Chunk {
        chunklets = List.copyOf(chunklets);
    }

    public Chunk withVersionAndChunklets(long newVersion, List<Chunklet> newChunklets) {
        if (newVersion <= version) {
            throw new IllegalStateException(
                    "chunk " + uid + " version must rise: " + version + " -> " + newVersion);
        }
        return new Chunk(uid, volumeId, index, newVersion, newChunklets);
    }

    public void encode(WireWriter out) {
        out.i64(uid).i64(volumeId).i64(index).i64(version).i32(chunklets.size());
        for (Chunklet chunklet : chunklets) {
            chunklet.encode(out);
        }
    }

    public static Chunk decode(WireReader in) {
        long uid = in.i64();
        long volumeId = in.i64();
        long index = in.i64();
        long version = in.i64();
        int count = in.count(Chunklet.ENCODED_BYTES);
        List<Chunklet> chunklets = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            chunklets.add(Chunklet.decode(in));
        }
        return new Chunk(uid, volumeId, index, version, chunklets);
    }
}
