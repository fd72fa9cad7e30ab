package io.basalt.meta.api;

import java.util.List;

/**
 * What a chunk server pulls: the index entries after some changeSeq, in changeSeq order, and the
 * highest changeSeq meta had given this CS when the (last) page was read.
 */
public record CsChunkVersions(long highestSeq, List<CsChunkVersion> entries) {
    public CsChunkVersions {
        entries = List.copyOf(entries);
    }
}
