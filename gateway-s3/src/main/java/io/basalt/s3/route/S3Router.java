package io.basalt.s3.route;

import io.basalt.s3.BucketNames;
import io.basalt.s3.ObjectKeys;
import io.basalt.s3.QueryParameters;
import io.basalt.s3.RequestHeaders;
import io.basalt.s3.S3Error;
import io.basalt.s3.S3Exception;
import io.basalt.s3.UriEncoding;
import io.basalt.s3.checksum.MultipartChecksums;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;

/**
 * Resolves a request's addressing and classifies its S3 operation.
 *
 * <p>Addressing (Amazon S3 User Guide, "Virtual hosting of buckets"): when the Host header
 * (port dropped, case ignored) is {@code <bucket>.<base domain>} for one of the configured base
 * domains, the request is virtual-hosted and the whole path is the key; otherwise it is
 * path-style, {@code /<bucket>/<key>}: the Host is the base domain itself, an IP address, or a
 * name the gateway does not serve (clients using an IP or a load balancer name go path-style).
 * The key is the raw path's remainder percent-decoded exactly once, so {@code %2F} is a slash
 * in the key and {@code %252F} is the three characters {@code %2F}; {@code +} is a plus.
 *
 * <p>Classification is by method, level (service, bucket, object) and the subresource query
 * parameters present. Subresources Basalt does not implement (acl, policy, lifecycle, cors,
 * website, ...) answer NotImplemented rather than being mistaken for a plain GET or PUT, which
 * would, for example, overwrite an object with a policy document.
 *
 * <p>Immutable and thread-safe.
 */
public final class S3Router {
    /** Subresources this router classifies. */
    private static final Set<String> HANDLED_SUBRESOURCES = Set.of("location", "versioning",
            "versions", "uploads", "delete", "tagging", "uploadId", "partNumber");
    /** Subresources of S3 that Basalt does not implement. */
    private static final Set<String> UNSUPPORTED_SUBRESOURCES = Set.of("accelerate", "acl",
            "analytics", "attributes", "cors", "encryption", "intelligent-tiering", "inventory",
            "legal-hold", "lifecycle", "logging", "metadataConfiguration", "metadataTable",
            "metrics", "notification", "object-lock", "ownershipControls", "policy",
            "policyStatus", "publicAccessBlock", "renameObject", "replication",
            "requestPayment", "restore", "retention", "select", "session", "torrent",
            "website");

    /** Longest first, so {@code b.s3.example.com} under {@code s3.example.com} and
     *  {@code example.com} is bucket {@code b}. */
    private final List<String> baseDomains;

    /**
     * @param baseDomains the domains buckets are virtual-hosted under, such as
     *     {@code s3.example.com}; empty for path-style only
     */
    public S3Router(Set<String> baseDomains) {
        TreeSet<String> domains = new TreeSet<>();
        for (String domain : baseDomains) {
            String normalized = domain.strip().toLowerCase(Locale.ROOT);
            if (normalized.isEmpty() || normalized.startsWith(".") || normalized.contains(":")) {
                throw new IllegalArgumentException("base domain \"" + domain
                        + "\" must be a host name without port");
            }
            domains.add(normalized);
        }
        this.baseDomains = domains.stream()
                .sorted(Comparator.comparingInt(String::length).reversed()).toList();
    }

