package io.basalt.meta.api;

/**
 * One entry of a chunk server's version index (op LIST_CS_CHUNK_VERSIONS): at {@code changeSeq}
 * chunk {@code chunkUid} was at {@code version} on this CS, or, when {@code deleted}, it left
 * this CS ({@code version} is then the last version meta had for it there).
 *
 * <p>Wire form (big-endian): {@code i64 changeSeq | i64 chunkUid | i64 version | bool deleted}.
 */
public record CsChunkVersion(long changeSeq, long chunkUid, long version, boolean deleted) {
    public static final int ENCODED_BYTES = 8 + 8 + 8 + 1;

    public void encode(WireWriter out) {
        out.i64(changeSeq).i64(chunkUid).i64(version).bool(deleted);
    }

    public static CsChunkVersion decode(WireReader in) {
        return new CsChunkVersion(in.i64(), in.i64(), in.i64(), in.bool());
    }
}
