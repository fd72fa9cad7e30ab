package io.basalt.s3;

/**
 * ETag quoting. Basalt stores an ETag bare ({@code 9b2cf535f27731c974343645a3985328} or
 * {@code ...-3} for multipart); HTTP headers and S3 XML carry it quoted.
 */
public final class ETags {
    private ETags() {}

    /** {@code "etag"}; an already quoted value is returned as is. */
    public static String quote(String etag) {
        if (etag.length() >= 2 && etag.startsWith("\"") && etag.endsWith("\"")) {
            return etag;
        }
        return "\"" + etag + "\"";
    }

    /** Strips a weak prefix {@code W/} and surrounding quotes; a bare value is returned as is. */
    public static String unquote(String etag) {
        String value = etag.strip();
        if (value.startsWith("W/")) {
            value = value.substring(2);
        }
        if (value.length() >= 2 && value.startsWith("\"") && value.endsWith("\"")) {
            value = value.substring(1, value.length() - 1);
        }
        return value;
    }
}
