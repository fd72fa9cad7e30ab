package io.basalt.meta.api;

import io.basalt.meta.model.s3.ObjectExtent;
import io.basalt.meta.model.s3.ObjectLog;
import io.basalt.meta.model.s3.ObjectVersion;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * Form checks of the object index's requests (names, keys, sizes, extents, maps), run by
 * {@link MetaRequestForm} before a request may enter the log and by {@link MetaClient} before it is
 * sent. Bounds are meta's own, for memory and entry size; the S3 limits a gateway enforces
 * (10 tags, 2 KiB of user metadata) are below them.
 */
public final class ObjectRequestForm {
    public static final int KEY_BYTES_MAX = 1024;
    public static final String BUCKET_NAME_RULE = "3-63 characters of a-z, 0-9, '.' and '-',"
            + " beginning and ending with a letter or digit, no \"..\", not an IP address, not"
            + " starting with xn--, sthree- or amzn-s3-demo-, not ending with -s3alias, --ol-s3,"
            + " .mrap, --x-s3 or --table-s3";
    /** S3's part numbers. */
    public static final int PART_NUMBER_MAX = 10_000;
    /** Most extents one PUT_OBJECT or PUT_PART carries: a 5 GiB part in 8 MiB runs needs 640. */
    public static final int EXTENTS_PER_REQUEST_MAX = 10_000;
    /**
     * Most extents one object version holds (a completed upload joins its parts' extents): the
     * record stays under 2.4 MiB, one RocksDB value and one reply.
     */
    public static final int EXTENTS_PER_OBJECT_MAX = 100_000;
    /** 1 PiB: beyond any object we expect, small enough that size sums never overflow. */
    public static final long OBJECT_SIZE_BYTES_MAX = 1L << 50;
    public static final int HEADERS_MAX = 64;
    public static final int HEADER_NAME_BYTES_MAX = 256;
    public static final int HEADERS_BYTES_MAX = 16 * 1024;
    /** S3 allows 10 tags on an object; meta bounds the map at the bucket limit. */
    public static final int TAGS_MAX = 50;
    public static final int TAG_KEY_CHARS_MAX = 128;
    public static final int TAG_VALUE_CHARS_MAX = 256;
    public static final int ETAG_CHARS_MAX = 256;
    public static final int EXCLUDED_LOGS_MAX = 1024;
    public static final int FREED_OFFSETS_MAX = 10_000;
    /** Most entries one OBJECT_LOG_GAPS or OBJECT_LOG_FREES reply carries. */
    public static final int LOG_PAGE_MAX = 1000;
    /** Checksum algorithms and their raw lengths in bytes. */
    public static final Map<String, Integer> CHECKSUM_BYTES = Map.of("CRC32", 4, "CRC32C", 4,
            "CRC64NVME", 8, "SHA1", 20, "SHA256", 32);
    public static final String CHECKSUM_TYPE_FULL_OBJECT = "FULL_OBJECT";
    public static final String CHECKSUM_TYPE_COMPOSITE = "COMPOSITE";

    private static final Pattern VERSION_ID = Pattern.compile("[0-9a-f]{16}");
    private static final Pattern MD5_HEX = Pattern.compile("\"?[0-9a-fA-F]{32}\"?");
    private static final Pattern ACCESS_KEY = Pattern.compile("[A-Za-z0-9._-]{3,128}");
    private static final Pattern USER_NAME = Pattern.compile("[A-Za-z0-9+=,.@_-]{1,64}");
    private static final List<String> RESERVED_PREFIXES = List.of("xn--", "sthree-",
            "amzn-s3-demo-");
    private static final List<String> RESERVED_SUFFIXES = List.of("-s3alias", "--ol-s3", ".mrap",
            "--x-s3", "--table-s3");

    private ObjectRequestForm() {}

