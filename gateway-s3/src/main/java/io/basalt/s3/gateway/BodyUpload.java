package io.basalt.s3.gateway;

import io.basalt.client.object.BodyWriter;
import io.basalt.s3.S3Error;
import io.basalt.s3.S3Exception;
import io.basalt.s3.chunked.AwsChunkedDecoder;
import io.basalt.s3.checksum.ChecksumAlgorithm;
import io.basalt.s3.checksum.StreamingChecksum;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.util.ArrayDeque;
import java.util.EnumMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeoutException;
import org.eclipse.jetty.io.Content;
import org.eclipse.jetty.io.EofException;
import org.eclipse.jetty.server.Request;

/**
 * Streams one request body into a {@link BodyWriter}, never holding the object: Jetty's
 * {@link Content.Source} read/demand loop hands over each network read; its bytes go through
 * the aws-chunked decoder (when streaming), the digests (MD5 for the ETag, SHA-256 for a signed
 * payload, the requested checksums) and into a pooled buffer of {@code writeSizeBytes}; a full
 * buffer is written and the next read is demanded only when the write's future completes. That
 * is the backpressure: a slow cluster slows the reads, then TCP slows the client, and the
 * request holds at most one buffer plus one network read.
 *
 * <p>The result says what arrived; the caller checks the digests and only then finishes the
 * writer and commits. On any failure (bad framing, a signature, the client gone, a write that
 * failed) the writer is aborted here and the future fails.
 *
 * <p>Not thread-safe, and needs not be: the loop runs on one thread at a time (Jetty's demand
 * callback or a write future's completion), each step starting only after the previous ended.
 */
final class BodyUpload {
    /** What arrived, with the digests computed over the data (decoded) bytes. */
    record Result(long dataBytes, byte[] md5, byte[] sha256,
            Map<ChecksumAlgorithm, String> checksums, Map<String, String> trailers) {}

    private final Request request;
    private final BodyWriter writer;
    private final AwsChunkedDecoder decoder;
    /** The data bytes declared; negative when unknown (HTTP chunked without a length). */
    private final long expectedDataBytes;
    /** The most data bytes taken: the declared length, or the size limit when unknown. */
    private final long dataBytesMax;
    private final int writeSizeBytes;
    private final ByteBufAllocator allocator;
    private final GatewayMetrics metrics;
    private final StreamingChecksum md5 = ChecksumAlgorithm.newMd5();
    private final MessageDigest sha256;
    private final EnumMap<ChecksumAlgorithm, StreamingChecksum> checksums =
            new EnumMap<>(ChecksumAlgorithm.class);
    private final ArrayDeque<ByteBuf> ready = new ArrayDeque<>();
    private final CompletableFuture<Result> result = new CompletableFuture<>();
    private ByteBuf pending;
    private long dataBytes;

    /**
     * @param decoder the aws-chunked decoder, null for a plain body
     * @param expectedDataBytes the data bytes declared (Content-Length, or
     *     x-amz-decoded-content-length), more is refused; negative when unknown
     * @param sizeBytesMax the most a body of unknown length may carry (EntityTooLarge past it)
     * @param sha256 a digest to update when the payload is signed, else null
     * @param computed the checksums to compute
     */
    BodyUpload(Request request, BodyWriter writer, AwsChunkedDecoder decoder,
            long expectedDataBytes, long sizeBytesMax, MessageDigest sha256,
            Iterable<ChecksumAlgorithm> computed, int writeSizeBytes, ByteBufAllocator allocator,
            GatewayMetrics metrics) {
        this.request = request;
        this.writer = writer;
        this.decoder = decoder;
        this.expectedDataBytes = expectedDataBytes;
        this.dataBytesMax = expectedDataBytes >= 0 ? expectedDataBytes : sizeBytesMax;
        this.sha256 = sha256;
        for (ChecksumAlgorithm algorithm : computed) {
            checksums.put(algorithm, algorithm.newChecksum());
        }
        this.writeSizeBytes = writeSizeBytes;
        this.allocator = allocator;
        this.metrics = metrics;
    }

    /** Starts reading; completes when the body is all written (not finished) or failed. */
    CompletableFuture<Result> start() {
        readLoop();
        return result;
    }

