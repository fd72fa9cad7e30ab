package io.basalt.s3.gateway;

import io.basalt.meta.model.s3.ObjectVersion;
import io.basalt.s3.ETags;
import io.basalt.s3.HttpDates;
import io.basalt.s3.QueryParameters;
import io.basalt.s3.RequestHeaders;
import io.basalt.s3.S3Error;
import io.basalt.s3.S3Exception;
import io.basalt.s3.xml.RequestXml;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The headers an object keeps (content headers and x-amz-meta-* user metadata), from a PUT's
 * request to a GET's response, with the GET's {@code response-*} overrides; and x-amz-tagging.
 */
final class ObjectHeaders {
    static final String USER_METADATA_PREFIX = "x-amz-meta-";
    static final String DEFAULT_CONTENT_TYPE = "binary/octet-stream";

    /** Content headers stored with an object and returned by GET and HEAD. */
    static final List<String> CONTENT_HEADERS = List.of("content-type", "content-encoding",
            "content-disposition", "content-language", "cache-control", "expires");

    /** GetObject's query parameters that override a response header. */
    private static final Map<String, String> OVERRIDES = Map.of(
            "response-content-type", "Content-Type",
            "response-content-language", "Content-Language",
            "response-expires", "Expires",
            "response-cache-control", "Cache-Control",
            "response-content-disposition", "Content-Disposition",
            "response-content-encoding", "Content-Encoding");

    private ObjectHeaders() {}

    /**
     * The content headers and user metadata of a PUT (or CreateMultipartUpload, or a REPLACE
     * copy), lowercase names. {@code aws-chunked} is a transfer detail and is dropped from
     * Content-Encoding.
     *
     * @throws S3Exception MetadataTooLarge past {@code metadataBytesMax}
     */
    static Map<String, String> fromRequest(RequestHeaders headers, int metadataBytesMax) {
        Map<String, String> stored = new TreeMap<>();
        for (String name : CONTENT_HEADERS) {
            String value = headers.first(name);
            if (value == null) {
                continue;
            }
            if (name.equals("content-encoding")) {
                value = withoutAwsChunked(value);
                if (value.isEmpty()) {
                    continue;
                }
            }
            stored.put(name, value);
        }
        int metadataBytes = 0;
        for (String name : headers.names()) {
            if (name.startsWith(USER_METADATA_PREFIX)) {
                String value = String.join(",", headers.all(name));
                stored.put(name, value);
                metadataBytes += name.length() - USER_METADATA_PREFIX.length()
                        + value.getBytes(StandardCharsets.UTF_8).length;
            }
        }
        if (metadataBytes > metadataBytesMax) {
            throw new S3Exception(S3Error.MetadataTooLarge, "user metadata is " + metadataBytes
                    + " bytes (max " + metadataBytesMax + ")");
        }
        return stored;
    }

    /**
     * Content-Encoding without the aws-chunked transfer coding, the other codings kept as sent
     * ("deflate, gzip" comes back byte for byte, as S3 returns it, whether or not the SDK
     * appended ",aws-chunked").
     */
    static String withoutAwsChunked(String contentEncoding) {
        StringBuilder kept = new StringBuilder();
        for (String token : contentEncoding.split(",")) {
            String coding = token.strip();
            if (coding.isEmpty() || coding.equalsIgnoreCase("aws-chunked")) {
                continue;
            }
            if (!kept.isEmpty()) {
                kept.append(',');
            }
            kept.append(kept.isEmpty() ? coding : token.stripTrailing());
        }
        return kept.toString();
    }

    /** The headers of a GET or HEAD answer for {@code version}. */
    static void write(Exchange exchange, ObjectVersion version, boolean showVersionId) {
        exchange.setHeader("ETag", ETags.quote(version.etag()));
        exchange.setHeader("Last-Modified", HttpDates.formatHttpDate(Instant.ofEpochMilli(
                version.modifiedMillis())));
        exchange.setHeader("Accept-Ranges", "bytes");
        Map<String, String> headers = version.headers();
        exchange.setHeader("Content-Type", headers.getOrDefault("content-type",
                DEFAULT_CONTENT_TYPE));
        headers.forEach((name, value) -> {
            if (!name.equals("content-type")) {
                exchange.setHeader(name, value);
            }
        });
        if (showVersionId) {
            exchange.setHeader("x-amz-version-id", version.versionId());
        }
        if (!version.tags().isEmpty()) {
            exchange.setHeader("x-amz-tagging-count", Integer.toString(version.tags().size()));
        }
        if (version.partSizes().size() > 0) {
            exchange.setHeader("x-amz-mp-parts-count", Integer.toString(
                    version.partSizes().size()));
        }
        for (var override : OVERRIDES.entrySet()) {
            String value = exchange.query().first(override.getKey());
            if (value != null) {
                exchange.setHeader(override.getValue(), value);
            }
        }
    }

    /** Headers that describe an object, removed before an error document is sent. */
    static boolean isObjectHeader(String name) {
        String lower = name.toLowerCase(Locale.ROOT);
        return CONTENT_HEADERS.contains(lower) || lower.startsWith(USER_METADATA_PREFIX)
                || lower.startsWith("x-amz-checksum-") || lower.equals("etag")
                || lower.equals("last-modified") || lower.equals("content-range")
                || lower.equals("accept-ranges") || lower.equals("x-amz-tagging-count")
                || lower.equals("x-amz-mp-parts-count") || lower.equals("content-length");
    }

    /**
     * The {@code x-amz-tagging} header ({@code k1=v1&k2=v2}, URL-encoded): the tags, in order.
     *
     * @throws S3Exception InvalidTag
     */
    static Map<String, String> parseTagging(String header) {
        Map<String, String> tags = new LinkedHashMap<>();
        if (header == null || header.isBlank()) {
            return tags;
        }
        QueryParameters pairs;
        try {
            pairs = QueryParameters.parse(header.strip());
        } catch (S3Exception e) {
            throw new S3Exception(S3Error.InvalidTag, "x-amz-tagging \"" + header
                    + "\" is not URL-encoded key=value pairs");
        }
        for (QueryParameters.Parameter pair : pairs.all()) {
            checkTag(pair.name(), pair.value());
            if (tags.put(pair.name(), pair.value()) != null) {
                throw new S3Exception(S3Error.InvalidTag, "tag key \"" + pair.name()
                        + "\" is repeated");
            }
        }
        if (tags.size() > RequestXml.OBJECT_TAG_COUNT_MAX) {
            throw new S3Exception(S3Error.InvalidTag, "object tags cannot be greater than "
                    + RequestXml.OBJECT_TAG_COUNT_MAX + ", got " + tags.size());
        }
        return tags;
    }

    private static void checkTag(String key, String value) {
        int keyLength = key.codePointCount(0, key.length());
        if (keyLength < 1 || keyLength > RequestXml.TAG_KEY_LENGTH_MAX) {
            throw new S3Exception(S3Error.InvalidTag, "tag key \"" + key + "\" is " + keyLength
                    + " characters (must be 1 to " + RequestXml.TAG_KEY_LENGTH_MAX + ")");
        }
        if (value.codePointCount(0, value.length()) > RequestXml.TAG_VALUE_LENGTH_MAX) {
            throw new S3Exception(S3Error.InvalidTag, "tag value of \"" + key + "\" is longer"
                    + " than " + RequestXml.TAG_VALUE_LENGTH_MAX + " characters");
        }
        if (key.startsWith("aws:")) {
            throw new S3Exception(S3Error.InvalidTag, "tag key \"" + key
                    + "\" cannot be prefixed with aws:");
        }
    }
}
