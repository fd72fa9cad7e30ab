package io.basalt.meta.model.s3;

import io.basalt.meta.api.MalformedMessageException;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;

/**
 * One version of an object, or a delete marker. {@code versionId} is "null" for the version an
 * unversioned or suspended bucket holds (S3's null version). {@code headers} are the stored content
 * headers (content-type, content-encoding, content-disposition, content-language, cache-control,
 * expires) and user metadata (x-amz-meta-*), lower-case names. {@code checksums}: algorithm name
 * (CRC32, CRC32C, CRC64NVME, SHA1, SHA256) to base64 value, with {@code checksumType} FULL_OBJECT or
 * COMPOSITE (empty when none). {@code partSizes}: the part sizes of a multipart object, in order (empty
 * for a single PUT), for GET ?partNumber. {@code extents}: where the bytes are, in order; their lengths
 * add up to {@code size}. {@code inlineData}: the bytes of a small object kept in the index entry
 * itself (docs/objects.md, "Small objects inline"), then {@code extents} is empty; empty otherwise.
 *
 * <p>Wire form 1 (every version without inline data, and every version written before inline
 * data existed): {@code string bucket | string key | string versionId | u8 deleteMarker |
 * u8 latest | i64 size | string etag | i64 modifiedMillis | string owner | map headers |
 * map checksums | string checksumType | map tags | i64 list partSizes | ObjectExtent list}. Its
 * first byte is the high byte of the bucket name's u16 length, always 0 (names are at most 63
 * bytes).
 *
 * <p>Wire form 2 (inline data): {@code u8 0xFF (FORM_2_MARKER) | u8 formatVersion 2 | form 1 |
 * i32 inlineLength | inline bytes | u32 crc32c of the inline bytes}. The marker can never start
 * form 1, so a reader tells them apart by the first byte; an unknown formatVersion is refused, and
 * so is inline data whose CRC32C does not match.
 */
