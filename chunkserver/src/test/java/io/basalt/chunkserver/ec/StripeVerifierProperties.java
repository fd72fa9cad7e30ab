package io.basalt.chunkserver.ec;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.ec.ErasureCodec;
import io.basalt.protocol.data.EcLayout;
import io.basalt.ec.ErasureCodecs;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Random;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

/**
 * The stripe master's parity check locates a single wrong strip of a stripe, whichever column it is in,
 * and gives back exactly the strip that was there before; a consistent stripe is left alone.
 */
class StripeVerifierProperties {
    private static final int S = EcLayout.STRIP_BYTES;

    @Property(tries = 60)
    void oneWrongStripIsLocatedAndItsContentRestored(@ForAll @IntRange(min = 2, max = 8) int k,
            @ForAll @IntRange(min = 2, max = 3) int m, @ForAll @IntRange(min = 0, max = 10) int wrongPick,
            @ForAll long seed) {
        int wrong = wrongPick % (k + m);
        ErasureCodec codec = ErasureCodecs.create(k, m);
        ByteBuf[] strips = stripe(codec, k, m, new Random(seed));
        byte[] original = ByteBufUtil.getBytes(strips[wrong], 0, S);
        try (StripeMaster.Scratch scratch = new StripeMaster.Scratch()) {
            assertThat(StripeVerifier.locate(codec, strips, k, m, scratch)).as("a consistent stripe").isNull();
            // Change a few bytes of one strip (still any CRC would be recomputed: only the contents differ).
            Random random = new Random(seed ^ 0x5eed);
            for (int i = 0; i < 1 + random.nextInt(8); i++) {
                int at = random.nextInt(S);
                strips[wrong].setByte(at, strips[wrong].getByte(at) ^ (1 + random.nextInt(255)));
            }
            List<StripeVerifier.Fix> fixes = StripeVerifier.locate(codec, strips, k, m, scratch);
            assertThat(fixes).hasSize(1);
            assertThat(fixes.get(0).column()).isEqualTo(wrong);
            assertThat(ByteBufUtil.getBytes(fixes.get(0).strip(), 0, S)).isEqualTo(original);
        } finally {
            for (ByteBuf strip : strips) {
                strip.release();
            }
        }
    }

    /** k random data strips and their m parity strips. */
    static ByteBuf[] stripe(ErasureCodec codec, int k, int m, Random random) {
        ByteBuf[] strips = new ByteBuf[k + m];
        MemorySegment[] in = new MemorySegment[k];
        MemorySegment[] out = new MemorySegment[m];
        for (int c = 0; c < k + m; c++) {
            byte[] bytes = new byte[S];
            if (c < k) {
                random.nextBytes(bytes);
            }
            strips[c] = Unpooled.directBuffer(S).writeBytes(bytes);
            MemorySegment segment = MemorySegment.ofBuffer(strips[c].nioBuffer(0, S));
            if (c < k) {
                in[c] = segment;
            } else {
                out[c - k] = segment;
            }
        }
        codec.encode(in, out, 0, S);
        return strips;
    }
}
