package io.basalt.meta.model.s3;

import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;
import java.util.ArrayList;
import java.util.List;

/**
 * Bytes of an object in an object log: {@code length} bytes at {@code offset} (4 KiB-aligned) of log
 * {@code logId}'s volume. The last block may be partly used; the space taken is length rounded up to
 * 4 KiB.
 *
 * <p>Wire form: {@code i64 logId | i64 offset | i64 length} (24 bytes).
 */
public record ObjectExtent(long logId, long offset, long length) {
    public static final int ALIGNMENT = 4096;
    public static final int ENCODED_BYTES = 24;

    public long spaceBytes() {
        return (length + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    }

    /** The first offset past the space this extent takes. */
    public long endOffset() {
        return offset + spaceBytes();
    }

    public void encode(WireWriter out) {
        out.i64(logId).i64(offset).i64(length);
    }

    public static ObjectExtent decode(WireReader in) {
        return new ObjectExtent(in.i64(), in.i64(), in.i64());
    }

    /** {@code i32 count | count x ObjectExtent}. */
    public static void encodeList(WireWriter out, List<ObjectExtent> extents) {
        out.i32(extents.size());
        for (ObjectExtent extent : extents) {
            extent.encode(out);
        }
    }

    public static List<ObjectExtent> decodeList(WireReader in) {
        int count = in.count(ENCODED_BYTES);
        List<ObjectExtent> extents = new ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            extents.add(decode(in));
        }
        return List.copyOf(extents);
    }
}
