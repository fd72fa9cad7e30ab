package io.basalt.protocol.data;

import io.netty.buffer.ByteBuf;
import java.nio.ByteBuffer;
import java.util.zip.CRC32C;

/**
 * CRC32C of 4 KiB blocks, the unit of end-to-end checksums (ARCHITECTURE.md, "On disk"). Uses the
 * JDK's {@link CRC32C}, which the JIT turns into the CPU's CRC32C instructions.
 */
public final class BlockCrc {
    public static final int BLOCK_SIZE_BYTES = 4096;
    public static final int BLOCK_SHIFT = 12;
    /** CRC32C of a block of zeroes: what an unwritten (thin) block carries on the wire. */
    public static final int ZERO_BLOCK_CRC;

    static {
        assert 1 << BLOCK_SHIFT == BLOCK_SIZE_BYTES;
        ZERO_BLOCK_CRC = of(ByteBuffer.allocate(BLOCK_SIZE_BYTES));
    }

    private BlockCrc() {}

    /** One reusable CRC32C per thread: the hot path allocates nothing per block. */
    private static final ThreadLocal<CRC32C> SCRATCH = ThreadLocal.withInitial(CRC32C::new);

    /**
     * A view of {@code blocks} whole blocks of {@code buf} from {@code index} for {@link #ofBlock}, or
     * null when the bytes are not contiguous (then use {@link #of(ByteBuf, int, int)} per block). One
     * view per request instead of one per block.
     */
    public static ByteBuffer blocksView(ByteBuf buf, int index, int blocks) {
        return buf.nioBufferCount() == 1 ? buf.nioBuffer(index, blocks << BLOCK_SHIFT) : null;
    }

    /** CRC32C of block {@code blockIndex} of a {@link #blocksView}; moves the view's position/limit. */
    public static int ofBlock(ByteBuffer view, int blockIndex) {
        int start = blockIndex << BLOCK_SHIFT;
        view.clear().position(start).limit(start + BLOCK_SIZE_BYTES);
        CRC32C crc = SCRATCH.get();
        crc.reset();
        crc.update(view);
        return (int) crc.getValue();
    }

    /** CRC32C of block {@code blockIndex} of the range at {@code index}, through the view when there is one. */
    public static int ofBlock(ByteBuffer viewOrNull, ByteBuf buf, int index, int blockIndex) {
        return viewOrNull != null ? ofBlock(viewOrNull, blockIndex)
                : of(buf, index + (blockIndex << BLOCK_SHIFT), BLOCK_SIZE_BYTES);
    }

    /** CRC32C of the remaining bytes of {@code buffer}; its position is left unchanged. */
    public static int of(ByteBuffer buffer) {
        CRC32C crc = new CRC32C();
        crc.update(buffer.duplicate());
        return (int) crc.getValue();
    }

    /** CRC32C of {@code length} bytes of {@code buf} from {@code index}; indices unchanged. */
    public static int of(ByteBuf buf, int index, int length) {
        CRC32C crc = new CRC32C();
        if (buf.nioBufferCount() == 1) {
            crc.update(buf.nioBuffer(index, length));
        } else {
            for (ByteBuffer part : buf.nioBuffers(index, length)) {
                crc.update(part);
            }
        }
        return (int) crc.getValue();
    }

    /** Checks the CRC32C sent with each of {@code blocks} blocks at {@code dataAt} (CRCs follow the data). */
    public static void verify(ByteBuf frame, int dataAt, long offsetBytes, int blocks, long chunkUid)
            throws CsException {
        int crcsAt = dataAt + (blocks << BLOCK_SHIFT);
        java.nio.ByteBuffer view = blocksView(frame, dataAt, blocks);
        for (int i = 0; i < blocks; i++) {
            int sent = frame.getInt(crcsAt + 4 * i);
            int computed = ofBlock(view, frame, dataAt, i);
            if (sent != computed) {
                throw new CsException(CsStatus.BAD_CRC, "block at offset " + (offsetBytes + ((long) i << BLOCK_SHIFT))
                        + " of chunk " + Long.toHexString(chunkUid) + ": crc32c sent " + Integer.toHexString(sent)
                        + ", data has " + Integer.toHexString(computed));
            }
        }
    }

}
