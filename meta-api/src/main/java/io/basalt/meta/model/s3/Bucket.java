package io.basalt.meta.model.s3;

import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;

/**
 * An S3 bucket: its id (the prefix of every index key of its objects), owner (access key of the user
 * that created it), storage policy for its objects (a volume policy: ec4+2, rep3, ...), versioning,
 * and counters kept by every object change (current versions and their logical bytes).
 *
 * <p>Wire form: {@code i64 id | string name | string owner | string policyName |
 * i64 createdMillis | u8 versioning | i64 objectCount | i64 logicalBytes}.
 */
public record Bucket(long id, String name, String owner, String policyName, long createdMillis,
                     Versioning versioning, long objectCount, long logicalBytes) {

    public Bucket withVersioning(Versioning newVersioning) {
        return new Bucket(id, name, owner, policyName, createdMillis, newVersioning, objectCount,
                logicalBytes);
    }

    /** The counters after a change of the current versions by these deltas. */
    public Bucket withCounts(long objectCountDelta, long logicalBytesDelta) {
        return new Bucket(id, name, owner, policyName, createdMillis, versioning,
                objectCount + objectCountDelta, logicalBytes + logicalBytesDelta);
    }

    public void encode(WireWriter out) {
        out.i64(id).string(name).string(owner).string(policyName).i64(createdMillis)
                .u8(versioning.code).i64(objectCount).i64(logicalBytes);
    }

    public static Bucket decode(WireReader in) {
        return new Bucket(in.i64(), in.string(), in.string(), in.string(), in.i64(),
                Versioning.ofCode(in.u8()), in.i64(), in.i64());
    }
}
