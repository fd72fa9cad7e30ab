package io.basalt.protocol.data;

import io.netty.buffer.ByteBuf;
import java.util.zip.CRC32C;

/**
 * The payload of an INFO reply (docs/formats.md, "Data protocol frame"), written by the chunk server
 * and read by every client of it in one place. Three lengths exist: 56 bytes (with the content
 * digest), 48 (a server from before the digest: {@link #hasDigest} false) and 40 (from before the
 * hot tier: no hotBytes either, read as 0). Each ends with the CRC32C of what precedes it.
 *
 * @param knownVersion the version the server fences the chunk at (-1: none)
 * @param contentDigest Chunklet.contentDigest: equal on replicas that read the same (when {@link #hasDigest})
 */
public record InfoReply(long knownVersion, long writtenBlocks, long allocatedBytes, long lastLsn, boolean exists,
                        long hotBytes, long contentDigest, boolean hasDigest) {

    /** Appends the payload ({@link DataFrame#INFO_PAYLOAD_BYTES}, digest included) to {@code out}. */
    public void writeTo(ByteBuf out) {
        int at = out.writerIndex();
        out.writeLong(knownVersion).writeLong(writtenBlocks).writeLong(allocatedBytes).writeLong(lastLsn)
                .writeInt(exists ? 1 : 0).writeLong(hotBytes).writeLong(contentDigest);
        CRC32C crc = new CRC32C();
        crc.update(out.nioBuffer(at, DataFrame.INFO_PAYLOAD_BYTES - 4));
        out.writeInt((int) crc.getValue());
    }

    /** The payload read from {@code payload}'s readable bytes; null when it is short or fails its CRC32C. */
    public static InfoReply read(ByteBuf payload) {
        int length = payload.readableBytes();
        int size = length >= DataFrame.INFO_PAYLOAD_BYTES ? DataFrame.INFO_PAYLOAD_BYTES
                : length >= DataFrame.INFO_PAYLOAD_BYTES_V2 ? DataFrame.INFO_PAYLOAD_BYTES_V2
                : length >= DataFrame.INFO_PAYLOAD_BYTES_V1 ? DataFrame.INFO_PAYLOAD_BYTES_V1 : -1;
        if (size < 0) {
            return null;
        }
        int at = payload.readerIndex();
        CRC32C crc = new CRC32C();
        crc.update(payload.nioBuffer(at, size - 4));
        if ((int) crc.getValue() != payload.getInt(at + size - 4)) {
            return null; // damaged on the way: not an answer
        }
        boolean withHot = size >= DataFrame.INFO_PAYLOAD_BYTES_V2;
        boolean withDigest = size >= DataFrame.INFO_PAYLOAD_BYTES;
        return new InfoReply(payload.getLong(at), payload.getLong(at + 8), payload.getLong(at + 16),
                payload.getLong(at + 24), payload.getInt(at + 32) != 0, withHot ? payload.getLong(at + 36) : 0,
                withDigest ? payload.getLong(at + DataFrame.INFO_CONTENT_DIGEST_OFFSET) : 0, withDigest);
    }
}
