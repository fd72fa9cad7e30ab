package io.basalt.s3.gateway;

import io.basalt.client.object.ObjectStore;
import io.basalt.meta.model.s3.Bucket;
import io.basalt.meta.model.s3.ObjectListing;
import io.basalt.meta.model.s3.ObjectVersion;
import io.basalt.meta.model.s3.Part;
import io.basalt.meta.model.s3.PartListing;
import io.basalt.meta.model.s3.Upload;
import io.basalt.meta.model.s3.UploadListing;
import io.basalt.s3.S3Error;
import io.basalt.s3.S3Exception;
import io.basalt.s3.checksum.ChecksumAlgorithm;
import io.basalt.s3.checksum.ChecksumType;
import io.basalt.s3.xml.ListingXml;
import io.basalt.s3.xml.ObjectSummary;
import io.basalt.s3.xml.PartInfo;
import io.basalt.s3.xml.ResponseXml;
import io.basalt.s3.xml.UploadSummary;
import io.basalt.s3.xml.VersionEntry;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.Base64;
import java.util.List;

/**
 * ListObjects (v1 and v2), ListObjectVersions, ListMultipartUploads and ListParts. A page is at
 * most 1,000 entries, whatever max-keys asks; the store bounds the work per page. The v2
 * continuation token is opaque to clients: the URL-safe base64 of the key to continue after.
 */
final class ListingOperations {
    static final int PAGE_SIZE_MAX = 1000;

    private final Operations operations;
    private final ObjectStore store;

    ListingOperations(Operations operations) {
        this.operations = operations;
        this.store = operations.store;
    }

    void listObjectsV1(Exchange exchange) {
        Bucket bucket = operations.ownedBucket(exchange, exchange.bucket());
        String prefix = emptyToNull(exchange.query().first("prefix"));
        String delimiter = emptyToNull(exchange.query().first("delimiter"));
        String marker = emptyToNull(exchange.query().first("marker"));
        int maxKeys = pageSize(exchange, "max-keys");
        boolean url = encodingType(exchange);
        ObjectListing listing = StoreErrors.await(store.list(bucket.name(),
                new ObjectStore.ListQuery(prefix, delimiter, marker, maxKeys)));
        exchange.sendXml(200, ListingXml.listObjectsV1(new ListingXml.V1Page(bucket.name(),
                prefix, marker, delimiter, maxKeys, url, listing.truncated(),
                listing.nextKeyMarker(), summaries(listing, true), listing.commonPrefixes())));
    }

    void listObjectsV2(Exchange exchange) {
        Bucket bucket = operations.ownedBucket(exchange, exchange.bucket());
        String prefix = emptyToNull(exchange.query().first("prefix"));
        String delimiter = emptyToNull(exchange.query().first("delimiter"));
        String token = exchange.query().first("continuation-token");
        String startAfter = emptyToNull(exchange.query().first("start-after"));
        int maxKeys = pageSize(exchange, "max-keys");
        boolean url = encodingType(exchange);
        boolean fetchOwner = "true".equals(exchange.query().first("fetch-owner"));
        String after = token != null ? decodeToken(token) : startAfter;
        if (startAfter != null && after != null && startAfter.compareTo(after) > 0) {
            after = startAfter;
        }
        ObjectListing listing = StoreErrors.await(store.list(bucket.name(),
                new ObjectStore.ListQuery(prefix, delimiter, after, maxKeys)));
        String next = listing.truncated() && listing.nextKeyMarker() != null
                ? encodeToken(listing.nextKeyMarker()) : null;
        exchange.sendXml(200, ListingXml.listObjectsV2(new ListingXml.V2Page(bucket.name(),
                prefix, delimiter, maxKeys, url, token, next, startAfter,
                listing.truncated() && next != null, summaries(listing, fetchOwner),
                listing.commonPrefixes())));
    }

    void listObjectVersions(Exchange exchange) {
        Bucket bucket = operations.ownedBucket(exchange, exchange.bucket());
        String prefix = emptyToNull(exchange.query().first("prefix"));
        String delimiter = emptyToNull(exchange.query().first("delimiter"));
        String keyMarker = emptyToNull(exchange.query().first("key-marker"));
        String versionIdMarker = emptyToNull(exchange.query().first("version-id-marker"));
        int maxKeys = pageSize(exchange, "max-keys");
        boolean url = encodingType(exchange);
        ObjectListing listing = StoreErrors.await(store.listVersions(bucket.name(), prefix,
                delimiter, keyMarker, versionIdMarker, maxKeys));
        List<VersionEntry> entries = listing.entries().stream().map(version -> {
            Instant modified = Instant.ofEpochMilli(version.modifiedMillis());
            if (version.deleteMarker()) {
                return (VersionEntry) new VersionEntry.DeleteMarker(version.key(),
                        version.versionId(), version.latest(), modified,
                        Operations.owner(version.owner()));
            }
            return new VersionEntry.ObjectVersion(version.key(), version.versionId(),
                    version.latest(), modified, version.etag(), version.size(),
                    Operations.STORAGE_CLASS, Operations.owner(version.owner()));
        }).toList();
        exchange.sendXml(200, ListingXml.listObjectVersions(new ListingXml.VersionsPage(
                bucket.name(), prefix, keyMarker, versionIdMarker, delimiter, maxKeys, url,
                listing.truncated(), listing.nextKeyMarker(), listing.nextVersionIdMarker(),
                entries, listing.commonPrefixes())));
    }

