package io.basalt.meta.api;

/**
 * What applying one {@link MetaRequest.RecoverItem} did. Wire form: {@code u8 outcome |
 * u64 chunkVersion | string message}; {@code chunkVersion} is the chunk's version after the item
 * (0 when the chunk is gone), {@code message} says why when the outcome is not CHANGED.
 */
public record RecoverResult(Outcome outcome, long chunkVersion, String message) {

    /** The outcome codes; the code is the byte on the wire. */
    public enum Outcome {
        /** The chunklet moved into recovery (or, for a failed placement, see NO_PLACEMENT). */
        CHANGED(1),
        /** Nothing to do: chunk gone, version moved on, no chunklet there, or not eligible. */
        SKIPPED(2),
        /** Refused: without this chunklet too few UPTODATE ones would stay (it holds the data). */
        LAST_COPY(3),
        /** No chunk server could take it; the chunklet was marked OUTDATED if it was not yet. */
        NO_PLACEMENT(4);

        public final int code;

        Outcome(int code) {
            this.code = code;
        }

        public static Outcome ofCode(int code) {
            for (Outcome outcome : values()) {
                if (outcome.code == code) {
                    return outcome;
                }
            }
            throw new MalformedMessageException("unknown recovery outcome " + code);
        }
    }

    public void encode(WireWriter out) {
        out.u8(outcome.code).i64(chunkVersion).string(message);
    }

    public static RecoverResult decode(WireReader in) {
        return new RecoverResult(Outcome.ofCode(in.u8()), in.i64(), in.string());
    }
}
