package io.basalt.meta.model;

import io.basalt.meta.api.MalformedMessageException;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;

/**
 * A volume's QoS limits (docs/client.md, "QoS"): operations and bytes per second, for reads and
 * writes together and for each alone, and how much unused allowance may be banked for a burst.
 * Every gateway that opens the volume enforces them in the client library. A limit of 0 is "no
 * limit"; {@link #NONE} limits nothing.
 *
 * <p>Encoded (part of the {@link Volume} record from record format 2, docs/formats.md), 56 bytes:
 * i64 iops, readIops, writeIops, bytesPerSecond, readBytesPerSecond, writeBytesPerSecond,
 * burstMillis.
 *
 * @param burstMillis how many milliseconds of each limit's rate an idle volume banks and may
 *     then spend at once
 */
public record VolumeQos(long iops, long readIops, long writeIops, long bytesPerSecond,
                        long readBytesPerSecond, long writeBytesPerSecond, long burstMillis) {
    /**
     * One second: clients are bursty (a file system's journal commit, a VM's boot) and a second of
     * banked allowance absorbs that without changing the long-run rate.
     */
    public static final long DEFAULT_BURST_MILLIS = 1000;
    /** An hour of banked allowance; more would make the limit meaningless. */
    public static final long BURST_MILLIS_MAX = 3_600_000;
    /** 10^9 operations per second: beyond any device, and rate arithmetic cannot overflow. */
    public static final long OPS_PER_SECOND_MAX = 1_000_000_000L;
    /** 1 TiB/s. */
    public static final long BYTES_PER_SECOND_MAX = 1L << 40;
    public static final int ENCODED_BYTES = 7 * 8;

    public static final VolumeQos NONE = new VolumeQos(0, 0, 0, 0, 0, 0, DEFAULT_BURST_MILLIS);

    /** True when at least one limit is set: only then does the client library meter the volume. */
    public boolean limited() {
        return iops > 0 || readIops > 0 || writeIops > 0 || bytesPerSecond > 0
                || readBytesPerSecond > 0 || writeBytesPerSecond > 0;
    }

    /**
     * This with the fields of {@code change} applied: a field of -1 keeps the current value, 0
     * removes the limit, a positive value sets it (burst: -1 keeps, else sets).
     */
    public VolumeQos merge(VolumeQos change) {
        return new VolumeQos(pick(iops, change.iops), pick(readIops, change.readIops),
                pick(writeIops, change.writeIops), pick(bytesPerSecond, change.bytesPerSecond),
                pick(readBytesPerSecond, change.readBytesPerSecond),
                pick(writeBytesPerSecond, change.writeBytesPerSecond),
                pick(burstMillis, change.burstMillis));
    }

    private static long pick(long current, long change) {
        return change == KEEP ? current : change;
    }

    /** In a change ({@link #merge}): leave this field as it is. */
    public static final long KEEP = -1;

    /** A change that keeps every field. */
    public static final VolumeQos KEEP_ALL = new VolumeQos(KEEP, KEEP, KEEP, KEEP, KEEP, KEEP, KEEP);

    /** A change that removes every limit and resets the burst. */
    public static final VolumeQos CLEAR_ALL = NONE;

    /**
     * Null when every field is valid as a change ({@code allowKeep}) or as stored limits; else the
     * first fault, one line.
     */
    public String check(boolean allowKeep) {
        long floor = allowKeep ? KEEP : 0;
        String[] names = {"iops", "read iops", "write iops", "bandwidth", "read bandwidth",
                "write bandwidth"};
        long[] values = {iops, readIops, writeIops, bytesPerSecond, readBytesPerSecond,
                writeBytesPerSecond};
        for (int i = 0; i < values.length; i++) {
            long max = i < 3 ? OPS_PER_SECOND_MAX : BYTES_PER_SECOND_MAX;
            if (values[i] < floor || values[i] > max) {
                return "QoS " + names[i] + " limit " + values[i] + (i < 3 ? "/s" : " bytes/s")
                        + " (0 = none, or 1.." + max + ")";
            }
        }
        if (burstMillis < floor || burstMillis > BURST_MILLIS_MAX) {
            return "QoS burst " + burstMillis + " ms (0.." + BURST_MILLIS_MAX + ")";
        }
        return null;
    }

    public void encode(WireWriter out) {
        out.i64(iops).i64(readIops).i64(writeIops).i64(bytesPerSecond).i64(readBytesPerSecond)
                .i64(writeBytesPerSecond).i64(burstMillis);
    }

    public static VolumeQos decode(WireReader in) {
        return new VolumeQos(in.i64(), in.i64(), in.i64(), in.i64(), in.i64(), in.i64(), in.i64());
    }

    /** Decodes stored limits and refuses values no writer could have stored. */
    public static VolumeQos decodeChecked(WireReader in) {
        VolumeQos qos = decode(in);
        String fault = qos.check(false);
        if (fault != null) {
            throw new MalformedMessageException("volume record: " + fault);
        }
        return qos;
    }
}
