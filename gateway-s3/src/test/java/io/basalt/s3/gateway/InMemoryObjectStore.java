package io.basalt.s3.gateway;

import io.basalt.client.object.BodyWriter;
import io.basalt.client.object.ObjectStore;
import io.basalt.client.object.ObjectStoreException;
import io.basalt.client.object.ObjectStoreException.Kind;
import io.basalt.client.object.ReadSink;
import io.basalt.meta.model.s3.Bucket;
import io.basalt.meta.model.s3.ObjectExtent;
import io.basalt.meta.model.s3.ObjectListing;
import io.basalt.meta.model.s3.ObjectVersion;
import io.basalt.meta.model.s3.Part;
import io.basalt.meta.model.s3.PartListing;
import io.basalt.meta.model.s3.S3User;
import io.basalt.meta.model.s3.Upload;
import io.basalt.meta.model.s3.UploadListing;
import io.basalt.meta.model.s3.Versioning;
import io.basalt.s3.checksum.ChecksumAlgorithm;
import io.basalt.s3.checksum.MultipartChecksums;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.NavigableMap;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Pattern;

/**
 * An {@link ObjectStore} in memory, for testing gateways without a cluster, with the semantics
 * docs/objects.md gives the real one: buckets owned by an access key, versioning (null version,
 * delete markers, suspended buckets), listing by prefix and delimiter with markers and paging,
 * multipart uploads (part list, ETag and size checks, the 5 MiB minimum, the md5-N ETag and
 * COMPOSITE checksums), conditional writes.
 *
 * <p>Bytes: each body is one "log" (a byte array) and one extent. Writes complete on a separate
 * thread, optionally after a delay (a slow cluster), so callers see real asynchrony; the bytes
 * handed to {@link BodyWriter#write} and not yet taken are counted, with their maximum, to
 * prove a caller's backpressure. Reads deliver {@link #READ_PIECE_BYTES} at a time and wait for
 * each piece's future.
 *
 * <p>Thread-safe: the index is guarded by {@code this}; bodies by their own monitor.
 */
public final class InMemoryObjectStore implements ObjectStore {
    public static final long PART_SIZE_BYTES_MIN = 5L << 20;
    public static final int READ_PIECE_BYTES = 64 * 1024;
    private static final Pattern POLICY = Pattern.compile("rep[1-9]|ec[1-9][0-9]?\\+[1-9]");

    private final Map<String, BucketState> buckets = new TreeMap<>();
    private final Map<String, S3User> users = new ConcurrentHashMap<>();
    private final Map<Long, byte[]> logs = new ConcurrentHashMap<>();
    private final Set<Long> openBodies = ConcurrentHashMap.newKeySet();
    private final AtomicLong nextLogId = new AtomicLong(1);
    private final AtomicLong nextBucketId = new AtomicLong(1);
    private final AtomicLong versionSequence = new AtomicLong();
    private final AtomicLong outstandingWriteBytes = new AtomicLong();
    private final AtomicLong outstandingWriteBytesMax = new AtomicLong();
    private final ExecutorService writeCompletions = Executors.newSingleThreadExecutor(runnable -> {
        Thread thread = new Thread(runnable, "memory-store-writes");
        thread.setDaemon(true);
        return thread;
    });
    private final AtomicLong readBytesDelivered = new AtomicLong();
    private volatile long writeDelayNanosPerMiB;

    private static final class BucketState {
        final long id;
        final String name;
        final String owner;
        final String policy;
        final long createdMillis;
        Versioning versioning = Versioning.UNVERSIONED;
        /** Key to versions, newest first. */
        final TreeMap<String, List<ObjectVersion>> objects = new TreeMap<>();
        final Map<String, UploadState> uploads = new HashMap<>();

        BucketState(long id, String name, String owner, String policy, long createdMillis) {
            this.id = id;
            this.name = name;
            this.owner = owner;
            this.policy = policy;
            this.createdMillis = createdMillis;
        }
    }

    private static final class UploadState {
        final Upload upload;
        final TreeMap<Integer, Part> parts = new TreeMap<>();

        UploadState(Upload upload) {
            this.upload = upload;
        }
    }

