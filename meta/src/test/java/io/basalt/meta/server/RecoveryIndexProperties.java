package io.basalt.meta.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.meta.api.MetaRequest;
import io.basalt.meta.api.MetaRequest.RecoverItem;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.Chunklet;
import io.basalt.meta.model.ChunkletState;
import io.basalt.meta.model.CsStatus;
import io.basalt.meta.store.Keys;
import io.basalt.meta.store.MetaStore;
import io.basalt.meta.store.MetaStore.Table;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;

/**
 * The recovery and degraded tables against the chunk table, after every entry of random
 * sequences of allocations, failure reports, recover items (mostly at the right version),
 * recovery reports (right and wrong start versions), status changes, lease moves, leader epochs,
 * shrinks and deletes: a record exactly for every RECOVERING chunklet, whose startVersion is the
 * version at which the chunklet became RECOVERING (tracked here from the chunk maps alone), and a
 * degraded entry exactly for every chunk with a chunklet that is not UPTODATE. Also: no chunk
 * ever loses its last UPTODATE copies through a recovery or report.
 */
class RecoveryIndexProperties {
    private static final int CS_COUNT = 7;

    @Property(tries = 30)
    void recoveryTablesMatchTheChunkTable(@ForAll long seed) throws IOException {
        Path dir = Files.createTempDirectory("recovery-index");
        try (StandaloneMeta meta = new StandaloneMeta(dir)) {
            for (int i = 0; i < CS_COUNT; i++) {
                meta.register("host" + i, 1L << 40);
            }
            SplittableRandom random = new SplittableRandom(seed);
            Map<String, Long> startVersions = new TreeMap<>();
            int volumes = 0;
            for (int step = 0; step < 200; step++) {
                Map<Long, Chunk> before = chunks(meta);
                List<Chunk> existing = new ArrayList<>(before.values());
                Chunk target = existing.isEmpty() ? null
                        : existing.get(random.nextInt(existing.size()));
                int targetCs = target == null ? 1 + random.nextInt(CS_COUNT)
                        : target.chunklets().get(random.nextInt(target.chunklets().size())).csId();
                int volume = 1 + random.nextInt(Math.max(1, volumes));
                MetaRequest request = switch (random.nextInt(15)) {
                    case 0 -> new MetaRequest.CreateVolume("v" + (volumes + 1), 64L << 20,
                            List.of("rep1", "rep2", "rep3", "ec2+1", "ec4+2").get(random.nextInt(5)),
                            0);
                    case 1, 2 -> new MetaRequest.AllocateChunk(volume, random.nextInt(16));
                    case 3 -> target == null ? new MetaRequest.ListCs()
                            : new MetaRequest.ReportFailure(target.uid(), target.version(),
                                    targetCs);
                    case 4, 5, 6, 13 -> {
                        List<RecoverItem> items = new ArrayList<>();
                        for (int i = 1 + random.nextInt(3); i > 0 && target != null; i--) {
                            Chunk chunk = existing.get(random.nextInt(existing.size()));
                            int csId = chunk.chunklets().get(random.nextInt(
                                    chunk.chunklets().size())).csId();
                            int mode = 1 + random.nextInt(4);
                            items.add(new RecoverItem(chunk.uid(), chunk.version()
                                    - (random.nextInt(8) == 0 ? 1 : 0), csId, mode,
                                    mode == MetaRequest.RecoverChunklets.MODE_MIGRATE
                                            && random.nextBoolean()
                                            ? 1 + random.nextInt(CS_COUNT) : 0));
                        }
                        yield items.isEmpty() ? new MetaRequest.ListCs()
                                : new MetaRequest.RecoverChunklets(items);
                    }
                    case 7 -> {
                        Long start = target == null ? null
                                : startVersions.get(target.uid() + "/" + targetCs);
                        yield target == null ? new MetaRequest.ListCs()
                                : new MetaRequest.RecoveryDone(target.uid(), targetCs,
                                        start != null && random.nextInt(4) != 0 ? start
                                                : 1 + random.nextInt(10));
                    }
                    case 8 -> {
                        CsStatus[] statuses = {CsStatus.UP, CsStatus.DOWN, CsStatus.UNHEALTHY,
                                CsStatus.FULL};
                        int csId = 1 + random.nextInt(CS_COUNT);
                        CsStatus now = MetaLogic.allCs(meta.stateMachine.storeForTests()).stream()
                                .filter(cs -> cs.id() == csId).findFirst().orElseThrow().status();
                        yield new MetaRequest.SetCsStatus(csId, now.code,
                                statuses[random.nextInt(statuses.length)].code);
                    }
                    case 9 -> new MetaRequest.AcquireLease(volume, "c" + random.nextInt(3), 10_000);
                    case 10 -> new MetaRequest.NewLeaderEpoch("m");
                    case 14 -> new MetaRequest.DrainCs(1 + random.nextInt(CS_COUNT),
                            random.nextBoolean());
                    default -> random.nextBoolean()
                            ? new MetaRequest.ResizeVolume("v" + volume, 16L << 20, true)
                            : new MetaRequest.DeleteVolume("v" + volume, true);
                };
                if (request instanceof MetaRequest.CreateVolume) {
                    volumes++;
                }
                if (request.op().isWrite()) {
                    meta.apply(request);
                }
                Map<Long, Chunk> after = chunks(meta);
                trackStartVersions(before, after, startVersions);
                checkTables(meta);
                checkMovesAndAllocation(meta);
                for (Map.Entry<String, Long> entry : startVersions.entrySet()) {
                    String[] parts = entry.getKey().split("/");
                    byte[] value = meta.stateMachine.storeForTests().get(Table.RECOVERY,
                            Keys.u32u64(Integer.parseInt(parts[1]), Long.parseLong(parts[0])));
                    assertThat(Keys.readU64(value, RecoveryIndex.VALUE_OFFSET_START_VERSION))
                            .as("start version of %s (seed %d, step %d)", entry.getKey(), seed,
                                    step).isEqualTo(entry.getValue());
                }
                for (Chunk chunk : after.values()) {
                    Chunk old = before.get(chunk.uid());
                    if (old != null && uptodate(old) > 0) {
                        assertThat(uptodate(chunk)).as("readable chunklets of chunk %d after %s"
                                + " (seed %d)", chunk.uid(), request, seed).isPositive();
                    }
                }
            }
        } finally {
            try (var files = Files.walk(dir)) {
                files.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private static int uptodate(Chunk chunk) {
        return (int) chunk.chunklets().stream()
                .filter(c -> c.state() == ChunkletState.UPTODATE
                        || c.state() == ChunkletState.MIGRATING).count();
    }

    /**
     * Moves and allocation: a MIGRATING chunklet has exactly one RECOVERING partner with its
     * index (and a chunk has at most one move); no CS holds two chunklets of a chunk; every
     * server's allocatedBytes is the sum of the chunklet sizes placed on it.
     */
    static void checkMovesAndAllocation(StandaloneMeta meta) {
        MetaStore store = meta.stateMachine.storeForTests();
        Map<Integer, Long> expected = new TreeMap<>();
        for (Chunk chunk : chunks(meta).values()) {
            io.basalt.meta.model.Volume volume = io.basalt.meta.model.Volume.decode(
                    new WireReader(store.get(Table.VOLUME, Keys.u64(chunk.volumeId()))));
            long bytes = io.basalt.meta.model.Policy.parse(volume.policyName())
                    .chunkletSizeBytes(volume.chunkSizeBytes());
            java.util.Set<Integer> csIds = new java.util.HashSet<>();
            int migrating = 0;
            for (Chunklet chunklet : chunk.chunklets()) {
                assertThat(csIds.add(chunklet.csId())).as("two chunklets of %s on one cs", chunk)
                        .isTrue();
                expected.merge(chunklet.csId(), bytes, Long::sum);
                if (chunklet.state() == ChunkletState.MIGRATING) {
                    migrating++;
                    assertThat(chunk.chunklets().stream().filter(c -> c.index()
                            == chunklet.index() && c.state() == ChunkletState.RECOVERING).count())
                            .as("move partner in %s", chunk).isEqualTo(1);
                }
            }
            assertThat(migrating).as("moves in %s", chunk).isLessThanOrEqualTo(1);
        }
        for (io.basalt.meta.model.ChunkServer server : MetaLogic.allCs(store)) {
            assertThat(server.allocatedBytes()).as("allocated bytes of cs %d", server.id())
                    .isEqualTo(expected.getOrDefault(server.id(), 0L));
        }
    }

    /**
     * "uid/csId" -> the version at which that chunklet became RECOVERING, from the chunk maps
     * alone: a chunklet RECOVERING before and after at the same index and CS keeps its start.
     */
    private static void trackStartVersions(Map<Long, Chunk> before, Map<Long, Chunk> after,
                                           Map<String, Long> startVersions) {
        Map<String, Long> next = new TreeMap<>();
        for (Chunk chunk : after.values()) {
            Chunk old = before.get(chunk.uid());
            for (Chunklet chunklet : chunk.chunklets()) {
                if (chunklet.state() != ChunkletState.RECOVERING) {
                    continue;
                }
                String key = chunk.uid() + "/" + chunklet.csId();
                boolean stayed = old != null && old.chunklets().stream().anyMatch(c ->
                        c.index() == chunklet.index() && c.csId() == chunklet.csId()
                                && c.state() == ChunkletState.RECOVERING);
                next.put(key, stayed ? startVersions.get(key) : chunk.version());
            }
        }
        startVersions.clear();
        startVersions.putAll(next);
    }

    static Map<Long, Chunk> chunks(StandaloneMeta meta) {
        Map<Long, Chunk> chunks = new TreeMap<>();
        for (MetaStore.Entry entry : meta.dump().get(Table.CHUNK)) {
            Chunk chunk = Chunk.decode(new WireReader(entry.value()));
            chunks.put(chunk.uid(), chunk);
        }
        return chunks;
    }

    /** Both recovery tables hold exactly what the chunk table implies. */
    static void checkTables(StandaloneMeta meta) {
        Map<String, String> expectedRecovery = new TreeMap<>();
        Map<String, String> expectedDegraded = new TreeMap<>();
        Map<String, Long> maxStart = new TreeMap<>();
        java.util.HexFormat hex = java.util.HexFormat.of();
        for (Chunk chunk : chunks(meta).values()) {
            String location = hex.formatHex(Keys.u64u64(chunk.volumeId(), chunk.index()));
            boolean degraded = false;
            for (Chunklet chunklet : chunk.chunklets()) {
                degraded |= chunklet.state() != ChunkletState.UPTODATE;
                if (chunklet.state() == ChunkletState.RECOVERING) {
                    String key = hex.formatHex(Keys.u32u64(chunklet.csId(), chunk.uid()));
                    expectedRecovery.put(key, location);
                    maxStart.put(key, chunk.version());
                }
            }
            if (degraded) {
                expectedDegraded.put(hex.formatHex(Keys.u64(chunk.uid())), location);
            }
        }
        Map<String, String> recovery = new TreeMap<>();
        for (MetaStore.Entry entry : meta.dump().get(Table.RECOVERY)) {
            String key = hex.formatHex(entry.key());
            assertThat(entry.value()).hasSize(RecoveryIndex.VALUE_BYTES);
            recovery.put(key, hex.formatHex(entry.value(), 0, 16));
            long start = Keys.readU64(entry.value(), RecoveryIndex.VALUE_OFFSET_START_VERSION);
            assertThat(start).as("start version of %s", key)
                    .isLessThanOrEqualTo(maxStart.getOrDefault(key, Long.MAX_VALUE));
        }
        assertThat(recovery).isEqualTo(expectedRecovery);
        Map<String, String> degraded = new TreeMap<>();
        for (MetaStore.Entry entry : meta.dump().get(Table.DEGRADED)) {
            degraded.put(hex.formatHex(entry.key()), hex.formatHex(entry.value()));
        }
        assertThat(degraded).isEqualTo(expectedDegraded);
    }
}
