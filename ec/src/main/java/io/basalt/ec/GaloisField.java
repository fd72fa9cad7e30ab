package io.basalt.ec;

/**
 * Arithmetic in GF(2^8) with the reducing polynomial x^8 + x^4 + x^3 + x^2 + 1 (0x11D), the
 * field ISA-L uses, so that every matrix built here equals the one ISA-L builds.
 *
 * <p>Design note: multiplication goes through log/exp tables (512-entry exp table so the sum
 * of two logs needs no modulo). These are used only to build matrices and the per-coefficient
 * lookup tables; the hot loops never call {@link #multiply} per byte, they use the split-nibble
 * tables from {@link #nibbleTables}.
 */
public final class GaloisField {
    /** The reducing polynomial with the x^8 term: 0x11D, the one ISA-L and most RS codes use. */
    public static final int POLYNOMIAL = 0x11D;
    /** 2 generates the multiplicative group of GF(2^8) mod 0x11D. */
    private static final int GENERATOR = 2;

    private static final byte[] EXP = new byte[512];
    private static final int[] LOG = new int[256];

    static {
        int x = 1;
        for (int i = 0; i < 255; i++) {
            EXP[i] = (byte) x;
            LOG[x] = i;
            x = x * GENERATOR;
            if (x >= 256) {
                x ^= POLYNOMIAL;
            }
        }
        assert x == 1 : "2 must generate GF(2^8)* for 0x11D";
        for (int i = 255; i < EXP.length; i++) {
            EXP[i] = EXP[i - 255];
        }
    }

    private GaloisField() {}

    /** Product of two field elements (each 0..255). */
    public static int multiply(int a, int b) {
        if (a == 0 || b == 0) {
            return 0;
        }
        return EXP[LOG[a & 0xFF] + LOG[b & 0xFF]] & 0xFF;
    }

    /** Multiplicative inverse of a non-zero element. */
    public static int inverse(int a) {
        if ((a & 0xFF) == 0) {
            throw new ArithmeticException("0 has no inverse in GF(2^8)");
        }
        return EXP[255 - LOG[a & 0xFF]] & 0xFF;
    }

    /**
     * The (k+m) x k systematic encode matrix exactly as ISA-L's {@code gf_gen_cauchy1_matrix(a,
     * k+m, k)} builds it: rows 0..k-1 are the identity; row i (k &lt;= i &lt; k+m), column j is
     * {@code 1 / (i XOR j)} (addition in GF(2^8) is XOR, so this is 1/(i+j)). Row-major.
     */
    public static byte[] cauchy1Matrix(int dataCount, int parityCount) {
        int rows = dataCount + parityCount;
        byte[] matrix = new byte[rows * dataCount];
        for (int i = 0; i < dataCount; i++) {
            matrix[i * dataCount + i] = 1;
        }
        for (int i = dataCount; i < rows; i++) {
            for (int j = 0; j < dataCount; j++) {
                matrix[i * dataCount + j] = (byte) inverse(i ^ j);
            }
        }
        return matrix;
    }

    /**
     * Inverts an n x n row-major matrix by Gauss-Jordan elimination, as ISA-L's
     * {@code gf_invert_matrix} does (the inverse is unique, so the result is the same bytes).
     *
     * @return the inverse, or {@code null} if the matrix is singular
     */
    public static byte[] invert(byte[] matrix, int n) {
        if (matrix.length != n * n) {
            throw new IllegalArgumentException(
                    "matrix has " + matrix.length + " bytes, expected " + n + "x" + n);
        }
        byte[] work = matrix.clone();
        byte[] inverse = new byte[n * n];
        for (int i = 0; i < n; i++) {
            inverse[i * n + i] = 1;
        }
        for (int col = 0; col < n; col++) {
            if (work[col * n + col] == 0) {
                int pivotRow = col + 1;
                while (pivotRow < n && work[pivotRow * n + col] == 0) {
                    pivotRow++;
                }
                if (pivotRow == n) {
                    return null;
                }
                swapRows(work, n, col, pivotRow);
                swapRows(inverse, n, col, pivotRow);
            }
            int scale = inverse(work[col * n + col]);
            for (int j = 0; j < n; j++) {
                work[col * n + j] = (byte) multiply(work[col * n + j], scale);
                inverse[col * n + j] = (byte) multiply(inverse[col * n + j], scale);
            }
            for (int row = 0; row < n; row++) {
                if (row == col) {
                    continue;
                }
                int factor = work[row * n + col] & 0xFF;
                if (factor == 0) {
                    continue;
                }
                for (int j = 0; j < n; j++) {
                    work[row * n + j] ^= (byte) multiply(factor, work[col * n + j]);
                    inverse[row * n + j] ^= (byte) multiply(factor, inverse[col * n + j]);
                }
            }
        }
        return inverse;
    }

    private static void swapRows(byte[] matrix, int n, int a, int b) {
        for (int j = 0; j < n; j++) {
            byte t = matrix[a * n + j];
            matrix[a * n + j] = matrix[b * n + j];
            matrix[b * n + j] = t;
        }
    }

    /**
     * The split-nibble ("pshufb") tables of one coefficient c, 32 bytes, in ISA-L's
     * {@code ec_init_tables} layout: bytes 0..15 are c*x for x = 0..15 (low nibble), bytes
     * 16..31 are c*(x&lt;&lt;4) (high nibble). Since multiplication distributes over XOR,
     * c*b = low[b &amp; 15] XOR high[b &gt;&gt;&gt; 4].
     */
    public static void nibbleTables(int coefficient, byte[] out, int offset) {
        for (int x = 0; x < 16; x++) {
            out[offset + x] = (byte) multiply(coefficient, x);
            out[offset + 16 + x] = (byte) multiply(coefficient, x << 4);
        }
    }
}
