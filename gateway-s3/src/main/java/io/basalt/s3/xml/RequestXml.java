package io.basalt.s3.xml;

import io.basalt.s3.ETags;
import io.basalt.s3.S3Error;
import io.basalt.s3.S3Exception;
import io.basalt.s3.checksum.ChecksumAlgorithm;
import io.basalt.s3.checksum.MultipartChecksums;
import java.io.IOException;
import java.io.InputStream;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Parsers of the XML request bodies: CompleteMultipartUpload, Delete, Tagging,
 * VersioningConfiguration and CreateBucketConfiguration. Each body is read with a cap
 * ({@link #readBody}) before parsing: past it the request is MaxMessageLengthExceeded. A body
 * that does not parse or lacks a required element is MalformedXML; S3's other rules give their
 * own codes (InvalidPartOrder, InvalidArgument, InvalidTag, NotImplemented).
 */
public final class RequestXml {
    /** CompleteMultipartUpload: 10,000 parts of at most ~300 bytes each, and a margin. */
    public static final int COMPLETE_MULTIPART_BYTES_MAX = 4 * 1024 * 1024;
    /** Delete: 1000 keys of up to 1024 UTF-8 bytes, some escaped, plus markup. */
    public static final int DELETE_BYTES_MAX = 4 * 1024 * 1024;
    /** Tagging: at most 50 tags (bucket) of 128 + 256 characters. */
    public static final int TAGGING_BYTES_MAX = 64 * 1024;
    /** VersioningConfiguration and CreateBucketConfiguration hold one or two short values. */
    public static final int SMALL_CONFIGURATION_BYTES_MAX = 16 * 1024;

    /** S3's limit on keys in one DeleteObjects request. */
    public static final int DELETE_KEY_COUNT_MAX = 1000;
    /** S3's limit on tags of an object. */
    public static final int OBJECT_TAG_COUNT_MAX = 10;
    /** S3's limit on tags of a bucket. */
    public static final int BUCKET_TAG_COUNT_MAX = 50;
    public static final int TAG_KEY_LENGTH_MAX = 128;
    public static final int TAG_VALUE_LENGTH_MAX = 256;

    /** A parsed DeleteObjects request. */
    public record DeleteRequest(boolean quiet, List<ObjectIdentifier> objects) {}

    private RequestXml() {}

    /**
     * Reads a whole request body of at most {@code bytesMax} bytes.
     *
     * @throws S3Exception MaxMessageLengthExceeded past {@code bytesMax}
     */
    public static byte[] readBody(InputStream in, int bytesMax) throws IOException {
        byte[] body = in.readNBytes(bytesMax);
        if (body.length == bytesMax && in.read() >= 0) {
            throw new S3Exception(S3Error.MaxMessageLengthExceeded, "the request body is longer"
                    + " than " + bytesMax + " bytes");
        }
        return body;
    }

    /**
     * CompleteMultipartUpload: parts in strictly ascending part-number order.
     *
     * @throws S3Exception MalformedXML, InvalidArgument for a part number outside 1..10000,
     *     InvalidPartOrder when not ascending
     */
    public static List<CompletedPart> parseCompleteMultipartUpload(byte[] body) {
        checkSize(body, COMPLETE_MULTIPART_BYTES_MAX);
        XmlTree.Element root = XmlTree.parse(body, "CompleteMultipartUpload");
        List<XmlTree.Element> partElements = root.children("Part");
        if (partElements.isEmpty()) {
            throw XmlTree.malformed("CompleteMultipartUpload names no Part");
        }
        if (partElements.size() > MultipartChecksums.PART_COUNT_MAX) {
            throw XmlTree.malformed("CompleteMultipartUpload names " + partElements.size()
                    + " parts (max " + MultipartChecksums.PART_COUNT_MAX + ")");
        }
        List<CompletedPart> parts = new ArrayList<>(partElements.size());
        int previousPartNumber = 0;
        for (XmlTree.Element part : partElements) {
            String number = required(part, "PartNumber");
            int partNumber = parsePartNumber(number);
            if (partNumber <= previousPartNumber) {
                throw new S3Exception(S3Error.InvalidPartOrder, "part " + partNumber
                        + " follows part " + previousPartNumber);
            }
            previousPartNumber = partNumber;
            Map<ChecksumAlgorithm, String> checksums = new EnumMap<>(ChecksumAlgorithm.class);
            for (ChecksumAlgorithm algorithm : ChecksumAlgorithm.values()) {
                String value = part.childText(algorithm.xmlElementName());
                if (value != null) {
                    checksums.put(algorithm, value);
                }
            }
            parts.add(new CompletedPart(partNumber, ETags.unquote(required(part, "ETag")),
                    checksums));
        }
        return List.copyOf(parts);
    }

    /**
     * Delete (DeleteObjects): 1 to 1000 objects, optional Quiet.
     *
     * @throws S3Exception MalformedXML
     */
    public static DeleteRequest parseDelete(byte[] body) {
        checkSize(body, DELETE_BYTES_MAX);
        XmlTree.Element root = XmlTree.parse(body, "Delete");
        String quietText = root.childText("Quiet");
        boolean quiet = quietText != null && parseBoolean(quietText, "Quiet");
        List<XmlTree.Element> objectElements = root.children("Object");
        if (objectElements.isEmpty() || objectElements.size() > DELETE_KEY_COUNT_MAX) {
            throw XmlTree.malformed("Delete names " + objectElements.size() + " objects (must"
                    + " be 1 to " + DELETE_KEY_COUNT_MAX + ")");
        }
        List<ObjectIdentifier> objects = new ArrayList<>(objectElements.size());
        for (XmlTree.Element object : objectElements) {
            // Untrimmed: " " and "a " are keys S3 stores, and deleting them must name them.
            String key = object.childRawText("Key");
            if (key == null) {
                throw XmlTree.malformed("<Object> has no <Key>");
            }
            if (key.isEmpty()) {
                throw XmlTree.malformed("an Object has an empty Key");
            }
            String versionId = object.childText("VersionId");
            objects.add(new ObjectIdentifier(key, versionId == null || versionId.isEmpty()
                    ? null : versionId));
        }
        return new DeleteRequest(quiet, List.copyOf(objects));
    }

    /**
     * Tagging: at most {@code tagCountMax} tags ({@link #OBJECT_TAG_COUNT_MAX} for objects,
     * {@link #BUCKET_TAG_COUNT_MAX} for buckets), keys of 1 to 128 characters not starting
     * with {@code aws:}, values of at most 256, keys unique.
     *
     * @throws S3Exception MalformedXML, InvalidTag
     */
    public static List<Tag> parseTagging(byte[] body, int tagCountMax) {
        checkSize(body, TAGGING_BYTES_MAX);
        XmlTree.Element root = XmlTree.parse(body, "Tagging");
        XmlTree.Element tagSet = root.child("TagSet");
        if (tagSet == null) {
            throw XmlTree.malformed("Tagging has no TagSet");
        }
        List<XmlTree.Element> tagElements = tagSet.children("Tag");
        if (tagElements.size() > tagCountMax) {
            throw new S3Exception(S3Error.InvalidTag, "object tags cannot be greater than "
                    + tagCountMax + ", got " + tagElements.size());
        }
        List<Tag> tags = new ArrayList<>(tagElements.size());
        Set<String> keys = new HashSet<>();
        for (XmlTree.Element tagElement : tagElements) {
            String key = required(tagElement, "Key");
            String value = required(tagElement, "Value");
            int keyLength = key.codePointCount(0, key.length());
            if (keyLength < 1 || keyLength > TAG_KEY_LENGTH_MAX) {
                throw new S3Exception(S3Error.InvalidTag, "tag key \"" + key + "\" is "
                        + keyLength + " characters (must be 1 to " + TAG_KEY_LENGTH_MAX + ")");
            }
            int valueLength = value.codePointCount(0, value.length());
            if (valueLength > TAG_VALUE_LENGTH_MAX) {
                throw new S3Exception(S3Error.InvalidTag, "tag value of \"" + key + "\" is "
                        + valueLength + " characters (max " + TAG_VALUE_LENGTH_MAX + ")");
            }
            if (key.startsWith("aws:")) {
                throw new S3Exception(S3Error.InvalidTag, "tag key \"" + key
                        + "\" cannot be prefixed with aws:");
            }
            if (!keys.add(key)) {
                throw new S3Exception(S3Error.InvalidTag, "cannot provide multiple tags with"
                        + " the same key \"" + key + "\"");
            }
            tags.add(new Tag(key, value));
        }
        return List.copyOf(tags);
    }

    /**
     * VersioningConfiguration: the Status, or null when the body has none (nothing to change).
     *
     * @throws S3Exception MalformedXML for another Status, NotImplemented for MfaDelete
     *     Enabled (Basalt has no MFA)
     */
    public static VersioningStatus parseVersioningConfiguration(byte[] body) {
        checkSize(body, SMALL_CONFIGURATION_BYTES_MAX);
        XmlTree.Element root = XmlTree.parse(body, "VersioningConfiguration");
        String mfaDelete = root.childText("MfaDelete");
        if (mfaDelete != null && !mfaDelete.equals("Disabled")) {
            if (mfaDelete.equals("Enabled")) {
                throw new S3Exception(S3Error.NotImplemented, "MFA Delete is not supported");
            }
            throw XmlTree.malformed("MfaDelete \"" + mfaDelete
                    + "\" is neither Enabled nor Disabled");
        }
        String status = root.childText("Status");
        if (status == null) {
            return null;
        }
        VersioningStatus parsed = VersioningStatus.fromXmlName(status);
        if (parsed == null) {
            throw XmlTree.malformed("versioning Status \"" + status
                    + "\" is neither Enabled nor Suspended");
        }
        return parsed;
    }

    /**
     * CreateBucketConfiguration: the LocationConstraint, or null for an empty body or none.
     *
     * @throws S3Exception MalformedXML
     */
    public static String parseCreateBucketConfiguration(byte[] body) {
        checkSize(body, SMALL_CONFIGURATION_BYTES_MAX);
        if (isBlank(body)) {
            return null;
        }
        XmlTree.Element root = XmlTree.parse(body, "CreateBucketConfiguration");
        String location = root.childText("LocationConstraint");
        return location == null || location.isEmpty() ? null : location;
    }

    private static void checkSize(byte[] body, int bytesMax) {
        if (body.length > bytesMax) {
            throw new S3Exception(S3Error.MaxMessageLengthExceeded, "the request body is "
                    + body.length + " bytes (max " + bytesMax + ")");
        }
    }

    private static String required(XmlTree.Element parent, String childName) {
        String text = parent.childText(childName);
        if (text == null) {
            throw XmlTree.malformed("<" + parent.name() + "> has no <" + childName + ">");
        }
        return text;
    }

    private static int parsePartNumber(String text) {
        long value = -1;
        if (!text.isEmpty() && text.length() <= 9 && text.chars().allMatch(Character::isDigit)) {
            value = Long.parseLong(text);
        } else if (!text.isEmpty() && text.chars().allMatch(Character::isDigit)) {
            value = Long.MAX_VALUE;
        } else {
            throw XmlTree.malformed("PartNumber \"" + text + "\" is not a number");
        }
        if (value < 1 || value > MultipartChecksums.PART_COUNT_MAX) {
            throw new S3Exception(S3Error.InvalidArgument, "part number must be an integer"
                    + " between 1 and " + MultipartChecksums.PART_COUNT_MAX + ", inclusive;"
                    + " got " + text);
        }
        return (int) value;
    }

    private static boolean parseBoolean(String text, String name) {
        return switch (text) {
            case "true" -> true;
            case "false" -> false;
            default -> throw XmlTree.malformed(name + " \"" + text + "\" is not true or false");
        };
    }

    private static boolean isBlank(byte[] body) {
        for (byte b : body) {
            if (b != ' ' && b != '\t' && b != '\r' && b != '\n') {
                return false;
            }
        }
        return true;
    }
}
