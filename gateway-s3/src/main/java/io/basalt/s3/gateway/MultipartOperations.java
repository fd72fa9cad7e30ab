package io.basalt.s3.gateway;

import io.basalt.client.object.ObjectStore;
import io.basalt.meta.model.s3.Bucket;
import io.basalt.meta.model.s3.ObjectVersion;
import io.basalt.meta.model.s3.Part;
import io.basalt.meta.model.s3.PartListing;
import io.basalt.meta.model.s3.Upload;
import io.basalt.s3.ByteRange;
import io.basalt.s3.ETags;
import io.basalt.s3.RangeHeader;
import io.basalt.s3.S3Error;
import io.basalt.s3.S3Exception;
import io.basalt.s3.UriEncoding;
import io.basalt.s3.checksum.ChecksumAlgorithm;
import io.basalt.s3.checksum.ChecksumType;
import io.basalt.s3.checksum.MultipartChecksums;
import io.basalt.s3.route.CopySource;
import io.basalt.s3.xml.CompletedPart;
import io.basalt.s3.xml.RequestXml;
import io.basalt.s3.xml.ResponseXml;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The multipart upload operations. Parts stream into their own bodies as they arrive (any
 * order, in parallel); CompleteMultipartUpload joins them in the store without copying a byte.
 *
 * <p>An upload's additional checksum travels to the store in the {@code ObjectAttributes} of
 * {@code createUpload}: {@code checksums} holds the algorithm's name mapped to an empty value,
 * {@code checksumType} COMPOSITE (FULL_OBJECT multipart checksums are not supported yet).
 */
final class MultipartOperations {
    /** Parts listed per page when a complete's checksum is checked (ListParts' max). */
    private static final int PARTS_PAGE_SIZE = 1000;

    private final Operations operations;
    private final ObjectStore store;
    private final BodyTransfers bodies;

    MultipartOperations(Operations operations) {
        this.operations = operations;
        this.store = operations.store;
        this.bodies = new BodyTransfers(operations);
    }

    void createMultipartUpload(Exchange exchange) {
        Bucket bucket = operations.ownedBucket(exchange, exchange.bucket());
        Map<String, String> headers = ObjectHeaders.fromRequest(exchange.headers,
                operations.config.limits().userMetadataBytesMax());
        Map<String, String> tags = ObjectHeaders.parseTagging(exchange.header("x-amz-tagging"));
        ChecksumAlgorithm algorithm = null;
        String requested = exchange.header(ChecksumAlgorithm.ALGORITHM_HEADER);
        if (requested != null) {
            algorithm = ChecksumAlgorithm.fromAlgorithmName(requested.strip());
            if (algorithm == null) {
                throw new S3Exception(S3Error.InvalidRequest, "checksum algorithm \""
                        + requested + "\" is none of CRC32, CRC32C, CRC64NVME, SHA1, SHA256");
            }
        }
        String type = exchange.header(ChecksumAlgorithm.TYPE_HEADER);
        if ((type != null && !type.strip().equals(ChecksumType.COMPOSITE.name()))
                || algorithm == ChecksumAlgorithm.CRC64NVME) {
            throw new S3Exception(S3Error.NotImplemented, "FULL_OBJECT checksums of multipart"
                    + " uploads are not supported yet; use COMPOSITE with CRC32, CRC32C, SHA1"
                    + " or SHA256");
        }
        Upload upload = StoreErrors.await(store.createUpload(bucket.name(), exchange.key(),
                new ObjectStore.ObjectAttributes(exchange.accessKey(), null, headers,
                        algorithm == null ? Map.of() : Map.of(algorithm.algorithmName(), ""),
                        algorithm == null ? "" : ChecksumType.COMPOSITE.name(), tags)));
        if (algorithm != null) {
            exchange.setHeader(ChecksumAlgorithm.ALGORITHM_HEADER, algorithm.algorithmName());
            exchange.setHeader(ChecksumAlgorithm.TYPE_HEADER, ChecksumType.COMPOSITE.name());
        }
        exchange.sendXml(200, ResponseXml.initiateMultipartUpload(bucket.name(),
                exchange.key(), upload.uploadId()));
    }

    /** The upload, before any byte of a part is read: NoSuchUpload fails fast. */
    private Upload requireUpload(Bucket bucket, String key, String uploadId) {
        PartListing listing = StoreErrors.await(store.listParts(bucket.name(), key, uploadId, 0,
                1));
        return listing.upload();
    }

