package io.basalt.cli.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.fail;

import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketException;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;

/**
 * A deliberately dumb NBD client over a plain socket, for sending what libnbd never would. It
 * speaks fixed newstyle with simple replies only (no NBD_OPT_STRUCTURED_REPLY), so every reply
 * to a transmission request is the 16-byte simple reply, plus data for a successful READ.
 *
 * <pre>
 * greeting (server)   : u64 "NBDMAGIC" | u64 "IHAVEOPT" | u16 handshake flags
 * client flags        : u32
 * option (client)     : u64 IHAVEOPT | u32 option | u32 length | data
 * option reply        : u64 0x3e889045565a9 | u32 option | u32 reply type | u32 length | data
 * request             : u32 0x25609513 | u16 flags | u16 type | u64 cookie | u64 offset | u32 length
 * simple reply        : u32 0x67446698 | u32 error | u64 cookie | data (READ)
 * </pre>
 * All integers big-endian (network order), as Java's Data streams are.
 */
final class RawNbdClient implements AutoCloseable {
    static final long NBDMAGIC = 0x4e42444d41474943L;
    static final long IHAVEOPT = 0x49484156454F5054L;
    static final long OPTION_REPLY_MAGIC = 0x3e889045565a9L;
    static final int REQUEST_MAGIC = 0x25609513;
    static final int SIMPLE_REPLY_MAGIC = 0x67446698;

    static final int FLAG_FIXED_NEWSTYLE = 1;
    static final int FLAG_NO_ZEROES = 2;

    static final int OPT_EXPORT_NAME = 1;
    static final int OPT_ABORT = 2;
    static final int OPT_LIST = 3;
    static final int OPT_INFO = 6;
    static final int OPT_GO = 7;
    static final int OPT_STRUCTURED_REPLY = 8;
    static final int OPT_EXTENDED_HEADERS = 11;

    static final int REP_ACK = 1;
    static final int REP_SERVER = 2;
    static final int REP_INFO = 3;
    static final int REP_ERR_UNSUP = 0x80000001;
    static final int REP_ERR_INVALID = 0x80000003;
    static final int REP_ERR_UNKNOWN = 0x80000006;
    static final int REP_ERR_TOO_BIG = 0x80000009;

    static final int INFO_EXPORT = 0;
    static final int INFO_BLOCK_SIZE = 3;

    static final int CMD_READ = 0;
    static final int CMD_WRITE = 1;
    static final int CMD_DISC = 2;
    static final int CMD_FLUSH = 3;

    static final int CMD_FLAG_FUA = 1;

    static final int EPERM = 1;
    static final int EINVAL = 22;
    static final int ENOSPC = 28;

    /** Long enough for a loaded 2-core CI box, short enough that a hang fails the test. */
    static final int READ_TIMEOUT_MILLIS = 20_000;

    private final Socket socket;
    final DataInputStream in;
    final DataOutputStream out;

    record OptionReply(long magic, int option, int type, byte[] data) {
        void assertIs(int expectedOption, int expectedType) {
            assertThat(magic).as("option reply magic").isEqualTo(OPTION_REPLY_MAGIC);
            assertThat(option).as("option echoed in reply").isEqualTo(expectedOption);
            assertThat(type).as("option reply type: expected 0x%x, got 0x%x (%s)",
                    expectedType, type, text()).isEqualTo(expectedType);
        }

        String text() {
            return new String(data, StandardCharsets.UTF_8);
        }
    }

    record SimpleReply(int magic, int error, long cookie, byte[] data) {
        void assertIs(long expectedCookie, int expectedError) {
            assertThat(magic).as("simple reply magic").isEqualTo(SIMPLE_REPLY_MAGIC);
            assertThat(cookie).as("cookie echoed in reply").isEqualTo(expectedCookie);
            assertThat(error).as("reply error").isEqualTo(expectedError);
        }
    }

    /** What NBD_OPT_GO / EXPORT_NAME told us about the export. */
    record Export(long sizeBytes, int transmissionFlags) {}

    private RawNbdClient(Socket socket) throws IOException {
        this.socket = socket;
        this.in = new DataInputStream(socket.getInputStream());
        this.out = new DataOutputStream(new BufferedOutputStream(socket.getOutputStream(), 1 << 16));
    }

    static RawNbdClient connect(int port) throws IOException {
        Socket socket = new Socket();
        socket.connect(new InetSocketAddress(InetAddress.getLoopbackAddress(), port), 5_000);
        socket.setSoTimeout(READ_TIMEOUT_MILLIS);
        socket.setTcpNoDelay(true);
        return new RawNbdClient(socket);
    }

    /** Connects and completes the handshake with NBD_OPT_GO for {@code exportName}. */
    static RawNbdClient open(int port, String exportName) throws IOException {
        RawNbdClient client = connect(port);
        try {
            client.readGreeting();
            client.sendClientFlags(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES);
            client.go(exportName);
            return client;
        } catch (IOException | RuntimeException | Error e) {
            client.close();
            throw e;
        }
    }

    /** Reads the server's greeting, checks both magics and returns the handshake flags. */
    int readGreeting() throws IOException {
        assertThat(in.readLong()).as("NBDMAGIC").isEqualTo(NBDMAGIC);
        assertThat(in.readLong()).as("IHAVEOPT").isEqualTo(IHAVEOPT);
        int flags = in.readUnsignedShort();
        assertThat(flags & FLAG_FIXED_NEWSTYLE).as("server handshake flags %d: fixed newstyle", flags)
                .isEqualTo(FLAG_FIXED_NEWSTYLE);
        return flags;
    }

    void sendClientFlags(int flags) throws IOException {
        out.writeInt(flags);
        out.flush();
    }

