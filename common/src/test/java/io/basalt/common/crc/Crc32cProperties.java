package io.basalt.common.crc;

import static org.assertj.core.api.Assertions.assertThat;

import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.Size;

class Crc32cProperties {
    @Property(tries = 300)
    void combineEqualsDirectCrc(@ForAll @Size(max = 3000) byte[] bytes,
            @ForAll @IntRange(min = 0, max = 3000) int split) {
        int cut = Math.min(split, bytes.length);
        int crcA = Crc32c.checksum(bytes, 0, cut);
        int crcB = Crc32c.checksum(bytes, cut, bytes.length - cut);
        assertThat(Crc32c.combine(crcA, crcB, bytes.length - cut))
                .isEqualTo(Crc32c.checksum(bytes, 0, bytes.length));
    }

    @Property(tries = 50)
    void combiningBlockCrcsGivesTheWholeCrc(@ForAll @IntRange(min = 1, max = 16) int blocks,
            @ForAll long seed) {
        int length = blocks * Crc32c.BLOCK_SIZE_BYTES;
        ByteBuffer buffer = Crc32cTest.randomDirect(length, seed);
        int[] crcs = new int[blocks];
        Crc32c.blockChecksums(buffer, 0, length, crcs, 0);
        int whole = crcs[0];
        for (int i = 1; i < blocks; i++) {
            whole = Crc32c.combine(whole, crcs[i], Crc32c.BLOCK_SIZE_BYTES);
        }
        assertThat(whole).isEqualTo(Crc32c.checksum(buffer, 0, length));
        assertThat(Crc32c.checksum(MemorySegment.ofBuffer(buffer), 0, length)).isEqualTo(whole);
    }
}
