package io.basalt.protocol.data;

/**
 * Outcome codes of chunk server operations, as carried in the {@code status} field of a reply frame
 * (see {@code docs/formats.md}, "Chunk server"). Codes are part of the wire format: never renumber.
 */
public enum CsStatus {
    OK(0),
    /** The request's chunk version is older than the one meta told this CS. */
    STALE_VERSION(1),
    /** A block read from disk does not match its stored CRC32C; the data is not returned. */
    CORRUPT_BLOCK(2),
    /** A block received on the wire does not match the CRC32C sent with it. */
    BAD_CRC(3),
    /** The data disk is full; nothing of the request was applied. */
    NO_SPACE(4),
    /** The disk failed (EIO, failed fsync); nothing of the request is known to be durable. */
    IO_ERROR(5),
    /** Bad offset, length or alignment. */
    INVALID(6),
    /** The request was not answered within the request timeout; a write's outcome is unknown. */
    TIMEOUT(7),
    /** The operation is not implemented by this CS. */
    NOT_SUPPORTED(8),
    /** The frame broke the protocol (too long, bad payload size); the connection is closed after. */
    PROTOCOL(9),
    /** A replica did not make a forwarded write durable; the message names the replica. */
    REPLICA_FAILED(10),
    /** The CS is shutting down or its WAL failed earlier and it takes no more writes. */
    UNAVAILABLE(11),
    /**
     * An erasure-coded strip in the range was prepared and its transaction is not decided here yet:
     * read it through the stripe master, which decides it (EC_READ).
     */
    PENDING(12),
    /**
     * An erasure-coded stripe cannot be read or written from what is reachable and consistent: fewer
     * than k columns, or strips of different writes that cannot be reconciled (the stripe needs repair).
     */
    STRIPE_UNAVAILABLE(13),
    /**
     * The chunk server's hot store (docs/hot-tier.md) is at its hard limit; nothing was applied. The
     * client writes the same range to the erasure-coded stripes instead, so a write never fails for it.
     */
    HOT_FULL(14),
    /**
     * The sender's certificate role may not send this frame type: the steps of erasure-coded
     * writes, recovery, scrub and the hot tier that only chunk servers send to each other
     * ({@link DataFrame#chunkServerOnly}); nothing was applied.
     */
    FORBIDDEN(15),
    /**
     * The chunk server is behind (its WAL queue or its read queue is full); nothing of the request
     * was applied. Not a failure: the sender waits a little and sends it again, and reports nobody.
     * A primary or stripe master passes a replica's or column's BUSY on in its REPLICA_FAILED text
     * ("replica ADDRESS answered BUSY: ..."), which the client reads the same way.
     */
    BUSY(16);

    public final int code;

    CsStatus(int code) {
        this.code = code;
    }

    private static final CsStatus[] BY_CODE = values();

    /** The status with wire code {@code code}; unknown codes are refused. */
    public static CsStatus ofCode(int code) {
        if (code < 0 || code >= BY_CODE.length) {
            throw new IllegalArgumentException("unknown chunk server status code " + code);
        }
        CsStatus status = BY_CODE[code];
        assert status.code == code;
        return status;
    }
}
