package io.basalt.meta.model.s3;

import java.util.List;
import java.util.Map;

/** One uploaded part of a multipart upload (a part uploaded again replaces it). */
public record Part(int number, long size, String etag, Map<String, String> checksums, long modifiedMillis,
                   List<ObjectExtent> extents) {}
