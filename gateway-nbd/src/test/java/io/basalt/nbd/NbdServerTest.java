package io.basalt.nbd;

import static org.assertj.core.api.Assertions.assertThat;

import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/** The server in-process over real sockets, driven by a raw client that controls every byte. */
class NbdServerTest {
    private static final long SIZE = 16L << 20;

    private NbdServer server;
    private MemoryBlockDevice device;
    private NbdMetrics metrics;
    private final List<NbdTestClient> clients = new ArrayList<>();

    private InetSocketAddress start(boolean readOnly) throws Exception {
        device = new MemoryBlockDevice(SIZE, readOnly);
        metrics = new NbdMetrics(new PrometheusRegistry());
        server = NbdServer.start(new InetSocketAddress("127.0.0.1", 0), NbdExports.single("disk", "test disk", device),
                metrics, device.maximumPayloadBytes(), 1);
        return server.localAddress();
    }

    private NbdTestClient client(boolean structured) throws Exception {
        NbdTestClient client = new NbdTestClient(server.localAddress()).open("disk", structured);
        clients.add(client);
        return client;
    }

    @AfterEach
    void stop() throws Exception {
        for (NbdTestClient client : clients) {
            client.close();
        }
        if (server != null) {
            server.close(1000);
        }
    }

    @Test
    void repliesOutOfOrderWhenAnEarlierRequestIsSlow() throws Exception {
        start(false);
        NbdTestClient client = client(false);
        CompletableFuture<Void> slow = new CompletableFuture<>();
        device.gate = offset -> offset == 0 ? slow : CompletableFuture.completedFuture(null);

        client.request(0, NbdProtocol.CMD_READ, 1, 0, 512, null);
        client.request(0, NbdProtocol.CMD_READ, 2, 4096, 512, null);
        NbdTestClient.Reply first = client.readReply(512);
        assertThat(first.handle()).isEqualTo(2);
        slow.complete(null);
        NbdTestClient.Reply second = client.readReply(512);
        assertThat(second.handle()).isEqualTo(1);
        assertThat(second.error()).isZero();
    }

    @Test
    void errorsHaveTheSpecsErrnoAndTheConnectionGoesOn() throws Exception {
        start(false);
        NbdTestClient client = client(false);
        byte[] data = {1, 2, 3, 4};
        client.request(0, NbdProtocol.CMD_WRITE, 1, SIZE - 2, 4, data);
        assertThat(client.readReply(0).error()).as("write past the end").isEqualTo(NbdProtocol.ENOSPC);
        client.request(0, NbdProtocol.CMD_READ, 2, SIZE, 1, null);
        assertThat(client.readReply(1).error()).as("read past the end").isEqualTo(NbdProtocol.EINVAL);
        client.request(0, NbdProtocol.CMD_READ, 3, -1L, 1, null);
        assertThat(client.readReply(1).error()).as("offset 2^64-1").isEqualTo(NbdProtocol.EINVAL);
        client.request(0, 42, 4, 0, 0, null);
        assertThat(client.readReply(0).error()).as("unknown command").isEqualTo(NbdProtocol.EINVAL);
        client.request(1 << 9, NbdProtocol.CMD_READ, 5, 0, 1, null);
        assertThat(client.readReply(1).error()).as("unknown flag").isEqualTo(NbdProtocol.EINVAL);
        client.request(0, NbdProtocol.CMD_READ, 6, 0, 0, null);
        assertThat(client.readReply(0).error()).as("zero length").isEqualTo(NbdProtocol.EINVAL);
        client.request(0, NbdProtocol.CMD_READ, 7, 0, (1 << 20) + 1, null);
        assertThat(client.readReply(0).error()).as("read over the maximum").isEqualTo(NbdProtocol.EINVAL);
        client.request(0, NbdProtocol.CMD_BLOCK_STATUS, 8, 0, 4096, null);
        assertThat(client.readReply(0).error()).as("block status without context").isEqualTo(NbdProtocol.EINVAL);

        client.request(NbdProtocol.CMD_FLAG_FUA, NbdProtocol.CMD_WRITE, 9, 100, 4, data);
        assertThat(client.readReply(0).error()).isZero();
        client.request(0, NbdProtocol.CMD_READ, 10, 100, 4, null);
        NbdTestClient.Reply read = client.readReply(4);
        assertThat(read.handle()).isEqualTo(10);
        assertThat(read.payload()).containsExactly(1, 2, 3, 4);
        assertThat(metrics.errors.labelValues("read", "EINVAL").get()).isEqualTo(5);
    }

