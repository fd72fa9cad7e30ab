package io.basalt.s3.chunked;

import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.util.Objects;

/**
 * A blocking view of an {@link AwsChunkedDecoder}: reads the encoded body from {@code upstream}
 * and returns the decoded data. For blocking callers and tests; the gateway's non-blocking
 * path drives the decoder directly. Decoded data never outgrows the encoded bytes it came from,
 * so one buffer of each size is all the memory it holds.
 *
 * <p>{@code read} throws the decoder's {@link io.basalt.s3.S3Exception} (unchecked) for a bad
 * body, including IncompleteBody when upstream ends early; -1 comes only after the whole body
 * decoded and checked. Not thread-safe.
 */
public final class AwsChunkedInputStream extends InputStream {
    static final int BUFFER_SIZE_BYTES = 16 * 1024;

    private final InputStream upstream;
    private final AwsChunkedDecoder decoder;
    private final byte[] encoded = new byte[BUFFER_SIZE_BYTES];
    private final ByteBuffer decoded = ByteBuffer.allocate(BUFFER_SIZE_BYTES).flip();

    public AwsChunkedInputStream(InputStream upstream, AwsChunkedDecoder decoder) {
        this.upstream = Objects.requireNonNull(upstream, "upstream");
        this.decoder = Objects.requireNonNull(decoder, "decoder");
    }

    @Override
    public int read() throws IOException {
        byte[] one = new byte[1];
        int n = read(one, 0, 1);
        return n < 0 ? -1 : one[0] & 0xFF;
    }

    @Override
    public int read(byte[] buffer, int offset, int length) throws IOException {
        Objects.checkFromIndexSize(offset, length, buffer.length);
        if (length == 0) {
            return 0;
        }
        while (!decoded.hasRemaining()) {
            if (decoder.isDone()) {
                return -1;
            }
            int n = upstream.read(encoded, 0, encoded.length);
            if (n < 0) {
                decoder.finish();
                return -1;
            }
            decoded.clear();
            decoder.decode(ByteBuffer.wrap(encoded, 0, n), decoded::put);
            decoded.flip();
        }
        int n = Math.min(length, decoded.remaining());
        decoded.get(buffer, offset, n);
        return n;
    }

    @Override
    public int available() {
        return decoded.remaining();
    }

    /** The decoder, for its trailers once the stream is read to the end. */
    public AwsChunkedDecoder decoder() {
        return decoder;
    }

    @Override
    public void close() throws IOException {
        upstream.close();
    }
}