    void uploadPart(Exchange exchange) {
        Bucket bucket = operations.ownedBucket(exchange, exchange.bucket());
        String uploadId = exchange.query().first("uploadId");
        int partNumber = ObjectOperations.parsePartNumber(exchange.query().first("partNumber"));
        Upload upload = requireUpload(bucket, exchange.key(), uploadId);
        ChecksumAlgorithm uploadAlgorithm = upload.checksumAlgorithm() == null ? null
                : ChecksumAlgorithm.fromAlgorithmName(upload.checksumAlgorithm());
        BodyTransfers.Received body = bodies.receive(exchange, bucket.name(), uploadAlgorithm);
        Part part = ObjectOperations.commit(body, () -> store.putPart(bucket.name(),
                exchange.key(), uploadId, partNumber, body.written(), body.md5Hex(),
                body.checksums()));
        exchange.setHeader("ETag", ETags.quote(part.etag()));
        ObjectOperations.writeChecksumHeaders(exchange, part.checksums(), null);
        exchange.sendEmpty(200);
    }

    void uploadPartCopy(Exchange exchange) {
        Bucket bucket = operations.ownedBucket(exchange, exchange.bucket());
        String uploadId = exchange.query().first("uploadId");
        int partNumber = ObjectOperations.parsePartNumber(exchange.query().first("partNumber"));
        Upload upload = requireUpload(bucket, exchange.key(), uploadId);
        CopySource source = exchange.route.copySource();
        Bucket sourceBucket = source.bucket().equals(bucket.name()) ? bucket
                : operations.ownedBucket(exchange, source.bucket());
        ObjectVersion sourceVersion = operations.requireVersion(exchange,
                sourceBucket, source.key(), source.versionId());
        ObjectOperations.checkCopySourceConditions(exchange.headers, sourceVersion);
        String rangeHeader = exchange.header("x-amz-copy-source-range");
        long offset = 0;
        long length = sourceVersion.size();
        if (rangeHeader != null) {
            ByteRange range = RangeHeader.parseCopySourceRange(rangeHeader,
                    sourceVersion.size());
            offset = range.firstByte();
            length = range.lengthBytes();
        }
        if (length > S3Gateway.PUT_SIZE_BYTES_MAX) {
            throw new S3Exception(S3Error.InvalidRequest, "a part copies at most "
                    + S3Gateway.PUT_SIZE_BYTES_MAX + " bytes; the range is " + length);
        }
        Set<ChecksumAlgorithm> algorithms = EnumSet.noneOf(ChecksumAlgorithm.class);
        if (upload.checksumAlgorithm() != null
                && ChecksumAlgorithm.fromAlgorithmName(upload.checksumAlgorithm()) != null) {
            algorithms.add(ChecksumAlgorithm.fromAlgorithmName(upload.checksumAlgorithm()));
        }
        BodyTransfers.Received body = bodies.copy(sourceVersion, offset, length, bucket.name(),
                algorithms);
        Part part = ObjectOperations.commit(body, () -> store.putPart(bucket.name(),
                exchange.key(), uploadId, partNumber, body.written(), body.md5Hex(),
                body.checksums()));
        if (Operations.showsVersionIds(sourceBucket)) {
            exchange.setHeader("x-amz-copy-source-version-id", sourceVersion.versionId());
        }
        exchange.sendXml(200, ResponseXml.copyPartResult(part.etag(), Instant.ofEpochMilli(
                part.modifiedMillis()), ObjectOperations.checksumsByAlgorithm(
                        part.checksums())));
    }

    void completeMultipartUpload(Exchange exchange) {
        Bucket bucket = operations.ownedBucket(exchange, exchange.bucket());
        String uploadId = exchange.query().first("uploadId");
        ObjectStore.WriteConditions conditions = ObjectOperations.writeConditions(
                exchange.headers);
        byte[] body = SmallBody.read(exchange, RequestXml.COMPLETE_MULTIPART_BYTES_MAX,
                operations.metrics, false);
        List<CompletedPart> parts = RequestXml.parseCompleteMultipartUpload(body);
        List<ObjectStore.CompletedPart> named = parts.stream()
                .map(part -> new ObjectStore.CompletedPart(part.partNumber(), part.etag()))
                .toList();
        boolean claimChecked = checkClaimedObjectChecksum(exchange, bucket, uploadId, named);
        ObjectVersion version = StoreErrors.await(store.completeUpload(bucket.name(),
                exchange.key(), uploadId, named, conditions));
        if (!claimChecked) {
            checkClaimAgainstCompleted(exchange, version);
        }
        Operations.setWrittenVersionId(exchange, bucket, version);
        ChecksumType type = version.checksumType() == null ? null
                : ChecksumType.fromName(version.checksumType());
        var checksums = ObjectOperations.checksumsByAlgorithm(version.checksums());
        exchange.sendXml(200, ResponseXml.completeMultipartUpload("/" + bucket.name() + "/"
                + UriEncoding.encode(exchange.key(), false), bucket.name(), exchange.key(),
                version.etag(), checksums, checksums.isEmpty() ? null : type));
    }

