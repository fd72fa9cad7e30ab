package io.basalt.meta.server;

import io.basalt.meta.api.MetaError;
import io.basalt.meta.api.MetaReply;
import io.basalt.meta.api.ObjectRequest;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;
import io.basalt.meta.model.Lease;
import io.basalt.meta.model.Policy;
import io.basalt.meta.model.Volume;
import io.basalt.meta.model.s3.ObjectExtent;
import io.basalt.meta.model.s3.ObjectLog;
import io.basalt.meta.store.Keys;
import io.basalt.meta.store.MetaStore;
import io.basalt.meta.store.MetaStore.Table;
import io.basalt.meta.store.ObjectKeys;
import io.basalt.meta.store.Tx;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Object logs (docs/objects.md, "Where the bytes are"): the internal volumes gateways append
 * object bytes to, their reservations, and the reclaim of freed extents.
 *
 * <p>Design note. OPEN_OBJECT_LOG hands a log to a writer and gives it the log's volume lease in
 * the same transaction: were the lease taken by a separate request, two gateways could both be
 * handed the same free log before either held it, and the one that lost the lease race would
 * have made itself the log's recorded writer. A lease that moves bumps the versions of the
 * volume's chunks, as ACQUIRE_LEASE does, so the previous writer's late writes are refused.
 */
final class ObjectLogLogic {
    /**
     * How long the lease OPEN_OBJECT_LOG gives lasts; the writer renews it with ACQUIRE_LEASE
     * under the same client id, as the block client renews a volume's (every third of 30 s).
     */
    static final long OBJECT_LOG_LEASE_MILLIS = 30_000;
    /** Most objext entries one OBJECT_LOG_GAPS page steps over. */
    static final int GAPS_EXAMINED_MAX = 10_000;

    private ObjectLogLogic() {}

    static byte[] noSuchLog(long logId) {
        return MetaReply.error(MetaError.NOT_FOUND, "object log " + logId + " does not exist");
    }

    private static Lease lease(Tx tx, long volumeId) {
        byte[] value = tx.get(Table.LEASE, Keys.u64(volumeId));
        return value == null ? null : Lease.decode(new WireReader(value));
    }

    static byte[] open(ObjectRequest.OpenObjectLog r, MetaLogic.EntryContext context, Tx tx) {
        Policy policy = Policy.parse(r.policy());
        Set<Long> excluded = new HashSet<>(r.excludeLogIds());
        for (MetaStore.Entry entry : tx.store().scan(Table.OBJ_LOG, new byte[0])) {
            ObjectLog log = ObjectLog.decode(new WireReader(entry.value()));
            if (log.sealed() || !log.policyName().equals(policy.name())
                    || excluded.contains(log.id())) {
                continue;
            }
            Lease held = lease(tx, log.volumeId());
            if (held != null && held.activeAt(context.timeMillis())
                    && !held.clientId().equals(r.writer())) {
                continue;
            }
            return claim(tx, log, r.writer(), context);
        }
        long chunkSizeBytes = MetaLogic.defaultChunkSize(context.defaultChunkSizeBytes(), policy);
        byte[] unplaceable = MetaLogic.placementError(tx, policy, chunkSizeBytes);
        if (unplaceable != null) {
            return unplaceable;
        }
        long id = MetaLogic.nextCounter(tx, ObjectIndex.NEXT_OBJECT_LOG_ID);
        String name = ObjectLog.volumeName(id);
        if (tx.get(Table.VOLUME_NAME, Keys.ascii(name)) != null) {
            throw new IllegalStateException("volume " + name + " exists before its log");
        }
        Volume volume = MetaLogic.insertVolume(tx, name, ObjectLog.SIZE_BYTES, policy,
                chunkSizeBytes, r.nowMillis());
        ObjectLog log = new ObjectLog(id, volume.id(), name, policy.name(), false, 0, 0, r.writer(),
                0);
        return claim(tx, log, r.writer(), context);
    }

    /** Gives {@code log} and its volume lease to {@code writer}. */
    private static byte[] claim(Tx tx, ObjectLog log, String writer,
                                MetaLogic.EntryContext context) {
        Lease held = lease(tx, log.volumeId());
        long expiryMillis = context.timeMillis() + OBJECT_LOG_LEASE_MILLIS;
        if (held != null && held.clientId().equals(writer)) {
            expiryMillis = Math.max(expiryMillis, held.expiryMillis());
        }
        Lease lease = new Lease(log.volumeId(), writer, expiryMillis);
        WireWriter out = new WireWriter();
        lease.encode(out);
        tx.put(Table.LEASE, Keys.u64(log.volumeId()), out.toByteArray());
        if (held == null || !held.clientId().equals(writer)) {
            MetaLogic.bumpVersions(tx, log.volumeId());
        }
        ObjectLog claimed = log.withWriter(writer);
        ObjectIndex.putLog(tx, claimed);
        return MetaLogic.encode(claimed::encode);
    }

