package io.basalt.s3.xml;

import io.basalt.s3.checksum.ChecksumAlgorithm;
import java.time.Instant;
import java.util.Map;

/**
 * An uploaded part of a multipart upload, as ListParts shows it.
 *
 * @param etag the bare ETag (written quoted)
 * @param checksums the part's additional checksums (base64), by algorithm; may be empty
 */
public record PartInfo(int partNumber, Instant lastModified, String etag, long sizeBytes,
        Map<ChecksumAlgorithm, String> checksums) {
    public PartInfo {
        checksums = Map.copyOf(checksums);
    }
}
