package io.basalt.meta.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.meta.api.MetaError;
import io.basalt.meta.api.MetaReply;
import io.basalt.meta.api.MetaRequest;
import io.basalt.meta.api.ObjectRequest;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.model.s3.Bucket;
import io.basalt.meta.model.s3.ObjectExtent;
import io.basalt.meta.model.s3.ObjectLog;
import io.basalt.meta.model.s3.ObjectVersion;
import io.basalt.meta.model.s3.Versioning;
import io.basalt.meta.store.Keys;
import io.basalt.meta.store.MetaStore;
import io.basalt.meta.store.MetaStore.Table;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * Model-based: random sequences of bucket, object, upload and reclaim operations against the real
 * logic over a real RocksDB, compared after every step with {@link ObjectIndexModel}: each reply,
 * every get, full paginated listings (objects, versions, uploads) with random prefix, delimiter,
 * marker, page size and examination bound, the buckets' counters, and the extent tables (objext
 * exactly the extents versions and parts own, objfree exactly the rest of what was committed and
 * not reported trimmed, liveBytes, gaps). A refused request must change nothing.
 */
class ObjectIndexProperties {
    private static final String[] BUCKETS = {"bk-a", "bk-b"};
    /** Keys to stress escaping and UTF-8 order: prefixes of each other, NULs, non-ASCII. */
    private static final String[] KEYS = {"a", "a/b", "a/c", "a\u0000", "a\u0000b", "ab", "b/",
            "b/x/y", "\u00e9", "\uD83D\uDE00", "\uE000", "a/b/c", "z", "a/"};
    private static final String[] PREFIXES = {"", "a", "a/", "b", "\u00e9", "\uE000", "a\u0000",
            "zz"};
    private static final String[] DELIMITERS = {"", "/", "b", "\u0000", "x/"};
    private static final String OWNER = "AKIDOWNER";
    private static final String WRITER = "gw-1";
    private static final long MIB = 1L << 20;

    record Step(int kind, int a, int b, int c, int d) {}

    @Provide
    Arbitrary<List<Step>> steps() {
        Arbitrary<Integer> choice = Arbitraries.integers().between(0, 1000);
        Arbitrary<Integer> kind = Arbitraries.frequency(
                net.jqwik.api.Tuple.of(1, 0), net.jqwik.api.Tuple.of(1, 1),
                net.jqwik.api.Tuple.of(2, 2), net.jqwik.api.Tuple.of(10, 3),
                net.jqwik.api.Tuple.of(6, 4), net.jqwik.api.Tuple.of(2, 5),
                net.jqwik.api.Tuple.of(3, 6), net.jqwik.api.Tuple.of(8, 7),
                net.jqwik.api.Tuple.of(3, 8), net.jqwik.api.Tuple.of(1, 9),
                net.jqwik.api.Tuple.of(2, 10), net.jqwik.api.Tuple.of(1, 11));
        return Combinators.combine(kind, choice, choice, choice, choice).as(Step::new).list()
                .ofMinSize(1).ofMaxSize(80)
                .withSizeDistribution(net.jqwik.api.RandomDistribution.uniform());
    }

    @Property(tries = 80, edgeCases = net.jqwik.api.EdgeCasesMode.NONE)
    void theIndexBehavesLikeTheModel(@ForAll("steps") List<Step> steps,
                                     @ForAll("checks") List<Integer> checkChoices)
            throws IOException {
        Path dir = Files.createTempDirectory("objindex-model");
        try (StandaloneMeta meta = new StandaloneMeta(dir)) {
            new Run(meta, checkChoices).run(steps);
        } finally {
            deleteTree(dir);
        }
    }

    @Provide
    Arbitrary<List<Integer>> checks() {
        return Arbitraries.integers().between(0, 1000).list().ofMinSize(8).ofMaxSize(8);
    }

    /** One sequence: the real state machine, the model, and the logs the "gateway" writes. */
    private static final class Run extends ObjectIndexChecks {
        int uploadCounter;

