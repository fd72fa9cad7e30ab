package io.basalt.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.basalt.common.block.FileBlockDevice;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * The server over a real {@link FileBlockDevice} on every transport: on io_uring the file writes
 * and syncs run on the event loop's ring, on the others on the device's I/O threads. Same bytes,
 * same replies, same errnos either way.
 */
class NbdFileServerTest {
    private static final long SIZE = 16L << 20;

    @TempDir
    Path dir;
    private Path file;
    private FileBlockDevice device;
    private NbdServer server;
    private NbdTestClient client;

    private void start(NbdServer.Transport transport) throws Exception {
        if (transport == NbdServer.Transport.IO_URING) {
            assumeTrue(NbdServer.Transport.ioUringUnavailableReason() == null,
                    () -> "io_uring unavailable: " + NbdServer.Transport.ioUringUnavailableReason());
        }
        if (transport == NbdServer.Transport.EPOLL) {
            assumeTrue(NbdServer.Transport.withoutIoUring() == NbdServer.Transport.EPOLL, "epoll unavailable");
        }
        file = dir.resolve("disk.img");
        device = FileBlockDevice.open(file, OptionalLong.of(SIZE), false, 2);
        server = NbdServer.start(new java.net.InetSocketAddress("127.0.0.1", 0),
                NbdExports.single("disk", "test disk", device), new NbdMetrics(new PrometheusRegistry()),
                device.maximumPayloadBytes(), 1, transport);
        client = new NbdTestClient(server.localAddress()).open("disk", false);
    }

    @AfterEach
    void stop() throws Exception {
        if (client != null) {
            client.close();
        }
        if (server != null) {
            server.close(1000);
        }
        if (device != null) {
            device.close();
        }
    }

    @ParameterizedTest
    @EnumSource(NbdServer.Transport.class)
    void pipelinedWritesOfEverySizeReadBackByteExact(NbdServer.Transport transport) throws Exception {
        start(transport);
        Random random = new Random(17);
        byte[] model = new byte[(int) SIZE];
        Map<Long, byte[]> written = new HashMap<>();
        List<long[]> ranges = new ArrayList<>();
        long handle = 1;
        // Disjoint ranges (each in its own 256 KiB), so in-flight order does not matter: 64 writes
        // in flight, every eighth large enough to arrive in many socket reads, a third FUA.
        for (int i = 0; i < 64; i++) {
            int length = i % 8 == 0 ? (200 << 10) + random.nextInt(4096) : 1 + random.nextInt(70_000);
            long offset = (long) i * (SIZE / 64) + random.nextInt(1000);
            byte[] data = new byte[length];
            random.nextBytes(data);
            System.arraycopy(data, 0, model, (int) offset, length);
            written.put(handle, data);
            ranges.add(new long[] {offset, length});
            client.request(i % 3 == 0 ? NbdProtocol.CMD_FLAG_FUA : 0, NbdProtocol.CMD_WRITE, handle++, offset, length,
                    data);
        }
        for (int i = 0; i < 64; i++) {
            NbdTestClient.Reply reply = client.readReply(0);
            assertThat(reply.error()).as("write %d", reply.handle()).isZero();
            assertThat(written).containsKey(reply.handle());
        }
        client.request(0, NbdProtocol.CMD_FLUSH, handle++, 0, 0, null);
        assertThat(client.readReply(0).error()).as("flush").isZero();
        for (long[] range : ranges) {
            client.request(0, NbdProtocol.CMD_READ, handle++, range[0], range[1], null);
            NbdTestClient.Reply reply = client.readReply((int) range[1]);
            assertThat(reply.error()).isZero();
            assertThat(reply.payload()).isEqualTo(java.util.Arrays.copyOfRange(model, (int) range[0],
                    (int) (range[0] + range[1])));
        }
        assertThat(Files.readAllBytes(file)).as("the file itself").isEqualTo(model);
    }

    @ParameterizedTest
    @EnumSource(NbdServer.Transport.class)
    void errorsKeepTheirErrnoOnEveryTransport(NbdServer.Transport transport) throws Exception {
        start(transport);
        client.request(0, NbdProtocol.CMD_WRITE, 1, SIZE - 2, 4, new byte[4]);
        assertThat(client.readReply(0).error()).as("write past the end").isEqualTo(NbdProtocol.ENOSPC);
        client.request(NbdProtocol.CMD_FLAG_FUA, NbdProtocol.CMD_WRITE, 2, SIZE - 4, 4, new byte[] {1, 2, 3, 4});
        assertThat(client.readReply(0).error()).as("FUA write of the last bytes").isZero();
        client.request(0, NbdProtocol.CMD_FLUSH, 3, 0, 1, null);
        assertThat(client.readReply(0).error()).as("flush with a length").isEqualTo(NbdProtocol.EINVAL);
        client.request(0, NbdProtocol.CMD_WRITE, 4, 0, 0, new byte[0]);
        assertThat(client.readReply(0).error()).as("zero-length write").isEqualTo(NbdProtocol.EINVAL);
        client.request(0, NbdProtocol.CMD_READ, 5, SIZE - 4, 4, null);
        assertThat(client.readReply(4).payload()).containsExactly(1, 2, 3, 4);
    }
}
