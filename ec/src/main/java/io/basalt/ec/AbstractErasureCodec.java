package io.basalt.ec;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.atomic.LongAdder;

/**
 * What every implementation shares: argument checks, the ISA-L Cauchy encode matrix, decode
 * planning and the decode-matrix cache. Subclasses supply the kernel: expanded coefficient
 * tables (type {@code T}) and the multiply loops.
 *
 * <p>Design note, decode cache: a degraded read repeats one erasure pattern for every stripe it
 * touches, and inverting a k x k matrix plus expanding 32 bytes of tables per coefficient costs
 * far more than decoding one 4 KiB strip. A plan (survivors read, strips written, tables) is
 * keyed by (survivor mask, erased mask) and kept in a direct-mapped table of
 * {@link #DECODE_CACHE_SLOTS} slots: bounded, no lock and no allocation on a hit. Plans are
 * immutable and published through an {@link AtomicReferenceArray}, so a racing miss at worst
 * computes the same plan twice. A collision replaces the older plan (not LRU; patterns in play at
 * once are few).
 */
abstract sealed class AbstractErasureCodec<T> implements ErasureCodec
        permits JavaErasureCodec, IsalErasureCodec {
    /** Bound of the decode cache; 256 plans of at most 32 x 32 x 32 B tables is at most 8 MiB. */
    static final int DECODE_CACHE_SLOTS = 256;

    private static final int[] IDENTITY = new int[STRIPS_MAX];

    static {
        for (int i = 0; i < IDENTITY.length; i++) {
            IDENTITY[i] = i;
        }
    }

    final int dataCount;
    final int parityCount;
    final byte[] encodeMatrix;
    final T encodeTables;
    private final AtomicReferenceArray<DecodePlan<T>> decodePlans =
            new AtomicReferenceArray<>(DECODE_CACHE_SLOTS);
    private final LongAdder decodePlansComputed = new LongAdder();

    AbstractErasureCodec(int dataCount, int parityCount) {
        checkShape(dataCount, parityCount);
        this.dataCount = dataCount;
        this.parityCount = parityCount;
        this.encodeMatrix = buildEncodeMatrix(dataCount, parityCount);
        byte[] parityRows = new byte[parityCount * dataCount];
        System.arraycopy(encodeMatrix, dataCount * dataCount, parityRows, 0, parityRows.length);
        this.encodeTables = prepareTables(parityRows, parityCount);
    }

    static void checkShape(int dataCount, int parityCount) {
        if (dataCount < 1) {
            throw new IllegalArgumentException("k = " + dataCount + " data strips (min 1)");
        }
        if (parityCount < 1) {
            throw new IllegalArgumentException("m = " + parityCount + " parity strips (min 1)");
        }
        if (dataCount + parityCount > STRIPS_MAX) {
            throw new IllegalArgumentException("k+m = " + (dataCount + parityCount)
                    + " strips (max " + STRIPS_MAX + ")");
        }
    }

    /** The Cauchy encode matrix; the native codec asks ISA-L for it. */
    byte[] buildEncodeMatrix(int k, int m) {
        return GaloisField.cauchy1Matrix(k, m);
    }

    /** Inverts a k x k matrix, or returns null if singular; the native codec asks ISA-L. */
    byte[] invert(byte[] matrix, int n) {
        return GaloisField.invert(matrix, n);
    }

    /** Expands rows x k coefficients (row-major) into this kernel's tables. */
    abstract T prepareTables(byte[] coefficients, int rows);

    /**
     * outputs[outputIndexes[r]] = sum over j &lt; k of c(r, j) * sources[sourceIndexes[j]], for
     * r &lt; rows, over [offset, offset + length). Arguments are already checked.
     */
    abstract void multiply(T tables, int rows, MemorySegment[] sources, int[] sourceIndexes,
            MemorySegment[] outputs, int[] outputIndexes, long offsetBytes, int lengthBytes);

    /** parity[p] ^= c(p, dataIndex) * (oldData ^ newData). Arguments are already checked. */
    abstract void update(T tables, int dataIndex, MemorySegment oldData, MemorySegment newData,
            MemorySegment[] parity, long offsetBytes, int lengthBytes);

    @Override
    public final int dataStripCount() {
        return dataCount;
    }

    @Override
    public final int parityStripCount() {
        return parityCount;
    }

    @Override
    public final byte[] encodeMatrix() {
        return encodeMatrix.clone();
    }

    @Override
    public final void encode(MemorySegment[] data, MemorySegment[] parity, long offsetBytes,
            int lengthBytes) {
        Strips.checkLength(lengthBytes);
        Strips.checkCount("data", data, dataCount);
        Strips.checkCount("parity", parity, parityCount);
        for (int i = 0; i < dataCount; i++) {
            Strips.checkStrip("data", i, data[i], offsetBytes, lengthBytes, false);
        }
        for (int i = 0; i < parityCount; i++) {
            Strips.checkStrip("parity", i, parity[i], offsetBytes, lengthBytes, true);
        }
        multiply(encodeTables, parityCount, data, IDENTITY, parity, IDENTITY, offsetBytes,
                lengthBytes);
    }

    @Override
    public final void decode(MemorySegment[] strips, int erasedMask, long offsetBytes,
            int lengthBytes) {
        Strips.checkLength(lengthBytes);
        int stripCount = dataCount + parityCount;
        Strips.checkCount("stripe", strips, stripCount);
        int allStrips = stripCount == 32 ? -1 : (1 << stripCount) - 1;
        if ((erasedMask & ~allStrips) != 0) {
            throw new IllegalArgumentException("erased mask 0x" + Integer.toHexString(erasedMask)
                    + " names strip " + Integer.numberOfTrailingZeros(erasedMask & ~allStrips)
                    + " (max " + (stripCount - 1) + ")");
        }
        int erasedCount = Integer.bitCount(erasedMask);
        if (erasedCount > parityCount) {
            throw new IllegalArgumentException(erasedCount + " erased strips (max "
                    + parityCount + ")");
        }
        if (erasedCount == 0) {
            return;
        }
        int survivorMask = 0;
        int survivorCount = 0;
        for (int i = 0; i < stripCount; i++) {
            boolean erased = (erasedMask & (1 << i)) != 0;
            if (!erased && strips[i] == null) {
                continue;
            }
            Strips.checkStrip(erased ? "erased" : "surviving", i, strips[i], offsetBytes,
                    lengthBytes, erased);
            if (!erased && strips[i] != null && survivorCount < dataCount) {
                survivorMask |= 1 << i;
                survivorCount++;
            }
        }
        if (survivorCount < dataCount) {
            throw new IllegalArgumentException("only " + survivorCount
                    + " surviving strips (need " + dataCount + ")");
        }
        DecodePlan<T> plan = decodePlan(survivorMask, erasedMask);
        multiply(plan.tables, erasedCount, strips, plan.sourceIndexes, strips,
                plan.outputIndexes, offsetBytes, lengthBytes);
    }

    @Override
    public final void updateParity(int dataIndex, MemorySegment oldData, MemorySegment newData,
            MemorySegment[] parity, long offsetBytes, int lengthBytes) {
        Strips.checkLength(lengthBytes);
        if (dataIndex < 0 || dataIndex >= dataCount) {
            throw new IllegalArgumentException("data strip index " + dataIndex
                    + " out of range [0, " + dataCount + ")");
        }
        Strips.checkStrip("old data", dataIndex, oldData, offsetBytes, lengthBytes, false);
        Strips.checkStrip("new data", dataIndex, newData, offsetBytes, lengthBytes, false);
        Strips.checkCount("parity", parity, parityCount);
        for (int i = 0; i < parityCount; i++) {
            Strips.checkStrip("parity", i, parity[i], offsetBytes, lengthBytes, true);
        }
        update(encodeTables, dataIndex, oldData, newData, parity, offsetBytes, lengthBytes);
    }

    /** How many decode plans were computed (cache misses); for tests and metrics. */
    final long decodePlansComputed() {
        return decodePlansComputed.sum();
    }

    /** How many decode plans the cache holds now; at most {@link #DECODE_CACHE_SLOTS}. */
    final int cachedDecodePlans() {
        int plans = 0;
        for (int slot = 0; slot < DECODE_CACHE_SLOTS; slot++) {
            if (decodePlans.get(slot) != null) {
                plans++;
            }
        }
        return plans;
    }

    private DecodePlan<T> decodePlan(int survivorMask, int erasedMask) {
        long key = ((long) survivorMask << 32) | (erasedMask & 0xFFFF_FFFFL);
        int slot = (int) ((key * 0x9E37_79B9_7F4A_7C15L) >>> 56) & (DECODE_CACHE_SLOTS - 1);
        DecodePlan<T> plan = decodePlans.get(slot);
        if (plan != null && plan.key == key) {
            return plan;
        }
        plan = computeDecodePlan(key, survivorMask, erasedMask);
        decodePlans.set(slot, plan);
        decodePlansComputed.increment();
        return plan;
    }

    /**
     * Decoding as in ISA-L's examples: B = the encode-matrix rows of the k survivors read;
     * survivors = B * data, so data = B^-1 * survivors. An erased data strip e is row e of
     * B^-1; an erased parity strip p is (encode row p) * B^-1, applied to the survivors directly.
     */
    private DecodePlan<T> computeDecodePlan(long key, int survivorMask, int erasedMask) {
        int k = dataCount;
        int[] sourceIndexes = new int[k];
        byte[] survivorRows = new byte[k * k];
        int source = 0;
        for (int i = 0; i < dataCount + parityCount; i++) {
            if ((survivorMask & (1 << i)) != 0) {
                sourceIndexes[source] = i;
                System.arraycopy(encodeMatrix, i * k, survivorRows, source * k, k);
                source++;
            }
        }
        byte[] inverse = invert(survivorRows, k);
        if (inverse == null) {
            // Cannot happen for a Cauchy matrix (every square submatrix is invertible).
            throw new IllegalStateException("decode matrix singular for survivors 0x"
                    + Integer.toHexString(survivorMask) + ", k=" + k + " m=" + parityCount);
        }
        int erasedCount = Integer.bitCount(erasedMask);
        int[] outputIndexes = new int[erasedCount];
        byte[] rows = new byte[erasedCount * k];
        int output = 0;
        for (int e = 0; e < dataCount + parityCount; e++) {
            if ((erasedMask & (1 << e)) == 0) {
                continue;
            }
            outputIndexes[output] = e;
            if (e < k) {
                System.arraycopy(inverse, e * k, rows, output * k, k);
            } else {
                for (int j = 0; j < k; j++) {
                    int sum = 0;
                    for (int i = 0; i < k; i++) {
                        sum ^= GaloisField.multiply(encodeMatrix[e * k + i], inverse[i * k + j]);
                    }
                    rows[output * k + j] = (byte) sum;
                }
            }
            output++;
        }
        return new DecodePlan<>(key, sourceIndexes, outputIndexes, prepareTables(rows,
                erasedCount));
    }

    private record DecodePlan<T>(long key, int[] sourceIndexes, int[] outputIndexes, T tables) {}
}