        Run(StandaloneMeta meta, List<Integer> checkChoices) {
            super(meta, checkChoices, KEYS, PREFIXES, DELIMITERS, BUCKETS);
        }

        void run(List<Step> steps) {
            for (int host = 0; host < 3; host++) {
                meta.register("host" + host, 1L << 40);
            }
            for (int i = 0; i < 2; i++) {
                ObjectLog log = ObjectLog.decode(meta.ok(new ObjectRequest.OpenObjectLog("rep1",
                        WRITER, logIds, meta.nowMillis)));
                assertThat(log.volumeName()).isEqualTo(".objlog." + log.id());
                ObjectLog reserved = ObjectLog.decode(meta.ok(new ObjectRequest.ReserveObjectLog(
                        log.id(), WRITER, ObjectLog.SIZE_BYTES, 0)));
                assertThat(reserved.reservedMark()).isEqualTo(ObjectLog.SIZE_BYTES);
                logIds.add(log.id());
                cursors.put(log.id(), 0L);
            }
            createBucket(BUCKETS[0], null);
            net.jqwik.api.statistics.Statistics.label("steps").collect(steps.size() / 20 * 20);
            for (Step step : steps) {
                meta.nowMillis += 1000;
                apply(step);
                checkAll();
            }
        }

        /** Extents for {@code size} bytes: one to three, across the logs, freshly appended. */
        List<ObjectExtent> allocate(long size, int choice) {
            List<ObjectExtent> extents = new ArrayList<>();
            if (size == 0) {
                return extents;
            }
            int pieces = (int) Math.min(size, 1 + choice % 3);
            long left = size;
            for (int i = 0; i < pieces; i++) {
                long length = i == pieces - 1 ? left : Math.max(1, size / pieces);
                long logId = logIds.get((choice + i) % logIds.size());
                long offset = cursors.get(logId);
                ObjectExtent extent = new ObjectExtent(logId, offset, length);
                cursors.put(logId, extent.endOffset() + ((choice >> i) & 1) * 4096L);
                extents.add(extent);
                left -= length;
            }
            return extents;
        }

        static String etag(Step step, int salt) {
            try {
                MessageDigest md5 = MessageDigest.getInstance("MD5");
                md5.update((step + "/" + salt).getBytes(java.nio.charset.StandardCharsets.UTF_8));
                return HexFormat.of().formatHex(md5.digest());
            } catch (Exception e) {
                throw new AssertionError(e);
            }
        }

        ObjectIndexModel.Bucket bucket(int choice) {
            return model.buckets.get(BUCKETS[choice % BUCKETS.length]);
        }

        void apply(Step step) {
            // Mostly the first bucket, so that sequences build up state there.
            String bucketName = BUCKETS[step.a() % 4 == 3 ? 1 : 0];
            ObjectIndexModel.Bucket bucket = model.buckets.get(bucketName);
            String key = KEYS[step.b() % KEYS.length];
            switch (step.kind()) {
                case 0 -> createBucket(bucketName, bucket);
                case 1 -> {
                    MetaError expected = bucket == null ? MetaError.NOT_FOUND
                            : bucket.empty() ? null : MetaError.NOT_EMPTY;
                    expect(new ObjectRequest.DeleteBucket(bucketName), expected);
                    if (expected == null) {
                        model.buckets.remove(bucketName);
                    }
                }
                case 2 -> {
                    Versioning wanted = Versioning.values()[step.c() % 3];
                    MetaError expected = bucket == null ? MetaError.NOT_FOUND
                            : wanted == Versioning.UNVERSIONED
                            && bucket.versioning != Versioning.UNVERSIONED ? MetaError.INVALID
                            : null;
                    MetaReply reply = expect(new ObjectRequest.SetBucketVersioning(bucketName,
                            wanted), expected);
                    if (expected == null) {
                        bucket.versioning = wanted;
                        assertThat(Bucket.decode(reply.bodyOrThrow()).versioning())
                                .isEqualTo(wanted);
                    }
                }
                case 3 -> put(step, bucketName, bucket, key);
                case 4 -> delete(step, bucketName, bucket, key);
                case 5 -> putTags(step, bucketName, bucket, key);
                case 6 -> createUpload(bucketName, bucket, key);
                case 7 -> putPart(step, bucketName, bucket);
                case 8 -> complete(step, bucketName, bucket);
                case 9 -> abort(step, bucketName, bucket);
                case 10 -> reportTrimmed(step);
                case 11 -> badExtents(step, bucketName, bucket, key);
                default -> throw new AssertionError(step);
            }
        }

