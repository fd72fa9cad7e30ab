package io.basalt.meta.api;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;

/**
 * Appends big-endian fields to a growing byte array: the one encoder behind every meta request,
 * response, log entry and RocksDB value. Strings are a u16 byte length and UTF-8 bytes; see
 * "Metadata API" in docs/formats.md.
 */
public final class WireWriter {
    /** Longest string field in bytes: volume names, addresses and messages stay far below it. */
    public static final int STRING_BYTES_MAX = 4096;

    private final ByteArrayOutputStream out;

    public WireWriter() {
        this(64);
    }

    public WireWriter(int initialCapacityBytes) {
        out = new ByteArrayOutputStream(initialCapacityBytes);
    }

    public WireWriter u8(int value) {
        out.write(value);
        return this;
    }

    public WireWriter bool(boolean value) {
        return u8(value ? 1 : 0);
    }

    public WireWriter u16(int value) {
        out.write(value >>> 8);
        out.write(value);
        return this;
    }

    public WireWriter i32(int value) {
        out.write(value >>> 24);
        out.write(value >>> 16);
        out.write(value >>> 8);
        out.write(value);
        return this;
    }

    public WireWriter i64(long value) {
        i32((int) (value >>> 32));
        return i32((int) value);
    }

    public WireWriter string(String value) {
        byte[] bytes = value.getBytes(StandardCharsets.UTF_8);
        if (bytes.length > STRING_BYTES_MAX) {
            throw new IllegalArgumentException(
                    "string of " + bytes.length + " bytes (max " + STRING_BYTES_MAX + ")");
        }
        u16(bytes.length);
        out.write(bytes, 0, bytes.length);
        return this;
    }

    /**
     * A string map: {@code i32 count}, then count x {@code (string key, string value)} in
     * ascending key order ({@link String#compareTo}), so equal maps always encode to equal bytes.
     */
    public WireWriter stringMap(java.util.Map<String, String> map) {
        i32(map.size());
        for (java.util.Map.Entry<String, String> entry : new java.util.TreeMap<>(map).entrySet()) {
            string(entry.getKey()).string(entry.getValue());
        }
        return this;
    }

    /** A list of longs: {@code i32 count}, then count x {@code i64}. */
    public WireWriter i64List(java.util.List<Long> values) {
        i32(values.size());
        for (long value : values) {
            i64(value);
        }
        return this;
    }

    public WireWriter bytes(byte[] value) {
        out.write(value, 0, value.length);
        return this;
    }

    public int sizeBytes() {
        return out.size();
    }

    public byte[] toByteArray() {
        return out.toByteArray();
    }
}
