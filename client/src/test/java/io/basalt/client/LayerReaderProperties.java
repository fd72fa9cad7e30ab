package io.basalt.client;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CompletableFuture;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/**
 * Model-based test of the layering (docs/snapshots.md): random writes, trims, write-zeroes,
 * snapshots, rollbacks, clones, grows and snapshot deletes against a byte-array model of every
 * volume and snapshot, every device read through {@link LayerReader} over in-memory layers that
 * behave as chunk servers and meta do (a block a layer never wrote is absent; a trimmed or zeroed
 * one is held, as zeroes; a snapshot moves the top layer's blocks into a new layer below it).
 * After every step each volume and snapshot is read whole and compared byte for byte.
 */
class LayerReaderProperties {
    private static final int BLOCK = 4096;
    /** Small chunks, so that reads cross chunk (piece) boundaries and layers answer per piece. */
    private static final int CHUNK_BLOCKS = 4;
    private static final int START_BLOCKS = 24;

    /** What a layer holds for a block it wrote: data, or zeroes (trim / write-zeroes). */
    private static final byte[] ZEROED = new byte[0];

    /** A layer in memory: its own blocks, its size and its parent; the chunk servers and meta of one layer. */
    static final class MemLayer implements LayerReader.Layer {
        final long id;
        long sizeBytes;
        long parentId;
        TreeMap<Long, byte[]> own = new TreeMap<>();
        final Map<Long, MemLayer> all;

        MemLayer(long id, long sizeBytes, long parentId, Map<Long, MemLayer> all) {
            this.id = id;
            this.sizeBytes = sizeBytes;
            this.parentId = parentId;
            this.all = all;
            all.put(id, this);
        }

        @Override
        public long sizeBytes() {
            return sizeBytes;
        }

        @Override
        public CompletableFuture<List<LayerReader.Own>> readOwn(long offsetBytes, int lengthBytes, ByteBuf destination,
                int destinationIndex) {
            List<LayerReader.Own> pieces = new ArrayList<>();
            long at = offsetBytes;
            long end = offsetBytes + lengthBytes;
            long chunkBytes = (long) CHUNK_BLOCKS * BLOCK;
            while (at < end) {
                int pieceBytes = (int) Math.min(end - at, chunkBytes - at % chunkBytes);
                BitSet absent = new BitSet();
                for (int i = 0; i < pieceBytes / BLOCK; i++) {
                    long block = at / BLOCK + i;
                    byte[] data = own.get(block);
                    int index = destinationIndex + (int) (at - offsetBytes) + i * BLOCK;
                    if (data == null || data == ZEROED) {
                        destination.setZero(index, BLOCK);
                        if (data == null) {
                            absent.set(i);
                        }
                    } else {
                        destination.setBytes(index, data);
                    }
                }
                pieces.add(new LayerReader.Own(at, pieceBytes, absent, parentId));
                at += pieceBytes;
            }
            return CompletableFuture.completedFuture(pieces);
        }

        @Override
        public CompletableFuture<LayerReader.Layer> layer(long layerId) {
            MemLayer layer = all.get(layerId);
            return layer == null ? CompletableFuture.failedFuture(new IllegalStateException("layer " + layerId + " gone"))
                    : CompletableFuture.completedFuture(layer);
        }
    }

    sealed interface Op permits Write, Zero, Snapshot, Rollback, Clone, Grow, DeleteSnapshot {}

    record Write(int volume, int block, int blocks, byte fill) implements Op {}

    /** TRIM or WRITE_ZEROES: both leave zeroes that must not fall through. */
    record Zero(int volume, int block, int blocks) implements Op {}

    record Snapshot(int volume) implements Op {}

    record Rollback(int volume, int snapshot) implements Op {}

    record Clone(int snapshot) implements Op {}

    record Grow(int volume, int blocks) implements Op {}

    record DeleteSnapshot(int snapshot) implements Op {}

    @Provide
    Arbitrary<List<Op>> ops() {
        Arbitrary<Integer> volume = Arbitraries.integers().between(0, 3);
        Arbitrary<Integer> block = Arbitraries.integers().between(0, START_BLOCKS + 8);
        Arbitrary<Integer> blocks = Arbitraries.integers().between(1, 9);
        Arbitrary<Op> op = Arbitraries.frequencyOf(
                Tuple(6, Combinators.combine(volume, block, blocks, Arbitraries.bytes().between((byte) 1, (byte) 120))
                        .as(Write::new)),
                Tuple(3, Combinators.combine(volume, block, blocks).as(Zero::new)),
                Tuple(3, volume.map(Snapshot::new)),
                Tuple(1, Combinators.combine(volume, Arbitraries.integers().between(0, 9)).as(Rollback::new)),
                Tuple(1, Arbitraries.integers().between(0, 9).map(Clone::new)),
                Tuple(1, Combinators.combine(volume, Arbitraries.integers().between(1, 6)).as(Grow::new)),
                Tuple(1, Arbitraries.integers().between(0, 9).map(DeleteSnapshot::new)));
        return op.list().ofMinSize(1).ofMaxSize(30);
    }

    private static net.jqwik.api.Tuple.Tuple2<Integer, Arbitrary<? extends Op>> Tuple(int weight,
            Arbitrary<? extends Op> arbitrary) {
        return net.jqwik.api.Tuple.of(weight, arbitrary);
    }

    /** The system under test and its model side by side. */
    static final class World {
        final Map<Long, MemLayer> layers = new HashMap<>();
        final List<MemLayer> volumes = new ArrayList<>();
        final List<byte[]> volumeModels = new ArrayList<>();
        /** Live snapshots in creation order: layer and the bytes it must read as. */
        final LinkedHashMap<MemLayer, byte[]> snapshots = new LinkedHashMap<>();
        /** Which volume each snapshot belongs to (rollback only to one's own). */
        final Map<MemLayer, MemLayer> owner = new HashMap<>();
        long nextId = 1;

