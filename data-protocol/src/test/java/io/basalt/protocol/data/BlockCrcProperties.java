package io.basalt.protocol.data;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.PooledByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.nio.ByteBuffer;
import java.util.Random;
import java.util.zip.CRC32C;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;

class BlockCrcProperties {
    @Property(tries = 50)
    void theReusableViewGivesTheSameCrcsAsAFreshComputation(@ForAll @IntRange(min = 1, max = 8) int blocks,
            @ForAll @IntRange(min = 0, max = 100) int offset, @ForAll long seed) {
        byte[] data = new byte[offset + blocks * 4096];
        new Random(seed).nextBytes(data);
        for (ByteBuf buf : new ByteBuf[] {Unpooled.wrappedBuffer(data),
                PooledByteBufAllocator.DEFAULT.directBuffer(data.length).writeBytes(data),
                Unpooled.wrappedBuffer(Unpooled.wrappedBuffer(data, 0, offset + 4096),
                        Unpooled.wrappedBuffer(data, offset + 4096, data.length - offset - 4096))}) {
            try {
                ByteBuffer view = BlockCrc.blocksView(buf, offset, blocks);
                for (int i = 0; i < blocks; i++) {
                    CRC32C reference = new CRC32C();
                    reference.update(data, offset + i * 4096, 4096);
                    assertThat(BlockCrc.ofBlock(view, buf, offset, i)).isEqualTo((int) reference.getValue());
                    assertThat(BlockCrc.of(buf, offset + i * 4096, 4096)).isEqualTo((int) reference.getValue());
                }
            } finally {
                buf.release();
            }
        }
    }

    @Property(tries = 1)
    void zeroBlockCrcIsTheCrcOfZeroes() {
        CRC32C reference = new CRC32C();
        reference.update(new byte[4096]);
        assertThat(BlockCrc.ZERO_BLOCK_CRC).isEqualTo((int) reference.getValue());
    }
}
