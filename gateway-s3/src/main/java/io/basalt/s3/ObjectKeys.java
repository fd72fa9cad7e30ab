package io.basalt.s3;

import java.nio.charset.StandardCharsets;

/**
 * Object-key validation. S3 keys are any UTF-8 string of 1 to 1024 bytes (Amazon S3 User Guide,
 * "Naming Amazon S3 objects"); the byte count, not the character count, is the limit.
 */
public final class ObjectKeys {
    /** S3's limit on the UTF-8 length of a key. */
    public static final int KEY_LENGTH_BYTES_MAX = 1024;

    private ObjectKeys() {}

    /**
     * @throws S3Exception KeyTooLongError past 1024 UTF-8 bytes, InvalidArgument when empty
     */
    public static void validate(String key) {
        if (key.isEmpty()) {
            throw new S3Exception(S3Error.InvalidArgument, "object key is empty");
        }
        // Fast path: a UTF-8 character is at most 3 bytes per UTF-16 unit.
        if (key.length() * 3L <= KEY_LENGTH_BYTES_MAX) {
            return;
        }
        int lengthBytes = key.getBytes(StandardCharsets.UTF_8).length;
        if (lengthBytes > KEY_LENGTH_BYTES_MAX) {
            throw new S3Exception(S3Error.KeyTooLongError, "object key is " + lengthBytes
                    + " bytes of UTF-8 (max " + KEY_LENGTH_BYTES_MAX + ")");
        }
    }
}
