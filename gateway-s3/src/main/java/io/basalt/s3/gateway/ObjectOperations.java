package io.basalt.s3.gateway;

import io.basalt.client.object.ObjectStore;
import io.basalt.meta.model.s3.Bucket;
import io.basalt.meta.model.s3.ObjectVersion;
import io.basalt.s3.ByteRange;
import io.basalt.s3.ETags;
import io.basalt.s3.HttpDates;
import io.basalt.s3.ObjectKeys;
import io.basalt.s3.Preconditions;
import io.basalt.s3.RangeHeader;
import io.basalt.s3.RequestHeaders;
import io.basalt.s3.S3Error;
import io.basalt.s3.S3Exception;
import io.basalt.s3.checksum.ChecksumAlgorithm;
import io.basalt.s3.checksum.ChecksumType;
import io.basalt.s3.checksum.MultipartChecksums;
import io.basalt.s3.route.CopySource;
import io.basalt.s3.xml.DeleteObjectsResult;
import io.basalt.s3.xml.ObjectIdentifier;
import io.basalt.s3.xml.RequestXml;
import io.basalt.s3.xml.ResponseXml;
import io.basalt.s3.xml.Tag;
import java.time.Instant;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;

/** PutObject, GetObject/HeadObject, CopyObject, DeleteObject(s) and object tagging. */
final class ObjectOperations {
    private final Operations operations;
    private final ObjectStore store;
    private final BodyTransfers bodies;

    ObjectOperations(Operations operations) {
        this.operations = operations;
        this.store = operations.store;
        this.bodies = new BodyTransfers(operations);
    }

    BodyTransfers bodies() {
        return bodies;
    }

    // ---- PutObject ----

    void putObject(Exchange exchange) {
        Bucket bucket = operations.ownedBucket(exchange, exchange.bucket());
        ObjectStore.WriteConditions conditions = writeConditions(exchange.headers);
        Map<String, String> headers = ObjectHeaders.fromRequest(exchange.headers,
                operations.config.limits().userMetadataBytesMax());
        Map<String, String> tags = ObjectHeaders.parseTagging(exchange.header("x-amz-tagging"));
        BodyTransfers.Received body = bodies.receive(exchange, bucket.name(), null);
        ObjectVersion version = commit(body, () -> store.putObject(bucket.name(),
                exchange.key(), body.written(), new ObjectStore.ObjectAttributes(
                        exchange.accessKey(), body.md5Hex(), headers, body.checksums(),
                        body.checksums().isEmpty() ? "" : ChecksumType.FULL_OBJECT.name(),
                        tags), conditions));
        exchange.setHeader("ETag", ETags.quote(version.etag()));
        writeChecksumHeaders(exchange, version.checksums(), version.checksumType());
        Operations.setWrittenVersionId(exchange, bucket, version);
        exchange.sendEmpty(200);
    }

    /** Commits a received body; if the commit fails, the body's bytes are dropped. */
    static <T> T commit(BodyTransfers.Received body,
            java.util.function.Supplier<java.util.concurrent.CompletableFuture<T>> commit) {
        try {
            return StoreErrors.await(commit.get());
        } catch (RuntimeException | Error e) {
            body.writer().abort();
            throw e;
        }
    }

    /** If-None-Match: * and If-Match on a write; checked by the store with the commit. */
    static ObjectStore.WriteConditions writeConditions(RequestHeaders headers) {
        String ifNoneMatch = headers.first("if-none-match");
        String ifMatch = headers.first("if-match");
        if (ifNoneMatch != null && !ifNoneMatch.strip().equals("*")) {
            throw new S3Exception(S3Error.NotImplemented, "If-None-Match on a write must be *,"
                    + " got \"" + ifNoneMatch + "\"");
        }
        if (ifNoneMatch == null && ifMatch == null) {
            return ObjectStore.WriteConditions.NONE;
        }
        return new ObjectStore.WriteConditions(ifMatch == null ? null
                : ETags.unquote(ifMatch), ifNoneMatch != null);
    }

    static void writeChecksumHeaders(Exchange exchange, Map<String, String> checksums,
            String checksumType) {
        checksums.forEach((name, value) -> {
            ChecksumAlgorithm algorithm = ChecksumAlgorithm.fromAlgorithmName(name);
            if (algorithm != null && !value.isEmpty()) {
                exchange.setHeader(algorithm.headerName(), value);
            }
        });
        if (!checksums.isEmpty() && checksumType != null && !checksumType.isEmpty()) {
            exchange.setHeader(ChecksumAlgorithm.TYPE_HEADER, checksumType);
        }
    }

    // ---- GetObject and HeadObject ----

