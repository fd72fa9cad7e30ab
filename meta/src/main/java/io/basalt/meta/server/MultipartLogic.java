package io.basalt.meta.server;

import io.basalt.meta.api.MetaError;
import io.basalt.meta.api.MetaReply;
import io.basalt.meta.api.ObjectRequest;
import io.basalt.meta.api.ObjectRequestForm;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;
import io.basalt.meta.model.s3.ObjectExtent;
import io.basalt.meta.model.s3.ObjectVersion;
import io.basalt.meta.model.s3.Part;
import io.basalt.meta.model.s3.PartListing;
import io.basalt.meta.model.s3.Upload;
import io.basalt.meta.server.ObjectIndex.BucketState;
import io.basalt.meta.server.ObjectIndex.Stored;
import io.basalt.meta.store.MetaStore;
import io.basalt.meta.store.MetaStore.Table;
import io.basalt.meta.store.ObjectKeys;
import io.basalt.meta.store.Tx;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Base64;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.zip.CRC32;
import java.util.zip.CRC32C;
import java.util.zip.Checksum;

/**
 * Multipart uploads: an upload's parts are committed like objects (their extents in objext,
 * owned by the part); completing joins the chosen parts' extents into the object without moving a
 * byte, and frees the rest.
 */
final class MultipartLogic {
    /** S3: every part but the last must be at least 5 MiB. */
    static final long PART_SIZE_BYTES_MIN = 5L << 20;
    /** Most parts one LIST_PARTS page holds (S3's max-parts cap). */
    static final int PARTS_PAGE_MAX = 1000;

    private MultipartLogic() {}

    /** An upload and its number in the bucket's sequence (the prefix of its parts' keys). */
    record StoredUpload(long seq, Upload upload) {
        byte[] encode() {
            WireWriter out = new WireWriter(128);
            out.i64(seq);
            upload.encode(out);
            return out.toByteArray();
        }

        static StoredUpload decode(byte[] value) {
            WireReader in = new WireReader(value);
            StoredUpload stored = new StoredUpload(in.i64(), Upload.decode(in));
            in.end();
            return stored;
        }
    }

    private static StoredUpload upload(byte[] value) {
        return value == null ? null : StoredUpload.decode(value);
    }

    static byte[] noSuchUpload(String key, String uploadId) {
        return MetaReply.error(MetaError.NO_SUCH_UPLOAD, "upload " + uploadId + " of \"" + key
                + "\" does not exist (completed or aborted?)");
    }

    static byte[] createUpload(ObjectRequest.CreateUpload r, Tx tx) {
        BucketState state = ObjectIndex.bucket(tx, r.bucket());
        if (state == null) {
            return BucketLogic.noSuchBucket(r.bucket());
        }
        byte[] key = ObjectKeys.uploadKey(state.id(), r.key(), r.uploadId());
        if (tx.get(Table.S3_UPLOAD, key) != null) {
            return MetaReply.error(MetaError.ALREADY_EXISTS, "upload id " + r.uploadId()
                    + " of \"" + r.key() + "\" is taken; draw another");
        }
        Upload upload = new Upload(r.bucket(), r.key(), r.uploadId(), r.nowMillis(), r.owner(),
                r.headers(), r.checksumAlgorithm(), r.tags());
        tx.put(Table.S3_UPLOAD, key, new StoredUpload(state.nextSeq(), upload).encode());
        ObjectIndex.putBucket(tx, state.advanced());
        return MetaLogic.encode(upload::encode);
    }

    static byte[] putPart(ObjectRequest.PutPart r, Tx tx) {
        BucketState state = ObjectIndex.bucket(tx, r.bucket());
        if (state == null) {
            return BucketLogic.noSuchBucket(r.bucket());
        }
        StoredUpload stored = upload(tx.get(Table.S3_UPLOAD,
                ObjectKeys.uploadKey(state.id(), r.key(), r.uploadId())));
        if (stored == null) {
            return noSuchUpload(r.key(), r.uploadId());
        }
        String extentError = ObjectIndex.checkNewExtents(tx, r.extents());
        if (extentError != null) {
            return MetaReply.error(MetaError.INVALID, extentError);
        }
        byte[] partKey = ObjectKeys.partKey(state.id(), stored.seq(), r.partNumber());
        byte[] replaced = tx.get(Table.S3_PART, partKey);
        if (replaced != null) {
            ObjectIndex.free(tx, Part.decode(new WireReader(replaced)).extents());
        }
        Part part = new Part(r.partNumber(), r.size(),
                ObjectRequestForm.unquote(r.etag()).toLowerCase(Locale.ROOT), r.checksums(),
                r.nowMillis(), r.extents());
        WireWriter out = new WireWriter();
        part.encode(out);
        tx.put(Table.S3_PART, partKey, out.toByteArray());
        ObjectIndex.commit(tx, r.extents(),
                ObjectIndex.Owner.part(state.id(), stored.seq(), r.partNumber(), r.key()));
        return MetaLogic.encode(part::encode);
    }