    void listMultipartUploads(Exchange exchange) {
        Bucket bucket = operations.ownedBucket(exchange, exchange.bucket());
        String prefix = emptyToNull(exchange.query().first("prefix"));
        String delimiter = emptyToNull(exchange.query().first("delimiter"));
        String keyMarker = emptyToNull(exchange.query().first("key-marker"));
        String uploadIdMarker = emptyToNull(exchange.query().first("upload-id-marker"));
        int maxUploads = pageSize(exchange, "max-uploads");
        boolean url = encodingType(exchange);
        UploadListing listing = StoreErrors.await(store.listUploads(bucket.name(), prefix,
                delimiter, keyMarker, uploadIdMarker, maxUploads));
        List<UploadSummary> uploads = listing.uploads().stream()
                .map(upload -> new UploadSummary(upload.key(), upload.uploadId(),
                        Instant.ofEpochMilli(upload.initiatedMillis()), Operations.STORAGE_CLASS,
                        Operations.owner(upload.owner())))
                .toList();
        exchange.sendXml(200, ListingXml.listMultipartUploads(new ListingXml.UploadsPage(
                bucket.name(), prefix, keyMarker, uploadIdMarker, delimiter, maxUploads, url,
                listing.truncated(), listing.nextKeyMarker(), listing.nextUploadIdMarker(),
                uploads, listing.commonPrefixes())));
    }

    void listParts(Exchange exchange) {
        Bucket bucket = operations.ownedBucket(exchange, exchange.bucket());
        String uploadId = exchange.query().first("uploadId");
        int maxParts = pageSize(exchange, "max-parts");
        String markerText = exchange.query().first("part-number-marker");
        int marker = 0; // "after part 0": from the first; boto3 and the SDKs page from 0
        if (markerText != null && !markerText.isEmpty() && !markerText.equals("0")) {
            marker = ObjectOperations.parsePartNumber(markerText);
        }
        PartListing listing = StoreErrors.await(store.listParts(bucket.name(), exchange.key(),
                uploadId, marker, maxParts));
        Upload upload = listing.upload();
        List<PartInfo> parts = listing.parts().stream()
                .map((Part part) -> new PartInfo(part.number(), Instant.ofEpochMilli(
                        part.modifiedMillis()), part.etag(), part.size(),
                        ObjectOperations.checksumsByAlgorithm(part.checksums())))
                .toList();
        ChecksumAlgorithm algorithm = upload.checksumAlgorithm() == null ? null
                : ChecksumAlgorithm.fromAlgorithmName(upload.checksumAlgorithm());
        exchange.sendXml(200, ResponseXml.listParts(new ResponseXml.PartsPage(bucket.name(),
                exchange.key(), uploadId, marker, listing.nextPartNumberMarker(), maxParts,
                listing.truncated(), Operations.owner(upload.owner()), Operations.STORAGE_CLASS,
                algorithm, algorithm == null ? null : ChecksumType.COMPOSITE, parts)));
    }

    private static List<ObjectSummary> summaries(ObjectListing listing, boolean withOwner) {
        return listing.entries().stream().map((ObjectVersion version) -> new ObjectSummary(
                version.key(), Instant.ofEpochMilli(version.modifiedMillis()), version.etag(),
                version.size(), Operations.STORAGE_CLASS, withOwner ? Operations.owner(
                        version.owner()) : null, version.checksums().isEmpty() ? null
                        : ChecksumAlgorithm.fromAlgorithmName(version.checksums().keySet()
                                .iterator().next()))).toList();
    }

    /** max-keys, max-uploads, max-parts: 0 to 1000 (larger asks get 1000), default 1000. */
    private static int pageSize(Exchange exchange, String parameter) {
        String text = exchange.query().first(parameter);
        if (text == null || text.isEmpty()) {
            return PAGE_SIZE_MAX;
        }
        if (text.length() > 10 || !text.chars().allMatch(Character::isDigit)) {
            throw new S3Exception(S3Error.InvalidArgument, parameter + " \"" + text
                    + "\" is not a non-negative integer");
        }
        return (int) Math.min(PAGE_SIZE_MAX, Long.parseLong(text));
    }

    private static boolean encodingType(Exchange exchange) {
        String encoding = exchange.query().first("encoding-type");
        if (encoding == null || encoding.isEmpty()) {
            return false;
        }
        if (!encoding.equals("url")) {
            throw new S3Exception(S3Error.InvalidArgument, "encoding-type \"" + encoding
                    + "\" is not url");
        }
        return true;
    }

    private static String emptyToNull(String value) {
        return value == null || value.isEmpty() ? null : value;
    }

    static String encodeToken(String key) {
        return Base64.getUrlEncoder().withoutPadding().encodeToString(key.getBytes(
                StandardCharsets.UTF_8));
    }

    static String decodeToken(String token) {
        try {
            byte[] bytes = Base64.getUrlDecoder().decode(token);
            var decoder = StandardCharsets.UTF_8.newDecoder();
            return decoder.decode(java.nio.ByteBuffer.wrap(bytes)).toString();
        } catch (IllegalArgumentException | java.nio.charset.CharacterCodingException e) {
            throw new S3Exception(S3Error.InvalidArgument, "the continuation token provided"
                    + " is incorrect");
        }
    }
}
