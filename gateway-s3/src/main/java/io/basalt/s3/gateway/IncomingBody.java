package io.basalt.s3.gateway;

import io.basalt.s3.RequestHeaders;
import io.basalt.s3.S3Error;
import io.basalt.s3.S3Exception;
import io.basalt.s3.auth.Authentication;
import io.basalt.s3.auth.PayloadMode;
import io.basalt.s3.checksum.ChecksumAlgorithm;
import io.basalt.s3.chunked.AwsChunkedDecoder;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import java.util.EnumMap;
import java.util.EnumSet;
import java.util.HexFormat;
import java.util.Map;
import java.util.Set;

/**
 * What a PutObject or UploadPart request says about its body, checked before a byte is read:
 * its data length (Content-Length, or x-amz-decoded-content-length for aws-chunked), the
 * Content-MD5, the checksum sent in a header or announced as a trailer, and the checksum
 * algorithm the client asked for. {@link #verify} then checks the body that arrived.
 */
final class IncomingBody {
    /** {@link #dataBytes} of a body sent with Transfer-Encoding: chunked and no length. */
    static final long UNKNOWN_LENGTH = -1;

    /** The data bytes declared, or {@link #UNKNOWN_LENGTH}. */
    final long dataBytes;
    final AwsChunkedDecoder decoder;
    final byte[] contentMd5;
    /** The checksum sent as a header, with its value; null when none. */
    final ChecksumAlgorithm headerAlgorithm;
    final String headerValue;
    /** The checksum announced in x-amz-trailer; null when none. */
    final ChecksumAlgorithm trailerAlgorithm;
    /** x-amz-sdk-checksum-algorithm; null when absent. */
    final ChecksumAlgorithm sdkAlgorithm;
    private final Authentication authentication;

    private IncomingBody(long dataBytes, AwsChunkedDecoder decoder, byte[] contentMd5,
            ChecksumAlgorithm headerAlgorithm, String headerValue,
            ChecksumAlgorithm trailerAlgorithm, ChecksumAlgorithm sdkAlgorithm,
            Authentication authentication) {
        this.dataBytes = dataBytes;
        this.decoder = decoder;
        this.contentMd5 = contentMd5;
        this.headerAlgorithm = headerAlgorithm;
        this.headerValue = headerValue;
        this.trailerAlgorithm = trailerAlgorithm;
        this.sdkAlgorithm = sdkAlgorithm;
        this.authentication = authentication;
    }

    /**
     * @param contentLength the Content-Length header's value, -1 when absent
     * @throws S3Exception MissingContentLength, EntityTooLarge, InvalidDigest, InvalidRequest,
     *     InvalidArgument
     */
    static IncomingBody of(Authentication authentication, RequestHeaders headers,
            long contentLength, long sizeBytesMax) {
        PayloadMode mode = authentication.payloadMode();
        AwsChunkedDecoder decoder = null;
        long dataBytes;
        if (mode.isStreaming()) {
            decoder = AwsChunkedDecoder.forRequest(authentication, headers);
            dataBytes = Long.parseLong(headers.first("x-amz-decoded-content-length").strip());
        } else if (contentLength >= 0) {
            dataBytes = contentLength;
        } else if (isHttpChunked(headers)) {
            // Plain HTTP chunking (Go's and Java's HTTP clients streaming a body of unknown
            // length): the store takes bodies of unknown length in runs, and BodyUpload stops
            // the body at sizeBytesMax. S3 itself accepts these.
            dataBytes = UNKNOWN_LENGTH;
        } else {
            throw new S3Exception(S3Error.MissingContentLength, "a PUT needs Content-Length"
                    + " (or Transfer-Encoding: chunked, or aws-chunked with"
                    + " x-amz-decoded-content-length)");
        }
        if (dataBytes > sizeBytesMax) {
            throw new S3Exception(S3Error.EntityTooLarge, "the body is " + dataBytes
                    + " bytes (max " + sizeBytesMax + ")");
        }
        byte[] contentMd5 = parseContentMd5(headers.first("content-md5"));
        ChecksumAlgorithm headerAlgorithm = null;
        String headerValue = null;
        for (ChecksumAlgorithm algorithm : ChecksumAlgorithm.values()) {
            String value = headers.first(algorithm.headerName());
            if (value == null) {
                continue;
            }
            if (headerAlgorithm != null) {
                throw new S3Exception(S3Error.InvalidRequest, "expecting a single"
                        + " x-amz-checksum- header; got " + headerAlgorithm.headerName()
                        + " and " + algorithm.headerName());
            }
            if (!algorithm.isWellFormed(value.strip())) {
                throw new S3Exception(S3Error.InvalidRequest, "value for "
                        + algorithm.headerName() + " header is invalid");
            }
            headerAlgorithm = algorithm;
            headerValue = value.strip();
        }
        String trailer = headers.first(ChecksumAlgorithm.TRAILER_HEADER);
        // Only a trailer payload mode carries a trailer; an x-amz-trailer sent without one (the
        // SDK's, beside the precomputed checksum header: AwsChunkedDecoder.forRequest) is moot.
        ChecksumAlgorithm trailerAlgorithm = trailer == null || !mode.hasTrailer() ? null
                : ChecksumAlgorithm.fromHeaderName(trailer.strip());
        if (trailerAlgorithm != null && headerAlgorithm != null) {
            throw new S3Exception(S3Error.InvalidRequest, "a checksum header and a trailing"
                    + " checksum in one request");
        }
        ChecksumAlgorithm sdkAlgorithm = null;
        String sdk = headers.first(ChecksumAlgorithm.SDK_ALGORITHM_HEADER);
        if (sdk != null) {
            sdkAlgorithm = ChecksumAlgorithm.fromAlgorithmName(sdk.strip());
            if (sdkAlgorithm == null) {
                throw new S3Exception(S3Error.InvalidRequest, "checksum algorithm \"" + sdk
                        + "\" is none of CRC32, CRC32C, CRC64NVME, SHA1, SHA256");
            }
        }
        return new IncomingBody(dataBytes, decoder, contentMd5, headerAlgorithm, headerValue,
                trailerAlgorithm, sdkAlgorithm, authentication);
    }

