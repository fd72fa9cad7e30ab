package io.basalt.meta.api;

/**
 * A reply from meta. Encoded form (big-endian, docs/formats.md "Metadata API"):
 *
 * <pre>
 *  offset size field
 *  0      1    formatVersion  (1)
 *  1      1    status         (0 = OK, else MetaError code)
 *  2      4    crc32c         (CRC32C of the body, bytes 6..end)
 *  6      n    body           (OK: the op's result; error: string message)
 * </pre>
 */
public record MetaReply(MetaError error, byte[] body) {
    public static final int FORMAT_VERSION = 1;
    public static final int HEADER_BYTES = 6;

    public static byte[] ok(byte[] body) {
        return frame(0, body);
    }

    public static byte[] ok(WireWriter body) {
        return frame(0, body.toByteArray());
    }

    public static byte[] error(MetaError error, String message) {
        return frame(error.code, new WireWriter().string(message).toByteArray());
    }

    private static byte[] frame(int status, byte[] body) {
        return new WireWriter(HEADER_BYTES + body.length).u8(FORMAT_VERSION).u8(status)
                .i32(MetaRequest.crc32c(body, 0, body.length)).bytes(body).toByteArray();
    }

    public boolean isOk() {
        return error == null;
    }

    /** The body of an OK reply; throws the refusal as a {@link MetaException}. */
    public WireReader bodyOrThrow() {
        if (error != null) {
            throw new MetaException(error, new WireReader(body).string());
        }
        return new WireReader(body);
    }

    public static MetaReply decode(byte[] bytes) {
        WireReader header = new WireReader(bytes);
        int formatVersion = header.u8();
        if (formatVersion != FORMAT_VERSION) {
            throw new MalformedMessageException("meta reply format version " + formatVersion
                    + " (this client knows " + FORMAT_VERSION + ")");
        }
        int status = header.u8();
        int crc = header.i32();
        int actual = MetaRequest.crc32c(bytes, HEADER_BYTES, bytes.length - HEADER_BYTES);
        if (crc != actual) {
            throw new MalformedMessageException(String.format(
                    "meta reply CRC32C mismatch: header %08x, body %08x", crc, actual));
        }
        byte[] body = java.util.Arrays.copyOfRange(bytes, HEADER_BYTES, bytes.length);
        return new MetaReply(status == 0 ? null : MetaError.ofCode(status), body);
    }
}
