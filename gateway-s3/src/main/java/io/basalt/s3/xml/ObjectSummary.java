package io.basalt.s3.xml;

import io.basalt.s3.checksum.ChecksumAlgorithm;
import java.time.Instant;

/**
 * One object of a listing ({@code <Contents>}).
 *
 * @param etag the bare ETag (written quoted)
 * @param owner null to leave the Owner element out (ListObjectsV2 without fetch-owner)
 * @param checksumAlgorithm the algorithm of the object's additional checksum, or null
 */
public record ObjectSummary(String key, Instant lastModified, String etag, long sizeBytes,
        String storageClass, Owner owner, ChecksumAlgorithm checksumAlgorithm) {}
