package io.basalt.s3.chunked;

import io.basalt.s3.RequestHeaders;
import io.basalt.s3.S3Error;
import io.basalt.s3.S3Exception;
import io.basalt.s3.auth.Authentication;
import io.basalt.s3.auth.ChunkSignatureChain;
import io.basalt.s3.auth.PayloadMode;
import io.basalt.s3.checksum.ChecksumAlgorithm;
import io.basalt.s3.checksum.StreamingChecksum;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Decodes a {@code Content-Encoding: aws-chunked} body (S3 API reference, "Signature
 * Calculations for the Authorization Header: Transferring Payload in Multiple Chunks" and
 * "... Including Trailing Headers"):
 * <pre>
 * chunk   = hex-size [";chunk-signature=" 64hex] CRLF data CRLF    (repeated)
 * final   = "0" [";chunk-signature=" 64hex] CRLF
 * trailer = *(name ":" value CRLF) ["x-amz-trailer-signature:" 64hex CRLF]
 * end     = CRLF
 * </pre>
 * Chunk signatures are required with {@link PayloadMode#STREAMING_SIGNED} and
 * {@link PayloadMode#STREAMING_SIGNED_TRAILER} and chain from the request's seed signature
 * (see {@link ChunkSignatureChain}); {@link PayloadMode#STREAMING_UNSIGNED_TRAILER} has none
 * (chunk extensions are then ignored, as RFC 7230 says of unknown ones). Trailers are allowed
 * only in the trailer modes; a signed trailer must end with its signature.
 *
 * <p>Design note: push-style. The HTTP server hands over body bytes as they arrive (Jetty 12's
 * {@code Content.Source} demand model, Netty's {@code channelRead}), so the decoder is a state
 * machine fed with whatever buffer arrived, and it never blocks or asks for more; a blocking
 * caller wraps it in {@link AwsChunkedInputStream}. Memory is bounded: data bytes go to the
 * {@link DataSink} as slices of the input buffer, never copied; only one line (a chunk header
 * or a trailer) is held, at most {@link #LINE_LENGTH_BYTES_MAX} bytes.
 *
 * <p>A chunk's signature is in its own header but covers its data, so the data reaches the sink
 * before its signature is checked: the caller must not commit anything until {@link #finish()}
 * returns. Every other check happens as early as the bytes allow.
 *
 * <p>Errors, all as {@link S3Exception}: framing (bad size, missing CRLF, overlong line, bytes
 * after the end) is InvalidRequest; chunks adding up to more than
 * {@code x-amz-decoded-content-length} is InvalidRequest, fewer is IncompleteBody, and so is a
 * body that ends early; a chunk or trailer signature that does not verify is
 * SignatureDoesNotMatch; trailers not as declared by {@code x-amz-trailer} are
 * MalformedTrailerError; a trailing checksum that does not match the data is BadDigest. After
 * an error the decoder is spent.
 *
 * <p>Not thread-safe: one decoder per request body, driven by one thread at a time.
 */
public final class AwsChunkedDecoder {
    /**
     * Longest chunk-header or trailer line, CRLF excluded. The longest legitimate ones are
     * about 100 bytes: 16 hex digits plus {@code ;chunk-signature=} and 64 hex digits, or
     * {@code x-amz-trailer-signature:} and 64 hex digits.
     */
    public static final int LINE_LENGTH_BYTES_MAX = 256;
    /** Most trailing headers accepted: clients send one checksum and the signature. */
    public static final int TRAILER_COUNT_MAX = 8;

    static final String DECODED_LENGTH_HEADER = "x-amz-decoded-content-length";
    private static final String SIGNATURE_EXTENSION = "chunk-signature=";
    private static final String TRAILER_SIGNATURE = "x-amz-trailer-signature";

    /** Receives decoded data. */
    @FunctionalInterface
    public interface DataSink {
        /**
         * Data of the body, in order. {@code data} is a slice of the decoder's input, valid only
         * during the call: copy or consume it before returning.
         */
        void onData(ByteBuffer data);
    }

    private enum State { SIZE_LINE, DATA, DATA_CR, DATA_LF, TRAILER_LINE, DONE, FAILED }

    private final PayloadMode mode;
    private final ChunkSignatureChain chain;
    private final long decodedLengthBytes;
    private final ChecksumAlgorithm trailerChecksumAlgorithm;
    private final StreamingChecksum trailerChecksum;

    private final byte[] line = new byte[LINE_LENGTH_BYTES_MAX];
    private int lineLengthBytes;
    private boolean lineSawCr;

    private State state = State.SIZE_LINE;
    private long chunkRemainingBytes;
    private String chunkSignature;
    private long decodedSoFarBytes;
    private final Map<String, String> trailers = new LinkedHashMap<>();
    private String trailerSignature;

    /**
     * @param mode a streaming payload mode
     * @param chain the signature chain for the signed modes, null for the unsigned one
     * @param decodedLengthBytes {@code x-amz-decoded-content-length}
     * @param trailerChecksumAlgorithm the checksum declared in {@code x-amz-trailer}, or null:
     *     it must then arrive as a trailer and match the data
     */
    public AwsChunkedDecoder(PayloadMode mode, ChunkSignatureChain chain,
            long decodedLengthBytes, ChecksumAlgorithm trailerChecksumAlgorithm) {
        if (!mode.isStreaming()) {
            throw new IllegalArgumentException("payload mode " + mode + " is not aws-chunked");
        }
        if (mode.hasChunkSignatures() != (chain != null)) {
            throw new IllegalArgumentException("payload mode " + mode
                    + (chain == null ? " needs" : " takes no") + " signature chain");
        }
        if (trailerChecksumAlgorithm != null && !mode.hasTrailer()) {
            throw new IllegalArgumentException("payload mode " + mode + " has no trailer");
        }
        if (decodedLengthBytes < 0) {
            throw new IllegalArgumentException("decoded length " + decodedLengthBytes);
        }
        this.mode = mode;
        this.chain = chain;
        this.decodedLengthBytes = decodedLengthBytes;
        this.trailerChecksumAlgorithm = trailerChecksumAlgorithm;
        this.trailerChecksum = trailerChecksumAlgorithm == null ? null
                : trailerChecksumAlgorithm.newChecksum();
    }

    /**
     * The decoder for an authenticated streaming request, from its {@code
     * x-amz-decoded-content-length} and {@code x-amz-trailer} headers.
     *
     * @throws S3Exception MissingContentLength without x-amz-decoded-content-length,
     *     InvalidArgument when it is not a number, InvalidRequest for an x-amz-trailer that is
     *     not a checksum header or is sent without a trailer payload mode
     */
    public static AwsChunkedDecoder forRequest(Authentication authentication,
            RequestHeaders headers) {
        PayloadMode mode = authentication.payloadMode();
        if (!mode.isStreaming()) {
            throw new IllegalArgumentException("payload mode " + mode + " is not aws-chunked");
        }
        String decodedLength = headers.first(DECODED_LENGTH_HEADER);
        if (decodedLength == null) {
            throw new S3Exception(S3Error.MissingContentLength,
                    "aws-chunked uploads need the x-amz-decoded-content-length header");
        }
        long decodedLengthBytes = parseDecimal(decodedLength.strip());
        if (decodedLengthBytes < 0) {
            throw new S3Exception(S3Error.InvalidArgument, "x-amz-decoded-content-length \""
                    + decodedLength + "\" is not a number of bytes");
        }
        ChecksumAlgorithm checksum = null;
        String trailer = headers.first(ChecksumAlgorithm.TRAILER_HEADER);
        if (trailer != null) {
            checksum = ChecksumAlgorithm.fromHeaderName(trailer.strip());
            if (checksum == null) {
                throw new S3Exception(S3Error.InvalidRequest, "x-amz-trailer \"" + trailer
                        + "\" is not an x-amz-checksum-* header");
            }
            if (!mode.hasTrailer()) {
                if (headers.first(checksum.headerName()) == null) {
                    throw new S3Exception(S3Error.InvalidRequest, "x-amz-trailer needs"
                            + " x-amz-content-sha256 STREAMING-UNSIGNED-PAYLOAD-TRAILER or"
                            + " STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER");
                }
                // The AWS SDK for Java v2 (2.59) given a precomputed checksum (checksumSHA256
                // with checksumAlgorithm) sends it as a header with a trailer-less streaming
                // payload, yet still names it in x-amz-trailer. The body holds no trailer and
                // the header carries the value, so the header is what is checked; S3 takes it.
                checksum = null;
            }
        }
        return new AwsChunkedDecoder(mode, mode.hasChunkSignatures()
                ? authentication.newChunkSignatureChain() : null, decodedLengthBytes, checksum);
    }

    /**
     * Decodes all of {@code input} (its position moves to its limit), handing data to
     * {@code sink}.
     *
     * @throws S3Exception when the body is malformed or a signature does not verify
     */
    public void decode(ByteBuffer input, DataSink sink) {
        Objects.requireNonNull(sink, "sink");
        if (state == State.FAILED) {
            throw new IllegalStateException("decoder failed before; it cannot go on");
        }
        try {
            while (input.hasRemaining()) {
                switch (state) {
                    case SIZE_LINE, TRAILER_LINE -> {
                        if (readLine(input)) {
                            String text = new String(line, 0, lineLengthBytes,
                                    StandardCharsets.ISO_8859_1);
                            lineLengthBytes = 0;
                            if (state == State.SIZE_LINE) {
                                onSizeLine(text);
                            } else {
                                onTrailerLine(text);
                            }
                        }
                    }
                    case DATA -> passData(input, sink);
                    case DATA_CR -> expect(input, (byte) '\r', State.DATA_LF);
                    case DATA_LF -> {
                        expect(input, (byte) '\n', State.SIZE_LINE);
                        endChunk();
                    }
                    case DONE -> throw framing(input.remaining()
                            + " bytes after the end of the aws-chunked body");
                    case FAILED -> throw new AssertionError("unreachable");
                }
            }
        } catch (RuntimeException e) {
            state = State.FAILED;
            throw e;
        }
    }

    /**
     * Ends the body: the input is over.
     *
     * @throws S3Exception IncompleteBody when the body stopped before its end
     */
    public void finish() {
        if (state != State.DONE) {
            State was = state;
            state = State.FAILED;
            throw new S3Exception(S3Error.IncompleteBody, "the aws-chunked body ended early ("
                    + was + ") after " + decodedSoFarBytes + " of " + decodedLengthBytes
                    + " data bytes");
        }
    }

    /** Whether the whole body has been decoded and checked. */
    public boolean isDone() {
        return state == State.DONE;
    }

    /** Data bytes decoded so far. */
    public long decodedBytes() {
        return decodedSoFarBytes;
    }

    /** The trailing headers received (lowercase names), without the trailer signature. */
    public Map<String, String> trailers() {
        return Collections.unmodifiableMap(trailers);
    }

    /** Reads line bytes; true when a whole line (without CRLF) is in {@link #line}. */
    private boolean readLine(ByteBuffer input) {
        while (input.hasRemaining()) {
            byte b = input.get();
            if (lineSawCr) {
                if (b != '\n') {
                    throw framing("a carriage return not followed by a line feed in a chunk"
                            + " header or trailer");
                }
                lineSawCr = false;
                return true;
            }
            if (b == '\r') {
                lineSawCr = true;
            } else if (b == '\n') {
                throw framing("a bare line feed ends a chunk header or trailer line");
            } else {
                if (lineLengthBytes == LINE_LENGTH_BYTES_MAX) {
                    throw framing("a chunk header or trailer line is longer than "
                            + LINE_LENGTH_BYTES_MAX + " bytes");
                }
                line[lineLengthBytes++] = b;
            }
        }
        return false;
    }

    private void onSizeLine(String text) {
        int semicolon = text.indexOf(';');
        String hexSize = semicolon < 0 ? text : text.substring(0, semicolon);
        long size = parseHex(hexSize);
        if (size < 0) {
            throw framing("chunk size \"" + hexSize + "\" is not 1 to 16 hex digits");
        }
        if (mode.hasChunkSignatures()) {
            String extension = semicolon < 0 ? "" : text.substring(semicolon + 1);
            if (!extension.startsWith(SIGNATURE_EXTENSION)
                    || extension.length() != SIGNATURE_EXTENSION.length() + 64) {
                throw framing("chunk header \"" + text + "\" lacks chunk-signature=<64 hex>");
            }
            chunkSignature = extension.substring(SIGNATURE_EXTENSION.length());
        }
        if (size > decodedLengthBytes - decodedSoFarBytes) {
            throw framing("chunks carry more than the x-amz-decoded-content-length of "
                    + decodedLengthBytes + " bytes (" + (decodedSoFarBytes + size) + " so far)");
        }
        if (size == 0) {
            endChunk();
            if (decodedSoFarBytes != decodedLengthBytes) {
                throw new S3Exception(S3Error.IncompleteBody, "chunks carry "
                        + decodedSoFarBytes + " bytes, x-amz-decoded-content-length says "
                        + decodedLengthBytes);
            }
            state = State.TRAILER_LINE;
            return;
        }
        chunkRemainingBytes = size;
        state = State.DATA;
    }

    private void passData(ByteBuffer input, DataSink sink) {
        int length = (int) Math.min(chunkRemainingBytes, input.remaining());
        ByteBuffer data = input.slice(input.position(), length);
        if (chain != null) {
            chain.update(data.duplicate());
        }
        if (trailerChecksum != null) {
            trailerChecksum.update(data.duplicate());
        }
        input.position(input.position() + length);
        chunkRemainingBytes -= length;
        decodedSoFarBytes += length;
        sink.onData(data);
        if (chunkRemainingBytes == 0) {
            state = State.DATA_CR;
        }
    }

    private void expect(ByteBuffer input, byte expected, State next) {
        byte b = input.get();
        if (b != expected) {
            throw framing("chunk data is not followed by CRLF");
        }
        state = next;
    }

    private void endChunk() {
        if (chain != null && !chain.endChunk(chunkSignature)) {
            throw new S3Exception(S3Error.SignatureDoesNotMatch, "the chunk signature ending at"
                    + " data byte " + decodedSoFarBytes + " does not match");
        }
    }

    private void onTrailerLine(String text) {
        if (text.isEmpty()) {
            endTrailer();
            state = State.DONE;
            return;
        }
        if (!mode.hasTrailer()) {
            throw framing("the final chunk is followed by \"" + abbreviate(text)
                    + "\"; trailers need a -TRAILER x-amz-content-sha256");
        }
        if (trailerSignature != null) {
            throw new S3Exception(S3Error.MalformedTrailerError,
                    "a trailer follows x-amz-trailer-signature");
        }
        int colon = text.indexOf(':');
        if (colon <= 0) {
            throw new S3Exception(S3Error.MalformedTrailerError, "trailer \"" + abbreviate(text)
                    + "\" is not name:value");
        }
        String name = text.substring(0, colon).strip().toLowerCase(Locale.ROOT);
        String value = text.substring(colon + 1).strip();
        if (name.equals(TRAILER_SIGNATURE)) {
            if (!mode.hasChunkSignatures()) {
                throw new S3Exception(S3Error.MalformedTrailerError,
                        "x-amz-trailer-signature in an unsigned upload");
            }
            trailerSignature = value;
            return;
        }
        if (trailers.size() == TRAILER_COUNT_MAX || trailers.containsKey(name)) {
            throw new S3Exception(S3Error.MalformedTrailerError, "trailer \"" + name
                    + "\" repeated or more than " + TRAILER_COUNT_MAX + " trailers");
        }
        if (trailerChecksumAlgorithm == null
                || !name.equals(trailerChecksumAlgorithm.headerName())) {
            throw new S3Exception(S3Error.MalformedTrailerError, "trailer \"" + name
                    + "\" was not declared in x-amz-trailer");
        }
        trailers.put(name, value);
    }

    private void endTrailer() {
        if (mode == PayloadMode.STREAMING_SIGNED_TRAILER) {
            if (trailerSignature == null) {
                throw new S3Exception(S3Error.SignatureDoesNotMatch,
                        "the trailer has no x-amz-trailer-signature");
            }
            StringBuilder canonical = new StringBuilder();
            trailers.forEach((name, value) -> canonical.append(name).append(':').append(value)
                    .append('\n'));
            if (!chain.verifyTrailer(canonical.toString(), trailerSignature)) {
                throw new S3Exception(S3Error.SignatureDoesNotMatch,
                        "the trailer signature does not match");
            }
        }
        if (trailerChecksumAlgorithm != null) {
            String claimed = trailers.get(trailerChecksumAlgorithm.headerName());
            if (claimed == null) {
                throw new S3Exception(S3Error.MalformedTrailerError, "the trailer "
                        + trailerChecksumAlgorithm.headerName()
                        + " declared in x-amz-trailer is missing");
            }
            if (!trailerChecksumAlgorithm.isWellFormed(claimed)) {
                throw new S3Exception(S3Error.InvalidRequest, "value for "
                        + trailerChecksumAlgorithm.headerName() + " trailing header is invalid");
            }
            String computed = trailerChecksum.digestBase64();
            if (!computed.equals(claimed)) {
                throw new S3Exception(S3Error.BadDigest, "the " + trailerChecksumAlgorithm
                        .algorithmName() + " you specified (" + claimed
                        + ") did not match the data (" + computed + ")");
            }
        }
    }

    private static S3Exception framing(String message) {
        return new S3Exception(S3Error.InvalidRequest, message);
    }

    private static String abbreviate(String text) {
        return text.length() <= 40 ? text : text.substring(0, 40) + "...";
    }

    /** 1 to 16 hex digits as an unsigned value that fits a long, or -1. */
    static long parseHex(String text) {
        if (text.isEmpty() || text.length() > 16) {
            return -1;
        }
        long value = 0;
        for (int i = 0; i < text.length(); i++) {
            int digit = Character.digit(text.charAt(i), 16);
            if (digit < 0) {
                return -1;
            }
            value = value << 4 | digit;
        }
        return value < 0 ? -1 : value;
    }

    /** 1 to 18 decimal digits, or -1. */
    static long parseDecimal(String text) {
        if (text.isEmpty() || text.length() > 18) {
            return -1;
        }
        long value = 0;
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c < '0' || c > '9') {
                return -1;
            }
            value = value * 10 + (c - '0');
        }
        return value;
    }
}
