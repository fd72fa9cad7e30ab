package io.basalt.cli;

import io.basalt.common.Units;
import io.basalt.meta.api.MetaClient;
import io.basalt.meta.api.MetaException;
import io.basalt.meta.model.CsStatus;
import io.basalt.meta.model.Volume;
import io.basalt.meta.model.s3.Bucket;
import io.basalt.meta.model.s3.ObjectLog;
import java.io.PrintStream;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The objects part of {@code basalt status}: buckets with their objects and bytes, and the object
 * logs (internal volumes, hidden from the volume list) that hold those bytes, with their degraded
 * chunks, so that the health of object data is as visible as a volume's.
 */
record ObjectStatus(List<Bucket> buckets, List<LogVolume> logs) {
    /** An object log, its volume (null if meta has none: a bug) and its degraded chunks. */
    record LogVolume(ObjectLog log, Volume volume, Long degradedChunks) {}

    static final ObjectStatus NONE = new ObjectStatus(List.of(), List.of());

    /** Reads buckets and logs; an older meta without the object index gives {@link #NONE}. */
    static ObjectStatus collect(MetaClient client, Map<Integer, CsStatus> statusById) {
        List<Bucket> buckets;
        List<ObjectLog> logs;
        try {
            buckets = client.listBuckets();
            logs = client.listObjectLogs();
        } catch (MetaException e) {
            return NONE;
        }
        List<LogVolume> volumes = new ArrayList<>();
        for (ObjectLog log : logs) {
            Volume volume;
            try {
                volume = client.getVolume(log.volumeName());
            } catch (MetaException e) {
                volumes.add(new LogVolume(log, null, null));
                continue;
            }
            volumes.add(new LogVolume(log, volume,
                    StatusCommand.degradedChunks(client, volume, statusById).orElse(null)));
        }
        return new ObjectStatus(buckets, volumes);
    }

    /** Degraded chunks of every object log; null when one could not be counted. */
    Long degradedChunks() {
        long total = 0;
        for (LogVolume log : logs) {
            if (log.degradedChunks() == null) {
                return null;
            }
            total += log.degradedChunks();
        }
        return total;
    }

    long objects() {
        return buckets.stream().mapToLong(Bucket::objectCount).sum();
    }

    long logicalBytes() {
        return buckets.stream().mapToLong(Bucket::logicalBytes).sum();
    }

    long rawBytes() {
        return logs.stream().filter(log -> log.volume() != null)
                .mapToLong(log -> VolumeCommand.rawBytes(log.volume())).sum();
    }

    void print(PrintStream out) {
        out.println("objects: " + buckets.size() + " bucket" + (buckets.size() == 1 ? "" : "s") + ", " + objects()
                + " objects, " + Units.formatBytes(logicalBytes()) + " logical, " + Units.formatBytes(rawBytes())
                + " raw in " + logs.size() + " object log" + (logs.size() == 1 ? "" : "s")
                + (degradedChunks() == null || degradedChunks() == 0 ? "" : ", " + degradedChunks()
                        + " degraded chunks"));
        if (buckets.isEmpty()) {
            return;
        }
        TextTable table = new TextTable("  BUCKET", "POLICY", "VERSIONING", "OBJECTS", "BYTES", "OWNER");
        for (Bucket bucket : buckets) {
            table.row("  " + bucket.name(), bucket.policyName(), bucket.versioning().name().toLowerCase(),
                    bucket.objectCount(), Units.formatBytes(bucket.logicalBytes()), bucket.owner());
        }
        table.print(out);
    }

    Map<String, Object> json() {
        Map<String, Object> root = new LinkedHashMap<>();
        List<Object> items = new ArrayList<>();
        for (Bucket bucket : buckets) {
            Map<String, Object> item = new LinkedHashMap<>();
            item.put("name", bucket.name());
            item.put("policy", bucket.policyName());
            item.put("versioning", bucket.versioning().name());
            item.put("objects", bucket.objectCount());
            item.put("logicalBytes", bucket.logicalBytes());
            item.put("owner", bucket.owner());
            items.add(item);
        }
        root.put("buckets", items);
        List<Object> logItems = new ArrayList<>();
        for (LogVolume log : logs) {
            Map<String, Object> item = new LinkedHashMap<>();
            item.put("id", log.log().id());
            item.put("volume", log.log().volumeName());
            item.put("policy", log.log().policyName());
            item.put("sealed", log.log().sealed());
            item.put("writer", log.log().writer());
            item.put("liveBytes", log.log().liveBytes());
            item.put("rawBytes", log.volume() == null ? null : VolumeCommand.rawBytes(log.volume()));
            item.put("degradedChunks", log.degradedChunks());
            logItems.add(item);
        }
        root.put("objectLogs", logItems);
        root.put("objects", objects());
        root.put("logicalBytes", logicalBytes());
        root.put("rawBytes", rawBytes());
        return root;
    }
}
