package io.basalt.meta.server;

import io.basalt.meta.model.s3.ObjectExtent;
import io.basalt.meta.model.s3.Versioning;
import io.basalt.meta.store.ObjectKeys;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * A plain in-memory model of the object index for {@link ObjectIndexProperties}: buckets as
 * sorted maps of keys to version lists (newest first), uploads with their parts, and S3's rules
 * written out the simple way. Version ids come from the real replies; the model checks their form
 * and order there.
 */
final class ObjectIndexModel {
    static final Comparator<String> UTF8 = ObjectKeys::compareUtf8;

    record Version(String versionId, boolean marker, long size, String etag,
                   List<ObjectExtent> extents) {}

    record Part(int number, long size, String etag, List<ObjectExtent> extents) {}

    static final class Upload {
        final String key;
        final String uploadId;
        final Map<Integer, Part> parts = new TreeMap<>();

        Upload(String key, String uploadId) {
            this.key = key;
            this.uploadId = uploadId;
        }
    }

    static final class Bucket {
        final String name;
        Versioning versioning = Versioning.UNVERSIONED;
        /** Key -> versions, newest first; a key with no versions is removed. */
        final TreeMap<String, List<Version>> keys = new TreeMap<>(UTF8);
        /** Key -> upload id -> upload, both in index order. */
        final TreeMap<String, TreeMap<String, Upload>> uploads = new TreeMap<>(UTF8);
        /** The last versioned id handed out here: ids must rise. */
        String lastVersionId = "";

        Bucket(String name) {
            this.name = name;
        }

        Version current(String key) {
            List<Version> versions = keys.get(key);
            return versions == null ? null : versions.getFirst();
        }

        long objectCount() {
            return keys.values().stream().filter(v -> !v.getFirst().marker()).count();
        }

        long logicalBytes() {
            return keys.values().stream().filter(v -> !v.getFirst().marker())
                    .mapToLong(v -> v.getFirst().size()).sum();
        }

        boolean empty() {
            return keys.isEmpty() && uploads.isEmpty();
        }

        List<Upload> allUploads() {
            List<Upload> all = new ArrayList<>();
            uploads.values().forEach(byId -> all.addAll(byId.values()));
            return all;
        }
    }

    final Map<String, Bucket> buckets = new TreeMap<>();
    /** Every extent ever committed, by (log, offset). */
    final Set<List<Long>> committed = new LinkedHashSet<>();
    /** Extents the "gateway" reported trimmed. */
    final Set<List<Long>> reportedFreed = new LinkedHashSet<>();

    static List<Long> id(ObjectExtent extent) {
        return List.of(extent.logId(), extent.offset());
    }

    /** Every extent a version or part owns now, by id. */
    Map<List<Long>, ObjectExtent> owned() {
        Map<List<Long>, ObjectExtent> owned = new HashMap<>();
        for (Bucket bucket : buckets.values()) {
            for (List<Version> versions : bucket.keys.values()) {
                for (Version version : versions) {
                    version.extents().forEach(e -> owned.put(id(e), e));
                }
            }
            for (Upload upload : bucket.allUploads()) {
                for (Part part : upload.parts.values()) {
                    part.extents().forEach(e -> owned.put(id(e), e));
                }
            }
        }
        return owned;
    }

    /** Adds a new version as S3 does; returns the version it replaced (null version), if any. */
    static void install(Bucket bucket, String key, Version version) {
        List<Version> versions = bucket.keys.computeIfAbsent(key, k -> new ArrayList<>());
        if (version.versionId().equals("null")) {
            versions.removeIf(v -> v.versionId().equals("null"));
        }
        versions.addFirst(version);
    }

    static void remove(Bucket bucket, String key, String versionId) {
        List<Version> versions = bucket.keys.get(key);
        if (versions == null) {
            return;
        }
        versions.removeIf(v -> v.versionId().equals(versionId));
        if (versions.isEmpty()) {
            bucket.keys.remove(key);
        }
    }

    static String commonPrefix(String key, String prefix, String delimiter) {
        if (delimiter.isEmpty()) {
            return null;
        }
        int at = key.indexOf(delimiter, prefix.length());
        return at < 0 ? null : key.substring(0, at + delimiter.length());
    }

    /** An item of a listing: a common prefix (versionId null) or an entry. */
    record Item(String key, String versionId, boolean marker, boolean latest, long size) {
        static Item prefix(String prefix) {
            return new Item(prefix, null, false, false, 0);
        }

        @Override
        public String toString() {
            return escape(key) + (versionId == null ? "(prefix)" : "@" + versionId
                    + (marker ? " marker" : "") + (latest ? " latest" : "") + " " + size);
        }
    }

    /** Keys printed readably: NULs and non-ASCII as \\uXXXX. */
    static String escape(String text) {
        StringBuilder out = new StringBuilder();
        for (char c : text.toCharArray()) {
            out.append(c >= 32 && c < 127 ? String.valueOf(c) : String.format("\\u%04x", (int) c));
        }
        return out.toString();
    }

    List<Item> listObjects(Bucket bucket, String prefix, String delimiter, String after) {
        List<Item> items = new ArrayList<>();
        Set<String> prefixes = new java.util.HashSet<>();
        for (Map.Entry<String, List<Version>> entry : bucket.keys.entrySet()) {
            String key = entry.getKey();
            Version current = entry.getValue().getFirst();
            if (!key.startsWith(prefix) || current.marker()
                    || (!after.isEmpty() && UTF8.compare(key, after) <= 0)) {
                continue;
            }
            String cp = commonPrefix(key, prefix, delimiter);
            if (cp == null) {
                items.add(new Item(key, current.versionId(), false, true, current.size()));
            } else if (!cp.equals(after) && prefixes.add(cp)) {
                items.add(Item.prefix(cp));
            }
        }
        return items;
    }

    List<Item> listVersions(Bucket bucket, String prefix, String delimiter, String keyMarker) {
        List<Item> items = new ArrayList<>();
        Set<String> prefixes = new java.util.HashSet<>();
        for (Map.Entry<String, List<Version>> entry : bucket.keys.entrySet()) {
            String key = entry.getKey();
            if (!key.startsWith(prefix)
                    || (!keyMarker.isEmpty() && UTF8.compare(key, keyMarker) <= 0)) {
                continue;
            }
            String cp = commonPrefix(key, prefix, delimiter);
            if (cp == null) {
                boolean first = true;
                for (Version version : entry.getValue()) {
                    items.add(new Item(key, version.versionId(), version.marker(), first,
                            version.size()));
                    first = false;
                }
            } else if (!cp.equals(keyMarker) && prefixes.add(cp)) {
                items.add(Item.prefix(cp));
            }
        }
        return items;
    }

    List<Item> listUploads(Bucket bucket, String prefix, String delimiter, String keyMarker) {
        List<Item> items = new ArrayList<>();
        Set<String> prefixes = new java.util.HashSet<>();
        for (Map.Entry<String, TreeMap<String, Upload>> entry : bucket.uploads.entrySet()) {
            String key = entry.getKey();
            if (!key.startsWith(prefix)
                    || (!keyMarker.isEmpty() && UTF8.compare(key, keyMarker) <= 0)) {
                continue;
            }
            String cp = commonPrefix(key, prefix, delimiter);
            if (cp == null) {
                for (String uploadId : entry.getValue().keySet()) {
                    items.add(new Item(key, uploadId, false, false, 0));
                }
            } else if (!cp.equals(keyMarker) && prefixes.add(cp)) {
                items.add(Item.prefix(cp));
            }
        }
        return items;
    }
}
