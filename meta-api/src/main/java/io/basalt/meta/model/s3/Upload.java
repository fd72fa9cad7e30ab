package io.basalt.meta.model.s3;

import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;
import java.util.Map;

/**
 * A multipart upload in progress: what CreateMultipartUpload said the object will be.
 * {@code checksumAlgorithm}: empty when none.
 *
 * <p>Wire form: {@code string bucket | string key | string uploadId | i64 initiatedMillis |
 * string owner | map headers | string checksumAlgorithm | map tags}.
 */
public record Upload(String bucket, String key, String uploadId, long initiatedMillis, String owner,
                     Map<String, String> headers, String checksumAlgorithm, Map<String, String> tags) {

    /** What a listing carries: no headers or tags. */
    public Upload summary() {
        return new Upload(bucket, key, uploadId, initiatedMillis, owner, Map.of(),
                checksumAlgorithm, Map.of());
    }

    public void encode(WireWriter out) {
        out.string(bucket).string(key).string(uploadId).i64(initiatedMillis).string(owner)
                .stringMap(headers).string(checksumAlgorithm).stringMap(tags);
    }

    public static Upload decode(WireReader in) {
        return new Upload(in.string(), in.string(), in.string(), in.i64(), in.string(),
                in.stringMap(), in.string(), in.stringMap());
    }
}
