package io.basalt.meta.api;

/**
 * One entry of a chunk server's version index (op LIST_CS_CHUNK_VERSIONS): at {@code changeSeq}
 * chunk {@code chunkUid} was at {@code version} on this CS, or, when {@code deleted}, it left
 * this CS ({@code version} is then the last version meta had for it there).
 *
 * <p>{@code writersFrom} (at most {@code version}): the oldest version with the same chunklets as
 * this one, so that a write at any version from it on reaches exactly the chunklets this version
 * names. A snapshot, a lease move or a new leader epoch raise the version without changing them;
 * the chunk server then still takes a write a primary relays at the older version (it was accepted
 * there before the primary heard of the new one, and its replicas must not split on it), while a
 * client's own request stays fenced at {@code version} (docs/snapshots.md, "Fencing").
 *
 * <p>Wire form (big-endian): {@code i64 changeSeq | i64 chunkUid | i64 version | bool deleted};
 * the page's writersFrom follow all its entries (MetaClient.csChunkVersions), so a reply without
 * them still reads.
 */
public record CsChunkVersion(long changeSeq, long chunkUid, long version, boolean deleted, long writersFrom) {
    public static final int ENCODED_BYTES = 8 + 8 + 8 + 1;

    public CsChunkVersion {
        if (writersFrom > version || writersFrom < 0) {
            throw new IllegalArgumentException("writersFrom " + writersFrom + " outside [0, version " + version + "]");
        }
    }

    /** An entry whose chunklets changed at this version (writersFrom = version). */
    public CsChunkVersion(long changeSeq, long chunkUid, long version, boolean deleted) {
        this(changeSeq, chunkUid, version, deleted, version);
    }

    public void encode(WireWriter out) {
        out.i64(changeSeq).i64(chunkUid).i64(version).bool(deleted);
    }

    public static CsChunkVersion decode(WireReader in) {
        return new CsChunkVersion(in.i64(), in.i64(), in.i64(), in.bool());
    }

    public CsChunkVersion withWritersFrom(long from) {
        return new CsChunkVersion(changeSeq, chunkUid, version, deleted, from);
    }
}