    void getObject(Exchange exchange) {
        Bucket bucket = operations.ownedBucket(exchange, exchange.bucket());
        String versionId = versionIdParameter(exchange);
        ObjectVersion version = operations.requireVersion(exchange, bucket, exchange.key(),
                versionId);
        Instant lastModified = Instant.ofEpochMilli(version.modifiedMillis());
        Preconditions.Outcome outcome = Preconditions.evaluate(exchange.method,
                exchange.headers, version.etag(), lastModified);
        if (outcome == Preconditions.Outcome.NOT_MODIFIED) {
            exchange.setHeader("ETag", ETags.quote(version.etag()));
            exchange.setHeader("Last-Modified", HttpDates.formatHttpDate(lastModified));
            exchange.sendEmpty(304);
            return;
        }
        outcome.throwIfNotProceed();
        long size = version.size();
        ByteRange range = null;
        String partNumberText = exchange.query().first("partNumber");
        String rangeHeader = exchange.header("range");
        if (partNumberText != null) {
            if (rangeHeader != null) {
                throw new S3Exception(S3Error.InvalidRequest, "Range and partNumber cannot both"
                        + " be given");
            }
            range = partRange(version, parsePartNumber(partNumberText));
        } else {
            range = RangeHeader.resolve(rangeHeader, size).orElse(null);
        }
        ObjectHeaders.write(exchange, version, Operations.showsVersionIds(bucket));
        boolean checksumMode = "ENABLED".equalsIgnoreCase(exchange.header("x-amz-checksum-mode"));
        if (checksumMode && range == null) {
            writeChecksumHeaders(exchange, version.checksums(), version.checksumType());
        }
        long offset = range == null ? 0 : range.firstByte();
        long length = range == null ? size : range.lengthBytes();
        int status = 200;
        if (range != null && (partNumberText == null || version.partSizes().size() > 0
                || range.lengthBytes() != size)) {
            status = 206;
            exchange.setHeader("Content-Range", range.contentRange(size));
        }
        exchange.response.setStatus(status);
        exchange.response.getHeaders().put("Content-Length", length);
        if (exchange.isHead() || length == 0) {
            exchange.sendEmpty(status);
            return;
        }
        bodies.send(exchange, version, offset, length);
    }

    private static ByteRange partRange(ObjectVersion version, int partNumber) {
        List<Long> parts = version.partSizes();
        int partCount = parts.isEmpty() ? 1 : parts.size();
        if (partNumber > partCount) {
            throw new S3Exception(S3Error.InvalidPartNumber, "part " + partNumber
                    + " of an object of " + partCount + " parts");
        }
        if (parts.isEmpty()) {
            if (version.size() == 0) {
                return null;
            }
            return new ByteRange(0, version.size() - 1);
        }
        long offset = 0;
        for (int i = 0; i < partNumber - 1; i++) {
            offset += parts.get(i);
        }
        long length = parts.get(partNumber - 1);
        if (length == 0) {
            return null;
        }
        return new ByteRange(offset, offset + length - 1);
    }

    static int parsePartNumber(String text) {
        int number = -1;
        if (!text.isEmpty() && text.length() <= 5 && text.chars().allMatch(Character::isDigit)) {
            number = Integer.parseInt(text);
        }
        if (number < 1 || number > MultipartChecksums.PART_COUNT_MAX) {
            throw new S3Exception(S3Error.InvalidArgument, "part number must be an integer"
                    + " between 1 and " + MultipartChecksums.PART_COUNT_MAX + ", inclusive;"
                    + " got \"" + text + "\"");
        }
        return number;
    }

    static String versionIdParameter(Exchange exchange) {
        String versionId = exchange.query().first("versionId");
        if (versionId != null && versionId.isEmpty()) {
            throw new S3Exception(S3Error.InvalidArgument, "version id cannot be the empty"
                    + " string");
        }
        return versionId;
    }

    // ---- CopyObject ----

