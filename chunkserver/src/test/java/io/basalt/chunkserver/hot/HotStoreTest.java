package io.basalt.chunkserver.hot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.basalt.protocol.data.CsException;
import io.basalt.protocol.data.CsStatus;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HotStoreTest {
    @TempDir
    Path dir;

    @Test
    void aDamagedSlotIsCorruptBlockAndNeverReturned() throws Exception {
        try (HotHarness h = new HotHarness(dir, 16 * 4096L, 1L << 30)) {
            byte[] data = new byte[4096];
            data[7] = 42;
            HotHarness.await(h.submitWrite(5, 3, data, 9));
            try (FileChannel file = FileChannel.open(h.hot.dataPath(), StandardOpenOption.WRITE)) {
                file.write(ByteBuffer.wrap(new byte[] {1}), 7); // slot 0, the only one used
            }
            ByteBuf out = Unpooled.buffer(4096);
            assertThatThrownBy(() -> h.hot.read(5, 3, out))
                    .isInstanceOfSatisfying(CsException.class,
                            e -> assertThat(e.status()).isEqualTo(CsStatus.CORRUPT_BLOCK))
                    .hasMessageContaining("corrupt hot block: chunk 5 block 3 slot 0");
            assertThat(out.readableBytes()).isZero();
            assertThat(h.hot.corruptBlocks()).isEqualTo(1);
        }
    }

    @Test
    void aFullStoreRefusesWithHotFullAndFreesMakeRoom() throws Exception {
        try (HotHarness h = new HotHarness(dir, 4 * 4096L, 1L << 30)) {
            HotHarness.await(h.submitWrite(1, 0, new byte[3 * 4096], 1));
            assertThatThrownBy(() -> HotHarness.await(h.submitWrite(1, 8, new byte[2 * 4096], 2)))
                    .isInstanceOfSatisfying(CsException.class, e -> assertThat(e.status()).isEqualTo(CsStatus.HOT_FULL))
                    .hasMessageContaining("3 of 4 slots used");
            assertThat(h.hot.usedSlots()).isEqualTo(3);
            // An overwrite needs new slots first (redirect-on-write): 1 free slot takes a 1-block rewrite.
            HotHarness.await(h.submitWrite(1, 0, new byte[4096], 2));
            HotHarness.await(h.submitFree(1, 0, 3, 1)); // frees blocks 1 and 2 (seq 1), keeps block 0 (seq 2)
            assertThat(h.hot.usedSlots()).isEqualTo(1);
            HotHarness.await(h.submitWrite(1, 8, new byte[2 * 4096], 3));
            assertThat(h.hot.blocks(1, 0, 16)).extracting(b -> b[0]).containsExactly(0L, 8L, 9L);
        }
    }

    @Test
    void aMapOfAnUnknownFormatVersionOrDamagedIsRefusedByName() throws Exception {
        try (HotHarness h = new HotHarness(dir, 4 * 4096L, 1L << 30)) {
            HotHarness.await(h.submitWrite(1, 0, new byte[4096], 1));
        } // close checkpoints: hot.map written
        Path map = dir.resolve("hot").resolve(HotStore.MAP_FILE);
        byte[] bytes = Files.readAllBytes(map);
        bytes[4] = 2;
        Files.write(map, bytes);
        assertThatThrownBy(() -> HotStore.open(dir.resolve("hot"), 4 * 4096L)).isInstanceOf(IOException.class)
                .hasMessageContaining("format version 2; this build knows 1");
        bytes[4] = 1;
        bytes[30] ^= 1;
        Files.write(map, bytes);
        assertThatThrownBy(() -> HotStore.open(dir.resolve("hot"), 4 * 4096L)).isInstanceOf(IOException.class)
                .hasMessageContaining("fails its CRC32C");
    }
}
