package io.basalt.s3.gateway;

import io.basalt.client.object.BodyWriter;
import io.basalt.client.object.ObjectStore;
import io.basalt.client.object.ReadSink;
import io.basalt.meta.model.s3.ObjectVersion;
import io.basalt.s3.checksum.ChecksumAlgorithm;
import io.basalt.s3.checksum.StreamingChecksum;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import java.nio.ByteBuffer;
import java.util.EnumMap;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.util.Callback;

/**
 * Moving object bytes: a request body into a new body ({@link #receive}), a stored object (or a
 * range of it) into a new body ({@link #copy}: CopyObject and UploadPartCopy copy bytes, so the
 * copy owns its extents), and a stored object out to the client ({@link #send}). Each waits on
 * one write at a time, so none holds more than one buffer per request.
 */
final class BodyTransfers {
    /** A body written and finished, not yet committed: abort it if the commit fails. */
    record Received(BodyWriter writer, BodyWriter.Written written, String md5Hex,
            Map<String, String> checksums) {}

    private final Operations operations;

    BodyTransfers(Operations operations) {
        this.operations = operations;
    }

    /**
     * Streams the request body of a PutObject or UploadPart into a new body of {@code bucket},
     * checks it and finishes it.
     *
     * @param extraChecksum an algorithm to compute besides what the request asks (a multipart
     *     upload's), or null
     */
    Received receive(Exchange exchange, String bucket, ChecksumAlgorithm extraChecksum) {
        long contentLength = exchange.request.getHeaders().getLongField(
                HttpHeader.CONTENT_LENGTH);
        IncomingBody incoming = IncomingBody.of(exchange.authentication, exchange.headers,
                contentLength, S3Gateway.PUT_SIZE_BYTES_MAX);
        ObjectStore store = operations.store;
        BodyWriter writer = store.newBody(bucket, incoming.dataBytes);
        try {
            BodyUpload upload = new BodyUpload(exchange.request, writer, incoming.decoder,
                    incoming.dataBytes, S3Gateway.PUT_SIZE_BYTES_MAX,
                    incoming.newPayloadDigest(),
                    incoming.algorithmsToCompute(extraChecksum),
                    operations.config.limits().writeSizeBytes(),
                    PooledByteBufAllocator.DEFAULT, operations.metrics);
            BodyUpload.Result result = StoreErrors.await(upload.start());
            Map<String, String> checksums = incoming.verify(result);
            BodyWriter.Written written = StoreErrors.await(writer.finish());
            return new Received(writer, written, HexFormat.of().formatHex(result.md5()),
                    checksums);
        } catch (RuntimeException | Error e) {
            writer.abort();
            throw e;
        }
    }

    /**
     * Copies {@code length} bytes of {@code source} from {@code offset} into a new body of
     * {@code bucket}, computing its MD5 and {@code algorithms} on the way.
     */
    Received copy(ObjectVersion source, long offset, long length, String bucket,
            Set<ChecksumAlgorithm> algorithms) {
        BodyWriter writer = operations.store.newBody(bucket, length);
        try {
            StreamingChecksum md5 = ChecksumAlgorithm.newMd5();
            Map<ChecksumAlgorithm, StreamingChecksum> checksums =
                    new EnumMap<>(ChecksumAlgorithm.class);
            algorithms.forEach(algorithm -> checksums.put(algorithm, algorithm.newChecksum()));
            if (length > 0) {
                ReadSink sink = data -> {
                    try {
                        ByteBuffer view = data.nioBuffer();
                        md5.update(view.duplicate());
                        checksums.values().forEach(checksum -> checksum.update(
                                view.duplicate()));
                    } catch (RuntimeException e) {
                        data.release();
                        return CompletableFuture.failedFuture(e);
                    }
                    return writer.write(data); // the writer releases it
                };
                StoreErrors.await(operations.store.read(source, offset, length, sink));
            }
            BodyWriter.Written written = StoreErrors.await(writer.finish());
            Map<String, String> values = new LinkedHashMap<>();
            checksums.forEach((algorithm, checksum) -> values.put(algorithm.algorithmName(),
                    checksum.digestBase64()));
            return new Received(writer, written, HexFormat.of().formatHex(md5.digest()),
                    values);
        } catch (RuntimeException | Error e) {
            writer.abort();
            throw e;
        }
    }

    /**
     * Sends {@code length} bytes of {@code version} from {@code offset} as the response body
     * (headers already set), each piece written before the store reads the next.
     */
    void send(Exchange exchange, ObjectVersion version, long offset, long length) {
        Response response = exchange.response;
        GatewayMetrics metrics = operations.metrics;
        ReadSink sink = data -> {
            CompletableFuture<Void> written = new CompletableFuture<>();
            int bytes = data.readableBytes();
            ByteBuffer view;
            try {
                view = data.nioBufferCount() == 1 ? data.nioBuffer() : copyOf(data);
            } catch (RuntimeException e) {
                data.release();
                return CompletableFuture.failedFuture(e);
            }
            Callback completion = Callback.from(() -> {
                data.release();
                metrics.sentBytes.inc(bytes);
                written.complete(null);
            }, failure -> {
                data.release();
                written.completeExceptionally(failure);
            });
            try {
                response.write(false, view, completion);
            } catch (RuntimeException e) {
                completion.failed(e);
            }
            return written;
        };
        StoreErrors.await(operations.store.read(version, offset, length, sink));
        exchange.endStreamed();
    }

    private static ByteBuffer copyOf(ByteBuf data) {
        ByteBuffer copy = ByteBuffer.allocate(data.readableBytes());
        data.getBytes(data.readerIndex(), copy);
        return copy.flip();
    }
}
