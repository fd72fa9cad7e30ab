package io.basalt.s3.chunked;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.basalt.s3.RequestHeaders;
import io.basalt.s3.S3Error;
import io.basalt.s3.S3Exception;
import io.basalt.s3.auth.AuthTestSupport;
import io.basalt.s3.auth.Authentication;
import io.basalt.s3.auth.PayloadMode;
import io.basalt.s3.checksum.ChecksumAlgorithm;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The AWS examples decode at every input split; each malformed body is refused with its error.
 */
class AwsChunkedDecoderTest {
    private static final byte[] EXAMPLE_DATA = filled(66_560);
    private static final String CRC32C_HEADER = "x-amz-checksum-crc32c";

    @Test
    void awsStreamingExampleDecodesAtEverySplit() throws IOException {
        byte[] body = streamingExampleBody();
        for (int split : new int[] {1, 2, 7, 100, 4096, 65_599, body.length}) {
            AwsChunkedDecoder decoder = AwsChunkedDecoder.forRequest(
                    AuthTestSupport.streamingExample(), streamingHeaders());
            assertThat(decodeSplit(decoder, body, split)).isEqualTo(EXAMPLE_DATA);
            assertThat(decoder.isDone()).isTrue();
            assertThat(decoder.trailers()).isEmpty();
        }
        AwsChunkedDecoder decoder = AwsChunkedDecoder.forRequest(
                AuthTestSupport.streamingExample(), streamingHeaders());
        try (AwsChunkedInputStream in = new AwsChunkedInputStream(new ByteArrayInputStream(body),
                decoder)) {
            assertThat(in.readAllBytes()).isEqualTo(EXAMPLE_DATA);
            assertThat(in.read()).isEqualTo(-1);
        }
    }

    @Test
    void awsStreamingExampleWithAChangedByteIsRefused() {
        byte[] body = streamingExampleBody();
        byte[] changedData = body.clone();
        changedData[100 + 86] = 'b'; // inside the first chunk's data
        assertRefused(AuthTestSupport.streamingExample(), streamingHeaders(), changedData,
                S3Error.SignatureDoesNotMatch);
        byte[] changedSignature = new String(body, StandardCharsets.ISO_8859_1)
                .replace("0055627c", "0055627d").getBytes(StandardCharsets.ISO_8859_1);
        assertRefused(AuthTestSupport.streamingExample(), streamingHeaders(), changedSignature,
                S3Error.SignatureDoesNotMatch);
        byte[] noFinalChunk = Arrays.copyOf(body, body.length - 86);
        assertRefused(AuthTestSupport.streamingExample(), streamingHeaders(), noFinalChunk,
                S3Error.IncompleteBody);
    }

    @Test
    void awsTrailerExampleDecodesAndItsTrailerIsSigned() {
        byte[] body = trailerExampleBody(AuthTestSupport.trailerSignature(), "sOO8/Q==");
        for (int split : new int[] {1, 13, 8192, body.length}) {
            AwsChunkedDecoder decoder = AwsChunkedDecoder.forRequest(
                    AuthTestSupport.trailerExample(), trailerHeaders());
            assertThat(decodeSplit(decoder, body, split)).isEqualTo(EXAMPLE_DATA);
            assertThat(decoder.trailers()).containsExactly(java.util.Map.entry(CRC32C_HEADER,
                    "sOO8/Q=="));
        }
        assertRefused(AuthTestSupport.trailerExample(), trailerHeaders(),
                trailerExampleBody(AuthTestSupport.trailerSignature(), "sOO8/A=="),
                S3Error.SignatureDoesNotMatch);
        assertRefused(AuthTestSupport.trailerExample(), trailerHeaders(),
                trailerExampleBody(null, "sOO8/Q=="), S3Error.SignatureDoesNotMatch);
    }

