package io.basalt.meta.api;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.SocketChannel;

/**
 * The frame both ends of a meta member's local admin socket write (docs/formats.md, "Admin socket
 * frame"): a version, a kind and a length before a {@link MetaRequest} or {@link MetaReply} in
 * its encoded form, which carries its own format version and CRC32C.
 */
public final class AdminSocketFrame {
    /** The socket's file name in a meta member's data directory. */
    public static final String SOCKET_FILE = "admin.sock";
    public static final int FORMAT_VERSION = 1;
    public static final int KIND_REQUEST = 1;
    public static final int KIND_REPLY = 2;
    public static final int HEADER_BYTES = 6;
    /** Larger than any request or reply meta sends (listings are paged). */
    public static final int PAYLOAD_BYTES_MAX = 64 << 20;

    private AdminSocketFrame() {}

    public static void write(SocketChannel channel, int kind, byte[] payload) throws IOException {
        ByteBuffer frame = ByteBuffer.allocate(HEADER_BYTES + payload.length);
        frame.put((byte) FORMAT_VERSION).put((byte) kind).putInt(payload.length).put(payload).flip();
        while (frame.hasRemaining()) {
            channel.write(frame);
        }
    }

    /**
     * The payload of the next frame, which must be of {@code kind}; null on a clean end of
     * stream before a frame. A malformed header throws {@link MalformedMessageException}
     * (the payload's own version and CRC are its decoder's to check).
     */
    public static byte[] read(SocketChannel channel, int kind) throws IOException {
        ByteBuffer header = ByteBuffer.allocate(HEADER_BYTES);
        if (!readFully(channel, header)) {
            if (header.position() == 0 && kind == KIND_REQUEST) {
                return null;
            }
            throw new IOException("connection closed");
        }
        header.flip();
        int version = header.get() & 0xff;
        int actualKind = header.get() & 0xff;
        int length = header.getInt();
        if (version != FORMAT_VERSION) {
            throw new MalformedMessageException("admin socket frame version " + version + " (this end knows "
                    + FORMAT_VERSION + ")");
        }
        if (actualKind != kind) {
            throw new MalformedMessageException("admin socket frame of kind " + actualKind + ", expected " + kind);
        }
        if (length < 0 || length > PAYLOAD_BYTES_MAX) {
            throw new MalformedMessageException("admin socket frame of " + length + " bytes (at most "
                    + PAYLOAD_BYTES_MAX + ")");
        }
        ByteBuffer payload = ByteBuffer.allocate(length);
        if (!readFully(channel, payload)) {
            throw new IOException("connection closed inside a frame");
        }
        return payload.array();
    }

    /** False when the stream ended first. */
    private static boolean readFully(SocketChannel channel, ByteBuffer buffer) throws IOException {
        while (buffer.hasRemaining()) {
            if (channel.read(buffer) < 0) {
                return false;
            }
        }
        return true;
    }
}