    void sendOption(int option, byte[] data) throws IOException {
        sendOptionHeader(IHAVEOPT, option, data.length);
        out.write(data);
        out.flush();
    }

    void sendOptionHeader(long magic, int option, int length) throws IOException {
        out.writeLong(magic);
        out.writeInt(option);
        out.writeInt(length);
        out.flush();
    }

    OptionReply readOptionReply() throws IOException {
        long magic;
        try {
            magic = in.readLong();
        } catch (SocketTimeoutException e) {
            throw new AssertionError("no option reply within " + READ_TIMEOUT_MILLIS
                    + " ms: the server hangs in the handshake", e);
        }
        int option = in.readInt();
        int type = in.readInt();
        int length = in.readInt();
        assertThat(Integer.toUnsignedLong(length)).as("option reply length").isLessThanOrEqualTo(1 << 20);
        byte[] data = new byte[length];
        in.readFully(data);
        return new OptionReply(magic, option, type, data);
    }

    /** Data of NBD_OPT_INFO / NBD_OPT_GO: u32 name length, name, u16 count, u16 info types. */
    static byte[] infoRequest(String exportName, int... infoTypes) {
        byte[] name = exportName.getBytes(StandardCharsets.UTF_8);
        ByteBuffer data = ByteBuffer.allocate(4 + name.length + 2 + 2 * infoTypes.length);
        data.putInt(name.length).put(name).putShort((short) infoTypes.length);
        for (int type : infoTypes) {
            data.putShort((short) type);
        }
        return data.array();
    }

    /** NBD_OPT_GO; reads NBD_REP_INFO replies up to NBD_REP_ACK; fails on an error reply. */
    Export go(String exportName) throws IOException {
        sendOption(OPT_GO, infoRequest(exportName, INFO_BLOCK_SIZE));
        return readInfoReplies(OPT_GO);
    }

    Export readInfoReplies(int option) throws IOException {
        long size = -1;
        int flags = -1;
        for (int i = 0; i < 64; i++) {
            OptionReply reply = readOptionReply();
            assertThat(reply.magic()).as("option reply magic").isEqualTo(OPTION_REPLY_MAGIC);
            assertThat(reply.option()).as("option echoed").isEqualTo(option);
            if (reply.type() == REP_ACK) {
                assertThat(size).as("NBD_INFO_EXPORT sent before ACK").isGreaterThanOrEqualTo(0);
                return new Export(size, flags);
            }
            if (reply.type() != REP_INFO) {
                fail("option %d answered with reply type 0x%x: %s", option, reply.type(), reply.text());
            }
            ByteBuffer info = ByteBuffer.wrap(reply.data());
            int infoType = info.getShort() & 0xffff;
            if (infoType == INFO_EXPORT) {
                assertThat(reply.data()).as("NBD_INFO_EXPORT length").hasSize(12);
                size = info.getLong();
                flags = info.getShort() & 0xffff;
            }
        }
        throw new AssertionError("no NBD_REP_ACK after 64 replies to option " + option);
    }

    void sendRequest(int flags, int type, long cookie, long offset, int length) throws IOException {
        sendRequest(REQUEST_MAGIC, flags, type, cookie, offset, length);
    }

    void sendRequest(int magic, int flags, int type, long cookie, long offset, int length) throws IOException {
        out.writeInt(magic);
        out.writeShort(flags);
        out.writeShort(type);
        out.writeLong(cookie);
        out.writeLong(offset);
        out.writeInt(length);
    }

    /** Reads one simple reply; {@code dataLength} bytes follow it only when error is 0. */
    SimpleReply readSimpleReply(int dataLength) throws IOException {
        int magic = in.readInt();
        int error = in.readInt();
        long cookie = in.readLong();
        byte[] data = new byte[error == 0 ? dataLength : 0];
        in.readFully(data);
        return new SimpleReply(magic, error, cookie, data);
    }

    byte[] read(long cookie, long offset, int length) throws IOException {
        sendRequest(0, CMD_READ, cookie, offset, length);
        out.flush();
        SimpleReply reply = readSimpleReply(length);
        reply.assertIs(cookie, 0);
        return reply.data();
    }

    void write(long cookie, long offset, byte[] data, int flags) throws IOException {
        sendRequest(flags, CMD_WRITE, cookie, offset, data.length);
        out.write(data);
        out.flush();
        readSimpleReply(0).assertIs(cookie, 0);
    }

    void flush(long cookie) throws IOException {
        sendRequest(0, CMD_FLUSH, cookie, 0, 0);
        out.flush();
        readSimpleReply(0).assertIs(cookie, 0);
    }

    /** NBD_CMD_DISC: no reply; the server closes after finishing what is in flight. */
    void disconnect() throws IOException {
        sendRequest(0, CMD_DISC, 0xd15c, 0, 0);
        out.flush();
    }

    /**
     * Asserts that the server closes the connection (EOF or reset) within the read timeout,
     * skipping whatever it sends first. A server that keeps the connection open fails the test.
     */
    void assertClosedByServer(String why) throws IOException {
        byte[] sink = new byte[8192];
        long skipped = 0;
        try {
            while (true) {
                int n = in.read(sink);
                if (n < 0) {
                    return;
                }
                skipped += n;
                if (skipped > (1 << 20)) {
                    fail("server sent over 1 MiB instead of closing the connection (" + why + ")");
                }
            }
        } catch (SocketTimeoutException e) {
            fail("server did not close the connection within " + READ_TIMEOUT_MILLIS + " ms (" + why
                    + "); it sent " + skipped + " bytes");
        } catch (EOFException | SocketException closed) {
            // Reset by the server: closed as well.
        }
    }

    void shutdownOutput() throws IOException {
        out.flush();
        socket.shutdownOutput();
    }

    @Override
    public void close() throws IOException {
        socket.close();
    }
}
