package io.basalt.meta.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.meta.api.MetaReply;
import io.basalt.meta.api.MetaRequest;
import io.basalt.meta.api.ObjectRequest;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.model.s3.Bucket;
import io.basalt.meta.model.s3.ObjectExtent;
import io.basalt.meta.model.s3.ObjectListing;
import io.basalt.meta.model.s3.ObjectLog;
import io.basalt.meta.model.s3.ObjectVersion;
import io.basalt.meta.model.s3.UploadListing;
import io.basalt.meta.server.ObjectIndexModel.Item;
import io.basalt.meta.store.Keys;
import io.basalt.meta.store.MetaStore;
import io.basalt.meta.store.MetaStore.Table;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What {@link ObjectIndexProperties} checks after every step: the real state machine's buckets,
 * gets, paginated listings, extent tables and gaps against {@link ObjectIndexModel}.
 */
abstract class ObjectIndexChecks {
    final StandaloneMeta meta;
    final ObjectIndexModel model = new ObjectIndexModel();
    final List<Long> logIds = new ArrayList<>();
    /** Next free offset per log: extents are handed out append-only, as a gateway does. */
    final Map<Long, Long> cursors = new HashMap<>();
    private final List<Integer> checkChoices;
    private final String[] keys;
    private final String[] prefixes;
    private final String[] delimiters;
    private final String[] buckets;
    private int checkRound;

    ObjectIndexChecks(StandaloneMeta meta, List<Integer> checkChoices, String[] keys,
                      String[] prefixes, String[] delimiters, String[] buckets) {
        this.meta = meta;
        this.checkChoices = checkChoices;
        this.keys = keys;
        this.prefixes = prefixes;
        this.delimiters = delimiters;
        this.buckets = buckets;
    }

    MetaReply read(MetaRequest request) {
        return meta.read(request);
    }

    MetaReply read(ObjectRequest request, int examinedMax) {
        return MetaReply.decode(ObjectLogic.read(request, meta.stateMachine.storeForTests(),
                examinedMax));
    }

    int checkChoice() {
        return checkChoices.get(checkRound++ % checkChoices.size()) + checkRound;
    }

    // -----------------------------------------------------------------------------------
    // Checks after every step

    void checkAll() {
        for (String name : buckets) {
            ObjectIndexModel.Bucket bucket = model.buckets.get(name);
            WireReader in = read(new ObjectRequest.GetBucket(name)).bodyOrThrow();
            assertThat(in.bool()).isEqualTo(bucket != null);
            if (bucket == null) {
                continue;
            }
            Bucket real = Bucket.decode(in);
            assertThat(real.versioning()).isEqualTo(bucket.versioning);
            assertThat(real.objectCount()).as("object count of %s", name)
                    .isEqualTo(bucket.objectCount());
            assertThat(real.logicalBytes()).as("logical bytes of %s", name)
                    .isEqualTo(bucket.logicalBytes());
            checkGets(name, bucket);
            checkListings(name, bucket);
        }
        checkExtentTables();
    }

    void checkGets(String name, ObjectIndexModel.Bucket bucket) {
        for (String key : keys) {
            ObjectIndexModel.Version current = bucket.current(key);
            WireReader in = read(new ObjectRequest.GetObject(name, key, null)).bodyOrThrow();
            assertThat(in.bool()).as("%s/%s exists", name, key).isEqualTo(current != null);
            if (current != null) {
                ObjectVersion real = ObjectVersion.decode(in);
                assertThat(real.versionId()).isEqualTo(current.versionId());
                assertThat(real.deleteMarker()).isEqualTo(current.marker());
                assertThat(real.size()).isEqualTo(current.size());
                assertThat(real.latest()).isTrue();
                assertThat(real.extents()).isEqualTo(current.extents());
            }
            List<ObjectIndexModel.Version> versions = bucket.keys.getOrDefault(key, List.of());
            for (int i = 0; i < versions.size(); i++) {
                ObjectIndexModel.Version version = versions.get(i);
                WireReader byId = read(new ObjectRequest.GetObject(name, key,
                        version.versionId())).bodyOrThrow();
                assertThat(byId.bool()).isTrue();
                ObjectVersion real = ObjectVersion.decode(byId);
                assertThat(real.deleteMarker()).isEqualTo(version.marker());
                assertThat(real.latest()).isEqualTo(i == 0);
                assertThat(real.etag()).isEqualTo(version.etag());
            }
        }
        assertThat(read(new ObjectRequest.GetObject(name, "never", "00000000000003e8"))
                .bodyOrThrow().bool()).isFalse();
    }