    // ---- test controls ----

    public void addUser(String name, String accessKey, String secret) {
        users.put(accessKey, new S3User(name, accessKey, secret, System.currentTimeMillis()));
    }

    /** Makes every write take this long per MiB before it completes (a slow cluster). */
    public void setWriteDelayNanosPerMiB(long nanos) {
        writeDelayNanosPerMiB = nanos;
    }

    /** The most bytes handed to writers and not yet taken, at any moment. */
    public long outstandingWriteBytesMax() {
        return outstandingWriteBytesMax.get();
    }

    public void resetOutstandingWriteBytesMax() {
        outstandingWriteBytesMax.set(outstandingWriteBytes.get());
    }

    /** Bytes handed to read sinks so far. */
    public long readBytesDelivered() {
        return readBytesDelivered.get();
    }

    /** Bodies created and neither committed nor aborted. */
    public int openBodyCount() {
        return openBodies.size();
    }

    /** Logs (bodies) holding bytes: finished bodies that were committed or not yet aborted. */
    public int logCount() {
        return logs.size();
    }

    // ---- buckets ----

    @Override
    public synchronized CompletableFuture<Bucket> createBucket(String name, String owner,
            String policyName) {
        BucketState existing = buckets.get(name);
        if (existing != null) {
            return failed(existing.owner.equals(owner) ? Kind.BUCKET_OWNED : Kind.BUCKET_EXISTS,
                    "bucket \"" + name + "\" exists");
        }
        if (!POLICY.matcher(policyName).matches()) {
            return failed(Kind.INVALID, "storage policy \"" + policyName
                    + "\" is not repN or ecK+M");
        }
        BucketState bucket = new BucketState(nextBucketId.getAndIncrement(), name, owner,
                policyName, System.currentTimeMillis());
        buckets.put(name, bucket);
        return CompletableFuture.completedFuture(describe(bucket));
    }

