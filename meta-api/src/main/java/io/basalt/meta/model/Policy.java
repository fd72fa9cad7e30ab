package io.basalt.meta.model;

import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * A storage policy: {@code rep<N>} (N full copies) or {@code ec<k>+<m>} (k data and m parity
 * strips), spread over distinct failure domains, hosts unless the name ends in {@code @cs} or
 * {@code @zone}. Policies are named by this text, so a name is its own definition.
 */
public record Policy(String name, boolean erasureCoded, int dataCount, int parityCount,
                     FailureDomain failureDomain, int stripSizeBytes) {

    public static final int STRIP_SIZE_BYTES = 4096;
    public static final int REPLICAS_MAX = 8;
    public static final int EC_DATA_MAX = 16;
    public static final int EC_PARITY_MAX = 8;
    public static final String RULE = "rep1..rep8 or ecK+M (K 1..16, M 1..8), optionally with"
            + " @cs, @host (default) or @zone, e.g. rep3, ec4+2, rep2@zone";

    private static final Pattern SYNTAX =
            Pattern.compile("(?:rep(\\d{1,2})|ec(\\d{1,2})\\+(\\d{1,2}))(?:@(cs|host|zone))?");

    /** Bytes of one stripe of data: strip size times data strips (one strip if replicated). */
    public long stripeBytes() {
        return erasureCoded ? (long) stripSizeBytes * dataCount : stripSizeBytes;
    }

    /** Chunklets per chunk. */
    public int width() {
        return dataCount + parityCount;
    }

    /**
     * Chunklets a new chunk must have on serving chunk servers; the others may start OUTDATED on a
     * server that is away when the cluster has no other failure domain for them (like Ceph's
     * min_size): k+1 strips for erasure codes (one failure still survivable), two copies for
     * replicas (or all of them below rep3).
     */
    public int minLiveAtCreate() {
        return Math.min(width(), erasureCoded ? dataCount + 1 : 2);
    }

    /** Bytes each chunklet of a chunk of {@code chunkSizeBytes} holds. */
    public long chunkletSizeBytes(long chunkSizeBytes) {
        return erasureCoded ? chunkSizeBytes / dataCount : chunkSizeBytes;
    }

    /** Parses a policy name; throws IllegalArgumentException naming the rule. */
    public static Policy parse(String text) {
        Matcher matcher = SYNTAX.matcher(text.toLowerCase(Locale.ROOT));
        if (!matcher.matches()) {
            throw new IllegalArgumentException("unknown policy \"" + text + "\"; use " + RULE);
        }
        FailureDomain domain = matcher.group(4) == null ? FailureDomain.HOST
                : FailureDomain.valueOf(matcher.group(4).toUpperCase(Locale.ROOT));
        String suffix = domain == FailureDomain.HOST ? "" : "@" + matcher.group(4);
        if (matcher.group(1) != null) {
            int replicas = Integer.parseInt(matcher.group(1));
            if (replicas < 1 || replicas > REPLICAS_MAX) {
                throw new IllegalArgumentException("policy \"" + text + "\": " + replicas
                        + " replicas (1.." + REPLICAS_MAX + "); use " + RULE);
            }
            return new Policy("rep" + replicas + suffix, false, replicas, 0, domain,
                    STRIP_SIZE_BYTES);
        }
        int data = Integer.parseInt(matcher.group(2));
        int parity = Integer.parseInt(matcher.group(3));
        if (data < 1 || data > EC_DATA_MAX || parity < 1 || parity > EC_PARITY_MAX) {
            throw new IllegalArgumentException("policy \"" + text + "\": ec" + data + "+" + parity
                    + " out of range; use " + RULE);
        }
        return new Policy("ec" + data + "+" + parity + suffix, true, data, parity, domain,
                STRIP_SIZE_BYTES);
    }

    public void encode(WireWriter out) {
        out.string(name).bool(erasureCoded).i32(dataCount).i32(parityCount).u8(failureDomain.code)
                .i32(stripSizeBytes);
    }

    public static Policy decode(WireReader in) {
        return new Policy(in.string(), in.bool(), in.i32(), in.i32(),
                FailureDomain.ofCode(in.u8()), in.i32());
    }
}
