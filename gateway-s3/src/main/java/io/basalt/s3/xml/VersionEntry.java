package io.basalt.s3.xml;

import java.time.Instant;

/**
 * One entry of ListObjectVersions: an object version or a delete marker, listed together in
 * key order, newest version first within a key.
 */
public sealed interface VersionEntry permits VersionEntry.ObjectVersion,
        VersionEntry.DeleteMarker {
    String key();

    String versionId();

    boolean isLatest();

    Instant lastModified();

    /** A version holding data ({@code <Version>}); {@code etag} bare. */
    record ObjectVersion(String key, String versionId, boolean isLatest, Instant lastModified,
            String etag, long sizeBytes, String storageClass, Owner owner)
            implements VersionEntry {}

    /** A delete marker ({@code <DeleteMarker>}). */
    record DeleteMarker(String key, String versionId, boolean isLatest, Instant lastModified,
            Owner owner) implements VersionEntry {}
}