        void createBucket(String name, ObjectIndexModel.Bucket bucket) {
            MetaReply reply = expect(new ObjectRequest.CreateBucket(name, OWNER, "ec4+2",
                    meta.nowMillis), bucket == null ? null : MetaError.ALREADY_EXISTS);
            if (bucket == null) {
                Bucket created = Bucket.decode(reply.bodyOrThrow());
                assertThat(created.policyName()).isEqualTo("ec4+2");
                model.buckets.put(name, new ObjectIndexModel.Bucket(name));
            } else {
                assertThat(new WireReader(reply.body()).string()).contains("owned by you");
            }
        }

        /** Checks the preconditions the model expects; null when they hold. */
        static MetaError precondition(ObjectIndexModel.Version current, String ifMatch,
                                      boolean ifNoneMatch) {
            boolean exists = current != null && !current.marker();
            if (ifNoneMatch && exists) {
                return MetaError.PRECONDITION_FAILED;
            }
            if (!ifMatch.isEmpty()) {
                if (!exists) {
                    return MetaError.NO_SUCH_KEY;
                }
                if (!ifMatch.equals("*") && !ifMatch.equals("\"" + current.etag() + "\"")
                        && !ifMatch.equals(current.etag())) {
                    return MetaError.PRECONDITION_FAILED;
                }
            }
            return null;
        }

        String ifMatch(Step step, ObjectIndexModel.Version current) {
            return switch (step.d() % 10) {
                case 1 -> "*";
                case 2 -> current == null ? "\"0123\"" : "\"" + current.etag() + "\"";
                case 3 -> "\"ffffffffffffffffffffffffffffffff\"";
                default -> "";
            };
        }

        void put(Step step, String bucketName, ObjectIndexModel.Bucket bucket, String key) {
            long size = switch (step.c() % 4) {
                case 0 -> 0;
                case 1 -> 1 + step.d() % 5000;
                case 2 -> 4096 * (1 + step.d() % 3);
                default -> 5 * MIB + step.d();
            };
            ObjectIndexModel.Version current = bucket == null ? null : bucket.current(key);
            String ifMatch = ifMatch(step, current);
            boolean ifNoneMatch = step.d() % 7 == 6;
            MetaError expected = bucket == null ? MetaError.NOT_FOUND
                    : precondition(current, ifMatch, ifNoneMatch);
            List<ObjectExtent> extents = expected == null ? allocate(size, step.d())
                    : fakeExtents(size);
            String etag = etag(step, 0);
            MetaReply reply = expect(new ObjectRequest.PutObject(bucketName, key, size,
                    "\"" + etag + "\"", OWNER, Map.of("content-type", "text/plain"), Map.of(), "",
                    Map.of(), List.of(), extents, ifMatch, ifNoneMatch, meta.nowMillis), expected);
            if (expected != null) {
                return;
            }
            ObjectVersion version = ObjectVersion.decode(reply.bodyOrThrow());
            assertThat(version.etag()).isEqualTo(etag);
            assertThat(version.latest()).isTrue();
            assertThat(version.extents()).isEqualTo(extents);
            String versionId = checkNewVersionId(bucket, version.versionId());
            extents.forEach(e -> model.committed.add(ObjectIndexModel.id(e)));
            ObjectIndexModel.install(bucket, key, new ObjectIndexModel.Version(versionId, false,
                    size, etag, extents));
        }

