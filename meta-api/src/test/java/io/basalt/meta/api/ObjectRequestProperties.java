package io.basalt.meta.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

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
import java.util.List;
import java.util.Map;
import java.util.function.BiConsumer;
import java.util.function.Function;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Builders;
import net.jqwik.api.Combinators;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/** The object index's requests and records: round trips, and bad bytes give only our error. */
class ObjectRequestProperties {
    private final Arbitrary<String> text = Arbitraries.strings().ofMaxLength(24);
    private final Arbitrary<Long> longs = Arbitraries.longs();
    private final Arbitrary<Integer> ints = Arbitraries.integers();
    private final Arbitrary<Boolean> bools = Arbitraries.of(true, false);

    private Arbitrary<Map<String, String>> maps() {
        return Arbitraries.maps(text, text).ofMaxSize(4);
    }

    private Arbitrary<ObjectExtent> extent() {
        return Combinators.combine(longs, longs, longs).as(ObjectExtent::new);
    }

    private Arbitrary<List<ObjectExtent>> extents() {
        return extent().list().ofMaxSize(4);
    }

    @Provide
    Arbitrary<MetaRequest> requests() {
        return Arbitraries.oneOf(List.of(
                Combinators.combine(text, text, text, longs).as(ObjectRequest.CreateBucket::new),
                text.map(ObjectRequest.DeleteBucket::new),
                Combinators.combine(text, Arbitraries.of(Versioning.class))
                        .as(ObjectRequest.SetBucketVersioning::new),
                Builders.withBuilder(() -> new Object[14])
                        .use(text).in((a, v) -> set(a, 0, v))
                        .use(text).in((a, v) -> set(a, 1, v))
                        .use(longs).in((a, v) -> set(a, 2, v))
                        .use(text).in((a, v) -> set(a, 3, v))
                        .use(text).in((a, v) -> set(a, 4, v))
                        .use(maps()).in((a, v) -> set(a, 5, v))
                        .use(maps()).in((a, v) -> set(a, 6, v))
                        .use(text).in((a, v) -> set(a, 7, v))
                        .use(maps()).in((a, v) -> set(a, 8, v))
                        .use(longs.list().ofMaxSize(4)).in((a, v) -> set(a, 9, v))
                        .use(extents()).in((a, v) -> set(a, 10, v))
                        .use(text).in((a, v) -> set(a, 11, v))
                        .use(bools).in((a, v) -> set(a, 12, v))
                        .use(longs).in((a, v) -> set(a, 13, v))
                        .build(ObjectRequestProperties::putObject),
                Combinators.combine(text, text, text, longs).as(ObjectRequest.DeleteObject::new),
                Combinators.combine(text, text, text, maps()).as(ObjectRequest.PutObjectTags::new),
                Combinators.combine(text, text, text, text, maps(), text, maps(), longs)
                        .as(ObjectRequest.CreateUpload::new),
                Combinators.combine(text, text, text, ints, longs, text, maps(), extents())
                        .flatAs((bucket, key, id, number, size, etag, checksums, extents) ->
                                longs.map(now -> new ObjectRequest.PutPart(bucket, key, id, number,
                                        size, etag, checksums, extents, now))),
                Combinators.combine(text, text, text, Combinators.combine(ints, text)
                                .as(Map::entry).list().ofMaxSize(5), text, bools, longs)
                        .as((bucket, key, id, parts, ifMatch, none, now) ->
                                new ObjectRequest.CompleteUpload(bucket, key, id,
                                        parts.stream().map(Map.Entry::getKey).toList(),
                                        parts.stream().map(Map.Entry::getValue).toList(), ifMatch,
                                        none, now)),
                Combinators.combine(text, text, text).as(ObjectRequest.AbortUpload::new),
                Combinators.combine(text, text, longs.list().ofMaxSize(4), longs)
                        .as(ObjectRequest.OpenObjectLog::new),
                Combinators.combine(longs, text, longs, longs)
                        .as(ObjectRequest.ReserveObjectLog::new),
                Combinators.combine(longs, longs.list().ofMaxSize(4))
                        .as(ObjectRequest.FreedObjectExtents::new),
                longs.map(ObjectRequest.SealObjectLog::new),
                Combinators.combine(text, text, text, longs).as(ObjectRequest.CreateS3User::new),
                text.map(ObjectRequest.DeleteS3User::new),
                text.map(ObjectRequest.GetBucket::new),
                Arbitraries.just(new ObjectRequest.ListBuckets()),
                Combinators.combine(text, text, text).as(ObjectRequest.GetObject::new),
                Combinators.combine(text, text, text, text, ints)
                        .as(ObjectRequest.ListObjects::new),
                Combinators.combine(text, text, text, text, text, ints)
                        .as(ObjectRequest.ListObjectVersions::new),
                Combinators.combine(text, text, text, ints, ints).as(ObjectRequest.ListParts::new),
                Combinators.combine(text, text, text, text, text, ints)
                        .as(ObjectRequest.ListUploads::new),
                Combinators.combine(longs, longs, longs, ints).as(ObjectRequest.ObjectLogGaps::new),
                Combinators.combine(longs, longs, ints).as(ObjectRequest.ObjectLogFrees::new),
                Arbitraries.just(new ObjectRequest.ListObjectLogs()),
                Arbitraries.just(new ObjectRequest.ListS3Users()),
                text.map(ObjectRequest.GetS3User::new)));
    }

