package io.basalt.meta.model.s3;

import io.basalt.meta.api.MalformedMessageException;

/**
 * A bucket's versioning state (S3: never enabled, Enabled, Suspended; once enabled never back to
 * never). The code is the byte on the wire and on disk.
 */
public enum Versioning {
    UNVERSIONED(0),
    ENABLED(1),
    SUSPENDED(2);

    public final int code;

    Versioning(int code) {
        this.code = code;
    }

    public static Versioning ofCode(int code) {
        for (Versioning versioning : values()) {
            if (versioning.code == code) {
                return versioning;
            }
        }
        throw new MalformedMessageException("unknown versioning code " + code);
    }
}
