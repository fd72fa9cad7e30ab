package io.basalt.meta.store;

import java.nio.charset.StandardCharsets;

/** Big-endian keys, so RocksDB's byte order is numeric order and prefixes select a volume. */
public final class Keys {
    private Keys() {}

    public static final byte[] LAST_APPLIED = ascii("lastApplied");
    public static final byte[] NEXT_CS_ID = ascii("nextCsId");
    public static final byte[] NEXT_VOLUME_ID = ascii("nextVolumeId");
    public static final byte[] NEXT_CHUNK_UID = ascii("nextChunkUid");
    /** The cluster id: 16 bytes, the UUID's most then least significant half. */
    public static final byte[] CLUSTER_ID = ascii("clusterId");

    public static byte[] ascii(String text) {
        return text.getBytes(StandardCharsets.UTF_8);
    }

    /** {@code prefix} (ASCII) then {@code value} as u32: a per-id key among others in one table. */
    public static byte[] asciiU32(String prefix, int value) {
        byte[] head = ascii(prefix);
        byte[] key = java.util.Arrays.copyOf(head, head.length + 4);
        System.arraycopy(u32(value), 0, key, head.length, 4);
        return key;
    }

    public static byte[] u32(int value) {
        return new byte[] {(byte) (value >>> 24), (byte) (value >>> 16), (byte) (value >>> 8),
                (byte) value};
    }

    public static byte[] u64(long value) {
        byte[] key = new byte[8];
        putU64(key, 0, value);
        return key;
    }

    public static byte[] u64u64(long first, long second) {
        byte[] key = new byte[16];
        putU64(key, 0, first);
        putU64(key, 8, second);
        return key;
    }

    /** A chunk server id then a 64-bit number: the per-CS version index keys. */
    public static byte[] u32u64(int first, long second) {
        byte[] key = new byte[12];
        System.arraycopy(u32(first), 0, key, 0, 4);
        putU64(key, 4, second);
        return key;
    }

    public static long readU64(byte[] bytes, int offset) {
        long value = 0;
        for (int i = 0; i < 8; i++) {
            value = (value << 8) | (bytes[offset + i] & 0xff);
        }
        return value;
    }

    private static void putU64(byte[] key, int offset, long value) {
        for (int i = 7; i >= 0; i--) {
            key[offset + i] = (byte) value;
            value >>>= 8;
        }
    }
}
