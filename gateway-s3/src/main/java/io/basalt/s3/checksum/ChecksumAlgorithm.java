package io.basalt.s3.checksum;

import java.nio.ByteBuffer;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.Base64;
import java.util.Locale;
import java.util.zip.CRC32;
import java.util.zip.CRC32C;
import java.util.zip.Checksum;

/**
 * The checksum algorithms of S3's additional checksums (Amazon S3 User Guide, "Checking object
 * integrity"), each with its header ({@code x-amz-checksum-crc32} ...) and the name clients
 * put in {@code x-amz-sdk-checksum-algorithm}, {@code x-amz-checksum-algorithm} and XML
 * ({@code CRC32} ...). MD5 is not one of them: it serves ETags and {@code Content-MD5}, see
 * {@link #newMd5()}.
 */
public enum ChecksumAlgorithm {
    CRC32(4),
    CRC32C(4),
    CRC64NVME(8),
    SHA1(20),
    SHA256(32);

    /** Header naming the algorithm of the checksum sent (PutObject, UploadPart). */
    public static final String SDK_ALGORITHM_HEADER = "x-amz-sdk-checksum-algorithm";
    /** Header naming the algorithm of a multipart upload (CreateMultipartUpload). */
    public static final String ALGORITHM_HEADER = "x-amz-checksum-algorithm";
    /** Header with {@link ChecksumType}: FULL_OBJECT or COMPOSITE. */
    public static final String TYPE_HEADER = "x-amz-checksum-type";
    /** Header of aws-chunked uploads naming the trailing checksum header. */
    public static final String TRAILER_HEADER = "x-amz-trailer";

    private final int digestLengthBytes;
    private final String headerName;

    ChecksumAlgorithm(int digestLengthBytes) {
        this.digestLengthBytes = digestLengthBytes;
        this.headerName = "x-amz-checksum-" + name().toLowerCase(Locale.ROOT);
    }

    /** {@code x-amz-checksum-crc32} etc. */
    public String headerName() {
        return headerName;
    }

    /** {@code CRC32} etc., as in {@code x-amz-sdk-checksum-algorithm} and in XML. */
    public String algorithmName() {
        return name();
    }

    /** The XML element of a checksum value: {@code ChecksumCRC32} etc. */
    public String xmlElementName() {
        return "Checksum" + name();
    }

    public int digestLengthBytes() {
        return digestLengthBytes;
    }

    /** A new streaming checksum of this algorithm. */
    public StreamingChecksum newChecksum() {
        return switch (this) {
            case CRC32 -> new CrcChecksum(new CRC32(), 4);
            case CRC32C -> new CrcChecksum(new CRC32C(), 4);
            case CRC64NVME -> new CrcChecksum(new Crc64Nvme(), 8);
            case SHA1 -> new DigestChecksum(digest("SHA-1"));
            case SHA256 -> new DigestChecksum(digest("SHA-256"));
        };
    }

    /** MD5, for ETags and {@code Content-MD5}. */
    public static StreamingChecksum newMd5() {
        return new DigestChecksum(digest("MD5"));
    }

    /** The algorithm named {@code CRC32} etc. (any case), or null. */
    public static ChecksumAlgorithm fromAlgorithmName(String name) {
        for (ChecksumAlgorithm algorithm : values()) {
            if (algorithm.name().equalsIgnoreCase(name)) {
                return algorithm;
            }
        }
        return null;
    }

    /** The algorithm whose header is {@code x-amz-checksum-crc32} etc. (any case), or null. */
    public static ChecksumAlgorithm fromHeaderName(String headerName) {
        for (ChecksumAlgorithm algorithm : values()) {
            if (algorithm.headerName.equalsIgnoreCase(headerName)) {
                return algorithm;
            }
        }
        return null;
    }

    /**
     * Whether {@code base64} is a well-formed value of this algorithm: valid base64 of exactly
     * {@link #digestLengthBytes()} bytes (else S3 answers InvalidDigest or InvalidRequest).
     */
    public boolean isWellFormed(String base64) {
        try {
            return Base64.getDecoder().decode(base64).length == digestLengthBytes;
        } catch (IllegalArgumentException e) {
            return false;
        }
    }

    private static MessageDigest digest(String name) {
        try {
            return MessageDigest.getInstance(name);
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(name + " is in every JDK", e);
        }
    }

    /** A {@link Checksum} whose value is the low {@code lengthBytes} bytes, big-endian. */
    private static final class CrcChecksum implements StreamingChecksum {
        private final Checksum crc;
        private final int lengthBytes;

        CrcChecksum(Checksum crc, int lengthBytes) {
            this.crc = crc;
            this.lengthBytes = lengthBytes;
        }

        @Override
        public void update(byte[] bytes, int offset, int length) {
            crc.update(bytes, offset, length);
        }

        @Override
        public void update(ByteBuffer buffer) {
            crc.update(buffer);
        }

        @Override
        public byte[] digest() {
            long value = crc.getValue();
            crc.reset();
            byte[] out = new byte[lengthBytes];
            for (int i = 0; i < lengthBytes; i++) {
                out[i] = (byte) (value >>> (8 * (lengthBytes - 1 - i)));
            }
            return out;
        }
    }

    private static final class DigestChecksum implements StreamingChecksum {
        private final MessageDigest digest;

        DigestChecksum(MessageDigest digest) {
            this.digest = digest;
        }

        @Override
        public void update(byte[] bytes, int offset, int length) {
            digest.update(bytes, offset, length);
        }

        @Override
        public void update(ByteBuffer buffer) {
            digest.update(buffer);
        }

        @Override
        public byte[] digest() {
            return digest.digest();
        }
    }
}
