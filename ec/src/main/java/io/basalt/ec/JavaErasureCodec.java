package io.basalt.ec;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import jdk.incubator.vector.ByteVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The pure-Java codec: ISA-L's split-nibble algorithm on the Vector API.
 *
 * <p>Design note: c * b in GF(2^8) is {@code low[b & 15] XOR high[b >>> 4]} with two 16-entry
 * tables per coefficient c, so a byte shuffle ({@code pshufb}, here
 * {@link ByteVector#selectFrom}) multiplies a whole vector by c in two lookups. Each table is
 * repeated in every 16-byte lane of a species-wide vector. {@code selectFrom} wraps indexes to
 * the lane count, and since the table repeats every 16 bytes, a raw data byte indexes its low
 * nibble's entry without masking (the known-answer tests pin this down).
 *
 * <p>High nibbles: x86 has no byte shift, so 32-bit lanes are shifted after
 * {@code reinterpretAsInts}; the bits that cross in from the neighbouring byte land above bit 3
 * and the index wrap drops them, which is ISA-L's {@code vpsrlw} + {@code vpand}. A byte-lane
 * {@code LSHR} compiles to widen, shift, mask and pack (six instructions); a 16-bit one to
 * {@code vpsrlw} with its count moved into a vector register on every use, which also pushed
 * the eight tables of {@code pass2x2} out of registers; the 32-bit one is {@code vpsrld} with
 * an immediate and all tables stay in registers (4+2 at 64 KiB: 6 -> 9 -> 12 GB/s with the
 * addressing below).
 *
 * <p>Addressing: every kernel reads and writes through one constant segment, {@link #MEMORY},
 * at the strips' absolute addresses. With a segment argument per strip, C2 re-checked each
 * access's bounds, session liveness and read-only flag on every iteration (the segments' types
 * are only profiled, so a vector store could alias their fields) and the loops were not
 * unrolled; through one static final native segment those checks fold away. The strips were
 * checked once on entry ({@link Strips}), and, as with the ISA-L path that passes raw pointers,
 * closing a strip's arena while a call runs is the caller's bug.
 *
 * <p>Loop shape, measured with JMH on a 2-core AVX2 EPYC VM (4+2, 64 KiB strips): the strip is
 * cut into {@link #BLOCK_BYTES} blocks whose outputs stay in L1; within a block the loop runs
 * source-outer, so the coefficient tables of one source (or two) are loop-invariant; each
 * output is read, XORed and written back per source. Two rows take two sources per pass (m = 2,
 * the 4+2 default) to halve that read-back; for three and four rows that measured within noise.
 * Position-outer with accumulators in registers, as ISA-L does in assembly, was slower: with
 * a loop over k sources the tables are re-read with bounds checks per source (1.6x slower),
 * and an unrolled four-sources-by-two-rows pass grew too large to be intrinsified (vectors
 * boxed, 10x slower). Vectors are never passed to a pass method: a vector argument to a call
 * that is not inlined is boxed.
 *
 * <p>Species: 128 bits by default. AVX2 has no cross-lane byte shuffle, so a 256-bit
 * {@code selectFrom} compiles to two {@code vpshufb}, a lane swap and a blend, while a 128-bit
 * one is a single {@code pshufb}; 128 measures faster (256: about 0.8x).
 * {@code -Dbasalt.ec.vectorBits=128|256|512} overrides the species (on AVX-512 VBMI a wide byte
 * shuffle is one instruction; not measured here). The generated code was read with
 * {@code -XX:CompileCommand=print} and Debian's {@code libhsdis0-fcml}.
 */
final class JavaErasureCodec extends AbstractErasureCodec<byte[]> {
    static final VectorSpecies<Byte> SPECIES = chooseSpecies();
    /** Bytes per vector lane group; tables are repeated to this width. */
    private static final int VECTOR_BYTES = SPECIES.length();
    /** Per coefficient: low table then high table, each VECTOR_BYTES wide. */
    private static final int TABLE_STRIDE = 2 * VECTOR_BYTES;
    private static final int ROWS_PER_PASS = 4;
    /** Columns per block: a block's outputs (at most 4 x 2 KiB) stay in L1 across the k sources. */
    private static final int BLOCK_BYTES = 2048;
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();
    /** All of native memory, addressed absolutely; see the class note. */
    private static final MemorySegment MEMORY = MemorySegment.NULL.reinterpret(Long.MAX_VALUE);

    JavaErasureCodec(int dataCount, int parityCount) {
        super(dataCount, parityCount);
    }

    private static VectorSpecies<Byte> chooseSpecies() {
        String bits = System.getProperty("basalt.ec.vectorBits");
        if (bits != null) {
            return switch (bits) {
                case "128" -> ByteVector.SPECIES_128;
                case "256" -> ByteVector.SPECIES_256;
                case "512" -> ByteVector.SPECIES_512;
                default -> throw new IllegalArgumentException(
                        "basalt.ec.vectorBits=" + bits + " (expected 128, 256 or 512)");
            };
        }
        return ByteVector.SPECIES_128;
    }

    /**
     * Whether this CPU runs the species in hardware. Without it the Vector API falls back to
     * plain Java per lane, some hundred times slower, which must not pass silently.
     */
    static boolean hardwareVectors() {
        return ByteVector.SPECIES_PREFERRED.vectorBitSize() >= SPECIES.vectorBitSize();
    }

    @Override
    public ErasureCodecs.Implementation implementation() {
        return ErasureCodecs.Implementation.JAVA_VECTOR;
    }

    @Override
    byte[] prepareTables(byte[] coefficients, int rows) {
        byte[] tables = new byte[coefficients.length * TABLE_STRIDE];
        byte[] nibbles = new byte[32];
        for (int c = 0; c < coefficients.length; c++) {
            GaloisField.nibbleTables(coefficients[c] & 0xFF, nibbles, 0);
            int base = c * TABLE_STRIDE;
            for (int lane = 0; lane < VECTOR_BYTES; lane += 16) {
                System.arraycopy(nibbles, 0, tables, base + lane, 16);
                System.arraycopy(nibbles, 16, tables, base + VECTOR_BYTES + lane, 16);
            }
        }
        return tables;
    }

    @Override
    void multiply(byte[] tables, int rows, MemorySegment[] sources, int[] sourceIndexes,
            MemorySegment[] outputs, int[] outputIndexes, long offsetBytes, int lengthBytes) {
        int k = dataCount;
        int rowStride = k * TABLE_STRIDE;
        int vectorLength = lengthBytes - lengthBytes % VECTOR_BYTES;
        for (int row = 0; row < rows; row += ROWS_PER_PASS) {
            int rowsThisPass = Math.min(ROWS_PER_PASS, rows - row);
            long out0 = outputs[outputIndexes[row]].address();
            long out1 = rowsThisPass > 1 ? outputs[outputIndexes[row + 1]].address() : out0;
            long out2 = rowsThisPass > 2 ? outputs[outputIndexes[row + 2]].address() : out0;
            long out3 = rowsThisPass > 3 ? outputs[outputIndexes[row + 3]].address() : out0;
            for (int block = 0; block < vectorLength; block += BLOCK_BYTES) {
                long blockOffset = offsetBytes + block;
                int blockLength = Math.min(BLOCK_BYTES, vectorLength - block);
                int j0 = 0;
                if (rowsThisPass == 2) {
                    // Two sources per pass: half the output read-backs (the 4+2 default).
                    for (; j0 + 1 < k; j0 += 2) {
                        int t = row * rowStride + j0 * TABLE_STRIDE;
                        pass2x2(tables, t, rowStride, sources[sourceIndexes[j0]].address(),
                                sources[sourceIndexes[j0 + 1]].address(), out0, out1, j0 == 0,
                                blockOffset, blockLength);
                    }
                }
                for (int j = j0; j < k; j++) {
                    long source = sources[sourceIndexes[j]].address();
                    int t = row * rowStride + j * TABLE_STRIDE;
                    boolean first = j == 0;
                    switch (rowsThisPass) {
                        case 1 -> pass1(tables, t, source, out0, first, blockOffset, blockLength);
                        case 2 -> pass2(tables, t, rowStride, source, out0, out1, first,
                                blockOffset, blockLength);
                        case 3 -> pass3(tables, t, rowStride, source, out0, out1, out2, first,
                                blockOffset, blockLength);
                        case 4 -> pass4(tables, t, rowStride, source, out0, out1, out2, out3,
                                first, blockOffset, blockLength);
                        default -> throw new AssertionError(rowsThisPass);
                    }
                }
            }
            for (int r = row; r < row + rowsThisPass; r++) {
                multiplyScalar(tables, r * rowStride, k, sources, sourceIndexes,
                        outputs[outputIndexes[r]], offsetBytes + vectorLength,
                        offsetBytes + lengthBytes);
            }
        }
    }

    private static ByteVector load(long address) {
        return ByteVector.fromMemorySegment(SPECIES, MEMORY, address, ORDER);
    }

    private static void store(ByteVector v, long address) {
        v.intoMemorySegment(MEMORY, address, ORDER);
    }

    private static ByteVector table(byte[] tables, int offset) {
        return ByteVector.fromArray(SPECIES, tables, offset);
    }

    /** c*x from x's nibbles and c's two tables. */
    private static ByteVector product(ByteVector lowNibbles, ByteVector highNibbles,
            ByteVector lowTable, ByteVector highTable) {
        return lowNibbles.selectFrom(lowTable)
                .lanewise(VectorOperators.XOR, highNibbles.selectFrom(highTable));
    }

    /** out ^= product, or out = product on the first source. */
    private static void accumulate(long out, boolean first, ByteVector product) {
        store(first ? product : load(out).lanewise(VectorOperators.XOR, product), out);
    }

    private static ByteVector highNibbles(ByteVector x) {
        // The neighbour's low bits shifted in above bit 3 are dropped by selectFrom's index
        // wrap (the tables repeat every 16 bytes); see the class note.
        return x.reinterpretAsInts().lanewise(VectorOperators.LSHR, 4).reinterpretAsBytes();
    }

    private static void pass1(byte[] tables, int t, long source, long out0,
            boolean first, long offset, int length) {
        ByteVector lo0 = table(tables, t);
        ByteVector hi0 = table(tables, t + VECTOR_BYTES);
        for (int i = 0; i < length; i += VECTOR_BYTES) {
            long at = offset + i;
            ByteVector x = load(source + at);
            ByteVector lo = x; // selectFrom wraps the index: the low nibble, see class note
            ByteVector hi = highNibbles(x);
            accumulate(out0 + at, first, product(lo, hi, lo0, hi0));
        }
    }

    private static void pass2(byte[] tables, int t, int rowStride, long source,
            long out0, long out1, boolean first, long offset, int length) {
        ByteVector lo0 = table(tables, t);
        ByteVector hi0 = table(tables, t + VECTOR_BYTES);
        ByteVector lo1 = table(tables, t + rowStride);
        ByteVector hi1 = table(tables, t + rowStride + VECTOR_BYTES);
        for (int i = 0; i < length; i += VECTOR_BYTES) {
            long at = offset + i;
            ByteVector x = load(source + at);
            ByteVector lo = x; // selectFrom wraps the index: the low nibble, see class note
            ByteVector hi = highNibbles(x);
            accumulate(out0 + at, first, product(lo, hi, lo0, hi0));
            accumulate(out1 + at, first, product(lo, hi, lo1, hi1));
        }
    }

    private static void pass2x2(byte[] tables, int t, int rowStride, long sourceA,
            long sourceB, long out0, long out1, boolean first, long offset, int length) {
        ByteVector loA0 = table(tables, t);
        ByteVector hiA0 = table(tables, t + VECTOR_BYTES);
        ByteVector loA1 = table(tables, t + rowStride);
        ByteVector hiA1 = table(tables, t + rowStride + VECTOR_BYTES);
        ByteVector loB0 = table(tables, t + TABLE_STRIDE);
        ByteVector hiB0 = table(tables, t + TABLE_STRIDE + VECTOR_BYTES);
        ByteVector loB1 = table(tables, t + TABLE_STRIDE + rowStride);
        ByteVector hiB1 = table(tables, t + TABLE_STRIDE + rowStride + VECTOR_BYTES);
        for (int i = 0; i < length; i += VECTOR_BYTES) {
            long at = offset + i;
            ByteVector a = load(sourceA + at);
            ByteVector aHi = highNibbles(a);
            ByteVector b = load(sourceB + at);
            ByteVector bHi = highNibbles(b);
            accumulate(out0 + at, first, product(a, aHi, loA0, hiA0)
                    .lanewise(VectorOperators.XOR, product(b, bHi, loB0, hiB0)));
            accumulate(out1 + at, first, product(a, aHi, loA1, hiA1)
                    .lanewise(VectorOperators.XOR, product(b, bHi, loB1, hiB1)));
        }
    }

    private static void pass3(byte[] tables, int t, int rowStride, long source,
            long out0, long out1, long out2, boolean first,
            long offset, int length) {
        ByteVector lo0 = table(tables, t);
        ByteVector hi0 = table(tables, t + VECTOR_BYTES);
        ByteVector lo1 = table(tables, t + rowStride);
        ByteVector hi1 = table(tables, t + rowStride + VECTOR_BYTES);
        ByteVector lo2 = table(tables, t + 2 * rowStride);
        ByteVector hi2 = table(tables, t + 2 * rowStride + VECTOR_BYTES);
        for (int i = 0; i < length; i += VECTOR_BYTES) {
            long at = offset + i;
            ByteVector x = load(source + at);
            ByteVector lo = x; // selectFrom wraps the index: the low nibble, see class note
            ByteVector hi = highNibbles(x);
            accumulate(out0 + at, first, product(lo, hi, lo0, hi0));
            accumulate(out1 + at, first, product(lo, hi, lo1, hi1));
            accumulate(out2 + at, first, product(lo, hi, lo2, hi2));
        }
    }

    private static void pass4(byte[] tables, int t, int rowStride, long source,
            long out0, long out1, long out2, long out3,
            boolean first, long offset, int length) {
        ByteVector lo0 = table(tables, t);
        ByteVector hi0 = table(tables, t + VECTOR_BYTES);
        ByteVector lo1 = table(tables, t + rowStride);
        ByteVector hi1 = table(tables, t + rowStride + VECTOR_BYTES);
        ByteVector lo2 = table(tables, t + 2 * rowStride);
        ByteVector hi2 = table(tables, t + 2 * rowStride + VECTOR_BYTES);
        ByteVector lo3 = table(tables, t + 3 * rowStride);
        ByteVector hi3 = table(tables, t + 3 * rowStride + VECTOR_BYTES);
        for (int i = 0; i < length; i += VECTOR_BYTES) {
            long at = offset + i;
            ByteVector x = load(source + at);
            ByteVector lo = x; // selectFrom wraps the index: the low nibble, see class note
            ByteVector hi = highNibbles(x);
            accumulate(out0 + at, first, product(lo, hi, lo0, hi0));
            accumulate(out1 + at, first, product(lo, hi, lo1, hi1));
            accumulate(out2 + at, first, product(lo, hi, lo2, hi2));
            accumulate(out3 + at, first, product(lo, hi, lo3, hi3));
        }
    }

    /** Tables are loaded here, not passed in: a vector argument to a call that is not inlined
     * is boxed (measured: 192 B per call). */
    private static void updatePass(byte[] tables, int t, long oldData, long newData, long out,
            long offset, int length) {
        ByteVector lowTable = table(tables, t);
        ByteVector highTable = table(tables, t + VECTOR_BYTES);
        for (int i = 0; i < length; i += VECTOR_BYTES) {
            long at = offset + i;
            ByteVector delta = load(oldData + at).lanewise(VectorOperators.XOR, load(newData + at));
            store(load(out + at).lanewise(VectorOperators.XOR,
                    product(delta, highNibbles(delta), lowTable, highTable)), out + at);
        }
    }

    private static int multiplyByte(byte[] tables, int tableOffset, int x) {
        return tables[tableOffset + (x & 0x0F)] ^ tables[tableOffset + VECTOR_BYTES + (x >>> 4)];
    }

    private static void multiplyScalar(byte[] tables, int tableBase, int k,
            MemorySegment[] sources, int[] sourceIndexes, MemorySegment out, long start,
            long end) {
        for (long at = start; at < end; at++) {
            int acc = 0;
            for (int j = 0; j < k; j++) {
                int x = sources[sourceIndexes[j]].get(ValueLayout.JAVA_BYTE, at) & 0xFF;
                acc ^= multiplyByte(tables, tableBase + j * TABLE_STRIDE, x);
            }
            out.set(ValueLayout.JAVA_BYTE, at, (byte) acc);
        }
    }

    @Override
    void update(byte[] tables, int dataIndex, MemorySegment oldData, MemorySegment newData,
            MemorySegment[] parity, long offsetBytes, int lengthBytes) {
        int k = dataCount;
        long end = offsetBytes + lengthBytes;
        long vectorEnd = offsetBytes + (lengthBytes - lengthBytes % VECTOR_BYTES);
        int rowStride = k * TABLE_STRIDE;
        int tableBase = dataIndex * TABLE_STRIDE;
        // Parity-outer: each pass has one output and the two data segments loop-invariant (C2
        // hoists their checks) and its two tables in registers; the delta is recomputed per
        // parity, which is cheaper than a position-outer loop over m different segments.
        int vectorLength = (int) (vectorEnd - offsetBytes);
        for (int p = 0; p < parityCount; p++) {
            int t = tableBase + p * rowStride;
            updatePass(tables, t, oldData.address(), newData.address(), parity[p].address(),
                    offsetBytes, vectorLength);
        }
        for (long at = vectorEnd; at < end; at++) {
            int delta = (oldData.get(ValueLayout.JAVA_BYTE, at)
                    ^ newData.get(ValueLayout.JAVA_BYTE, at)) & 0xFF;
            for (int p = 0; p < parityCount; p++) {
                MemorySegment out = parity[p];
                int product = multiplyByte(tables, tableBase + p * rowStride, delta);
                out.set(ValueLayout.JAVA_BYTE, at,
                        (byte) (out.get(ValueLayout.JAVA_BYTE, at) ^ product));
            }
        }
    }
}
