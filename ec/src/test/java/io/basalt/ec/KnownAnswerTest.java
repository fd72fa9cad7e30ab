package io.basalt.ec;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Known answers from ISA-L itself (isal-vectors.txt, made by bench/isal/gen_vectors.c). The
 * pure-Java codec must pass these on a machine without libisal; the native codec runs them too
 * when the library loads.
 */
class KnownAnswerTest {
    private static final List<IsalVectors> VECTORS = IsalVectors.load();

    static Stream<Arguments> cases() {
        List<Arguments> arguments = new ArrayList<>();
        for (ErasureCodecs.Implementation implementation : TestImplementations.available()) {
            for (IsalVectors vectors : VECTORS) {
                arguments.add(Arguments.of(implementation, vectors));
            }
        }
        return arguments.stream();
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void encodeMatrixIsIsalCauchy1(ErasureCodecs.Implementation implementation,
            IsalVectors vectors) {
        ErasureCodec codec =
                ErasureCodecs.create(implementation, vectors.dataCount(), vectors.parityCount());
        assertThat(codec.encodeMatrix()).isEqualTo(vectors.matrix());
        assertThat(GaloisField.cauchy1Matrix(vectors.dataCount(), vectors.parityCount()))
                .isEqualTo(vectors.matrix());
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void encodeGivesIsalParity(ErasureCodecs.Implementation implementation, IsalVectors vectors) {
        ErasureCodec codec =
                ErasureCodecs.create(implementation, vectors.dataCount(), vectors.parityCount());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment[] data = Stripes.copyOf(arena, vectors.data());
            MemorySegment[] parity =
                    Stripes.allocate(arena, vectors.parityCount(), vectors.lengthBytes());
            codec.encode(data, parity, 0, vectors.lengthBytes());
            for (int p = 0; p < vectors.parityCount(); p++) {
                assertThat(Stripes.bytes(parity[p])).as("parity %d", p)
                        .isEqualTo(vectors.parity()[p]);
            }
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void parityDeltaUpdateGivesIsalParity(ErasureCodecs.Implementation implementation,
            IsalVectors vectors) {
        ErasureCodec codec =
                ErasureCodecs.create(implementation, vectors.dataCount(), vectors.parityCount());
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment[] parity = Stripes.copyOf(arena, vectors.parity());
            MemorySegment oldData = Stripes.copyOf(arena, vectors.data()[vectors.updateIndex()]);
            MemorySegment newData = Stripes.copyOf(arena, vectors.updateData());
            codec.updateParity(vectors.updateIndex(), oldData, newData, parity, 0,
                    vectors.lengthBytes());
            for (int p = 0; p < vectors.parityCount(); p++) {
                assertThat(Stripes.bytes(parity[p])).as("updated parity %d", p)
                        .isEqualTo(vectors.updateParity()[p]);
            }
        }
    }

    @ParameterizedTest(name = "{0} {1}")
    @MethodSource("cases")
    void decodeRebuildsFromIsalParity(ErasureCodecs.Implementation implementation,
            IsalVectors vectors) {
        int k = vectors.dataCount();
        int m = vectors.parityCount();
        ErasureCodec codec = ErasureCodecs.create(implementation, k, m);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment[] strips = new MemorySegment[k + m];
            for (int i = 0; i < k; i++) {
                strips[i] = Stripes.copyOf(arena, vectors.data()[i]);
            }
            for (int p = 0; p < m; p++) {
                strips[k + p] = Stripes.copyOf(arena, vectors.parity()[p]);
            }
            int erased = (1 << vectors.decodeErasedCount()) - 1;
            for (int i = 0; i < vectors.decodeErasedCount(); i++) {
                strips[i].fill((byte) 0x5A);
            }
            codec.decode(strips, erased, 0, vectors.lengthBytes());
            for (int i = 0; i < k; i++) {
                assertThat(Stripes.bytes(strips[i])).as("data %d", i)
                        .isEqualTo(vectors.data()[i]);
            }
        }
    }

    @ParameterizedTest(name = "{1}")
    @MethodSource("cases")
    void javaInversionEqualsIsalDecodeRows(ErasureCodecs.Implementation implementation,
            IsalVectors vectors) {
        int k = vectors.dataCount();
        int m = vectors.parityCount();
        byte[] survivors = new byte[k * k];
        System.arraycopy(vectors.matrix(), m * k, survivors, 0, k * k);
        byte[] inverse = GaloisField.invert(survivors, k);
        byte[] rows = new byte[vectors.decodeErasedCount() * k];
        System.arraycopy(inverse, 0, rows, 0, rows.length);
        assertThat(rows).isEqualTo(vectors.decodeRows());
    }
}