        /** Extents that will never be committed (the request is refused for another reason). */
        List<ObjectExtent> fakeExtents(long size) {
            return size == 0 ? List.of() : List.of(new ObjectExtent(logIds.getFirst(),
                    ObjectLog.SIZE_BYTES - (size + 4095) / 4096 * 4096, size));
        }

        String checkNewVersionId(ObjectIndexModel.Bucket bucket, String versionId) {
            if (bucket.versioning == Versioning.ENABLED) {
                assertThat(versionId).matches("[0-9a-f]{16}");
                assertThat(versionId).isGreaterThan(bucket.lastVersionId);
                bucket.lastVersionId = versionId;
            } else {
                assertThat(versionId).isEqualTo("null");
            }
            return versionId;
        }

        String pickVersionId(ObjectIndexModel.Bucket bucket, String key, int choice) {
            List<ObjectIndexModel.Version> versions = bucket == null ? null
                    : bucket.keys.get(key);
            if (choice % 5 == 0 || versions == null) {
                return choice % 2 == 0 ? "null" : "00000000000003e7";
            }
            return versions.get(choice % versions.size()).versionId();
        }

        void delete(Step step, String bucketName, ObjectIndexModel.Bucket bucket, String key) {
            boolean byVersion = step.c() % 3 == 0;
            String versionId = byVersion ? pickVersionId(bucket, key, step.d()) : "";
            MetaReply reply = expect(new ObjectRequest.DeleteObject(bucketName, key, versionId,
                    meta.nowMillis), bucket == null ? MetaError.NOT_FOUND : null);
            if (bucket == null) {
                return;
            }
            WireReader in = reply.bodyOrThrow();
            String removedId = in.string();
            boolean marker = in.bool();
            if (byVersion) {
                ObjectIndexModel.Version target = bucket.keys.getOrDefault(key, List.of())
                        .stream().filter(v -> v.versionId().equals(versionId)).findFirst()
                        .orElse(null);
                assertThat(removedId).isEqualTo(versionId);
                assertThat(marker).isEqualTo(target != null && target.marker());
                ObjectIndexModel.remove(bucket, key, versionId);
                return;
            }
            switch (bucket.versioning) {
                case UNVERSIONED -> {
                    assertThat(removedId).isEmpty();
                    assertThat(marker).isFalse();
                    ObjectIndexModel.remove(bucket, key, "null");
                }
                case ENABLED, SUSPENDED -> {
                    assertThat(marker).isTrue();
                    String id = checkNewVersionId(bucket, removedId);
                    ObjectIndexModel.install(bucket, key, new ObjectIndexModel.Version(id, true,
                            0, "", List.of()));
                }
                default -> throw new AssertionError();
            }
        }

        void putTags(Step step, String bucketName, ObjectIndexModel.Bucket bucket, String key) {
            String versionId = step.c() % 2 == 0 ? "" : pickVersionId(bucket, key, step.d());
            ObjectIndexModel.Version target = null;
            if (bucket != null && bucket.keys.containsKey(key)) {
                target = versionId.isEmpty() ? bucket.current(key) : bucket.keys.get(key).stream()
                        .filter(v -> v.versionId().equals(versionId)).findFirst().orElse(null);
            }
            MetaError expected = bucket == null ? MetaError.NOT_FOUND
                    : target == null || (target.marker() && versionId.isEmpty())
                    ? MetaError.NO_SUCH_KEY : target.marker() ? MetaError.INVALID : null;
            MetaReply reply = expect(new ObjectRequest.PutObjectTags(bucketName, key, versionId,
                    Map.of("k", "v" + step.d())), expected);
            if (expected == null) {
                assertThat(ObjectVersion.decode(reply.bodyOrThrow()).tags())
                        .isEqualTo(Map.of("k", "v" + step.d()));
            }
        }

