package io.basalt.meta.model.s3;

/** An S3 user: the access key it signs with and its secret (shown once, at creation). */
public record S3User(String name, String accessKey, String secret, long createdMillis) {}
