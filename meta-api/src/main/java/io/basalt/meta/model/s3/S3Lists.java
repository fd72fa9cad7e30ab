package io.basalt.meta.model.s3;

import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;
import java.util.ArrayList;
import java.util.List;

/** Codec pieces the listings share: string lists and optional markers ("" on the wire). */
final class S3Lists {
    private S3Lists() {}

    static void encodeStrings(WireWriter out, List<String> values) {
        out.i32(values.size());
        for (String value : values) {
            out.string(value);
        }
    }

    static List<String> decodeStrings(WireReader in) {
        int count = in.count(2);
        List<String> values = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            values.add(in.string());
        }
        return List.copyOf(values);
    }

    /** Markers are never empty (keys and ids are not), so "" stands for none. */
    static String orEmpty(String marker) {
        return marker == null ? "" : marker;
    }

    static String orNull(String marker) {
        return marker.isEmpty() ? null : marker;
    }
}