    @Test
    void unsignedTrailerChecksumMustMatchTheData() {
        byte[] data = "hello, aws-chunked".getBytes(StandardCharsets.US_ASCII);
        String crc = crc32c(data);
        assertThat(decodeUnsigned(data, List.<String[]>of(new String[] {CRC32C_HEADER, crc})))
                .isEqualTo(data);
        assertUnsignedRefused(data, List.<String[]>of(new String[] {CRC32C_HEADER, "AAAAAA=="}),
                S3Error.BadDigest);
        assertUnsignedRefused(data, List.<String[]>of(new String[] {CRC32C_HEADER, "AAAA"}),
                S3Error.InvalidRequest);
        assertUnsignedRefused(data, List.of(), S3Error.MalformedTrailerError);
        assertUnsignedRefused(data, List.<String[]>of(new String[] {CRC32C_HEADER, crc},
                new String[] {"x-amz-checksum-crc32", "AAAAAA=="}), S3Error.MalformedTrailerError);
        assertUnsignedRefused(data, List.<String[]>of(new String[] {CRC32C_HEADER, crc},
                new String[] {CRC32C_HEADER, crc}), S3Error.MalformedTrailerError);
        assertUnsignedRefused(data, List.<String[]>of(new String[] {"no colon here", ""}),
                S3Error.MalformedTrailerError);
        assertUnsignedRefused(data, List.<String[]>of(new String[] {"x-amz-trailer-signature",
            "0".repeat(64)}), S3Error.MalformedTrailerError);
    }

    @Test
    void unsignedWithoutDeclaredTrailerEndsAfterTheFinalChunk() {
        byte[] body = "5\r\nhello\r\n0\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
        AwsChunkedDecoder decoder = new AwsChunkedDecoder(
                PayloadMode.STREAMING_UNSIGNED_TRAILER, null, 5, null);
        assertThat(decodeSplit(decoder, body, 3)).isEqualTo("hello".getBytes());
        byte[] withExtension = "5;ext=1\r\nhello\r\n0\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
        assertThat(decodeSplit(new AwsChunkedDecoder(PayloadMode.STREAMING_UNSIGNED_TRAILER,
                null, 5, null), withExtension, 4)).isEqualTo("hello".getBytes());
    }

    @Test
    void framingErrorsAreInvalidRequest() {
        assertFramingRefused("5\r\nhello\r\n0\r\n\r\nextra", 5, S3Error.InvalidRequest);
        assertFramingRefused("5\nhello\r\n0\r\n\r\n", 5, S3Error.InvalidRequest);
        assertFramingRefused("5\rxhello\r\n0\r\n\r\n", 5, S3Error.InvalidRequest);
        assertFramingRefused("5\r\nhelloXX0\r\n\r\n", 5, S3Error.InvalidRequest);
        assertFramingRefused("g\r\nhello\r\n0\r\n\r\n", 5, S3Error.InvalidRequest);
        assertFramingRefused("\r\nhello\r\n0\r\n\r\n", 5, S3Error.InvalidRequest);
        assertFramingRefused("10000000000000000\r\n", 5, S3Error.InvalidRequest);
        assertFramingRefused("ffffffffffffffff\r\n", 5, S3Error.InvalidRequest);
        assertFramingRefused("0".repeat(AwsChunkedDecoder.LINE_LENGTH_BYTES_MAX + 1), 5,
                S3Error.InvalidRequest);
        assertFramingRefused("6\r\nhello!\r\n0\r\n\r\n", 5, S3Error.InvalidRequest);
        assertFramingRefused("4\r\nhell\r\n0\r\n\r\n", 5, S3Error.IncompleteBody);
        assertFramingRefused("5\r\nhello\r\n0\r\n", 5, S3Error.IncompleteBody);
        assertFramingRefused("5\r\nhel", 5, S3Error.IncompleteBody);
        assertFramingRefused("", 5, S3Error.IncompleteBody);
        // Trailers need a -TRAILER payload mode.
        byte[] body = "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n"
                .getBytes(StandardCharsets.US_ASCII);
        byte[] signed = ChunkedBodies.encode("hello".getBytes(), List.of(5),
                ChunkedBodies.signingKey(AuthTestSupport.secret(), "20130524", "us-east-1"),
                AuthTestSupport.streamingExample().signature(), "20130524T000000Z",
                "20130524/us-east-1/s3/aws4_request", List.<String[]>of(new String[] {
                    "x-amz-checksum-crc32", "AAAAAA=="}));
        AwsChunkedDecoder decoder = new AwsChunkedDecoder(PayloadMode.STREAMING_SIGNED,
                AuthTestSupport.streamingExample().newChunkSignatureChain(), 5, null);
        assertThatThrownBy(() -> decoder.decode(ByteBuffer.wrap(signed), data -> { }))
                .isInstanceOfSatisfying(S3Exception.class, e -> assertThat(e.error())
                        .isEqualTo(S3Error.InvalidRequest));
        assertThat(body).isNotEmpty();
    }

