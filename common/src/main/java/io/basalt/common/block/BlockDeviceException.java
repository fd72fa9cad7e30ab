package io.basalt.common.block;

/**
 * A failed block operation, with the kind of failure a protocol needs to answer it (NBD maps each
 * kind to one errno). Operating errors, not bugs: they are expected, counted and answered.
 */
public class BlockDeviceException extends RuntimeException {

    /** What went wrong, in the terms a block protocol can express. */
    public enum Kind {
        /** Bad arguments: unaligned, zero length, unknown flag. */
        INVALID,
        /** The range lies past the end of the device. */
        OUT_OF_RANGE,
        /** Write to a read-only device. */
        READ_ONLY,
        /** No space left to allocate the data. */
        NO_SPACE,
        /** The device cannot do this (e.g. fast zeroing). */
        NOT_SUPPORTED,
        /** The data could not be read or written: disk error, corrupt block, no redundancy left. */
        IO,
        /** The device is shutting down. */
        SHUTDOWN
    }

    private final Kind kind;

    public BlockDeviceException(Kind kind, String message) {
        super(message);
        this.kind = kind;
    }

    public BlockDeviceException(Kind kind, String message, Throwable cause) {
        super(message, cause);
        this.kind = kind;
    }

    public Kind kind() {
        return kind;
    }
}
