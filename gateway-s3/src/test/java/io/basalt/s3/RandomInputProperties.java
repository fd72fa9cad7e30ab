package io.basalt.s3;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.s3.auth.AuthorizationHeader;
import io.basalt.s3.auth.PayloadMode;
import io.basalt.s3.chunked.AwsChunkedDecoder;
import io.basalt.s3.checksum.ChecksumAlgorithm;
import io.basalt.s3.route.CopySource;
import io.basalt.s3.route.S3Router;
import io.basalt.s3.xml.RequestXml;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Set;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.Size;

/**
 * Random input to every parser gives a result or an {@link S3Exception}, never another
 * exception: a bad request must map to an S3 error, not a 500.
 */
class RandomInputProperties {
    private static final S3Router ROUTER = new S3Router(Set.of("s3.example.com"));

    @Provide
    Arbitrary<String> protocolTexts() {
        return Arbitraries.strings().withChars("aZ09 -_./%+=&?;:,\"*\\<>\r\n\t\u00e9")
                .withChars("0123456789abcdefABCDEF%").ofMaxLength(60);
    }

    @Property(tries = 500)
    void chunkedBodiesGiveDataOrS3Errors(@ForAll @Size(max = 200) byte[] body,
            @ForAll boolean withChunkPrefix) {
        byte[] input = withChunkPrefix ? concat("a\r\n0123456789\r\n".getBytes(
                StandardCharsets.US_ASCII), body) : body;
        AwsChunkedDecoder decoder = new AwsChunkedDecoder(PayloadMode.STREAMING_UNSIGNED_TRAILER,
                null, 10, ChecksumAlgorithm.CRC32);
        onlyS3Errors(() -> {
            decoder.decode(ByteBuffer.wrap(input), data -> data.position(data.limit()));
            decoder.finish();
        });
    }

    @Property(tries = 300)
    void xmlBodiesGiveResultsOrS3Errors(@ForAll @Size(max = 300) byte[] noise,
            @ForAll("protocolTexts") String text) {
        byte[] xml = ("<Delete><Object><Key>" + text + "</Key></Object></Delete>")
                .getBytes(StandardCharsets.UTF_8);
        for (byte[] body : new byte[][] {noise, xml}) {
            onlyS3Errors(() -> RequestXml.parseDelete(body));
            onlyS3Errors(() -> RequestXml.parseCompleteMultipartUpload(body));
            onlyS3Errors(() -> RequestXml.parseTagging(body, 10));
            onlyS3Errors(() -> RequestXml.parseVersioningConfiguration(body));
            onlyS3Errors(() -> RequestXml.parseCreateBucketConfiguration(body));
        }
    }

    @Property(tries = 500)
    void headersPathsAndQueriesGiveResultsOrS3Errors(@ForAll("protocolTexts") String text,
            @ForAll("protocolTexts") String other) {
        onlyS3Errors(() -> QueryParameters.parse(text));
        onlyS3Errors(() -> UriEncoding.decodePath(text));
        onlyS3Errors(() -> ROUTER.route("PUT", other, "/" + text, QueryParameters.parse(other),
                RequestHeaders.of("x-amz-copy-source", text)));
        onlyS3Errors(() -> CopySource.parse(text));
        onlyS3Errors(() -> AuthorizationHeader.parse("AWS4-HMAC-SHA256 " + text));
        onlyS3Errors(() -> RangeHeader.resolve("bytes=" + text, 100));
        onlyS3Errors(() -> RangeHeader.parseCopySourceRange(text, 100));
        onlyS3Errors(() -> BucketNames.validate(text));
        assertThat(HttpDates.parseHttpDate(text) == null || text.contains("GMT")
                || text.length() > 20).isTrue();
    }

    private static void onlyS3Errors(Runnable action) {
        try {
            action.run();
        } catch (S3Exception e) {
            assertThat(e.error()).isNotNull();
            assertThat(e.getMessage()).isNotBlank();
        }
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] out = new byte[a.length + b.length];
        System.arraycopy(a, 0, out, 0, a.length);
        System.arraycopy(b, 0, out, a.length, b.length);
        return out;
    }
}