    @Test
    void structuredRepliesCarryDataErrorsAndBlockStatus() throws Exception {
        start(false);
        NbdTestClient client = client(true);
        assertThat(client.exportSize).isEqualTo(SIZE);
        assertThat(client.transmissionFlags & NbdProtocol.FLAG_SEND_DF).isNotZero();
        assertThat(client.transmissionFlags & NbdProtocol.FLAG_CAN_MULTI_CONN).isNotZero();

        client.request(0, NbdProtocol.CMD_WRITE, 1, 8192, 3, new byte[] {7, 8, 9});
        assertThat(client.readReply(0).error()).isZero();
        client.request(NbdProtocol.CMD_FLAG_DF, NbdProtocol.CMD_READ, 2, 8192, 3, null);
        NbdTestClient.Reply data = client.readReply(0);
        assertThat(data.type()).isEqualTo(NbdProtocol.REPLY_TYPE_OFFSET_DATA);
        assertThat(data.flags()).isEqualTo(NbdProtocol.REPLY_FLAG_DONE);
        ByteBuffer payload = ByteBuffer.wrap(data.payload());
        assertThat(payload.getLong()).isEqualTo(8192);
        assertThat(payload.get()).isEqualTo((byte) 7);

        client.request(0, NbdProtocol.CMD_READ, 3, SIZE, 1, null);
        NbdTestClient.Reply error = client.readReply(0);
        assertThat(error.type()).isEqualTo(NbdProtocol.REPLY_TYPE_ERROR);
        assertThat(error.error()).isEqualTo(NbdProtocol.EINVAL);
        assertThat(new String(error.payload(), 6, error.payload().length - 6)).contains("past the end");

        client.request(0, NbdProtocol.CMD_BLOCK_STATUS, 4, 0, 3 * 4096, null);
        NbdTestClient.Reply status = client.readReply(0);
        assertThat(status.type()).isEqualTo(NbdProtocol.REPLY_TYPE_BLOCK_STATUS);
        ByteBuffer descriptors = ByteBuffer.wrap(status.payload());
        assertThat(descriptors.getInt()).isEqualTo(NbdHandshakeHandler.BASE_ALLOCATION_CONTEXT_ID);
        assertThat(descriptors.getInt()).isEqualTo(8192);
        assertThat(descriptors.getInt()).isEqualTo(NbdProtocol.STATE_HOLE | NbdProtocol.STATE_ZERO);
        assertThat(descriptors.getInt()).isEqualTo(4096);
        assertThat(descriptors.getInt()).isZero();
        assertThat(descriptors.hasRemaining()).isFalse();

        client.request(NbdProtocol.CMD_FLAG_REQ_ONE, NbdProtocol.CMD_BLOCK_STATUS, 5, 0, 3 * 4096, null);
        assertThat(client.readReply(0).payload()).hasSize(4 + 8);
    }

    @Test
    void readOnlyExportRefusesWritesWithEperm() throws Exception {
        start(true);
        NbdTestClient client = client(false);
        assertThat(client.transmissionFlags & NbdProtocol.FLAG_READ_ONLY).isNotZero();
        client.request(0, NbdProtocol.CMD_WRITE, 1, 0, 2, new byte[] {1, 2});
        assertThat(client.readReply(0).error()).isEqualTo(NbdProtocol.EPERM);
        client.request(0, NbdProtocol.CMD_TRIM, 2, 0, 4096, null);
        assertThat(client.readReply(0).error()).isEqualTo(NbdProtocol.EPERM);
        client.request(0, NbdProtocol.CMD_FLUSH, 3, 0, 0, null);
        assertThat(client.readReply(0).error()).isZero();
    }

