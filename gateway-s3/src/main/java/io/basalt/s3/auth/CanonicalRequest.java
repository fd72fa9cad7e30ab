package io.basalt.s3.auth;

import io.basalt.s3.QueryParameters;
import io.basalt.s3.RequestHeaders;
import io.basalt.s3.S3Error;
import io.basalt.s3.S3Exception;
import io.basalt.s3.UriEncoding;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;

/**
 * The SigV4 canonical request (S3 API reference, "Signature Calculations for the Authorization
 * Header: Transferring Payload in a Single Chunk"):
 * <pre>
 * HTTPMethod \n
 * CanonicalURI \n
 * CanonicalQueryString \n
 * CanonicalHeaders \n        (each "name:value\n", so a blank line follows the last)
 * SignedHeaders \n
 * HashedPayload
 * </pre>
 * S3's rules, which differ from other services': the path is not normalized ({@code //} and
 * {@code ..} stay) and is encoded once, not twice. The client signs the UriEncode of the key it
 * means; the server sees that (or a looser encoding of it) in the raw path, so the canonical URI
 * is each {@code /}-separated segment of the raw path decoded, then encoded again with slashes
 * encoded. An escaped slash ({@code %2F}) therefore stays {@code %2F}, and a client that sent
 * {@code $} raw where the SDK writes {@code %24} still matches.
 */
public final class CanonicalRequest {
    private CanonicalRequest() {}

    /**
     * The canonical request text.
     *
     * @param signedHeaders lowercase header names in the order the client listed them
     * @param excludedParameter a query parameter left out ({@code X-Amz-Signature} for a
     *     presigned URL), or null
     */
    public static String build(String method, String rawPath, QueryParameters query,
            String excludedParameter, RequestHeaders headers, List<String> signedHeaders,
            String payloadHash) {
        StringBuilder out = new StringBuilder(512);
        out.append(method).append('\n');
        out.append(canonicalUri(rawPath)).append('\n');
        out.append(canonicalQuery(query, excludedParameter)).append('\n');
        for (String name : signedHeaders) {
            out.append(name).append(':').append(canonicalHeaderValue(headers.all(name)))
                    .append('\n');
        }
        out.append('\n');
        out.append(String.join(";", signedHeaders)).append('\n');
        out.append(payloadHash);
        return out.toString();
    }

    /** The canonical URI of a raw request path (without the query). */
    public static String canonicalUri(String rawPath) {
        if (rawPath.isEmpty()) {
            return "/";
        }
        if (rawPath.charAt(0) != '/') {
            throw new S3Exception(S3Error.InvalidURI, "path \"" + rawPath
                    + "\" does not start with /");
        }
        StringBuilder out = new StringBuilder(rawPath.length() + 16);
        int start = 0;
        while (start < rawPath.length()) {
            int slash = rawPath.indexOf('/', start + 1);
            int end = slash < 0 ? rawPath.length() : slash;
            out.append('/');
            out.append(UriEncoding.encode(UriEncoding.decodePath(rawPath.substring(start + 1,
                    end)), true));
            start = end;
        }
        return out.toString();
    }

    /**
     * Parameters sorted by encoded name, then encoded value; each name and value decoded then
     * UriEncoded (slashes too); a parameter without a value is {@code name=}.
     */
    public static String canonicalQuery(QueryParameters query, String excludedParameter) {
        List<String[]> pairs = new ArrayList<>(query.all().size());
        for (QueryParameters.Parameter parameter : query.all()) {
            if (parameter.name().equals(excludedParameter)) {
                continue;
            }
            pairs.add(new String[] {UriEncoding.encode(parameter.name(), true),
                UriEncoding.encode(parameter.value(), true)});
        }
        pairs.sort(Comparator.<String[], String>comparing(pair -> pair[0])
                .thenComparing(pair -> pair[1]));
        StringBuilder out = new StringBuilder();
        for (String[] pair : pairs) {
            if (!out.isEmpty()) {
                out.append('&');
            }
            out.append(pair[0]).append('=').append(pair[1]);
        }
        return out.toString();
    }

    /**
     * Values of one header joined by {@code ,}, each trimmed with inner runs of spaces and tabs
     * collapsed to one space.
     */
    public static String canonicalHeaderValue(List<String> values) {
        StringBuilder out = new StringBuilder();
        for (int v = 0; v < values.size(); v++) {
            if (v > 0) {
                out.append(',');
            }
            String value = values.get(v).strip();
            boolean inSpace = false;
            for (int i = 0; i < value.length(); i++) {
                char c = value.charAt(i);
                if (c == ' ' || c == '\t') {
                    if (!inSpace) {
                        out.append(' ');
                    }
                    inSpace = true;
                } else {
                    out.append(c);
                    inSpace = false;
                }
            }
        }
        return out.toString();
    }
}
