package io.basalt.s3.xml;

import java.time.Instant;

/** A bucket, as ListBuckets shows it. */
public record BucketSummary(String name, Instant creationDate) {}
