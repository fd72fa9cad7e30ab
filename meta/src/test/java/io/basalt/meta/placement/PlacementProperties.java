package io.basalt.meta.placement;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.basalt.meta.model.ChunkServer;
import io.basalt.meta.model.CsStatus;
import io.basalt.meta.model.FailureDomain;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Random;
import java.util.Set;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.IntRange;

class PlacementProperties {
    private static final long GIB = 1L << 30;

    /** A cluster: hosts 0..h-1, each with 1..4 servers of 64..1024 GiB, some not UP. */
    @Provide
    Arbitrary<List<ChunkServer>> clusters() {
        return Combinators.combine(Arbitraries.integers().between(1, 12),
                Arbitraries.longs().between(0, Long.MAX_VALUE)).as((hosts, seed) -> {
            Random random = new Random(seed);
            List<ChunkServer> servers = new ArrayList<>();
            int id = 1;
            for (int host = 0; host < hosts; host++) {
                int perHost = 1 + random.nextInt(4);
                for (int i = 0; i < perHost; i++) {
                    long capacity = (64L + random.nextInt(961)) * GIB;
                    CsStatus status = random.nextInt(8) == 0 ? CsStatus.DOWN : CsStatus.UP;
                    servers.add(new ChunkServer(id++, "h" + host + ":" + (7000 + i), "h" + host,
                            "z" + host % 3, capacity, random.nextLong(capacity / 2), status, "t"));
                }
            }
            Collections.shuffle(servers, random);
            return servers;
        });
    }

    @Property(tries = 300)
    void neverTwoChunkletsInOneFailureDomain(@ForAll("clusters") List<ChunkServer> servers,
                                             @ForAll @IntRange(min = 1, max = 8) int width,
                                             @ForAll("domains") FailureDomain domain) {
        try {
            List<ChunkServer> chosen = Placement.choose(servers, "p", domain, width, GIB,
                    Set.of(), Set.of());
            assertThat(chosen).hasSize(width);
            assertThat(chosen).allMatch(s -> s.status() == CsStatus.UP && s.freeBytes() >= GIB);
            assertThat(chosen.stream().map(domain::domainOf).distinct()).hasSize(width);
            assertThat(chosen.stream().map(ChunkServer::id).distinct()).hasSize(width);
        } catch (Placement.PlacementException e) {
            long domains = servers.stream().filter(s -> s.status() == CsStatus.UP
                    && s.freeBytes() >= GIB).map(domain::domainOf).distinct().count();
            assertThat(domains).isLessThan(width);
            assertThat(e.getMessage()).contains("needs " + width);
        }
    }

    @Provide
    Arbitrary<FailureDomain> domains() {
        return Arbitraries.of(FailureDomain.values());
    }

    @Property(tries = 100)
    void deterministicWhateverTheInputOrder(@ForAll("clusters") List<ChunkServer> servers,
                                            @ForAll @IntRange(min = 1, max = 4) int width,
                                            @ForAll long shuffleSeed) throws Exception {
        List<ChunkServer> shuffled = new ArrayList<>(servers);
        Collections.shuffle(shuffled, new Random(shuffleSeed));
        List<ChunkServer> a;
        try {
            a = Placement.choose(servers, "p", FailureDomain.HOST, width, GIB, Set.of(), Set.of());
        } catch (Placement.PlacementException e) {
            assertThatThrownBy(() -> Placement.choose(shuffled, "p", FailureDomain.HOST, width, GIB,
                    Set.of(), Set.of())).isInstanceOf(Placement.PlacementException.class);
            return;
        }
        assertThat(Placement.choose(shuffled, "p", FailureDomain.HOST, width, GIB, Set.of(),
                Set.of())).isEqualTo(a);
    }

