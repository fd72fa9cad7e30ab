package io.basalt.s3.gateway;

import io.basalt.s3.S3Error;
import io.basalt.s3.S3Exception;
import io.basalt.s3.auth.PayloadMode;
import io.basalt.s3.checksum.ChecksumAlgorithm;
import io.basalt.s3.chunked.AwsChunkedDecoder;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.util.HexFormat;
import java.util.concurrent.CompletableFuture;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.server.Request;

/**
 * Reads a small request body whole (the XML of Delete, CompleteMultipartUpload, Tagging,
 * VersioningConfiguration, CreateBucketConfiguration) up to its cap, past which the request is
 * MaxMessageLengthExceeded, then checks it like any body: aws-chunked decoded (with its
 * signatures and trailer), the signed SHA-256, Content-MD5 and an x-amz-checksum-* header.
 */
final class SmallBody {
    /** aws-chunked framing around a capped body: chunk headers and trailers. */
    private static final int FRAMING_BYTES_MAX = 64 * 1024;

    private SmallBody() {}

    static byte[] read(Exchange exchange, int bytesMax, GatewayMetrics metrics) {
        return read(exchange, bytesMax, metrics, true);
    }

    /**
     * The body, checked against Content-MD5 and, when {@code checksumHeadersAreTheBodys}, the
     * x-amz-checksum-* headers. CompleteMultipartUpload's checksum headers name the object's
     * checksum, not its XML body's, so it passes false and checks them itself.
     */
    static byte[] read(Exchange exchange, int bytesMax, GatewayMetrics metrics,
            boolean checksumHeadersAreTheBodys) {
        PayloadMode mode = exchange.authentication.payloadMode();
        int rawBytesMax = mode.isStreaming() ? bytesMax + FRAMING_BYTES_MAX : bytesMax;
        long contentLength = exchange.request.getHeaders().getLongField(
                HttpHeader.CONTENT_LENGTH);
        if (contentLength > rawBytesMax) {
            throw new S3Exception(S3Error.MaxMessageLengthExceeded, "the request body is "
                    + contentLength + " bytes (max " + bytesMax + ")");
        }
        byte[] raw = StoreErrors.await(new Reader(exchange.request, rawBytesMax, bytesMax,
                metrics).start());
        byte[] body = raw;
        if (mode.isStreaming()) {
            AwsChunkedDecoder decoder = AwsChunkedDecoder.forRequest(exchange.authentication,
                    exchange.headers);
            ByteArrayOutputStream decoded = new ByteArrayOutputStream(raw.length);
            decoder.decode(ByteBuffer.wrap(raw), data -> {
                byte[] piece = new byte[data.remaining()];
                data.get(piece);
                decoded.writeBytes(piece);
            });
            decoder.finish();
            body = decoded.toByteArray();
        } else if (mode == PayloadMode.SIGNED) {
            String computed = HexFormat.of().formatHex(sha256(body));
            if (!computed.equals(exchange.authentication.payloadSha256())) {
                throw new S3Exception(S3Error.XAmzContentSHA256Mismatch, "x-amz-content-sha256"
                        + " says " + exchange.authentication.payloadSha256()
                        + ", the body's is " + computed);
            }
        }
        byte[] contentMd5 = IncomingBody.parseContentMd5(exchange.header("content-md5"));
        if (contentMd5 != null) {
            var md5 = ChecksumAlgorithm.newMd5();
            md5.update(body, 0, body.length);
            if (!MessageDigest.isEqual(contentMd5, md5.digest())) {
                throw new S3Exception(S3Error.BadDigest, "the Content-MD5 you specified did"
                        + " not match what was received");
            }
        }
        for (ChecksumAlgorithm algorithm : ChecksumAlgorithm.values()) {
            String claimed = exchange.header(algorithm.headerName());
            if (claimed != null && checksumHeadersAreTheBodys) {
                var checksum = algorithm.newChecksum();
                checksum.update(body, 0, body.length);
                if (!checksum.digestBase64().equals(claimed.strip())) {
                    throw new S3Exception(S3Error.BadDigest, "the " + algorithm.algorithmName()
                            + " you specified did not match what was received");
                }
            }
        }
        if (body.length > bytesMax) {
            throw new S3Exception(S3Error.MaxMessageLengthExceeded, "the request body is "
                    + body.length + " bytes (max " + bytesMax + ")");
        }
        return body;
    }

    private static byte[] sha256(byte[] body) {
        try {
            return MessageDigest.getInstance("SHA-256").digest(body);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    /** The read/demand loop gathering the body, refusing it past the cap. */
    private static final class Reader {
        private final Request request;
        private final int rawBytesMax;
        private final int bytesMax;
        private final GatewayMetrics metrics;
        private final ByteArrayOutputStream out = new ByteArrayOutputStream();
        private final CompletableFuture<byte[]> result = new CompletableFuture<>();

        Reader(Request request, int rawBytesMax, int bytesMax, GatewayMetrics metrics) {
            this.request = request;
            this.rawBytesMax = rawBytesMax;
            this.bytesMax = bytesMax;
            this.metrics = metrics;
        }

        CompletableFuture<byte[]> start() {
            loop();
            return result;
        }

        private void loop() {
            try {
                while (true) {
                    Content.Chunk chunk = request.read();
                    if (chunk == null) {
                        request.demand(this::loop);
                        return;
                    }
                    if (Content.Chunk.isFailure(chunk)) {
                        result.completeExceptionally(new S3Exception(S3Error.IncompleteBody,
                                "the body failed after " + out.size() + " bytes: "
                                        + chunk.getFailure()));
                        return;
                    }
                    boolean last = chunk.isLast();
                    try {
                        ByteBuffer data = chunk.getByteBuffer();
                        if (data != null && data.hasRemaining()) {
                            metrics.receivedBytes.inc(data.remaining());
                            if (out.size() + data.remaining() > rawBytesMax) {
                                result.completeExceptionally(new S3Exception(
                                        S3Error.MaxMessageLengthExceeded, "the request body is"
                                        + " longer than " + bytesMax + " bytes"));
                                return;
                            }
                            byte[] piece = new byte[data.remaining()];
                            data.get(piece);
                            out.writeBytes(piece);
                        }
                    } finally {
                        chunk.release();
                    }
                    if (last) {
                        result.complete(out.toByteArray());
                        return;
                    }
                }
            } catch (Throwable failure) {
                result.completeExceptionally(failure);
            }
        }
    }
}
