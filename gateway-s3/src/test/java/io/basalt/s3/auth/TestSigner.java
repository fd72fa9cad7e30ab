package io.basalt.s3.auth;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * A client-side SigV4 signer written from the spec, separately from the verifier's code, so a
 * round trip tests two readings of the spec against each other (and both against the AWS
 * examples). It signs the way the SDKs do: the key UriEncoded with slashes kept, query names and
 * values UriEncoded, headers lowercased and trimmed.
 */
final class TestSigner {
    private TestSigner() {}

    /** SigV4 UriEncode, byte by byte. */
    static String encode(String value, boolean encodeSlash) {
        StringBuilder out = new StringBuilder();
        for (byte b : value.getBytes(StandardCharsets.UTF_8)) {
            char c = (char) (b & 0xFF);
            boolean unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z')
                    || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~';
            if (unreserved || (c == '/' && !encodeSlash)) {
                out.append(c);
            } else {
                out.append(String.format("%%%02X", b & 0xFF));
            }
        }
        return out.toString();
    }

    /** Query pairs (decoded name, value) as the raw query an SDK sends. */
    static String rawQuery(List<String[]> pairs) {
        List<String> pieces = new ArrayList<>();
        for (String[] pair : pairs) {
            pieces.add(encode(pair[0], true) + "=" + encode(pair[1], true));
        }
        return String.join("&", pieces);
    }

    /**
     * The signature of a request.
     *
     * @param encodedPath the path as sent, each key encoded with {@link #encode}
     * @param headers lowercase name to value, the signed headers
     */
    static String signature(String secret, String amzDate, String region, String method,
            String encodedPath, List<String[]> query, Map<String, String> headers,
            String payloadHash) {
        List<String> queryPieces = new ArrayList<>();
        for (String[] pair : query) {
            queryPieces.add(encode(pair[0], true) + "=" + encode(pair[1], true));
        }
        queryPieces.sort((a, b) -> {
            String[] x = a.split("=", 2);
            String[] y = b.split("=", 2);
            int byName = x[0].compareTo(y[0]);
            return byName != 0 ? byName : x[1].compareTo(y[1]);
        });
        TreeMap<String, String> sorted = new TreeMap<>(headers);
        StringBuilder canonicalHeaders = new StringBuilder();
        sorted.forEach((name, value) -> canonicalHeaders.append(name).append(':')
                .append(value.trim().replaceAll("[ \t]+", " ")).append('\n'));
        String signedHeaders = String.join(";", sorted.keySet());
        String canonicalRequest = method + "\n" + encodedPath + "\n"
                + String.join("&", queryPieces) + "\n" + canonicalHeaders + "\n" + signedHeaders
                + "\n" + payloadHash;
        String date = amzDate.substring(0, 8);
        String scope = date + "/" + region + "/s3/aws4_request";
        String stringToSign = "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n"
                + hex(sha256(canonicalRequest.getBytes(StandardCharsets.UTF_8)));
        byte[] key = hmac(("AWS4" + secret).getBytes(StandardCharsets.UTF_8), date);
        key = hmac(key, region);
        key = hmac(key, "s3");
        key = hmac(key, "aws4_request");
        return hex(hmac(key, stringToSign));
    }

    static String signedHeaderList(Map<String, String> headers) {
        return String.join(";", new TreeMap<>(headers).keySet());
    }

    static byte[] hmac(byte[] key, String data) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return mac.doFinal(data.getBytes(StandardCharsets.UTF_8));
        } catch (java.security.GeneralSecurityException e) {
            throw new AssertionError(e);
        }
    }

    static byte[] sha256(byte[] data) {
        try {
            return java.security.MessageDigest.getInstance("SHA-256").digest(data);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    static String hex(byte[] bytes) {
        StringBuilder out = new StringBuilder();
        for (byte b : bytes) {
            out.append(String.format("%02x", b & 0xFF));
        }
        return out.toString();
    }

    static Map<String, String> mapOf(String... namesAndValues) {
        Map<String, String> map = new TreeMap<>();
        for (int i = 0; i < namesAndValues.length; i += 2) {
            map.put(namesAndValues[i], namesAndValues[i + 1]);
        }
        return map;
    }
}
