package io.basalt.client;

import io.basalt.ec.ErasureCodec;
import io.basalt.ec.ErasureCodecs;
import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.ChunkletState;
import io.basalt.meta.model.Policy;
import io.basalt.meta.model.Volume;
import io.basalt.protocol.data.BlockCrc;
import io.basalt.protocol.data.CsException;
import io.basalt.protocol.data.CsStatus;
import io.basalt.protocol.data.DataClient;
import io.basalt.protocol.data.DataFrame;
import io.basalt.protocol.data.EcSection;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.LongConsumer;

/**
 * Checks every stripe of an erasure-coded volume: re-encodes the data strips and compares the
 * result with each stored parity strip, byte for byte, and compares the versions each parity strip
 * records with the data strips' versions (docs/formats.md, "EC section"). Read-only: it settles no
 * pending strip (those are counted apart), writes nothing, and reads every UPTODATE column directly.
 * A stripe with a column that is not UPTODATE (degraded) is counted and skipped. The columns are
 * not read at one instant: a stripe that reads inconsistent is read again (a write may have
 * committed between two columns' reads), and reported only if it reads the same way twice.
 */
public final class EcVerifier {
    private static final int S = 4096;
    /** 512 KiB of strips per read: with a parity column's versions the reply stays under a client's frame limit. */
    private static final int STRIPES_PER_READ = 128;

    /** What a verification found; {@code problems} names each bad stripe (at most 100 kept). */
    public record Report(long stripesChecked, long stripesDegraded, long stripesPending, long mismatches,
                         List<String> problems) {
        public boolean consistent() {
            return mismatches == 0;
        }
    }

    private EcVerifier() {}

    /** Verifies volume {@code name}; {@code progress} hears the stripes done so far. */
    public static Report verify(ClusterClient cluster, String name, LongConsumer progress) throws Exception {
        Volume volume = cluster.meta().getVolume(name);
        Policy policy = Policy.parse(volume.policyName());
        if (!policy.erasureCoded()) {
            throw new IllegalArgumentException("volume \"" + name + "\" uses " + policy.name()
                    + "; only erasure-coded volumes have parity to verify");
        }
        int k = policy.dataCount();
        int m = policy.parityCount();
        ErasureCodec codec = ErasureCodecs.create(k, m);
        long stripesPerChunk = policy.chunkletSizeBytes(volume.chunkSizeBytes()) / S;
        long checked = 0;
        long degraded = 0;
        long pending = 0;
        long mismatches = 0;
        List<String> problems = new ArrayList<>();
        for (Chunk chunk : cluster.meta().listChunks(volume.id())) {
            List<Chunklet> columns = new ArrayList<>(chunk.chunklets());
            columns.sort(Comparator.comparingInt(Chunklet::index));
            for (long first = 0; first < stripesPerChunk; first += STRIPES_PER_READ) {
                int count = (int) Math.min(STRIPES_PER_READ, stripesPerChunk - first);
                ColumnRead[] reads = new ColumnRead[k + m];
                for (int col = 0; col < k + m; col++) {
                    if (columns.get(col).state() == ChunkletState.UPTODATE) {
                        reads[col] = read(cluster, chunk, columns.get(col), first, count);
                    }
                }
                for (int si = 0; si < count; si++) {
                    long stripe = first + si;
                    String where = "chunk " + chunk.index() + " (" + Long.toHexString(chunk.uid()) + ") stripe " + stripe;
                    List<String> found = new ArrayList<>();
                    Outcome outcome = check(reads, si, k, m, codec, where, found);
                    if (outcome == Outcome.MISMATCHED) {
                        outcome = recheck(again -> {
                            ColumnRead[] one = new ColumnRead[k + m];
                            for (int col = 0; col < k + m; col++) {
                                if (columns.get(col).state() == ChunkletState.UPTODATE) {
                                    one[col] = read(cluster, chunk, columns.get(col), stripe, 1);
                                }
                            }
                            return one;
                        }, k, m, codec, where, reads, si, found);
                    }
                    switch (outcome) {
                        case PENDING -> pending++;
                        case DEGRADED -> degraded++;
                        case CONSISTENT -> checked++;
                        case MISMATCHED -> {
                            checked++;
                            mismatches++;
                            found.forEach(problem -> note(problems, problem));
                        }
                    }
                }
                progress.accept(checked + degraded + pending);
            }
        }
        return new Report(checked, degraded, pending, mismatches, problems);
    }

