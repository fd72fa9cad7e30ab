package io.basalt.s3.checksum;

import io.basalt.s3.S3Error;
import io.basalt.s3.S3Exception;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;

/**
 * The checksums of a completed multipart upload:
 * <ul>
 *   <li>the ETag: {@code hex(MD5(MD5(part 1) || ... || MD5(part N)))-N}, the binary MD5s of
 *       the parts concatenated in part order (what S3 has always returned; clients such as
 *       {@code aws s3} recompute it to check downloads);</li>
 *   <li>a COMPOSITE checksum: {@code base64(H(H(part 1) || ... || H(part N)))-N} with the
 *       upload's algorithm H over the binary part checksums (Amazon S3 User Guide, "Checking
 *       object integrity", "Using part-level checksums for multipart uploads").</li>
 * </ul>
 */
public final class MultipartChecksums {
    /** S3's limit on parts in one upload. */
    public static final int PART_COUNT_MAX = 10_000;

    private static final HexFormat HEX = HexFormat.of();

    private MultipartChecksums() {}

    /**
     * The multipart ETag (bare, without quotes) from the parts' ETags in part order.
     *
     * @param partEtags each part's ETag: 32 hex digits, quoted or not
     * @throws S3Exception InvalidPart when a part ETag is not an MD5 in hex
     */
    public static String multipartEtag(List<String> partEtags) {
        checkPartCount(partEtags.size());
        StreamingChecksum md5 = ChecksumAlgorithm.newMd5();
        for (String etag : partEtags) {
            String bare = io.basalt.s3.ETags.unquote(etag);
            byte[] partMd5;
            try {
                partMd5 = bare.length() == 32 ? HEX.parseHex(bare) : null;
            } catch (IllegalArgumentException e) {
                partMd5 = null;
            }
            if (partMd5 == null) {
                throw new S3Exception(S3Error.InvalidPart, "part ETag \"" + etag
                        + "\" is not an MD5 in hex");
            }
            md5.update(partMd5, 0, partMd5.length);
        }
        return HEX.formatHex(md5.digest()) + "-" + partEtags.size();
    }

    /**
     * The COMPOSITE checksum ({@code base64-N}) from the parts' base64 checksums in part order.
     *
     * @throws S3Exception InvalidPart when a part checksum is not a value of {@code algorithm}
     */
    public static String composite(ChecksumAlgorithm algorithm, List<String> partChecksums) {
        checkPartCount(partChecksums.size());
        StreamingChecksum checksum = algorithm.newChecksum();
        for (String partChecksum : partChecksums) {
            if (!algorithm.isWellFormed(partChecksum)) {
                throw new S3Exception(S3Error.InvalidPart, "part checksum \"" + partChecksum
                        + "\" is not a base64 " + algorithm.algorithmName());
            }
            byte[] bytes = Base64.getDecoder().decode(partChecksum);
            checksum.update(bytes, 0, bytes.length);
        }
        return checksum.digestBase64() + "-" + partChecksums.size();
    }

    private static void checkPartCount(int partCount) {
        if (partCount < 1 || partCount > PART_COUNT_MAX) {
            throw new IllegalArgumentException("part count " + partCount + " (must be 1 to "
                    + PART_COUNT_MAX + ")");
        }
    }
}
