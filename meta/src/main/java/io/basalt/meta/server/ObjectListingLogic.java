package io.basalt.meta.server;

import io.basalt.meta.api.ObjectRequest;
import io.basalt.meta.api.ObjectRequestForm;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.model.s3.ObjectListing;
import io.basalt.meta.model.s3.ObjectVersion;
import io.basalt.meta.model.s3.Upload;
import io.basalt.meta.model.s3.UploadListing;
import io.basalt.meta.server.ObjectIndex.BucketState;
import io.basalt.meta.store.Keys;
import io.basalt.meta.store.MetaStore;
import io.basalt.meta.store.MetaStore.Table;
import io.basalt.meta.store.ObjectKeys;
import java.util.ArrayList;
import java.util.List;

/**
 * Listings of objects, versions and uploads: RocksDB range scans in key order.
 *
 * <p>Design note. A page returns at most {@code max} (capped at {@link #PAGE_MAX}) entries and
 * common prefixes together, and examines at most {@link #EXAMINED_MAX} index entries (one per
 * seek or step), so a page costs bounded time and memory whatever the bucket holds: a run of a
 * million delete markers or versions is crossed over several pages. A page that stops early is
 * truncated and its next marker is the last key it returned or stepped over, so the next page
 * starts after it. The object listing reads the first (newest) entry of a key and seeks past the
 * rest; with a delimiter, a common prefix is returned once and the scan seeks past everything
 * under it. A common prefix equal to the marker is not returned again: a page that returns one
 * ends with it as the next marker (as S3 does). A marker strictly inside a common prefix (a
 * StartAfter, or a page that stopped while stepping over delete markers under a prefix it had not
 * returned) does not hide the prefix: it is returned if a key after the marker rolls up into it.
 * Order is UTF-8 byte order, as in S3.
 */
final class ObjectListingLogic {
    static final int PAGE_MAX = 1000;
    static final int EXAMINED_MAX = 10_000;

    private ObjectListingLogic() {}

    /** The common prefix {@code key} rolls up into, or null. */
    static String commonPrefix(String key, String prefix, String delimiter) {
        if (delimiter.isEmpty()) {
            return null;
        }
        int at = key.indexOf(delimiter, prefix.length());
        return at < 0 ? null : key.substring(0, at + delimiter.length());
    }

    /** Moves {@code cursor} past every key starting with {@code prefix}; false if none follows. */
    private static boolean seekPast(MetaStore.Cursor cursor, byte[] prefix) {
        byte[] next = ObjectKeys.successor(prefix);
        if (next == null) {
            return false;
        }
        cursor.seek(next);
        return true;
    }

    private static byte[] later(byte[] a, byte[] b) {
        return java.util.Arrays.compareUnsigned(a, b) >= 0 ? a : b;
    }

    /** Whether common prefix {@code cp} was returned by the page that ended at {@code marker}. */
    private static boolean returnedBefore(String cp, String marker) {
        return cp.equals(marker);
    }

