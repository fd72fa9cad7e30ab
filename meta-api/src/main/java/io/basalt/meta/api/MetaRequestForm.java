package io.basalt.meta.api;

import io.basalt.common.Units;
import io.basalt.meta.model.CsHealth;
import io.basalt.meta.model.CsStatus;
import io.basalt.meta.model.Policy;
import io.basalt.meta.model.Volume;
import java.util.regex.Pattern;

/**
 * The checks a {@link MetaRequest} must pass that need no meta state: names, sizes, codes, page
 * limits. Meta runs them before a request may enter the log, and {@link MetaClient} runs the same
 * ones before sending, so a malformed request fails at the caller with the same message; they live
 * beside the protocol (not in meta's server) so a client has them without the meta daemon's code.
 */
public final class MetaRequestForm {
    public static final String NAME_RULE =
            "1-63 characters of a-z, 0-9, '.', '_' or '-', starting with a letter or digit";
    private static final Pattern NAME = Pattern.compile("[a-z0-9][a-z0-9._-]{0,62}");
    /** 1 PiB: far beyond one volume we expect, small enough that size arithmetic never overflows. */
    public static final long VOLUME_SIZE_BYTES_MAX = 1L << 50;
    public static final long CHUNK_SIZE_BYTES_MIN = 64 * 1024;
    public static final long CHUNK_SIZE_BYTES_MAX = 16L << 30;
    public static final long LEASE_DURATION_MILLIS_MAX = 10 * 60 * 1000;
    public static final String CLIENT_ID_RULE = "1-128 printable ASCII characters";
    /**
     * Most entries one LIST_CS_CHUNK_VERSIONS reply carries: 25 bytes each, so about 100 KiB,
     * small against Ratis' message limit and quick to serve under the read lock.
     */
    public static final int CS_CHUNK_VERSIONS_PAGE_MAX = 4096;
    /** Most chunks one LIST_CHUNKS reply carries: a 16-chunklet EC chunk is about 0.5 KiB. */
    public static final int CHUNKS_PAGE_MAX = 1024;
    /**
     * Most tasks one LIST_RECOVERY_TASKS reply carries: with a 16-chunklet map and addresses a
     * task is under 1 KiB, so a page stays far below Ratis' message limit.
     */
    public static final int RECOVERY_TASKS_PAGE_MAX = 256;

    private MetaRequestForm() {}

    /** Feature bits this build knows ({@link io.basalt.meta.model.Volume#FEATURES_KNOWN}). */
    static String checkFeatures(int features) {
        return (features & ~io.basalt.meta.model.Volume.FEATURES_KNOWN) != 0
                ? "volume feature bits " + Integer.toBinaryString(features) + " (known: "
                        + Integer.toBinaryString(io.basalt.meta.model.Volume.FEATURES_KNOWN) + ")"
                : null;
    }

