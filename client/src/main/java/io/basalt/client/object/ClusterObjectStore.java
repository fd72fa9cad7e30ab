package io.basalt.client.object;

import io.basalt.client.ClusterClient;
import io.basalt.client.VolumeDevice;
import io.basalt.meta.api.MetaError;
import io.basalt.meta.api.MetaException;
import io.basalt.meta.model.Policy;
import io.basalt.meta.model.s3.Bucket;
import io.basalt.meta.model.s3.ObjectExtent;
import io.basalt.meta.model.s3.ObjectListing;
import io.basalt.meta.model.s3.ObjectLog;
import io.basalt.meta.model.s3.ObjectVersion;
import io.basalt.meta.model.s3.Part;
import io.basalt.meta.model.s3.PartListing;
import io.basalt.meta.model.s3.S3User;
import io.basalt.meta.model.s3.Upload;
import io.basalt.meta.model.s3.UploadListing;
import io.basalt.meta.model.s3.Versioning;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The object store on a Basalt cluster (docs/objects.md): names through the {@link ObjectIndex} in
 * meta, bytes appended to object logs through the client library's volumes. One per gateway process;
 * {@code writerId} names this gateway as the writer of its logs (and the holder of their leases).
 */
public final class ClusterObjectStore implements ObjectStore {
    private static final Logger log = LoggerFactory.getLogger(ClusterObjectStore.class);
    /**
     * How long a bucket read from meta answers later lookups of this gateway (docs/objects.md,
     * "Caches"): every request's ownership check and every body's policy. A bucket changed through
     * this gateway is dropped at once; through another, this one sees it within the TTL (S3 too
     * says bucket configuration changes take a while to show). Objects are never cached.
     */
    private static final long BUCKET_CACHE_NANOS = TimeUnit.SECONDS.toNanos(2);
    /** How long a user's secret read from meta verifies later requests (a deleted user's keys work this long). */
    private static final long USER_CACHE_NANOS = TimeUnit.SECONDS.toNanos(5);
    private static final long TRIM_FREED_EVERY_MILLIS = 2_000;
    private static final int READ_BYTES = 1 << 20;
    /** Reads of a GET in flight at once: 4 MiB per GET, enough to keep six chunk servers busy. */
    private static final int READS_AHEAD = 4;
    private static final int OPEN_LOG_ATTEMPTS = 16;

    /**
     * Bodies of at most this many bytes are kept inline in the index entry (docs/objects.md, "Small
     * objects inline"): a PUT is one Raft commit and a GET one meta read, no chunk server. 8 KiB
     * covers the small objects that cost most in a log (each a partial-stripe write and a read of
     * its own) while keeping meta's RocksDB growth per object small; meta accepts up to
     * {@link ObjectVersion#INLINE_BYTES_MAX}.
     */
    public static final int INLINE_BYTES_MAX_DEFAULT = 8 * 1024;

    private final ClusterClient cluster;
    private final ObjectIndex index;
    private final int inlineBytesMax;
    private final String writerId;
    private final ExecutorService calls = Executors.newVirtualThreadPerTaskExecutor();
    private final ScheduledExecutorService janitor = Executors.newSingleThreadScheduledExecutor(
            Thread.ofPlatform().daemon().name("basalt-objects-janitor").factory());
    /** The log this gateway appends to, per storage policy. */
    private final Map<String, LogWriter> writers = new ConcurrentHashMap<>();
    private final List<LogWriter> allWriters = Collections.synchronizedList(new ArrayList<>());
    /** Read-only devices of logs other gateways write, by log id. */
    private final Map<Long, CompletableFuture<LogDevice>> readers = new ConcurrentHashMap<>();
    /** Finished bodies not yet named by an object or part, so that commit or failure settles them. */
    private final Map<BodyWriter.Written, LogBody> unnamed = Collections.synchronizedMap(new IdentityHashMap<>());
    private final Map<String, Cached<Bucket>> buckets = new ConcurrentHashMap<>();
    private final Map<String, Cached<S3User>> users = new ConcurrentHashMap<>();
    /**
     * Raised by every bucket change made here: a lookup that started before one must not cache what it
     * read (it may be the bucket as it was before the change).
     */
    private final java.util.concurrent.atomic.AtomicLong bucketChanges = new java.util.concurrent.atomic.AtomicLong();