    /** A small object's PUT: the PutObject's checks, with the bytes where extents would be. */
    private static String checkInline(ObjectRequest.PutInlineObject inline) {
        ObjectRequest.PutObject r = inline.object();
        return first(checkBucketRef(r.bucket()), checkKey(r.key()),
                r.size() != inline.data().length || inline.data().length == 0
                        || inline.data().length > ObjectVersion.INLINE_BYTES_MAX
                        ? "inline object of " + inline.data().length + " bytes declares size "
                        + r.size() + " (1.." + ObjectVersion.INLINE_BYTES_MAX + " bytes inline)"
                        : null,
                checkToken("ETag", r.etag(), 1, ETAG_CHARS_MAX), checkOwner(r.owner()),
                checkHeaders(r.headers()), checkObjectChecksums(r.checksums(), r.checksumType()),
                checkTags(r.tags()), r.partSizes().isEmpty() ? null
                        : "an inline object has no parts",
                r.extents().isEmpty() ? null : "an inline object has no extents",
                checkIfMatch(r.ifMatch()));
    }

    /** Null if {@code request} is well formed, else what is wrong, one line. */
    public static String checkForm(ObjectRequest request) {
        return switch (request) {
            case ObjectRequest.CreateBucket r -> first(checkBucketName(r.name()),
                    checkOwner(r.owner()), MetaRequestForm.checkPolicy(r.policy()));
            case ObjectRequest.DeleteBucket r -> checkBucketRef(r.name());
            case ObjectRequest.SetBucketVersioning r -> checkBucketRef(r.name());
            case ObjectRequest.GetBucket r -> checkBucketRef(r.name());
            case ObjectRequest.ListBuckets r -> null;
            case ObjectRequest.CreateS3User r -> first(checkUserName(r.name()),
                    checkAccessKey(r.accessKey()), checkToken("secret", r.secret(), 1, 128));
            case ObjectRequest.DeleteS3User r -> checkUserName(r.name());
            case ObjectRequest.ListS3Users r -> null;
            case ObjectRequest.GetS3User r -> checkAccessKey(r.accessKey());
            case ObjectRequest.PutObject r -> first(checkBucketRef(r.bucket()), checkKey(r.key()),
                    checkSize(r.size()), checkToken("ETag", r.etag(), 1, ETAG_CHARS_MAX),
                    checkOwner(r.owner()), checkHeaders(r.headers()),
                    checkObjectChecksums(r.checksums(), r.checksumType()), checkTags(r.tags()),
                    checkPartSizes(r.partSizes(), r.size()), checkExtents(r.extents(), r.size()),
                    checkIfMatch(r.ifMatch()));
            case ObjectRequest.PutInlineObject r -> checkInline(r);
            case ObjectRequest.DeleteObject r -> first(checkBucketRef(r.bucket()),
                    checkKey(r.key()), checkVersionId(r.versionId()));
            case ObjectRequest.PutObjectTags r -> first(checkBucketRef(r.bucket()),
                    checkKey(r.key()), checkVersionId(r.versionId()), checkTags(r.tags()));
            case ObjectRequest.GetObject r -> first(checkBucketRef(r.bucket()), checkKey(r.key()),
                    checkVersionId(r.versionId()));
            case ObjectRequest.ListObjects r -> first(checkBucketRef(r.bucket()),
                    checkText("prefix", r.prefix()), checkText("delimiter", r.delimiter()),
                    checkText("marker", r.after()), checkMax("max-keys", r.maxKeys()));
            case ObjectRequest.ListObjectVersions r -> first(checkBucketRef(r.bucket()),
                    checkText("prefix", r.prefix()), checkText("delimiter", r.delimiter()),
                    checkText("key marker", r.keyMarker()), checkVersionId(r.versionIdMarker()),
                    r.keyMarker().isEmpty() && !r.versionIdMarker().isEmpty()
                            ? "a version id marker needs a key marker" : null,
                    checkMax("max-keys", r.maxKeys()));
            case ObjectRequest.CreateUpload r -> first(checkBucketRef(r.bucket()),
                    checkKey(r.key()), checkUploadId(r.uploadId()), checkOwner(r.owner()),
                    checkHeaders(r.headers()), checkAlgorithm(r.checksumAlgorithm()),
                    checkTags(r.tags()));
            case ObjectRequest.PutPart r -> first(checkBucketRef(r.bucket()), checkKey(r.key()),
                    checkUploadId(r.uploadId()), checkPartNumber(r.partNumber()),
                    checkSize(r.size()), MD5_HEX.matcher(r.etag()).matches() ? null
                            : "part ETag \"" + r.etag() + "\" is not a hex MD5",
                    checkPartChecksums(r.checksums()), checkExtents(r.extents(), r.size()));
            case ObjectRequest.CompleteUpload r -> first(checkBucketRef(r.bucket()),
                    checkKey(r.key()), checkUploadId(r.uploadId()), checkCompleteParts(r),
                    checkIfMatch(r.ifMatch()));
            case ObjectRequest.AbortUpload r -> first(checkBucketRef(r.bucket()), checkKey(r.key()),
                    checkUploadId(r.uploadId()));
            case ObjectRequest.ListParts r -> first(checkBucketRef(r.bucket()), checkKey(r.key()),
                    checkUploadId(r.uploadId()), r.partNumberMarker() < 0
                            || r.partNumberMarker() > PART_NUMBER_MAX ? "part number marker "
                            + r.partNumberMarker() + " (0.." + PART_NUMBER_MAX + ")" : null,
                    checkMax("max-parts", r.maxParts()));
            case ObjectRequest.ListUploads r -> first(checkBucketRef(r.bucket()),
                    checkText("prefix", r.prefix()), checkText("delimiter", r.delimiter()),
                    checkText("key marker", r.keyMarker()), r.uploadIdMarker().isEmpty() ? null
                            : checkUploadId(r.uploadIdMarker()),
                    r.keyMarker().isEmpty() && !r.uploadIdMarker().isEmpty()
                            ? "an upload id marker needs a key marker" : null,
                    checkMax("max-uploads", r.maxUploads()));
            case ObjectRequest.OpenObjectLog r -> first(MetaRequestForm.checkPolicy(r.policy()),
                    MetaRequestForm.checkClientId(r.writer()),
                    r.excludeLogIds().size() > EXCLUDED_LOGS_MAX ? r.excludeLogIds().size()
                            + " excluded logs (max " + EXCLUDED_LOGS_MAX + ")" : null);
            case ObjectRequest.ReserveObjectLog r -> first(checkLogId(r.logId()),
                    MetaRequestForm.checkClientId(r.writer()),
                    r.oldestInFlight() < 0 || r.oldestInFlight() > r.reservedMark()
                            || r.reservedMark() > ObjectLog.SIZE_BYTES
                            || r.reservedMark() % ObjectExtent.ALIGNMENT != 0
                            ? "reservation: oldest in flight " + r.oldestInFlight()
                            + ", reserved mark " + r.reservedMark() + " (need 0 <= oldest <= mark"
                            + " <= " + ObjectLog.SIZE_BYTES + ", mark a multiple of "
                            + ObjectExtent.ALIGNMENT + ")" : null);
            case ObjectRequest.FreedObjectExtents r -> first(checkLogId(r.logId()),
                    r.offsets().size() > FREED_OFFSETS_MAX ? r.offsets().size()
                            + " freed offsets (max " + FREED_OFFSETS_MAX + ")" : null,
                    r.offsets().stream().anyMatch(o -> o < 0) ? "a freed offset is negative"
                            : null);
            case ObjectRequest.SealObjectLog r -> checkLogId(r.logId());
            case ObjectRequest.ObjectLogGaps r -> first(checkLogId(r.logId()),
                    r.from() < 0 || r.from() > r.to() || r.to() > ObjectLog.SIZE_BYTES
                            ? "gap range [" + r.from() + ", " + r.to() + ") (need 0 <= from <= to"
                            + " <= " + ObjectLog.SIZE_BYTES + ")" : null,
                    checkPage(r.max()));
            case ObjectRequest.ObjectLogFrees r -> first(checkLogId(r.logId()),
                    r.fromOffset() < 0 ? "offset " + r.fromOffset() + " (must be >= 0)" : null,
                    checkPage(r.max()));
            case ObjectRequest.ListObjectLogs r -> null;
        };
    }

