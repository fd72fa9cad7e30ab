package io.basalt.meta.api;

/**
 * Why the recoverer left a degraded chunk as it is (op RECOVERY_STATUS, leader soft state): its
 * last NO_PLACEMENT or LAST_COPY outcome for a chunklet of the chunk. {@code reason} carries no
 * chunk-specific text, so equal reasons can be counted together. Wire form: {@code u64 chunkUid
 * | u64 volumeId | u64 chunkIndex | u64 version | u32 csId | u8 outcome | string reason}.
 */
public record StuckRecovery(long chunkUid, long volumeId, long chunkIndex, long version, int csId,
                            RecoverResult.Outcome outcome, String reason) {
    public void encode(WireWriter out) {
        out.i64(chunkUid).i64(volumeId).i64(chunkIndex).i64(version).i32(csId).u8(outcome.code)
                .string(reason);
    }

    public static StuckRecovery decode(WireReader in) {
        return new StuckRecovery(in.i64(), in.i64(), in.i64(), in.i64(), in.i32(),
                RecoverResult.Outcome.ofCode(in.u8()), in.string());
    }
}
