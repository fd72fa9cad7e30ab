package io.basalt.meta.model.s3;

import java.util.List;

/** A page of a bucket's multipart uploads in progress, by key then upload id. */
public record UploadListing(List<Upload> uploads, List<String> commonPrefixes, boolean truncated,
                            String nextKeyMarker, String nextUploadIdMarker) {}
