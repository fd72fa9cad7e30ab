package io.basalt.nbd;

import io.netty.buffer.ByteBuf;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;

/** A blocking raw NBD client for protocol tests: it sends exactly the bytes a test asks for. */
final class NbdTestClient implements AutoCloseable {
    final Socket socket;
    final DataInputStream in;
    final DataOutputStream out;
    long exportSize;
    int transmissionFlags;

    record OptionReply(int option, int type, byte[] data) {}

    /** A reply: simple (type -1) or one structured chunk. */
    record Reply(boolean structured, int flags, int type, long handle, int error, byte[] payload) {}

    NbdTestClient(InetSocketAddress address) throws IOException {
        socket = new Socket();
        socket.connect(address, 5000);
        socket.setSoTimeout(10_000);
        socket.setTcpNoDelay(true);
        in = new DataInputStream(socket.getInputStream());
        out = new DataOutputStream(socket.getOutputStream());
    }

    /** Greeting, client flags (fixed newstyle, no zeroes). */
    NbdTestClient handshake() throws IOException {
        if (in.readLong() != NbdProtocol.NBDMAGIC || in.readLong() != NbdProtocol.IHAVEOPT) {
            throw new IOException("bad greeting");
        }
        in.readUnsignedShort();
        out.writeInt(NbdProtocol.FLAG_C_FIXED_NEWSTYLE | NbdProtocol.FLAG_C_NO_ZEROES);
        return this;
    }

    void send(ByteBuf buf) throws IOException {
        out.write(NbdWire.bytes(buf));
        out.flush();
    }

    OptionReply option(int option, byte[] data) throws IOException {
        send(NbdWire.option(option, data));
        return readOptionReply();
    }

    OptionReply readOptionReply() throws IOException {
        long magic = in.readLong();
        if (magic != NbdProtocol.OPTION_REPLY_MAGIC) {
            throw new IOException("bad option reply magic " + Long.toHexString(magic));
        }
        int option = in.readInt();
        int type = in.readInt();
        byte[] data = new byte[in.readInt()];
        in.readFully(data);
        return new OptionReply(option, type, data);
    }

    /** STRUCTURED_REPLY (optional), SET_META_CONTEXT base:allocation (if structured), GO. */
    NbdTestClient open(String export, boolean structured) throws IOException {
        handshake();
        if (structured) {
            expect(option(NbdProtocol.OPT_STRUCTURED_REPLY, new byte[0]), NbdProtocol.REP_ACK);
            expect(option(NbdProtocol.OPT_SET_META_CONTEXT, NbdWire.metaContextData(export, NbdProtocol.BASE_ALLOCATION)),
                    NbdProtocol.REP_META_CONTEXT);
            expect(readOptionReply(), NbdProtocol.REP_ACK);
        }
        send(NbdWire.option(NbdProtocol.OPT_GO, NbdWire.goData(export)));
        while (true) {
            OptionReply reply = readOptionReply();
            if (reply.type() == NbdProtocol.REP_ACK) {
                return this;
            }
            if (reply.type() != NbdProtocol.REP_INFO) {
                throw new IOException("GO refused: type 0x" + Integer.toHexString(reply.type()) + " " + new String(reply.data()));
            }
            java.nio.ByteBuffer info = java.nio.ByteBuffer.wrap(reply.data());
            if (info.getShort() == NbdProtocol.INFO_EXPORT) {
                exportSize = info.getLong();
                transmissionFlags = info.getShort() & 0xFFFF;
            }
        }
    }

    static void expect(OptionReply reply, int type) throws IOException {
        if (reply.type() != type) {
            throw new IOException("expected reply type 0x" + Integer.toHexString(type) + ", got 0x"
                    + Integer.toHexString(reply.type()) + " " + new String(reply.data()));
        }
    }

    void request(int flags, int type, long handle, long offset, long length, byte[] payload) throws IOException {
        send(NbdWire.request(flags, type, handle, offset, length, payload));
    }

    /** Reads one reply; for a simple reply to a read, pass the data length to expect. */
    Reply readReply(int simpleReadLength) throws IOException {
        int magic = in.readInt();
        if (magic == NbdProtocol.SIMPLE_REPLY_MAGIC) {
            int error = in.readInt();
            long handle = in.readLong();
            byte[] data = new byte[error == 0 ? simpleReadLength : 0];
            in.readFully(data);
            return new Reply(false, 0, -1, handle, error, data);
        }
        if (magic != NbdProtocol.STRUCTURED_REPLY_MAGIC) {
            throw new IOException("bad reply magic " + Integer.toHexString(magic));
        }
        int flags = in.readUnsignedShort();
        int type = in.readUnsignedShort();
        long handle = in.readLong();
        byte[] payload = new byte[in.readInt()];
        in.readFully(payload);
        int error = (type & 0x8000) != 0 ? java.nio.ByteBuffer.wrap(payload).getInt() : 0;
        return new Reply(true, flags, type, handle, error, payload);
    }

    /** True when the server closed the connection (EOF) within the socket timeout. */
    boolean closedByServer() {
        try {
            return in.read() < 0;
        } catch (EOFException e) {
            return true;
        } catch (IOException e) {
            return e.getMessage() != null && e.getMessage().contains("reset");
        }
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