    void checkListings(String name, ObjectIndexModel.Bucket bucket) {
        String prefix = prefixes[checkChoice() % prefixes.length];
        String delimiter = delimiters[checkChoice() % delimiters.length];
        String after = checkChoice() % 3 == 0 ? keys[checkChoice() % keys.length] : "";
        int examinedMax = checkChoice() % 4 == 0 ? ObjectListingLogic.EXAMINED_MAX
                : 1 + checkChoice() % 4;
        int maxKeys = 1 + checkChoice() % 4;

        List<Item> objects = new ArrayList<>();
        List<String> pagesSeen = new ArrayList<>();
        String marker = after;
        for (int page = 0; ; page++) {
            assertThat(page).as("pages of a listing").isLessThan(500);
            ObjectListing listing = ObjectListing.decode(read(new ObjectRequest.ListObjects(
                    name, prefix, delimiter, marker, maxKeys), examinedMax).bodyOrThrow());
            assertThat(listing.entries().size() + listing.commonPrefixes().size())
                    .isLessThanOrEqualTo(maxKeys);
            addPage(objects, listing);
            pagesSeen.add(ObjectIndexModel.escape(marker) + " -> "
                    + listing.entries().stream().map(e -> ObjectIndexModel.escape(e.key()))
                    .toList() + " " + listing.commonPrefixes().stream()
                    .map(ObjectIndexModel::escape).toList() + " next "
                    + (listing.nextKeyMarker() == null ? "none"
                    : ObjectIndexModel.escape(listing.nextKeyMarker())));
            if (!listing.truncated()) {
                assertThat(listing.nextKeyMarker()).isNull();
                break;
            }
            marker = listing.nextKeyMarker();
        }
        assertThat(objects).as("list %s prefix %s delimiter %s after %s max %d examined %d:"
                + " pages %s", name, ObjectIndexModel.escape(prefix),
                ObjectIndexModel.escape(delimiter), ObjectIndexModel.escape(after), maxKeys,
                examinedMax, pagesSeen)
                .isEqualTo(model.listObjects(bucket, prefix, delimiter, after));

        List<Item> versions = new ArrayList<>();
        String keyMarker = after;
        String versionMarker = "";
        for (int page = 0; ; page++) {
            assertThat(page).as("pages of a version listing").isLessThan(500);
            ObjectListing listing = ObjectListing.decode(read(
                    new ObjectRequest.ListObjectVersions(name, prefix, delimiter, keyMarker,
                            versionMarker, maxKeys), examinedMax).bodyOrThrow());
            assertThat(listing.entries().size() + listing.commonPrefixes().size())
                    .isLessThanOrEqualTo(maxKeys);
            addPage(versions, listing);
            if (!listing.truncated()) {
                break;
            }
            keyMarker = listing.nextKeyMarker();
            versionMarker = listing.nextVersionIdMarker();
        }
        assertThat(versions).as("versions of %s prefix %s delimiter %s after %s max %d"
                + " examined %d", name, ObjectIndexModel.escape(prefix),
                ObjectIndexModel.escape(delimiter), ObjectIndexModel.escape(after), maxKeys,
                examinedMax)
                .isEqualTo(model.listVersions(bucket, prefix, delimiter, after));

        List<Item> uploads = new ArrayList<>();
        keyMarker = after;
        String uploadMarker = "";
        for (int page = 0; ; page++) {
            assertThat(page).as("pages of an upload listing").isLessThan(500);
            UploadListing listing = UploadListing.decode(read(new ObjectRequest.ListUploads(
                    name, prefix, delimiter, keyMarker, uploadMarker, maxKeys), examinedMax)
                    .bodyOrThrow());
            assertThat(listing.uploads().size() + listing.commonPrefixes().size())
                    .isLessThanOrEqualTo(maxKeys);
            Set<String> prefixes = new HashSet<>(listing.commonPrefixes());
            listing.uploads().forEach(u -> uploads.add(new Item(u.key(), u.uploadId(), false,
                    false, 0)));
            listing.commonPrefixes().forEach(p -> uploads.add(Item.prefix(p)));
            assertThat(prefixes).hasSameSizeAs(listing.commonPrefixes());
            if (!listing.truncated()) {
                break;
            }
            keyMarker = listing.nextKeyMarker();
            uploadMarker = listing.nextUploadIdMarker();
        }
        List<Item> expectedUploads = model.listUploads(bucket, prefix, delimiter, after);
        assertThat(sortedItems(uploads)).isEqualTo(sortedItems(expectedUploads));
    }

    /**
     * A page's entries and prefixes merged in key order (a page returns them as two lists;
     * a prefix sorts where its first key would).
     */
    static void addPage(List<Item> items, ObjectListing listing) {
        List<Item> page = new ArrayList<>();
        listing.entries().forEach(e -> page.add(new Item(e.key(), e.versionId(),
                e.deleteMarker(), e.latest(), e.size())));
        listing.commonPrefixes().forEach(p -> page.add(Item.prefix(p)));
        page.sort(Comparator.comparing(Item::key, ObjectIndexModel.UTF8));
        items.addAll(page);
    }

    static List<Item> sortedItems(List<Item> items) {
        List<Item> sorted = new ArrayList<>(items);
        sorted.sort(Comparator.comparing(Item::key, ObjectIndexModel.UTF8)
                .thenComparing(i -> i.versionId() == null ? "" : i.versionId()));
        return sorted;
    }