    /**
     * @param method the HTTP method, uppercase
     * @param host the Host header, or null
     * @param rawPath the request path as received, percent-escapes intact, without the query
     * @throws S3Exception MethodNotAllowed, NotImplemented, InvalidURI, InvalidArgument,
     *     InvalidBucketName (CreateBucket only), KeyTooLongError
     */
    public S3Request route(String method, String host, String rawPath, QueryParameters query,
            RequestHeaders headers) {
        if (rawPath.isEmpty() || rawPath.charAt(0) != '/') {
            throw new S3Exception(S3Error.InvalidURI, "path \"" + rawPath
                    + "\" does not start with /");
        }
        String bucket = virtualHostedBucket(host);
        boolean virtualHosted = bucket != null;
        String rawKey;
        if (virtualHosted) {
            rawKey = rawPath.substring(1);
        } else {
            String rest = rawPath.substring(1);
            int slash = rest.indexOf('/');
            String rawBucket = slash < 0 ? rest : rest.substring(0, slash);
            rawKey = slash < 0 ? "" : rest.substring(slash + 1);
            if (rawBucket.isEmpty() && !rawKey.isEmpty()) {
                throw new S3Exception(S3Error.InvalidURI, "path \"" + rawPath
                        + "\" has an empty bucket name");
            }
            bucket = rawBucket.isEmpty() ? null : UriEncoding.decodePath(rawBucket);
        }
        String key = rawKey.isEmpty() ? null : UriEncoding.decodePath(rawKey);
        Set<String> subresources = subresources(query);
        S3Operation operation;
        if (bucket == null) {
            operation = service(method, subresources);
        } else if (key == null) {
            operation = bucket(method, subresources, query);
        } else {
            ObjectKeys.validate(key);
            operation = object(method, subresources, query, headers);
        }
        if (operation == S3Operation.CREATE_BUCKET) {
            BucketNames.validate(bucket);
        }
        CopySource copySource = null;
        if (operation == S3Operation.COPY_OBJECT || operation == S3Operation.UPLOAD_PART_COPY) {
            copySource = CopySource.parse(headers.first(CopySource.HEADER));
        }
        return new S3Request(operation, bucket, key, virtualHosted, query, copySource);
    }

    /** The bucket named by a virtual-hosted Host, or null for path-style. */
    String virtualHostedBucket(String host) {
        if (host == null || host.startsWith("[")) {
            return null; // no Host, or an IPv6 literal
        }
        String name = host.strip().toLowerCase(Locale.ROOT);
        int colon = name.lastIndexOf(':');
        if (colon >= 0) {
            name = name.substring(0, colon);
        }
        if (name.endsWith(".")) {
            name = name.substring(0, name.length() - 1); // fully qualified form
        }
        if (baseDomains.contains(name)) {
            return null; // the base domain itself: path-style
        }
        for (String domain : baseDomains) {
            if (name.length() > domain.length() + 1 && name.endsWith(domain)
                    && name.charAt(name.length() - domain.length() - 1) == '.') {
                return name.substring(0, name.length() - domain.length() - 1);
            }
        }
        return null;
    }

    private static S3Operation service(String method, Set<String> subresources) {
        checkMethod(method);
        if (!method.equals("GET")) {
            throw notAllowed(method, "the service");
        }
        if (!subresources.isEmpty()) {
            throw notImplemented(subresources);
        }
        return S3Operation.LIST_BUCKETS;
    }

    private static S3Operation bucket(String method, Set<String> subresources,
            QueryParameters query) {
        checkMethod(method);
        String only = subresources.size() == 1 ? subresources.iterator().next() : null;
        if (subresources.size() > 1) {
            throw notImplemented(subresources);
        }
        S3Operation operation = switch (method) {
            case "GET" -> {
                if (only == null) {
                    yield listObjects(query);
                }
                yield switch (only) {
                    case "location" -> S3Operation.GET_BUCKET_LOCATION;
                    case "versioning" -> S3Operation.GET_BUCKET_VERSIONING;
                    case "versions" -> S3Operation.LIST_OBJECT_VERSIONS;
                    case "uploads" -> S3Operation.LIST_MULTIPART_UPLOADS;
                    default -> null;
                };
            }
            case "PUT" -> only == null ? S3Operation.CREATE_BUCKET
                    : only.equals("versioning") ? S3Operation.PUT_BUCKET_VERSIONING : null;
            case "HEAD" -> only == null ? S3Operation.HEAD_BUCKET : null;
            case "DELETE" -> only == null ? S3Operation.DELETE_BUCKET : null;
            case "POST" -> "delete".equals(only) ? S3Operation.DELETE_OBJECTS : null;
            default -> throw new AssertionError(method);
        };
        if (operation == null) {
            throw notImplemented(subresources.isEmpty() ? Set.of(method + " on a bucket")
                    : subresources);
        }
        return operation;
    }

    private static S3Operation listObjects(QueryParameters query) {
        String listType = query.first("list-type");
        if (listType == null) {
            return S3Operation.LIST_OBJECTS;
        }
        if (listType.equals("2")) {
            return S3Operation.LIST_OBJECTS_V2;
        }
        throw new S3Exception(S3Error.InvalidArgument, "list-type \"" + listType
                + "\" is not 2");
    }

