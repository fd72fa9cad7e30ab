package io.basalt.s3.checksum;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.Checksum;

/**
 * CRC-64/NVME, the CRC S3 offers as {@code x-amz-checksum-crc64nvme} (and uses by default for
 * full-object checksums): reflected polynomial {@code 0x9a6c9329ac4bc9b5} (normal form
 * {@code 0xad93d23594c93659}), initial value and final XOR all ones. Check value of the ASCII
 * bytes {@code 123456789}: {@code 0xae8b14860a799888}.
 *
 * <p>Design note: the JDK has no CRC-64, so this one is table-driven, slice-by-8: eight
 * 256-entry tables (16 KiB, fits L1) let one step fold 8 input bytes with 8 lookups, reading
 * the input as little-endian longs (a reflected CRC consumes the low byte first). Tables are
 * built once at class load: {@code T[0]} is the byte-at-a-time table, {@code T[k][i]} is
 * {@code T[k-1][i]} advanced by one zero byte. Throughput is measured in {@code docs/objects.md};
 * a carry-less-multiply folding version (PCLMULQDQ, as the AWS CRT does) is the next step if
 * the gateway's profile ever shows this loop.
 * Not thread-safe: one instance per stream.
 */
public final class Crc64Nvme implements Checksum {
    /** The reflected polynomial. */
    public static final long POLYNOMIAL_REFLECTED = 0x9a6c9329ac4bc9b5L;

    private static final long[][] TABLES = buildTables();
    private static final VarHandle LONG_LE = MethodHandles.byteArrayViewVarHandle(long[].class,
            ByteOrder.LITTLE_ENDIAN);

    /** The CRC register before the final XOR. */
    private long register = ~0L;

    @Override
    public void update(int b) {
        register = TABLES[0][(int) (register ^ b) & 0xFF] ^ (register >>> 8);
    }

    @Override
    public void update(byte[] bytes, int offset, int length) {
        java.util.Objects.checkFromIndexSize(offset, length, bytes.length);
        long crc = register;
        int index = offset;
        int end = offset + length;
        long[] t0 = TABLES[0];
        long[] t1 = TABLES[1];
        long[] t2 = TABLES[2];
        long[] t3 = TABLES[3];
        long[] t4 = TABLES[4];
        long[] t5 = TABLES[5];
        long[] t6 = TABLES[6];
        long[] t7 = TABLES[7];
        while (end - index >= 8) {
            long x = crc ^ (long) LONG_LE.get(bytes, index);
            crc = t7[(int) x & 0xFF]
                    ^ t6[(int) (x >>> 8) & 0xFF]
                    ^ t5[(int) (x >>> 16) & 0xFF]
                    ^ t4[(int) (x >>> 24) & 0xFF]
                    ^ t3[(int) (x >>> 32) & 0xFF]
                    ^ t2[(int) (x >>> 40) & 0xFF]
                    ^ t1[(int) (x >>> 48) & 0xFF]
                    ^ t0[(int) (x >>> 56)];
            index += 8;
        }
        while (index < end) {
            crc = t0[(int) (crc ^ bytes[index++]) & 0xFF] ^ (crc >>> 8);
        }
        register = crc;
    }

    /** Consumes the buffer from its position to its limit. */
    @Override
    public void update(ByteBuffer buffer) {
        if (buffer.hasArray()) {
            int length = buffer.remaining();
            update(buffer.array(), buffer.arrayOffset() + buffer.position(), length);
            buffer.position(buffer.limit());
            return;
        }
        byte[] scratch = new byte[Math.min(buffer.remaining(), 8192)];
        while (buffer.hasRemaining()) {
            int length = Math.min(scratch.length, buffer.remaining());
            buffer.get(scratch, 0, length);
            update(scratch, 0, length);
        }
    }

    @Override
    public long getValue() {
        return ~register;
    }

    @Override
    public void reset() {
        register = ~0L;
    }

    private static long[][] buildTables() {
        long[][] tables = new long[8][256];
        for (int i = 0; i < 256; i++) {
            long crc = i;
            for (int bit = 0; bit < 8; bit++) {
                crc = (crc & 1) != 0 ? (crc >>> 1) ^ POLYNOMIAL_REFLECTED : crc >>> 1;
            }
            tables[0][i] = crc;
        }
        for (int k = 1; k < 8; k++) {
            for (int i = 0; i < 256; i++) {
                long previous = tables[k - 1][i];
                tables[k][i] = (previous >>> 8) ^ tables[0][(int) previous & 0xFF];
            }
        }
        return tables;
    }
}
