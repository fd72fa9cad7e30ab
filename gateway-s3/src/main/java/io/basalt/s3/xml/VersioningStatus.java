package io.basalt.s3.xml;

/** A bucket's versioning state as S3 writes it; a never-versioned bucket has none (null). */
public enum VersioningStatus {
    ENABLED("Enabled"),
    SUSPENDED("Suspended");

    private final String xmlName;

    VersioningStatus(String xmlName) {
        this.xmlName = xmlName;
    }

    public String xmlName() {
        return xmlName;
    }

    /** The status spelled {@code Enabled} or {@code Suspended} (exact), or null. */
    public static VersioningStatus fromXmlName(String name) {
        for (VersioningStatus status : values()) {
            if (status.xmlName.equals(name)) {
                return status;
            }
        }
        return null;
    }
}
