package io.basalt.s3.auth;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Signing keys by (access key, date, region, service): deriving one costs four HMACs, and a
 * key is good for a whole day of requests. The secret is kept beside the key and compared on
 * every hit, so a rotated secret never finds the old key.
 *
 * <p>Thread-safe: one lock guards an access-ordered map bounded at {@link #entryCount()}
 * entries, least recently used evicted. A hit is a hash lookup under the lock; contention is
 * not a concern next to the HMAC of every request.
 */
public final class SigningKeyCache {
    /** Default bound: one entry per active access key per day (and region). */
    public static final int ENTRY_COUNT_DEFAULT = 4096;

    private record CacheKey(String accessKeyId, CredentialScope scope) {}

    private record CachedKey(byte[] secretUtf8, byte[] signingKey) {}

    private final int entryCountMax;
    private final LinkedHashMap<CacheKey, CachedKey> entries;

    public SigningKeyCache() {
        this(ENTRY_COUNT_DEFAULT);
    }

    public SigningKeyCache(int entryCountMax) {
        if (entryCountMax < 1) {
            throw new IllegalArgumentException("entryCountMax " + entryCountMax + " (min 1)");
        }
        this.entryCountMax = entryCountMax;
        this.entries = new LinkedHashMap<>(16, 0.75f, true) {
            private static final long serialVersionUID = 1L;

            @Override
            protected boolean removeEldestEntry(Map.Entry<CacheKey, CachedKey> eldest) {
                return size() > SigningKeyCache.this.entryCountMax;
            }
        };
    }

    /** The signing key for {@code secret} in {@code scope}, derived once and then cached. */
    public byte[] signingKey(String accessKeyId, String secret, CredentialScope scope) {
        CacheKey cacheKey = new CacheKey(accessKeyId, scope);
        byte[] secretUtf8 = secret.getBytes(StandardCharsets.UTF_8);
        synchronized (entries) {
            CachedKey entry = entries.get(cacheKey);
            if (entry != null && MessageDigest.isEqual(entry.secretUtf8(), secretUtf8)) {
                return entry.signingKey();
            }
        }
        byte[] signingKey = SigV4Crypto.deriveSigningKey(secret, scope);
        synchronized (entries) {
            entries.put(cacheKey, new CachedKey(secretUtf8, signingKey));
        }
        return signingKey;
    }

    /** How many keys are cached now. */
    public int entryCount() {
        synchronized (entries) {
            return entries.size();
        }
    }
}
