package io.basalt.protocol.data;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.zip.CRC32C;
import org.junit.jupiter.api.Test;

/** INFO's payload read back as written, at each of its three lengths, and refused when damaged. */
class InfoReplyTest {
    @Test
    void aPayloadReadsBackAsWrittenAndOlderLengthsStillRead() {
        InfoReply written = new InfoReply(7, 126, 126 * 4096L, 99, true, 8192, 0x1234_5678_9abcL, true);
        ByteBuf full = Unpooled.buffer();
        written.writeTo(full);
        assertThat(full.readableBytes()).isEqualTo(DataFrame.INFO_PAYLOAD_BYTES);
        assertThat(InfoReply.read(full)).isEqualTo(written);
        // A server before the digest: the first 44 bytes and their CRC; before the hot tier: 36.
        assertThat(InfoReply.read(truncated(full, DataFrame.INFO_PAYLOAD_BYTES_V2)))
                .isEqualTo(new InfoReply(7, 126, 126 * 4096L, 99, true, 8192, 0, false));
        assertThat(InfoReply.read(truncated(full, DataFrame.INFO_PAYLOAD_BYTES_V1)))
                .isEqualTo(new InfoReply(7, 126, 126 * 4096L, 99, true, 0, 0, false));
        full.setByte(20, full.getByte(20) ^ 1);
        assertThat(InfoReply.read(full)).as("a flipped bit").isNull();
        assertThat(InfoReply.read(Unpooled.buffer(8).writeLong(7))).as("short").isNull();
    }

    private static ByteBuf truncated(ByteBuf full, int size) {
        ByteBuf out = Unpooled.buffer(size);
        out.writeBytes(full, 0, size - 4);
        CRC32C crc = new CRC32C();
        crc.update(out.nioBuffer(0, size - 4));
        return out.writeInt((int) crc.getValue());
    }
}
