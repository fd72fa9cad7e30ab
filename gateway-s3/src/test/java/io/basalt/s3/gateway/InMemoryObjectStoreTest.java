package io.basalt.s3.gateway;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.basalt.client.object.BodyWriter;
import io.basalt.client.object.ObjectStore;
import io.basalt.client.object.ObjectStoreException;
import io.basalt.meta.model.s3.ObjectListing;
import io.basalt.meta.model.s3.ObjectVersion;
import io.basalt.meta.model.s3.Versioning;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The in-memory store's semantics on their own, as the gateway relies on them. */
class InMemoryObjectStoreTest {
    private final InMemoryObjectStore store = new InMemoryObjectStore();

    @AfterEach
    void close() {
        store.close();
    }

    private BodyWriter.Written body(String bucket, byte[] data) {
        BodyWriter writer = store.newBody(bucket, data.length);
        writer.write(Unpooled.wrappedBuffer(data)).join();
        return writer.finish().join();
    }

    private ObjectVersion put(String bucket, String key, String content) {
        byte[] data = content.getBytes(StandardCharsets.UTF_8);
        return store.putObject(bucket, key, body(bucket, data), new ObjectStore.ObjectAttributes(
                "owner", "etag-" + content, Map.of(), Map.of(), "", Map.of()),
                ObjectStore.WriteConditions.NONE).join();
    }

