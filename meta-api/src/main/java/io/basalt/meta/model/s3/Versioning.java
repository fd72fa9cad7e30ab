package io.basalt.meta.model.s3;

/** A bucket's versioning state (S3: never enabled, Enabled, Suspended; once enabled never back to never). */
public enum Versioning {
    UNVERSIONED,
    ENABLED,
    SUSPENDED
}
