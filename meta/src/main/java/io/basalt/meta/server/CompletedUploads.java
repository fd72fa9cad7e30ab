package io.basalt.meta.server;

import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;
import io.basalt.meta.model.s3.ObjectVersion;
import io.basalt.meta.store.Keys;
import io.basalt.meta.store.MetaStore;
import io.basalt.meta.store.MetaStore.Table;
import io.basalt.meta.store.Tx;
import java.nio.ByteBuffer;
import java.util.List;
import java.util.zip.CRC32C;

/**
 * Uploads completed recently, so that a CompleteMultipartUpload repeated after it succeeded gets
 * the same answer (200, the same object) instead of NoSuchUpload, as on S3. The AWS SDKs retry a
 * complete whose answer timed out, and on a slow cluster the first attempt may have committed.
 *
 * <p>Design note. A completion writes its result (the object version without its extents, which
 * can be long and which the answer does not need) to {@code s3upload_done} under the upload's own
 * key, and a pointer to {@code s3upload_done_time} under (completion time, upload key). Every
 * completion first deletes at most {@link #EXPIRED_PER_COMPLETE_MAX} records older than
 * {@link #RETENTION_MILLIS}, oldest first, so the tables hold the completions of the last 15
 * minutes plus a backlog that every later completion shrinks by up to 16: bounded by the
 * completion rate, with no background worker. Times are the request's {@code nowMillis} (the
 * gateway's clock, carried in the log entry), so apply stays deterministic; a record older than
 * the retention that is still there (no completion since) is not answered from.
 *
 * <p>Value layout (formatVersion 1): {@code u8 formatVersion | i64 completedMillis |
 * ObjectVersion | u32 crc32c} of all bytes before the CRC.
 */
final class CompletedUploads {
    /** How long a completed upload's result is remembered: AWS SDK retries end within minutes. */
    static final long RETENTION_MILLIS = 15 * 60_000L;
    /** Expired records each completion deletes at most: keeps one apply's work bounded. */
    static final int EXPIRED_PER_COMPLETE_MAX = 16;
    static final int FORMAT_VERSION = 1;
    private static final int CRC_BYTES = 4;

    private CompletedUploads() {}

    /** A remembered completion. */
    record Completed(long completedMillis, ObjectVersion version) {}

    /** Remembers {@code version} as the result of completing the upload at {@code uploadKey}. */
    static void remember(Tx tx, byte[] uploadKey, long nowMillis, ObjectVersion version) {
        expire(tx, nowMillis);
        ObjectVersion small = new ObjectVersion(version.bucket(), version.key(),
                version.versionId(), version.deleteMarker(), version.latest(), version.size(),
                version.etag(), version.modifiedMillis(), version.owner(), version.headers(),
                version.checksums(), version.checksumType(), version.tags(), List.of(),
                List.of());
        tx.put(Table.S3_UPLOAD_DONE, uploadKey, encode(nowMillis, small));
        tx.put(Table.S3_UPLOAD_DONE_TIME, timeKey(nowMillis, uploadKey), new byte[0]);
    }

    /** The remembered completion of the upload at {@code uploadKey}, or null (none, expired). */
    static Completed find(MetaStore store, byte[] uploadKey, long nowMillis) {
        byte[] value = store.get(Table.S3_UPLOAD_DONE, uploadKey);
        if (value == null) {
            return null;
        }
        Completed completed = decode(value);
        return nowMillis - completed.completedMillis() > RETENTION_MILLIS ? null : completed;
    }

    private static void expire(Tx tx, long nowMillis) {
        List<MetaStore.Entry> oldest = tx.store().scan(Table.S3_UPLOAD_DONE_TIME, new byte[0],
                new byte[0], EXPIRED_PER_COMPLETE_MAX);
        for (MetaStore.Entry entry : oldest) {
            long completedMillis = ByteBuffer.wrap(entry.key()).getLong(0);
            if (nowMillis - completedMillis <= RETENTION_MILLIS) {
                break; // sorted by time: the rest are younger
            }
            byte[] uploadKey = java.util.Arrays.copyOfRange(entry.key(), Long.BYTES,
                    entry.key().length);
            byte[] value = tx.get(Table.S3_UPLOAD_DONE, uploadKey);
            // The same upload key may have been completed again later (a reused upload id is
            // refused, but be safe): only delete the record this pointer was written with.
            if (value != null && decode(value).completedMillis() == completedMillis) {
                tx.delete(Table.S3_UPLOAD_DONE, uploadKey);
            }
            tx.delete(Table.S3_UPLOAD_DONE_TIME, entry.key());
        }
    }

    private static byte[] timeKey(long completedMillis, byte[] uploadKey) {
        return ByteBuffer.allocate(Long.BYTES + uploadKey.length)
                .put(Keys.u64(completedMillis)).put(uploadKey).array();
    }

    static byte[] encode(long completedMillis, ObjectVersion version) {
        WireWriter out = new WireWriter(256);
        out.u8(FORMAT_VERSION).i64(completedMillis);
        version.encode(out);
        byte[] body = out.toByteArray();
        CRC32C crc = new CRC32C();
        crc.update(body);
        return ByteBuffer.allocate(body.length + CRC_BYTES).put(body)
                .putInt((int) crc.getValue()).array();
    }

    static Completed decode(byte[] value) {
        if (value.length < 1 + Long.BYTES + CRC_BYTES) {
            throw new IllegalStateException("s3upload_done record of " + value.length
                    + " bytes is too short");
        }
        int bodyBytes = value.length - CRC_BYTES;
        CRC32C crc = new CRC32C();
        crc.update(value, 0, bodyBytes);
        int stored = ByteBuffer.wrap(value).getInt(bodyBytes);
        if (stored != (int) crc.getValue()) {
            throw new IllegalStateException("s3upload_done record fails its CRC32C");
        }
        WireReader in = new WireReader(value, 0, bodyBytes);
        int formatVersion = in.u8();
        if (formatVersion != FORMAT_VERSION) {
            throw new IllegalStateException("s3upload_done record has formatVersion "
                    + formatVersion + "; this build reads " + FORMAT_VERSION);
        }
        Completed completed = new Completed(in.i64(), ObjectVersion.decode(in));
        in.end();
        return completed;
    }
}