    @Test
    void requestsInFlightStayBoundedWhenTheDeviceStalls() throws Exception {
        start(false);
        NbdTestClient client = client(false);
        CompletableFuture<Void> stall = new CompletableFuture<>();
        device.gate = offset -> stall;
        int sent = NbdTransmissionHandler.IN_FLIGHT_REQUESTS_MAX * 3;
        for (int i = 0; i < sent; i++) {
            client.request(0, NbdProtocol.CMD_READ, i, 0, 1, null);
        }
        Thread.sleep(300);
        assertThat(metrics.requestsInFlight.get()).isEqualTo(NbdTransmissionHandler.IN_FLIGHT_REQUESTS_MAX);
        stall.complete(null);
        Set<Long> handles = new HashSet<>();
        for (int i = 0; i < sent; i++) {
            handles.add(client.readReply(1).handle());
        }
        assertThat(handles).hasSize(sent);
    }

    @Test
    void disconnectAnswersWhatIsInFlightThenCloses() throws Exception {
        start(false);
        NbdTestClient client = client(false);
        CompletableFuture<Void> slow = new CompletableFuture<>();
        device.gate = offset -> slow;
        client.request(0, NbdProtocol.CMD_READ, 1, 0, 8, null);
        client.request(0, NbdProtocol.CMD_DISC, 2, 0, 0, null);
        Thread.sleep(100);
        slow.complete(null);
        assertThat(client.readReply(8).handle()).isEqualTo(1);
        assertThat(client.closedByServer()).isTrue();

        NbdTestClient other = client(false);
        other.request(0, NbdProtocol.CMD_FLUSH, 3, 0, 0, null);
        assertThat(other.readReply(0).error()).isZero();
    }

    @Test
    void badMagicClosesOnlyThatConnection() throws Exception {
        start(false);
        NbdTestClient healthy = client(false);
        NbdTestClient broken = client(false);
        broken.send(NbdWire.request(0, NbdProtocol.CMD_READ, 1, 0, 1, null).setInt(0, 0xdeadbeef));
        assertThat(broken.closedByServer()).isTrue();
        healthy.request(0, NbdProtocol.CMD_READ, 1, 0, 1, null);
        assertThat(healthy.readReply(1).error()).isZero();
        assertThat(metrics.protocolErrors.labelValues("malformed_frame").get()).isEqualTo(1);
    }

    @Test
    void exportNameEntersTransmissionWithZeroPaddingAndKeepsStructuredReplies() throws Exception {
        start(false);
        try (NbdTestClient client = new NbdTestClient(server.localAddress())) {
            client.in.readLong();
            client.in.readLong();
            client.in.readUnsignedShort();
            client.out.writeInt(NbdProtocol.FLAG_C_FIXED_NEWSTYLE); // no NO_ZEROES: expect 124 zero bytes
            NbdTestClient.expect(client.option(NbdProtocol.OPT_STRUCTURED_REPLY, new byte[0]), NbdProtocol.REP_ACK);
            client.send(NbdWire.option(NbdProtocol.OPT_EXPORT_NAME, "disk".getBytes()));
            assertThat(client.in.readLong()).isEqualTo(SIZE);
            int flags = client.in.readUnsignedShort();
            assertThat(flags & NbdProtocol.FLAG_SEND_DF).isNotZero();
            byte[] zeroes = new byte[NbdProtocol.EXPORT_NAME_REPLY_ZEROES];
            client.in.readFully(zeroes);
            assertThat(zeroes).containsOnly(0);
            client.request(0, NbdProtocol.CMD_READ, 9, 0, 16, null);
            NbdTestClient.Reply reply = client.readReply(0);
            assertThat(reply.structured()).isTrue();
            assertThat(reply.type()).isEqualTo(NbdProtocol.REPLY_TYPE_OFFSET_DATA);
        }
        try (NbdTestClient unknown = new NbdTestClient(server.localAddress()).handshake()) {
            unknown.send(NbdWire.option(NbdProtocol.OPT_EXPORT_NAME, "nope".getBytes()));
            assertThat(unknown.closedByServer()).isTrue();
        }
    }
}