    private static S3Operation object(String method, Set<String> subresources,
            QueryParameters query, RequestHeaders headers) {
        checkMethod(method);
        boolean copy = headers.contains(CopySource.HEADER);
        Set<String> subs = new TreeSet<>(subresources);
        if (method.equals("GET") || method.equals("HEAD")) {
            subs.remove("partNumber"); // GetObject of one part: a parameter of GetObject
        }
        S3Operation operation = switch (method) {
            case "GET" -> subs.isEmpty() ? S3Operation.GET_OBJECT
                    : subs.equals(Set.of("uploadId")) ? S3Operation.LIST_PARTS
                    : subs.equals(Set.of("tagging")) ? S3Operation.GET_OBJECT_TAGGING : null;
            case "HEAD" -> subs.isEmpty() ? S3Operation.HEAD_OBJECT : null;
            case "PUT" -> {
                if (subs.isEmpty()) {
                    yield copy ? S3Operation.COPY_OBJECT : S3Operation.PUT_OBJECT;
                }
                if (subs.equals(Set.of("partNumber", "uploadId"))) {
                    checkPartUpload(query);
                    yield copy ? S3Operation.UPLOAD_PART_COPY : S3Operation.UPLOAD_PART;
                }
                if (subs.contains("partNumber") || subs.contains("uploadId")) {
                    throw new S3Exception(S3Error.InvalidArgument,
                            "UploadPart needs both partNumber and uploadId");
                }
                yield subs.equals(Set.of("tagging")) ? S3Operation.PUT_OBJECT_TAGGING : null;
            }
            case "DELETE" -> subs.isEmpty() ? S3Operation.DELETE_OBJECT
                    : subs.equals(Set.of("uploadId")) ? S3Operation.ABORT_MULTIPART_UPLOAD
                    : subs.equals(Set.of("tagging")) ? S3Operation.DELETE_OBJECT_TAGGING : null;
            case "POST" -> subs.equals(Set.of("uploads")) ? S3Operation.CREATE_MULTIPART_UPLOAD
                    : subs.equals(Set.of("uploadId")) ? S3Operation.COMPLETE_MULTIPART_UPLOAD
                    : null;
            default -> throw new AssertionError(method);
        };
        if (operation == null) {
            throw notImplemented(subs.isEmpty() ? Set.of(method + " on an object") : subs);
        }
        return operation;
    }

    private static void checkPartUpload(QueryParameters query) {
        String partNumber = query.first("partNumber");
        int number = -1;
        if (partNumber.length() <= 5 && !partNumber.isEmpty()
                && partNumber.chars().allMatch(Character::isDigit)) {
            number = Integer.parseInt(partNumber);
        }
        if (number < 1 || number > MultipartChecksums.PART_COUNT_MAX) {
            throw new S3Exception(S3Error.InvalidArgument, "part number must be an integer"
                    + " between 1 and " + MultipartChecksums.PART_COUNT_MAX + ", inclusive;"
                    + " got \"" + partNumber + "\"");
        }
        if (query.first("uploadId").isEmpty()) {
            throw new S3Exception(S3Error.InvalidArgument, "uploadId is empty");
        }
    }

    private static Set<String> subresources(QueryParameters query) {
        Set<String> found = new TreeSet<>();
        for (QueryParameters.Parameter parameter : query.all()) {
            String name = parameter.name();
            if (HANDLED_SUBRESOURCES.contains(name) || UNSUPPORTED_SUBRESOURCES.contains(name)) {
                found.add(name);
            }
        }
        return found;
    }

    private static void checkMethod(String method) {
        switch (method) {
            case "GET", "HEAD", "PUT", "POST", "DELETE" -> { }
            default -> throw notAllowed(method, "S3 resources");
        }
    }

    private static S3Exception notAllowed(String method, String what) {
        return new S3Exception(S3Error.MethodNotAllowed, "the method " + method
                + " is not allowed against " + what);
    }

    private static S3Exception notImplemented(Set<String> what) {
        return new S3Exception(S3Error.NotImplemented, String.join(", ", what)
                + " is not implemented");
    }
}