    @Test
    void signedChunksNeedTheirSignature() {
        byte[] body = "5\r\nhello\r\n0\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
        AwsChunkedDecoder decoder = new AwsChunkedDecoder(PayloadMode.STREAMING_SIGNED,
                AuthTestSupport.streamingExample().newChunkSignatureChain(), 5, null);
        assertThatThrownBy(() -> decoder.decode(ByteBuffer.wrap(body), data -> { }))
                .isInstanceOfSatisfying(S3Exception.class, e -> {
                    assertThat(e.error()).isEqualTo(S3Error.InvalidRequest);
                    assertThat(e.getMessage()).contains("chunk-signature");
                });
        assertThatThrownBy(() -> decoder.decode(ByteBuffer.wrap(body), data -> { }))
                .isInstanceOf(IllegalStateException.class);
    }

    @Test
    void requestHeadersAreChecked() {
        Authentication streaming = AuthTestSupport.streamingExample();
        assertHeadersRefused(streaming, RequestHeaders.empty(), S3Error.MissingContentLength);
        assertHeadersRefused(streaming, RequestHeaders.of("x-amz-decoded-content-length", "-1"),
                S3Error.InvalidArgument);
        assertHeadersRefused(streaming, RequestHeaders.of("x-amz-decoded-content-length", "1",
                "x-amz-trailer", "x-amz-checksum-crc32c"), S3Error.InvalidRequest);
        assertHeadersRefused(AuthTestSupport.trailerExample(), RequestHeaders.of(
                "x-amz-decoded-content-length", "1", "x-amz-trailer", "x-amz-meta-a"),
                S3Error.InvalidRequest);
        assertThatThrownBy(() -> new AwsChunkedDecoder(PayloadMode.UNSIGNED, null, 0, null))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new AwsChunkedDecoder(PayloadMode.STREAMING_SIGNED, null, 0,
                null)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void inputStreamReportsATruncatedBodyAndReadsByteByByte() throws IOException {
        byte[] body = "5\r\nhello\r\n0\r\n\r\n".getBytes(StandardCharsets.US_ASCII);
        AwsChunkedInputStream whole = new AwsChunkedInputStream(new ByteArrayInputStream(body),
                new AwsChunkedDecoder(PayloadMode.STREAMING_UNSIGNED_TRAILER, null, 5, null));
        StringBuilder text = new StringBuilder();
        for (int b = whole.read(); b >= 0; b = whole.read()) {
            text.append((char) b);
        }
        assertThat(text.toString()).isEqualTo("hello");
        assertThat(whole.decoder().isDone()).isTrue();
        assertThat(whole.read(new byte[4], 0, 0)).isZero();
        AwsChunkedInputStream truncated = new AwsChunkedInputStream(new ByteArrayInputStream(
                Arrays.copyOf(body, 12)), new AwsChunkedDecoder(
                        PayloadMode.STREAMING_UNSIGNED_TRAILER, null, 5, null));
        assertThatThrownBy(truncated::readAllBytes).isInstanceOfSatisfying(S3Exception.class,
                e -> assertThat(e.error()).isEqualTo(S3Error.IncompleteBody));
    }

    static byte[] decodeSplit(AwsChunkedDecoder decoder, byte[] body, int split) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (int offset = 0; offset < body.length; offset += split) {
            ByteBuffer piece = ByteBuffer.wrap(body, offset, Math.min(split, body.length
                    - offset));
            decoder.decode(piece, data -> {
                byte[] bytes = new byte[data.remaining()];
                data.get(bytes);
                out.writeBytes(bytes);
            });
            assertThat(piece.hasRemaining()).isFalse();
        }
        decoder.finish();
        return out.toByteArray();
    }