    /** What one stripe's check found. */
    enum Outcome { CONSISTENT, MISMATCHED, PENDING, DEGRADED }

    /** The stripe being rechecked, read again from every column ({@code attempt}: 0, 1, ...). */
    interface StripeReader {
        ColumnRead[] read(int attempt) throws Exception;
    }

    /** How many times a stripe found inconsistent is read again (see {@link #recheck}). */
    static final int RECHECKS = 5;

    /**
     * Checks stripe {@code si} of {@code reads}: the data re-encoded against each parity strip, and
     * the versions each parity strip records against the data strips'; {@code problems} gets a line
     * per difference.
     */
    static Outcome check(ColumnRead[] reads, int si, int k, int m, ErasureCodec codec, String where,
            List<String> problems) {
        for (int col = 0; col < k + m; col++) {
            if (reads[col] != null && reads[col].pending[si]) {
                return Outcome.PENDING;
            }
        }
        for (int c = 0; c < k; c++) {
            if (reads[c] == null) {
                return Outcome.DEGRADED;
            }
        }
        MemorySegment[] data = new MemorySegment[k];
        for (int c = 0; c < k; c++) {
            data[c] = MemorySegment.ofBuffer(reads[c].strips.nioBuffer(si * S, S));
        }
        MemorySegment[] parity = new MemorySegment[m];
        for (int p = 0; p < m; p++) {
            parity[p] = MemorySegment.ofBuffer(ByteBuffer.allocateDirect(S));
        }
        codec.encode(data, parity, 0, S);
        boolean bad = false;
        for (int p = 0; p < m; p++) {
            ColumnRead stored = reads[k + p];
            if (stored == null) {
                continue;
            }
            MemorySegment storedStrip = MemorySegment.ofBuffer(stored.strips.nioBuffer(si * S, S));
            if (storedStrip.mismatch(parity[p]) >= 0) {
                bad = true;
                problems.add(where + ": parity " + p + " differs from the data re-encoded");
            }
            for (int c = 0; c < k; c++) {
                if (stored.version(si, c) != reads[c].version(si, 0)) {
                    bad = true;
                    problems.add(where + ": parity " + p + " records version " + stored.version(si, c)
                            + " of data column " + c + ", which holds version " + reads[c].version(si, 0));
                }
            }
        }
        return bad ? Outcome.MISMATCHED : Outcome.CONSISTENT;
    }

    /**
     * A stripe that read inconsistent, read again on its own: the columns are read one after another,
     * not at one instant, so a write that committed between two of those reads (the freezer folds hot
     * blocks into stripes in the background, and clients may write while this runs) makes a sound
     * stripe look torn, its parity recording versions its data strips did not hold yet when read (seen
     * in ThrashIT, right after the fio loops ended). Only a stripe that reads inconsistent twice in a
     * row with the same versions is one; a stripe still moving after {@value #RECHECKS} reads is
     * reported too. {@code found} ends with the last read's problems.
     */
    static Outcome recheck(StripeReader reader, int k, int m, ErasureCodec codec, String where, ColumnRead[] first,
            int firstIndex, List<String> found) throws Exception {
        List<Long> previous = versions(first, firstIndex, k + m);
        for (int attempt = 0; attempt < RECHECKS; attempt++) {
            Thread.sleep(20L << attempt);
            ColumnRead[] again = reader.read(attempt);
            found.clear();
            Outcome outcome = check(again, 0, k, m, codec, where, found);
            List<Long> now = versions(again, 0, k + m);
            if (outcome != Outcome.MISMATCHED || now.equals(previous)) {
                return outcome;
            }
            previous = now;
        }
        found.add(where + ": still being written after " + (RECHECKS + 1) + " reads");
        return Outcome.MISMATCHED;
    }

