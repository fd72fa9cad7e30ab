package io.basalt.bench;

import io.basalt.common.crc.Crc32c;
import java.nio.ByteBuffer;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * CRC32C throughput, one thread: per-4 KiB block CRCs over a 1 MiB direct buffer (one op =
 * 1 MiB, GB/s = ops/s x 2^20 / 1e9; the C harness runs ISA-L's crc32_iscsi on the same
 * workload), and one 4 KiB block (one op = 4096 bytes), the per-request cost on the data path.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector",
        "--enable-native-access=ALL-UNNAMED"})
@State(Scope.Thread)
public class Crc32cBenchmark {
    private static final int BUFFER_BYTES = 1 << 20;

    private ByteBuffer buffer;
    private int[] crcs;

    @Setup
    public void setUp() {
        byte[] bytes = new byte[BUFFER_BYTES];
        new Random(42).nextBytes(bytes);
        buffer = ByteBuffer.allocateDirect(BUFFER_BYTES).put(bytes).flip();
        crcs = new int[BUFFER_BYTES / Crc32c.BLOCK_SIZE_BYTES];
    }

    @Benchmark
    public int[] blockChecksums1MiB() {
        Crc32c.blockChecksums(buffer, 0, BUFFER_BYTES, crcs, 0);
        return crcs;
    }

    @Benchmark
    public int checksumOneBlock() {
        return Crc32c.checksum(buffer, 0, Crc32c.BLOCK_SIZE_BYTES);
    }
}