    private String read(ObjectVersion version) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        store.read(version, 0, version.size(), (ByteBuf data) -> {
            byte[] bytes = new byte[data.readableBytes()];
            data.readBytes(bytes);
            data.release();
            out.writeBytes(bytes);
            return CompletableFuture.completedFuture(null);
        }).join();
        return out.toString(StandardCharsets.UTF_8);
    }

    private static ObjectStoreException.Kind kindOf(Throwable e) {
        Throwable cause = e instanceof CompletionException ? e.getCause() : e;
        return ((ObjectStoreException) cause).kind();
    }

    @Test
    void unversionedPutsReplaceTheNullVersionAndFreeItsBytes() {
        store.createBucket("b", "owner", "ec4+2").join();
        put("b", "k", "one");
        ObjectVersion two = put("b", "k", "two");
        assertThat(two.versionId()).isEqualTo(ObjectVersion.NULL_VERSION);
        assertThat(read(store.head("b", "k", null).join().orElseThrow())).isEqualTo("two");
        assertThat(store.logCount()).isEqualTo(1);
        assertThat(store.delete("b", "k", null).join().deleteMarker()).isFalse();
        assertThat(store.logCount()).isZero();
        assertThat(store.head("b", "k", null).join()).isEmpty();
    }

    @Test
    void suspendedVersioningWritesNullVersionsAndNullDeleteMarkers() {
        store.createBucket("b", "owner", "rep3").join();
        store.setVersioning("b", Versioning.ENABLED).join();
        ObjectVersion kept = put("b", "k", "kept");
        store.setVersioning("b", Versioning.SUSPENDED).join();
        put("b", "k", "null-1");
        put("b", "k", "null-2");
        ObjectStore.DeleteOutcome marker = store.delete("b", "k", null).join();
        assertThat(marker).isEqualTo(new ObjectStore.DeleteOutcome("null", true));
        ObjectListing versions = store.listVersions("b", null, null, null, null, 100).join();
        assertThat(versions.entries()).extracting(v -> v.versionId() + (v.deleteMarker() ? "!"
                : "")).containsExactly("null!", kept.versionId());
        assertThatThrownBy(() -> store.setVersioning("b", Versioning.UNVERSIONED).join())
                .satisfies(e -> assertThat(kindOf(e)).isEqualTo(ObjectStoreException.Kind
                        .INVALID));
    }

    @Test
    void listingSkipsACommonPrefixAtOrBeforeTheMarker() {
        store.createBucket("b", "owner", "ec4+2").join();
        for (String key : List.of("a/1", "a/2", "b", "c/1", "d")) {
            put("b", key, key);
        }
        ObjectListing first = store.list("b", new ObjectStore.ListQuery(null, "/", null, 2))
                .join();
        assertThat(first.commonPrefixes()).containsExactly("a/");
        assertThat(first.entries()).extracting(ObjectVersion::key).containsExactly("b");
        assertThat(first.truncated()).isTrue();
        assertThat(first.nextKeyMarker()).isEqualTo("b");
        ObjectListing fromPrefix = store.list("b", new ObjectStore.ListQuery(null, "/", "a/",
                10)).join();
        assertThat(fromPrefix.commonPrefixes()).containsExactly("c/");
        assertThat(fromPrefix.entries()).extracting(ObjectVersion::key)
                .containsExactly("b", "d");
        ObjectListing inPrefix = store.list("b", new ObjectStore.ListQuery("a/", null, "a/1",
                10)).join();
        assertThat(inPrefix.entries()).extracting(ObjectVersion::key).containsExactly("a/2");
    }

    @Test
    void multipartChecksPartsAndJoinsThemWithoutCopying() {
        store.createBucket("b", "owner", "ec4+2").join();
        var upload = store.createUpload("b", "mp", new ObjectStore.ObjectAttributes("owner",
                null, Map.of(), Map.of(), "", Map.of())).join();
        byte[] big = new byte[(int) InMemoryObjectStore.PART_SIZE_BYTES_MIN];
        var part1 = store.putPart("b", "mp", upload.uploadId(), 1, body("b", big),
                "0cc175b9c0f1b6a831c399e269772661", Map.of()).join();
        var part2 = store.putPart("b", "mp", upload.uploadId(), 2, body("b", new byte[3]),
                "92eb5ffee6ae2fec3ad71c777531578f", Map.of()).join();
        assertThatThrownBy(() -> store.completeUpload("b", "mp", upload.uploadId(), List.of(
                new ObjectStore.CompletedPart(2, part2.etag()),
                new ObjectStore.CompletedPart(1, part1.etag())),
                ObjectStore.WriteConditions.NONE).join())
                .satisfies(e -> assertThat(kindOf(e)).isEqualTo(
                        ObjectStoreException.Kind.INVALID_PART_ORDER));
        assertThatThrownBy(() -> store.completeUpload("b", "mp", upload.uploadId(), List.of(
                new ObjectStore.CompletedPart(2, part2.etag()),
                new ObjectStore.CompletedPart(3, part2.etag())),
                ObjectStore.WriteConditions.NONE).join())
                .satisfies(e -> assertThat(kindOf(e)).isEqualTo(
                        ObjectStoreException.Kind.INVALID_PART));
        assertThatThrownBy(() -> store.completeUpload("b", "mp", upload.uploadId(), List.of(
                new ObjectStore.CompletedPart(1, part2.etag())),
                ObjectStore.WriteConditions.NONE).join())
                .satisfies(e -> assertThat(kindOf(e)).isEqualTo(
                        ObjectStoreException.Kind.INVALID_PART));
        var part3 = store.putPart("b", "mp", upload.uploadId(), 3, body("b", new byte[1]),
                "93b885adfe0da089cdf634904fd59f71", Map.of()).join();
        assertThatThrownBy(() -> store.completeUpload("b", "mp", upload.uploadId(), List.of(
                new ObjectStore.CompletedPart(2, part2.etag()),
                new ObjectStore.CompletedPart(3, part3.etag())),
                ObjectStore.WriteConditions.NONE).join())
                .satisfies(e -> assertThat(kindOf(e)).isEqualTo(
                        ObjectStoreException.Kind.ENTITY_TOO_SMALL));
        ObjectVersion joined = store.completeUpload("b", "mp", upload.uploadId(), List.of(
                new ObjectStore.CompletedPart(1, part1.etag()),
                new ObjectStore.CompletedPart(2, part2.etag())),
                ObjectStore.WriteConditions.NONE).join();
        assertThat(joined.size()).isEqualTo(big.length + 3L);
        assertThat(joined.partSizes()).containsExactly((long) big.length, 3L);
        assertThat(joined.etag()).endsWith("-2");
        assertThat(joined.extents()).hasSize(2);
        assertThat(joined.extents().getFirst()).isEqualTo(part1.extents().getFirst());
        assertThat(store.logCount()).as("part 3, not named, was freed").isEqualTo(2);
        assertThat(store.listUploads("b", null, null, null, null, 10).join().uploads())
                .isEmpty();
    }

    @Test
    void conditionalWritesAndAbortedBodies() {
        store.createBucket("b", "owner", "ec4+2").join();
        put("b", "k", "v");
        BodyWriter.Written other = body("b", new byte[] {1});
        assertThatThrownBy(() -> store.putObject("b", "k", other,
                new ObjectStore.ObjectAttributes("owner", "e", Map.of(), Map.of(), "",
                        Map.of()), new ObjectStore.WriteConditions(null, true)).join())
                .satisfies(e -> assertThat(kindOf(e)).isEqualTo(
                        ObjectStoreException.Kind.PRECONDITION_FAILED));
        BodyWriter dropped = store.newBody("b", 2);
        dropped.write(Unpooled.wrappedBuffer(new byte[] {1, 2})).join();
        dropped.abort();
        dropped.abort();
        assertThat(store.openBodyCount()).isEqualTo(1); // `other`, finished and not committed
    }
}