        void createUpload(String bucketName, ObjectIndexModel.Bucket bucket, String key) {
            String uploadId = "up" + (uploadCounter++);
            expect(new ObjectRequest.CreateUpload(bucketName, key, uploadId, OWNER,
                    Map.of("content-type", "x/y"), "", Map.of("t", "1"), meta.nowMillis),
                    bucket == null ? MetaError.NOT_FOUND : null);
            if (bucket != null) {
                bucket.uploads.computeIfAbsent(key, k -> new java.util.TreeMap<>())
                        .put(uploadId, new ObjectIndexModel.Upload(key, uploadId));
                // Taken ids are refused.
                expect(new ObjectRequest.CreateUpload(bucketName, key, uploadId, OWNER, Map.of(),
                        "", Map.of(), meta.nowMillis), MetaError.ALREADY_EXISTS);
            }
        }

        ObjectIndexModel.Upload pickUpload(ObjectIndexModel.Bucket bucket, int choice) {
            if (bucket == null) {
                return null;
            }
            List<ObjectIndexModel.Upload> all = bucket.allUploads();
            return all.isEmpty() || choice % 8 == 0 ? null : all.get(choice % all.size());
        }

        void putPart(Step step, String bucketName, ObjectIndexModel.Bucket bucket) {
            ObjectIndexModel.Upload upload = pickUpload(bucket, step.b());
            int number = 1 + step.c() % 4;
            long size = step.d() % 2 == 0 ? 5 * MIB : 1 + step.d() % 9000;
            String key = upload == null ? "nokey" : upload.key;
            String uploadId = upload == null ? "missing" : upload.uploadId;
            MetaError expected = bucket == null ? MetaError.NOT_FOUND
                    : upload == null ? MetaError.NO_SUCH_UPLOAD : null;
            List<ObjectExtent> extents = expected == null ? allocate(size, step.d())
                    : fakeExtents(size);
            String etag = etag(step, 1);
            MetaReply reply = expect(new ObjectRequest.PutPart(bucketName, key, uploadId, number,
                    size, etag.toUpperCase(java.util.Locale.ROOT), Map.of(), extents,
                    meta.nowMillis), expected);
            if (expected == null) {
                assertThat(io.basalt.meta.model.s3.Part.decode(reply.bodyOrThrow()).etag())
                        .isEqualTo(etag);
                extents.forEach(e -> model.committed.add(ObjectIndexModel.id(e)));
                upload.parts.put(number, new ObjectIndexModel.Part(number, size, etag, extents));
            }
        }