    /**
     * A CompleteMultipartUpload's x-amz-checksum-ALG header is the checksum the client expects
     * of the object: for a COMPOSITE checksum, the algorithm over the named parts' checksums
     * ("base64-N", or without "-N"). Checked before the commit, against the parts as stored, so
     * a mismatch (BadDigest) leaves the upload in progress, as S3 does.
     *
     * @throws S3Exception BadDigest; InvalidRequest when the parts have no such checksums;
     *     NotImplemented for a FULL_OBJECT checksum (not computed for multipart uploads yet)
     */
    private boolean checkClaimedObjectChecksum(Exchange exchange, Bucket bucket,
            String uploadId, List<ObjectStore.CompletedPart> named) {
        for (ChecksumAlgorithm algorithm : ChecksumAlgorithm.values()) {
            String claimed = exchange.header(algorithm.headerName());
            if (claimed == null) {
                continue;
            }
            String type = exchange.header(ChecksumAlgorithm.TYPE_HEADER);
            if ((type != null && type.strip().equalsIgnoreCase(ChecksumType.FULL_OBJECT.name()))
                    || algorithm == ChecksumAlgorithm.CRC64NVME) {
                throw new S3Exception(S3Error.NotImplemented, "FULL_OBJECT checksums of"
                        + " multipart uploads are not computed yet; complete without "
                        + algorithm.headerName());
            }
            Map<Integer, String> checksumByPart;
            try {
                checksumByPart = storedPartChecksums(bucket, exchange.key(), uploadId,
                        algorithm);
            } catch (S3Exception e) {
                if (e.error() != S3Error.NoSuchUpload) {
                    throw e;
                }
                // Completed already (a repeat): the parts are gone, the object's checksum is
                // what the claim is checked against, once the store answered the repeat.
                return false;
            }
            List<String> partChecksums = new ArrayList<>(named.size());
            for (ObjectStore.CompletedPart part : named) {
                String checksum = checksumByPart.get(part.number());
                if (checksum == null) {
                    throw new S3Exception(S3Error.InvalidRequest, "part " + part.number()
                            + " has no " + algorithm.algorithmName() + " checksum to check "
                            + algorithm.headerName() + " against");
                }
                partChecksums.add(checksum);
            }
            String composite = MultipartChecksums.composite(algorithm, partChecksums);
            String expected = claimed.strip();
            if (!composite.equals(expected) && !composite.equals(expected + "-"
                    + partChecksums.size())) {
                throw new S3Exception(S3Error.BadDigest, "the " + algorithm.algorithmName()
                        + " you specified (" + expected + ") did not match the parts' "
                        + composite);
            }
        }
        return true;
    }

    /**
     * The claim of a repeated complete, checked against the completed object's checksum: a
     * retry names the same checksum as the first attempt, which was checked before it committed.
     */
    private static void checkClaimAgainstCompleted(Exchange exchange, ObjectVersion version) {
        for (ChecksumAlgorithm algorithm : ChecksumAlgorithm.values()) {
            String claimed = exchange.header(algorithm.headerName());
            if (claimed == null) {
                continue;
            }
            String stored = version.checksums().get(algorithm.algorithmName());
            String expected = claimed.strip();
            if (stored == null || !(stored.equals(expected) || stored.startsWith(expected + "-"))) {
                throw new S3Exception(S3Error.BadDigest, "the " + algorithm.algorithmName()
                        + " you specified (" + expected + ") did not match the completed"
                        + " object's (" + stored + ")");
            }
        }
    }

    /** The stored parts' checksums of {@code algorithm}, by part number (pages of 1,000). */
    private Map<Integer, String> storedPartChecksums(Bucket bucket, String key,
            String uploadId, ChecksumAlgorithm algorithm) {
        Map<Integer, String> checksums = new HashMap<>();
        int marker = 0;
        for (int page = 0; page <= MultipartChecksums.PART_COUNT_MAX / PARTS_PAGE_SIZE; page++) {
            PartListing listing = StoreErrors.await(store.listParts(bucket.name(), key,
                    uploadId, marker, PARTS_PAGE_SIZE));
            for (Part part : listing.parts()) {
                String checksum = part.checksums().get(algorithm.algorithmName());
                if (checksum != null && !checksum.isEmpty()) {
                    checksums.put(part.number(), checksum);
                }
            }
            if (!listing.truncated()) {
                break;
            }
            marker = listing.nextPartNumberMarker();
        }
        return checksums;
    }

    void abortMultipartUpload(Exchange exchange) {
        Bucket bucket = operations.ownedBucket(exchange, exchange.bucket());
        StoreErrors.await(store.abortUpload(bucket.name(), exchange.key(),
                exchange.query().first("uploadId")));
        exchange.sendEmpty(204);
    }
}
