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
 * repeated in every 128-bit lane of a species-wide vector, so the lookup never needs to cross
 * lanes. The loop runs position-outer: one vector of each source is loaded and split into
 * nibbles once, then multiplied into up to four output accumulators kept in registers (the
 * "several parity outputs per pass" of ISA-L's {@code gf_4vect_dot_prod}); more rows take
 * another pass. Strip lengths are multiples of 64, so the scalar tail only runs when the vector
 * is wider than that (never on AVX2); it uses the same tables.
 *
 * <p>The species is a compile-time constant ({@code static final}) so C2 intrinsifies it;
 * {@code -Dbasalt.ec.vectorBits=128|256|512} overrides the default.
 */
final class JavaErasureCodec extends AbstractErasureCodec<byte[]> {
    static final VectorSpecies<Byte> SPECIES = chooseSpecies();
    /** Bytes per vector lane group; tables are repeated to this width. */
    private static final int VECTOR_BYTES = SPECIES.length();
    /** Per coefficient: low table then high table, each VECTOR_BYTES wide. */
    private static final int TABLE_STRIDE = 2 * VECTOR_BYTES;
    private static final int ROWS_PER_PASS = 4;
    private static final ByteOrder ORDER = ByteOrder.nativeOrder();

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
        VectorSpecies<Byte> preferred = ByteVector.SPECIES_PREFERRED;
        // 512-bit byte shuffles need AVX-512 VBMI to be one instruction; 256 is safe everywhere.
        return preferred.vectorBitSize() > 256 ? ByteVector.SPECIES_256 : preferred;
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
        long end = offsetBytes + lengthBytes;
        long vectorEnd = offsetBytes + (lengthBytes - lengthBytes % VECTOR_BYTES);
        for (int row = 0; row < rows; row += ROWS_PER_PASS) {
            int rowsThisPass = Math.min(ROWS_PER_PASS, rows - row);
            int tableBase = row * k * TABLE_STRIDE;
            MemorySegment out0 = outputs[outputIndexes[row]];
            switch (rowsThisPass) {
                case 1 -> multiply1(tables, tableBase, k, sources, sourceIndexes, out0,
                        offsetBytes, vectorEnd);
                case 2 -> multiply2(tables, tableBase, k, sources, sourceIndexes, out0,
                        outputs[outputIndexes[row + 1]], offsetBytes, vectorEnd);
                case 3 -> multiply3(tables, tableBase, k, sources, sourceIndexes, out0,
                        outputs[outputIndexes[row + 1]], outputs[outputIndexes[row + 2]],
                        offsetBytes, vectorEnd);
                case 4 -> multiply4(tables, tableBase, k, sources, sourceIndexes, out0,
                        outputs[outputIndexes[row + 1]], outputs[outputIndexes[row + 2]],
                        outputs[outputIndexes[row + 3]], offsetBytes, vectorEnd);
                default -> throw new AssertionError(rowsThisPass);
            }
            for (int r = row; r < row + rowsThisPass; r++) {
                multiplyScalar(tables, r * k * TABLE_STRIDE, k, sources, sourceIndexes,
                        outputs[outputIndexes[r]], vectorEnd, end);
            }
        }
    }

    private static ByteVector load(MemorySegment segment, long offset) {
        return ByteVector.fromMemorySegment(SPECIES, segment, offset, ORDER);
    }

    /** acc ^ c*x, where lowNibbles and highNibbles are x split, c's tables at tableOffset. */
    private static ByteVector multiplyAdd(ByteVector acc, ByteVector lowNibbles,
            ByteVector highNibbles, byte[] tables, int tableOffset) {
        ByteVector low = ByteVector.fromArray(SPECIES, tables, tableOffset);
        ByteVector high = ByteVector.fromArray(SPECIES, tables, tableOffset + VECTOR_BYTES);
        return acc.lanewise(VectorOperators.XOR, lowNibbles.selectFrom(low))
                .lanewise(VectorOperators.XOR, highNibbles.selectFrom(high));
    }

    private static ByteVector lowNibbles(ByteVector x) {
        return x.and((byte) 0x0F);
    }

    private static ByteVector highNibbles(ByteVector x) {
        // LSHR on bytes shifts the unsigned value, so no mask is needed afterwards.
        return x.lanewise(VectorOperators.LSHR, 4);
    }

    private static void multiply1(byte[] tables, int tableBase, int k, MemorySegment[] sources,
            int[] sourceIndexes, MemorySegment out0, long start, long vectorEnd) {
        for (long at = start; at < vectorEnd; at += VECTOR_BYTES) {
            ByteVector acc0 = ByteVector.zero(SPECIES);
            for (int j = 0; j < k; j++) {
                ByteVector x = load(sources[sourceIndexes[j]], at);
                ByteVector lo = lowNibbles(x);
                ByteVector hi = highNibbles(x);
                acc0 = multiplyAdd(acc0, lo, hi, tables, tableBase + j * TABLE_STRIDE);
            }
            acc0.intoMemorySegment(out0, at, ORDER);
        }
    }

    private static void multiply2(byte[] tables, int tableBase, int k, MemorySegment[] sources,
            int[] sourceIndexes, MemorySegment out0, MemorySegment out1, long start,
            long vectorEnd) {
        int rowStride = k * TABLE_STRIDE;
        for (long at = start; at < vectorEnd; at += VECTOR_BYTES) {
            ByteVector acc0 = ByteVector.zero(SPECIES);
            ByteVector acc1 = acc0;
            for (int j = 0; j < k; j++) {
                ByteVector x = load(sources[sourceIndexes[j]], at);
                ByteVector lo = lowNibbles(x);
                ByteVector hi = highNibbles(x);
                int t = tableBase + j * TABLE_STRIDE;
                acc0 = multiplyAdd(acc0, lo, hi, tables, t);
                acc1 = multiplyAdd(acc1, lo, hi, tables, t + rowStride);
            }
            acc0.intoMemorySegment(out0, at, ORDER);
            acc1.intoMemorySegment(out1, at, ORDER);
        }
    }

    private static void multiply3(byte[] tables, int tableBase, int k, MemorySegment[] sources,
            int[] sourceIndexes, MemorySegment out0, MemorySegment out1, MemorySegment out2,
            long start, long vectorEnd) {
        int rowStride = k * TABLE_STRIDE;
        for (long at = start; at < vectorEnd; at += VECTOR_BYTES) {
            ByteVector acc0 = ByteVector.zero(SPECIES);
            ByteVector acc1 = acc0;
            ByteVector acc2 = acc0;
            for (int j = 0; j < k; j++) {
                ByteVector x = load(sources[sourceIndexes[j]], at);
                ByteVector lo = lowNibbles(x);
                ByteVector hi = highNibbles(x);
                int t = tableBase + j * TABLE_STRIDE;
                acc0 = multiplyAdd(acc0, lo, hi, tables, t);
                acc1 = multiplyAdd(acc1, lo, hi, tables, t + rowStride);
                acc2 = multiplyAdd(acc2, lo, hi, tables, t + 2 * rowStride);
            }
            acc0.intoMemorySegment(out0, at, ORDER);
            acc1.intoMemorySegment(out1, at, ORDER);
            acc2.intoMemorySegment(out2, at, ORDER);
        }
    }

    private static void multiply4(byte[] tables, int tableBase, int k, MemorySegment[] sources,
            int[] sourceIndexes, MemorySegment out0, MemorySegment out1, MemorySegment out2,
            MemorySegment out3, long start, long vectorEnd) {
        int rowStride = k * TABLE_STRIDE;
        for (long at = start; at < vectorEnd; at += VECTOR_BYTES) {
            ByteVector acc0 = ByteVector.zero(SPECIES);
            ByteVector acc1 = acc0;
            ByteVector acc2 = acc0;
            ByteVector acc3 = acc0;
            for (int j = 0; j < k; j++) {
                ByteVector x = load(sources[sourceIndexes[j]], at);
                ByteVector lo = lowNibbles(x);
                ByteVector hi = highNibbles(x);
                int t = tableBase + j * TABLE_STRIDE;
                acc0 = multiplyAdd(acc0, lo, hi, tables, t);
                acc1 = multiplyAdd(acc1, lo, hi, tables, t + rowStride);
                acc2 = multiplyAdd(acc2, lo, hi, tables, t + 2 * rowStride);
                acc3 = multiplyAdd(acc3, lo, hi, tables, t + 3 * rowStride);
            }
            acc0.intoMemorySegment(out0, at, ORDER);
            acc1.intoMemorySegment(out1, at, ORDER);
            acc2.intoMemorySegment(out2, at, ORDER);
            acc3.intoMemorySegment(out3, at, ORDER);
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
        for (long at = offsetBytes; at < vectorEnd; at += VECTOR_BYTES) {
            ByteVector delta = load(oldData, at).lanewise(VectorOperators.XOR, load(newData, at));
            ByteVector lo = lowNibbles(delta);
            ByteVector hi = highNibbles(delta);
            for (int p = 0; p < parityCount; p++) {
                MemorySegment out = parity[p];
                multiplyAdd(load(out, at), lo, hi, tables, tableBase + p * rowStride)
                        .intoMemorySegment(out, at, ORDER);
            }
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