        void complete(Step step, String bucketName, ObjectIndexModel.Bucket bucket) {
            ObjectIndexModel.Upload upload = pickUpload(bucket, step.b());
            List<ObjectIndexModel.Upload> withParts = bucket == null ? List.of()
                    : bucket.allUploads().stream().filter(u -> !u.parts.isEmpty()).toList();
            if (!withParts.isEmpty() && step.b() % 4 != 0) {
                upload = withParts.get(step.b() % withParts.size());
            }
            List<Integer> numbers = new ArrayList<>();
            List<String> etags = new ArrayList<>();
            List<ObjectIndexModel.Part> uploaded = upload == null ? List.of()
                    : new ArrayList<>(upload.parts.values());
            for (int i = 0; i < uploaded.size(); i++) {
                if (((step.c() >> i) & 1) == 0 || i == uploaded.size() - 1) {
                    numbers.add(uploaded.get(i).number());
                    etags.add("\"" + uploaded.get(i).etag() + "\"");
                }
            }
            int twist = step.d() % 8;
            if (twist == 1 && numbers.size() > 1) {
                java.util.Collections.reverse(numbers);
                java.util.Collections.reverse(etags);
            } else if (twist == 2 && !etags.isEmpty()) {
                etags.set(0, "\"00000000000000000000000000000000\"");
            } else if (twist == 3) {
                numbers.add(9);
                etags.add("\"00000000000000000000000000000000\"");
            } else if (twist == 4 && numbers.size() > 1) {
                numbers.add(numbers.getLast());
                etags.add(etags.getLast());
            }
            String key = upload == null ? "nokey" : upload.key;
            String uploadId = upload == null ? "missing" : upload.uploadId;
            boolean ifNoneMatch = twist == 5;
            ObjectIndexModel.Version current = bucket == null ? null : bucket.current(key);
            MetaError expected = expectedCompletion(bucket, upload, numbers, etags, current,
                    ifNoneMatch);
            MetaReply reply = expect(new ObjectRequest.CompleteUpload(bucketName, key, uploadId,
                    numbers, etags, "", ifNoneMatch, meta.nowMillis), expected);
            if (expected != null) {
                return;
            }
            ObjectVersion version = ObjectVersion.decode(reply.bodyOrThrow());
            List<ObjectExtent> extents = new ArrayList<>();
            List<Long> sizes = new ArrayList<>();
            long size = 0;
            MessageDigest md5;
            try {
                md5 = MessageDigest.getInstance("MD5");
            } catch (Exception e) {
                throw new AssertionError(e);
            }
            for (int number : numbers) {
                ObjectIndexModel.Part part = upload.parts.get(number);
                extents.addAll(part.extents());
                sizes.add(part.size());
                size += part.size();
                md5.update(HexFormat.of().parseHex(part.etag()));
            }
            String etag = HexFormat.of().formatHex(md5.digest()) + "-" + numbers.size();
            assertThat(version.etag()).isEqualTo(etag);
            assertThat(version.extents()).isEqualTo(extents);
            assertThat(version.partSizes()).isEqualTo(sizes);
            assertThat(version.size()).isEqualTo(size);
            assertThat(version.headers()).isEqualTo(Map.of("content-type", "x/y"));
            assertThat(version.tags()).isEqualTo(Map.of("t", "1"));
            String versionId = checkNewVersionId(bucket, version.versionId());
            bucket.uploads.get(key).remove(uploadId);
            if (bucket.uploads.get(key).isEmpty()) {
                bucket.uploads.remove(key);
            }
            ObjectIndexModel.install(bucket, key, new ObjectIndexModel.Version(versionId, false,
                    size, etag, extents));
        }

        static MetaError expectedCompletion(ObjectIndexModel.Bucket bucket,
                                            ObjectIndexModel.Upload upload, List<Integer> numbers,
                                            List<String> etags,
                                            ObjectIndexModel.Version current,
                                            boolean ifNoneMatch) {
            if (numbers.isEmpty()) {
                return MetaError.INVALID;
            }
            if (bucket == null) {
                return MetaError.NOT_FOUND;
            }
            if (upload == null) {
                return MetaError.NO_SUCH_UPLOAD;
            }
            for (int i = 1; i < numbers.size(); i++) {
                if (numbers.get(i) <= numbers.get(i - 1)) {
                    return MetaError.INVALID_PART_ORDER;
                }
            }
            for (int i = 0; i < numbers.size(); i++) {
                ObjectIndexModel.Part part = upload.parts.get(numbers.get(i));
                if (part == null || !etags.get(i).equals("\"" + part.etag() + "\"")) {
                    return MetaError.INVALID_PART;
                }
            }
            for (int i = 0; i < numbers.size() - 1; i++) {
                if (upload.parts.get(numbers.get(i)).size() < 5 * MIB) {
                    return MetaError.ENTITY_TOO_SMALL;
                }
            }
            return precondition(current, "", ifNoneMatch);
        }

        void abort(Step step, String bucketName, ObjectIndexModel.Bucket bucket) {
            ObjectIndexModel.Upload upload = pickUpload(bucket, step.b());
            String key = upload == null ? "nokey" : upload.key;
            String uploadId = upload == null ? "missing" : upload.uploadId;
            expect(new ObjectRequest.AbortUpload(bucketName, key, uploadId),
                    bucket == null ? MetaError.NOT_FOUND
                            : upload == null ? MetaError.NO_SUCH_UPLOAD : null);
            if (upload != null) {
                bucket.uploads.get(key).remove(uploadId);
                if (bucket.uploads.get(key).isEmpty()) {
                    bucket.uploads.remove(key);
                }
            }
        }

