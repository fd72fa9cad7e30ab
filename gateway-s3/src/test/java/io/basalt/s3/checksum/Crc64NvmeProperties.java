package io.basalt.s3.checksum;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

/** Slice-by-8 agrees with the bit-at-a-time definition at every offset, length and split. */
class Crc64NvmeProperties {
    @Property(tries = 300)
    void sliceBy8MatchesTheBitwiseDefinition(@ForAll @Size(max = 300) byte[] data,
            @ForAll @IntRange(min = 0, max = 300) int splitAt,
            @ForAll @IntRange(min = 0, max = 7) int offset) {
        int split = Math.min(splitAt, data.length);
        byte[] shifted = new byte[data.length + offset];
        System.arraycopy(data, 0, shifted, offset, data.length);
        Crc64Nvme crc = new Crc64Nvme();
        crc.update(shifted, offset, split);
        ByteBuffer rest = ByteBuffer.allocateDirect(data.length - split);
        rest.put(data, split, data.length - split).flip();
        crc.update(rest);
        assertThat(crc.getValue()).isEqualTo(bitwise(data));
    }

    /** CRC-64/NVME one bit at a time, straight from the definition. */
    static long bitwise(byte[] data) {
        long crc = ~0L;
        for (byte b : data) {
            crc ^= b & 0xFF;
            for (int bit = 0; bit < 8; bit++) {
                crc = (crc & 1) != 0 ? (crc >>> 1) ^ 0x9a6c9329ac4bc9b5L : crc >>> 1;
            }
        }
        return ~crc;
    }
}
