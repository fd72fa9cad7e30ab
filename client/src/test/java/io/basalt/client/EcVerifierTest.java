package io.basalt.client;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.client.EcVerifier.ColumnRead;
import io.basalt.client.EcVerifier.Outcome;
import io.basalt.ec.ErasureCodec;
import io.basalt.ec.ErasureCodecs;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The verifier's judgement of one ec4+2 stripe: a sound one passes, a data strip that differs from
 * what its parity encodes is reported (every time it is read again), and a stripe that only looked
 * torn because a write committed between two columns' reads passes once read again.
 */
class EcVerifierTest {
    private static final int K = 4;
    private static final int M = 2;
    private static final int S = 4096;
    private final ErasureCodec codec = ErasureCodecs.create(K, M);

    /** A stripe as the verifier reads it: data strips at {@code dataVersion}, parity recording {@code parityVersion}. */
    private ColumnRead[] stripe(long seed, long dataVersion, long parityVersion) {
        Random random = new Random(seed);
        ColumnRead[] reads = new ColumnRead[K + M];
        MemorySegment[] data = new MemorySegment[K];
        for (int c = 0; c < K; c++) {
            byte[] strip = new byte[S];
            random.nextBytes(strip);
            ByteBuf buffer = Unpooled.wrappedBuffer(ByteBuffer.allocateDirect(S).put(strip).flip());
            data[c] = MemorySegment.ofBuffer(buffer.nioBuffer(0, S));
            reads[c] = new ColumnRead(buffer, 1, new long[] {dataVersion}, new boolean[1]);
        }
        MemorySegment[] parity = new MemorySegment[M];
        ByteBuffer[] parityBuffers = new ByteBuffer[M];
        for (int p = 0; p < M; p++) {
            parityBuffers[p] = ByteBuffer.allocateDirect(S);
            parity[p] = MemorySegment.ofBuffer(parityBuffers[p]);
        }
        codec.encode(data, parity, 0, S);
        for (int p = 0; p < M; p++) {
            reads[K + p] = new ColumnRead(Unpooled.wrappedBuffer(parityBuffers[p]), K,
                    new long[] {parityVersion, parityVersion, parityVersion, parityVersion}, new boolean[1]);
        }
        return reads;
    }

    @Test
    void aSoundStripePasses() {
        List<String> problems = new ArrayList<>();
        assertThat(EcVerifier.check(stripe(1, 7, 7), 0, K, M, codec, "s", problems)).isEqualTo(Outcome.CONSISTENT);
        assertThat(problems).isEmpty();
    }

    @Test
    void aDataStripThatDiffersFromItsParityIsReportedEveryTimeItIsRead() throws Exception {
        ColumnRead[] torn = stripe(2, 7, 7);
        torn[1].strips().setByte(100, torn[1].strips().getByte(100) ^ 1);
        List<String> problems = new ArrayList<>();
        assertThat(EcVerifier.check(torn, 0, K, M, codec, "s", problems)).isEqualTo(Outcome.MISMATCHED);
        AtomicInteger reads = new AtomicInteger();
        assertThat(EcVerifier.recheck(attempt -> {
            reads.incrementAndGet();
            return torn;
        }, K, M, codec, "s", torn, 0, problems)).isEqualTo(Outcome.MISMATCHED);
        assertThat(reads.get()).as("the same versions twice: reported at once").isEqualTo(1);
        assertThat(problems).anyMatch(p -> p.contains("differs from the data re-encoded"));
    }

    @Test
    void aStripeWrittenBetweenTwoColumnsReadsPassesOnceReadAgain() throws Exception {
        // Data read before a write committed (version 7), parity after it (version 9, other content).
        ColumnRead[] before = stripe(3, 7, 7);
        ColumnRead[] after = stripe(4, 9, 9);
        ColumnRead[] torn = before.clone();
        torn[K] = after[K];
        torn[K + 1] = after[K + 1];
        List<String> problems = new ArrayList<>();
        assertThat(EcVerifier.check(torn, 0, K, M, codec, "s", problems)).isEqualTo(Outcome.MISMATCHED);
        assertThat(problems).anyMatch(p -> p.contains("records version 9 of data column 0, which holds version 7"));
        assertThat(EcVerifier.recheck(attempt -> after, K, M, codec, "s", torn, 0, problems))
                .isEqualTo(Outcome.CONSISTENT);
    }

    @Test
    void aStripeThatKeepsMovingIsReportedAfterTheLastRead() throws Exception {
        AtomicInteger reads = new AtomicInteger();
        List<String> problems = new ArrayList<>();
        Outcome outcome = EcVerifier.recheck(attempt -> {
            reads.incrementAndGet();
            ColumnRead[] moving = stripe(10 + attempt, 20 + attempt, 20 + attempt);
            moving[K] = stripe(50 + attempt, 30 + attempt, 30 + attempt)[K];
            return moving;
        }, K, M, codec, "s", stripe(5, 1, 2), 0, problems);
        assertThat(outcome).isEqualTo(Outcome.MISMATCHED);
        assertThat(reads.get()).isEqualTo(EcVerifier.RECHECKS);
        assertThat(problems).anyMatch(p -> p.contains("still being written"));
    }
}