    /** Whether the last transfer coding is chunked (RFC 9112 6.1: then it frames the body). */
    private static boolean isHttpChunked(RequestHeaders headers) {
        String codings = headers.first("transfer-encoding");
        if (codings == null) {
            return false;
        }
        String[] list = codings.split(",");
        return list[list.length - 1].strip().equalsIgnoreCase("chunked");
    }

    /** The Content-MD5 header's 16 bytes, or null when absent; InvalidDigest when malformed. */
    static byte[] parseContentMd5(String header) {
        if (header == null) {
            return null;
        }
        try {
            byte[] md5 = Base64.getDecoder().decode(header.strip());
            if (md5.length == 16) {
                return md5;
            }
        } catch (IllegalArgumentException e) {
            // reported below
        }
        throw new S3Exception(S3Error.InvalidDigest, "Content-MD5 \"" + header
                + "\" is not the base64 of 16 bytes");
    }

    /** The algorithms to compute as the body streams: the header's, the SDK's, and extras. */
    Set<ChecksumAlgorithm> algorithmsToCompute(ChecksumAlgorithm extra) {
        Set<ChecksumAlgorithm> algorithms = EnumSet.noneOf(ChecksumAlgorithm.class);
        if (headerAlgorithm != null) {
            algorithms.add(headerAlgorithm);
        }
        if (sdkAlgorithm != null && sdkAlgorithm != trailerAlgorithm) {
            algorithms.add(sdkAlgorithm);
        }
        if (extra != null && extra != trailerAlgorithm) {
            algorithms.add(extra);
        }
        return algorithms;
    }

    /** A SHA-256 to compute when the payload is signed, else null. */
    MessageDigest newPayloadDigest() {
        if (authentication.payloadMode() != PayloadMode.SIGNED) {
            return null;
        }
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError("SHA-256 is in every JDK", e);
        }
    }

    /**
     * Checks the body that arrived against what the request claimed, and returns the checksums
     * to store (algorithm name to base64).
     *
     * @throws S3Exception XAmzContentSHA256Mismatch, BadDigest
     */
    Map<String, String> verify(BodyUpload.Result body) {
        if (body.sha256() != null) {
            String computed = HexFormat.of().formatHex(body.sha256());
            if (!computed.equals(authentication.payloadSha256())) {
                throw new S3Exception(S3Error.XAmzContentSHA256Mismatch, "x-amz-content-sha256"
                        + " says " + authentication.payloadSha256() + ", the body's is "
                        + computed);
            }
        }
        if (contentMd5 != null && !MessageDigest.isEqual(contentMd5, body.md5())) {
            throw new S3Exception(S3Error.BadDigest, "the Content-MD5 you specified ("
                    + Base64.getEncoder().encodeToString(contentMd5) + ") did not match what"
                    + " was received (" + Base64.getEncoder().encodeToString(body.md5()) + ")");
        }
        Map<ChecksumAlgorithm, String> stored = new EnumMap<>(body.checksums());
        if (headerAlgorithm != null) {
            String computed = body.checksums().get(headerAlgorithm);
            if (!headerValue.equals(computed)) {
                throw new S3Exception(S3Error.BadDigest, "the " + headerAlgorithm
                        .algorithmName() + " you specified (" + headerValue + ") did not match"
                        + " the data (" + computed + ")");
            }
        }
        if (trailerAlgorithm != null) {
            // The decoder compared it with the data already (BadDigest there).
            String value = body.trailers().get(trailerAlgorithm.headerName());
            if (value != null) {
                stored.put(trailerAlgorithm, value);
            }
        }
        Map<String, String> byName = new java.util.LinkedHashMap<>();
        stored.forEach((algorithm, value) -> byName.put(algorithm.algorithmName(), value));
        return byName;
    }
}