    void copyObject(Exchange exchange) {
        Bucket bucket = operations.ownedBucket(exchange, exchange.bucket());
        CopySource source = exchange.route.copySource();
        Bucket sourceBucket = source.bucket().equals(bucket.name()) ? bucket
                : operations.ownedBucket(exchange, source.bucket());
        ObjectVersion sourceVersion = operations.requireVersion(exchange, sourceBucket,
                source.key(), source.versionId());
        checkCopySourceConditions(exchange.headers, sourceVersion);
        if (sourceVersion.size() > S3Gateway.PUT_SIZE_BYTES_MAX) {
            throw new S3Exception(S3Error.InvalidRequest, "the source is "
                    + sourceVersion.size() + " bytes; CopyObject copies at most "
                    + S3Gateway.PUT_SIZE_BYTES_MAX + " (use UploadPartCopy)");
        }
        String metadataDirective = directive(exchange, "x-amz-metadata-directive");
        String taggingDirective = directive(exchange, "x-amz-tagging-directive");
        if (source.bucket().equals(bucket.name()) && source.key().equals(exchange.key())
                && source.versionId() == null && metadataDirective.equals("COPY")
                && !exchange.headers.contains(ChecksumAlgorithm.ALGORITHM_HEADER)) {
            throw new S3Exception(S3Error.InvalidRequest, "This copy request is illegal"
                    + " because it is trying to copy an object to itself without changing the"
                    + " object's metadata, storage class, website redirect location or"
                    + " encryption attributes.");
        }
        Map<String, String> headers = metadataDirective.equals("COPY")
                ? sourceVersion.headers()
                : ObjectHeaders.fromRequest(exchange.headers,
                        operations.config.limits().userMetadataBytesMax());
        Map<String, String> tags = taggingDirective.equals("COPY") ? sourceVersion.tags()
                : ObjectHeaders.parseTagging(exchange.header("x-amz-tagging"));
        Set<ChecksumAlgorithm> algorithms = EnumSet.noneOf(ChecksumAlgorithm.class);
        String requested = exchange.header(ChecksumAlgorithm.ALGORITHM_HEADER);
        if (requested != null) {
            ChecksumAlgorithm algorithm = ChecksumAlgorithm.fromAlgorithmName(requested.strip());
            if (algorithm == null) {
                throw new S3Exception(S3Error.InvalidRequest, "checksum algorithm \""
                        + requested + "\" is none of CRC32, CRC32C, CRC64NVME, SHA1, SHA256");
            }
            algorithms.add(algorithm);
        } else {
            for (String name : sourceVersion.checksums().keySet()) {
                ChecksumAlgorithm algorithm = ChecksumAlgorithm.fromAlgorithmName(name);
                if (algorithm != null) {
                    algorithms.add(algorithm);
                }
            }
        }
        BodyTransfers.Received body = bodies.copy(sourceVersion, 0, sourceVersion.size(),
                bucket.name(), algorithms);
        ObjectStore.WriteConditions conditions = writeConditions(exchange.headers);
        ObjectVersion version = commit(body, () -> store.putObject(bucket.name(),
                exchange.key(), body.written(), new ObjectStore.ObjectAttributes(
                        exchange.accessKey(), body.md5Hex(), headers, body.checksums(),
                        body.checksums().isEmpty() ? "" : ChecksumType.FULL_OBJECT.name(),
                        tags), conditions));
        Operations.setWrittenVersionId(exchange, bucket, version);
        if (Operations.showsVersionIds(sourceBucket)) {
            exchange.setHeader("x-amz-copy-source-version-id", sourceVersion.versionId());
        }
        exchange.sendXml(200, ResponseXml.copyObjectResult(version.etag(),
                Instant.ofEpochMilli(version.modifiedMillis()), checksumsByAlgorithm(
                        version.checksums())));
    }

    private static String directive(Exchange exchange, String header) {
        String value = exchange.header(header);
        if (value == null) {
            return "COPY";
        }
        String directive = value.strip().toUpperCase(Locale.ROOT);
        if (!directive.equals("COPY") && !directive.equals("REPLACE")) {
            throw new S3Exception(S3Error.InvalidArgument, header + " \"" + value
                    + "\" is neither COPY nor REPLACE");
        }
        return directive;
    }

    /** x-amz-copy-source-if-*: any that fails is 412 PreconditionFailed. */
    static void checkCopySourceConditions(RequestHeaders headers, ObjectVersion source) {
        RequestHeaders.Builder conditions = RequestHeaders.builder();
        for (String name : List.of("if-match", "if-none-match", "if-modified-since",
                "if-unmodified-since")) {
            String value = headers.first("x-amz-copy-source-" + name);
            if (value != null) {
                conditions.add(name, value);
            }
        }
        Preconditions.Outcome outcome = Preconditions.evaluate("GET", conditions.build(),
                source.etag(), Instant.ofEpochMilli(source.modifiedMillis()));
        if (outcome != Preconditions.Outcome.PROCEED) {
            throw new S3Exception(S3Error.PreconditionFailed, "an x-amz-copy-source-if-*"
                    + " condition did not hold for the source");
        }
    }

    static Map<ChecksumAlgorithm, String> checksumsByAlgorithm(Map<String, String> checksums) {
        Map<ChecksumAlgorithm, String> byAlgorithm = new EnumMap<>(ChecksumAlgorithm.class);
        checksums.forEach((name, value) -> {
            ChecksumAlgorithm algorithm = ChecksumAlgorithm.fromAlgorithmName(name);
            if (algorithm != null && !value.isEmpty()) {
                byAlgorithm.put(algorithm, value);
            }
        });
        return byAlgorithm;
    }

    // ---- DeleteObject and DeleteObjects ----

