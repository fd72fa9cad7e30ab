package io.basalt.common;

import java.util.Locale;

/**
 * Byte sizes as people type and read them: {@code 10G}, {@code 512M}, {@code 4096}, {@code 1.5T}.
 *
 * <p>Suffixes are binary (K = 1024), as in qemu-img and fio, because block sizes and chunk sizes are
 * powers of two and a "10G" volume should hold exactly 10 * 2^30 bytes.
 */
public final class Units {
    private static final String SUFFIXES = "KMGTPE";

    private Units() {}

    /**
     * Parses a size such as {@code 4096}, {@code 64K}, {@code 10G}, {@code 10GiB}, {@code 1.5T}.
     *
     * @throws IllegalArgumentException with a message naming the accepted forms
     */
    public static long parseBytes(String text) {
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("size is empty; use a number with an optional K/M/G/T suffix, e.g. 10G");
        }
        String s = text.trim().toUpperCase(Locale.ROOT);
        if (s.endsWith("IB")) {
            s = s.substring(0, s.length() - 2);
        } else if (s.endsWith("B")) {
            s = s.substring(0, s.length() - 1);
        }
        int shift = 0;
        if (!s.isEmpty()) {
            int suffix = SUFFIXES.indexOf(s.charAt(s.length() - 1));
            if (suffix >= 0) {
                shift = 10 * (suffix + 1);
                s = s.substring(0, s.length() - 1);
            }
        }
        try {
            if (s.contains(".")) {
                double value = Double.parseDouble(s);
                double bytes = value * Math.pow(2, shift);
                if (value < 0 || bytes >= 0x1p63) {
                    throw new IllegalArgumentException("size " + text + " is out of range");
                }
                return (long) bytes;
            }
            long value = Long.parseLong(s);
            if (value < 0 || (shift > 0 && value > (Long.MAX_VALUE >> shift))) {
                throw new IllegalArgumentException("size " + text + " is out of range");
            }
            return value << shift;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(
                    "size '" + text + "' is not a size; use a number with an optional K/M/G/T suffix, e.g. 10G");
        }
    }

    /** Formats a byte count for people: {@code 10.0 GiB}, {@code 512 B}. */
    public static String formatBytes(long bytes) {
        if (bytes < 1024) {
            return bytes + " B";
        }
        int unit = 0;
        double value = bytes;
        while (value >= 1024 && unit < SUFFIXES.length()) {
            value /= 1024;
            unit++;
        }
        return String.format(Locale.ROOT, "%.1f %siB", value, SUFFIXES.charAt(unit - 1));
    }
}
