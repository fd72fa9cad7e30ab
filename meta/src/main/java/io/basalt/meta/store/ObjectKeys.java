package io.basalt.meta.store;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * Index keys of the object index (docs/objects.md "The index", docs/formats.md "RocksDB layout").
 *
 * <p>Design note. An object key is UTF-8; in an index key it is <em>escaped</em>: every 0x00
 * byte becomes 0x00 0xFF, and the key ends with the terminator 0x00 0x01. Then byte order of
 * index keys is the order of object keys (UTF-8 byte order, which S3 lists in), and no key's
 * entries fall between another key's: "a" sorts before "a\0" (0x00 0x01 < 0x00 0xFF) and before
 * "ab" (0x00 < 'b'), and every entry of "a" (terminator, then a version) sorts before them.
 * What follows the terminator (a version, an upload id) never changes the order of keys. A
 * prefix of a key is escaped without the terminator: every key starting with it starts with
 * those bytes, so a listing seeks past a whole common prefix to the {@link #successor} of it.
 *
 * <pre>
 *  s3object      u64 bucketId | escaped key | 0x00 0x01 | u64 ~versionSeq   (newest first)
 *  s3object_null u64 bucketId | escaped key | 0x00 0x01
 *  s3upload      u64 bucketId | escaped key | 0x00 0x01 | upload id (ASCII)
 *  s3part        u64 bucketId | u64 uploadSeq | u32 partNumber
 *  objext/objfree u64 logId | u64 offset
 * </pre>
 */
public final class ObjectKeys {
    private static final int ESCAPE = 0x00;
    private static final int ESCAPED_ZERO = 0xFF;
    private static final int TERMINATOR = 0x01;
    /** Bytes of the bucket id that starts every object-side key. */
    public static final int BUCKET_ID_BYTES = 8;

    private ObjectKeys() {}

    /** The UTF-8 bytes of {@code text} with every 0x00 escaped; no terminator. */
    public static byte[] escapedBody(String text) {
        byte[] utf8 = text.getBytes(StandardCharsets.UTF_8);
        ByteArrayOutputStream out = new ByteArrayOutputStream(utf8.length + 2);
        for (byte b : utf8) {
            out.write(b);
            if (b == ESCAPE) {
                out.write(ESCAPED_ZERO);
            }
        }
        return out.toByteArray();
    }

    /** Every key of the bucket starts with this. */
    public static byte[] bucketPrefix(long bucketId) {
        return Keys.u64(bucketId);
    }

    /** Every index key of an object key starting with {@code prefix} starts with this. */
    public static byte[] textPrefix(long bucketId, String prefix) {
        return concat(Keys.u64(bucketId), escapedBody(prefix));
    }

    /** Every entry of exactly {@code key} (its versions, or its uploads) starts with this. */
    public static byte[] keyPrefix(long bucketId, String key) {
        return concat(Keys.u64(bucketId), escapedBody(key), new byte[] {ESCAPE, TERMINATOR});
    }

    /** One version: sequence numbers stored inverted, so the newest comes first. */
    public static byte[] objectKey(long bucketId, String key, long versionSeq) {
        return concat(keyPrefix(bucketId, key), Keys.u64(~versionSeq));
    }

    public static byte[] uploadKey(long bucketId, String key, String uploadId) {
        return concat(keyPrefix(bucketId, key), uploadId.getBytes(StandardCharsets.US_ASCII));
    }

    public static byte[] partPrefix(long bucketId, long uploadSeq) {
        return Keys.u64u64(bucketId, uploadSeq);
    }

    public static byte[] partKey(long bucketId, long uploadSeq, int partNumber) {
        return concat(Keys.u64u64(bucketId, uploadSeq), Keys.u32(partNumber));
    }

    public static byte[] extentKey(long logId, long offset) {
        return Keys.u64u64(logId, offset);
    }

    /**
     * The smallest byte string greater than every string starting with {@code prefix}, or null if
     * there is none (all 0xFF): where a scan seeks to skip a whole prefix.
     */
    public static byte[] successor(byte[] prefix) {
        for (int i = prefix.length - 1; i >= 0; i--) {
            if (prefix[i] != (byte) 0xFF) {
                byte[] next = Arrays.copyOf(prefix, i + 1);
                next[i]++;
                return next;
            }
        }
        return null;
    }

    /** Position just past the terminator of the escaped key that starts at byte 8. */
    public static int keyEnd(byte[] indexKey) {
        for (int i = BUCKET_ID_BYTES; i < indexKey.length - 1; i++) {
            if (indexKey[i] == ESCAPE) {
                int next = indexKey[i + 1] & 0xff;
                if (next == TERMINATOR) {
                    return i + 2;
                }
                if (next != ESCAPED_ZERO) {
                    throw corrupt(indexKey);
                }
                i++;
            }
        }
        throw corrupt(indexKey);
    }

    /** The object key of an s3object, s3object_null or s3upload index key. */
    public static String keyOf(byte[] indexKey) {
        int end = keyEnd(indexKey) - 2;
        ByteArrayOutputStream out = new ByteArrayOutputStream(end - BUCKET_ID_BYTES);
        for (int i = BUCKET_ID_BYTES; i < end; i++) {
            out.write(indexKey[i]);
            if (indexKey[i] == ESCAPE) {
                i++;
            }
        }
        return out.toString(StandardCharsets.UTF_8);
    }

    /** The version sequence number of an s3object index key. */
    public static long versionSeqOf(byte[] indexKey) {
        int end = keyEnd(indexKey);
        if (indexKey.length != end + 8) {
            throw corrupt(indexKey);
        }
        return ~Keys.readU64(indexKey, end);
    }

    /** The upload id of an s3upload index key. */
    public static String uploadIdOf(byte[] indexKey) {
        int end = keyEnd(indexKey);
        return new String(indexKey, end, indexKey.length - end, StandardCharsets.US_ASCII);
    }

    public static boolean startsWith(byte[] key, byte[] prefix) {
        return key.length >= prefix.length
                && Arrays.equals(key, 0, prefix.length, prefix, 0, prefix.length);
    }

    /** Orders strings as the index does: by their UTF-8 bytes (S3's listing order). */
    public static int compareUtf8(String a, String b) {
        return Arrays.compareUnsigned(a.getBytes(StandardCharsets.UTF_8),
                b.getBytes(StandardCharsets.UTF_8));
    }

    private static byte[] concat(byte[]... parts) {
        int length = 0;
        for (byte[] part : parts) {
            length += part.length;
        }
        byte[] key = new byte[length];
        int at = 0;
        for (byte[] part : parts) {
            System.arraycopy(part, 0, key, at, part.length);
            at += part.length;
        }
        return key;
    }

    private static IllegalStateException corrupt(byte[] indexKey) {
        return new IllegalStateException("corrupt object index key "
                + java.util.HexFormat.of().formatHex(indexKey) + ": no escaped key terminator");
    }
}