        World() {
            volumes.add(new MemLayer(nextId++, (long) START_BLOCKS * BLOCK, 0, layers));
            volumeModels.add(new byte[START_BLOCKS * BLOCK]);
        }

        void apply(Op op) {
            switch (op) {
                case Write w -> {
                    int v = w.volume() % volumes.size();
                    MemLayer top = volumes.get(v);
                    byte[] model = volumeModels.get(v);
                    for (int b = w.block(); b < w.block() + w.blocks() && (long) b * BLOCK < top.sizeBytes; b++) {
                        byte[] data = new byte[BLOCK];
                        Arrays.fill(data, (byte) (w.fill() + b));
                        top.own.put((long) b, data);
                        System.arraycopy(data, 0, model, b * BLOCK, BLOCK);
                    }
                }
                case Zero z -> {
                    int v = z.volume() % volumes.size();
                    MemLayer top = volumes.get(v);
                    byte[] model = volumeModels.get(v);
                    for (int b = z.block(); b < z.block() + z.blocks() && (long) b * BLOCK < top.sizeBytes; b++) {
                        top.own.put((long) b, ZEROED);
                        Arrays.fill(model, b * BLOCK, (b + 1) * BLOCK, (byte) 0);
                    }
                }
                case Snapshot s -> {
                    int v = s.volume() % volumes.size();
                    MemLayer top = volumes.get(v);
                    // As CREATE_SNAPSHOT: the top's chunks move into the new layer, the top starts empty.
                    MemLayer layer = new MemLayer(nextId++, top.sizeBytes, top.parentId, layers);
                    layer.own = top.own;
                    top.own = new TreeMap<>();
                    top.parentId = layer.id;
                    snapshots.put(layer, volumeModels.get(v).clone());
                    owner.put(layer, top);
                }
                case Rollback r -> {
                    int v = r.volume() % volumes.size();
                    MemLayer top = volumes.get(v);
                    List<MemLayer> own = snapshots.keySet().stream().filter(l -> owner.get(l) == top).toList();
                    if (own.isEmpty()) {
                        return;
                    }
                    MemLayer target = own.get(r.snapshot() % own.size());
                    top.own = new TreeMap<>();
                    top.parentId = target.id;
                    top.sizeBytes = target.sizeBytes;
                    volumeModels.set(v, snapshots.get(target).clone());
                }
                case Clone c -> {
                    if (snapshots.isEmpty() || volumes.size() >= 4) {
                        return;
                    }
                    MemLayer source = new ArrayList<>(snapshots.keySet()).get(c.snapshot() % snapshots.size());
                    volumes.add(new MemLayer(nextId++, source.sizeBytes, source.id, layers));
                    volumeModels.add(snapshots.get(source).clone());
                }
                case Grow g -> {
                    int v = g.volume() % volumes.size();
                    MemLayer top = volumes.get(v);
                    top.sizeBytes += (long) g.blocks() * BLOCK;
                    volumeModels.set(v, Arrays.copyOf(volumeModels.get(v), (int) top.sizeBytes));
                }
                case DeleteSnapshot d -> {
                    if (snapshots.isEmpty()) {
                        return;
                    }
                    MemLayer target = new ArrayList<>(snapshots.keySet()).get(d.snapshot() % snapshots.size());
                    boolean cloned = volumes.stream().anyMatch(v -> v.parentId == target.id && owner.get(target) != v);
                    if (cloned) {
                        return; // meta refuses: a snapshot with clones
                    }
                    // The name goes; the layer stays while a layer above reads through it.
                    snapshots.remove(target);
                }
            }
        }

        void checkAll() {
            for (int v = 0; v < volumes.size(); v++) {
                check("volume " + v, volumes.get(v), volumeModels.get(v));
            }
            for (Map.Entry<MemLayer, byte[]> snapshot : snapshots.entrySet()) {
                check("snapshot layer " + snapshot.getKey().id, snapshot.getKey(), snapshot.getValue());
            }
        }

        private static void check(String what, MemLayer layer, byte[] model) {
            assertThat(layer.sizeBytes).as(what + " size").isEqualTo(model.length);
            ByteBuf read = Unpooled.buffer(model.length);
            try {
                LayerReader.read(layer, 0, model.length, read, 0).join();
                byte[] bytes = new byte[model.length];
                read.getBytes(0, bytes);
                int firstDiff = Arrays.mismatch(bytes, model);
                assertThat(firstDiff).as(what + ": first byte that differs from the model (block "
                        + (firstDiff / BLOCK) + ")").isEqualTo(-1);
                // And a read of a middle range that starts and ends inside chunks.
                if (model.length >= 6 * BLOCK) {
                    ByteBuf part = Unpooled.buffer(3 * BLOCK);
                    LayerReader.read(layer, 3L * BLOCK, 3 * BLOCK, part, 0).join();
                    byte[] partBytes = new byte[3 * BLOCK];
                    part.getBytes(0, partBytes);
                    assertThat(partBytes).as(what + " blocks 3..5").isEqualTo(Arrays.copyOfRange(model, 3 * BLOCK,
                            6 * BLOCK));
                    part.release();
                }
            } finally {
                read.release();
            }
        }
    }

    @Property(tries = 50)
    void everyVolumeAndSnapshotReadsWhatTheModelSays(@ForAll("ops") List<Op> ops) {
        World world = new World();
        for (Op op : ops) {
            world.apply(op);
            world.checkAll();
        }
    }
}