public record ObjectVersion(String bucket, String key, String versionId, boolean deleteMarker, boolean latest,
                            long size, String etag, long modifiedMillis, String owner, Map<String, String> headers,
                            Map<String, String> checksums, String checksumType, Map<String, String> tags,
                            List<Long> partSizes, List<ObjectExtent> extents, byte[] inlineData) {
    /** The version id S3 calls "null": the one unversioned (or suspended) buckets overwrite. */
    public static final String NULL_VERSION = "null";
    /** First byte of wire form 2; form 1 starts with 0x00 (see the class comment). */
    public static final int FORM_2_MARKER = 0xFF;
    public static final int FORMAT_VERSION_INLINE = 2;
    /** Most inline bytes a version may hold (meta's bound; a gateway inlines less). */
    public static final int INLINE_BYTES_MAX = 16 * 1024;
    private static final byte[] NO_DATA = new byte[0];

    public ObjectVersion {
        inlineData = inlineData == null || inlineData.length == 0 ? NO_DATA : inlineData;
    }

    /** A version whose bytes are in {@code extents} (or that has none). */
    public ObjectVersion(String bucket, String key, String versionId, boolean deleteMarker, boolean latest,
                         long size, String etag, long modifiedMillis, String owner, Map<String, String> headers,
                         Map<String, String> checksums, String checksumType, Map<String, String> tags,
                         List<Long> partSizes, List<ObjectExtent> extents) {
        this(bucket, key, versionId, deleteMarker, latest, size, etag, modifiedMillis, owner, headers,
                checksums, checksumType, tags, partSizes, extents, NO_DATA);
    }

    /** Whether the bytes are in {@link #inlineData} rather than in extents of a log. */
    public boolean isInline() {
        return inlineData.length > 0;
    }

    public ObjectVersion withLatest(boolean newLatest) {
        return new ObjectVersion(bucket, key, versionId, deleteMarker, newLatest, size, etag,
                modifiedMillis, owner, headers, checksums, checksumType, tags, partSizes, extents,
                inlineData);
    }

    public ObjectVersion withVersionId(String newVersionId) {
        return new ObjectVersion(bucket, key, newVersionId, deleteMarker, latest, size, etag,
                modifiedMillis, owner, headers, checksums, checksumType, tags, partSizes, extents,
                inlineData);
    }

    public ObjectVersion withTags(Map<String, String> newTags) {
        return new ObjectVersion(bucket, key, versionId, deleteMarker, latest, size, etag,
                modifiedMillis, owner, headers, checksums, checksumType, newTags, partSizes,
                extents, inlineData);
    }

    /**
     * What a listing carries: no headers, tags, part sizes, extents or inline bytes (a page of 1000
     * entries stays small; a GET or HEAD reads the whole version).
     */
    public ObjectVersion summary() {
        return new ObjectVersion(bucket, key, versionId, deleteMarker, latest, size, etag,
                modifiedMillis, owner, Map.of(), checksums, checksumType, Map.of(), List.of(),
                List.of());
    }

    public void encode(WireWriter out) {
        if (isInline()) {
            out.u8(FORM_2_MARKER).u8(FORMAT_VERSION_INLINE);
        }
        out.string(bucket).string(key).string(versionId).bool(deleteMarker).bool(latest).i64(size)
                .string(etag).i64(modifiedMillis).string(owner).stringMap(headers)
                .stringMap(checksums).string(checksumType).stringMap(tags).i64List(partSizes);
        ObjectExtent.encodeList(out, extents);
        if (isInline()) {
            out.i32(inlineData.length).bytes(inlineData).i32((int) crc32c(inlineData));
        }
    }

    public static ObjectVersion decode(WireReader in) {
        boolean form2 = in.peekU8() == FORM_2_MARKER;
        if (form2) {
            in.u8();
            int formatVersion = in.u8();
            if (formatVersion != FORMAT_VERSION_INLINE) {
                throw new MalformedMessageException("object version formatVersion "
                        + formatVersion + "; this build reads 1 and " + FORMAT_VERSION_INLINE);
            }
        }
        String bucket = in.string();
        String key = in.string();
        String versionId = in.string();
        boolean deleteMarker = in.bool();
        boolean latest = in.bool();
        long size = in.i64();
        String etag = in.string();
        long modifiedMillis = in.i64();
        String owner = in.string();
        Map<String, String> headers = in.stringMap();
        Map<String, String> checksums = in.stringMap();
        String checksumType = in.string();
        Map<String, String> tags = in.stringMap();
        List<Long> partSizes = in.i64List();
        List<ObjectExtent> extents = ObjectExtent.decodeList(in);
        byte[] inline = NO_DATA;
        if (form2) {
            int length = in.i32();
            if (length <= 0 || length > INLINE_BYTES_MAX) {
                throw new MalformedMessageException("inline data of " + length + " bytes (1.."
                        + INLINE_BYTES_MAX + ")");
            }
            inline = in.bytes(length);
            int crc = in.i32();
            if (crc != (int) crc32c(inline)) {
                throw new MalformedMessageException("inline data of " + bucket + "/" + key
                        + " version " + versionId + " fails its CRC32C");
            }
        }
        return new ObjectVersion(bucket, key, versionId, deleteMarker, latest, size, etag,
                modifiedMillis, owner, headers, checksums, checksumType, tags, partSizes, extents,
                inline);
    }

    public static long crc32c(byte[] data) {
        CRC32C crc = new CRC32C();
        crc.update(data);
        return crc.getValue();
    }

    // A record compares arrays by reference; versions are values, so compare the bytes.
    @Override
    public boolean equals(Object other) {
        return other instanceof ObjectVersion that && deleteMarker == that.deleteMarker
                && latest == that.latest && size == that.size
                && modifiedMillis == that.modifiedMillis && bucket.equals(that.bucket)
                && key.equals(that.key) && versionId.equals(that.versionId)
                && etag.equals(that.etag) && owner.equals(that.owner)
                && headers.equals(that.headers) && checksums.equals(that.checksums)
                && checksumType.equals(that.checksumType) && tags.equals(that.tags)
                && partSizes.equals(that.partSizes) && extents.equals(that.extents)
                && Arrays.equals(inlineData, that.inlineData);
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(bucket, key, versionId, deleteMarker, latest, size, etag,
                modifiedMillis, owner, headers, checksums, checksumType, tags, partSizes, extents)
                * 31 + Arrays.hashCode(inlineData);
    }

    @Override
    public String toString() {
        return "ObjectVersion[" + bucket + "/" + key + " " + versionId + (deleteMarker
                ? " deleteMarker" : "") + (latest ? " latest" : "") + " size=" + size + " etag="
                + etag + " modified=" + modifiedMillis + " owner=" + owner + " headers=" + headers
                + " checksums=" + checksums + " " + checksumType + " tags=" + tags + " parts="
                + partSizes + " extents=" + extents + (isInline() ? " inline="
                + inlineData.length + " bytes crc32c=" + HexFormat.of().toHexDigits(
                        (int) crc32c(inlineData)) : "") + "]";
    }
}
