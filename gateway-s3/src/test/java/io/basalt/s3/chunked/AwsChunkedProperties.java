package io.basalt.s3.chunked;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.s3.S3Exception;
import io.basalt.s3.auth.AuthTestSupport;
import io.basalt.s3.auth.Authentication;
import io.basalt.s3.auth.PayloadMode;
import io.basalt.s3.checksum.ChecksumAlgorithm;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

/**
 * Bodies written by {@link ChunkedBodies} with random data, chunk sizes and input splits decode
 * to their data in every mode; with one byte changed anywhere they either are refused with an
 * S3 error or (a hex digit changing case, say) still decode to exactly the same data.
 */
class AwsChunkedProperties {
    private static final String AMZ_DATE = "20130524T000000Z";
    private static final String SCOPE = "20130524/us-east-1/s3/aws4_request";

    @Provide
    Arbitrary<PayloadMode> modes() {
        return Arbitraries.of(PayloadMode.STREAMING_SIGNED, PayloadMode.STREAMING_SIGNED_TRAILER,
                PayloadMode.STREAMING_UNSIGNED_TRAILER);
    }

    @Property(tries = 200)
    void bodiesRoundTrip(@ForAll("modes") PayloadMode mode, @ForAll @Size(max = 3000) byte[] data,
            @ForAll long seed, @ForAll @IntRange(min = 1, max = 700) int split) {
        Random random = new Random(seed);
        byte[] body = encode(mode, data, chunkSizes(data.length, random));
        byte[] decoded = AwsChunkedDecoderTest.decodeSplit(decoder(mode, data.length), body,
                split);
        assertThat(decoded).isEqualTo(data);
    }

    @Property(tries = 400)
    void anyChangedByteIsRefusedOrHarmless(@ForAll("modes") PayloadMode mode,
            @ForAll @Size(min = 1, max = 2000) byte[] data, @ForAll long seed,
            @ForAll @IntRange(min = 1, max = 500) int split) {
        Random random = new Random(seed);
        byte[] body = encode(mode, data, chunkSizes(data.length, random));
        int at = random.nextInt(body.length);
        body[at] ^= (byte) (1 + random.nextInt(255));
        byte[] decoded;
        try {
            decoded = AwsChunkedDecoderTest.decodeSplit(decoder(mode, data.length), body, split);
        } catch (S3Exception e) {
            return; // refused: the expected outcome
        }
        assertThat(decoded).as("a changed byte at %d was accepted", at).isEqualTo(data);
    }

    private static List<Integer> chunkSizes(int length, Random random) {
        List<Integer> sizes = new ArrayList<>();
        int left = length;
        while (left > 0) {
            int size = 1 + random.nextInt(Math.min(left, 1 + random.nextInt(1024)));
            sizes.add(size);
            left -= size;
        }
        return sizes;
    }

    private static byte[] encode(PayloadMode mode, byte[] data, List<Integer> chunkSizes) {
        List<String[]> trailers = mode.hasTrailer() ? List.<String[]>of(new String[] {
            "x-amz-checksum-crc32c", AwsChunkedDecoderTest.crc32c(data)}) : null;
        if (!mode.hasChunkSignatures()) {
            return ChunkedBodies.encode(data, chunkSizes, null, null, AMZ_DATE, SCOPE, trailers);
        }
        return ChunkedBodies.encode(data, chunkSizes, ChunkedBodies.signingKey(
                AuthTestSupport.secret(), "20130524", "us-east-1"), authentication(mode)
                        .signature(), AMZ_DATE, SCOPE, trailers);
    }

    private static AwsChunkedDecoder decoder(PayloadMode mode, long length) {
        ChecksumAlgorithm checksum = mode.hasTrailer() ? ChecksumAlgorithm.CRC32C : null;
        return new AwsChunkedDecoder(mode, mode.hasChunkSignatures()
                ? authentication(mode).newChunkSignatureChain() : null, length, checksum);
    }

    private static Authentication authentication(PayloadMode mode) {
        return mode == PayloadMode.STREAMING_SIGNED ? AuthTestSupport.streamingExample()
                : AuthTestSupport.trailerExample();
    }
}
