package io.basalt.cli.it;

import static io.basalt.cli.it.RawNbdClient.CMD_FLAG_FUA;
import static io.basalt.cli.it.RawNbdClient.CMD_READ;
import static io.basalt.cli.it.RawNbdClient.CMD_WRITE;
import static io.basalt.cli.it.RawNbdClient.SIMPLE_REPLY_MAGIC;
import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.cli.it.BasaltProcess.Options;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Bounded memory and concurrency: the server runs with a small heap (and so small direct memory)
 * while clients ask for far more than fits: gigabytes of READ replies they do not read yet,
 * hundreds of MiB of pipelined max-size WRITEs, many connections at once. A server that buffers
 * instead of pushing back runs out of memory; a correct one slows the client down and answers
 * everything.
 */
class LoadIT {
    @RegisterExtension
    static final ItResources resources = new ItResources();

    private static final int MIB = 1 << 20;
    private static final int PAYLOAD_MAX = 32 * MIB;
    /** Far below what the tests below would need if the server buffered without bound. */
    private static final String SERVER_HEAP = "-Xmx384m";

    private static BasaltProcess server;

    @BeforeAll
    static void startServer() {
        server = resources.start(Options.file(resources.tempDir().resolve("disk.img"), "256M")
                .withExportName("load").withJvmFlags(SERVER_HEAP));
    }

    @Test
    void clientNotReadingRepliesOfGigabytesOfReadsDoesNotExhaustServerMemory() throws Exception {
        int reads = 32; // 1 GiB of replies
        try (RawNbdClient client = RawNbdClient.open(server.port(), "load")) {
            Set<Long> pending = new HashSet<>();
            for (int i = 0; i < reads; i++) {
                long cookie = 10_000 + i;
                client.sendRequest(0, CMD_READ, cookie, (long) (i % 8) * PAYLOAD_MAX, PAYLOAD_MAX);
                pending.add(cookie);
            }
            client.out.flush(); // 32 headers: 896 bytes; the replies are what would pile up
            Thread.sleep(2_000);
            assertThat(server.isAlive()).as("server alive while the client does not read").isTrue();
            byte[] data = new byte[PAYLOAD_MAX];
            while (!pending.isEmpty()) {
                assertThat(client.in.readInt()).isEqualTo(SIMPLE_REPLY_MAGIC);
                int error = client.in.readInt();
                long cookie = client.in.readLong();
                assertThat(error).as("error for READ cookie %d", cookie).isZero();
                assertThat(pending.remove(cookie)).as("reply for an outstanding cookie %d", cookie).isTrue();
                client.in.readFully(data);
            }
            client.disconnect();
            client.assertClosedByServer("after NBD_CMD_DISC");
        }
        assertThat(server.isAlive()).isTrue();
    }

    @Test
    void pipelinedMaxSizeWritesAreAllAnswered() throws Exception {
        int writes = 16; // 512 MiB in flight from the client's side
        byte[] payload = new byte[PAYLOAD_MAX];
        new SplittableRandom(5).nextBytes(payload);
        try (RawNbdClient client = RawNbdClient.open(server.port(), "load");
             ExecutorService sender = Executors.newSingleThreadExecutor()) {
            Future<?> sending = sender.submit(() -> {
                for (int i = 0; i < writes; i++) {
                    client.sendRequest(0, CMD_WRITE, 20_000 + i, (long) (i % 8) * PAYLOAD_MAX, PAYLOAD_MAX);
                    client.out.write(payload);
                }
                client.out.flush();
                return null;
            });
            Set<Long> answered = new HashSet<>();
            for (int i = 0; i < writes; i++) {
                assertThat(client.in.readInt()).isEqualTo(SIMPLE_REPLY_MAGIC);
                int error = client.in.readInt();
                long cookie = client.in.readLong();
                assertThat(error).as("error for WRITE cookie %d", cookie).isZero();
                answered.add(cookie);
            }
            sending.get(60, TimeUnit.SECONDS);
            assertThat(answered).hasSize(writes);
            byte[] back = client.read(30_000, 7L * PAYLOAD_MAX + 12345, 4096);
            MalformedInputIT.assertSameBytes(back, Arrays.copyOfRange(payload, 12345, 12345 + 4096),
                    "data of the last max-size WRITE");
            client.disconnect();
        }
        assertThat(server.isAlive()).isTrue();
    }

    @Test
    void manyConcurrentConnectionsEachSeeTheirOwnWrites() throws Exception {
        int connections = 16;
        int rounds = 16;
        try (ExecutorService pool = Executors.newFixedThreadPool(connections)) {
            List<Future<?>> futures = new ArrayList<>();
            for (int c = 0; c < connections; c++) {
                int connection = c;
                futures.add(pool.submit(() -> {
                    SplittableRandom random = new SplittableRandom(connection);
                    long base = (long) connection * 8 * MIB; // each its own 8 MiB
                    try (RawNbdClient client = RawNbdClient.open(server.port(), "load")) {
                        for (int round = 0; round < rounds; round++) {
                            int length = 1 + random.nextInt(MIB);
                            long offset = base + random.nextInt(8 * MIB - length);
                            byte[] data = new byte[length];
                            random.nextBytes(data);
                            client.write(round * 2L, offset, data, round % 4 == 0 ? CMD_FLAG_FUA : 0);
                            MalformedInputIT.assertSameBytes(client.read(round * 2L + 1, offset, length), data,
                                    "connection " + connection + " round " + round);
                        }
                        client.disconnect();
                    }
                    return null;
                }));
            }
            for (Future<?> future : futures) {
                future.get(120, TimeUnit.SECONDS);
            }
        }
        assertThat(server.isAlive()).isTrue();
    }
}
