package io.basalt.ec;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/** Test helpers: off-heap strips from byte arrays and back. */
final class Stripes {
    private Stripes() {}

    static MemorySegment[] allocate(Arena arena, int count, long bytes) {
        MemorySegment[] segments = new MemorySegment[count];
        for (int i = 0; i < count; i++) {
            segments[i] = arena.allocate(bytes, 64);
        }
        return segments;
    }

    static MemorySegment copyOf(Arena arena, byte[] bytes) {
        MemorySegment segment = arena.allocate(bytes.length, 64);
        MemorySegment.copy(bytes, 0, segment, ValueLayout.JAVA_BYTE, 0, bytes.length);
        return segment;
    }

    static MemorySegment[] copyOf(Arena arena, byte[][] strips) {
        MemorySegment[] segments = new MemorySegment[strips.length];
        for (int i = 0; i < strips.length; i++) {
            segments[i] = copyOf(arena, strips[i]);
        }
        return segments;
    }

    static byte[] bytes(MemorySegment segment) {
        return segment.toArray(ValueLayout.JAVA_BYTE);
    }

    static void fillRandom(MemorySegment segment, Random random) {
        byte[] bytes = new byte[(int) segment.byteSize()];
        random.nextBytes(bytes);
        MemorySegment.copy(bytes, 0, segment, ValueLayout.JAVA_BYTE, 0, bytes.length);
    }

    /** Every erasure mask over n strips with 1..maxErased bits set. */
    static List<Integer> erasureMasks(int n, int maxErased) {
        List<Integer> masks = new ArrayList<>();
        addMasks(masks, n, maxErased, 0, 0, 0);
        return masks;
    }

    private static void addMasks(List<Integer> masks, int n, int maxErased, int from, int mask,
            int bits) {
        if (bits > 0) {
            masks.add(mask);
        }
        if (bits == maxErased) {
            return;
        }
        for (int i = from; i < n; i++) {
            addMasks(masks, n, maxErased, i + 1, mask | (1 << i), bits + 1);
        }
    }
}
