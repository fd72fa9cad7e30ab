package io.basalt.s3.checksum;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.basalt.s3.S3Error;
import io.basalt.s3.S3Exception;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.Base64;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;

class ChecksumTest {
    private static final byte[] CHECK_INPUT = "123456789".getBytes(StandardCharsets.US_ASCII);

    @Test
    void crc64NvmeMatchesTheCatalogueCheckValue() {
        Crc64Nvme crc = new Crc64Nvme();
        crc.update(CHECK_INPUT, 0, CHECK_INPUT.length);
        assertThat(crc.getValue()).isEqualTo(0xae8b14860a799888L);
        crc.reset();
        for (byte b : CHECK_INPUT) {
            crc.update(b);
        }
        assertThat(crc.getValue()).isEqualTo(0xae8b14860a799888L);
        crc.reset();
        assertThat(crc.getValue()).isZero(); // ~(~0) of no input
    }

    @Test
    void checkValuesOfEveryAlgorithm() {
        assertThat(digestHex(ChecksumAlgorithm.CRC32, CHECK_INPUT)).isEqualTo("cbf43926");
        assertThat(digestHex(ChecksumAlgorithm.CRC32C, CHECK_INPUT)).isEqualTo("e3069283");
        assertThat(digestHex(ChecksumAlgorithm.CRC64NVME, CHECK_INPUT))
                .isEqualTo("ae8b14860a799888");
        assertThat(digestHex(ChecksumAlgorithm.SHA1, CHECK_INPUT))
                .isEqualTo("f7c3bc1d808e04732adf679965ccc34ca7ae3441");
        assertThat(digestHex(ChecksumAlgorithm.SHA256, CHECK_INPUT))
                .isEqualTo("15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225");
        StreamingChecksum md5 = ChecksumAlgorithm.newMd5();
        md5.update(CHECK_INPUT, 0, CHECK_INPUT.length);
        assertThat(HexFormat.of().formatHex(md5.digest()))
                .isEqualTo("25f9e794323b453885f5181f1b624d0b");
    }

    @Test
    void crc32cOfTheAwsTrailerExampleIsTheDocumentedTrailer() {
        // "Signature calculations for trailing headers": 66560 bytes of 'a', x-amz-checksum-crc32c.
        byte[] data = new byte[66_560];
        Arrays.fill(data, (byte) 'a');
        StreamingChecksum crc = ChecksumAlgorithm.CRC32C.newChecksum();
        crc.update(ByteBuffer.wrap(data, 0, 1000));
        crc.update(data, 1000, data.length - 1000);
        assertThat(crc.digestBase64()).isEqualTo("sOO8/Q==");
    }

    @Test
    void digestResetsAndBuffersOfEveryKindAgree() {
        for (ChecksumAlgorithm algorithm : ChecksumAlgorithm.values()) {
            StreamingChecksum checksum = algorithm.newChecksum();
            checksum.update(CHECK_INPUT, 0, CHECK_INPUT.length);
            byte[] first = checksum.digest();
            assertThat(first).hasSize(algorithm.digestLengthBytes());
            ByteBuffer direct = ByteBuffer.allocateDirect(CHECK_INPUT.length).put(CHECK_INPUT)
                    .flip();
            checksum.update(direct);
            assertThat(direct.hasRemaining()).isFalse();
            assertThat(checksum.digest()).as(algorithm.name()).isEqualTo(first);
            checksum.update(ByteBuffer.wrap(CHECK_INPUT));
            assertThat(checksum.digest()).as(algorithm.name()).isEqualTo(first);
        }
    }

    @Test
    void namesAndHeaders() {
        assertThat(ChecksumAlgorithm.CRC64NVME.headerName()).isEqualTo("x-amz-checksum-crc64nvme");
        assertThat(ChecksumAlgorithm.SHA256.xmlElementName()).isEqualTo("ChecksumSHA256");
        assertThat(ChecksumAlgorithm.fromHeaderName("X-Amz-Checksum-CRC32C"))
                .isEqualTo(ChecksumAlgorithm.CRC32C);
        assertThat(ChecksumAlgorithm.fromHeaderName("x-amz-checksum-md5")).isNull();
        assertThat(ChecksumAlgorithm.fromAlgorithmName("sha1")).isEqualTo(ChecksumAlgorithm.SHA1);
        assertThat(ChecksumAlgorithm.fromAlgorithmName("MD5")).isNull();
        assertThat(ChecksumType.fromName("COMPOSITE")).isEqualTo(ChecksumType.COMPOSITE);
        assertThat(ChecksumType.fromName("composite")).isNull();
        assertThat(ChecksumAlgorithm.CRC32.isWellFormed("AAAAAA==")).isTrue();
        assertThat(ChecksumAlgorithm.CRC32.isWellFormed("AAAAAAAAAAA=")).isFalse();
        assertThat(ChecksumAlgorithm.CRC32.isWellFormed("not base64!")).isFalse();
    }

    @Test
    void multipartEtagIsMd5OfThePartMd5s() throws Exception {
        byte[][] parts = {"part one".getBytes(), "part two".getBytes(), new byte[0]};
        MessageDigest outer = MessageDigest.getInstance("MD5");
        String[] partEtags = new String[parts.length];
        for (int i = 0; i < parts.length; i++) {
            byte[] partMd5 = MessageDigest.getInstance("MD5").digest(parts[i]);
            outer.update(partMd5);
            partEtags[i] = i == 0 ? "\"" + HexFormat.of().formatHex(partMd5) + "\""
                    : HexFormat.of().formatHex(partMd5);
        }
        assertThat(MultipartChecksums.multipartEtag(List.of(partEtags)))
                .isEqualTo(HexFormat.of().formatHex(outer.digest()) + "-3");
        assertThatThrownBy(() -> MultipartChecksums.multipartEtag(List.of("abc")))
                .isInstanceOfSatisfying(S3Exception.class, e -> assertThat(e.error())
                        .isEqualTo(S3Error.InvalidPart));
        assertThatThrownBy(() -> MultipartChecksums.multipartEtag(List.of(
                "zz" + "0".repeat(30)))).isInstanceOf(S3Exception.class);
        assertThatThrownBy(() -> MultipartChecksums.multipartEtag(List.of()))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void compositeChecksumIsTheChecksumOfThePartChecksums() throws Exception {
        byte[] a = "aaaa".getBytes();
        byte[] b = "bb".getBytes();
        String partA = base64Sha256(a);
        String partB = base64Sha256(b);
        MessageDigest outer = MessageDigest.getInstance("SHA-256");
        outer.update(MessageDigest.getInstance("SHA-256").digest(a));
        outer.update(MessageDigest.getInstance("SHA-256").digest(b));
        assertThat(MultipartChecksums.composite(ChecksumAlgorithm.SHA256, List.of(partA, partB)))
                .isEqualTo(Base64.getEncoder().encodeToString(outer.digest()) + "-2");
        assertThatThrownBy(() -> MultipartChecksums.composite(ChecksumAlgorithm.CRC32,
                List.of(partA))).isInstanceOfSatisfying(S3Exception.class,
                        e -> assertThat(e.error()).isEqualTo(S3Error.InvalidPart));
    }

    private static String base64Sha256(byte[] data) throws Exception {
        return Base64.getEncoder().encodeToString(MessageDigest.getInstance("SHA-256")
                .digest(data));
    }

    private static String digestHex(ChecksumAlgorithm algorithm, byte[] data) {
        StreamingChecksum checksum = algorithm.newChecksum();
        checksum.update(data, 0, data.length);
        return HexFormat.of().formatHex(checksum.digest());
    }
}
