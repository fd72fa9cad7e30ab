package io.basalt.client;

import io.basalt.common.block.BlockDeviceException;
import java.util.List;

/**
 * Why one try of a piece of I/O failed, and what to do before the next: report chunk servers to
 * meta (which replaces their chunklets and raises the chunk version), fetch the chunk map again, or
 * just try again. {@link Remedy#GIVE_UP} ends the I/O with {@link #kind}.
 */
final class AttemptFailure extends RuntimeException {
    enum Remedy { REPORT, REFRESH, RETRY, GIVE_UP }

    final Remedy remedy;
    /** Label for the retries metric. */
    final String reason;
    /** Chunk servers to report (REPORT). */
    final List<Integer> failedCsIds;
    final BlockDeviceException.Kind kind;

    private AttemptFailure(Remedy remedy, String reason, List<Integer> failedCsIds,
            BlockDeviceException.Kind kind, String message) {
        super(message, null, false, false);
        this.remedy = remedy;
        this.reason = reason;
        this.failedCsIds = List.copyOf(failedCsIds);
        this.kind = kind;
    }

    static AttemptFailure report(String reason, List<Integer> csIds, String message) {
        return new AttemptFailure(Remedy.REPORT, reason, csIds, BlockDeviceException.Kind.IO, message);
    }

    static AttemptFailure refresh(String message) {
        return new AttemptFailure(Remedy.REFRESH, "stale_version", List.of(), BlockDeviceException.Kind.IO,
                message);
    }

    /** Fetch the chunk map again and try again, counted under {@code reason}. */
    static AttemptFailure refresh(String reason, String message) {
        return new AttemptFailure(Remedy.REFRESH, reason, List.of(), BlockDeviceException.Kind.IO, message);
    }

    static AttemptFailure retry(String reason, String message) {
        return new AttemptFailure(Remedy.RETRY, reason, List.of(), BlockDeviceException.Kind.IO, message);
    }

    /** Try again; if the tries run out, fail with {@code kind}. */
    static AttemptFailure retry(String reason, BlockDeviceException.Kind kind, String message) {
        return new AttemptFailure(Remedy.RETRY, reason, List.of(), kind, message);
    }

    static AttemptFailure giveUp(BlockDeviceException.Kind kind, String message) {
        return new AttemptFailure(Remedy.GIVE_UP, "fatal", List.of(), kind, message);
    }
}