    /** Every part of an upload, by number (at most 10,000: part numbers are 1..10,000). */
    private static List<Part> parts(MetaStore store, long bucketId, long uploadSeq) {
        List<Part> parts = new ArrayList<>();
        for (MetaStore.Entry entry : store.scan(Table.S3_PART,
                ObjectKeys.partPrefix(bucketId, uploadSeq))) {
            parts.add(Part.decode(new WireReader(entry.value())));
        }
        return parts;
    }

    static byte[] completeUpload(ObjectRequest.CompleteUpload r, Tx tx) {
        BucketState state = ObjectIndex.bucket(tx, r.bucket());
        if (state == null) {
            return BucketLogic.noSuchBucket(r.bucket());
        }
        byte[] uploadKey = ObjectKeys.uploadKey(state.id(), r.key(), r.uploadId());
        StoredUpload stored = upload(tx.get(Table.S3_UPLOAD, uploadKey));
        if (stored == null) {
            // A repeated complete (a retry whose first attempt committed): S3 answers the
            // object again. Only within the retention; later it is NoSuchUpload.
            CompletedUploads.Completed done = CompletedUploads.find(tx.store(), uploadKey,
                    r.nowMillis());
            if (done != null) {
                return MetaLogic.encode(done.version()::encode);
            }
            return noSuchUpload(r.key(), r.uploadId());
        }
        List<Integer> numbers = r.partNumbers();
        for (int i = 1; i < numbers.size(); i++) {
            if (numbers.get(i) <= numbers.get(i - 1)) {
                return MetaReply.error(MetaError.INVALID_PART_ORDER, "part " + numbers.get(i)
                        + " follows part " + numbers.get(i - 1)
                        + ": list parts in ascending order, each once");
            }
        }
        List<Part> all = parts(tx.store(), state.id(), stored.seq());
        Map<Integer, Part> byNumber = new HashMap<>();
        for (Part part : all) {
            byNumber.put(part.number(), part);
        }
        List<Part> chosen = new ArrayList<>(numbers.size());
        for (int i = 0; i < numbers.size(); i++) {
            Part part = byNumber.get(numbers.get(i));
            String etag = ObjectRequestForm.unquote(r.partEtags().get(i)).toLowerCase(Locale.ROOT);
            if (part == null || !part.etag().equals(etag)) {
                return MetaReply.error(MetaError.INVALID_PART, "part " + numbers.get(i)
                        + (part == null ? " was not uploaded" : " has ETag \"" + part.etag()
                        + "\", not " + r.partEtags().get(i)));
            }
            chosen.add(part);
        }
        long size = 0;
        int extentCount = 0;
        for (int i = 0; i < chosen.size(); i++) {
            Part part = chosen.get(i);
            if (i < chosen.size() - 1 && part.size() < PART_SIZE_BYTES_MIN) {
                return MetaReply.error(MetaError.ENTITY_TOO_SMALL, "part " + part.number()
                        + " is " + part.size() + " bytes; every part but the last must be at"
                        + " least " + PART_SIZE_BYTES_MIN + " bytes (5 MiB)");
            }
            size += part.size();
            extentCount += part.extents().size();
        }
        if (extentCount > ObjectRequestForm.EXTENTS_PER_OBJECT_MAX) {
            return MetaReply.error(MetaError.INVALID, "the parts hold " + extentCount
                    + " extents (max " + ObjectRequestForm.EXTENTS_PER_OBJECT_MAX
                    + " per object); upload fewer, larger parts");
        }
        Stored current = ObjectIndex.current(tx.store(), state.id(), r.key());
        byte[] refused = VersionLogic.preconditionError(current, r.ifMatch(), r.ifNoneMatchAny(),
                r.key());
        if (refused != null) {
            return refused;
        }
        Upload upload = stored.upload();
        List<ObjectExtent> extents = new ArrayList<>(extentCount);
        List<Long> partSizes = new ArrayList<>(chosen.size());
        for (Part part : chosen) {
            extents.addAll(part.extents());
            partSizes.add(part.size());
        }
        Map<String, String> checksums = compositeChecksum(upload.checksumAlgorithm(), chosen);
        ObjectVersion version = new ObjectVersion(r.bucket(), r.key(), "", false, true, size,
                multipartEtag(chosen), r.nowMillis(), upload.owner(), upload.headers(), checksums,
                checksums.isEmpty() ? "" : ObjectRequestForm.CHECKSUM_TYPE_COMPOSITE,
                upload.tags(), List.copyOf(partSizes), List.copyOf(extents));
        Stored installed = VersionLogic.install(tx, state, current, version);
        ObjectIndex.reown(tx, extents,
                ObjectIndex.Owner.version(state.id(), installed.seq(), r.key()));
        java.util.Set<Integer> chosenNumbers = new java.util.HashSet<>(numbers);
        for (Part part : all) {
            if (!chosenNumbers.contains(part.number())) {
                ObjectIndex.free(tx, part.extents());
            }
            tx.delete(Table.S3_PART, ObjectKeys.partKey(state.id(), stored.seq(), part.number()));
        }
        tx.delete(Table.S3_UPLOAD, uploadKey);
        CompletedUploads.remember(tx, uploadKey, r.nowMillis(), installed.version());
        return MetaLogic.encode(installed.version()::encode);
    }

