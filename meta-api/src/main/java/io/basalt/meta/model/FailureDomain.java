package io.basalt.meta.model;

/** The unit that must not hold two chunklets of one chunk. */
public enum FailureDomain {
    CS(1), HOST(2), ZONE(3);

    public final int code;

    FailureDomain(int code) {
        this.code = code;
    }

    /** The label of {@code server} that names its domain of this kind. */
    public String domainOf(ChunkServer server) {
        return switch (this) {
            case CS -> "cs" + server.id();
            case HOST -> server.host();
            case ZONE -> server.zone();
        };
    }

    public String plural() {
        return switch (this) {
            case CS -> "chunk servers";
            case HOST -> "hosts";
            case ZONE -> "zones";
        };
    }

    public static FailureDomain ofCode(int code) {
        for (FailureDomain domain : values()) {
            if (domain.code == code) {
                return domain;
            }
        }
        throw new io.basalt.meta.api.MalformedMessageException("unknown failure domain " + code);
    }
}
