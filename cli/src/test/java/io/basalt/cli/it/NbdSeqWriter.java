package io.basalt.cli.it;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.TimeUnit;

/**
 * Writes sequence-numbered 4 KiB blocks (u64 seq, u64 block, u64 writer id, then the seq's low
 * byte) at QD1 through the NBD gateway on its own thread, remembering when each was invoked and
 * acknowledged; a connection that breaks (the gateway killed) ends the run, {@link #start} begins
 * another. The checks say which writes a read-back may hold.
 */
final class NbdSeqWriter {
    /** The gateway's port now (it moves when the gateway restarts). */
    final java.util.function.IntSupplier nbdPort;
    /** The daemons' logs, for failure messages. */
    final java.util.function.Supplier<String> logs;
    final String export;
    final int blocks;
    final byte[] base;
    final int[] blockOf = new int[200_000];
    final long[] invoked = new long[200_000];
    final long[] acked = new long[200_000];
    final java.util.concurrent.atomic.AtomicInteger lastSeq = new java.util.concurrent.atomic.AtomicInteger();
    final java.util.concurrent.atomic.AtomicInteger ackedCount = new java.util.concurrent.atomic.AtomicInteger();
    volatile boolean stopped;
    Thread thread;
    final Random random;
    /** Tells this writer's blocks from others' (a clone's base holds the volume writer's). */
    final long writerId;

    NbdSeqWriter(java.util.function.IntSupplier nbdPort, java.util.function.Supplier<String> logs, String export,
            int blocks) {
        this(nbdPort, logs, export, blocks, new byte[blocks * 4096]);
    }

    /** {@code base}: what the export reads before any write of this writer. */
    NbdSeqWriter(java.util.function.IntSupplier nbdPort, java.util.function.Supplier<String> logs, String export,
            int blocks, byte[] base) {
        this.nbdPort = nbdPort;
        this.logs = logs;
        this.export = export;
        this.blocks = blocks;
        this.base = base;
        this.random = new Random(export.hashCode());
        this.writerId = 0x5eed0000L + export.hashCode();
    }

    void start() {
        stopped = false;
        thread = Thread.ofPlatform().name("it-nbd-writer-" + export).start(() -> {
            try (RawNbdClient nbd = open(nbdPort.getAsInt(), export)) {
                while (!stopped) {
                    int seq = lastSeq.get() + 1;
                    int block = random.nextInt(blocks);
                    byte[] data = new byte[4096];
                    java.nio.ByteBuffer.wrap(data).putLong(seq).putLong(block).putLong(writerId);
                    Arrays.fill(data, 24, 4096, (byte) seq);
                    blockOf[seq] = block;
                    invoked[seq] = System.nanoTime();
                    lastSeq.set(seq);
                    nbd.write(seq, (long) block * 4096, data, 0);
                    acked[seq] = System.nanoTime();
                    ackedCount.incrementAndGet();
                }
            } catch (IOException | AssertionError e) {
                // The gateway was killed: the write in flight is not acknowledged.
            }
        });
    }

    void awaitAcked(int count) throws InterruptedException {
        int target = ackedCount.get() + count;
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (ackedCount.get() < target) {
            assertThat(System.nanoTime()).as(export + ": " + count + " writes within 60 s" + logs.get())
                    .isLessThan(deadline);
            Thread.sleep(5);
        }
    }

    void stop() throws InterruptedException {
        stopped = true;
        thread.join(TimeUnit.SECONDS.toMillis(60));
    }

    /** Every block holds its last acknowledged write, or a later one that was in flight. */
    void checkEveryBlock(byte[] content, String what) {
        int[] lastAcked = new int[blocks];
        int[] lastInvoked = new int[blocks];
        for (int seq = 1; seq <= lastSeq.get(); seq++) {
            lastInvoked[blockOf[seq]] = seq;
            if (acked[seq] != 0) {
                lastAcked[blockOf[seq]] = seq;
            }
        }
        java.nio.ByteBuffer view = java.nio.ByteBuffer.wrap(content);
        for (int block = 0; block < blocks; block++) {
            int seq = (int) view.getLong(block * 4096);
            boolean mine = view.getLong(block * 4096 + 16) == writerId;
            if (lastAcked[block] == 0 && (!mine || seq <= 0 || seq > lastSeq.get() || blockOf[seq] != block)) {
                assertThat(Arrays.copyOfRange(content, block * 4096, block * 4096 + 4096))
                        .as("%s block %d: never written, reads as before", what, block)
                        .isEqualTo(Arrays.copyOfRange(base, block * 4096, block * 4096 + 4096));
                continue;
            }
            assertThat(mine).as("%s block %d holds a write of this writer", what, block).isTrue();
            assertThat(seq).as("%s block %d: last acknowledged %d, last invoked %d", what, block,
                    lastAcked[block], lastInvoked[block]).isBetween(lastAcked[block], lastInvoked[block]);
            assertThat(blockOf[seq]).as("%s block %d holds write %d of block %d", what, block, seq,
                    blockOf[seq]).isEqualTo(block);
            assertThat(acked[seq] != 0 || seq == lastInvoked[block]).as("%s block %d holds write %d: acknowledged"
                    + " or the last one in flight", what, block, seq).isTrue();
        }
    }

    /** No write invoked after the create returned; every one acknowledged before it was invoked. */
    void checkSnapshot(byte[] content, long createInvoked, long createReturned) {
        java.nio.ByteBuffer view = java.nio.ByteBuffer.wrap(content);
        int[] lastAckedBefore = new int[blocks];
        for (int seq = 1; seq <= lastSeq.get(); seq++) {
            if (acked[seq] != 0 && acked[seq] < createInvoked) {
                lastAckedBefore[blockOf[seq]] = seq;
            }
        }
        for (int block = 0; block < blocks; block++) {
            int seq = (int) view.getLong(block * 4096);
            assertThat(seq).as("snapshot block %d", block).isGreaterThanOrEqualTo(lastAckedBefore[block]);
            if (seq != 0) {
                assertThat(blockOf[seq]).as("snapshot block %d holds write %d", block, seq).isEqualTo(block);
                assertThat(invoked[seq]).as("snapshot block %d holds write %d, invoked after the create returned",
                        block, seq).isLessThan(createReturned);
            }
        }
    }

    /** The first {@code blocks} 4 KiB blocks of {@code export}, read through the gateway. */
    static byte[] readExport(int nbdPort, String export, int blocks) throws IOException {
        try (RawNbdClient nbd = open(nbdPort, export)) {
            byte[] all = new byte[blocks * 4096];
            for (int at = 0; at < blocks; at += 256) {
                int count = Math.min(256, blocks - at);
                System.arraycopy(nbd.read(at, (long) at * 4096, count * 4096), 0, all, at * 4096, count * 4096);
            }
            return all;
        }
    }

    /**
     * Opens {@code export}, trying three times: a gateway just restarted on a loaded machine has
     * been seen to take more than the client's 20 s read timeout for its first open (JIT, first
     * meta calls); a real hang still fails after a minute.
     */
    static RawNbdClient open(int nbdPort, String export) throws IOException {
        for (int attempt = 1; ; attempt++) {
            try {
                return RawNbdClient.open(nbdPort, export);
            } catch (IOException | AssertionError e) {
                if (attempt == 3) {
                    throw e;
                }
            }
        }
    }
}
