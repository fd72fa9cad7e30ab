package io.basalt.ec;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;

/**
 * A systematic Reed-Solomon code over GF(2^8), byte-for-byte compatible with ISA-L: k data
 * strips, m parity strips, encode matrix from {@code gf_gen_cauchy1_matrix} (see
 * {@code docs/formats.md}, "Erasure code (Reed-Solomon)"). Any m lost strips can be rebuilt
 * from any k survivors.
 *
 * <p>Strips live off-heap: every {@link MemorySegment} must be native memory (a direct
 * buffer or an arena allocation); heap segments are refused so the data path never copies.
 * Each call works on the byte range {@code [offsetBytes, offsetBytes + lengthBytes)} of every
 * strip it is given; {@code lengthBytes} is positive and a multiple of 64. Outputs must not
 * overlap inputs. The caller keeps the segments alive (open arena) for the duration of a call.
 *
 * <p>Implementations are immutable and thread-safe (the decode-matrix cache is internally
 * synchronized). Bad arguments throw {@link IllegalArgumentException} naming value and limit,
 * before any byte is written.
 */
public interface ErasureCodec {
    /** k + m is at most this: strip indexes fit an int bit mask, and ISA-L's tables stay small. */
    int STRIPS_MAX = 32;
    /** Strip lengths are multiples of this (one cache line; all vector widths divide it). */
    int LENGTH_ALIGNMENT_BYTES = 64;

    /** k: strips of user data in a stripe. */
    int dataStripCount();

    /** m: parity strips in a stripe; also the number of strips that may be lost. */
    int parityStripCount();

    /** Which implementation computes the bytes (they all produce the same bytes). */
    ErasureCodecs.Implementation implementation();

    /** The (k+m) x k encode matrix, row-major (a copy). Rows 0..k-1 are the identity. */
    byte[] encodeMatrix();

    /**
     * Computes the m parity strips from the k data strips.
     *
     * @param data k segments, strip i of the stripe at index i
     * @param parity m segments, written
     */
    void encode(MemorySegment[] data, MemorySegment[] parity, long offsetBytes, int lengthBytes);

    /**
     * Rebuilds erased strips from k of the others.
     *
     * @param strips k + m entries indexed by strip index (data 0..k-1, parity k..k+m-1). An
     *     erased strip's entry is the output segment and is written; any other entry is a
     *     survivor, or {@code null} if that strip is unavailable too. The first k survivors by
     *     index are read.
     * @param erasedMask bit i set: strip i is rebuilt. At most m bits; 0 does nothing.
     */
    void decode(MemorySegment[] strips, int erasedMask, long offsetBytes, int lengthBytes);

    /**
     * Parity-delta update for a partial-stripe write of data strip {@code dataIndex}: each
     * parity strip becomes {@code parity XOR c(p, dataIndex) * (oldData XOR newData)}, the same
     * bytes a full re-encode gives, without reading the other data strips. The range
     * {@code [offsetBytes, offsetBytes + lengthBytes)} is the same in all segments: only the
     * changed bytes' columns of parity change.
     *
     * @param parity m segments, read and written in place
     */
    void updateParity(int dataIndex, MemorySegment oldData, MemorySegment newData,
            MemorySegment[] parity, long offsetBytes, int lengthBytes);

    /** {@link #encode(MemorySegment[], MemorySegment[], long, int)} over direct buffers'
     * position..limit (all the same length); positions are not moved. Allocates wrappers. */
    default void encode(ByteBuffer[] data, ByteBuffer[] parity) {
        MemorySegment[] dataSegments = Strips.segments("data", data, dataStripCount());
        MemorySegment[] paritySegments = Strips.segments("parity", parity, parityStripCount());
        encode(dataSegments, paritySegments, 0, Strips.commonLength(dataSegments, paritySegments));
    }

    /** {@link #decode(MemorySegment[], int, long, int)} over direct buffers' position..limit;
     * {@code null} entries are unavailable strips. Allocates wrappers. */
    default void decode(ByteBuffer[] strips, int erasedMask) {
        MemorySegment[] segments =
                Strips.segments("stripe", strips, dataStripCount() + parityStripCount());
        decode(segments, erasedMask, 0, Strips.commonLength(segments));
    }

    /** {@link #updateParity(int, MemorySegment, MemorySegment, MemorySegment[], long, int)}
     * over direct buffers' position..limit. Allocates wrappers. */
    default void updateParity(int dataIndex, ByteBuffer oldData, ByteBuffer newData,
            ByteBuffer[] parity) {
        MemorySegment[] paritySegments = Strips.segments("parity", parity, parityStripCount());
        MemorySegment[] both = Strips.segments("data", new ByteBuffer[] {oldData, newData}, 2);
        updateParity(dataIndex, both[0], both[1], paritySegments, 0,
                Strips.commonLength(both, paritySegments));
    }

    /** The erasure mask with the given strip indexes set (each 0..31, no duplicates). */
    static int erasureMask(int... stripIndexes) {
        int mask = 0;
        for (int index : stripIndexes) {
            if (index < 0 || index >= STRIPS_MAX) {
                throw new IllegalArgumentException(
                        "strip index " + index + " out of range [0, " + STRIPS_MAX + ")");
            }
            if ((mask & (1 << index)) != 0) {
                throw new IllegalArgumentException("strip index " + index + " given twice");
            }
            mask |= 1 << index;
        }
        return mask;
    }
}
