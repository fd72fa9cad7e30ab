package io.basalt.s3.xml;

import java.time.Instant;

/** An in-progress multipart upload, as ListMultipartUploads shows it. */
public record UploadSummary(String key, String uploadId, Instant initiated, String storageClass,
        Owner owner) {}