    private static String first(String... problems) {
        for (String problem : problems) {
            if (problem != null) {
                return problem;
            }
        }
        return null;
    }

    /** The S3 rule for new bucket names (the same as gateway-s3's BucketNames). */
    public static String checkBucketName(String name) {
        String problem = bucketNameProblem(name);
        return problem == null ? null : "invalid bucket name \"" + name + "\": " + problem
                + "; use " + BUCKET_NAME_RULE;
    }

    private static String bucketNameProblem(String name) {
        int length = name.length();
        if (length < 3 || length > 63) {
            return length + " characters";
        }
        for (int i = 0; i < length; i++) {
            char c = name.charAt(i);
            if (!lowerAlphanumeric(c) && c != '.' && c != '-') {
                return "'" + c + "' at " + i;
            }
            if (c == '.' && i > 0 && name.charAt(i - 1) == '.') {
                return "two adjacent dots";
            }
        }
        if (!lowerAlphanumeric(name.charAt(0)) || !lowerAlphanumeric(name.charAt(length - 1))) {
            return "must begin and end with a letter or digit";
        }
        if (ipv4Address(name)) {
            return "formatted as an IP address";
        }
        for (String prefix : RESERVED_PREFIXES) {
            if (name.startsWith(prefix)) {
                return "reserved prefix \"" + prefix + "\"";
            }
        }
        for (String suffix : RESERVED_SUFFIXES) {
            if (name.endsWith(suffix)) {
                return "reserved suffix \"" + suffix + "\"";
            }
        }
        return null;
    }

