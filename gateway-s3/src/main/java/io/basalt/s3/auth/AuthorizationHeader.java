package io.basalt.s3.auth;

import io.basalt.s3.S3Error;
import io.basalt.s3.S3Exception;
import java.util.List;

/**
 * A parsed {@code Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=...,
 * Signature=...} header. The three components come in any order, separated by commas with
 * optional spaces; each exactly once.
 */
public record AuthorizationHeader(Credential credential, List<String> signedHeaders,
        String signature) {
    /** Bound on the header value; a real one is a few hundred characters. */
    static final int LENGTH_MAX = 4096;

    private static final S3Error MALFORMED = S3Error.AuthorizationHeaderMalformed;

    /**
     * @throws S3Exception InvalidRequest for another scheme (SigV2 {@code AWS key:sig}, SigV4a),
     *     AuthorizationHeaderMalformed for a malformed SigV4 header
     */
    public static AuthorizationHeader parse(String value) {
        if (value.length() > LENGTH_MAX) {
            throw new S3Exception(MALFORMED, "Authorization header is " + value.length()
                    + " characters (max " + LENGTH_MAX + ")");
        }
        String text = value.strip();
        int space = text.indexOf(' ');
        String scheme = space < 0 ? text : text.substring(0, space);
        if (!scheme.equals(SigV4Crypto.ALGORITHM)) {
            throw new S3Exception(S3Error.InvalidRequest, "the authorization mechanism \""
                    + scheme + "\" is not supported; use AWS4-HMAC-SHA256");
        }
        String credential = null;
        String signedHeaders = null;
        String signature = null;
        for (String component : text.substring(space + 1).split(",")) {
            String part = component.strip();
            int equals = part.indexOf('=');
            if (equals < 0) {
                throw new S3Exception(MALFORMED, "Authorization component \"" + part
                        + "\" is not name=value");
            }
            String name = part.substring(0, equals);
            String componentValue = part.substring(equals + 1);
            switch (name) {
                case "Credential" -> credential = once(credential, name, componentValue);
                case "SignedHeaders" -> signedHeaders = once(signedHeaders, name, componentValue);
                case "Signature" -> signature = once(signature, name, componentValue);
                default -> throw new S3Exception(MALFORMED, "Authorization component \"" + name
                        + "\" is unknown");
            }
        }
        if (credential == null || signedHeaders == null || signature == null) {
            throw new S3Exception(MALFORMED, "Authorization needs Credential, SignedHeaders and"
                    + " Signature");
        }
        if (!SigV4Crypto.isLowerHex64(signature)) {
            throw new S3Exception(MALFORMED, "Signature \"" + signature
                    + "\" is not 64 lowercase hex digits");
        }
        return new AuthorizationHeader(Credential.parse(credential, MALFORMED),
                SignedHeaderList.parse(signedHeaders, MALFORMED), signature);
    }

    private static String once(String previous, String name, String value) {
        if (previous != null) {
            throw new S3Exception(MALFORMED, "Authorization component " + name + " repeated");
        }
        return value;
    }
}
