package io.basalt.chunkserver;

import static io.basalt.chunkserver.ChunkServerTest.ALLOC;
import static io.basalt.chunkserver.ChunkServerTest.await;
import static io.basalt.chunkserver.ChunkServerTest.random;
import static io.basalt.chunkserver.ChunkServerTest.read;
import static io.basalt.chunkserver.ChunkServerTest.write;
import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.chunkserver.recovery.RecoveryWorker;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Chunklet recovery between real chunk servers in-process: a new replica filled from two sources, a
 * client's write or trim that reached the new replica after recovery began never overwritten by the
 * copy, a returning replica given only what it missed, and the work resumed after a restart.
 */
class ReplicaRecoveryTest {
    static final long UID = 0xbeefL;
    static final long CHUNKLET = 16L << 20;
    static final int BLOCKS = 512; // the test writes the first 2 MiB

    InProcessServers servers;

    @BeforeEach
    void setUp() throws IOException {
        servers = new InProcessServers("cs-recovery", CHUNKLET);
    }

    @AfterEach
    void tearDown() throws Exception {
        servers.close();
    }

    private int nextCsId = 1;

    /** A meta link giving the next server its own id (sources are told apart from the target by id). */
    LocalMetaLink link() {
        return new LocalMetaLink("t", nextCsId++);
    }

    ChunkServer start(String name, LocalMetaLink meta) throws IOException {
        return servers.start(name, meta, config -> config.withRecovery(new RecoveryWorker.Config(100, 2, 0)));
    }

    DataClient connect(ChunkServer server) throws IOException {
        return servers.connect(server);
    }

    static String address(ChunkServer server) {
        return InProcessServers.address(server);
    }

    static MetaLink.RecoveryTask task(long version, boolean catchUp, ChunkServer target, ChunkServer... sources) {
        List<MetaLink.Member> members = new ArrayList<>();
        for (int i = 0; i < sources.length; i++) {
            members.add(new MetaLink.Member(i, sources[i].csId(), address(sources[i]), true));
        }
        members.add(new MetaLink.Member(sources.length, target.csId(), address(target), false));
        return new MetaLink.RecoveryTask(UID, version, version, catchUp, false, sources.length + 1, 0, CHUNKLET,
                sources.length, members);
    }

    static void trim(DataClient client, long version, long offset, int length) throws Exception {
        DataClient.Reply reply = await(client.request(DataFrame.TYPE_TRIM, UID, version, offset, length, null));
        assertThat(reply.status()).as(reply.message()).isEqualTo(CsStatus.OK);
        reply.release();
    }

    static void writeOk(DataClient client, long version, long offset, byte[] data) throws Exception {
        DataClient.Reply reply = write(client, UID, version, offset, data);
        assertThat(reply.status()).as(reply.message()).isEqualTo(CsStatus.OK);
        reply.release();
    }

    /** Writes the same random 2 MiB (and a trimmed hole) to every client at {@code version}. */
    static byte[] seed(long version, DataClient... clients) throws Exception {
        byte[] data = random(BLOCKS * 4096, 7);
        java.util.Arrays.fill(data, 100 * 4096, 110 * 4096, (byte) 0);
        for (DataClient client : clients) {
            writeOk(client, version, 0, java.util.Arrays.copyOfRange(data, 0, 1 << 20));
            writeOk(client, version, 1 << 20, java.util.Arrays.copyOfRange(data, 1 << 20, 2 << 20));
            trim(client, version, 100 * 4096L, 10 * 4096);
        }
        return data;
    }