    private static byte[] streamingExampleBody() {
        String[] signatures = AuthTestSupport.streamingChunkSignatures();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(("10000;chunk-signature=" + signatures[0] + "\r\n").getBytes());
        out.write(EXAMPLE_DATA, 0, 65_536);
        out.writeBytes(("\r\n400;chunk-signature=" + signatures[1] + "\r\n").getBytes());
        out.write(EXAMPLE_DATA, 65_536, 1024);
        out.writeBytes(("\r\n0;chunk-signature=" + signatures[2] + "\r\n\r\n").getBytes());
        assertThat(out.size()).isEqualTo(66_824); // the example's Content-Length
        return out.toByteArray();
    }

    private static byte[] trailerExampleBody(String trailerSignature, String crc) {
        String[] signatures = AuthTestSupport.trailerChunkSignatures();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(("10000;chunk-signature=" + signatures[0] + "\r\n").getBytes());
        out.write(EXAMPLE_DATA, 0, 65_536);
        out.writeBytes(("\r\n400;chunk-signature=" + signatures[1] + "\r\n").getBytes());
        out.write(EXAMPLE_DATA, 65_536, 1024);
        out.writeBytes(("\r\n0;chunk-signature=" + signatures[2] + "\r\n").getBytes());
        out.writeBytes(("x-amz-checksum-crc32c:" + crc + "\r\n").getBytes());
        if (trailerSignature != null) {
            out.writeBytes(("x-amz-trailer-signature:" + trailerSignature + "\r\n").getBytes());
        }
        out.writeBytes("\r\n".getBytes());
        return out.toByteArray();
    }

    private static RequestHeaders streamingHeaders() {
        return RequestHeaders.of("x-amz-decoded-content-length", "66560");
    }

    private static RequestHeaders trailerHeaders() {
        return RequestHeaders.of("x-amz-decoded-content-length", "66560", "x-amz-trailer",
                CRC32C_HEADER);
    }

    private static byte[] decodeUnsigned(byte[] data, List<String[]> trailers) {
        byte[] body = ChunkedBodies.encode(data, List.of(3, data.length - 3), null, null, null,
                null, trailers);
        AwsChunkedDecoder decoder = new AwsChunkedDecoder(PayloadMode.STREAMING_UNSIGNED_TRAILER,
                null, data.length, ChecksumAlgorithm.CRC32C);
        return decodeSplit(decoder, body, 5);
    }

    private static void assertUnsignedRefused(byte[] data, List<String[]> trailers,
            S3Error error) {
        assertThatThrownBy(() -> decodeUnsigned(data, trailers))
                .isInstanceOfSatisfying(S3Exception.class, e -> assertThat(e.error())
                        .as(e.toString()).isEqualTo(error));
    }

    private static void assertFramingRefused(String body, long decodedLength, S3Error error) {
        AwsChunkedDecoder decoder = new AwsChunkedDecoder(PayloadMode.STREAMING_UNSIGNED_TRAILER,
                null, decodedLength, null);
        assertThatThrownBy(() -> decodeSplit(decoder, body.getBytes(StandardCharsets.US_ASCII),
                2)).as(body).isInstanceOfSatisfying(S3Exception.class, e -> assertThat(e.error())
                        .as(e.toString()).isEqualTo(error));
    }

    private static void assertRefused(Authentication auth, RequestHeaders headers, byte[] body,
            S3Error error) {
        AwsChunkedDecoder decoder = AwsChunkedDecoder.forRequest(auth, headers);
        assertThatThrownBy(() -> decodeSplit(decoder, body, 4096))
                .isInstanceOfSatisfying(S3Exception.class, e -> assertThat(e.error())
                        .as(e.toString()).isEqualTo(error));
    }

    private static void assertHeadersRefused(Authentication auth, RequestHeaders headers,
            S3Error error) {
        assertThatThrownBy(() -> AwsChunkedDecoder.forRequest(auth, headers))
                .isInstanceOfSatisfying(S3Exception.class, e -> assertThat(e.error())
                        .as(e.toString()).isEqualTo(error));
    }

    static String crc32c(byte[] data) {
        var crc = ChecksumAlgorithm.CRC32C.newChecksum();
        crc.update(data, 0, data.length);
        return crc.digestBase64();
    }

    private static byte[] filled(int length) {
        byte[] data = new byte[length];
        Arrays.fill(data, (byte) 'a');
        return data;
    }
}