    void checkExtentTables() {
        MetaStore store = meta.stateMachine.storeForTests();
        Map<List<Long>, ObjectExtent> owned = model.owned();
        Map<List<Long>, Long> objext = new HashMap<>();
        for (MetaStore.Entry entry : store.scan(Table.OBJ_EXT, new byte[0])) {
            objext.put(List.of(Keys.readU64(entry.key(), 0), Keys.readU64(entry.key(), 8)),
                    Keys.readU64(entry.value(), 0));
            ObjectIndex.Owner owner = ObjectIndex.decodeOwner(entry.value());
            assertThat(ownerHolds(store, owner, entry.key())).as("owner %s of %s", owner,
                    entry).isTrue();
        }
        Set<List<Long>> objfree = new HashSet<>();
        for (MetaStore.Entry entry : store.scan(Table.OBJ_FREE, new byte[0])) {
            objfree.add(List.of(Keys.readU64(entry.key(), 0), Keys.readU64(entry.key(), 8)));
        }
        assertThat(objext.keySet()).as("objext = what versions and parts own")
                .isEqualTo(owned.keySet());
        owned.forEach((id, extent) -> assertThat(objext.get(id)).isEqualTo(extent.length()));
        Set<List<Long>> expectedFree = new HashSet<>(model.committed);
        expectedFree.removeAll(owned.keySet());
        expectedFree.removeAll(model.reportedFreed);
        assertThat(objfree).as("objfree = committed - owned - reported trimmed")
                .isEqualTo(expectedFree);
        for (long logId : logIds) {
            ObjectLog log = ObjectLog.decode(new WireReader(store.get(Table.OBJ_LOG,
                    Keys.u64(logId))));
            long live = owned.values().stream().filter(e -> e.logId() == logId)
                    .mapToLong(ObjectExtent::spaceBytes).sum();
            assertThat(log.liveBytes()).as("live bytes of log %d", logId).isEqualTo(live);
            checkGaps(logId);
        }
    }

    /** An objext owner names an entry (version or part) that lists the extent. */
    static boolean ownerHolds(MetaStore store, ObjectIndex.Owner owner, byte[] extentKey) {
        long logId = Keys.readU64(extentKey, 0);
        long offset = Keys.readU64(extentKey, 8);
        List<ObjectExtent> extents;
        if (owner.kind() == ObjectIndex.OWNER_VERSION) {
            byte[] value = store.get(Table.S3_OBJECT, io.basalt.meta.store.ObjectKeys
                    .objectKey(owner.bucketId(), owner.key(), owner.seq()));
            if (value == null) {
                return false;
            }
            extents = ObjectVersion.decode(new WireReader(value)).extents();
        } else {
            byte[] value = store.get(Table.S3_PART, io.basalt.meta.store.ObjectKeys
                    .partKey(owner.bucketId(), owner.seq(), owner.partNumber()));
            if (value == null) {
                return false;
            }
            extents = io.basalt.meta.model.s3.Part.decode(new WireReader(value)).extents();
        }
        return extents.stream().anyMatch(e -> e.logId() == logId && e.offset() == offset);
    }

    void checkGaps(long logId) {
        long end = cursors.get(logId) + 8192;
        List<ObjectExtent> ownedHere = model.owned().values().stream()
                .filter(e -> e.logId() == logId)
                .sorted(Comparator.comparingLong(ObjectExtent::offset)).toList();
        long from = (checkChoice() % 5) * 4096L;
        List<ObjectExtent> expected = new ArrayList<>();
        long at = from;
        for (ObjectExtent extent : ownedHere) {
            if (extent.endOffset() <= at) {
                continue;
            }
            if (extent.offset() > at) {
                expected.add(new ObjectExtent(logId, at, Math.min(extent.offset(), end) - at));
            }
            at = Math.max(at, extent.endOffset());
        }
        if (at < end) {
            expected.add(new ObjectExtent(logId, at, end - at));
        }
        int examinedMax = 1 + checkChoice() % 3;
        int max = 1 + checkChoice() % 3;
        List<ObjectExtent> gaps = new ArrayList<>();
        long next = from;
        for (int page = 0; next < end; page++) {
            assertThat(page).isLessThan(10_000);
            WireReader in = read(new ObjectRequest.ObjectLogGaps(logId, next, end, max),
                    examinedMax).bodyOrThrow();
            long resumeFrom = in.i64();
            List<ObjectExtent> got = ObjectExtent.decodeList(in);
            assertThat(got.size()).isLessThanOrEqualTo(max);
            assertThat(resumeFrom).isGreaterThan(next);
            // Pages may cut one gap in two where a page ended on it: join them back.
            for (ObjectExtent gap : got) {
                if (!gaps.isEmpty() && gaps.getLast().offset() + gaps.getLast().length()
                        == gap.offset()) {
                    ObjectExtent last = gaps.removeLast();
                    gaps.add(new ObjectExtent(logId, last.offset(),
                            last.length() + gap.length()));
                } else {
                    gaps.add(gap);
                }
            }
            next = resumeFrom;
        }
        assertThat(gaps).as("gaps of log %d from %d", logId, from).isEqualTo(expected);
    }
}
