package io.basalt.meta.model.s3;

/**
 * An object log (docs/objects.md): the internal volume one gateway appends object bytes to.
 * {@code reservedMark}: no byte at or past it was ever written; {@code oldestInFlight}: no write below
 * it was still uncommitted when the mark was last advanced, so after a writer's crash only
 * [oldestInFlight, reservedMark) can hold bytes no object owns.
 */
public record ObjectLog(long id, long volumeId, String volumeName, String policyName, boolean sealed,
                        long reservedMark, long oldestInFlight, String writer, long liveBytes) {}