    private static boolean lowerAlphanumeric(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    }

    private static boolean ipv4Address(String name) {
        String[] groups = name.split("\\.", -1);
        if (groups.length != 4) {
            return false;
        }
        for (String group : groups) {
            if (group.isEmpty() || group.length() > 3
                    || !group.chars().allMatch(Character::isDigit)) {
                return false;
            }
        }
        return true;
    }

    /**
     * A bucket named in a request other than its creation: any name that could exist (a name
     * breaking the rule finds no bucket, which the logic answers NOT_FOUND), only bounded.
     */
    static String checkBucketRef(String name) {
        return name.isEmpty() || name.length() > 63 ? "bucket name \"" + name + "\" is "
                + name.length() + " characters (1..63)" : null;
    }

    /** Object keys: 1..1024 bytes of well-formed UTF-8. */
    public static String checkKey(String key) {
        if (key.isEmpty()) {
            return "object key is empty";
        }
        return checkText("object key", key);
    }

    /** Prefixes, delimiters and markers: at most 1024 bytes of well-formed UTF-8 ("" allowed). */
    static String checkText(String what, String text) {
        if (!wellFormed(text)) {
            return what + " holds an unpaired surrogate (not encodable as UTF-8)";
        }
        int bytes = text.getBytes(StandardCharsets.UTF_8).length;
        return bytes > KEY_BYTES_MAX ? what + " of " + bytes + " UTF-8 bytes (max "
                + KEY_BYTES_MAX + ")" : null;
    }

