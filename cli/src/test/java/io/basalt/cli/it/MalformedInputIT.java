package io.basalt.cli.it;

import static io.basalt.cli.it.RawNbdClient.*;
import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.basalt.cli.it.BasaltProcess.Options;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Malformed input over a raw socket, one kind per test, against one running server. Each kind
 * gets the spec's answer (exact reply bytes where the spec defines them) or a closed connection,
 * and after every test {@link #serverStillServesAndDataIsIntact} proves that the server still
 * works on a NEW connection, that the witness data written at the start is intact, and that a
 * bystander connection open since the start (through every test) still works.
 *
 * <p>Run with {@code -Dbasalt.it.server=nbdkit} the same class checks the raw client against
 * nbdkit; the few answers where Basalt's contract is stricter than the spec (32 MiB limit,
 * NBD_REP_ERR_TOO_BIG, named exports) are then skipped.
 *
 * <p>The server exports {@value #EXPORT} (also served as the default export ""). Layout of the
 * 64 MiB export: witness data at [8 MiB, 9 MiB); each test writes only its own region.
 */
class MalformedInputIT {
    @RegisterExtension
    static final ItResources resources = new ItResources();

    static final String EXPORT = "vol";
    private static final int MIB = 1 << 20;
    private static final long WITNESS_OFFSET = 8L * MIB;
    private static final int WITNESS_LENGTH = MIB;

    private static BasaltProcess server;
    private static byte[] witness;
    private static RawNbdClient bystander;
    private static long nextCookie = 1000;

    @BeforeAll
    static void startServerAndWriteWitness() throws IOException {
        server = resources.start(
                Options.file(resources.tempDir().resolve("disk.img"), "64M").withExportName(EXPORT));
        witness = randomBytes(WITNESS_LENGTH, 42);
        try (RawNbdClient writer = RawNbdClient.open(server.port(), EXPORT)) {
            writer.write(cookie(), WITNESS_OFFSET, witness, 0);
            writer.flush(cookie());
            writer.disconnect();
        }
        bystander = resources.register(RawNbdClient.open(server.port(), ""));
        assertSameBytes(bystander.read(cookie(), WITNESS_OFFSET, WITNESS_LENGTH), witness, "witness");
    }

    @AfterAll
    static void bystanderLeavesPolitely() throws IOException {
        if (bystander != null && server != null && server.isAlive()) {
            bystander.disconnect();
        }
    }

    @AfterEach
    void serverStillServesAndDataIsIntact() throws IOException {
        assertThat(server.isAlive()).as("server process alive").isTrue();
        try (RawNbdClient fresh = RawNbdClient.open(server.port(), EXPORT)) {
            byte[] seen = fresh.read(cookie(), WITNESS_OFFSET, WITNESS_LENGTH);
            if (!Arrays.equals(seen, witness)) {
                // Put it back so that the tests after this one are judged on their own.
                fresh.write(cookie(), WITNESS_OFFSET, witness, CMD_FLAG_FUA);
            }
            assertSameBytes(seen, witness, "witness data read on a new connection");
            byte[] scratch = randomBytes(4096, nextCookie);
            fresh.write(cookie(), 60L * MIB, scratch, CMD_FLAG_FUA);
            assertSameBytes(fresh.read(cookie(), 60L * MIB, 4096), scratch, "scratch write read back");
            fresh.disconnect();
            fresh.assertClosedByServer("after NBD_CMD_DISC");
        }
        assertSameBytes(bystander.read(cookie(), WITNESS_OFFSET, WITNESS_LENGTH), witness,
                "witness data read on the bystander connection open since the start");
    }

    // ---- handshake -----------------------------------------------------------------------------

    @Test
    void clientSpeaksHttpInsteadOfNbd() throws IOException {
        try (RawNbdClient client = RawNbdClient.connect(server.port())) {
            client.readGreeting();
            client.out.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n".getBytes(StandardCharsets.US_ASCII));
            client.out.flush();
            client.assertClosedByServer("HTTP request instead of client flags");
        }
    }

    /**
     * A client may send its flags and first option without waiting (qemu and libnbd do; on a busy
     * server both arrive in one read). Every other test here relies on this too.
     */
    @Test
    void clientFlagsAndFirstOptionInOneSegment() throws IOException {
        try (RawNbdClient client = RawNbdClient.connect(server.port())) {
            client.readGreeting();
            client.out.writeInt(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES);
            byte[] go = infoRequest(EXPORT);
            client.out.writeLong(IHAVEOPT);
            client.out.writeInt(OPT_GO);
            client.out.writeInt(go.length);
            client.out.write(go);
            client.out.flush(); // one write: flags, option header and data together
            Export export = client.readInfoReplies(OPT_GO);
            assertThat(export.sizeBytes()).isEqualTo(64L * MIB);
            assertStillUsable(client);
        }
    }

    @Test
    void unknownClientFlagsCloseTheConnection() throws IOException {
        try (RawNbdClient client = RawNbdClient.connect(server.port())) {
            client.readGreeting();
            client.sendClientFlags(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES | 0x100);
            client.assertClosedByServer("unknown client flag 0x100");
        }
    }

    @Test
    void badOptionMagicClosesTheConnection() throws IOException {
        try (RawNbdClient client = handshaking()) {
            client.sendOptionHeader(0x1122334455667788L, OPT_GO, 0);
            client.assertClosedByServer("option magic 0x1122334455667788");
        }
    }

    @Test
    void absurdOptionLengthClosesTheConnection() throws IOException {
        try (RawNbdClient client = handshaking()) {
            client.sendOptionHeader(IHAVEOPT, OPT_GO, 0xFFFFFFFF);
            client.out.write(new byte[1024]);
            client.out.flush();
            client.assertClosedByServer("option length 0xFFFFFFFF");
        }
    }

    @Test
    void oversizedOptionIsDrainedAndAnsweredTooBig() throws IOException {
        assumeBasalt("nbdkit answers NBD_REP_ERR_INVALID");
        try (RawNbdClient client = handshaking()) {
            byte[] data = new byte[100 * 1024];
            ByteBuffer.wrap(data).putInt(EXPORT.length());
            client.sendOption(OPT_INFO, data);
            client.readOptionReply().assertIs(OPT_INFO, REP_ERR_TOO_BIG);
            assertNegotiationContinues(client);
        }
    }

    @Test
    void unknownOptionIsUnsupportedAndNegotiationContinues() throws IOException {
        try (RawNbdClient client = handshaking()) {
            client.sendOption(0x7777, "hello".getBytes(StandardCharsets.US_ASCII));
            client.readOptionReply().assertIs(0x7777, REP_ERR_UNSUP);
            client.sendOption(OPT_EXTENDED_HEADERS, new byte[0]);
            client.readOptionReply().assertIs(OPT_EXTENDED_HEADERS, REP_ERR_UNSUP);
            assertNegotiationContinues(client);
        }
    }

    @Test
    void truncatedOptionThenClose() throws IOException {
        try (RawNbdClient client = handshaking()) {
            client.sendOptionHeader(IHAVEOPT, OPT_GO, 1000);
            client.out.write(new byte[10]);
            client.out.flush();
        }
        // The server must notice the close and clean up; the @AfterEach proves it still serves.
    }

    @Test
    void truncatedOptionHeaderThenClose() throws IOException {
        try (RawNbdClient client = handshaking()) {
            client.out.writeLong(IHAVEOPT);
            client.out.writeShort(0);
            client.out.flush();
        }
    }

    @Test
    void goForUnknownExportIsUnknownAndNegotiationContinues() throws IOException {
        assumeBasalt("nbdkit serves any export name");
        try (RawNbdClient client = handshaking()) {
            client.sendOption(OPT_GO, infoRequest("no-such-export"));
            client.readOptionReply().assertIs(OPT_GO, REP_ERR_UNKNOWN);
            client.sendOption(OPT_INFO, infoRequest("no-such-export"));
            client.readOptionReply().assertIs(OPT_INFO, REP_ERR_UNKNOWN);
            assertNegotiationContinues(client);
        }
    }

    @Test
    void infoWithInconsistentLengthsIsInvalid() throws IOException {
        try (RawNbdClient client = handshaking()) {
            // Name length 100, but the option holds only 10 bytes in all.
            byte[] nameTooLong = ByteBuffer.allocate(10).putInt(100).array();
            client.sendOption(OPT_INFO, nameTooLong);
            client.readOptionReply().assertIs(OPT_INFO, REP_ERR_INVALID);

            // Says 5 info requests, carries 1.
            byte[] countTooBig = ByteBuffer.allocate(4 + EXPORT.length() + 2 + 2)
                    .putInt(EXPORT.length()).put(EXPORT.getBytes(StandardCharsets.US_ASCII))
                    .putShort((short) 5).putShort((short) INFO_BLOCK_SIZE).array();
            client.sendOption(OPT_INFO, countTooBig);
            client.readOptionReply().assertIs(OPT_INFO, REP_ERR_INVALID);

            // Too short to hold even the name length.
            client.sendOption(OPT_GO, new byte[3]);
            client.readOptionReply().assertIs(OPT_GO, REP_ERR_INVALID);

            // STRUCTURED_REPLY takes no data.
            client.sendOption(OPT_STRUCTURED_REPLY, new byte[4]);
            client.readOptionReply().assertIs(OPT_STRUCTURED_REPLY, REP_ERR_INVALID);
            assertNegotiationContinues(client);
        }
    }

    @Test
    void wellFormedListInfoAndAbort() throws IOException {
        assumeBasalt("nbdkit lists only the default export");
        try (RawNbdClient client = handshaking()) {
            client.sendOption(OPT_LIST, new byte[0]);
            Set<String> names = new HashSet<>();
            while (true) {
                OptionReply reply = client.readOptionReply();
                assertThat(reply.magic()).isEqualTo(OPTION_REPLY_MAGIC);
                assertThat(reply.option()).isEqualTo(OPT_LIST);
                if (reply.type() == REP_ACK) {
                    break;
                }
                assertThat(reply.type()).isEqualTo(REP_SERVER);
                ByteBuffer data = ByteBuffer.wrap(reply.data());
                byte[] name = new byte[data.getInt()];
                data.get(name);
                names.add(new String(name, StandardCharsets.UTF_8));
            }
            assertThat(names).contains(EXPORT);

            client.sendOption(OPT_INFO, infoRequest(EXPORT, INFO_BLOCK_SIZE));
            Export info = client.readInfoReplies(OPT_INFO);
            assertThat(info.sizeBytes()).isEqualTo(64L * MIB);

            client.sendOption(OPT_ABORT, new byte[0]);
            // The spec says the server SHOULD answer ACK; either way it must close.
            client.assertClosedByServer("after NBD_OPT_ABORT");
        }
    }

    @Test
    void exportNameOptionEndsNegotiationWithSizeAndFlags() throws IOException {
        try (RawNbdClient client = RawNbdClient.connect(server.port())) {
            client.readGreeting();
            client.sendClientFlags(FLAG_FIXED_NEWSTYLE); // without NO_ZEROES: 124 zero bytes follow
            client.sendOption(OPT_EXPORT_NAME, EXPORT.getBytes(StandardCharsets.US_ASCII));
            assertThat(client.in.readLong()).as("export size").isEqualTo(64L * MIB);
            int flags = client.in.readUnsignedShort();
            assertThat(flags & 1).as("NBD_FLAG_HAS_FLAGS in %x", flags).isEqualTo(1);
            byte[] zeroes = new byte[124];
            client.in.readFully(zeroes);
            assertThat(zeroes).containsOnly(0);
            assertSameBytes(client.read(cookie(), WITNESS_OFFSET, 4096), Arrays.copyOf(witness, 4096),
                    "witness after NBD_OPT_EXPORT_NAME");
            client.disconnect();
            client.assertClosedByServer("after NBD_CMD_DISC");
        }
    }

    // ---- transmission --------------------------------------------------------------------------

    @Test
    void badRequestMagicClosesTheConnection() throws IOException {
        try (RawNbdClient client = RawNbdClient.open(server.port(), EXPORT)) {
            client.sendRequest(0xdeadbeef, 0, CMD_READ, cookie(), 0, 4096);
            client.out.flush();
            client.assertClosedByServer("request magic 0xdeadbeef");
        }
    }

    @Test
    void unknownCommandIsEinvalAndConnectionStaysUsable() throws IOException {
        try (RawNbdClient client = RawNbdClient.open(server.port(), EXPORT)) {
            long cookie = cookie();
            client.sendRequest(0, 0x42, cookie, 0, 4096);
            client.out.flush();
            client.readSimpleReply(0).assertIs(cookie, EINVAL);
            assertStillUsable(client);
        }
    }

    @Test
    void unknownCommandFlagsAndZeroLengthAreEinval() throws IOException {
        try (RawNbdClient client = RawNbdClient.open(server.port(), EXPORT)) {
            long readCookie = cookie();
            client.sendRequest(0x4000, CMD_READ, readCookie, 0, 4096);
            client.out.flush();
            client.readSimpleReply(4096).assertIs(readCookie, EINVAL);

            long writeCookie = cookie();
            client.sendRequest(0x4000, CMD_WRITE, writeCookie, WITNESS_OFFSET, 4096);
            client.out.write(new byte[4096]); // the payload follows even when the flags are bad
            client.out.flush();
            client.readSimpleReply(0).assertIs(writeCookie, EINVAL);

            long zeroCookie = cookie();
            client.sendRequest(0, CMD_READ, zeroCookie, 0, 0);
            client.out.flush();
            client.readSimpleReply(0).assertIs(zeroCookie, EINVAL);

            long pastEnd = cookie();
            client.sendRequest(0, CMD_READ, pastEnd, 64L * MIB, 4096);
            client.out.flush();
            client.readSimpleReply(4096).assertIs(pastEnd, EINVAL);

            long writePastEnd = cookie();
            client.sendRequest(0, CMD_WRITE, writePastEnd, 64L * MIB - 1024, 4096);
            client.out.write(new byte[4096]);
            client.out.flush();
            client.readSimpleReply(0).assertIs(writePastEnd, ENOSPC);
            assertStillUsable(client);
        }
    }

    @Test
    void clientDropsMidWritePayload() throws IOException {
        long offset = 24L * MIB;
        byte[] before = randomBytes(MIB, 24);
        try (RawNbdClient client = RawNbdClient.open(server.port(), EXPORT)) {
            client.write(cookie(), offset, before, CMD_FLAG_FUA);
            client.sendRequest(0, CMD_WRITE, cookie(), offset, MIB);
            client.out.write(new byte[100 * 1024]);
            client.out.flush();
        }
        try (RawNbdClient check = RawNbdClient.open(server.port(), EXPORT)) {
            assertSameBytes(check.read(cookie(), offset, MIB), before,
                    "a write whose payload never fully arrived must not be applied");
            check.disconnect();
        }
    }

    @Test
    void clientDropsMidRequestHeader() throws IOException {
        try (RawNbdClient client = RawNbdClient.open(server.port(), EXPORT)) {
            client.out.writeInt(REQUEST_MAGIC);
            client.out.writeShort(0);
            client.out.flush();
        }
    }

    @Test
    void writeLargerThan32MiBIsEinvalAfterDrainAndConnectionStaysUsable() throws IOException {
        assumeBasalt("nbdkit accepts up to 64 MiB");
        try (RawNbdClient client = RawNbdClient.open(server.port(), EXPORT)) {
            long cookie = cookie();
            int length = 32 * MIB + 4096;
            // In range of the 64 MiB export and covering the witness: only the size is wrong.
            client.sendRequest(0, CMD_WRITE, cookie, 0, length);
            byte[] piece = new byte[MIB];
            Arrays.fill(piece, (byte) 0xee);
            for (int sent = 0; sent < length; sent += piece.length) {
                client.out.write(piece, 0, Math.min(piece.length, length - sent));
            }
            client.out.flush();
            client.readSimpleReply(0).assertIs(cookie, EINVAL);
            assertStillUsable(client);
        }
    }

    @Test
    void readLargerThan32MiBIsEinval() throws IOException {
        assumeBasalt("nbdkit accepts up to 64 MiB");
        try (RawNbdClient client = RawNbdClient.open(server.port(), EXPORT)) {
            long cookie = cookie();
            client.sendRequest(0, CMD_READ, cookie, 0, 32 * MIB + 1);
            client.out.flush();
            client.readSimpleReply(0).assertIs(cookie, EINVAL);
            assertStillUsable(client);
        }
    }

    @Test
    void disconnectWithRequestsInFlightAnswersThemAllThenCloses() throws IOException {
        long offset = 20L * MIB;
        int writes = 16;
        int blockLength = 64 * 1024;
        Map<Long, Integer> readLengths = new HashMap<>();
        Set<Long> pending = new HashSet<>();
        byte[][] blocks = new byte[writes][];
        try (RawNbdClient client = RawNbdClient.open(server.port(), EXPORT)) {
            for (int i = 0; i < writes; i++) {
                long cookie = cookie();
                blocks[i] = randomBytes(blockLength, 2000 + i);
                client.sendRequest(0, CMD_WRITE, cookie, offset + (long) i * blockLength, blockLength);
                client.out.write(blocks[i]);
                pending.add(cookie);
                if (i % 4 == 3) {
                    long readCookie = cookie();
                    client.sendRequest(0, CMD_READ, readCookie, WITNESS_OFFSET, 64 * 1024);
                    readLengths.put(readCookie, 64 * 1024);
                    pending.add(readCookie);
                }
            }
            long flushCookie = cookie();
            client.sendRequest(0, CMD_FLUSH, flushCookie, 0, 0);
            pending.add(flushCookie);
            client.disconnect();

            while (!pending.isEmpty()) {
                int magic = client.in.readInt();
                int error = client.in.readInt();
                long cookie = client.in.readLong();
                assertThat(magic).isEqualTo(SIMPLE_REPLY_MAGIC);
                assertThat(pending).as("reply for an outstanding cookie").contains(cookie);
                assertThat(error).as("error for cookie %d", cookie).isZero();
                pending.remove(cookie);
                Integer readLength = readLengths.get(cookie);
                if (readLength != null) {
                    byte[] data = new byte[readLength];
                    client.in.readFully(data);
                    assertSameBytes(data, Arrays.copyOf(witness, readLength), "read before DISC");
                }
            }
            client.assertClosedByServer("after NBD_CMD_DISC with everything answered");
        }
        try (RawNbdClient check = RawNbdClient.open(server.port(), EXPORT)) {
            for (int i = 0; i < writes; i++) {
                assertSameBytes(check.read(cookie(), offset + (long) i * blockLength, blockLength),
                        blocks[i], "block " + i + " written before NBD_CMD_DISC");
            }
            check.disconnect();
        }
    }

    @Test
    void manyConnectionsDroppedAtRandomPoints() throws IOException {
        SplittableRandom random = new SplittableRandom(7);
        for (int i = 0; i < 40; i++) {
            try (RawNbdClient client = RawNbdClient.connect(server.port())) {
                int stage = random.nextInt(4);
                if (stage >= 1) {
                    client.in.readNBytes(18);
                    client.sendClientFlags(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES);
                }
                if (stage >= 2) {
                    client.go(EXPORT);
                }
                if (stage >= 3) {
                    client.sendRequest(0, CMD_READ, cookie(), 0, 1 + random.nextInt(MIB));
                    client.out.flush();
                }
            }
        }
    }

    // ---- helpers -------------------------------------------------------------------------------

    /** Basalt's contract differs from nbdkit's (spec-allowed) answer here; see the class doc. */
    private static void assumeBasalt(String nbdkitDifference) {
        assumeTrue(BasaltProcess.isBasalt(), "Basalt-specific limit or answer: " + nbdkitDifference);
    }

    /** A connection past the greeting and client flags, in option haggling. */
    private static RawNbdClient handshaking() throws IOException {
        RawNbdClient client = RawNbdClient.connect(server.port());
        client.readGreeting();
        client.sendClientFlags(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES);
        return client;
    }

    /** After a refused option, GO still works on the same connection and serves the data. */
    private static void assertNegotiationContinues(RawNbdClient client) throws IOException {
        Export export = client.go(EXPORT);
        assertThat(export.sizeBytes()).isEqualTo(64L * MIB);
        assertStillUsable(client);
    }

    private static void assertStillUsable(RawNbdClient client) throws IOException {
        assertSameBytes(client.read(cookie(), WITNESS_OFFSET, 4096), Arrays.copyOf(witness, 4096),
                "witness read on the same connection");
        client.disconnect();
        client.assertClosedByServer("after NBD_CMD_DISC");
    }

    /** Byte comparison that names the first differing offset instead of printing 1 MiB. */
    static void assertSameBytes(byte[] actual, byte[] expected, String what) {
        int mismatch = Arrays.mismatch(actual, expected);
        if (mismatch >= 0) {
            throw new AssertionError(what + ": " + actual.length + " bytes, expected " + expected.length
                    + "; first difference at byte " + mismatch
                    + (mismatch < Math.min(actual.length, expected.length)
                            ? String.format(": 0x%02x instead of 0x%02x", actual[mismatch], expected[mismatch])
                            : ""));
        }
    }

    private static synchronized long cookie() {
        return nextCookie++;
    }

    private static byte[] randomBytes(int length, long seed) {
        byte[] bytes = new byte[length];
        new SplittableRandom(seed).nextBytes(bytes);
        return bytes;
    }
}