    void deleteObject(Exchange exchange) {
        Bucket bucket = operations.ownedBucket(exchange, exchange.bucket());
        String versionId = versionIdParameter(exchange);
        ObjectStore.DeleteOutcome outcome;
        try {
            outcome = StoreErrors.await(store.delete(bucket.name(), exchange.key(), versionId));
        } catch (S3Exception e) {
            if (e.error() == S3Error.NoSuchKey || e.error() == S3Error.NoSuchVersion) {
                exchange.sendEmpty(204); // deleting what is not there succeeds, as in S3
                return;
            }
            throw e;
        }
        if (outcome.deleteMarker()) {
            exchange.setHeader("x-amz-delete-marker", "true");
        }
        if (outcome.versionId() != null && Operations.showsVersionIds(bucket)) {
            exchange.setHeader("x-amz-version-id", outcome.versionId());
        }
        exchange.sendEmpty(204);
    }

    void deleteObjects(Exchange exchange) {
        Bucket bucket = operations.ownedBucket(exchange, exchange.bucket());
        byte[] body = SmallBody.read(exchange, RequestXml.DELETE_BYTES_MAX, operations.metrics);
        RequestXml.DeleteRequest request = RequestXml.parseDelete(body);
        List<DeleteObjectsResult.Deleted> deleted = new ArrayList<>();
        List<DeleteObjectsResult.Failed> failed = new ArrayList<>();
        for (ObjectIdentifier object : request.objects()) {
            try {
                ObjectKeys.validate(object.key());
                ObjectStore.DeleteOutcome outcome = StoreErrors.await(store.delete(
                        bucket.name(), object.key(), object.versionId()));
                deleted.add(deletedEntry(object, outcome));
            } catch (S3Exception e) {
                if (e.error() == S3Error.NoSuchKey || e.error() == S3Error.NoSuchVersion) {
                    deleted.add(new DeleteObjectsResult.Deleted(object.key(),
                            object.versionId(), false, null));
                } else if (e.error() == S3Error.NoSuchBucket
                        || e.error() == S3Error.ServiceUnavailable) {
                    throw e;
                } else {
                    failed.add(new DeleteObjectsResult.Failed(object.key(), object.versionId(),
                            e.error(), e.getMessage()));
                }
            }
        }
        exchange.sendXml(200, ResponseXml.deleteResult(request.quiet(), deleted, failed));
    }

    private static DeleteObjectsResult.Deleted deletedEntry(ObjectIdentifier object,
            ObjectStore.DeleteOutcome outcome) {
        if (object.versionId() == null) {
            return new DeleteObjectsResult.Deleted(object.key(), null, outcome.deleteMarker(),
                    outcome.deleteMarker() ? outcome.versionId() : null);
        }
        return new DeleteObjectsResult.Deleted(object.key(), object.versionId(),
                outcome.deleteMarker(), outcome.deleteMarker() ? object.versionId() : null);
    }

    // ---- tagging ----

    void getObjectTagging(Exchange exchange) {
        Bucket bucket = operations.ownedBucket(exchange, exchange.bucket());
        ObjectVersion version = operations.requireVersion(exchange, bucket, exchange.key(),
                versionIdParameter(exchange));
        List<Tag> tags = new ArrayList<>();
        version.tags().forEach((key, value) -> tags.add(new Tag(key, value)));
        if (Operations.showsVersionIds(bucket)) {
            exchange.setHeader("x-amz-version-id", version.versionId());
        }
        exchange.sendXml(200, ResponseXml.tagging(tags));
    }

    void putObjectTagging(Exchange exchange) {
        Bucket bucket = operations.ownedBucket(exchange, exchange.bucket());
        byte[] body = SmallBody.read(exchange, RequestXml.TAGGING_BYTES_MAX, operations.metrics);
        Map<String, String> tags = new LinkedHashMap<>();
        for (Tag tag : RequestXml.parseTagging(body, RequestXml.OBJECT_TAG_COUNT_MAX)) {
            tags.put(tag.key(), tag.value());
        }
        setTags(exchange, bucket, tags, 200);
    }

    void deleteObjectTagging(Exchange exchange) {
        Bucket bucket = operations.ownedBucket(exchange, exchange.bucket());
        setTags(exchange, bucket, Map.of(), 204);
    }

    private void setTags(Exchange exchange, Bucket bucket, Map<String, String> tags,
            int status) {
        String versionId = versionIdParameter(exchange);
        operations.requireVersion(exchange, bucket, exchange.key(), versionId);
        ObjectVersion version = StoreErrors.await(store.putTags(bucket.name(), exchange.key(),
                versionId, tags));
        if (Operations.showsVersionIds(bucket)) {
            exchange.setHeader("x-amz-version-id", version.versionId());
        }
        exchange.sendEmpty(status);
    }
}
