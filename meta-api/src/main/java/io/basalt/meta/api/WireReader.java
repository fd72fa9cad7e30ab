package io.basalt.meta.api;

import java.nio.charset.StandardCharsets;

/**
 * Reads the big-endian fields {@link WireWriter} wrote. Every read is bounds-checked and fails
 * with {@link MalformedMessageException}, never an index exception: bytes from the network and
 * from disk are input, not trusted state.
 */
public final class WireReader {
    private final byte[] bytes;
    private final int limit;
    private int position;

    public WireReader(byte[] bytes) {
        this(bytes, 0, bytes.length);
    }

    public WireReader(byte[] bytes, int offset, int length) {
        this.bytes = bytes;
        this.position = offset;
        this.limit = offset + length;
    }

    private void need(int count, String field) {
        if (limit - position < count) {
            throw new MalformedMessageException("truncated at " + field + ": need " + count
                    + " bytes, " + (limit - position) + " left");
        }
    }

    public int u8() {
        need(1, "u8");
        return bytes[position++] & 0xff;
    }

    public boolean bool() {
        int value = u8();
        if (value > 1) {
            throw new MalformedMessageException("boolean byte " + value + " (must be 0 or 1)");
        }
        return value == 1;
    }

    public int u16() {
        need(2, "u16");
        int value = ((bytes[position] & 0xff) << 8) | (bytes[position + 1] & 0xff);
        position += 2;
        return value;
    }

    public int i32() {
        need(4, "i32");
        int value = ((bytes[position] & 0xff) << 24) | ((bytes[position + 1] & 0xff) << 16)
                | ((bytes[position + 2] & 0xff) << 8) | (bytes[position + 3] & 0xff);
        position += 4;
        return value;
    }

    public long i64() {
        long high = i32() & 0xffffffffL;
        long low = i32() & 0xffffffffL;
        return (high << 32) | low;
    }

    public String string() {
        int length = u16();
        if (length > WireWriter.STRING_BYTES_MAX) {
            throw new MalformedMessageException(
                    "string of " + length + " bytes (max " + WireWriter.STRING_BYTES_MAX + ")");
        }
        need(length, "string");
        String value = new String(bytes, position, length, StandardCharsets.UTF_8);
        position += length;
        return value;
    }

    /**
     * A map {@link WireWriter#stringMap} wrote; keys must be strictly ascending (one canonical
     * encoding per map), so a duplicate or reordered key is refused.
     */
    public java.util.SortedMap<String, String> stringMap() {
        int count = count(4);
        java.util.TreeMap<String, String> map = new java.util.TreeMap<>();
        String previous = null;
        for (int i = 0; i < count; i++) {
            String key = string();
            if (previous != null && previous.compareTo(key) >= 0) {
                throw new MalformedMessageException("map key \"" + key + "\" is not after \""
                        + previous + "\"");
            }
            map.put(key, string());
            previous = key;
        }
        return java.util.Collections.unmodifiableSortedMap(map);
    }

    /** A list {@link WireWriter#i64List} wrote. */
    public java.util.List<Long> i64List() {
        int count = count(8);
        java.util.List<Long> values = new java.util.ArrayList<>(count);
        for (int i = 0; i < count; i++) {
            values.add(i64());
        }
        return java.util.List.copyOf(values);
    }

    /** A count of list elements, checked against what the remaining bytes could hold. */
    public int count(int elementBytesMin) {
        int count = i32();
        if (count < 0 || (long) count * elementBytesMin > limit - position) {
            throw new MalformedMessageException("list count " + count + " does not fit in "
                    + (limit - position) + " remaining bytes");
        }
        return count;
    }

    public int remaining() {
        return limit - position;
    }

    public int position() {
        return position;
    }

    /** The next byte, without consuming it. */
    public int peekU8() {
        need(1, "u8");
        return bytes[position] & 0xff;
    }

    /** The next {@code count} bytes, copied. */
    public byte[] bytes(int count) {
        if (count < 0) {
            throw new MalformedMessageException("byte count " + count);
        }
        need(count, "bytes");
        byte[] copy = java.util.Arrays.copyOfRange(bytes, position, position + count);
        position += count;
        return copy;
    }

    /** Fails unless every byte was read: trailing garbage means a format we do not know. */
    public void end() {
        if (position != limit) {
            throw new MalformedMessageException((limit - position) + " trailing bytes");
        }
    }
}
