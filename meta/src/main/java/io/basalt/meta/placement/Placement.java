package io.basalt.meta.placement;

import io.basalt.common.Units;
import io.basalt.meta.model.ChunkServer;
import io.basalt.meta.model.CsStatus;
import io.basalt.meta.model.FailureDomain;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;

/**
 * Chooses chunk servers for the chunklets of a chunk.
 *
 * <p>Design note. It runs inside apply, so it is a pure function of its arguments: no clock, no
 * randomness, no iteration order of a hash map. Rules: only UP servers (not FULL, UNHEALTHY,
 * DOWN or DRAINING: the status is replicated, so every member skips the same) with room for the
 * chunklet; at most one chunklet per failure domain (so never two on one server); among the
 * candidates the emptiest by fill ratio ({@code allocated / capacity}) wins, then the most free
 * bytes, then the lowest id. Choosing by ratio rather than free bytes fills disks of different
 * sizes at the same rate, i.e. spreads chunklets in proportion to capacity.
 */
public final class Placement {
    private Placement() {}

    /** The cluster cannot satisfy a policy; the message says what is missing and what to do. */
    public static final class PlacementException extends Exception {
        public PlacementException(String message) {
            super(message);
        }
    }

    /** Emptiest first: fill ratio, then free bytes, then id. */
    public static final Comparator<ChunkServer> EMPTIEST_FIRST = Comparator
            .comparingDouble(Placement::fillRatio)
            .thenComparing(Comparator.comparingLong(ChunkServer::freeBytes).reversed())
            .thenComparingInt(ChunkServer::id);

    static double fillRatio(ChunkServer server) {
        return server.capacityBytes() <= 0 ? 1.0
                : (double) server.allocatedBytes() / (double) server.capacityBytes();
    }

    /**
     * Where a new chunk goes: {@code live} servers, then {@code absent} ones (chunklets that start
     * OUTDATED, to be caught up when their server returns or rebuilt elsewhere when a domain
     * frees up). {@code absent} is empty whenever the cluster has enough UP failure domains.
     */
    public record NewChunkPlacement(List<ChunkServer> live, List<ChunkServer> absent) {}

    /**
     * Places a new chunk of {@code width} chunklets. When there are not enough UP failure
     * domains, but at least {@code minLive}, the missing positions go to servers that are away
     * (UNHEALTHY or DOWN) in failure domains the live ones do not use, lowest id first: a
     * cluster of exactly k+m hosts with one host down goes on accepting writes to new chunks,
     * degraded, as it does for chunks it already has, instead of refusing them.
     */
    public static NewChunkPlacement chooseForNewChunk(Collection<ChunkServer> servers,
                                                      String policyName, FailureDomain domain,
                                                      int width, int minLive,
                                                      long chunkletSizeBytes)
            throws PlacementException {
        try {
            return new NewChunkPlacement(choose(servers, policyName, domain, width,
                    chunkletSizeBytes, Set.of(), Set.of()), List.of());
        } catch (PlacementException notEnough) {
            List<ChunkServer> live = new ArrayList<>();
            for (int count = width - 1; count >= minLive && live.isEmpty(); count--) {
                try {
                    live = choose(servers, policyName, domain, count, chunkletSizeBytes, Set.of(),
                            Set.of());
                } catch (PlacementException fewer) {
                    // try one fewer
                }
            }
            if (live.isEmpty()) {
                throw notEnough;
            }
            Set<String> used = new HashSet<>();
            for (ChunkServer server : live) {
                used.add(domain.domainOf(server));
            }
            List<ChunkServer> away = new ArrayList<>();
            for (ChunkServer server : servers) {
                if (server.status() == CsStatus.UNHEALTHY || server.status() == CsStatus.DOWN) {
                    away.add(server);
                }
            }
            away.sort(Comparator.comparingInt(ChunkServer::id));
            List<ChunkServer> absent = new ArrayList<>();
            for (ChunkServer server : away) {
                if (absent.size() < width - live.size() && used.add(domain.domainOf(server))) {
                    absent.add(server);
                }
            }
            if (absent.size() < width - live.size()) {
                throw notEnough;
            }
            return new NewChunkPlacement(live, List.copyOf(absent));
        }
    }

    /**
     * Picks {@code count} servers in distinct {@code domain}s, none in {@code excludedDomains} or
     * with an id in {@code excludedCsIds}, each with {@code chunkletSizeBytes} free.
     *
     * @param policyName for the error message only
     */
    public static List<ChunkServer> choose(Collection<ChunkServer> servers, String policyName,
                                           FailureDomain domain, int count, long chunkletSizeBytes,
                                           Set<Integer> excludedCsIds, Set<String> excludedDomains)
            throws PlacementException {
        if (count <= 0) {
            throw new IllegalArgumentException("count " + count + " (must be > 0)");
        }
        // TreeMap: domains in a fixed order whatever order the servers came in.
        Map<String, ChunkServer> bestPerDomain = new TreeMap<>();
        Set<String> upDomains = new HashSet<>();
        int upCount = 0;
        for (ChunkServer server : servers) {
            if (server.status() != CsStatus.UP) {
                continue;
            }
            upCount++;
            String label = domain.domainOf(server);
            upDomains.add(label);
            if (excludedCsIds.contains(server.id()) || excludedDomains.contains(label)
                    || server.freeBytes() < chunkletSizeBytes) {
                continue;
            }
            bestPerDomain.merge(label, server,
                    (a, b) -> EMPTIEST_FIRST.compare(a, b) <= 0 ? a : b);
        }
        if (bestPerDomain.size() < count) {
            int needed = count + excludedDomains.size();
            throw new PlacementException("policy " + policyName + " needs " + needed + " "
                    + domain.plural() + ", cluster has " + upDomains.size()
                    + " (chunk servers: " + servers.size() + " registered, " + upCount + " UP"
                    + (bestPerDomain.size() < upDomains.size() - excludedDomains.size()
                            ? ", " + bestPerDomain.size() + " domains with "
                            + Units.formatBytes(chunkletSizeBytes) + " free" : "")
                    + "); add chunk servers on more " + domain.plural()
                    + " or choose a policy that needs fewer");
        }
        List<ChunkServer> chosen = new ArrayList<>(bestPerDomain.values());
        chosen.sort(EMPTIEST_FIRST);
        return List.copyOf(chosen.subList(0, count));
    }
}
