package io.basalt.ec;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/** Bad input gets a clear IllegalArgumentException before any byte is written. */
class ErasureCodecArgumentsTest {
    private static final int LENGTH = 256;
    private final Arena arena = Arena.ofConfined();

    @AfterEach
    void closeArena() {
        arena.close();
    }

    static Iterable<ErasureCodecs.Implementation> implementations() {
        return TestImplementations.available();
    }

    @ParameterizedTest
    @MethodSource("implementations")
    void shapeLimits(ErasureCodecs.Implementation implementation) {
        assertThatThrownBy(() -> ErasureCodecs.create(implementation, 30, 3))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("k+m = 33 strips (max 32)");
        assertThatThrownBy(() -> ErasureCodecs.create(implementation, 0, 2))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("k = 0 data strips (min 1)");
        assertThatThrownBy(() -> ErasureCodecs.create(implementation, 4, 0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("m = 0 parity strips (min 1)");
        ErasureCodec widest = ErasureCodecs.create(implementation, 28, 4);
        assertThat(widest.dataStripCount() + widest.parityStripCount()).isEqualTo(32);
    }

    @ParameterizedTest
    @MethodSource("implementations")
    void encodeArguments(ErasureCodecs.Implementation implementation) {
        ErasureCodec codec = ErasureCodecs.create(implementation, 4, 2);
        MemorySegment[] data = Stripes.allocate(arena, 4, LENGTH);
        MemorySegment[] parity = Stripes.allocate(arena, 2, LENGTH);
        assertThatThrownBy(() -> codec.encode(Arrays.copyOf(data, 3), parity, 0, LENGTH))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("data strip count 3 (expected 4)");
        assertThatThrownBy(() -> codec.encode(data, Arrays.copyOf(parity, 3), 0, LENGTH))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("parity strip count 3 (expected 2)");
        assertThatThrownBy(() -> codec.encode(data, parity, 0, 100))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("strip length 100 bytes must be positive and a multiple of 64");
        assertThatThrownBy(() -> codec.encode(data, parity, 0, 0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("strip length 0 bytes must be positive and a multiple of 64");
        assertThatThrownBy(() -> codec.encode(data, parity, 64, LENGTH))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("data strip 0: offset 64 + length 256 exceeds segment size 256");
        assertThatThrownBy(() -> codec.encode(data, parity, -64, 64))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("data strip 0: offset -64 + length 64 exceeds segment size 256");
        MemorySegment[] withHeap = data.clone();
        withHeap[2] = MemorySegment.ofArray(new byte[LENGTH]);
        assertThatThrownBy(() -> codec.encode(withHeap, parity, 0, LENGTH))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("data strip 2 is a heap segment; strips must be off-heap (native) "
                        + "memory");
        MemorySegment[] readOnly = parity.clone();
        readOnly[1] = parity[1].asReadOnly();
        assertThatThrownBy(() -> codec.encode(data, readOnly, 0, LENGTH))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("parity strip 1 is read-only");
        MemorySegment[] withNull = data.clone();
        withNull[3] = null;
        assertThatThrownBy(() -> codec.encode(withNull, parity, 0, LENGTH))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("data strip 3 is null");
    }

    @ParameterizedTest
    @MethodSource("implementations")
    void decodeArguments(ErasureCodecs.Implementation implementation) {
        ErasureCodec codec = ErasureCodecs.create(implementation, 4, 2);
        MemorySegment[] stripe = Stripes.allocate(arena, 6, LENGTH);
        byte[] before = Stripes.bytes(stripe[0]);
        assertThatThrownBy(() -> codec.decode(stripe, ErasureCodec.erasureMask(0, 1, 2), 0,
                LENGTH))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("3 erased strips (max 2)");
        assertThatThrownBy(() -> codec.decode(stripe, 1 << 6, 0, LENGTH))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("erased mask 0x40 names strip 6 (max 5)");
        MemorySegment[] tooFew = stripe.clone();
        tooFew[4] = null;
        tooFew[5] = null;
        assertThatThrownBy(() -> codec.decode(tooFew, ErasureCodec.erasureMask(0), 0, LENGTH))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("only 3 surviving strips (need 4)");
        MemorySegment[] nullOutput = stripe.clone();
        nullOutput[1] = null;
        assertThatThrownBy(() -> codec.decode(nullOutput, ErasureCodec.erasureMask(1), 0,
                LENGTH))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("erased strip 1 is null");
        assertThatThrownBy(() -> codec.decode(Arrays.copyOf(stripe, 5), 1, 0, LENGTH))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("stripe strip count 5 (expected 6)");
        assertThat(Stripes.bytes(stripe[0])).isEqualTo(before);
        codec.decode(stripe, 0, 0, LENGTH); // nothing erased: nothing to do
    }

    @ParameterizedTest
    @MethodSource("implementations")
    void updateArguments(ErasureCodecs.Implementation implementation) {
        ErasureCodec codec = ErasureCodecs.create(implementation, 4, 2);
        MemorySegment oldData = arena.allocate(LENGTH, 64);
        MemorySegment newData = arena.allocate(LENGTH, 64);
        MemorySegment[] parity = Stripes.allocate(arena, 2, LENGTH);
        assertThatThrownBy(() -> codec.updateParity(4, oldData, newData, parity, 0, LENGTH))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("data strip index 4 out of range [0, 4)");
        assertThatThrownBy(() -> codec.updateParity(0, oldData, newData, parity, 0, 65))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("strip length 65 bytes must be positive and a multiple of 64");
        assertThatThrownBy(() -> codec.updateParity(0, oldData, newData.asSlice(0, 128),
                parity, 0, LENGTH))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("new data strip 0: offset 0 + length 256 exceeds segment size 128");
    }

    @Test
    void erasureMaskArguments() {
        assertThat(ErasureCodec.erasureMask(0, 5, 31)).isEqualTo(0x8000_0021);
        assertThatThrownBy(() -> ErasureCodec.erasureMask(32))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("strip index 32 out of range [0, 32)");
        assertThatThrownBy(() -> ErasureCodec.erasureMask(3, 3))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("strip index 3 given twice");
    }

    @ParameterizedTest
    @MethodSource("implementations")
    void byteBufferFormsUsePositionToLimit(ErasureCodecs.Implementation implementation) {
        ErasureCodec codec = ErasureCodecs.create(implementation, 3, 2);
        Random random = new Random(3);
        ByteBuffer[] stripe = new ByteBuffer[5];
        for (int i = 0; i < 5; i++) {
            // Each strip sits at position 64 of a larger buffer.
            stripe[i] = ByteBuffer.allocateDirect(64 + LENGTH + 64).position(64)
                    .limit(64 + LENGTH);
        }
        for (int i = 0; i < 3; i++) {
            byte[] bytes = new byte[LENGTH];
            random.nextBytes(bytes);
            stripe[i].put(64, bytes);
        }
        codec.encode(Arrays.copyOf(stripe, 3), Arrays.copyOfRange(stripe, 3, 5));
        byte[] lost = new byte[LENGTH];
        stripe[1].get(64, lost);
        stripe[1].put(64, new byte[LENGTH]);
        ByteBuffer[] survivors = stripe.clone();
        survivors[0] = null; // unavailable too: decode reads 2, 3, 4
        codec.decode(survivors, ErasureCodec.erasureMask(1));
        byte[] rebuilt = new byte[LENGTH];
        stripe[1].get(64, rebuilt);
        assertThat(rebuilt).isEqualTo(lost);
        assertThat(stripe[1].position()).isEqualTo(64);
        assertThatThrownBy(() -> codec.encode(new ByteBuffer[] {ByteBuffer.allocate(64),
                stripe[1], stripe[2]}, Arrays.copyOfRange(stripe, 3, 5)))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("data buffer 0 is a heap buffer; strips must be direct (off-heap) "
                        + "buffers");
    }

    @ParameterizedTest
    @MethodSource("implementations")
    void decodePlanIsComputedOncePerPattern(ErasureCodecs.Implementation implementation) {
        AbstractErasureCodec<?> codec =
                (AbstractErasureCodec<?>) ErasureCodecs.create(implementation, 4, 2);
        MemorySegment[] stripe = Stripes.allocate(arena, 6, LENGTH);
        for (int i = 0; i < 10; i++) {
            codec.decode(stripe, ErasureCodec.erasureMask(1, 4), 0, LENGTH);
        }
        assertThat(codec.decodePlansComputed()).isEqualTo(1);
        codec.decode(stripe, ErasureCodec.erasureMask(2), 0, LENGTH);
        codec.decode(stripe, ErasureCodec.erasureMask(1, 4), 0, LENGTH);
        assertThat(codec.decodePlansComputed()).isEqualTo(2);
    }

    @Test
    void decodeCacheStaysBounded() {
        // 16+4 has 6195 erasure patterns; the cache holds at most DECODE_CACHE_SLOTS plans.
        AbstractErasureCodec<?> codec = (AbstractErasureCodec<?>) ErasureCodecs.create(
                ErasureCodecs.Implementation.JAVA_VECTOR, 16, 4);
        MemorySegment[] stripe = Stripes.allocate(arena, 20, 64);
        for (int mask : Stripes.erasureMasks(20, 4)) {
            codec.decode(stripe, mask, 0, 64);
        }
        assertThat(codec.decodePlansComputed()).isGreaterThanOrEqualTo(6195);
        assertThat(codec.cachedDecodePlans()).isLessThanOrEqualTo(
                AbstractErasureCodec.DECODE_CACHE_SLOTS);
    }

    @Test
    void describeSaysWhichImplementationAndWhy() {
        String description = ErasureCodecs.describe();
        if (ErasureCodecs.selected() == ErasureCodecs.Implementation.ISAL_NATIVE) {
            assertThat(description).startsWith("ISA-L native (libisal.so.2 via FFM); ");
        } else {
            assertThat(description).startsWith("pure Java Vector API (ByteVector ");
        }
        assertThat(description).endsWith(ErasureCodecs.selectionReason());
    }
}
