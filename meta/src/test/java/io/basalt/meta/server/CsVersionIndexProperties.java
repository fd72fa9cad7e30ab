package io.basalt.meta.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.meta.api.CsChunkVersion;
import io.basalt.meta.api.MetaRequest;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.CsStatus;
import io.basalt.meta.store.MetaStore;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;

/**
 * The per-CS version index against the chunk maps it summarizes: after random sequences of
 * allocations, failure reports, lease moves, leader epochs, shrinks and deletes, the index of
 * each chunk server replayed from changeSeq 0 equals the chunks that have a chunklet on it with
 * their current versions, and pulls from any earlier position (small pages, taken at random
 * times, as a chunk server would) converge to the same, also when the tombstones a CS has applied
 * are collected meanwhile (and none it has not applied is).
 */
class CsVersionIndexProperties {
    private static final int CS_COUNT = 6;
    private static final int PAGE = 3;

    /** What one chunk server has learned by pulling, and from where it goes on. */
    private static final class Puller {
        long lastSeq;
        final Map<Long, Long> versions = new TreeMap<>();
    }

    @Property(tries = 40)
    void indexEqualsChunkMapsAndPullsConverge(@ForAll long seed) throws IOException {
        Path dir = Files.createTempDirectory("cs-version-index");
        try (StandaloneMeta meta = new StandaloneMeta(dir)) {
            for (int i = 0; i < CS_COUNT; i++) {
                meta.register("host" + i, 1L << 40);
            }
            SplittableRandom random = new SplittableRandom(seed);
            Map<Integer, List<Puller>> pullers = new HashMap<>();
            for (int csId = 1; csId <= CS_COUNT; csId++) {
                pullers.put(csId, List.of(new Puller(), new Puller()));
            }
            Map<Integer, Long> collectedThrough = new HashMap<>();
            Map<Long, TreeMap<Long, List<Chunklet>>> history = new HashMap<>(); // uid -> version -> chunklets
            int volumes = 0;
            for (int step = 0; step < 150; step++) {
                int target = 1 + random.nextInt(Math.max(1, volumes));
                MetaRequest request = switch (random.nextInt(11)) {
                    case 0 -> new MetaRequest.CreateVolume("v" + (volumes + 1), 64L << 20,
                            List.of("rep1", "rep3", "ec2+1").get(random.nextInt(3)), 0);
                    case 1, 2, 3 -> new MetaRequest.AllocateChunk(target, random.nextInt(16));
                    case 4 -> new MetaRequest.ReportFailure(1 + random.nextInt(40),
                            1 + random.nextInt(4), 1 + random.nextInt(CS_COUNT));
                    case 5 -> new MetaRequest.AcquireLease(target, "c" + random.nextInt(2), 1000);
                    case 6 -> random.nextBoolean() ? new MetaRequest.NewLeaderEpoch("m")
                            : new MetaRequest.ResizeVolume("v" + target,
                                    (1L + random.nextInt(64)) << 20, true);
                    case 7 -> new MetaRequest.DeleteVolume("v" + target);
                    case 10 -> new MetaRequest.CreateSnapshot("v" + target, "s" + step);
                    case 8 -> new MetaRequest.SetCsStatus(1 + random.nextInt(CS_COUNT),
                            CsStatus.UP.code, CsStatus.DOWN.code);
                    default -> new MetaRequest.SetCsStatus(1 + random.nextInt(CS_COUNT),
                            CsStatus.DOWN.code, CsStatus.UP.code);
                };
                if (request instanceof MetaRequest.CreateVolume && meta.apply(request).isOk()) {
                    volumes++;
                } else {
                    meta.apply(request);
                }
                recordChunklets(meta, history);
                meta.nowMillis += random.nextInt(2000);
                if (random.nextInt(6) == 0) {
                    int csId = 1 + random.nextInt(CS_COUNT);
                    long acked = Math.min(pullers.get(csId).get(0).lastSeq,
                            pullers.get(csId).get(1).lastSeq);
                    collect(meta, csId, acked);
                    collectedThrough.merge(csId, acked, Math::max);
                }
                for (List<Puller> csPullers : pullers.values()) {
                    for (Puller puller : csPullers) {
                        if (random.nextInt(8) == 0) {
                            pull(meta, pullers, puller);
                        }
                    }
                }
            }
            Map<Integer, Map<Long, Long>> expected = expected(meta);
            for (int csId = 1; csId <= CS_COUNT; csId++) {
                List<CsChunkVersion> full = list(meta, csId, 0);
                Set<Long> uids = new HashSet<>();
                Map<Long, Long> live = new TreeMap<>();
                for (CsChunkVersion entry : full) {
                    assertThat(uids.add(entry.chunkUid()))
                            .as("one entry per chunk on cs %d (seed %d): %s", csId, seed, full)
                            .isTrue();
                    if (!entry.deleted()) {
                        live.put(entry.chunkUid(), entry.version());
                        assertThat(entry.writersFrom())
                                .as("cs %d %s: writersFrom is where the chunk's current chunklets began (seed %d): %s",
                                        csId, entry, seed, history.get(entry.chunkUid()))
                                .isEqualTo(writersFrom(history.get(entry.chunkUid()), entry.version()));
                    } else {
                        assertThat(entry.changeSeq())
                                .as("cs %d tombstone %s collected (seed %d)", csId, entry, seed)
                                .isGreaterThan(collectedThrough.getOrDefault(csId, 0L));
                    }
                }
                assertThat(live).as("cs %d full list (seed %d)", csId, seed)
                        .isEqualTo(expected.getOrDefault(csId, Map.of()));
                for (Puller puller : pullers.get(csId)) {
                    pullOne(meta, csId, puller);
                    assertThat(puller.versions).as("cs %d incremental (seed %d)", csId, seed)
                            .isEqualTo(expected.getOrDefault(csId, Map.of()));
                    assertThat(puller.lastSeq).isEqualTo(highestSeq(meta, csId));
                }
            }
        } finally {
            try (var files = Files.walk(dir)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    /**
     * What the leader's {@link TombstoneCollector} does once cs {@code csId} reports it applied
     * {@code acked}: collect its tombstones up to there, in small batches (paging exercised).
     */
    private static void collect(StandaloneMeta meta, int csId, long acked) {
        long after = 0;
        while (true) {
            long from = after;
            List<Long> seqs = meta.stateMachine.readState(
                    store -> CsVersionIndex.tombstonesIn(store, csId, from, acked, 2));
            if (seqs.isEmpty()) {
                return;
            }
            int dropped = meta.ok(new MetaRequest.CollectTombstones(csId, acked, seqs)).i32();
            assertThat(dropped).isEqualTo(seqs.size());
            after = seqs.getLast();
        }
    }

    private static void pull(StandaloneMeta meta, Map<Integer, List<Puller>> pullers,
                             Puller puller) {
        for (var entry : pullers.entrySet()) {
            if (entry.getValue().contains(puller)) {
                pullOne(meta, entry.getKey(), puller);
            }
        }
    }

    private static void pullOne(StandaloneMeta meta, int csId, Puller puller) {
        for (CsChunkVersion entry : list(meta, csId, puller.lastSeq)) {
            assertThat(entry.changeSeq()).isGreaterThan(puller.lastSeq);
            if (entry.deleted()) {
                puller.versions.remove(entry.chunkUid());
            } else {
                puller.versions.put(entry.chunkUid(), entry.version());
            }
            puller.lastSeq = entry.changeSeq();
        }
    }

    /** All pages after {@code afterSeq}, {@link #PAGE} entries at a time. */
    private static List<CsChunkVersion> list(StandaloneMeta meta, int csId, long afterSeq) {
        List<CsChunkVersion> entries = new ArrayList<>();
        long after = afterSeq;
        while (true) {
            WireReader in = meta.read(new MetaRequest.ListCsChunkVersions(csId, after, PAGE))
                    .bodyOrThrow();
            in.i64();
            int count = in.i32();
            for (int i = 0; i < count; i++) {
                CsChunkVersion entry = CsChunkVersion.decode(in);
                assertThat(entry.changeSeq()).isGreaterThan(after);
                entries.add(entry);
                after = entry.changeSeq();
            }
            for (int i = entries.size() - count; i < entries.size(); i++) {
                entries.set(i, entries.get(i).withWritersFrom(in.i64()));
            }
            in.end();
            if (count < PAGE) {
                return entries;
            }
        }
    }

    private static long highestSeq(StandaloneMeta meta, int csId) {
        return meta.read(new MetaRequest.ListCsChunkVersions(csId, 0, 1)).bodyOrThrow().i64();
    }

    /** Notes every chunk's chunklets at its current version (after each step). */
    private static void recordChunklets(StandaloneMeta meta, Map<Long, TreeMap<Long, List<Chunklet>>> history) {
        for (MetaStore.Entry entry : meta.dump().get(MetaStore.Table.CHUNK)) {
            Chunk chunk = Chunk.decode(new WireReader(entry.value()));
            history.computeIfAbsent(chunk.uid(), uid -> new TreeMap<>()).put(chunk.version(), chunk.chunklets());
        }
    }

    /**
     * The oldest version from which, through {@code version}, every version the chunk had named the
     * same chunklets as {@code version}: where a relayed write is still taken. A version skipped
     * (not seen between two steps) ends the run.
     */
    private static long writersFrom(TreeMap<Long, List<Chunklet>> versions, long version) {
        List<Chunklet> now = versions.get(version);
        long from = version;
        while (versions.containsKey(from - 1) && versions.get(from - 1).equals(now)) {
            from--;
        }
        return from;
    }

    /** From the chunk maps themselves: for each CS, the chunks with a chunklet there. */
    private static Map<Integer, Map<Long, Long>> expected(StandaloneMeta meta) {
        Map<Integer, Map<Long, Long>> expected = new HashMap<>();
        for (MetaStore.Entry entry : meta.dump().get(MetaStore.Table.CHUNK)) {
            Chunk chunk = Chunk.decode(new WireReader(entry.value()));
            for (Chunklet chunklet : chunk.chunklets()) {
                expected.computeIfAbsent(chunklet.csId(), id -> new TreeMap<>())
                        .put(chunk.uid(), chunk.version());
            }
        }
        return expected;
    }
}
