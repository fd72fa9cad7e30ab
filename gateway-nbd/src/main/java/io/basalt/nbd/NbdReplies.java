package io.basalt.nbd;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import java.nio.charset.StandardCharsets;

/**
 * Builds NBD replies (layouts drawn in {@link NbdProtocol}). Every method returns a new buffer from
 * the given allocator, owned by the caller (who normally hands it to {@code writeAndFlush}).
 */
public final class NbdReplies {
    /** Error messages are cut to this many bytes: they are for people, not for payloads. */
    private static final int MESSAGE_BYTES_MAX = 1024;

    private NbdReplies() {}

    public static ByteBuf greeting(ByteBufAllocator alloc, int handshakeFlags) {
        ByteBuf out = alloc.buffer(NbdProtocol.GREETING_BYTES);
        out.writeLong(NbdProtocol.NBDMAGIC);
        out.writeLong(NbdProtocol.IHAVEOPT);
        out.writeShort(handshakeFlags);
        return out;
    }

    /** An option reply with no data. */
    public static ByteBuf optionReply(ByteBufAllocator alloc, int option, int replyType) {
        ByteBuf out = alloc.buffer(NbdProtocol.OPTION_REPLY_HEADER_BYTES);
        writeOptionReplyHeader(out, option, replyType, 0);
        return out;
    }

    /** An option error reply carrying a message for people. */
    public static ByteBuf optionError(ByteBufAllocator alloc, int option, int replyType, String message) {
        byte[] text = truncatedUtf8(message);
        ByteBuf out = alloc.buffer(NbdProtocol.OPTION_REPLY_HEADER_BYTES + text.length);
        writeOptionReplyHeader(out, option, replyType, text.length);
        out.writeBytes(text);
        return out;
    }

    /** NBD_REP_SERVER: u32 name length, name, description. */
    public static ByteBuf serverReply(ByteBufAllocator alloc, String name, String description) {
        byte[] nameBytes = name.getBytes(StandardCharsets.UTF_8);
        byte[] descriptionBytes = description.getBytes(StandardCharsets.UTF_8);
        int length = 4 + nameBytes.length + descriptionBytes.length;
        ByteBuf out = alloc.buffer(NbdProtocol.OPTION_REPLY_HEADER_BYTES + length);
        writeOptionReplyHeader(out, NbdProtocol.OPT_LIST, NbdProtocol.REP_SERVER, length);
        out.writeInt(nameBytes.length);
        out.writeBytes(nameBytes);
        out.writeBytes(descriptionBytes);
        return out;
    }

    /** NBD_REP_INFO / NBD_INFO_EXPORT: u16 type, u64 size, u16 transmission flags. */
    public static ByteBuf infoExport(ByteBufAllocator alloc, int option, long sizeBytes, int transmissionFlags) {
        ByteBuf out = alloc.buffer(NbdProtocol.OPTION_REPLY_HEADER_BYTES + 12);
        writeOptionReplyHeader(out, option, NbdProtocol.REP_INFO, 12);
        out.writeShort(NbdProtocol.INFO_EXPORT);
        out.writeLong(sizeBytes);
        out.writeShort(transmissionFlags);
        return out;
    }

    /** NBD_REP_INFO / NBD_INFO_NAME or NBD_INFO_DESCRIPTION: u16 type, string. */
    public static ByteBuf infoString(ByteBufAllocator alloc, int option, int infoType, String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        ByteBuf out = alloc.buffer(NbdProtocol.OPTION_REPLY_HEADER_BYTES + 2 + bytes.length);
        writeOptionReplyHeader(out, option, NbdProtocol.REP_INFO, 2 + bytes.length);
        out.writeShort(infoType);
        out.writeBytes(bytes);
        return out;
    }

    /** NBD_REP_INFO / NBD_INFO_BLOCK_SIZE: u16 type, u32 minimum, u32 preferred, u32 maximum. */
    public static ByteBuf infoBlockSize(ByteBufAllocator alloc, int option, int minimum, int preferred, int maximum) {
        ByteBuf out = alloc.buffer(NbdProtocol.OPTION_REPLY_HEADER_BYTES + 14);
        writeOptionReplyHeader(out, option, NbdProtocol.REP_INFO, 14);
        out.writeShort(NbdProtocol.INFO_BLOCK_SIZE);
        out.writeInt(minimum);
        out.writeInt(preferred);
        out.writeInt(maximum);
        return out;
    }

    /** NBD_REP_META_CONTEXT: u32 context id, name. */
    public static ByteBuf metaContext(ByteBufAllocator alloc, int option, int contextId, String name) {
        byte[] bytes = name.getBytes(StandardCharsets.UTF_8);
        ByteBuf out = alloc.buffer(NbdProtocol.OPTION_REPLY_HEADER_BYTES + 4 + bytes.length);
        writeOptionReplyHeader(out, option, NbdProtocol.REP_META_CONTEXT, 4 + bytes.length);
        out.writeInt(contextId);
        out.writeBytes(bytes);
        return out;
    }