    private record Cached<T>(T value, long untilNanos) {
        boolean fresh() {
            return untilNanos - System.nanoTime() > 0;
        }
    }

    public ClusterObjectStore(ClusterClient cluster, ObjectIndex index, String writerId) {
        this(cluster, index, writerId, INLINE_BYTES_MAX_DEFAULT);
    }

    /** @param inlineBytesMax bodies up to this size are kept in the index entry; 0 keeps none inline */
    public ClusterObjectStore(ClusterClient cluster, ObjectIndex index, String writerId, int inlineBytesMax) {
        if (inlineBytesMax < 0 || inlineBytesMax > ObjectVersion.INLINE_BYTES_MAX) {
            throw new IllegalArgumentException("inline bytes max " + inlineBytesMax + " (0.."
                    + ObjectVersion.INLINE_BYTES_MAX + ")");
        }
        this.inlineBytesMax = inlineBytesMax;
        this.cluster = cluster;
        this.index = index;
        this.writerId = writerId;
        janitor.scheduleWithFixedDelay(this::trimFreed, TRIM_FREED_EVERY_MILLIS, TRIM_FREED_EVERY_MILLIS,
                TimeUnit.MILLISECONDS);
    }

    // ---- buckets ----

    @Override
    public CompletableFuture<Bucket> createBucket(String name, String owner, String policyName) {
        return call(() -> changingBucket(name, () -> index.createBucket(name, owner, policyName,
                System.currentTimeMillis())));
    }

    @Override
    public CompletableFuture<Void> deleteBucket(String name) {
        return call(() -> changingBucket(name, () -> {
            index.deleteBucket(name);
            return null;
        }));
    }

    @Override
    public CompletableFuture<Optional<Bucket>> bucket(String name) {
        Cached<Bucket> cached = buckets.get(name);
        if (cached != null && cached.fresh()) {
            return CompletableFuture.completedFuture(Optional.of(cached.value()));
        }
        return call(() -> lookUpBucket(name));
    }

    /** The bucket as meta has it now, cached unless a change through this gateway raced the read. */
    private Optional<Bucket> lookUpBucket(String name) {
        long changes = bucketChanges.get();
        long readAt = System.nanoTime();
        Optional<Bucket> found = index.getBucket(name);
        if (found.isPresent() && bucketChanges.get() == changes) {
            buckets.put(name, new Cached<>(found.get(), readAt + BUCKET_CACHE_NANOS));
        } else {
            buckets.remove(name);
        }
        return found;
    }

    /** Runs a change of bucket {@code name}, dropping its cached copy before and after. */
    private <T> T changingBucket(String name, Supplier<T> change) {
        bucketChanges.incrementAndGet();
        buckets.remove(name);
        try {
            return change.get();
        } finally {
            bucketChanges.incrementAndGet();
            buckets.remove(name);
        }
    }

    @Override
    public CompletableFuture<List<Bucket>> listBuckets() {
        return call(index::listBuckets);
    }

    @Override
    public CompletableFuture<Bucket> setVersioning(String bucket, Versioning versioning) {
        return call(() -> changingBucket(bucket, () -> index.setBucketVersioning(bucket, versioning)));
    }

    // ---- objects ----

    @Override
    public BodyWriter newBody(String bucket, long expectedLength) {
        if (expectedLength > 0 && expectedLength <= inlineBytesMax) {
            return new InlineBody((int) expectedLength);
        }
        return newLogBody(bucket, expectedLength);
    }

