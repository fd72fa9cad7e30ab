package io.basalt.meta.model.s3;

import java.util.Map;

/** A multipart upload in progress: what CreateMultipartUpload said the object will be. */
public record Upload(String bucket, String key, String uploadId, long initiatedMillis, String owner,
                     Map<String, String> headers, String checksumAlgorithm, Map<String, String> tags) {}
