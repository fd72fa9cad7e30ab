package io.basalt.meta.model.s3;

import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;
import java.util.ArrayList;
import java.util.List;

/**
 * A page of an upload's parts, by part number; more follow after {@code nextPartNumberMarker}
 * when {@code truncated}.
 *
 * <p>Wire form: {@code Upload | i32 count | count x Part | u8 truncated |
 * i32 nextPartNumberMarker}.
 */
public record PartListing(Upload upload, List<Part> parts, boolean truncated, int nextPartNumberMarker) {

    public void encode(WireWriter out) {
        upload.encode(out);
        out.i32(parts.size());
        for (Part part : parts) {
            part.encode(out);
        }
        out.bool(truncated).i32(nextPartNumberMarker);
    }

    public static PartListing decode(WireReader in) {
        Upload upload = Upload.decode(in);
        int count = in.count(1);
        List<Part> parts = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            parts.add(Part.decode(in));
        }
        return new PartListing(upload, List.copyOf(parts), in.bool(), in.i32());
    }
}
