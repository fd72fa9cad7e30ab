package io.basalt.ec;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;

/**
 * The native codec: ISA-L's own {@code ec_encode_data} (AVX2/AVX-512/GFNI kernels chosen by
 * ISA-L at run time), with ISA-L's matrix generation and inversion, so Basalt's bytes are
 * ISA-L's by construction.
 *
 * <p>Pointer arrays live in a per-thread {@link Scratch} ({@code long[]}, passed to the critical
 * downcall as heap segments), so a call allocates nothing. Each downcall covers at most
 * {@link #CALL_LENGTH_MAX_BYTES} of every strip so a long encode does not hold off the GC: at
 * ~10 GB/s that is ~30-100 us per call.
 */
final class IsalErasureCodec extends AbstractErasureCodec<MemorySegment> {
    /** Bytes of each strip per downcall; a multiple of 64. */
    static final int CALL_LENGTH_MAX_BYTES = 256 * 1024;

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    IsalErasureCodec(int dataCount, int parityCount) {
        super(dataCount, parityCount);
    }

    @Override
    public ErasureCodecs.Implementation implementation() {
        return ErasureCodecs.Implementation.ISAL_NATIVE;
    }

    @Override
    byte[] buildEncodeMatrix(int k, int m) {
        return IsaL.binding().gfGenCauchy1Matrix(k, m);
    }

    @Override
    byte[] invert(byte[] matrix, int n) {
        return IsaL.binding().gfInvertMatrix(matrix, n);
    }

    @Override
    MemorySegment prepareTables(byte[] coefficients, int rows) {
        // Arena.ofAuto: an evicted decode plan's tables are freed by the GC.
        MemorySegment tables = Arena.ofAuto().allocate(32L * coefficients.length, 64);
        IsaL.binding().ecInitTables(dataCount, rows, coefficients, tables);
        return tables;
    }

    @Override
    void multiply(MemorySegment tables, int rows, MemorySegment[] sources, int[] sourceIndexes,
            MemorySegment[] outputs, int[] outputIndexes, long offsetBytes, int lengthBytes) {
        Scratch scratch = SCRATCH.get();
        long[] sourcePointers = scratch.sourcePointers;
        long[] outputPointers = scratch.outputPointers;
        IsaL.Binding isal = IsaL.binding();
        for (int done = 0; done < lengthBytes; done += CALL_LENGTH_MAX_BYTES) {
            int callLength = Math.min(CALL_LENGTH_MAX_BYTES, lengthBytes - done);
            long at = offsetBytes + done;
            for (int j = 0; j < dataCount; j++) {
                sourcePointers[j] = sources[sourceIndexes[j]].address() + at;
            }
            for (int r = 0; r < rows; r++) {
                outputPointers[r] = outputs[outputIndexes[r]].address() + at;
            }
            isal.ecEncodeData(callLength, dataCount, rows, tables, scratch.sourcePointersSegment,
                    scratch.outputPointersSegment);
        }
    }

    @Override
    void update(MemorySegment tables, int dataIndex, MemorySegment oldData,
            MemorySegment newData, MemorySegment[] parity, long offsetBytes, int lengthBytes) {
        Scratch scratch = SCRATCH.get();
        long[] outputPointers = scratch.outputPointers;
        IsaL.Binding isal = IsaL.binding();
        for (int done = 0; done < lengthBytes; done += CALL_LENGTH_MAX_BYTES) {
            int callLength = Math.min(CALL_LENGTH_MAX_BYTES, lengthBytes - done);
            long at = offsetBytes + done;
            for (int p = 0; p < parityCount; p++) {
                outputPointers[p] = parity[p].address() + at;
            }
            // parity ^= c*old ^ c*new = c*(old ^ new): two passes, no scratch strip for the delta.
            isal.ecEncodeDataUpdate(callLength, dataCount, parityCount, dataIndex, tables,
                    oldData.address() + at, scratch.outputPointersSegment);
            isal.ecEncodeDataUpdate(callLength, dataCount, parityCount, dataIndex, tables,
                    newData.address() + at, scratch.outputPointersSegment);
        }
    }

    /** One thread's pointer arrays and their segment views, made once per thread. */
    private static final class Scratch {
        final long[] sourcePointers = new long[STRIPS_MAX];
        final long[] outputPointers = new long[STRIPS_MAX];
        final MemorySegment sourcePointersSegment = MemorySegment.ofArray(sourcePointers);
        final MemorySegment outputPointersSegment = MemorySegment.ofArray(outputPointers);
    }
}
