package io.basalt.ec;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Downcall handles into ISA-L ({@code libisal.so.2}, Debian package {@code libisal2}) through
 * the FFM API: no JNI glue to compile, and the JVM falls back to Java when the library is absent.
 *
 * <p>Design note: every function is linked {@link Linker.Option#critical(boolean) critical}
 * with heap access. They are short, never call back into Java and never block, so the call
 * skips the thread-state transition (it matters at 4 KiB strips, where a call is ~200 ns of
 * work), and the pointer arrays ({@code unsigned char **}) can be plain {@code long[]}s owned
 * by the calling thread instead of native allocations per call. The price is that GC waits for
 * a running call, so the codec bounds each call's length (see {@link IsalErasureCodec}).
 * Strip pointers are passed as {@code JAVA_LONG}: on LP64 (x86-64 SysV, AArch64) a pointer and
 * a 64-bit integer go in the same register, and this avoids a segment object per call.
 *
 * <p>Signatures from {@code /usr/include/isa-l/erasure_code.h} (ISA-L 2.x):
 * <pre>
 * void ec_init_tables(int k, int rows, unsigned char *a, unsigned char *gftbls);
 * void ec_encode_data(int len, int k, int rows, unsigned char *gftbls,
 *                     unsigned char **data, unsigned char **coding);
 * void ec_encode_data_update(int len, int k, int rows, int vec_i, unsigned char *g_tbls,
 *                            unsigned char *data, unsigned char **coding);
 * int  gf_invert_matrix(unsigned char *in, unsigned char *out, const int n);
 * void gf_gen_cauchy1_matrix(unsigned char *a, int m, int k);
 * </pre>
 */
final class IsaL {
    /** The soname to load; {@code -Dbasalt.ec.isalLibrary} overrides it (tests use a bogus one
     * to check the no-ISA-L path on a machine that has it). */
    static final String LIBRARY = System.getProperty("basalt.ec.isalLibrary", "libisal.so.2");

    private static final Binding BINDING;
    private static final String UNAVAILABLE_REASON;

    static {
        Binding binding = null;
        String reason = null;
        if (ValueLayout.ADDRESS.byteSize() != 8) {
            reason = "not an LP64 platform";
        } else {
            try {
                binding = new Binding(SymbolLookup.libraryLookup(LIBRARY, Arena.global()));
            } catch (IllegalArgumentException e) {
                reason = LIBRARY + " not found (" + e.getMessage() + "); install libisal2";
            } catch (IllegalCallerException e) {
                reason = "native access not enabled: run the JVM with "
                        + "--enable-native-access=ALL-UNNAMED";
            } catch (RuntimeException | LinkageError e) {
                reason = "cannot link " + LIBRARY + ": " + e;
            }
        }
        BINDING = binding;
        UNAVAILABLE_REASON = reason;
    }

    private IsaL() {}

    /** Whether ISA-L is loaded and linked. */
    static boolean available() {
        return BINDING != null;
    }

    /** Why ISA-L is not available, or null if it is. */
    static String unavailableReason() {
        return UNAVAILABLE_REASON;
    }

    static Binding binding() {
        if (BINDING == null) {
            throw new IllegalStateException("ISA-L is not available: " + UNAVAILABLE_REASON);
        }
        return BINDING;
    }

    /** The linked functions. */
    static final class Binding {
        final MethodHandle ecInitTables;
        final MethodHandle ecEncodeData;
        final MethodHandle ecEncodeDataUpdate;
        final MethodHandle gfInvertMatrix;
        final MethodHandle gfGenCauchy1Matrix;

        private Binding(SymbolLookup lookup) {
            Linker linker = Linker.nativeLinker();
            Linker.Option critical = Linker.Option.critical(true);
            ValueLayout.OfInt i32 = ValueLayout.JAVA_INT;
            ValueLayout ptr = ValueLayout.ADDRESS;
            ValueLayout.OfLong rawPtr = ValueLayout.JAVA_LONG;
            ecInitTables = linker.downcallHandle(find(lookup, "ec_init_tables"),
                    FunctionDescriptor.ofVoid(i32, i32, ptr, ptr), critical);
            ecEncodeData = linker.downcallHandle(find(lookup, "ec_encode_data"),
                    FunctionDescriptor.ofVoid(i32, i32, i32, ptr, ptr, ptr), critical);
            ecEncodeDataUpdate = linker.downcallHandle(find(lookup, "ec_encode_data_update"),
                    FunctionDescriptor.ofVoid(i32, i32, i32, i32, ptr, rawPtr, ptr), critical);
            gfInvertMatrix = linker.downcallHandle(find(lookup, "gf_invert_matrix"),
                    FunctionDescriptor.of(i32, ptr, ptr, i32), critical);
            gfGenCauchy1Matrix = linker.downcallHandle(find(lookup, "gf_gen_cauchy1_matrix"),
                    FunctionDescriptor.ofVoid(ptr, i32, i32), critical);
        }

        private static MemorySegment find(SymbolLookup lookup, String name) {
            return lookup.find(name).orElseThrow(() -> new IllegalArgumentException(
                    "symbol " + name + " missing from " + LIBRARY));
        }

        void ecInitTables(int k, int rows, byte[] coefficients, MemorySegment tables) {
            try {
                ecInitTables.invokeExact(k, rows, MemorySegment.ofArray(coefficients), tables);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        void ecEncodeData(int length, int k, int rows, MemorySegment tables,
                MemorySegment sourcePointers, MemorySegment outputPointers) {
            try {
                ecEncodeData.invokeExact(length, k, rows, tables, sourcePointers, outputPointers);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        void ecEncodeDataUpdate(int length, int k, int rows, int sourceIndex,
                MemorySegment tables, long sourceAddress, MemorySegment outputPointers) {
            try {
                ecEncodeDataUpdate.invokeExact(length, k, rows, sourceIndex, tables,
                        sourceAddress, outputPointers);
            } catch (Throwable t) {
                throw rethrow(t);
            }
        }

        /** @return the inverse, or null if singular (input is not modified). */
        byte[] gfInvertMatrix(byte[] matrix, int n) {
            byte[] work = matrix.clone();
            byte[] inverse = new byte[n * n];
            int status;
            try {
                status = (int) gfInvertMatrix.invokeExact(MemorySegment.ofArray(work),
                        MemorySegment.ofArray(inverse), n);
            } catch (Throwable t) {
                throw rethrow(t);
            }
            return status == 0 ? inverse : null;
        }

        byte[] gfGenCauchy1Matrix(int k, int m) {
            byte[] matrix = new byte[(k + m) * k];
            try {
                gfGenCauchy1Matrix.invokeExact(MemorySegment.ofArray(matrix), k + m, k);
            } catch (Throwable t) {
                throw rethrow(t);
            }
            return matrix;
        }

        private static RuntimeException rethrow(Throwable t) {
            if (t instanceof RuntimeException e) {
                return e;
            }
            if (t instanceof Error e) {
                throw e;
            }
            return new IllegalStateException("ISA-L call failed", t);
        }
    }
}