    private BodyWriter newLogBody(String bucket, long expectedLength) {
        LogBody body = new LogBody(() -> writerFor(policyOf(bucket)), expectedLength, PooledByteBufAllocator.DEFAULT);
        return new BodyWriter() {
            @Override
            public CompletableFuture<Void> write(ByteBuf data) {
                return body.write(data);
            }

            @Override
            public CompletableFuture<Written> finish() {
                return body.finish().thenApply(written -> {
                    unnamed.put(written, body);
                    return written;
                });
            }

            @Override
            public void abort() {
                body.abort();
            }
        };
    }

    @Override
    public CompletableFuture<ObjectVersion> putObject(String bucket, String key, BodyWriter.Written body,
            ObjectAttributes attributes, WriteConditions conditions) {
        if (body.isInline()) {
            return call(() -> index.putInlineObject(bucket, key, body.inlineData(), attributes.etag(),
                    attributes.owner(), attributes.headers(), attributes.checksums(), attributes.checksumType(),
                    attributes.tags(), conditions.ifMatch(), conditions.ifNoneMatchAny(), System.currentTimeMillis()));
        }
        return naming(body, () -> index.putObject(bucket, key, body.length(), attributes.etag(), attributes.owner(),
                attributes.headers(), attributes.checksums(), attributes.checksumType(), attributes.tags(), List.of(),
                body.extents(), conditions.ifMatch(), conditions.ifNoneMatchAny(), System.currentTimeMillis()));
    }

    @Override
    public CompletableFuture<Optional<ObjectVersion>> head(String bucket, String key, String versionId) {
        // The index answers a current delete marker as such; the store's contract is "no current version".
        return call(() -> index.getObject(bucket, key, versionId)
                .filter(version -> versionId != null || !version.deleteMarker()));
    }

    @Override
    public CompletableFuture<Void> read(ObjectVersion version, long offset, long length, ReadSink sink) {
        if (offset < 0 || length < 0 || offset + length > version.size()) {
            return CompletableFuture.failedFuture(new ObjectStoreException(ObjectStoreException.Kind.INVALID,
                    "read of " + length + " bytes at " + offset + " of an object of " + version.size()));
        }
        if (version.isInline()) {
            // The bytes came with the version from meta, CRC32C-checked when it was decoded.
            if (length == 0) {
                return CompletableFuture.completedFuture(null);
            }
            return sink.accept(Unpooled.wrappedBuffer(version.inlineData(), (int) offset, (int) length));
        }
        List<Piece> pieces = new ArrayList<>();
        long skip = offset;
        long left = length;
        for (ObjectExtent extent : version.extents()) {
            if (left == 0) {
                break;
            }
            if (skip >= extent.length()) {
                skip -= extent.length();
                continue;
            }
            long bytes = Math.min(left, extent.length() - skip);
            pieces.add(new Piece(extent.logId(), extent.offset() + skip, bytes));
            left -= bytes;
            skip = 0;
        }
        if (left > 0) {
            return CompletableFuture.failedFuture(new ObjectStoreException(ObjectStoreException.Kind.INTERNAL,
                    "object " + version.bucket() + "/" + version.key() + " version " + version.versionId()
                            + ": its extents hold fewer bytes than its size " + version.size()));
        }
        return readPieces(pieces, 0, sink);
    }

    /** Bytes [offset, offset + length) of log {@code logId}'s volume. */
    private record Piece(long logId, long offset, long length) {}

    private CompletableFuture<Void> readPieces(List<Piece> pieces, int i, ReadSink sink) {
        if (i == pieces.size()) {
            return CompletableFuture.completedFuture(null);
        }
        Piece piece = pieces.get(i);
        return deviceOf(piece.logId())
                .thenCompose(device -> readRange(device, piece.offset(), piece.offset() + piece.length(), sink))
                .thenCompose(ignored -> readPieces(pieces, i + 1, sink));
    }