        /** The gateway trims some free extents of a log and reports them. */
        void reportTrimmed(Step step) {
            long logId = logIds.get(step.a() % logIds.size());
            List<ObjectExtent> frees = ObjectExtent.decodeList(read(
                    new ObjectRequest.ObjectLogFrees(logId, 0, 1 + step.b() % 5)).bodyOrThrow());
            List<Long> offsets = new ArrayList<>();
            for (ObjectExtent free : frees) {
                assertThat(model.committed).contains(ObjectIndexModel.id(free));
                if (((step.c() >> offsets.size()) & 1) == 0) {
                    offsets.add(free.offset());
                    model.reportedFreed.add(ObjectIndexModel.id(free));
                }
            }
            offsets.add(ObjectLog.SIZE_BYTES - 4096); // never free: ignored
            expect(new ObjectRequest.FreedObjectExtents(logId, offsets), null);
        }

        /** Extents that overlap what is committed or freed, or lie past the mark: refused. */
        void badExtents(Step step, String bucketName, ObjectIndexModel.Bucket bucket,
                        String key) {
            if (bucket == null) {
                return;
            }
            List<ObjectExtent> taken = new ArrayList<>();
            model.committed.forEach(id -> {
                if (!model.reportedFreed.contains(id)) {
                    taken.add(new ObjectExtent(id.get(0), id.get(1), 1));
                }
            });
            ObjectExtent bad;
            if (taken.isEmpty() || step.c() % 3 == 0) {
                long logId = 99;
                bad = new ObjectExtent(logId, 0, 100);
            } else {
                ObjectExtent victim = taken.get(step.c() % taken.size());
                bad = new ObjectExtent(victim.logId(), victim.offset(), 1 + step.d());
            }
            expect(new ObjectRequest.PutObject(bucketName, key, bad.length(), "e", OWNER,
                    Map.of(), Map.of(), "", Map.of(), List.of(), List.of(bad), "", false,
                    meta.nowMillis), MetaError.INVALID);
            // Form: extents that do not add up to the size, or are not aligned.
            expect(new ObjectRequest.PutObject(bucketName, key, 10, "e", OWNER, Map.of(),
                    Map.of(), "", Map.of(), List.of(), List.of(new ObjectExtent(logIds.getFirst(),
                    1, 10)), "", false, meta.nowMillis), MetaError.INVALID);
            expect(new ObjectRequest.PutObject(bucketName, "", 0, "e", OWNER, Map.of(),
                    Map.of(), "", Map.of(), List.of(), List.of(), "", false, meta.nowMillis),
                    MetaError.INVALID);
        }

        /** Applies a write; checks the outcome, and that a refusal changed nothing. */
        MetaReply expect(MetaRequest request, MetaError expected) {
            Map<Table, List<String>> before = expected == null ? null : state();
            MetaReply reply = meta.apply(request);
            net.jqwik.api.statistics.Statistics.label("outcomes").collect(request.op(),
                    reply.error() == null ? "OK" : reply.error());
            assertThat(reply.error()).as(() -> request + " -> "
                    + (reply.isOk() ? "OK" : new WireReader(reply.body()).string()))
                    .isEqualTo(expected);
            if (expected != null) {
                assertThat(state()).as("a refused %s changed the state", request.op())
                        .isEqualTo(before);
            }
            return reply;
        }

        Map<Table, List<String>> state() {
            Map<Table, List<String>> state = new java.util.EnumMap<>(Table.class);
            meta.dump().forEach((table, entries) -> state.put(table, entries.stream()
                    .filter(e -> !java.util.Arrays.equals(e.key(), Keys.LAST_APPLIED))
                    .map(MetaStore.Entry::toString).toList()));
            return state;
        }

    }

    static void deleteTree(Path dir) throws IOException {
        try (var paths = Files.walk(dir)) {
            for (Path path : paths.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        }
    }
}
