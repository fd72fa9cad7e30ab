package io.basalt.meta.model.s3;

import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;
import java.util.List;
import java.util.Map;

/**
 * One uploaded part of a multipart upload (a part uploaded again replaces it). {@code etag}: the
 * part's MD5 in lower-case hex, unquoted.
 *
 * <p>Wire form: {@code i32 number | i64 size | string etag | map checksums |
 * i64 modifiedMillis | ObjectExtent list}.
 */
public record Part(int number, long size, String etag, Map<String, String> checksums, long modifiedMillis,
                   List<ObjectExtent> extents) {

    public void encode(WireWriter out) {
        out.i32(number).i64(size).string(etag).stringMap(checksums).i64(modifiedMillis);
        ObjectExtent.encodeList(out, extents);
    }

    public static Part decode(WireReader in) {
        return new Part(in.i32(), in.i64(), in.string(), in.stringMap(), in.i64(),
                ObjectExtent.decodeList(in));
    }
}