    private static Object[] set(Object[] fields, int index, Object value) {
        fields[index] = value;
        return fields;
    }

    @SuppressWarnings("unchecked")
    private static MetaRequest putObject(Object[] f) {
        return new ObjectRequest.PutObject((String) f[0], (String) f[1], (Long) f[2],
                (String) f[3], (String) f[4], (Map<String, String>) f[5],
                (Map<String, String>) f[6], (String) f[7], (Map<String, String>) f[8],
                (List<Long>) f[9], (List<ObjectExtent>) f[10], (String) f[11], (Boolean) f[12],
                (Long) f[13]);
    }

    @Property(tries = 1000)
    void requestsRoundTrip(@ForAll("requests") MetaRequest request) {
        MetaRequest decoded = MetaRequest.decode(request.encode());
        assertThat(decoded).isEqualTo(request);
        assertThat(decoded.encode()).isEqualTo(request.encode());
    }

    @Property(tries = 1000)
    void everyOpIsAWriteOrAReadByItsCode(@ForAll("requests") MetaRequest request) {
        int code = request.op().code;
        assertThat(request.op().isWrite()).isEqualTo(code >= 64 && code < 96);
        assertThat(MetaOp.ofCode(code)).isEqualTo(request.op());
    }

    @Property(tries = 1000)
    void anyFlippedBitIsRefused(@ForAll("requests") MetaRequest request, @ForAll int position,
                                @ForAll int bit) {
        byte[] bytes = request.encode();
        int index = Math.floorMod(position, bytes.length);
        bytes[index] ^= (byte) (1 << Math.floorMod(bit, 8));
        try {
            MetaRequest decoded = MetaRequest.decode(bytes);
            assertThat(index).isEqualTo(MetaRequest.OFFSET_OP);
            assertThat(decoded.op()).isNotEqualTo(request.op());
        } catch (MalformedMessageException expected) {
            // the CRC, version or op check caught it
        }
    }

    /** A body cut short or grown, with a CRC that matches: the field reader must catch it. */
    @Property(tries = 1000)
    void truncatedOrPaddedBodiesWithGoodCrcsAreRefused(@ForAll("requests") MetaRequest request,
                                                       @ForAll int cut, @ForAll byte[] tail) {
        WireWriter body = new WireWriter();
        request.encodeBody(body);
        byte[] full = body.toByteArray();
        byte[] changed;
        if (tail.length > 0) {
            changed = java.util.Arrays.copyOf(full, full.length + tail.length);
            System.arraycopy(tail, 0, changed, full.length, tail.length);
        } else if (full.length > 0) {
            changed = java.util.Arrays.copyOf(full, Math.floorMod(cut, full.length));
        } else {
            return;
        }
        byte[] bytes = new WireWriter().u8(MetaRequest.FORMAT_VERSION).u8(request.op().code)
                .i32(MetaRequest.crc32c(changed, 0, changed.length)).bytes(changed).toByteArray();
        try {
            MetaRequest decoded = MetaRequest.decode(bytes);
            // Growing a body can only decode if the tail happened to extend the last field
            // consistently; it must then re-encode to exactly these bytes.
            assertThat(decoded.encode()).isEqualTo(bytes);
        } catch (MalformedMessageException expected) {
            // refused
        }
    }

