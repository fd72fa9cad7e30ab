package io.basalt.meta.model.s3;

import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;
import java.util.ArrayList;
import java.util.List;

/**
 * A page of a bucket's multipart uploads in progress, by key then upload id. Markers are null when
 * absent; uploads are {@link Upload#summary() summaries}.
 *
 * <p>Wire form: {@code i32 count | count x Upload | i32 count | count x string prefix |
 * u8 truncated | string nextKeyMarker | string nextUploadIdMarker} (absent markers: "").
 */
public record UploadListing(List<Upload> uploads, List<String> commonPrefixes, boolean truncated,
                            String nextKeyMarker, String nextUploadIdMarker) {

    public void encode(WireWriter out) {
        out.i32(uploads.size());
        for (Upload upload : uploads) {
            upload.encode(out);
        }
        S3Lists.encodeStrings(out, commonPrefixes);
        out.bool(truncated).string(S3Lists.orEmpty(nextKeyMarker))
                .string(S3Lists.orEmpty(nextUploadIdMarker));
    }

    public static UploadListing decode(WireReader in) {
        int count = in.count(1);
        List<Upload> uploads = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            uploads.add(Upload.decode(in));
        }
        return new UploadListing(List.copyOf(uploads), S3Lists.decodeStrings(in), in.bool(),
                S3Lists.orNull(in.string()), S3Lists.orNull(in.string()));
    }
}