    /**
     * Reads [from, to) of a log in aligned reads of up to 1 MiB, keeping {@link #READS_AHEAD} of them
     * in flight while the sink takes the oldest: one read ahead left the chunk servers idle while the
     * client took each MiB, so a large GET ran at one read's latency per MiB.
     */
    private CompletableFuture<Void> readRange(LogDevice device, long from, long to, ReadSink sink) {
        CompletableFuture<Void> done = new CompletableFuture<>();
        deliver(device, new ArrayDeque<>(), new long[] {from}, to, sink, done);
        return done;
    }

    /**
     * Tops the window of reads up, hands the oldest to the sink and goes on when the sink took it. The
     * steps run one after another (each from the previous one's completion), so the window needs no lock.
     */
    private void deliver(LogDevice device, Deque<CompletableFuture<ByteBuf>> window, long[] next, long to,
            ReadSink sink, CompletableFuture<Void> done) {
        while (window.size() < READS_AHEAD && next[0] < to) {
            long start = next[0];
            long end = Math.min(to, start + READ_BYTES - start % 4096);
            window.addLast(readAligned(device, start, end));
            next[0] = end;
        }
        CompletableFuture<ByteBuf> oldest = window.pollFirst();
        if (oldest == null) {
            done.complete(null);
            return;
        }
        oldest.thenCompose(sink::accept).whenComplete((ignored, error) -> {
            if (error == null) {
                deliver(device, window, next, to, sink, done);
                return;
            }
            // The reads still in flight are nobody's: release their buffers as they arrive.
            for (CompletableFuture<ByteBuf> ahead : window) {
                ahead.thenAccept(ByteBuf::release);
            }
            done.completeExceptionally(error);
        });
    }

    /** [from, to) of the device as one buffer (read aligned to 4 KiB, then sliced). */
    private static CompletableFuture<ByteBuf> readAligned(LogDevice device, long from, long to) {
        long start = from / 4096 * 4096;
        long end = LogWriter.align(to);
        ByteBuf buffer = PooledByteBufAllocator.DEFAULT.directBuffer((int) (end - start));
        return device.read(start, (int) (end - start), buffer).handle((ignored, error) -> {
            if (error != null) {
                buffer.release();
                throw unavailable("reading object bytes", error);
            }
            buffer.readerIndex((int) (from - start)).writerIndex((int) (to - start));
            return buffer;
        });
    }

    @Override
    public CompletableFuture<DeleteOutcome> delete(String bucket, String key, String versionId) {
        return call(() -> index.deleteObject(bucket, key, versionId, System.currentTimeMillis()));
    }

    @Override
    public CompletableFuture<ObjectListing> list(String bucket, ListQuery query) {
        return call(() -> index.listObjects(bucket, query.prefix(), query.delimiter(), query.after(), query.maxKeys()));
    }

    @Override
    public CompletableFuture<ObjectListing> listVersions(String bucket, String prefix, String delimiter,
            String keyMarker, String versionIdMarker, int maxKeys) {
        return call(() -> index.listObjectVersions(bucket, prefix, delimiter, keyMarker, versionIdMarker, maxKeys));
    }

    @Override
    public CompletableFuture<ObjectVersion> putTags(String bucket, String key, String versionId,
            Map<String, String> tags) {
        return call(() -> index.putObjectTags(bucket, key, versionId, tags));
    }

    // ---- multipart ----

    @Override
    public CompletableFuture<Upload> createUpload(String bucket, String key, ObjectAttributes attributes) {
        String uploadId = java.util.UUID.randomUUID().toString().replace("-", "");
        return call(() -> index.createUpload(bucket, key, uploadId, attributes.owner(), attributes.headers(),
                attributes.checksums().isEmpty() ? "" : attributes.checksums().keySet().iterator().next(),
                attributes.tags(), System.currentTimeMillis()));
    }

