package io.basalt.meta.model.s3;

import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;

/**
 * An S3 user: the access key it signs with and its secret (shown once, at creation; a listing
 * carries it empty).
 *
 * <p>Wire form: {@code string name | string accessKey | string secret | i64 createdMillis}.
 */
public record S3User(String name, String accessKey, String secret, long createdMillis) {

    public S3User withoutSecret() {
        return new S3User(name, accessKey, "", createdMillis);
    }

    public void encode(WireWriter out) {
        out.string(name).string(accessKey).string(secret).i64(createdMillis);
    }

    public static S3User decode(WireReader in) {
        return new S3User(in.string(), in.string(), in.string(), in.i64());
    }
}