    /**
     * Thousands of allocations on a cluster of servers of different sizes fill them at the same
     * rate: every server's fill ratio ends within two chunklets of its capacity of the mean.
     * Hosts get equal total capacity so the one-per-host rule itself does not skew the spread.
     */
    @Property(tries = 20)
    void spreadIsCapacityWeighted(@ForAll @IntRange(min = 3, max = 8) int hosts,
                                  @ForAll @IntRange(min = 1, max = 3) int width,
                                  @ForAll long seed) throws Exception {
        Random random = new Random(seed);
        List<ChunkServer> servers = new ArrayList<>();
        int id = 1;
        long hostCapacity = 1200 * GIB;
        for (int host = 0; host < hosts; host++) {
            long left = hostCapacity;
            int perHost = 1 + random.nextInt(3);
            for (int i = 0; i < perHost; i++) {
                long capacity = i == perHost - 1 ? left : (100 + random.nextInt(300)) * GIB;
                left -= capacity;
                servers.add(new ChunkServer(id++, "a", "h" + host, "z", capacity, 0, CsStatus.UP, "t"));
            }
        }
        long chunkletBytes = GIB;
        int allocations = 3000;
        for (int n = 0; n < allocations; n++) {
            List<ChunkServer> chosen;
            try {
                chosen = Placement.choose(servers, "p", FailureDomain.HOST, width, chunkletBytes,
                        Set.of(), Set.of());
            } catch (Placement.PlacementException e) {
                break; // full
            }
            Set<Integer> ids = new HashSet<>();
            chosen.forEach(s -> ids.add(s.id()));
            servers.replaceAll(s -> ids.contains(s.id())
                    ? s.withAllocatedBytes(s.allocatedBytes() + chunkletBytes) : s);
        }
        double mean = servers.stream().mapToDouble(Placement::fillRatio).average().orElseThrow();
        long minCapacity = servers.stream().mapToLong(ChunkServer::capacityBytes).min().orElseThrow();
        double tolerance = 2.0 * chunkletBytes / minCapacity;
        for (ChunkServer server : servers) {
            assertThat(Math.abs(Placement.fillRatio(server) - mean))
                    .as("server %d fill %.4f vs mean %.4f", server.id(), Placement.fillRatio(server), mean)
                    .isLessThanOrEqualTo(tolerance);
        }
    }

    /** A new, empty server is preferred at once, and nothing already placed moves. */
    @Property(tries = 100)
    void stableUnderServerAddition(@ForAll("clusters") List<ChunkServer> servers) throws Exception {
        List<ChunkServer> before;
        try {
            before = Placement.choose(servers, "p", FailureDomain.CS, 1, GIB, Set.of(), Set.of());
        } catch (Placement.PlacementException e) {
            return;
        }
        List<ChunkServer> grown = new ArrayList<>(servers);
        ChunkServer fresh = new ChunkServer(10_000, "new:1", "new-host", "z", 512 * GIB, 0,
                CsStatus.UP, "t");
        grown.add(fresh);
        assertThat(Placement.choose(grown, "p", FailureDomain.CS, 1, GIB, Set.of(), Set.of()))
                .containsExactly(fresh);
        // Excluding the newcomer gives exactly the old choice: the others' order is unchanged.
        assertThat(Placement.choose(grown, "p", FailureDomain.CS, 1, GIB, Set.of(10_000), Set.of()))
                .isEqualTo(before);
    }

    @Property(tries = 50)
    void refusalNamesWhatIsMissing(@ForAll @IntRange(min = 1, max = 5) int hosts) {
        List<ChunkServer> servers = new ArrayList<>();
        for (int i = 0; i < hosts; i++) {
            servers.add(new ChunkServer(i + 1, "a", "h" + i, "z", 100 * GIB, 0, CsStatus.UP, "t"));
        }
        assertThatThrownBy(() -> Placement.choose(servers, "ec4+2", FailureDomain.HOST, 6, GIB,
                Set.of(), Set.of()))
                .hasMessageContaining("policy ec4+2 needs 6 hosts, cluster has " + hosts);
    }
}