    private static boolean wellFormed(String text) {
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (Character.isHighSurrogate(c)) {
                if (i + 1 >= text.length() || !Character.isLowSurrogate(text.charAt(i + 1))) {
                    return false;
                }
                i++;
            } else if (Character.isLowSurrogate(c)) {
                return false;
            }
        }
        return true;
    }

    /** "" (none), "null" or 16 lower-case hex digits (a version's sequence number). */
    static String checkVersionId(String versionId) {
        return versionId.isEmpty() || versionId.equals(ObjectVersion.NULL_VERSION)
                || VERSION_ID.matcher(versionId).matches() ? null
                : "invalid version id \"" + versionId + "\"";
    }

    static String checkUploadId(String uploadId) {
        return checkToken("upload id", uploadId, 1, 128);
    }

    static String checkOwner(String owner) {
        return checkToken("owner", owner, 1, 128);
    }

    static String checkAccessKey(String accessKey) {
        return ACCESS_KEY.matcher(accessKey).matches() ? null : "invalid access key \""
                + accessKey + "\": use 3-128 characters of A-Z, a-z, 0-9, '.', '_' or '-'";
    }

    static String checkUserName(String name) {
        return USER_NAME.matcher(name).matches() ? null : "invalid user name \"" + name
                + "\": use 1-64 characters of A-Z, a-z, 0-9 and +=,.@_-";
    }

    /** Printable ASCII without spaces, {@code min..max} characters. */
    static String checkToken(String what, String value, int min, int max) {
        if (value.length() < min || value.length() > max
                || !value.chars().allMatch(c -> c > 32 && c < 127)) {
            return "invalid " + what + " \"" + value + "\": use " + min + "-" + max
                    + " printable ASCII characters without spaces";
        }
        return null;
    }

    private static String checkIfMatch(String ifMatch) {
        return ifMatch.isEmpty() ? null : checkToken("If-Match", ifMatch, 1, ETAG_CHARS_MAX);
    }

    private static String checkSize(long size) {
        return size < 0 || size > OBJECT_SIZE_BYTES_MAX ? "size " + size + " bytes (0.."
                + OBJECT_SIZE_BYTES_MAX + ")" : null;
    }

    private static String checkPartNumber(int number) {
        return number < 1 || number > PART_NUMBER_MAX ? "part number " + number + " (1.."
                + PART_NUMBER_MAX + ")" : null;
    }

    private static String checkMax(String what, int max) {
        return max < 0 ? what + " " + max + " (must be >= 0)" : null;
    }

    private static String checkPage(int max) {
        return max < 1 || max > LOG_PAGE_MAX ? "page limit " + max + " (1.." + LOG_PAGE_MAX + ")"
                : null;
    }

    private static String checkLogId(long logId) {
        return logId <= 0 ? "object log id " + logId + " (must be > 0)" : null;
    }

    private static String checkAlgorithm(String algorithm) {
        return algorithm.isEmpty() || CHECKSUM_BYTES.containsKey(algorithm) ? null
                : "unknown checksum algorithm \"" + algorithm + "\" (" + algorithms() + ")";
    }

    private static String algorithms() {
        return String.join(", ", new java.util.TreeSet<>(CHECKSUM_BYTES.keySet()));
    }

    private static String checkHeaders(Map<String, String> headers) {
        if (headers.size() > HEADERS_MAX) {
            return headers.size() + " headers (max " + HEADERS_MAX + ")";
        }
        long bytes = 0;
        for (Map.Entry<String, String> header : headers.entrySet()) {
            int nameBytes = header.getKey().getBytes(StandardCharsets.UTF_8).length;
            if (nameBytes == 0 || nameBytes > HEADER_NAME_BYTES_MAX) {
                return "header name of " + nameBytes + " bytes (1.." + HEADER_NAME_BYTES_MAX + ")";
            }
            bytes += nameBytes + header.getValue().getBytes(StandardCharsets.UTF_8).length;
        }
        return bytes > HEADERS_BYTES_MAX ? "headers of " + bytes + " bytes (max "
                + HEADERS_BYTES_MAX + ")" : null;
    }

    private static String checkTags(Map<String, String> tags) {
        if (tags.size() > TAGS_MAX) {
            return tags.size() + " tags (max " + TAGS_MAX + ")";
        }
        for (Map.Entry<String, String> tag : tags.entrySet()) {
            if (tag.getKey().isEmpty() || tag.getKey().length() > TAG_KEY_CHARS_MAX
                    || tag.getValue().length() > TAG_VALUE_CHARS_MAX) {
                return "tag \"" + tag.getKey() + "\": key 1.." + TAG_KEY_CHARS_MAX
                        + " characters, value at most " + TAG_VALUE_CHARS_MAX;
            }
        }
        return null;
    }

    private static String checkObjectChecksums(Map<String, String> checksums, String type) {
        if (!type.isEmpty() && !type.equals(CHECKSUM_TYPE_FULL_OBJECT)
                && !type.equals(CHECKSUM_TYPE_COMPOSITE)) {
            return "checksum type \"" + type + "\" (FULL_OBJECT, COMPOSITE or none)";
        }
        for (Map.Entry<String, String> checksum : checksums.entrySet()) {
            String problem = first(checkAlgorithm(checksum.getKey()),
                    checkToken(checksum.getKey() + " checksum", checksum.getValue(), 1, 128));
            if (problem != null) {
                return problem;
            }
        }
        return null;
    }

    /** A part's checksums must decode: the composite checksum is computed from them. */
    private static String checkPartChecksums(Map<String, String> checksums) {
        for (Map.Entry<String, String> checksum : checksums.entrySet()) {
            String problem = checkAlgorithm(checksum.getKey());
            if (problem != null) {
                return problem;
            }
            byte[] raw;
            try {
                raw = Base64.getDecoder().decode(checksum.getValue());
            } catch (IllegalArgumentException e) {
                return checksum.getKey() + " checksum \"" + checksum.getValue()
                        + "\" is not base64";
            }
            int expected = CHECKSUM_BYTES.get(checksum.getKey());
            if (raw.length != expected) {
                return checksum.getKey() + " checksum of " + raw.length + " bytes (must be "
                        + expected + ")";
            }
        }
        return null;
    }

    private static String checkPartSizes(List<Long> partSizes, long size) {
        if (partSizes.isEmpty()) {
            return null;
        }
        if (partSizes.size() > PART_NUMBER_MAX) {
            return partSizes.size() + " part sizes (max " + PART_NUMBER_MAX + ")";
        }
        long sum = 0;
        for (long partSize : partSizes) {
            if (partSize < 0 || partSize > OBJECT_SIZE_BYTES_MAX) {
                return "part size " + partSize;
            }
            sum += partSize;
        }
        return sum != size ? "part sizes add up to " + sum + " bytes, not the size " + size : null;
    }

    /**
     * Extents: aligned, inside a log's address space, lengths adding up to the size, no two of
     * one request overlapping (the logic checks them against the index).
     */
    public static String checkExtents(List<ObjectExtent> extents, long size) {
        if (extents.size() > EXTENTS_PER_REQUEST_MAX) {
            return extents.size() + " extents (max " + EXTENTS_PER_REQUEST_MAX + ")";
        }
        long sum = 0;
        for (ObjectExtent extent : extents) {
            if (extent.logId() <= 0 || extent.offset() < 0
                    || extent.offset() % ObjectExtent.ALIGNMENT != 0 || extent.length() <= 0
                    || extent.length() > ObjectLog.SIZE_BYTES
                    || extent.offset() > ObjectLog.SIZE_BYTES - extent.spaceBytes()) {
                return "extent " + describe(extent) + ": need log id > 0, offset a multiple of "
                        + ObjectExtent.ALIGNMENT + ", length > 0, end <= " + ObjectLog.SIZE_BYTES;
            }
            sum += extent.length();
        }
        if (sum != size) {
            return "extents add up to " + sum + " bytes, not the size " + size;
        }
        List<ObjectExtent> sorted = new ArrayList<>(extents);
        sorted.sort(Comparator.comparingLong(ObjectExtent::logId)
                .thenComparingLong(ObjectExtent::offset));
        for (int i = 1; i < sorted.size(); i++) {
            ObjectExtent before = sorted.get(i - 1);
            ObjectExtent after = sorted.get(i);
            if (before.logId() == after.logId() && before.endOffset() > after.offset()) {
                return "extents " + describe(before) + " and " + describe(after) + " overlap";
            }
        }
        return null;
    }

    public static String describe(ObjectExtent extent) {
        return "log " + extent.logId() + " [" + extent.offset() + ", +" + extent.length() + ")";
    }

    private static String checkCompleteParts(ObjectRequest.CompleteUpload r) {
        int count = r.partNumbers().size();
        if (count != r.partEtags().size()) {
            return count + " part numbers but " + r.partEtags().size() + " ETags";
        }
        if (count < 1 || count > PART_NUMBER_MAX) {
            return count + " parts (1.." + PART_NUMBER_MAX + ")";
        }
        for (int i = 0; i < count; i++) {
            String problem = first(checkPartNumber(r.partNumbers().get(i)),
                    checkToken("part ETag", r.partEtags().get(i), 1, ETAG_CHARS_MAX));
            if (problem != null) {
                return problem;
            }
        }
        return null;
    }

    /** An ETag without the double quotes HTTP puts around it. */
    public static String unquote(String etag) {
        return etag.length() >= 2 && etag.startsWith("\"") && etag.endsWith("\"")
                ? etag.substring(1, etag.length() - 1) : etag;
    }

    /** A version id for sequence number {@code seq}: 16 hex digits, sorting as the numbers do. */
    public static String versionId(long seq) {
        return HexFormat.of().toHexDigits(seq);
    }

    /** The sequence number of a version id that is not "null" or "". */
    public static long versionSeq(String versionId) {
        return HexFormat.fromHexDigitsToLong(versionId);
    }
}