    static void awaitDone(LocalMetaLink meta, int count) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (meta.recoveriesDone().size() < count) {
            assertThat(System.nanoTime() - deadline).as("recovery did not finish within 30 s").isNegative();
            Thread.sleep(20);
        }
    }

    /** The first 2 MiB read the same on both. */
    static void assertSame(DataClient one, DataClient other, long version) throws Exception {
        for (long offset = 0; offset < 2 << 20; offset += 1 << 20) {
            assertThat(read(one, UID, version, offset, 1 << 20)).isEqualTo(read(other, UID, version, offset, 1 << 20));
        }
    }

    static long copied(ChunkServer server, String kind) {
        return (long) server.metrics().recoveryBytes.labelValues(kind).get();
    }

    @Test
    void aNewReplicaIsFilledFromTwoSourcesAndReadsTheSame() throws Exception {
        ChunkServer a = start("a", link());
        ChunkServer b = start("b", link());
        LocalMetaLink targetMeta = link();
        ChunkServer c = start("c", targetMeta);
        DataClient ca = connect(a);
        DataClient cb = connect(b);
        DataClient cc = connect(c);
        byte[] data = seed(1, ca, cb);
        a.versions().chunkVersion(UID, 2);
        b.versions().chunkVersion(UID, 2);

        targetMeta.addRecoveryTask(task(2, false, c, a, b));
        awaitDone(targetMeta, 1);

        assertThat(read(cc, UID, 2, 0, 1 << 20)).isEqualTo(java.util.Arrays.copyOfRange(data, 0, 1 << 20));
        assertThat(read(cc, UID, 2, 1 << 20, 1 << 20)).isEqualTo(java.util.Arrays.copyOfRange(data, 1 << 20, 2 << 20));
        // Only the written blocks were copied (the trimmed hole and the unwritten 14 MiB were not).
        assertThat(copied(c, "rebuild")).isEqualTo((BLOCKS - 10) * 4096L);
        assertThat(c.store().info(UID).writtenBlocks()).isEqualTo(BLOCKS - 10);
    }

    @Test
    void aClientWriteOrTrimThatReachedTheNewReplicaFirstIsNeverOverwrittenByTheCopy() throws Exception {
        ChunkServer a = start("a", link());
        LocalMetaLink targetMeta = link();
        ChunkServer c = start("c", targetMeta);
        DataClient ca = connect(a);
        DataClient cc = connect(c);
        byte[] data = seed(1, ca);
        a.versions().chunkVersion(UID, 2);
        // At version 2 (the recovery's) a client wrote block 5 and trimmed block 9, and the writes reached
        // the new replica before the copy; the source still has the old data (its copy of the same
        // writes is late).
        byte[] newer = random(4096, 99);
        writeOk(cc, 2, 5 * 4096L, newer);
        trim(cc, 2, 9 * 4096L, 4096);

        targetMeta.addRecoveryTask(task(2, false, c, a));
        awaitDone(targetMeta, 1);

        byte[] expected = java.util.Arrays.copyOfRange(data, 0, 1 << 20);
        System.arraycopy(newer, 0, expected, 5 * 4096, 4096);
        java.util.Arrays.fill(expected, 9 * 4096, 10 * 4096, (byte) 0);
        assertThat(read(cc, UID, 2, 0, 1 << 20)).isEqualTo(expected);
        // Replay decides the same: restart and read again.
        c.close();
        ChunkServer again = start("c", link());
        assertThat(read(connect(again), UID, 2, 0, 1 << 20)).isEqualTo(expected);
    }

    @Test
    void aReturningReplicaReceivesOnlyWhatItMissed() throws Exception {
        ChunkServer a = start("a", link());
        LocalMetaLink targetMeta = link();
        ChunkServer c = start("c", targetMeta);
        DataClient ca = connect(a);
        DataClient cc = connect(c);
        byte[] data = seed(1, ca, cc);
        // c is away; the source takes 3 writes and a trim that c misses, one of them at the version c
        // last had (in flight when it failed), the others at version 2.
        byte[] missed = random(3 * 4096, 5);
        writeOk(ca, 1, 20 * 4096L, java.util.Arrays.copyOfRange(missed, 0, 4096));
        a.versions().chunkVersion(UID, 2);
        writeOk(ca, 2, 300 * 4096L, java.util.Arrays.copyOfRange(missed, 4096, 8192));
        writeOk(ca, 2, 1000 * 4096L, java.util.Arrays.copyOfRange(missed, 8192, 12288));
        trim(ca, 2, 40 * 4096L, 4096);
        a.versions().chunkVersion(UID, 3);

        targetMeta.addRecoveryTask(task(3, true, c, a));
        awaitDone(targetMeta, 1);

        assertThat(copied(c, "catchup")).as("only the missed blocks' data").isEqualTo(3 * 4096L);
        assertSame(cc, ca, 3);
        assertThat(read(cc, UID, 3, 1000 * 4096L, 4096)).isEqualTo(java.util.Arrays.copyOfRange(missed, 8192, 12288));
        assertThat(data).isNotNull();
    }

    @Test
    void aRecoveryInterruptedByARestartResumesWithoutCopyingAgain() throws Exception {
        ChunkServer a = start("a", link());
        LocalMetaLink firstMeta = link();
        ChunkServer c = start("c", firstMeta);
        DataClient ca = connect(a);
        seed(1, ca);
        a.versions().chunkVersion(UID, 2);
        firstMeta.addRecoveryTask(task(2, false, c, a));
        // Let part of it happen, then stop the server before it reports (or after: either way).
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (copied(c, "rebuild") == 0 && firstMeta.recoveriesDone().isEmpty()) {
            assertThat(System.nanoTime() - deadline).isNegative();
            Thread.sleep(1);
        }
        long before = copied(c, "rebuild");
        c.close();
        LocalMetaLink secondMeta = link();
        ChunkServer again = start("c", secondMeta);
        secondMeta.addRecoveryTask(task(2, false, again, a));
        awaitDone(secondMeta, 1);
        long after = copied(again, "rebuild");
        assertThat(before + after).as("blocks copied before the restart are not copied again")
                .isLessThanOrEqualTo((BLOCKS - 10) * 4096L + 256 * 4096L);
        assertSame(connect(again), ca, 2);
    }
}
