package io.basalt.common.block;

/**
 * A run of bytes with one allocation state, as reported by {@link BlockDevice#blockStatus}.
 *
 * @param lengthBytes positive length of the run
 * @param hole the range is not allocated (a sparse hole, an unallocated chunk)
 * @param zero the range reads as zeroes
 */
public record Extent(long lengthBytes, boolean hole, boolean zero) {
    public Extent {
        if (lengthBytes <= 0) {
            throw new IllegalArgumentException("extent length " + lengthBytes + " must be positive");
        }
    }

    public static Extent data(long lengthBytes) {
        return new Extent(lengthBytes, false, false);
    }

    public static Extent hole(long lengthBytes) {
        return new Extent(lengthBytes, true, true);
    }
}
