package io.basalt.meta.model.s3;

/**
 * An S3 bucket: its id (the prefix of every index key of its objects), owner (access key of the user
 * that created it), storage policy for its objects (a volume policy: ec4+2, rep3, ...), versioning,
 * and counters kept by every object change (current versions and their logical bytes).
 */
public record Bucket(long id, String name, String owner, String policyName, long createdMillis,
                     Versioning versioning, long objectCount, long logicalBytes) {}