    private void readLoop() {
        try {
            while (!result.isDone()) {
                Content.Chunk chunk = request.read();
                if (chunk == null) {
                    request.demand(this::readLoop);
                    return;
                }
                if (Content.Chunk.isFailure(chunk)) {
                    fail(bodyFailure(chunk.getFailure()));
                    return;
                }
                boolean last = chunk.isLast();
                try {
                    ByteBuffer input = chunk.getByteBuffer();
                    if (input != null && input.hasRemaining()) {
                        metrics.receivedBytes.inc(input.remaining());
                        if (decoder != null) {
                            decoder.decode(input, this::onData);
                        } else {
                            onData(input);
                        }
                    }
                } finally {
                    chunk.release();
                }
                if (last) {
                    endOfBody();
                    return;
                }
                if (!ready.isEmpty() && !writeReady(this::readLoop)) {
                    return; // resumed by the write's completion
                }
            }
        } catch (Throwable failure) {
            fail(failure);
        }
    }

    private void endOfBody() {
        if (decoder != null) {
            decoder.finish();
        }
        if (expectedDataBytes >= 0 && dataBytes != expectedDataBytes) {
            throw new S3Exception(S3Error.IncompleteBody, "the body has " + dataBytes
                    + " bytes, " + expectedDataBytes + " were declared");
        }
        if (pending != null) {
            ready.add(pending);
            pending = null;
        }
        if (writeReady(this::complete)) {
            complete();
        }
    }

    private void onData(ByteBuffer data) {
        int length = data.remaining();
        if (length > dataBytesMax - dataBytes) {
            if (expectedDataBytes < 0) {
                throw new S3Exception(S3Error.EntityTooLarge, "the chunked body carries more"
                        + " than " + dataBytesMax + " bytes (max)");
            }
            throw new S3Exception(S3Error.IncompleteBody, "the body carries more than the "
                    + expectedDataBytes + " bytes declared");
        }
        md5.update(data.duplicate());
        if (sha256 != null) {
            sha256.update(data.duplicate());
        }
        for (StreamingChecksum checksum : checksums.values()) {
            checksum.update(data.duplicate());
        }
        long bufferedBefore = dataBytes;
        dataBytes += length;
        int position = data.position();
        int end = data.limit();
        while (position < end) {
            if (pending == null) {
                long left = dataBytesMax - bufferedBefore - (position - data.position());
                pending = allocator.directBuffer((int) Math.max(1, Math.min(writeSizeBytes,
                        left)));
            }
            int n = Math.min(pending.writableBytes(), end - position);
            pending.writeBytes(data.slice(position, n));
            position += n;
            if (!pending.isWritable()) {
                ready.add(pending);
                pending = null;
            }
        }
        data.position(end);
    }

    /**
     * Writes the ready buffers in order, each after the previous write's future completed.
     *
     * @return true when all were written at once; false when a write is pending, and then
     *     {@code resume} runs once the last one completed
     */
    private boolean writeReady(Runnable resume) {
        while (!ready.isEmpty()) {
            ByteBuf buffer = ready.poll();
            CompletableFuture<Void> written = writer.write(buffer); // the writer releases it
            if (!written.isDone()) {
                written.whenComplete((ignored, failure) -> {
                    try {
                        if (failure != null) {
                            fail(failure);
                        } else if (writeReady(resume)) {
                            resume.run();
                        }
                    } catch (Throwable resumeFailure) {
                        fail(resumeFailure);
                    }
                });
                return false;
            }
            written.join(); // a failed write throws here
        }
        return true;
    }

    private void complete() {
        Map<ChecksumAlgorithm, String> values = new EnumMap<>(ChecksumAlgorithm.class);
        checksums.forEach((algorithm, checksum) -> values.put(algorithm,
                checksum.digestBase64()));
        result.complete(new Result(dataBytes, md5.digest(), sha256 == null ? null
                : sha256.digest(), values, decoder == null ? Map.of() : decoder.trailers()));
    }

    private void fail(Throwable failure) {
        if (result.isDone()) {
            return;
        }
        if (pending != null) {
            pending.release();
            pending = null;
        }
        while (!ready.isEmpty()) {
            ready.poll().release();
        }
        writer.abort();
        result.completeExceptionally(StoreErrors.unwrap(failure));
    }

    /** What a failed read means to the client, if it is still there to hear it. */
    private S3Exception bodyFailure(Throwable failure) {
        if (failure instanceof TimeoutException) {
            return new S3Exception(S3Error.RequestTimeout, "the body stalled after "
                    + dataBytes + " bytes");
        }
        if (failure instanceof EofException) {
            return new S3Exception(S3Error.IncompleteBody, "the connection closed after "
                    + dataBytes + (expectedDataBytes >= 0 ? " of " + expectedDataBytes : "")
                    + " bytes");
        }
        return new S3Exception(S3Error.IncompleteBody, "the body failed after " + dataBytes
                + " bytes: " + failure);
    }
}
