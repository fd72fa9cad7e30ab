package io.basalt.s3;

import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CharsetDecoder;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * Percent-encoding as SigV4 defines it ("UriEncode" in the S3 API reference, "Signature
 * Calculations for the Authorization Header"): every byte of the UTF-8 form is written as
 * {@code %XY} with uppercase hex, except the unreserved characters {@code A-Z a-z 0-9 - _ . ~};
 * a slash is encoded or not as the caller says (object key paths keep it). Space is {@code %20},
 * never {@code +}.
 *
 * <p>Decoding is strict: a {@code %} must be followed by two hex digits and the bytes must be
 * valid UTF-8, else {@link S3Error#InvalidURI}. In a query string a {@code +} decodes to a space
 * (HTML form encoding, which clients use there); in a path it is a plain {@code +}.
 */
public final class UriEncoding {
    private static final char[] HEX_UPPER = "0123456789ABCDEF".toCharArray();

    private UriEncoding() {}

    /** UriEncode of {@code value}; {@code encodeSlash} false keeps {@code /} as is. */
    public static String encode(String value, boolean encodeSlash) {
        StringBuilder out = null;
        int length = value.length();
        for (int i = 0; i < length; i++) {
            char c = value.charAt(i);
            if (isUnreserved(c) || (c == '/' && !encodeSlash)) {
                if (out != null) {
                    out.append(c);
                }
                continue;
            }
            if (out == null) {
                out = new StringBuilder(length + 16);
                out.append(value, 0, i);
            }
            int codePoint = value.codePointAt(i);
            if (Character.charCount(codePoint) == 2) {
                i++;
            }
            appendUtf8Escaped(out, codePoint);
        }
        return out == null ? value : out.toString();
    }

    /** Decodes a path component: {@code +} stays {@code +}. */
    public static String decodePath(String raw) {
        return decode(raw, false);
    }

    /** Decodes a query name or value: {@code +} is a space. */
    public static String decodeQuery(String raw) {
        return decode(raw, true);
    }

    static boolean isUnreserved(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
                || c == '-' || c == '_' || c == '.' || c == '~';
    }

    private static void appendUtf8Escaped(StringBuilder out, int codePoint) {
        byte[] bytes = Character.toString(codePoint).getBytes(StandardCharsets.UTF_8);
        for (byte b : bytes) {
            out.append('%').append(HEX_UPPER[(b >> 4) & 0xF]).append(HEX_UPPER[b & 0xF]);
        }
    }

    private static String decode(String raw, boolean plusIsSpace) {
        if (raw.indexOf('%') < 0 && (!plusIsSpace || raw.indexOf('+') < 0)) {
            return raw;
        }
        ByteBuffer bytes = ByteBuffer.allocate(raw.length() * 3);
        int length = raw.length();
        for (int i = 0; i < length; i++) {
            char c = raw.charAt(i);
            if (c == '%') {
                int high = i + 1 < length ? Character.digit(raw.charAt(i + 1), 16) : -1;
                int low = i + 2 < length ? Character.digit(raw.charAt(i + 2), 16) : -1;
                if (high < 0 || low < 0) {
                    throw new S3Exception(S3Error.InvalidURI,
                            "bad percent-escape at offset " + i + " of \"" + raw + "\"");
                }
                bytes.put((byte) (high << 4 | low));
                i += 2;
            } else if (c == '+' && plusIsSpace) {
                bytes.put((byte) ' ');
            } else if (c < 0x80) {
                bytes.put((byte) c);
            } else {
                int codePoint = raw.codePointAt(i);
                if (Character.charCount(codePoint) == 2) {
                    i++;
                }
                bytes.put(Character.toString(codePoint).getBytes(StandardCharsets.UTF_8));
            }
        }
        bytes.flip();
        CharsetDecoder decoder = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT)
                .onUnmappableCharacter(CodingErrorAction.REPORT);
        try {
            CharBuffer chars = decoder.decode(bytes);
            return chars.toString();
        } catch (CharacterCodingException e) {
            throw new S3Exception(S3Error.InvalidURI,
                    "percent-escapes are not UTF-8 in \"" + raw + "\"");
        }
    }
}
