package io.basalt.s3.route;

import io.basalt.s3.ObjectKeys;
import io.basalt.s3.S3Error;
import io.basalt.s3.S3Exception;
import io.basalt.s3.UriEncoding;

/**
 * The {@code x-amz-copy-source} header of CopyObject and UploadPartCopy:
 * {@code [/]bucket/key[?versionId=id]}, URL-encoded (S3 API reference, CopyObject). The
 * {@code ?versionId=} suffix is split off before decoding, so an encoded {@code ?} in the key
 * ({@code %3F}) stays part of the key. Access-point ARNs are not supported.
 *
 * @param versionId the source version, or null for the current one
 */
public record CopySource(String bucket, String key, String versionId) {
    public static final String HEADER = "x-amz-copy-source";

    private static final String VERSION_ID = "?versionId=";

    /**
     * @throws S3Exception InvalidArgument when the value does not name a bucket and a key,
     *     NotImplemented for an access-point ARN, InvalidURI for a bad escape,
     *     KeyTooLongError for a key past 1024 bytes
     */
    public static CopySource parse(String header) {
        String value = header.strip();
        if (value.startsWith("arn:")) {
            throw new S3Exception(S3Error.NotImplemented,
                    "access-point ARNs in x-amz-copy-source are not supported");
        }
        String versionId = null;
        int question = value.indexOf('?');
        if (question >= 0) {
            if (!value.startsWith(VERSION_ID, question)) {
                throw invalid(header);
            }
            versionId = UriEncoding.decodeQuery(value.substring(question + VERSION_ID.length()));
            if (versionId.isEmpty()) {
                throw invalid(header);
            }
            value = value.substring(0, question);
        }
        if (value.startsWith("/")) {
            value = value.substring(1);
        }
        int slash = value.indexOf('/');
        if (slash <= 0 || slash == value.length() - 1) {
            throw invalid(header);
        }
        String bucket = UriEncoding.decodePath(value.substring(0, slash));
        String key = UriEncoding.decodePath(value.substring(slash + 1));
        ObjectKeys.validate(key);
        return new CopySource(bucket, key, versionId);
    }

    private static S3Exception invalid(String header) {
        return new S3Exception(S3Error.InvalidArgument, "copy source \"" + header
                + "\" must name the source bucket and key: sourcebucket/sourcekey"
                + "[?versionId=id]");
    }
}
