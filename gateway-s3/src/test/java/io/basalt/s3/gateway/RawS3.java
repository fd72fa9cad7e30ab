package io.basalt.s3.gateway;

import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * Raw S3 requests over java.net.http, signed by a SigV4 signer written here from the spec (not
 * the gateway's code), for what the SDK refuses to send: bad digests, bad names, bad XML.
 */
final class RawS3 {
    static final String UNSIGNED = "UNSIGNED-PAYLOAD";

    private final URI endpoint;
    private final String accessKey;
    private final String secret;
    private final HttpClient http = HttpClient.newHttpClient();

    RawS3(URI endpoint, String accessKey, String secret) {
        this.endpoint = endpoint;
        this.accessKey = accessKey;
        this.secret = secret;
    }

    /**
     * Sends a signed request.
     *
     * @param encodedPath the path as sent (each segment already encoded)
     * @param query raw query, names and values already encoded, or empty
     * @param headers extra headers to send and sign (lowercase names)
     * @param payloadHash the x-amz-content-sha256 value; null to hash the body
     * @param body null for none
     */
    HttpResponse<String> send(String method, String encodedPath, String query,
            Map<String, String> headers, byte[] body, String payloadHash) throws Exception {
        String hash = payloadHash != null ? payloadHash
                : hex(sha256(body == null ? new byte[0] : body));
        Map<String, String> signed = sign(method, encodedPath, query, headers, hash);
        HttpRequest.Builder request = HttpRequest.newBuilder(URI.create(endpoint + encodedPath
                + (query.isEmpty() ? "" : "?" + query)));
        signed.forEach((name, value) -> {
            if (!name.equals("host")) {
                request.header(name, value);
            }
        });
        request.method(method, body == null ? HttpRequest.BodyPublishers.noBody()
                : HttpRequest.BodyPublishers.ofByteArray(body));
        return http.send(request.build(), HttpResponse.BodyHandlers.ofString());
    }

    /** The headers to send (with host, x-amz-date, x-amz-content-sha256, Authorization). */
    Map<String, String> sign(String method, String encodedPath, String query,
            Map<String, String> headers, String payloadHash) throws Exception {
        return sign(endpoint.getHost() + ":" + endpoint.getPort(), method, encodedPath, query,
                headers, payloadHash);
    }

    /** As {@link #sign(String, String, String, Map, String)} for another Host header. */
    Map<String, String> sign(String host, String method, String encodedPath, String query,
            Map<String, String> headers, String payloadHash) throws Exception {
        String amzDate = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'").format(
                ZonedDateTime.now(ZoneOffset.UTC));
        TreeMap<String, String> signed = new TreeMap<>(headers);
        signed.put("host", host);
        signed.put("x-amz-date", amzDate);
        signed.put("x-amz-content-sha256", payloadHash);
        String canonicalQuery = canonicalQuery(query);
        StringBuilder canonicalHeaders = new StringBuilder();
        signed.forEach((name, value) -> canonicalHeaders.append(name).append(':')
                .append(value.strip()).append('\n'));
        String signedHeaders = String.join(";", signed.keySet());
        String canonicalRequest = method + "\n" + encodedPath + "\n" + canonicalQuery + "\n"
                + canonicalHeaders + "\n" + signedHeaders + "\n" + payloadHash;
        String date = amzDate.substring(0, 8);
        String scope = date + "/us-east-1/s3/aws4_request";
        String stringToSign = "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n"
                + hex(sha256(canonicalRequest.getBytes(StandardCharsets.UTF_8)));
        byte[] key = hmac(("AWS4" + secret).getBytes(StandardCharsets.UTF_8), date);
        key = hmac(key, "us-east-1");
        key = hmac(key, "s3");
        key = hmac(key, "aws4_request");
        String signature = hex(hmac(key, stringToSign));
        TreeMap<String, String> all = new TreeMap<>(signed);
        all.put("authorization", "AWS4-HMAC-SHA256 Credential=" + accessKey + "/" + scope
                + ", SignedHeaders=" + signedHeaders + ", Signature=" + signature);
        return all;
    }

    /** An unsigned request. */
    HttpResponse<String> anonymous(String method, String encodedPath) throws Exception {
        return http.send(HttpRequest.newBuilder(URI.create(endpoint + encodedPath))
                .method(method, HttpRequest.BodyPublishers.noBody()).build(),
                HttpResponse.BodyHandlers.ofString());
    }

    private static String canonicalQuery(String query) {
        if (query.isEmpty()) {
            return "";
        }
        List<String> pairs = new ArrayList<>();
        for (String piece : query.split("&")) {
            pairs.add(piece.contains("=") ? piece : piece + "=");
        }
        pairs.sort(null);
        return String.join("&", pairs);
    }

    static byte[] sha256(byte[] data) throws Exception {
        return MessageDigest.getInstance("SHA-256").digest(data);
    }

    static byte[] md5(byte[] data) throws Exception {
        return MessageDigest.getInstance("MD5").digest(data);
    }

    static String hex(byte[] bytes) {
        return HexFormat.of().formatHex(bytes);
    }

    private static byte[] hmac(byte[] key, String data) throws Exception {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(key, "HmacSHA256"));
        return mac.doFinal(data.getBytes(StandardCharsets.UTF_8));
    }
}