    /** Random bodies behind a valid header and CRC, for every object op. */
    @Property(tries = 3000)
    void randomBodiesGiveOnlyOurError(@ForAll("objectOps") MetaOp op, @ForAll byte[] body) {
        byte[] bytes = new WireWriter().u8(MetaRequest.FORMAT_VERSION).u8(op.code)
                .i32(MetaRequest.crc32c(body, 0, body.length)).bytes(body).toByteArray();
        try {
            MetaRequest decoded = MetaRequest.decode(bytes);
            assertThat(decoded.op()).isEqualTo(op);
        } catch (MalformedMessageException expected) {
            // fine
        }
    }

    @Provide
    Arbitrary<MetaOp> objectOps() {
        return Arbitraries.of(java.util.Arrays.stream(MetaOp.values())
                .filter(op -> op.code >= MetaOp.FIRST_OBJECT_WRITE_CODE).toList());
    }

    private static <T> void assertRecordRoundTrips(T record, BiConsumer<T, WireWriter> encoder,
                                                   Function<WireReader, T> decoder) {
        WireWriter out = new WireWriter();
        encoder.accept(record, out);
        byte[] bytes = out.toByteArray();
        WireReader in = new WireReader(bytes);
        assertThat(decoder.apply(in)).isEqualTo(record);
        in.end();
        for (int cut = 0; cut < bytes.length; cut++) {
            WireReader shorter = new WireReader(bytes, 0, cut);
            assertThatThrownBy(() -> {
                decoder.apply(shorter);
                shorter.end();
            }).isInstanceOf(MalformedMessageException.class);
        }
    }

    private Arbitrary<ObjectVersion> version() {
        return Combinators.combine(text, text, text, bools, bools, longs, text, longs)
                .flatAs((bucket, key, id, marker, latest, size, etag, mtime) ->
                        Combinators.combine(text, maps(), maps(), text, maps(),
                                longs.list().ofMaxSize(3), extents())
                                .as((owner, headers, checksums, type, tags, parts, extents) ->
                                        new ObjectVersion(bucket, key, id, marker, latest, size,
                                                etag, mtime, owner, headers, checksums, type, tags,
                                                parts, extents)));
    }

    private Arbitrary<Upload> upload() {
        return Combinators.combine(text, text, text, longs, text, maps(), text, maps())
                .as(Upload::new);
    }

    private Arbitrary<String> marker() {
        return Arbitraries.oneOf(Arbitraries.just(null),
                Arbitraries.strings().ofMinLength(1).ofMaxLength(24));
    }

    @Property(tries = 200)
    void recordsRoundTripAndRefuseEveryTruncation(
            @ForAll("versions") ObjectVersion version, @ForAll("uploads") Upload upload,
            @ForAll long id, @ForAll String name, @ForAll Versioning versioning,
            @ForAll boolean flag, @ForAll int number) {
        String shortName = name.length() > 30 ? name.substring(0, 30) : name;
        assertRecordRoundTrips(version, ObjectVersion::encode, ObjectVersion::decode);
        assertRecordRoundTrips(upload, Upload::encode, Upload::decode);
        assertRecordRoundTrips(new Bucket(id, shortName, "owner", "ec4+2", id, versioning, id, id),
                Bucket::encode, Bucket::decode);
        assertRecordRoundTrips(new ObjectLog(id, id, shortName, "rep3", flag, id, id, shortName,
                        id),
                ObjectLog::encode, ObjectLog::decode);
        assertRecordRoundTrips(new S3User(shortName, "AKID", "secret", id), S3User::encode,
                S3User::decode);
        Part part = new Part(number, id, "etag", Map.of("CRC32", "AAAAAA=="), id,
                List.of(new ObjectExtent(1, 4096, 10)));
        assertRecordRoundTrips(part, Part::encode, Part::decode);
        assertRecordRoundTrips(new PartListing(upload, List.of(part, part), flag, number),
                PartListing::encode, PartListing::decode);
        assertRecordRoundTrips(new ObjectListing(List.of(version), List.of("a/", shortName + "/"),
                flag, flag ? "k" : null, flag ? null : "v"), ObjectListing::encode,
                ObjectListing::decode);
        assertRecordRoundTrips(new UploadListing(List.of(upload), List.of(), flag, "k", "u"),
                UploadListing::encode, UploadListing::decode);
    }