    @Override
    public synchronized CompletableFuture<Void> deleteBucket(String name) {
        BucketState bucket = buckets.get(name);
        if (bucket == null) {
            return failed(Kind.NO_SUCH_BUCKET, "bucket \"" + name + "\" does not exist");
        }
        if (!bucket.objects.isEmpty() || !bucket.uploads.isEmpty()) {
            return failed(Kind.BUCKET_NOT_EMPTY, "bucket \"" + name + "\" holds "
                    + bucket.objects.size() + " keys and " + bucket.uploads.size()
                    + " uploads");
        }
        buckets.remove(name);
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public synchronized CompletableFuture<Optional<Bucket>> bucket(String name) {
        BucketState bucket = buckets.get(name);
        return CompletableFuture.completedFuture(Optional.ofNullable(bucket).map(
                this::describe));
    }

    @Override
    public synchronized CompletableFuture<List<Bucket>> listBuckets() {
        return CompletableFuture.completedFuture(buckets.values().stream().map(this::describe)
                .toList());
    }

    @Override
    public synchronized CompletableFuture<Bucket> setVersioning(String name,
            Versioning versioning) {
        BucketState bucket = buckets.get(name);
        if (bucket == null) {
            return failed(Kind.NO_SUCH_BUCKET, "bucket \"" + name + "\" does not exist");
        }
        if (versioning == Versioning.UNVERSIONED && bucket.versioning != Versioning.UNVERSIONED) {
            return failed(Kind.INVALID, "a versioned bucket cannot become unversioned");
        }
        bucket.versioning = versioning;
        return CompletableFuture.completedFuture(describe(bucket));
    }

    private Bucket describe(BucketState bucket) {
        long count = 0;
        long bytes = 0;
        for (List<ObjectVersion> versions : bucket.objects.values()) {
            ObjectVersion current = versions.getFirst();
            if (!current.deleteMarker()) {
                count++;
                bytes += current.size();
            }
        }
        return new Bucket(bucket.id, bucket.name, bucket.owner, bucket.policy,
                bucket.createdMillis, bucket.versioning, count, bytes);
    }

    private BucketState bucketState(String name) {
        BucketState bucket = buckets.get(name);
        if (bucket == null) {
            throw new ObjectStoreException(Kind.NO_SUCH_BUCKET, "bucket \"" + name
                    + "\" does not exist");
        }
        return bucket;
    }

    // ---- bodies ----

    @Override
    public BodyWriter newBody(String bucket, long expectedLength) {
        long logId = nextLogId.getAndIncrement();
        openBodies.add(logId);
        return new MemoryBody(logId, expectedLength);
    }

    private final class MemoryBody implements BodyWriter {
        private final long logId;
        private final long expectedLength;
        private final ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        private CompletableFuture<Void> lastWrite = CompletableFuture.completedFuture(null);
        private boolean finished;
        private boolean aborted;

        MemoryBody(long logId, long expectedLength) {
            this.logId = logId;
            this.expectedLength = expectedLength;
        }

        @Override
        public synchronized CompletableFuture<Void> write(ByteBuf data) {
            if (finished || aborted) {
                data.release();
                return failed(Kind.INVALID, "write after " + (finished ? "finish" : "abort"));
            }
            if (!lastWrite.isDone()) {
                data.release();
                return failed(Kind.INVALID, "write before the previous write completed");
            }
            int length = data.readableBytes();
            long outstanding = outstandingWriteBytes.addAndGet(length);
            outstandingWriteBytesMax.accumulateAndGet(outstanding, Math::max);
            CompletableFuture<Void> written = new CompletableFuture<>();
            lastWrite = written;
            writeCompletions.execute(() -> {
                Throwable failure = null;
                try {
                    long delay = writeDelayNanosPerMiB * length / (1 << 20);
                    if (delay > 0) {
                        Thread.sleep(delay / 1_000_000, (int) (delay % 1_000_000));
                    }
                    byte[] copy = new byte[length];
                    data.getBytes(data.readerIndex(), copy);
                    synchronized (MemoryBody.this) {
                        bytes.writeBytes(copy);
                    }
                } catch (Throwable e) {
                    failure = e;
                } finally {
                    // Taken before the caller hears of it, so the count never overlaps writes.
                    data.release();
                    outstandingWriteBytes.addAndGet(-length);
                }
                if (failure == null) {
                    written.complete(null);
                } else {
                    written.completeExceptionally(failure);
                }
            });
            return written;
        }

        @Override
        public synchronized CompletableFuture<Written> finish() {
            if (aborted) {
                return failed(Kind.INVALID, "finish after abort");
            }
            if (!lastWrite.isDone()) {
                return failed(Kind.INVALID, "finish before the last write completed");
            }
            finished = true;
            byte[] content = bytes.toByteArray();
            if (expectedLength >= 0 && content.length != expectedLength) {
                return failed(Kind.INVALID, "body of " + content.length + " bytes, "
                        + expectedLength + " expected");
            }
            logs.put(logId, content);
            return CompletableFuture.completedFuture(new Written(content.length,
                    List.of(new ObjectExtent(logId, 0, content.length))));
        }

        @Override
        public synchronized void abort() {
            aborted = true;
            if (openBodies.remove(logId)) {
                logs.remove(logId);
            }
        }
    }

    /** Claims finished bodies for a commit: each once, finished, of the length given. */
    private void claim(BodyWriter.Written body) {
        long total = 0;
        for (ObjectExtent extent : body.extents()) {
            byte[] log = logs.get(extent.logId());
            if (log == null || !openBodies.contains(extent.logId())) {
                throw new ObjectStoreException(Kind.INVALID, "log " + extent.logId()
                        + " is not a finished, uncommitted body");
            }
            total += extent.length();
        }
        if (total != body.length()) {
            throw new ObjectStoreException(Kind.INVALID, "extents of " + total + " bytes for a"
                    + " body of " + body.length());
        }
        body.extents().forEach(extent -> openBodies.remove(extent.logId()));
    }

    private void free(List<ObjectExtent> extents) {
        extents.forEach(extent -> logs.remove(extent.logId()));
    }

    // ---- objects ----

    @Override
    public synchronized CompletableFuture<ObjectVersion> putObject(String bucketName, String key,
            BodyWriter.Written body, ObjectAttributes attributes, WriteConditions conditions) {
        try {
            BucketState bucket = bucketState(bucketName);
            checkConditions(bucket, key, conditions);
            claim(body);
            ObjectVersion version = new ObjectVersion(bucketName, key, null, false, true,
                    body.length(), attributes.etag(), System.currentTimeMillis(),
                    attributes.owner(), Map.copyOf(attributes.headers()),
                    Map.copyOf(attributes.checksums()), attributes.checksumType(),
                    Map.copyOf(attributes.tags()), List.of(), List.copyOf(body.extents()));
            return CompletableFuture.completedFuture(addVersion(bucket, key, version));
        } catch (ObjectStoreException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    private void checkConditions(BucketState bucket, String key, WriteConditions conditions) {
        ObjectVersion current = current(bucket, key);
        if (conditions.ifNoneMatchAny() && current != null) {
            throw new ObjectStoreException(Kind.PRECONDITION_FAILED, "\"" + key
                    + "\" exists (If-None-Match: *)");
        }
        if (conditions.ifMatch() != null && (current == null
                || !conditions.ifMatch().equals(current.etag()))) {
            throw new ObjectStoreException(Kind.PRECONDITION_FAILED, "\"" + key
                    + "\" is not at ETag " + conditions.ifMatch() + " (If-Match)");
        }
    }

    /** The current version that is not a delete marker, or null. */
    private static ObjectVersion current(BucketState bucket, String key) {
        List<ObjectVersion> versions = bucket.objects.get(key);
        if (versions == null || versions.getFirst().deleteMarker()) {
            return null;
        }
        return versions.getFirst();
    }

    /** Adds {@code version} as the newest, with its version id: "null" unless enabled. */
    private ObjectVersion addVersion(BucketState bucket, String key, ObjectVersion version) {
        List<ObjectVersion> versions = bucket.objects.computeIfAbsent(key, k -> new ArrayList<>());
        String versionId;
        if (bucket.versioning == Versioning.ENABLED) {
            versionId = newVersionId();
        } else {
            versionId = ObjectVersion.NULL_VERSION;
            versions.removeIf(old -> {
                if (old.versionId().equals(ObjectVersion.NULL_VERSION)) {
                    free(old.extents());
                    return true;
                }
                return false;
            });
        }
        ObjectVersion stored = version.withVersionId(versionId);
        versions.addFirst(stored);
        return stored.withLatest(true);
    }

    private String newVersionId() {
        return String.format("%016x%08x", versionSequence.incrementAndGet(),
                ThreadLocalRandom.current().nextInt());
    }

    @Override
    public synchronized CompletableFuture<Optional<ObjectVersion>> head(String bucketName,
            String key, String versionId) {
        try {
            BucketState bucket = bucketState(bucketName);
            List<ObjectVersion> versions = bucket.objects.get(key);
            if (versions == null) {
                return CompletableFuture.completedFuture(Optional.empty());
            }
            if (versionId == null) {
                ObjectVersion current = versions.getFirst();
                return CompletableFuture.completedFuture(current.deleteMarker() ? Optional.empty()
                        : Optional.of(current.withLatest(true)));
            }
            for (int i = 0; i < versions.size(); i++) {
                if (versions.get(i).versionId().equals(versionId)) {
                    return CompletableFuture.completedFuture(Optional.of(
                            versions.get(i).withLatest(i == 0)));
                }
            }
            return CompletableFuture.completedFuture(Optional.empty());
        } catch (ObjectStoreException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    @Override
    public CompletableFuture<Void> read(ObjectVersion version, long offset, long length,
            ReadSink sink) {
        long total = version.extents().stream().mapToLong(ObjectExtent::length).sum();
        if (offset < 0 || length < 0 || offset + length > total) {
            return failed(Kind.INVALID, "read of [" + offset + ", " + (offset + length)
                    + ") from " + total + " bytes");
        }
        List<byte[]> pieces = new ArrayList<>();
        List<ObjectExtent> extents = version.extents();
        for (ObjectExtent extent : extents) {
            byte[] log = logs.get(extent.logId());
            if (log == null) {
                return failed(Kind.NO_SUCH_VERSION, "the bytes of " + version.key() + " "
                        + version.versionId() + " are gone");
            }
            pieces.add(log);
        }
        CompletableFuture<Void> done = new CompletableFuture<>();
        new Object() {
            long position = offset;
            final long end = offset + length;

            void next() {
                try {
                    while (position < end) {
                        int n = (int) Math.min(READ_PIECE_BYTES, end - position);
                        ByteBuf piece = Unpooled.buffer(n);
                        copy(position, n, piece);
                        position += n;
                        readBytesDelivered.addAndGet(n);
                        CompletableFuture<Void> accepted = sink.accept(piece);
                        if (!accepted.isDone()) {
                            accepted.whenComplete((ignored, failure) -> {
                                if (failure != null) {
                                    done.completeExceptionally(failure);
                                } else {
                                    next();
                                }
                            });
                            return;
                        }
                        accepted.join();
                    }
                    done.complete(null);
                } catch (Throwable e) {
                    done.completeExceptionally(e);
                }
            }

            void copy(long from, int n, ByteBuf into) {
                long extentStart = 0;
                for (int i = 0; i < extents.size() && n > 0; i++) {
                    long extentLength = extents.get(i).length();
                    if (from < extentStart + extentLength) {
                        int within = (int) (from - extentStart);
                        int take = (int) Math.min(n, extentLength - within);
                        into.writeBytes(pieces.get(i), (int) extents.get(i).offset() + within,
                                take);
                        from += take;
                        n -= take;
                    }
                    extentStart += extentLength;
                }
            }
        }.next();
        return done;
    }

    @Override
    public synchronized CompletableFuture<DeleteOutcome> delete(String bucketName, String key,
            String versionId) {
        try {
            BucketState bucket = bucketState(bucketName);
            List<ObjectVersion> versions = bucket.objects.get(key);
            if (versionId != null) {
                if (versions == null) {
                    throw new ObjectStoreException(Kind.NO_SUCH_VERSION, "\"" + key
                            + "\" has no version " + versionId);
                }
                for (ObjectVersion version : versions) {
                    if (version.versionId().equals(versionId)) {
                        versions.remove(version);
                        free(version.extents());
                        if (versions.isEmpty()) {
                            bucket.objects.remove(key);
                        }
                        return CompletableFuture.completedFuture(new DeleteOutcome(versionId,
                                version.deleteMarker()));
                    }
                }
                throw new ObjectStoreException(Kind.NO_SUCH_VERSION, "\"" + key
                        + "\" has no version " + versionId);
            }
            if (bucket.versioning == Versioning.UNVERSIONED) {
                if (versions != null) {
                    versions.forEach(version -> free(version.extents()));
                    bucket.objects.remove(key);
                }
                return CompletableFuture.completedFuture(new DeleteOutcome(null, false));
            }
            ObjectVersion marker = new ObjectVersion(bucketName, key, null, true, true, 0, "",
                    System.currentTimeMillis(), bucket.owner, Map.of(), Map.of(), "", Map.of(),
                    List.of(), List.of());
            ObjectVersion added = addVersion(bucket, key, marker);
            return CompletableFuture.completedFuture(new DeleteOutcome(added.versionId(),
                    true));
        } catch (ObjectStoreException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    @Override
    public synchronized CompletableFuture<ObjectListing> list(String bucketName,
            ListQuery query) {
        try {
            BucketState bucket = bucketState(bucketName);
            InMemoryListing<ObjectVersion> listing = new InMemoryListing<>(query.prefix(),
                    query.delimiter(),
                    query.after(), query.maxKeys());
            for (var entry : keysFrom(bucket.objects, query.prefix(), query.after())) {
                String key = entry.getKey();
                if (listing.pastPrefix(key)) {
                    break;
                }
                if (!listing.inPrefix(key)) {
                    continue;
                }
                ObjectVersion current = entry.getValue().getFirst();
                if (current.deleteMarker()) {
                    continue;
                }
                if (!listing.offer(key, current.withLatest(true), null)) {
                    break;
                }
            }
            return CompletableFuture.completedFuture(new ObjectListing(listing.entries,
                    listing.prefixes, listing.truncated, listing.truncated ? listing.lastKey
                            : null, null));
        } catch (ObjectStoreException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    @Override
    public synchronized CompletableFuture<ObjectListing> listVersions(String bucketName,
            String prefix, String delimiter, String keyMarker, String versionIdMarker,
            int maxKeys) {
        try {
            BucketState bucket = bucketState(bucketName);
            InMemoryListing<ObjectVersion> listing = new InMemoryListing<>(prefix, delimiter,
                    versionIdMarker == null ? keyMarker : null, maxKeys);
            String from = keyMarker;
            boolean fromInclusive = versionIdMarker != null;
            NavigableMap<String, List<ObjectVersion>> keys = from == null
                    ? (prefix == null ? bucket.objects : bucket.objects.tailMap(prefix, true))
                    : bucket.objects.tailMap(from, fromInclusive);
            outer:
            for (var entry : keys.entrySet()) {
                String key = entry.getKey();
                if (listing.pastPrefix(key)) {
                    break;
                }
                if (!listing.inPrefix(key)) {
                    continue;
                }
                List<ObjectVersion> versions = entry.getValue();
                boolean skipping = key.equals(keyMarker) && versionIdMarker != null;
                for (int i = 0; i < versions.size(); i++) {
                    ObjectVersion version = versions.get(i);
                    if (skipping) {
                        if (version.versionId().equals(versionIdMarker)) {
                            skipping = false;
                        }
                        continue;
                    }
                    if (!listing.offer(key, version.withLatest(i == 0),
                            version.versionId())) {
                        break outer;
                    }
                    if (listing.lastWasPrefix) {
                        break; // the whole key is inside the common prefix
                    }
                }
            }
            return CompletableFuture.completedFuture(new ObjectListing(listing.entries,
                    listing.prefixes, listing.truncated, listing.truncated ? listing.lastKey
                            : null, listing.truncated ? listing.lastVersionId : null));
        } catch (ObjectStoreException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    private static <V> Iterable<Map.Entry<String, V>> keysFrom(NavigableMap<String, V> map,
            String prefix, String after) {
        NavigableMap<String, V> view = map;
        if (after != null && (prefix == null || after.compareTo(prefix) >= 0)) {
            view = map.tailMap(after, false);
        } else if (prefix != null) {
            view = map.tailMap(prefix, true);
        }
        return view.entrySet();
    }

    @Override
    public synchronized CompletableFuture<ObjectVersion> putTags(String bucketName, String key,
            String versionId, Map<String, String> tags) {
        try {
            BucketState bucket = bucketState(bucketName);
            List<ObjectVersion> versions = bucket.objects.get(key);
            if (versions == null) {
                throw new ObjectStoreException(Kind.NO_SUCH_KEY, "\"" + key
                        + "\" does not exist");
            }
            for (int i = 0; i < versions.size(); i++) {
                ObjectVersion version = versions.get(i);
                boolean named = versionId == null ? i == 0 : version.versionId().equals(
                        versionId);
                if (named) {
                    if (version.deleteMarker()) {
                        throw new ObjectStoreException(Kind.NO_SUCH_KEY, "\"" + key
                                + "\" is deleted");
                    }
                    ObjectVersion tagged = version.withTags(Map.copyOf(tags));
                    versions.set(i, tagged);
                    return CompletableFuture.completedFuture(tagged.withLatest(i == 0));
                }
            }
            throw new ObjectStoreException(Kind.NO_SUCH_VERSION, "\"" + key
                    + "\" has no version " + versionId);
        } catch (ObjectStoreException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    // ---- multipart ----

    @Override
    public synchronized CompletableFuture<Upload> createUpload(String bucketName, String key,
            ObjectAttributes attributes) {
        try {
            BucketState bucket = bucketState(bucketName);
            String algorithm = attributes.checksums().isEmpty() ? null
                    : attributes.checksums().keySet().iterator().next();
            Upload upload = new Upload(bucketName, key, String.format("%032x",
                    new java.math.BigInteger(128, ThreadLocalRandom.current())),
                    System.currentTimeMillis(), attributes.owner(),
                    Map.copyOf(attributes.headers()), algorithm,
                    Map.copyOf(attributes.tags()));
            bucket.uploads.put(upload.uploadId(), new UploadState(upload));
            return CompletableFuture.completedFuture(upload);
        } catch (ObjectStoreException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    private static UploadState uploadState(BucketState bucket, String key, String uploadId) {
        UploadState upload = bucket.uploads.get(uploadId);
        if (upload == null || !upload.upload.key().equals(key)) {
            throw new ObjectStoreException(Kind.NO_SUCH_UPLOAD, "upload \"" + uploadId
                    + "\" of \"" + key + "\" does not exist");
        }
        return upload;
    }

    @Override
    public synchronized CompletableFuture<Part> putPart(String bucketName, String key,
            String uploadId, int partNumber, BodyWriter.Written body, String etag,
            Map<String, String> checksums) {
        try {
            UploadState upload = uploadState(bucketState(bucketName), key, uploadId);
            claim(body);
            Part part = new Part(partNumber, body.length(), etag, Map.copyOf(checksums),
                    System.currentTimeMillis(), List.copyOf(body.extents()));
            Part replaced = upload.parts.put(partNumber, part);
            if (replaced != null) {
                free(replaced.extents());
            }
            return CompletableFuture.completedFuture(part);
        } catch (ObjectStoreException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    /**
     * Completed uploads (bucket, key, upload id) and their result: a repeated complete answers
     * it again, as meta does within its retention (MultipartLogic, CompletedUploads).
     */
    private final Map<String, ObjectVersion> completedUploads = new HashMap<>();

    @Override
    public synchronized CompletableFuture<ObjectVersion> completeUpload(String bucketName,
            String key, String uploadId, List<CompletedPart> parts, WriteConditions conditions) {
        try {
            BucketState bucket = bucketState(bucketName);
            ObjectVersion done = completedUploads.get(bucketName + "\0" + key + "\0"
                    + uploadId);
            if (done != null && !bucket.uploads.containsKey(uploadId)) {
                return CompletableFuture.completedFuture(done); // a repeat, as meta answers it
            }
            UploadState upload = uploadState(bucket, key, uploadId);
            if (parts.isEmpty()) {
                throw new ObjectStoreException(Kind.INVALID, "no parts named");
            }
            List<Part> chosen = new ArrayList<>();
            int previous = 0;
            for (CompletedPart named : parts) {
                if (named.number() <= previous) {
                    throw new ObjectStoreException(Kind.INVALID_PART_ORDER, "part "
                            + named.number() + " follows part " + previous);
                }
                previous = named.number();
                Part part = upload.parts.get(named.number());
                if (part == null || !part.etag().equals(named.etag())) {
                    throw new ObjectStoreException(Kind.INVALID_PART, "part " + named.number()
                            + (part == null ? " was not uploaded" : " has ETag " + part.etag()
                                    + ", not " + named.etag()));
                }
                chosen.add(part);
            }
            for (int i = 0; i < chosen.size() - 1; i++) {
                if (chosen.get(i).size() < PART_SIZE_BYTES_MIN) {
                    throw new ObjectStoreException(Kind.ENTITY_TOO_SMALL, "part "
                            + chosen.get(i).number() + " is " + chosen.get(i).size()
                            + " bytes (min " + PART_SIZE_BYTES_MIN + " but the last)");
                }
            }
            checkConditions(bucket, key, conditions);
            String etag = MultipartChecksums.multipartEtag(chosen.stream().map(Part::etag)
                    .toList());
            Map<String, String> checksums = Map.of();
            String checksumType = "";
            String algorithmName = upload.upload.checksumAlgorithm();
            if (algorithmName != null && chosen.stream().allMatch(part -> part.checksums()
                    .containsKey(algorithmName))) {
                ChecksumAlgorithm algorithm = ChecksumAlgorithm.fromAlgorithmName(algorithmName);
                checksums = Map.of(algorithmName, MultipartChecksums.composite(algorithm,
                        chosen.stream().map(part -> part.checksums().get(algorithmName))
                                .toList()));
                checksumType = "COMPOSITE";
            }
            List<ObjectExtent> extents = new ArrayList<>();
            long size = 0;
            Set<Integer> used = new HashSet<>();
            for (Part part : chosen) {
                extents.addAll(part.extents());
                size += part.size();
                used.add(part.number());
            }
            upload.parts.forEach((number, part) -> {
                if (!used.contains(number)) {
                    free(part.extents());
                }
            });
            bucket.uploads.remove(uploadId);
            ObjectVersion version = new ObjectVersion(bucketName, key, null, false, true, size,
                    etag, System.currentTimeMillis(), upload.upload.owner(),
                    upload.upload.headers(), checksums, checksumType, upload.upload.tags(),
                    chosen.stream().map(Part::size).toList(), List.copyOf(extents));
            ObjectVersion added = addVersion(bucket, key, version);
            completedUploads.put(bucketName + "\0" + key + "\0" + uploadId, added);
            return CompletableFuture.completedFuture(added);
        } catch (ObjectStoreException e) {
            return CompletableFuture.failedFuture(e);
        } catch (RuntimeException e) {
            return failed(Kind.INVALID, e.getMessage());
        }
    }

    @Override
    public synchronized CompletableFuture<Void> abortUpload(String bucketName, String key,
            String uploadId) {
        try {
            BucketState bucket = bucketState(bucketName);
            UploadState upload = uploadState(bucket, key, uploadId);
            upload.parts.values().forEach(part -> free(part.extents()));
            bucket.uploads.remove(uploadId);
            return CompletableFuture.completedFuture(null);
        } catch (ObjectStoreException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    @Override
    public synchronized CompletableFuture<PartListing> listParts(String bucketName, String key,
            String uploadId, int partNumberMarker, int maxParts) {
        try {
            UploadState upload = uploadState(bucketState(bucketName), key, uploadId);
            List<Part> parts = new ArrayList<>();
            boolean truncated = false;
            for (Part part : upload.parts.tailMap(partNumberMarker, false).values()) {
                if (parts.size() == maxParts) {
                    truncated = true;
                    break;
                }
                parts.add(part);
            }
            int next = parts.isEmpty() ? partNumberMarker : parts.getLast().number();
            return CompletableFuture.completedFuture(new PartListing(upload.upload, parts,
                    truncated, next));
        } catch (ObjectStoreException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    @Override
    public synchronized CompletableFuture<UploadListing> listUploads(String bucketName,
            String prefix, String delimiter, String keyMarker, String uploadIdMarker,
            int maxUploads) {
        try {
            BucketState bucket = bucketState(bucketName);
            List<Upload> sorted = bucket.uploads.values().stream().map(u -> u.upload)
                    .sorted(java.util.Comparator.comparing(Upload::key).thenComparing(
                            Upload::uploadId))
                    .toList();
            InMemoryListing<Upload> listing = new InMemoryListing<>(prefix, delimiter, keyMarker, maxUploads);
            for (Upload upload : sorted) {
                if (keyMarker != null) {
                    int byKey = upload.key().compareTo(keyMarker);
                    if (byKey < 0 || (byKey == 0 && (uploadIdMarker == null
                            || upload.uploadId().compareTo(uploadIdMarker) <= 0))) {
                        continue;
                    }
                }
                if (!listing.inPrefix(upload.key())) {
                    continue;
                }
                if (!listing.offer(upload.key(), upload, upload.uploadId())) {
                    break;
                }
            }
            return CompletableFuture.completedFuture(new UploadListing(listing.entries,
                    listing.prefixes, listing.truncated, listing.truncated ? listing.lastKey
                            : null, listing.truncated ? listing.lastVersionId : null));
        } catch (ObjectStoreException e) {
            return CompletableFuture.failedFuture(e);
        }
    }

    // ---- users ----

    @Override
    public CompletableFuture<Optional<S3User>> user(String accessKey) {
        return CompletableFuture.completedFuture(Optional.ofNullable(users.get(accessKey)));
    }

    @Override
    public void close() {
        writeCompletions.shutdownNow();
    }

    private static <T> CompletableFuture<T> failed(Kind kind, String message) {
        return CompletableFuture.failedFuture(new ObjectStoreException(kind, message));
    }
}
