package io.basalt.bench;

import io.basalt.ec.ErasureCodec;
import io.basalt.ec.ErasureCodecs;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * Encode and decode throughput, one thread. One operation encodes (or decodes) one stripe, so
 * GB/s = ops/s x k x stripBytes (data bytes in, the convention ISA-L's own perf tests and the C
 * harness bench/isal/ec_bench.c use). Decode rebuilds m data strips (the worst case: every
 * output needs all k sources) with the plan cached, as in a degraded read. updateParity is the
 * parity-delta write of one data strip; its GB/s counts that strip's bytes only (one op =
 * stripBytes).
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector",
        "--enable-native-access=ALL-UNNAMED"})
@State(Scope.Thread)
public class ErasureCodecBenchmark {
    @Param({"ISAL_NATIVE", "JAVA_VECTOR"})
    public String implementation;

    @Param({"3+2", "4+2", "8+3", "9+3"})
    public String shape;

    @Param({"4096", "65536", "1048576"})
    public int stripBytes;

    private Arena arena;
    private ErasureCodec codec;
    private MemorySegment[] data;
    private MemorySegment[] parity;
    private MemorySegment[] stripe;
    private int erasedMask;
    private MemorySegment newData;

    @Setup(Level.Trial)
    public void setUp() {
        String[] km = shape.split("\\+");
        int k = Integer.parseInt(km[0]);
        int m = Integer.parseInt(km[1]);
        codec = ErasureCodecs.create(ErasureCodecs.Implementation.valueOf(implementation), k, m);
        arena = Arena.ofShared();
        Random random = new Random(42);
        data = new MemorySegment[k];
        parity = new MemorySegment[m];
        stripe = new MemorySegment[k + m];
        byte[] bytes = new byte[stripBytes];
        for (int i = 0; i < k + m; i++) {
            MemorySegment strip = arena.allocate(stripBytes, 64);
            random.nextBytes(bytes);
            MemorySegment.copy(bytes, 0, strip, java.lang.foreign.ValueLayout.JAVA_BYTE, 0,
                    stripBytes);
            stripe[i] = strip;
            if (i < k) {
                data[i] = strip;
            } else {
                parity[i - k] = strip;
            }
        }
        codec.encode(data, parity, 0, stripBytes);
        erasedMask = (1 << m) - 1;
        newData = arena.allocate(stripBytes, 64);
        random.nextBytes(bytes);
        MemorySegment.copy(bytes, 0, newData, java.lang.foreign.ValueLayout.JAVA_BYTE, 0,
                stripBytes);
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        arena.close();
    }

    @Benchmark
    public void encode() {
        codec.encode(data, parity, 0, stripBytes);
    }

    @Benchmark
    public void updateParity() {
        // Parity stays consistent with neither old nor new data after repeated calls; the
        // bytes do not matter for timing, only that the same work is done each time.
        codec.updateParity(0, data[0], newData, parity, 0, stripBytes);
    }

    @Benchmark
    public void decode() {
        codec.decode(stripe, erasedMask, 0, stripBytes);
    }
}