    /** The reply to NBD_OPT_EXPORT_NAME: u64 size, u16 flags, then 124 zeroes unless NO_ZEROES. */
    public static ByteBuf exportNameReply(ByteBufAllocator alloc, long sizeBytes, int transmissionFlags,
            boolean noZeroes) {
        int zeroes = noZeroes ? 0 : NbdProtocol.EXPORT_NAME_REPLY_ZEROES;
        ByteBuf out = alloc.buffer(10 + zeroes);
        out.writeLong(sizeBytes);
        out.writeShort(transmissionFlags);
        out.writeZero(zeroes);
        return out;
    }

    private static void writeOptionReplyHeader(ByteBuf out, int option, int replyType, int length) {
        out.writeLong(NbdProtocol.OPTION_REPLY_MAGIC);
        out.writeInt(option);
        out.writeInt(replyType);
        out.writeInt(length);
    }

    /**
     * A simple reply header, with room for {@code dataCapacity} bytes of READ data to follow.
     */
    public static ByteBuf simpleReply(ByteBufAllocator alloc, long handle, int error, int dataCapacity) {
        ByteBuf out = alloc.directBuffer(NbdProtocol.SIMPLE_REPLY_HEADER_BYTES + dataCapacity);
        out.writeInt(NbdProtocol.SIMPLE_REPLY_MAGIC);
        out.writeInt(error);
        out.writeLong(handle);
        return out;
    }

    /** Writes a structured reply chunk header into {@code out}. */
    public static void writeChunkHeader(ByteBuf out, long handle, int flags, int type, int length) {
        out.writeInt(NbdProtocol.STRUCTURED_REPLY_MAGIC);
        out.writeShort(flags);
        out.writeShort(type);
        out.writeLong(handle);
        out.writeInt(length);
    }

    /**
     * The header of a final OFFSET_DATA chunk (header, u64 offset), with room for the data to follow.
     */
    public static ByteBuf offsetDataChunk(ByteBufAllocator alloc, long handle, long offset, int dataLength) {
        ByteBuf out = alloc.directBuffer(NbdProtocol.STRUCTURED_REPLY_HEADER_BYTES + 8 + dataLength);
        writeChunkHeader(out, handle, NbdProtocol.REPLY_FLAG_DONE, NbdProtocol.REPLY_TYPE_OFFSET_DATA, 8 + dataLength);
        out.writeLong(offset);
        return out;
    }

    /** A final NBD_REPLY_TYPE_NONE chunk: success with no payload. */
    public static ByteBuf noneChunk(ByteBufAllocator alloc, long handle) {
        ByteBuf out = alloc.buffer(NbdProtocol.STRUCTURED_REPLY_HEADER_BYTES);
        writeChunkHeader(out, handle, NbdProtocol.REPLY_FLAG_DONE, NbdProtocol.REPLY_TYPE_NONE, 0);
        return out;
    }

    /** A final NBD_REPLY_TYPE_ERROR chunk: u32 error, u16 message length, message. */
    public static ByteBuf errorChunk(ByteBufAllocator alloc, long handle, int error, String message) {
        byte[] text = truncatedUtf8(message);
        ByteBuf out = alloc.buffer(NbdProtocol.STRUCTURED_REPLY_HEADER_BYTES + 6 + text.length);
        writeChunkHeader(out, handle, NbdProtocol.REPLY_FLAG_DONE, NbdProtocol.REPLY_TYPE_ERROR, 6 + text.length);
        out.writeInt(error);
        out.writeShort(text.length);
        out.writeBytes(text);
        return out;
    }

    /**
     * A final BLOCK_STATUS chunk: u32 context id, then (u32 length, u32 status) per descriptor.
     */
    public static ByteBuf blockStatusChunk(ByteBufAllocator alloc, long handle, int contextId,
            long[] lengths, int[] statuses, int count) {
        int length = 4 + 8 * count;
        ByteBuf out = alloc.buffer(NbdProtocol.STRUCTURED_REPLY_HEADER_BYTES + length);
        writeChunkHeader(out, handle, NbdProtocol.REPLY_FLAG_DONE, NbdProtocol.REPLY_TYPE_BLOCK_STATUS, length);
        out.writeInt(contextId);
        for (int i = 0; i < count; i++) {
            out.writeInt((int) lengths[i]);
            out.writeInt(statuses[i]);
        }
        return out;
    }

    private static byte[] truncatedUtf8(String message) {
        byte[] bytes = (message == null ? "" : message).getBytes(StandardCharsets.UTF_8);
        if (bytes.length <= MESSAGE_BYTES_MAX) {
            return bytes;
        }
        // Cut on a character boundary so the message stays valid UTF-8.
        int end = MESSAGE_BYTES_MAX;
        while (end > 0 && (bytes[end] & 0xC0) == 0x80) {
            end--;
        }
        return java.util.Arrays.copyOf(bytes, end);
    }
}
