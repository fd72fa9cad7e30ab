package io.basalt.s3.checksum;

/**
 * {@code x-amz-checksum-type}: how a multipart object's checksum covers it. FULL_OBJECT is the
 * checksum of the whole object's bytes (CRC types only, since CRCs combine); COMPOSITE is the
 * checksum of the parts' checksums, written {@code base64-N}.
 */
public enum ChecksumType {
    FULL_OBJECT,
    COMPOSITE;

    /** The type named {@code FULL_OBJECT} or {@code COMPOSITE} (exact), or null. */
    public static ChecksumType fromName(String name) {
        for (ChecksumType type : values()) {
            if (type.name().equals(name)) {
                return type;
            }
        }
        return null;
    }
}
