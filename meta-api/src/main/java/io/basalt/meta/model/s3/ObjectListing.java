package io.basalt.meta.model.s3;

import java.util.List;

/**
 * A page of a bucket's current objects in key order (ListObjects v1/v2), or of all versions and delete
 * markers (ListObjectVersions: newest first within a key). {@code truncated}: more follow, from
 * {@code nextKeyMarker} (and {@code nextVersionIdMarker} for versions) exclusive.
 */
public record ObjectListing(List<ObjectVersion> entries, List<String> commonPrefixes, boolean truncated,
                            String nextKeyMarker, String nextVersionIdMarker) {}