    static ObjectListing listObjects(ObjectRequest.ListObjects r, BucketState state,
                                     MetaStore store, int examinedMax) {
        long id = state.id();
        int max = Math.min(r.maxKeys(), PAGE_MAX);
        List<ObjectVersion> entries = new ArrayList<>();
        List<String> prefixes = new ArrayList<>();
        boolean truncated = false;
        String position = null;
        byte[] scanPrefix = ObjectKeys.textPrefix(id, r.prefix());
        byte[] start = scanPrefix;
        if (!r.after().isEmpty()) {
            byte[] afterEnd = ObjectKeys.successor(ObjectKeys.keyPrefix(id, r.after()));
            start = later(afterEnd, scanPrefix);
        }
        if (max == 0) {
            return new ObjectListing(entries, prefixes, false, null, null);
        }
        try (MetaStore.Cursor cursor = store.cursor(Table.S3_OBJECT)) {
            cursor.seek(start);
            int examined = 0;
            // Set while the position is a key stepped over that equals its own common prefix
            // (a deleted "dir/"): as a marker it would read as "prefix returned" and hide the
            // prefix's later keys, so the page looks one entry further before it may stop there.
            String ambiguousPrefix = null;
            while (cursor.valid() && ObjectKeys.startsWith(cursor.key(), scanPrefix)) {
                String key = ObjectKeys.keyOf(cursor.key());
                String cp = commonPrefix(key, r.prefix(), r.delimiter());
                if (cp != null && returnedBefore(cp, r.after())) {
                    if (!seekPast(cursor, ObjectKeys.textPrefix(id, cp))) {
                        break;
                    }
                    continue;
                }
                boolean full = entries.size() + prefixes.size() == max;
                if (examined >= examinedMax && !(examined == examinedMax
                        && ambiguousPrefix != null && ambiguousPrefix.equals(cp))) {
                    truncated = true;
                    break;
                }
                examined++;
                ObjectVersion current = ObjectVersion.decode(new WireReader(cursor.value()));
                if (current.deleteMarker()) {
                    // Stepped over. Once the page is full the position stays at the last entry
                    // returned: the next page steps over these again (bounded by the cap).
                    if (!full) {
                        position = key;
                        ambiguousPrefix = key.equals(cp) ? cp : null;
                    }
                } else if (full) {
                    truncated = true;
                    break;
                } else if (cp != null) {
                    prefixes.add(cp);
                    position = cp;
                    ambiguousPrefix = null;
                    if (!seekPast(cursor, ObjectKeys.textPrefix(id, cp))) {
                        break;
                    }
                    continue;
                } else {
                    entries.add(current.withLatest(true).summary());
                    position = key;
                    ambiguousPrefix = null;
                }
                if (!seekPast(cursor, ObjectKeys.keyPrefix(id, key))) {
                    break;
                }
            }
        }
        return new ObjectListing(entries, prefixes, truncated, truncated ? position : null, null);
    }

    static ObjectListing listVersions(ObjectRequest.ListObjectVersions r, BucketState state,
                                      MetaStore store, int examinedMax) {
        long id = state.id();
        int max = Math.min(r.maxKeys(), PAGE_MAX);
        List<ObjectVersion> entries = new ArrayList<>();
        List<String> prefixes = new ArrayList<>();
        boolean truncated = false;
        String positionKey = null;
        String positionVersion = null;
        byte[] scanPrefix = ObjectKeys.textPrefix(id, r.prefix());
        byte[] start = scanPrefix;
        byte[] skipExactly = null;
        String previousKey = null;
        if (!r.keyMarker().isEmpty()) {
            Long seq = markerSeq(store, id, r.keyMarker(), r.versionIdMarker());
            byte[] from = seq == null
                    ? ObjectKeys.successor(ObjectKeys.keyPrefix(id, r.keyMarker()))
                    : ObjectKeys.objectKey(id, r.keyMarker(), seq);
            start = later(from, scanPrefix);
            if (seq != null && start == from) {
                skipExactly = from;
                previousKey = r.keyMarker();
            }
        }
        if (max == 0) {
            return new ObjectListing(entries, prefixes, false, null, null);
        }
        try (MetaStore.Cursor cursor = store.cursor(Table.S3_OBJECT)) {
            cursor.seek(start);
            if (skipExactly != null && cursor.valid()
                    && java.util.Arrays.equals(cursor.key(), skipExactly)) {
                cursor.next();
            }
            int examined = 0;
            while (cursor.valid() && ObjectKeys.startsWith(cursor.key(), scanPrefix)) {
                String key = ObjectKeys.keyOf(cursor.key());
                String cp = commonPrefix(key, r.prefix(), r.delimiter());
                if (cp != null && returnedBefore(cp, r.keyMarker())) {
                    if (!seekPast(cursor, ObjectKeys.textPrefix(id, cp))) {
                        break;
                    }
                    continue;
                }
                if (examined == examinedMax || entries.size() + prefixes.size() == max) {
                    truncated = true;
                    break;
                }
                examined++;
                if (cp != null) {
                    prefixes.add(cp);
                    positionKey = cp;
                    positionVersion = null;
                    previousKey = null;
                    if (!seekPast(cursor, ObjectKeys.textPrefix(id, cp))) {
                        break;
                    }
                    continue;
                }
                ObjectVersion version = ObjectVersion.decode(new WireReader(cursor.value()));
                entries.add(version.withLatest(!key.equals(previousKey)).summary());
                positionKey = key;
                positionVersion = version.versionId();
                previousKey = key;
                cursor.next();
            }
        }
        return new ObjectListing(entries, prefixes, truncated, truncated ? positionKey : null,
                truncated ? positionVersion : null);
    }

