package io.basalt.s3.route;

import io.basalt.s3.QueryParameters;

/**
 * A routed S3 request: what it asks for and of which bucket and key.
 *
 * @param bucket the bucket, or null for a service-level request
 * @param key the object key, decoded once from the path, or null for a bucket-level request
 * @param virtualHosted whether the bucket came from the Host header
 * @param query the parsed query parameters
 * @param copySource the parsed {@code x-amz-copy-source} of CopyObject and UploadPartCopy,
 *     else null
 */
public record S3Request(S3Operation operation, String bucket, String key,
        boolean virtualHosted, QueryParameters query, CopySource copySource) {}