    /** Form checks that need no state, run before a request may enter the log; null if fine. */
    public static String checkForm(MetaRequest request) {
        return switch (request) {
            case MetaRequest.RegisterCs r -> r.address().isBlank() ? "chunk server address is empty"
                    : r.host().isBlank() ? "chunk server host label is empty"
                    : r.zone().isBlank() ? "chunk server zone label is empty"
                    : r.capacityBytes() <= 0 ? "chunk server capacity " + r.capacityBytes()
                            + " bytes (must be > 0)"
                    : r.csId() < 0 ? "chunk server id " + r.csId() + " (must be >= 0)" : null;
            case MetaRequest.SetCsStatus r -> checkStatusCode(r.expectedStatusCode()) != null
                    ? checkStatusCode(r.expectedStatusCode()) : checkStatusCode(r.newStatusCode());
            case MetaRequest.CreateVolume r -> firstNonNull(checkName(r.name()),
                    checkSize(r.sizeBytes()), checkPolicy(r.policy()),
                    r.chunkSizeBytes() == 0 ? null : checkChunkSize(r.chunkSizeBytes(), r.policy()),
                    r.qos().check(false), checkFeatures(r.features()));
            case MetaRequest.SetVolumeQos r -> firstNonNull(checkName(r.name()),
                    r.change().check(true));
            case MetaRequest.SetVolumeFeatures r -> firstNonNull(checkName(r.name()),
                    checkFeatures(r.set()), checkFeatures(r.clear()));
            case MetaRequest.ResizeVolume r -> firstNonNull(checkName(r.name()),
                    checkSize(r.sizeBytes()));
            case MetaRequest.DeleteVolume r -> checkName(r.name());
            // Internal volumes (object logs, ".objlog.N") are opened by name like any other.
            case MetaRequest.GetVolume r -> r.name().startsWith(".")
                    ? checkName(r.name().substring(1)) : checkLayerName(r.name());
            case MetaRequest.CreateSnapshot r -> firstNonNull(checkName(r.volume()),
                    checkSnapshotName(r.snapshot()));
            case MetaRequest.DeleteSnapshot r -> firstNonNull(checkName(r.volume()),
                    checkSnapshotName(r.snapshot()));
            case MetaRequest.RollbackVolume r -> firstNonNull(checkName(r.volume()),
                    checkSnapshotName(r.snapshot()));
            case MetaRequest.CloneVolume r -> firstNonNull(checkName(r.volume()),
                    checkSnapshotName(r.snapshot()), checkName(r.cloneName()));
            case MetaRequest.ListSnapshots r -> checkName(r.volume());
            case MetaRequest.DetachParent r -> firstNonNull(checkName(r.volume()), r.expectedParentId() <= 0
                    ? "parent layer id " + r.expectedParentId() + " (must be > 0)" : null);
            case MetaRequest.SetFlatten r -> firstNonNull(checkName(r.volume()), r.expectedParentId() <= 0
                    ? "parent layer id " + r.expectedParentId() + " (must be > 0)" : null,
                    r.cursorBytes() < 0 || r.copiedBytes() < 0 ? "flatten cursor " + r.cursorBytes() + ", copied "
                            + r.copiedBytes() + " (must be >= 0)" : null);
            case MetaRequest.GetFlatten r -> checkName(r.volume());
            case MetaRequest.GetLayer r -> r.volumeId() <= 0 ? "volume id " + r.volumeId()
                    + " (must be > 0)" : null;
            case ObjectRequest r -> ObjectRequestForm.checkForm(r);
            case MetaRequest.AllocateChunk r -> r.index() < 0 ? "chunk index " + r.index()
                    + " (must be >= 0)" : null;
            case MetaRequest.GetChunk r -> r.index() < 0 ? "chunk index " + r.index()
                    + " (must be >= 0)" : null;
            case MetaRequest.AcquireLease r -> firstNonNull(checkClientId(r.clientId()),
                    r.durationMillis() <= 0 || r.durationMillis() > LEASE_DURATION_MILLIS_MAX
                            ? "lease duration " + r.durationMillis() + " ms (1.."
                            + LEASE_DURATION_MILLIS_MAX + ")" : null);
            case MetaRequest.ReleaseLease r -> checkClientId(r.clientId());
            case MetaRequest.Heartbeat r -> checkHealthCode(r.healthCode());
            case MetaRequest.ListCsChunkVersions r -> r.afterSeq() < 0 ? "afterSeq "
                    + r.afterSeq() + " (must be >= 0)" : checkLimit(r.limit(),
                    CS_CHUNK_VERSIONS_PAGE_MAX);
            case MetaRequest.ListChunks r -> r.fromIndex() < 0 ? "chunk index " + r.fromIndex()
                    + " (must be >= 0)" : checkLimit(r.limit(), CHUNKS_PAGE_MAX);
            case MetaRequest.RecoverChunklets r -> checkRecoverItems(r);
            case MetaRequest.RecoveryDone r -> r.csId() <= 0 ? "chunk server id " + r.csId()
                    + " (must be > 0)" : null;
            case MetaRequest.DrainCs r -> r.csId() <= 0 ? "chunk server id " + r.csId()
                    + " (must be > 0)" : null;
            case MetaRequest.RemoveCs r -> r.csId() <= 0 ? "chunk server id " + r.csId()
                    + " (must be > 0)" : null;
            case MetaRequest.CollectTombstones r -> checkCollectTombstones(r);
            case MetaRequest.ListRecoveryTasks r -> r.afterChunkUid() < 0 ? "afterChunkUid "
                    + r.afterChunkUid() + " (must be >= 0)" : checkLimit(r.limit(),
                    RECOVERY_TASKS_PAGE_MAX);
            case MetaRequest.InitClusterId r -> r.clusterId().getMostSignificantBits() == 0
                    && r.clusterId().getLeastSignificantBits() == 0
                    ? "cluster id 00000000-0000-0000-0000-000000000000 is reserved" : null;
            default -> null;
        };
    }

    private static String checkCollectTombstones(MetaRequest.CollectTombstones r) {
        if (r.csId() <= 0) {
            return "chunk server id " + r.csId() + " (must be > 0)";
        }
        int count = r.changeSeqs().size();
        if (count < 1 || count > MetaRequest.CollectTombstones.SEQS_MAX) {
            return "tombstones " + count + " (1.." + MetaRequest.CollectTombstones.SEQS_MAX + ")";
        }
        long previous = 0;
        for (long seq : r.changeSeqs()) {
            if (seq <= previous || seq > r.appliedSeq()) {
                return "tombstone changeSeq " + seq + " (must ascend, each in 1.." + r.appliedSeq()
                        + ", the applied seq)";
            }
            previous = seq;
        }
        return null;
    }

