package io.basalt.common.crc;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;

class Crc32cTest {
    @Test
    void checkValueOfTheStandard() {
        // The CRC-32C check value (RFC 3720 / the catalogue of CRCs): "123456789" -> 0xE3069283.
        byte[] bytes = "123456789".getBytes(StandardCharsets.US_ASCII);
        assertThat(Crc32c.checksum(bytes, 0, bytes.length)).isEqualTo(0xE3069283);
        ByteBuffer direct = ByteBuffer.allocateDirect(bytes.length).put(bytes).flip();
        assertThat(Crc32c.checksum(direct, 0, bytes.length)).isEqualTo(0xE3069283);
        assertThat(direct.position()).isZero();
    }

    @Test
    void combineOfKnownHalves() {
        byte[] bytes = "123456789".getBytes(StandardCharsets.US_ASCII);
        int a = Crc32c.checksum(bytes, 0, 4);
        int b = Crc32c.checksum(bytes, 4, 5);
        assertThat(Crc32c.combine(a, b, 5)).isEqualTo(0xE3069283);
        assertThat(Crc32c.combine(a, Crc32c.checksum(bytes, 0, 0), 0)).isEqualTo(a);
    }

    @Test
    void blockChecksumsMatchPerBlockCrcAndLeaveThePositionAlone() {
        ByteBuffer buffer = randomDirect(5 * Crc32c.BLOCK_SIZE_BYTES + 100, 7);
        buffer.position(17);
        int[] crcs = new int[6];
        Crc32c.blockChecksums(buffer, 100, 5 * Crc32c.BLOCK_SIZE_BYTES, crcs, 1);
        for (int block = 0; block < 5; block++) {
            CRC32C reference = new CRC32C();
            reference.update(buffer.slice(100 + block * Crc32c.BLOCK_SIZE_BYTES,
                    Crc32c.BLOCK_SIZE_BYTES));
            assertThat(crcs[1 + block]).isEqualTo((int) reference.getValue());
        }
        assertThat(buffer.position()).isEqualTo(17);
        assertThat(buffer.limit()).isEqualTo(buffer.capacity());
    }

    @Test
    void verificationNamesTheBadBlock() throws Exception {
        int length = 8 * Crc32c.BLOCK_SIZE_BYTES;
        ByteBuffer buffer = randomDirect(length, 11);
        int[] crcs = new int[8];
        Crc32c.blockChecksums(buffer, 0, length, crcs, 0);
        Crc32c.verifyBlocks(buffer, 0, length, crcs, 0, 1 << 20);
        assertThat(Crc32c.firstMismatch(buffer, 0, length, crcs, 0)).isEqualTo(-1);

        buffer.put(5 * Crc32c.BLOCK_SIZE_BYTES + 123, (byte) (buffer.get(5 * 4096 + 123) ^ 1));
        assertThat(Crc32c.firstMismatch(buffer, 0, length, crcs, 0)).isEqualTo(5);
        assertThatThrownBy(() -> Crc32c.verifyBlocks(buffer, 0, length, crcs, 0, 1 << 20))
                .isInstanceOf(ChecksumMismatchException.class)
                .hasMessageContaining("block 5")
                .hasMessageContaining("bytes " + ((1 << 20) + 5 * 4096) + "..")
                .satisfies(e -> {
                    ChecksumMismatchException mismatch = (ChecksumMismatchException) e;
                    assertThat(mismatch.blockIndex()).isEqualTo(5);
                    assertThat(mismatch.offsetBytes()).isEqualTo((1 << 20) + 5 * 4096L);
                    assertThat(mismatch.expectedCrc()).isEqualTo(crcs[5]);
                    assertThat(mismatch.actualCrc()).isNotEqualTo(crcs[5]);
                });
    }

    @Test
    void badArgumentsSayValueAndLimit() {
        ByteBuffer buffer = ByteBuffer.allocateDirect(8192);
        assertThatThrownBy(() -> Crc32c.blockChecksums(buffer, 0, 4000, new int[1], 0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("length 4000 bytes is not a multiple of the block size 4096");
        assertThatThrownBy(() -> Crc32c.blockChecksums(buffer, 4096, 8192, new int[2], 0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("range offset 4096 length 8192 outside buffer of 8192 bytes");
        assertThatThrownBy(() -> Crc32c.blockChecksums(buffer, 0, 8192, new int[1], 0))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("crcs has room for 1 from index 0, need 2");
        assertThatThrownBy(() -> Crc32c.combine(0, 0, -1))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("length of B -1 (min 0)");
    }

    @Test
    void describeNamesTheJdkImplementation() {
        assertThat(Crc32c.describe()).startsWith("java.util.zip.CRC32C (");
    }

    static ByteBuffer randomDirect(int length, long seed) {
        byte[] bytes = new byte[length];
        new Random(seed).nextBytes(bytes);
        return ByteBuffer.allocateDirect(length).put(bytes).flip();
    }
}