    /** Where a version id marker points in its key's history; null: past the whole key. */
    private static Long markerSeq(MetaStore store, long bucketId, String key, String versionId) {
        if (versionId.isEmpty()) {
            return null;
        }
        if (versionId.equals(ObjectVersion.NULL_VERSION)) {
            byte[] pointer = store.get(Table.S3_OBJECT_NULL, ObjectKeys.keyPrefix(bucketId, key));
            return pointer == null ? null : Keys.readU64(pointer, 0);
        }
        return ObjectRequestForm.versionSeq(versionId);
    }

    static UploadListing listUploads(ObjectRequest.ListUploads r, BucketState state,
                                     MetaStore store, int examinedMax) {
        long id = state.id();
        int max = Math.min(r.maxUploads(), PAGE_MAX);
        List<Upload> uploads = new ArrayList<>();
        List<String> prefixes = new ArrayList<>();
        boolean truncated = false;
        String positionKey = null;
        String positionUpload = null;
        byte[] scanPrefix = ObjectKeys.textPrefix(id, r.prefix());
        byte[] start = scanPrefix;
        byte[] skipExactly = null;
        if (!r.keyMarker().isEmpty()) {
            byte[] from = r.uploadIdMarker().isEmpty()
                    ? ObjectKeys.successor(ObjectKeys.keyPrefix(id, r.keyMarker()))
                    : ObjectKeys.uploadKey(id, r.keyMarker(), r.uploadIdMarker());
            start = later(from, scanPrefix);
            skipExactly = !r.uploadIdMarker().isEmpty() && start == from ? from : null;
        }
        if (max == 0) {
            return new UploadListing(uploads, prefixes, false, null, null);
        }
        try (MetaStore.Cursor cursor = store.cursor(Table.S3_UPLOAD)) {
            cursor.seek(start);
            if (skipExactly != null && cursor.valid()
                    && java.util.Arrays.equals(cursor.key(), skipExactly)) {
                cursor.next();
            }
            int examined = 0;
            while (cursor.valid() && ObjectKeys.startsWith(cursor.key(), scanPrefix)) {
                String key = ObjectKeys.keyOf(cursor.key());
                String cp = commonPrefix(key, r.prefix(), r.delimiter());
                if (cp != null && returnedBefore(cp, r.keyMarker())) {
                    if (!seekPast(cursor, ObjectKeys.textPrefix(id, cp))) {
                        break;
                    }
                    continue;
                }
                if (examined == examinedMax || uploads.size() + prefixes.size() == max) {
                    truncated = true;
                    break;
                }
                examined++;
                if (cp != null) {
                    prefixes.add(cp);
                    positionKey = cp;
                    positionUpload = null;
                    if (!seekPast(cursor, ObjectKeys.textPrefix(id, cp))) {
                        break;
                    }
                    continue;
                }
                Upload upload = MultipartLogic.StoredUpload.decode(cursor.value()).upload();
                uploads.add(upload.summary());
                positionKey = key;
                positionUpload = upload.uploadId();
                cursor.next();
            }
        }
        return new UploadListing(uploads, prefixes, truncated, truncated ? positionKey : null,
                truncated ? positionUpload : null);
    }
}
