package io.basalt.meta.model.s3;

import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;
import java.util.ArrayList;
import java.util.List;

/**
 * A page of a bucket's current objects in key order (ListObjects v1/v2), or of all versions and delete
 * markers (ListObjectVersions: newest first within a key). {@code truncated}: more follow, from
 * {@code nextKeyMarker} (and {@code nextVersionIdMarker} for versions) exclusive. Markers are null
 * when absent. Entries are {@link ObjectVersion#summary() summaries}.
 *
 * <p>Wire form: {@code i32 count | count x ObjectVersion | i32 count | count x string prefix |
 * u8 truncated | string nextKeyMarker | string nextVersionIdMarker} (absent markers: "").
 */
public record ObjectListing(List<ObjectVersion> entries, List<String> commonPrefixes, boolean truncated,
                            String nextKeyMarker, String nextVersionIdMarker) {

    public void encode(WireWriter out) {
        out.i32(entries.size());
        for (ObjectVersion entry : entries) {
            entry.encode(out);
        }
        S3Lists.encodeStrings(out, commonPrefixes);
        out.bool(truncated).string(S3Lists.orEmpty(nextKeyMarker))
                .string(S3Lists.orEmpty(nextVersionIdMarker));
    }

    public static ObjectListing decode(WireReader in) {
        int count = in.count(1);
        List<ObjectVersion> entries = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            entries.add(ObjectVersion.decode(in));
        }
        return new ObjectListing(List.copyOf(entries), S3Lists.decodeStrings(in), in.bool(),
                S3Lists.orNull(in.string()), S3Lists.orNull(in.string()));
    }
}
