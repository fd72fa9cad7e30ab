package io.basalt.cli;

import io.basalt.common.Units;
import io.basalt.meta.model.VolumeQos;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import picocli.CommandLine.Option;

/**
 * The QoS options of {@code volume create} and {@code volume qos} (docs/client.md, "QoS"). An
 * option not given leaves that limit as it is; {@code none} removes it. Values are checked here so
 * bad input gets one line and no request is sent.
 */
final class QosOptions {
    @Option(names = "--iops", paramLabel = "N|none",
            description = "Operations per second, reads and writes together.")
    String iops;

    @Option(names = "--read-iops", paramLabel = "N|none", description = "Read operations per second.")
    String readIops;

    @Option(names = "--write-iops", paramLabel = "N|none",
            description = "Write operations per second (trims and write-zeroes count as writes).")
    String writeIops;

    @Option(names = "--bw", paramLabel = "SIZE|none",
            description = "Bytes per second, reads and writes together, e.g. 200M (binary units).")
    String bandwidth;

    @Option(names = "--read-bw", paramLabel = "SIZE|none", description = "Read bytes per second.")
    String readBandwidth;

    @Option(names = "--write-bw", paramLabel = "SIZE|none", description = "Write bytes per second.")
    String writeBandwidth;

    @Option(names = "--burst", paramLabel = "DURATION",
            description = "How much unused allowance an idle volume banks and may spend at once, as time"
                    + " at the limits' rates: 500ms, 5s, 2m, 0 (default 1s).")
    String burst;

    private static final Pattern DURATION = Pattern.compile("(\\d{1,9})(ms|s|m)?");
    private static final String NONE = "none";

    /** True when any QoS option was given. */
    boolean given() {
        return iops != null || readIops != null || writeIops != null || bandwidth != null
                || readBandwidth != null || writeBandwidth != null || burst != null;
    }

    /** The options as a change: {@link VolumeQos#KEEP} for each one not given, 0 for none. */
    VolumeQos change() {
        return new VolumeQos(ops(iops, "--iops"), ops(readIops, "--read-iops"),
                ops(writeIops, "--write-iops"), bytes(bandwidth, "--bw"),
                bytes(readBandwidth, "--read-bw"), bytes(writeBandwidth, "--write-bw"),
                burstMillis(burst));
    }

    /** The options as a new volume's limits: those not given are none, the burst its default. */
    VolumeQos limits() {
        return VolumeQos.NONE.merge(change());
    }

    private static long ops(String text, String option) {
        if (text == null) {
            return VolumeQos.KEEP;
        }
        if (text.trim().equalsIgnoreCase(NONE)) {
            return 0;
        }
        long value;
        try {
            value = Long.parseLong(text.trim());
        } catch (NumberFormatException e) {
            throw new UserError(option + " " + text + ": not a whole number of operations per second;"
                    + " use e.g. " + option + " 2000, or " + option + " none to remove the limit");
        }
        return checkPositive(value, VolumeQos.OPS_PER_SECOND_MAX, option, text);
    }

    private static long bytes(String text, String option) {
        if (text == null) {
            return VolumeQos.KEEP;
        }
        String trimmed = text.trim();
        if (trimmed.equalsIgnoreCase(NONE)) {
            return 0;
        }
        if (trimmed.toLowerCase(Locale.ROOT).endsWith("/s")) {
            trimmed = trimmed.substring(0, trimmed.length() - 2);
        }
        if (trimmed.startsWith("-")) {
            throw new UserError(option + " " + text + ": a limit must be positive; " + option
                    + " none removes it");
        }
        long value;
        try {
            value = Units.parseBytes(trimmed);
        } catch (IllegalArgumentException e) {
            throw new UserError(option + " " + text + ": not a rate; use bytes per second with an optional"
                    + " K/M/G suffix, e.g. " + option + " 200M, or " + option + " none");
        }
        return checkPositive(value, VolumeQos.BYTES_PER_SECOND_MAX, option, text);
    }

    private static long checkPositive(long value, long max, String option, String text) {
        if (value <= 0) {
            throw new UserError(option + " " + text + ": a limit must be positive; " + option
                    + " none removes it (volume qos NAME --clear removes all)");
        }
        if (value > max) {
            throw new UserError(option + " " + text + ": at most " + max);
        }
        return value;
    }

    static long burstMillis(String text) {
        if (text == null) {
            return VolumeQos.KEEP;
        }
        Matcher matcher = DURATION.matcher(text.trim().toLowerCase(Locale.ROOT));
        if (!matcher.matches()) {
            throw new UserError("--burst " + text + ": not a duration; use e.g. 500ms, 5s, 2m or 0");
        }
        long amount = Long.parseLong(matcher.group(1));
        String unit = matcher.group(2) == null ? "s" : matcher.group(2);
        long millis = switch (unit) {
            case "ms" -> amount;
            case "s" -> amount * 1000;
            default -> amount * 60_000;
        };
        if (millis > VolumeQos.BURST_MILLIS_MAX) {
            throw new UserError("--burst " + text + ": at most 1 hour (3600s)");
        }
        return millis;
    }

    /** One line for people: "2000 IOPS, write 500 IOPS, 200.0 MiB/s; burst 1s", or "none". */
    static String summary(VolumeQos qos) {
        if (!qos.limited()) {
            return "none";
        }
        List<String> parts = new ArrayList<>();
        addOps(parts, "", qos.iops());
        addOps(parts, "read ", qos.readIops());
        addOps(parts, "write ", qos.writeIops());
        addBytes(parts, "", qos.bytesPerSecond());
        addBytes(parts, "read ", qos.readBytesPerSecond());
        addBytes(parts, "write ", qos.writeBytesPerSecond());
        return String.join(", ", parts) + "; burst " + formatMillis(qos.burstMillis());
    }

    private static void addOps(List<String> parts, String kind, long value) {
        if (value > 0) {
            parts.add(kind + value + " IOPS");
        }
    }

    private static void addBytes(List<String> parts, String kind, long value) {
        if (value > 0) {
            parts.add(kind + Units.formatBytes(value) + "/s");
        }
    }

    static String formatMillis(long millis) {
        return millis % 1000 == 0 ? millis / 1000 + "s" : millis + "ms";
    }

    static String json(VolumeQos qos) {
        return TextTable.object("iops", qos.iops(), "readIops", qos.readIops(),
                "writeIops", qos.writeIops(), "bytesPerSecond", qos.bytesPerSecond(),
                "readBytesPerSecond", qos.readBytesPerSecond(),
                "writeBytesPerSecond", qos.writeBytesPerSecond(), "burstMillis", qos.burstMillis());
    }
}
