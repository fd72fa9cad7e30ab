package io.basalt.meta.model.s3;

import java.util.List;

/** A page of an upload's parts, by part number. */
public record PartListing(Upload upload, List<Part> parts, boolean truncated, int nextPartNumberMarker) {}
