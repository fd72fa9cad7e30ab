package io.basalt.s3.chunked;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.List;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Writes aws-chunked bodies as a client does, from the spec and separately from the decoder:
 * chunk signatures chained from a seed, optional trailers and trailer signature.
 */
final class ChunkedBodies {
    static final String EMPTY_SHA256 =
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    private ChunkedBodies() {}

    /**
     * @param signingKey null for an unsigned body
     * @param trailers name and value pairs; null for no trailer section
     */
    static byte[] encode(byte[] data, List<Integer> chunkSizes, byte[] signingKey, String seed,
            String amzDate, String scope, List<String[]> trailers) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        String previous = seed;
        int offset = 0;
        for (int i = 0; i <= chunkSizes.size(); i++) {
            int size = i < chunkSizes.size() ? chunkSizes.get(i) : 0;
            if (i < chunkSizes.size() && size == 0) {
                continue; // only the final chunk is empty
            }
            String header = Integer.toHexString(size);
            if (signingKey != null) {
                String stringToSign = "AWS4-HMAC-SHA256-PAYLOAD\n" + amzDate + "\n" + scope + "\n"
                        + previous + "\n" + EMPTY_SHA256 + "\n" + sha256Hex(data, offset, size);
                previous = hmacHex(signingKey, stringToSign);
                header += ";chunk-signature=" + previous;
            }
            write(out, header + "\r\n");
            if (size > 0) {
                out.write(data, offset, size);
                write(out, "\r\n");
            }
            offset += size;
        }
        if (trailers != null) {
            StringBuilder canonical = new StringBuilder();
            for (String[] trailer : trailers) {
                write(out, trailer[0] + ":" + trailer[1] + "\r\n");
                canonical.append(trailer[0]).append(':').append(trailer[1]).append('\n');
            }
            if (signingKey != null) {
                byte[] canonicalBytes = canonical.toString().getBytes(StandardCharsets.UTF_8);
                String stringToSign = "AWS4-HMAC-SHA256-TRAILER\n" + amzDate + "\n" + scope
                        + "\n" + previous + "\n" + sha256Hex(canonicalBytes, 0,
                                canonicalBytes.length);
                write(out, "x-amz-trailer-signature:" + hmacHex(signingKey, stringToSign)
                        + "\r\n");
            }
        }
        write(out, "\r\n");
        return out.toByteArray();
    }

    static byte[] signingKey(String secret, String date, String region) {
        byte[] key = hmac(("AWS4" + secret).getBytes(StandardCharsets.UTF_8), date);
        key = hmac(key, region);
        key = hmac(key, "s3");
        return hmac(key, "aws4_request");
    }

    private static void write(ByteArrayOutputStream out, String text) {
        out.writeBytes(text.getBytes(StandardCharsets.UTF_8));
    }

    private static String sha256Hex(byte[] data, int offset, int length) {
        try {
            MessageDigest digest = MessageDigest.getInstance("SHA-256");
            digest.update(data, offset, length);
            return HexFormat.of().formatHex(digest.digest());
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    private static String hmacHex(byte[] key, String data) {
        return HexFormat.of().formatHex(hmac(key, data));
    }

    private static byte[] hmac(byte[] key, String data) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return mac.doFinal(data.getBytes(StandardCharsets.UTF_8));
        } catch (java.security.GeneralSecurityException e) {
            throw new AssertionError(e);
        }
    }
}
