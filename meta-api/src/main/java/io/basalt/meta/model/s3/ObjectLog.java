package io.basalt.meta.model.s3;

import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;

/**
 * An object log (docs/objects.md): the internal volume one gateway appends object bytes to.
 * {@code reservedMark}: no byte at or past it was ever written; {@code oldestInFlight}: no write below
 * it was still uncommitted when the mark was last advanced, so after a writer's crash only
 * [oldestInFlight, reservedMark) can hold bytes no object owns. {@code liveBytes}: the space
 * (4 KiB-rounded) of the log's extents in {@code objext}.
 *
 * <p>Wire form: {@code i64 id | i64 volumeId | string volumeName | string policyName | u8 sealed |
 * i64 reservedMark | i64 oldestInFlight | string writer | i64 liveBytes}.
 */
public record ObjectLog(long id, long volumeId, String volumeName, String policyName, boolean sealed,
                        long reservedMark, long oldestInFlight, String writer, long liveBytes) {
    /** Virtual size of every log's volume: address space is never reused, so it is large. */
    public static final long SIZE_BYTES = 16L << 40;
    /** Prefix of a log's volume name; names starting with '.' are internal volumes. */
    public static final String VOLUME_NAME_PREFIX = ".objlog.";

    public static String volumeName(long logId) {
        return VOLUME_NAME_PREFIX + logId;
    }

    public ObjectLog withWriter(String newWriter) {
        return new ObjectLog(id, volumeId, volumeName, policyName, sealed, reservedMark,
                oldestInFlight, newWriter, liveBytes);
    }

    public ObjectLog withMarks(long newReservedMark, long newOldestInFlight) {
        return new ObjectLog(id, volumeId, volumeName, policyName, sealed, newReservedMark,
                newOldestInFlight, writer, liveBytes);
    }

    public ObjectLog sealedLog() {
        return new ObjectLog(id, volumeId, volumeName, policyName, true, reservedMark,
                oldestInFlight, writer, liveBytes);
    }

    public ObjectLog withLiveBytesDelta(long deltaBytes) {
        return new ObjectLog(id, volumeId, volumeName, policyName, sealed, reservedMark,
                oldestInFlight, writer, liveBytes + deltaBytes);
    }

    public void encode(WireWriter out) {
        out.i64(id).i64(volumeId).string(volumeName).string(policyName).bool(sealed)
                .i64(reservedMark).i64(oldestInFlight).string(writer).i64(liveBytes);
    }

    public static ObjectLog decode(WireReader in) {
        return new ObjectLog(in.i64(), in.i64(), in.string(), in.string(), in.bool(), in.i64(),
                in.i64(), in.string(), in.i64());
    }
}
