package io.basalt.ec;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Random;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.lifecycle.AddLifecycleHook;

/**
 * The properties of issue 4: any m of k+m strips rebuild byte-exact, parity-delta equals full
 * re-encode, ISA-L and Java agree. Shapes are the list; strip lengths are random
 * multiples of 64 up to 2 KiB (plus an offset inside a larger segment), small enough that every
 * erasure subset of 16+4 (6195 of them) stays quick.
 */
class ErasureCodecProperties {
    private static final int[][] SHAPES = {
        {2, 1}, {3, 2}, {4, 2}, {6, 3}, {8, 3}, {9, 3}, {10, 4}, {16, 4}
    };

    @Provide
    Arbitrary<int[]> shapes() {
        return Arbitraries.of(SHAPES);
    }

    @Provide
    Arbitrary<ErasureCodecs.Implementation> implementations() {
        return Arbitraries.of(TestImplementations.available());
    }

    @Provide
    Arbitrary<Integer> lengths() {
        return Arbitraries.integers().between(1, 32).map(blocks -> blocks * 64);
    }

    @Provide
    Arbitrary<Integer> offsets() {
        return Arbitraries.integers().between(0, 8).map(blocks -> blocks * 64);
    }

    @Property(tries = 24)
    void everyErasureOfAtMostMStripsRebuilds(
            @ForAll("implementations") ErasureCodecs.Implementation implementation,
            @ForAll("shapes") int[] shape, @ForAll("lengths") int length,
            @ForAll("offsets") int offset, @ForAll long seed) {
        int k = shape[0];
        int m = shape[1];
        ErasureCodec codec = ErasureCodecs.create(implementation, k, m);
        Random random = new Random(seed);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment[] strips = Stripes.allocate(arena, k + m, offset + length);
            for (int i = 0; i < k; i++) {
                Stripes.fillRandom(strips[i], random);
            }
            codec.encode(java.util.Arrays.copyOf(strips, k),
                    java.util.Arrays.copyOfRange(strips, k, k + m), offset, length);
            byte[][] expected = new byte[k + m][];
            for (int i = 0; i < k + m; i++) {
                expected[i] = Stripes.bytes(strips[i]);
            }
            MemorySegment[] view = new MemorySegment[k + m];
            for (int erasedMask : Stripes.erasureMasks(k + m, m)) {
                System.arraycopy(strips, 0, view, 0, k + m);
                // Also lose some non-erased strips (up to m in all) so decode must pick
                // survivors other than the first k.
                int spare = m - Integer.bitCount(erasedMask);
                for (int i = 0; i < k + m && spare > 0; i++) {
                    if ((erasedMask & (1 << i)) == 0 && random.nextInt(4) == 0) {
                        view[i] = null;
                        spare--;
                    }
                }
                for (int i = 0; i < k + m; i++) {
                    if ((erasedMask & (1 << i)) != 0) {
                        strips[i].asSlice(offset, length).fill((byte) random.nextInt());
                    }
                }
                codec.decode(view, erasedMask, offset, length);
                for (int i = 0; i < k + m; i++) {
                    if ((erasedMask & (1 << i)) != 0
                            && !java.util.Arrays.equals(Stripes.bytes(strips[i]), expected[i])) {
                        throw new AssertionError(implementation + " " + k + "+" + m + " len "
                                + length + " offset " + offset + ": strip " + i
                                + " wrong after decoding erasure mask 0x"
                                + Integer.toHexString(erasedMask));
                    }
                }
            }
        }
    }

    @Property(tries = 60)
    void parityDeltaUpdateEqualsFullReencode(
            @ForAll("implementations") ErasureCodecs.Implementation implementation,
            @ForAll("shapes") int[] shape, @ForAll("lengths") int length, @ForAll long seed) {
        int k = shape[0];
        int m = shape[1];
        ErasureCodec codec = ErasureCodecs.create(implementation, k, m);
        Random random = new Random(seed);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment[] data = Stripes.allocate(arena, k, length);
            MemorySegment[] parity = Stripes.allocate(arena, m, length);
            MemorySegment[] reencoded = Stripes.allocate(arena, m, length);
            for (MemorySegment strip : data) {
                Stripes.fillRandom(strip, random);
            }
            codec.encode(data, parity, 0, length);
            // A partial write: a 64-byte-aligned range of one data strip changes.
            int dataIndex = random.nextInt(k);
            int blocks = length / 64;
            int firstBlock = random.nextInt(blocks);
            int blockCount = 1 + random.nextInt(blocks - firstBlock);
            long rangeOffset = firstBlock * 64L;
            int rangeLength = blockCount * 64;
            MemorySegment newData = arena.allocate(length, 64);
            newData.copyFrom(data[dataIndex]);
            Stripes.fillRandom(newData.asSlice(rangeOffset, rangeLength), random);
            codec.updateParity(dataIndex, data[dataIndex], newData, parity, rangeOffset,
                    rangeLength);
            data[dataIndex].copyFrom(newData);
            codec.encode(data, reencoded, 0, length);
            for (int p = 0; p < m; p++) {
                assertThat(Stripes.bytes(parity[p])).as("parity %d", p)
                        .isEqualTo(Stripes.bytes(reencoded[p]));
            }
        }
    }

    @Property(tries = 40)
    @AddLifecycleHook(TestImplementations.RequiresIsal.class)
    void isalAndJavaGiveIdenticalBytes(@ForAll("shapes") int[] shape,
            @ForAll("lengths") int length, @ForAll long seed) {
        int k = shape[0];
        int m = shape[1];
        ErasureCodec isal = ErasureCodecs.create(ErasureCodecs.Implementation.ISAL_NATIVE, k, m);
        ErasureCodec java = ErasureCodecs.create(ErasureCodecs.Implementation.JAVA_VECTOR, k, m);
        assertThat(isal.encodeMatrix()).isEqualTo(java.encodeMatrix());
        Random random = new Random(seed);
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment[] data = Stripes.allocate(arena, k, length);
            for (MemorySegment strip : data) {
                Stripes.fillRandom(strip, random);
            }
            MemorySegment[] isalParity = Stripes.allocate(arena, m, length);
            MemorySegment[] javaParity = Stripes.allocate(arena, m, length);
            isal.encode(data, isalParity, 0, length);
            java.encode(data, javaParity, 0, length);
            for (int p = 0; p < m; p++) {
                assertThat(Stripes.bytes(javaParity[p])).as("parity %d", p)
                        .isEqualTo(Stripes.bytes(isalParity[p]));
            }
            // Decode one random pattern with each; both must give the same (original) bytes.
            List<Integer> masks = Stripes.erasureMasks(k + m, m);
            int erasedMask = masks.get(random.nextInt(masks.size()));
            MemorySegment[] isalStrips = new MemorySegment[k + m];
            MemorySegment[] javaStrips = new MemorySegment[k + m];
            for (int i = 0; i < k + m; i++) {
                MemorySegment original = i < k ? data[i] : isalParity[i - k];
                isalStrips[i] = (erasedMask & (1 << i)) != 0 ? arena.allocate(length, 64)
                        : original;
                javaStrips[i] = (erasedMask & (1 << i)) != 0 ? arena.allocate(length, 64)
                        : original;
            }
            isal.decode(isalStrips, erasedMask, 0, length);
            java.decode(javaStrips, erasedMask, 0, length);
            for (int i = 0; i < k + m; i++) {
                byte[] original = Stripes.bytes(i < k ? data[i] : isalParity[i - k]);
                assertThat(Stripes.bytes(isalStrips[i])).as("ISA-L strip %d", i)
                        .isEqualTo(original);
                assertThat(Stripes.bytes(javaStrips[i])).as("Java strip %d", i)
                        .isEqualTo(original);
            }
        }
    }
}