    private static String checkRecoverItems(MetaRequest.RecoverChunklets r) {
        int count = r.items().size();
        if (count < 1 || count > MetaRequest.RecoverChunklets.ITEMS_MAX) {
            return "recover items " + count + " (1.." + MetaRequest.RecoverChunklets.ITEMS_MAX
                    + ")";
        }
        for (MetaRequest.RecoverItem item : r.items()) {
            if (item.mode() != MetaRequest.RecoverChunklets.MODE_IN_PLACE
                    && item.mode() != MetaRequest.RecoverChunklets.MODE_REPLACE
                    && item.mode() != MetaRequest.RecoverChunklets.MODE_OUTDATE
                    && item.mode() != MetaRequest.RecoverChunklets.MODE_MIGRATE) {
                return "recover mode " + item.mode()
                        + " (1 in place, 2 replace, 3 outdate, 4 migrate)";
            }
            if (item.csId() <= 0) {
                return "chunk server id " + item.csId() + " (must be > 0)";
            }
            if (item.targetCsId() < 0 || (item.targetCsId() != 0
                    && item.mode() != MetaRequest.RecoverChunklets.MODE_MIGRATE)
                    || item.targetCsId() == item.csId()) {
                return "recover target cs " + item.targetCsId() + " (0, or another cs for"
                        + " migrate)";
            }
        }
        return null;
    }

    private static String firstNonNull(String... messages) {
        for (String message : messages) {
            if (message != null) {
                return message;
            }
        }
        return null;
    }

    private static String checkLimit(int limit, int limitMax) {
        return limit < 1 || limit > limitMax ? "page limit " + limit + " (1.." + limitMax + ")"
                : null;
    }

    private static String checkHealthCode(int code) {
        for (CsHealth health : CsHealth.values()) {
            if (health.code == code) {
                return null;
            }
        }
        return "unknown chunk server health code " + code;
    }

    private static String checkStatusCode(int code) {
        for (CsStatus status : CsStatus.values()) {
            if (status.code == code) {
                return null;
            }
        }
        return "unknown chunk server status code " + code;
    }

    public static final String SNAPSHOT_NAME_RULE = NAME_RULE;

    /** A snapshot's own name (the part after '@'): the volume name rule. */
    public static String checkSnapshotName(String name) {
        if (!NAME.matcher(name).matches()) {
            return "invalid snapshot name \"" + name + "\": use " + SNAPSHOT_NAME_RULE;
        }
        return null;
    }

    /** A volume name, or a snapshot's full name {@code volume@snapshot}. */
    public static String checkLayerName(String name) {
        int at = name.indexOf('@');
        if (at < 0) {
            return checkName(name);
        }
        String volumeError = checkName(name.substring(0, at));
        return volumeError != null ? volumeError : checkSnapshotName(name.substring(at + 1));
    }

    static String checkName(String name) {
        if (!NAME.matcher(name).matches()) {
            return "invalid volume name \"" + name + "\": use " + NAME_RULE;
        }
        return null;
    }

    static String checkClientId(String clientId) {
        if (clientId.isEmpty() || clientId.length() > 128
                || !clientId.chars().allMatch(c -> c > 32 && c < 127)) {
            return "invalid client id \"" + clientId + "\": use " + CLIENT_ID_RULE;
        }
        return null;
    }

    static String checkSize(long sizeBytes) {
        if (sizeBytes <= 0) {
            return "volume size " + sizeBytes + " bytes (must be > 0), e.g. --size 10G";
        }
        if (sizeBytes % Volume.BLOCK_SIZE_BYTES != 0) {
            return "volume size " + sizeBytes + " bytes is not a multiple of the block size "
                    + Volume.BLOCK_SIZE_BYTES + "; round it, e.g. --size "
                    + (sizeBytes / Volume.BLOCK_SIZE_BYTES + 1) * Volume.BLOCK_SIZE_BYTES;
        }
        if (sizeBytes > VOLUME_SIZE_BYTES_MAX) {
            return "volume size " + Units.formatBytes(sizeBytes) + " (max "
                    + Units.formatBytes(VOLUME_SIZE_BYTES_MAX) + ")";
        }
        return null;
    }

    static String checkPolicy(String policy) {
        try {
            Policy.parse(policy);
            return null;
        } catch (IllegalArgumentException e) {
            return e.getMessage();
        }
    }

    /** Chunk sizes: a whole number of stripes (strip size times data strips) within bounds. */
    public static String checkChunkSize(long chunkSizeBytes, String policyName) {
        Policy policy;
        try {
            policy = Policy.parse(policyName);
        } catch (IllegalArgumentException e) {
            return e.getMessage();
        }
        long stripeBytes = policy.stripeBytes();
        if (chunkSizeBytes < CHUNK_SIZE_BYTES_MIN || chunkSizeBytes > CHUNK_SIZE_BYTES_MAX
                || chunkSizeBytes % stripeBytes != 0) {
            return "chunk size " + chunkSizeBytes + " bytes: must be a multiple of " + stripeBytes
                    + " (a whole stripe of " + policy.name() + ") between "
                    + Units.formatBytes(CHUNK_SIZE_BYTES_MIN) + " and "
                    + Units.formatBytes(CHUNK_SIZE_BYTES_MAX);
        }
        return null;
    }
}