    @Override
    public CompletableFuture<Part> putPart(String bucket, String key, String uploadId, int partNumber,
            BodyWriter.Written body, String etag, Map<String, String> checksums) {
        if (body.isInline()) {
            // Parts are never inline (a completed upload joins its parts' extents): a small part (a
            // last one, or a test's) is written to the log now, as its body would have been.
            BodyWriter spill = newLogBody(bucket, body.length());
            return spill.write(Unpooled.wrappedBuffer(body.inlineData()))
                    .thenCompose(ignored -> spill.finish())
                    .whenComplete((written, error) -> {
                        if (error != null) {
                            spill.abort();
                        }
                    })
                    .thenCompose(written -> putPart(bucket, key, uploadId, partNumber, written, etag, checksums));
        }
        return naming(body, () -> index.putPart(bucket, key, uploadId, partNumber, body.length(), etag, checksums,
                body.extents(), System.currentTimeMillis()));
    }

    @Override
    public CompletableFuture<ObjectVersion> completeUpload(String bucket, String key, String uploadId,
            List<CompletedPart> parts, WriteConditions conditions) {
        return call(() -> index.completeUpload(bucket, key, uploadId,
                parts.stream().map(CompletedPart::number).toList(), parts.stream().map(CompletedPart::etag).toList(),
                conditions.ifMatch(), conditions.ifNoneMatchAny(), System.currentTimeMillis()));
    }

    @Override
    public CompletableFuture<Void> abortUpload(String bucket, String key, String uploadId) {
        return call(() -> {
            index.abortUpload(bucket, key, uploadId);
            return null;
        });
    }

    @Override
    public CompletableFuture<PartListing> listParts(String bucket, String key, String uploadId, int partNumberMarker,
            int maxParts) {
        return call(() -> index.listParts(bucket, key, uploadId, partNumberMarker, maxParts));
    }

    @Override
    public CompletableFuture<UploadListing> listUploads(String bucket, String prefix, String delimiter,
            String keyMarker, String uploadIdMarker, int maxUploads) {
        return call(() -> index.listUploads(bucket, prefix, delimiter, keyMarker, uploadIdMarker, maxUploads));
    }

    // ---- users ----

    @Override
    public CompletableFuture<Optional<S3User>> user(String accessKey) {
        Cached<S3User> cached = users.get(accessKey);
        if (cached != null && cached.fresh()) {
            return CompletableFuture.completedFuture(Optional.of(cached.value()));
        }
        return call(() -> {
            long readAt = System.nanoTime();
            Optional<S3User> found = index.getS3User(accessKey);
            if (found.isPresent()) {
                users.put(accessKey, new Cached<>(found.get(), readAt + USER_CACHE_NANOS));
            } else {
                users.remove(accessKey);
            }
            return found;
        });
    }

    // ---- logs ----

    /**
     * Names a finished body in the index: once committed it no longer holds its log back; if the
     * commit fails (a precondition, a bucket deleted meanwhile) its bytes are trimmed.
     */
    private <T> CompletableFuture<T> naming(BodyWriter.Written body, Supplier<T> commit) {
        LogBody writer = unnamed.remove(body);
        return call(commit).whenComplete((result, error) -> {
            if (writer == null) {
                return;
            }
            if (error == null) {
                writer.committed();
            } else {
                writer.abort();
            }
        });
    }

    private String policyOf(String bucket) {
        Cached<Bucket> cached = buckets.get(bucket);
        if (cached != null && cached.fresh()) {
            return cached.value().policyName();
        }
        return lookUpBucket(bucket).orElseThrow(() -> new ObjectStoreException(
                ObjectStoreException.Kind.NO_SUCH_BUCKET, "bucket \"" + bucket + "\" does not exist")).policyName();
    }

    /** This gateway's log for {@code policyName}: opened (or taken over) on first use, replaced when full. */
    private LogWriter writerFor(String policyName) {
        LogWriter current = writers.get(policyName);
        if (current != null && !current.full()) {
            return current;
        }
        synchronized (writers) {
            current = writers.get(policyName);
            if (current != null && !current.full()) {
                return current;
            }
            if (current != null) {
                index.sealObjectLog(current.logId());
                log.info("object log {} ({}) is full and sealed; opening another", current.logId(), policyName);
            }
            LogWriter opened = openLog(policyName);
            writers.put(policyName, opened);
            allWriters.add(opened);
            return opened;
        }
    }