    static byte[] reserve(ObjectRequest.ReserveObjectLog r, Tx tx) {
        ObjectLog log = ObjectIndex.log(tx, r.logId());
        if (log == null) {
            return noSuchLog(r.logId());
        }
        if (!log.writer().equals(r.writer())) {
            return MetaReply.error(MetaError.LEASE_HELD, "object log " + r.logId()
                    + " is written by " + log.writer() + ", not " + r.writer()
                    + "; open another log");
        }
        if (log.sealed()) {
            return MetaReply.error(MetaError.INVALID, "object log " + r.logId()
                    + " is sealed; open another log");
        }
        ObjectLog reserved = log.withMarks(Math.max(log.reservedMark(), r.reservedMark()),
                r.oldestInFlight());
        ObjectIndex.putLog(tx, reserved);
        return MetaLogic.encode(reserved::encode);
    }

    static byte[] seal(ObjectRequest.SealObjectLog r, Tx tx) {
        ObjectLog log = ObjectIndex.log(tx, r.logId());
        if (log == null) {
            return noSuchLog(r.logId());
        }
        ObjectLog sealed = log.sealedLog();
        ObjectIndex.putLog(tx, sealed);
        return MetaLogic.encode(sealed::encode);
    }

    static byte[] freed(ObjectRequest.FreedObjectExtents r, Tx tx) {
        if (ObjectIndex.log(tx, r.logId()) == null) {
            return noSuchLog(r.logId());
        }
        for (long offset : r.offsets()) {
            byte[] key = ObjectKeys.extentKey(r.logId(), offset);
            if (tx.get(Table.OBJ_FREE, key) != null) {
                tx.delete(Table.OBJ_FREE, key);
            }
        }
        return MetaReply.ok(new byte[0]);
    }

    static byte[] listLogs(MetaStore store) {
        List<MetaStore.Entry> entries = store.scan(Table.OBJ_LOG, new byte[0]);
        return MetaLogic.encode(out -> {
            out.i32(entries.size());
            for (MetaStore.Entry entry : entries) {
                out.bytes(entry.value());
            }
        });
    }

    static byte[] frees(ObjectRequest.ObjectLogFrees r, MetaStore store) {
        if (store.get(Table.OBJ_LOG, Keys.u64(r.logId())) == null) {
            return noSuchLog(r.logId());
        }
        List<ObjectExtent> frees = new ArrayList<>();
        for (MetaStore.Entry entry : store.scan(Table.OBJ_FREE, Keys.u64(r.logId()),
                ObjectKeys.extentKey(r.logId(), r.fromOffset()), r.max())) {
            frees.add(ObjectIndex.extentOf(r.logId(), entry.key(), entry.value()));
        }
        return MetaLogic.encode(out -> ObjectExtent.encodeList(out, frees));
    }

    /**
     * The ranges of [from, to) that no objext entry covers (by 4 KiB-rounded space), in order:
     * after a writer's crash, exactly what its successor trims in [oldestInFlight,
     * reservedMark). Reply: {@code i64 resumeFrom | ObjectExtent list}; resumeFrom is
     * {@code to} when the range was examined to its end, else where the next page starts.
     */
    static byte[] gaps(ObjectRequest.ObjectLogGaps r, MetaStore store, int examinedMax) {
        if (store.get(Table.OBJ_LOG, Keys.u64(r.logId())) == null) {
            return noSuchLog(r.logId());
        }
        List<ObjectExtent> gaps = new ArrayList<>();
        long at = r.from();
        try (MetaStore.Cursor cursor = store.cursor(Table.OBJ_EXT)) {
            cursor.seekForPrev(ObjectKeys.extentKey(r.logId(), r.from()));
            if (cursor.valid()) {
                ObjectExtent before = ObjectIndex.extentOf(r.logId(), cursor.key(),
                        cursor.value());
                if (before != null) {
                    at = Math.max(at, before.endOffset());
                }
            }
            cursor.seek(ObjectKeys.extentKey(r.logId(), at));
            int examined = 0;
            while (at < r.to() && gaps.size() < r.max()) {
                ObjectExtent next = cursor.valid()
                        ? ObjectIndex.extentOf(r.logId(), cursor.key(), cursor.value()) : null;
                if (next == null || next.offset() >= r.to()) {
                    gaps.add(new ObjectExtent(r.logId(), at, r.to() - at));
                    at = r.to();
                    break;
                }
                if (examined == examinedMax) {
                    break;
                }
                examined++;
                if (next.offset() > at) {
                    gaps.add(new ObjectExtent(r.logId(), at, next.offset() - at));
                }
                at = Math.max(at, next.endOffset());
                cursor.next();
            }
        }
        long resumeFrom = Math.min(at, r.to());
        return MetaLogic.encode(out -> {
            out.i64(resumeFrom);
            ObjectExtent.encodeList(out, gaps);
        });
    }
}
