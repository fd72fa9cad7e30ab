package io.basalt.s3.xml;

import io.basalt.s3.checksum.ChecksumAlgorithm;
import java.util.Map;

/**
 * A part named in CompleteMultipartUpload.
 *
 * @param etag the bare ETag (quotes removed)
 * @param checksums the part checksums the client sent (base64), by algorithm; may be empty
 */
public record CompletedPart(int partNumber, String etag,
        Map<ChecksumAlgorithm, String> checksums) {
    public CompletedPart {
        checksums = Map.copyOf(checksums);
    }
}