    private LogWriter openLog(String policyName) {
        List<Long> exclude = new ArrayList<>();
        for (int attempt = 0; attempt < OPEN_LOG_ATTEMPTS; attempt++) {
            ObjectLog objectLog = index.openObjectLog(policyName, writerId, exclude, System.currentTimeMillis());
            VolumeDevice device;
            try {
                device = cluster.open(ObjectIndex.volumeName(objectLog.id()), writerId).join();
            } catch (CompletionException e) {
                if (e.getCause() instanceof MetaException meta && meta.error() == MetaError.LEASE_HELD) {
                    exclude.add(objectLog.id()); // another gateway writes it: take another
                    continue;
                }
                throw unavailable("opening object log " + objectLog.id(), e);
            }
            log.info("writing object log {} (policy {}, volume {}) from {}", objectLog.id(), policyName,
                    ObjectIndex.volumeName(objectLog.id()), objectLog.reservedMark());
            return LogWriter.takeOver(index, writerId, new VolumeLogDevice(device), objectLog,
                    Policy.parse(policyName).stripeBytes());
        }
        throw new ObjectStoreException(ObjectStoreException.Kind.UNAVAILABLE, "no object log of policy " + policyName
                + " could be opened for writing after " + OPEN_LOG_ATTEMPTS + " attempts (all held by others)");
    }

    private CompletableFuture<LogDevice> deviceOf(long logId) {
        for (LogWriter writer : List.copyOf(allWriters)) {
            if (writer.logId() == logId) {
                return CompletableFuture.completedFuture(writer.device());
            }
        }
        CompletableFuture<LogDevice> device = readers.computeIfAbsent(logId, id -> cluster
                .openReadOnly(ObjectIndex.volumeName(id)).thenApply(VolumeLogDevice::new));
        return device.whenComplete((ignored, error) -> {
            if (error != null) {
                readers.remove(logId, device); // try again next time
            }
        });
    }

    private void trimFreed() {
        for (LogWriter writer : List.copyOf(allWriters)) {
            try {
                int trimmed;
                do {
                    trimmed = writer.trimFreed();
                } while (trimmed > 0);
            } catch (RuntimeException e) {
                log.warn("object log {}: trimming freed extents failed ({}); trying again", writer.logId(),
                        e.toString());
            }
        }
    }

    private <T> CompletableFuture<T> call(Supplier<T> body) {
        return CompletableFuture.supplyAsync(body, calls);
    }

    static ObjectStoreException unavailable(String what, Throwable error) {
        Throwable cause = error instanceof CompletionException c && c.getCause() != null ? c.getCause() : error;
        if (cause instanceof ObjectStoreException e) {
            return e;
        }
        return new ObjectStoreException(ObjectStoreException.Kind.UNAVAILABLE, what + ": " + cause.getMessage(), cause);
    }

    @Override
    public void close() {
        janitor.shutdownNow();
        calls.shutdownNow();
        for (LogWriter writer : List.copyOf(allWriters)) {
            writer.close();
        }
        for (CompletableFuture<LogDevice> device : readers.values()) {
            device.thenAccept(LogDevice::close);
        }
    }

    /** A volume as an object log's device. */
    private record VolumeLogDevice(VolumeDevice device) implements LogDevice {
        @Override
        public CompletableFuture<Void> write(long offset, ByteBuf data) {
            return device.write(offset, data, true).whenComplete((ignored, error) -> data.release());
        }

        @Override
        public CompletableFuture<Void> read(long offset, int length, ByteBuf destination) {
            return device.read(offset, length, destination);
        }

        @Override
        public CompletableFuture<Void> trim(long offset, long length) {
            return device.trim(offset, length, false);
        }

        @Override
        public long sizeBytes() {
            return device.sizeBytes();
        }

        @Override
        public void close() {
            device.close();
        }
    }
}
