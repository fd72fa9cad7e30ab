package io.basalt.chunkserver.store;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.ByteBuffer;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.constraints.IntRange;
import net.jqwik.api.constraints.LongRange;

class BlockMetadataProperties {
    @Property
    void entriesRoundTrip(@ForAll long chunkUid, @ForAll @LongRange(min = 0, max = 1 << 20) long blockIndex,
            @ForAll @LongRange(min = 1) long lsn, @ForAll @LongRange(min = 0) long version, @ForAll int blockCrc) {
        ByteBuffer buffer = ByteBuffer.allocate(BlockMetadataFormat.ENTRY_BYTES);
        BlockMetadataFormat.putEntry(buffer, 0, chunkUid, blockIndex, lsn, version, blockCrc);
        assertThat(entry(buffer, chunkUid, blockIndex)).isEqualTo(new BlockMetadataFormat.Entry(lsn, version, blockCrc));
        // Read as another block's entry (a misdirected write): detected.
        assertThat(entry(buffer, chunkUid, blockIndex + 1).lsn()).isEqualTo(BlockMetadataFormat.LSN_CORRUPT);
    }

    @Property
    void aTrimKeepsItsVersionAndReadsAsNoData(@ForAll long chunkUid,
            @ForAll @LongRange(min = 0, max = 1 << 20) long blockIndex, @ForAll @LongRange(min = 1) long version) {
        ByteBuffer buffer = ByteBuffer.allocate(BlockMetadataFormat.ENTRY_BYTES);
        BlockMetadataFormat.putEntry(buffer, 0, chunkUid, blockIndex, 0, version, 1234);
        assertThat(entry(buffer, chunkUid, blockIndex)).isEqualTo(new BlockMetadataFormat.Entry(0, version, 0));
    }

    private static BlockMetadataFormat.Entry entry(ByteBuffer buffer, long chunkUid, long blockIndex) {
        return BlockMetadataFormat.entry(buffer, 0, chunkUid, blockIndex, BlockMetadataFormat.FORMAT_VERSION);
    }

    @Property
    void anyFlippedBitMakesTheEntryCorrupt(@ForAll long chunkUid, @ForAll @LongRange(min = 0, max = 1 << 20) long blockIndex,
            @ForAll @LongRange(min = 1) long lsn, @ForAll @LongRange(min = 0) long version, @ForAll int blockCrc,
            @ForAll @IntRange(min = 0, max = 191) int bit) {
        ByteBuffer buffer = ByteBuffer.allocate(BlockMetadataFormat.ENTRY_BYTES);
        BlockMetadataFormat.putEntry(buffer, 0, chunkUid, blockIndex, lsn, version, blockCrc);
        buffer.put(bit / 8, (byte) (buffer.get(bit / 8) ^ (1 << (bit % 8))));
        assertThat(entry(buffer, chunkUid, blockIndex).lsn()).isEqualTo(BlockMetadataFormat.LSN_CORRUPT);
    }

    @Property
    void unwrittenIsAllZero(@ForAll long chunkUid, @ForAll @LongRange(min = 0, max = 1 << 20) long blockIndex) {
        ByteBuffer buffer = ByteBuffer.allocate(BlockMetadataFormat.ENTRY_BYTES);
        BlockMetadataFormat.putEntry(buffer, 0, chunkUid, blockIndex, 0, 0, 0);
        assertThat(buffer.array()).containsOnly(0);
        assertThat(entry(buffer, chunkUid, blockIndex)).isEqualTo(new BlockMetadataFormat.Entry(0, 0, 0));
    }

    @Property(tries = 50)
    void headersRoundTripAndRefuseOthers(@ForAll long chunkUid) {
        ByteBuffer header = BlockMetadataFormat.header(chunkUid, 4096);
        BlockMetadataFormat.checkHeader(header, chunkUid, "x");
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> BlockMetadataFormat.checkHeader(header, chunkUid + 1, "x"))
                .hasMessageContaining("is for chunk");
        ByteBuffer future = header.duplicate();
        ByteBuffer copy = ByteBuffer.allocate(64).put(future).flip();
        copy.put(4, (byte) 9);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> BlockMetadataFormat.checkHeader(copy, chunkUid, "x"))
                .hasMessageContaining("CRC");
    }
}