    @Provide
    Arbitrary<ObjectVersion> versions() {
        return version();
    }

    @Provide
    Arbitrary<Upload> uploads() {
        return upload();
    }

    @Property(tries = 100)
    void listingMarkersAreNullOrNonEmpty(@ForAll("markers") String key,
                                         @ForAll("markers") String id) {
        ObjectListing listing = new ObjectListing(List.of(), List.of(), true, key, id);
        WireWriter out = new WireWriter();
        listing.encode(out);
        assertThat(ObjectListing.decode(new WireReader(out.toByteArray()))).isEqualTo(listing);
    }

    @Provide
    Arbitrary<String> markers() {
        return marker();
    }

    @Example
    void mapsWithKeysOutOfOrderOrTwiceAreRefused() {
        byte[] reordered = new WireWriter().i32(2).string("b").string("1").string("a").string("2")
                .toByteArray();
        assertThatThrownBy(() -> new WireReader(reordered).stringMap())
                .isInstanceOf(MalformedMessageException.class).hasMessageContaining("\"a\"");
        byte[] twice = new WireWriter().i32(2).string("a").string("1").string("a").string("2")
                .toByteArray();
        assertThatThrownBy(() -> new WireReader(twice).stringMap())
                .isInstanceOf(MalformedMessageException.class);
        byte[] huge = new WireWriter().i32(Integer.MAX_VALUE).toByteArray();
        assertThatThrownBy(() -> new WireReader(huge).stringMap())
                .isInstanceOf(MalformedMessageException.class);
        assertThatThrownBy(() -> new WireReader(huge).i64List())
                .isInstanceOf(MalformedMessageException.class);
    }

    @Example
    void unknownVersioningAndOpCodesAreRefused() {
        byte[] body = new WireWriter().string("b").u8(7).toByteArray();
        byte[] bytes = new WireWriter().u8(MetaRequest.FORMAT_VERSION)
                .u8(MetaOp.SET_BUCKET_VERSIONING.code).i32(MetaRequest.crc32c(body, 0, body.length))
                .bytes(body).toByteArray();
        assertThatThrownBy(() -> MetaRequest.decode(bytes))
                .isInstanceOf(MalformedMessageException.class)
                .hasMessage("unknown versioning code 7");
        // 24 and 49: unused codes of the snapshot ranges (writes 17..24, reads 43..49).
        for (int code : new int[] {0, 24, 31, 49, 63, 80, 95, 108, 127, 128, 255}) {
            assertThatThrownBy(() -> MetaOp.ofCode(code))
                    .isInstanceOf(MalformedMessageException.class)
                    .hasMessage("unknown meta op " + code);
        }
    }

    @Example
    void newErrorCodesRoundTrip() {
        for (MetaError error : MetaError.values()) {
            MetaReply reply = MetaReply.decode(MetaReply.error(error, "why"));
            assertThat(reply.error()).isEqualTo(error);
        }
        assertThat(MetaError.NO_SUCH_KEY.code).isEqualTo(15);
    }

    @Example
    void completeUploadWithUnevenListsIsAFormError() {
        ObjectRequest.CompleteUpload uneven = new ObjectRequest.CompleteUpload("b", "k", "u",
                List.of(1, 2), List.of("e"), null, false, 0);
        assertThat(MetaRequestForm.checkForm(uneven)).isEqualTo("2 part numbers but 1 ETags");
    }
}