    /** Every column's versions of strip {@code si} (one list: what a write would change). */
    private static List<Long> versions(ColumnRead[] reads, int si, int width) {
        List<Long> all = new ArrayList<>();
        for (int col = 0; col < width; col++) {
            ColumnRead read = reads[col];
            for (int j = 0; read != null && !read.pending[si] && j < read.n; j++) {
                all.add(read.version(si, j));
            }
            all.add(-1L); // column separator
        }
        return all;
    }

    private static void note(List<String> problems, String problem) {
        if (problems.size() < 100) {
            problems.add(problem);
        }
    }

    /** One column's strips over a stripe range; {@code pending[i]}: strip i is undecided (not read). */
    record ColumnRead(ByteBuf strips, int n, long[] versions, boolean[] pending) {
        long version(int strip, int j) {
            return n == 0 ? 0 : versions[strip * n + j];
        }
    }

    private static ColumnRead read(ClusterClient cluster, Chunk chunk, Chunklet column, long firstStripe, int count)
            throws Exception {
        String address = cluster.directory().address(column.csId()).get(30, TimeUnit.SECONDS);
        ByteBuf section = Unpooled.buffer();
        EcSection.none().writeTo(section);
        DataClient.Reply reply = cluster.connections().request(address, DataFrame.TYPE_STRIP_READ, chunk.uid(),
                chunk.version(), firstStripe * S, count * S, section).get(60, TimeUnit.SECONDS);
        try {
            if (reply.status() == CsStatus.PENDING) {
                return count == 1 ? new ColumnRead(null, 0, new long[0], new boolean[] {true})
                        : readStripByStrip(cluster, chunk, column, firstStripe, count);
            }
            if (reply.status() != CsStatus.OK) {
                throw new CsException(reply.status(), "chunk server " + column.csId() + " at " + address + ": "
                        + reply.message());
            }
            ByteBuf payload = reply.payload();
            int at = payload.readerIndex();
            BlockCrc.verify(payload, at, firstStripe * S, count, chunk.uid());
            int blockBytes = count * (S + 4);
            EcSection versions = EcSection.read(payload, at + blockBytes, payload.readableBytes() - blockBytes, count);
            ByteBuf strips = Unpooled.wrappedBuffer(ByteBuffer.allocateDirect(count * S)).clear();
            strips.writeBytes(payload, at, count * S);
            return new ColumnRead(strips, versions.versionsPerBlock(), Arrays.copyOf(versions.versions(),
                    versions.versions().length), new boolean[count]);
        } finally {
            reply.release();
        }
    }

    /** A range holding an undecided strip: read one strip at a time to tell which. */
    private static ColumnRead readStripByStrip(ClusterClient cluster, Chunk chunk, Chunklet column, long firstStripe,
            int count) throws Exception {
        ByteBuf strips = Unpooled.wrappedBuffer(ByteBuffer.allocateDirect(count * S)).clear();
        strips.writerIndex(count * S);
        boolean[] pending = new boolean[count];
        int n = 0;
        long[] versions = null;
        for (int i = 0; i < count; i++) {
            ColumnRead one = read(cluster, chunk, column, firstStripe + i, 1);
            pending[i] = one.pending[0];
            if (one.pending[0]) {
                continue;
            }
            strips.setBytes(i * S, one.strips, 0, S);
            if (one.n != 0 && versions == null) {
                n = one.n;
                versions = new long[count * n];
            }
            for (int j = 0; j < n && one.n != 0; j++) {
                versions[i * n + j] = one.version(0, j);
            }
        }
        return new ColumnRead(strips, n, versions == null ? new long[0] : versions, pending);
    }
}