    /** S3's multipart ETag: hex MD5 of the parts' MD5s, a dash, the part count. */
    static String multipartEtag(List<Part> parts) {
        MessageDigest md5 = digest("MD5");
        for (Part part : parts) {
            md5.update(HexFormat.of().parseHex(part.etag()));
        }
        return HexFormat.of().formatHex(md5.digest()) + "-" + parts.size();
    }

    /**
     * The COMPOSITE checksum of the upload's algorithm: the algorithm over the parts' raw
     * checksums, concatenated, in base64, a dash, the part count; none unless every chosen part
     * has one. CRC64NVME has no composite form in S3 (only FULL_OBJECT, which combines CRCs and
     * is left to the gateway).
     */
    static Map<String, String> compositeChecksum(String algorithm, List<Part> parts) {
        if (algorithm.isEmpty() || algorithm.equals("CRC64NVME")) {
            return Map.of();
        }
        byte[][] raw = new byte[parts.size()][];
        for (int i = 0; i < parts.size(); i++) {
            String value = parts.get(i).checksums().get(algorithm);
            if (value == null) {
                return Map.of();
            }
            raw[i] = Base64.getDecoder().decode(value);
        }
        byte[] combined = switch (algorithm) {
            case "CRC32" -> crc(new CRC32(), raw);
            case "CRC32C" -> crc(new CRC32C(), raw);
            case "SHA1" -> hash("SHA-1", raw);
            case "SHA256" -> hash("SHA-256", raw);
            default -> throw new IllegalStateException("checksum algorithm " + algorithm);
        };
        return Map.of(algorithm, Base64.getEncoder().encodeToString(combined) + "-" + parts.size());
    }

    private static byte[] crc(Checksum checksum, byte[][] values) {
        for (byte[] value : values) {
            checksum.update(value, 0, value.length);
        }
        long crc = checksum.getValue();
        return new byte[] {(byte) (crc >>> 24), (byte) (crc >>> 16), (byte) (crc >>> 8),
                (byte) crc};
    }

    private static byte[] hash(String name, byte[][] values) {
        MessageDigest digest = digest(name);
        for (byte[] value : values) {
            digest.update(value);
        }
        return digest.digest();
    }

    private static MessageDigest digest(String name) {
        try {
            return MessageDigest.getInstance(name);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("JDK without " + name, e);
        }
    }

    static byte[] abortUpload(ObjectRequest.AbortUpload r, Tx tx) {
        BucketState state = ObjectIndex.bucket(tx, r.bucket());
        if (state == null) {
            return BucketLogic.noSuchBucket(r.bucket());
        }
        byte[] uploadKey = ObjectKeys.uploadKey(state.id(), r.key(), r.uploadId());
        StoredUpload stored = upload(tx.get(Table.S3_UPLOAD, uploadKey));
        if (stored == null) {
            return noSuchUpload(r.key(), r.uploadId());
        }
        for (Part part : parts(tx.store(), state.id(), stored.seq())) {
            ObjectIndex.free(tx, part.extents());
            tx.delete(Table.S3_PART, ObjectKeys.partKey(state.id(), stored.seq(), part.number()));
        }
        tx.delete(Table.S3_UPLOAD, uploadKey);
        return MetaReply.ok(new byte[0]);
    }

    static byte[] listParts(ObjectRequest.ListParts r, MetaStore store) {
        BucketState state = ObjectIndex.bucket(store, r.bucket());
        if (state == null) {
            return BucketLogic.noSuchBucket(r.bucket());
        }
        StoredUpload stored = upload(store.get(Table.S3_UPLOAD,
                ObjectKeys.uploadKey(state.id(), r.key(), r.uploadId())));
        if (stored == null) {
            return noSuchUpload(r.key(), r.uploadId());
        }
        int max = Math.min(r.maxParts(), PARTS_PAGE_MAX);
        List<Part> parts = new ArrayList<>();
        boolean truncated = false;
        if (max > 0) {
            for (MetaStore.Entry entry : store.scan(Table.S3_PART,
                    ObjectKeys.partPrefix(state.id(), stored.seq()),
                    ObjectKeys.partKey(state.id(), stored.seq(), r.partNumberMarker() + 1),
                    max + 1)) {
                if (parts.size() == max) {
                    truncated = true;
                    break;
                }
                parts.add(Part.decode(new WireReader(entry.value())));
            }
        }
        int next = parts.isEmpty() ? r.partNumberMarker() : parts.getLast().number();
        PartListing listing = new PartListing(stored.upload(), parts, truncated, next);
        return MetaLogic.encode(listing::encode);
    }
}
