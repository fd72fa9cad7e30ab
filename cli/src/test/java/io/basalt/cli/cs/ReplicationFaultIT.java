package io.basalt.cli.cs;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.protocol.data.BlockCrc;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.PooledByteBufAllocator;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/**
 * Three chunk server processes on loopback: a stream of replicated writes (FORWARD to the primary),
 * one replica killed with SIGKILL mid-stream. Every write acknowledged OK is on the primary and the
 * surviving replica; after the kill, writes fail REPLICA_FAILED naming the dead replica.
 */
class ReplicationFaultIT extends ChunkServerItBase {
    static final long UID = 0xabc0_0001L;

    static byte[] block(long seed) {
        byte[] data = new byte[4096];
        new Random(seed).nextBytes(data);
        return data;
    }

    @Test
    void aReplicaKilledMidStreamIsNamedAndAcknowledgedWritesAreOnTheOthers() throws Exception {
        List<CsProcess> servers = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            CsProcess cs = CsProcess.start(dir.resolve("cs" + i), meta.peers());
            toClose.add(cs);
            servers.add(cs);
        }
        List<String> replicas = List.of(servers.get(1).address(), servers.get(2).address());
        DataClient client = DataClient.connect(group, io.netty.channel.socket.nio.NioSocketChannel.class, servers.get(0).address(), 20_000, 2 << 20, ItTls.adminTls());
        toClose.add(client);
        // The primary opens its (TLS) connections to the replicas on its first FORWARD: open them
        // before the clock starts, so that the kill lands mid-stream even on a loaded machine.
        DataClient.Reply warm = client.request(DataFrame.TYPE_FORWARD, UID + 1, 0, 0, 4096,
                DataClient.forwardPayload(PooledByteBufAllocator.DEFAULT, block(-1), replicas)).get(60, TimeUnit.SECONDS);
        assertThat(warm.status()).as(warm.message()).isEqualTo(CsStatus.OK);
        warm.release();
        ConcurrentHashMap<Integer, CsStatus> results = new ConcurrentHashMap<>();
        ConcurrentHashMap<Integer, String> messages = new ConcurrentHashMap<>();
        Semaphore window = new Semaphore(16);
        List<CompletableFuture<?>> all = new ArrayList<>();
        long killAt = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(3000);
        // Writes go on for 1 s and at least 32 writes after the replica is gone: on a loaded
        // machine the kill itself can take longer than the 1 s (CI once sent none after it).
        long stopAt = Long.MAX_VALUE;
        int sentAtKill = -1;
        int sent = 0;
        while (System.nanoTime() < stopAt || sent - sentAtKill < 32) {
            if (sentAtKill < 0 && System.nanoTime() > killAt) {
                servers.get(2).kill9();
                sentAtKill = sent;
                stopAt = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(1000);
            }
            window.acquire();
            int index = sent++;
            all.add(client.request(DataFrame.TYPE_FORWARD, UID, 0, index * 4096L, 4096,
                    DataClient.forwardPayload(PooledByteBufAllocator.DEFAULT, block(index), replicas))
                    .whenComplete((r, error) -> {
                        window.release();
                        if (r != null) {
                            results.put(index, r.status());
                            messages.put(index, r.message());
                            r.release();
                        }
                    }));
        }
        for (CompletableFuture<?> f : all) {
            f.handle((r, e) -> null).get(60, TimeUnit.SECONDS);
        }
        long ok = results.values().stream().filter(s -> s == CsStatus.OK).count();
        assertThat(ok).as("writes acknowledged before the kill").isGreaterThan(0);
        List<Integer> failed = results.entrySet().stream().filter(e -> e.getValue() != CsStatus.OK)
                .map(java.util.Map.Entry::getKey).sorted().toList();
        String primaryLog = servers.get(0).output.toString();
        assertThat(failed).as("writes after the kill fail (%d sent, %d answered, statuses %s); the primary said:%n%s",
                sent, results.size(), results.values().stream().distinct().toList(),
                primaryLog.substring(Math.max(0, primaryLog.length() - 4000))).isNotEmpty();
        for (int index : failed) {
            assertThat(results.get(index)).isEqualTo(CsStatus.REPLICA_FAILED);
            assertThat(messages.get(index)).contains("replica " + replicas.get(1))
                    .doesNotContain("replica " + replicas.get(0));
        }
        // Every acknowledged write is on the primary and on the surviving replica.
        for (CsProcess cs : servers.subList(0, 2)) {
            DataClient reader = DataClient.connect(group, io.netty.channel.socket.nio.NioSocketChannel.class, cs.address(), 20_000, 2 << 20, ItTls.adminTls());
            toClose.add(reader);
            for (var entry : results.entrySet()) {
                if (entry.getValue() != CsStatus.OK) {
                    continue;
                }
                int index = entry.getKey();
                DataClient.Reply reply = reader.request(DataFrame.TYPE_READ, UID, 0, index * 4096L, 4096, null)
                        .get(20, TimeUnit.SECONDS);
                try {
                    assertThat(reply.status()).isEqualTo(CsStatus.OK);
                    ByteBuf payload = reply.payload();
                    assertThat(payload.getInt(4096)).isEqualTo(BlockCrc.of(payload, 0, 4096));
                    assertThat(ByteBufUtil.getBytes(payload, 0, 4096)).as("write %d on %s", index, cs.address())
                            .isEqualTo(block(index));
                } finally {
                    reply.release();
                }
            }
        }
        System.out.printf("replication: %d sent, %d acknowledged on all 3, %d failed naming %s%n", sent, ok,
                failed.size(), replicas.get(1));
    }
}
