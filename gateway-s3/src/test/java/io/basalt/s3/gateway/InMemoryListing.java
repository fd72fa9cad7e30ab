package io.basalt.s3.gateway;

import java.util.ArrayList;
import java.util.List;

/**
 * One page of a listing: entries and common prefixes, each counting one toward maxKeys; a
 * common prefix at or before {@code after} is not repeated.
 */
final class InMemoryListing<T> {
    final String prefix;
    final String delimiter;
    final String after;
    final int maxKeys;
    final List<T> entries = new ArrayList<>();
    final List<String> prefixes = new ArrayList<>();
    boolean truncated;
    String lastKey;
    String lastVersionId;
    boolean lastWasPrefix;
    private String lastPrefix;

    InMemoryListing(String prefix, String delimiter, String after, int maxKeys) {
        this.prefix = prefix == null ? "" : prefix;
        this.delimiter = delimiter;
        this.after = after;
        this.maxKeys = maxKeys;
    }

    boolean inPrefix(String key) {
        return key.startsWith(prefix);
    }

    boolean pastPrefix(String key) {
        return !key.startsWith(prefix) && key.compareTo(prefix) > 0;
    }

    /** False when the page is full (and then truncated). */
    boolean offer(String key, T entry, String versionId) {
        lastWasPrefix = false;
        if (delimiter != null) {
            int at = key.indexOf(delimiter, prefix.length());
            if (at >= 0) {
                String common = key.substring(0, at + delimiter.length());
                if ((after != null && common.compareTo(after) <= 0)
                        || common.equals(lastPrefix)) {
                    lastWasPrefix = true;
                    return true;
                }
                if (count() == maxKeys) {
                    truncated = true;
                    return false;
                }
                prefixes.add(common);
                lastPrefix = common;
                lastKey = common;
                lastVersionId = null;
                lastWasPrefix = true;
                return true;
            }
        }
        if (count() == maxKeys) {
            truncated = true;
            return false;
        }
        entries.add(entry);
        lastKey = key;
        lastVersionId = versionId;
        return true;
    }

    private int count() {
        return entries.size() + prefixes.size();
    }
}
