package io.basalt.client;

import io.basalt.meta.api.CsView;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;

/**
 * Where each chunk server listens (csId to HOST:PORT), from meta's chunk server list. Loaded on the
 * first miss and again whenever a chunk map names a server it does not know (a new one joined).
 * A chunk server that restarts on another port re-registers with its new address: before the client
 * reports a server it could not reach, it asks whether the server {@link #moved} (and then simply
 * retries at the new address instead of marking a healthy server failed).
 */
final class CsDirectory {
    private final ClusterClient cluster;
    private volatile Map<Integer, String> addresses = Map.of();
    private volatile Map<String, Integer> idsByAddress = Map.of();
    private CompletableFuture<Void> loading;

    CsDirectory(ClusterClient cluster) {
        this.cluster = cluster;
    }

    /** The address of {@code csId}; fails when meta does not know it either. */
    CompletableFuture<String> address(int csId) {
        String known = addresses.get(csId);
        if (known != null) {
            return CompletableFuture.completedFuture(known);
        }
        return reload().thenApply(ignored -> {
            String address = addresses.get(csId);
            if (address == null) {
                throw new IllegalStateException("chunk server " + csId + " is not registered with meta");
            }
            return address;
        });
    }

    /**
     * Reloads the list and completes with true when {@code csId} now has another address than the
     * one this client used (it restarted elsewhere), false when it is unchanged or unknown.
     */
    CompletableFuture<Boolean> moved(int csId) {
        String before = addresses.get(csId);
        return reloadNow().thenApply(ignored -> {
            String now = addresses.get(csId);
            return before != null && now != null && !before.equals(now);
        });
    }

    /** A reload that starts after this call (not one already running with older data). */
    private synchronized CompletableFuture<Void> reloadNow() {
        CompletableFuture<Void> previous = loading == null ? CompletableFuture.completedFuture(null) : loading;
        loading = previous.handle((ignored, error) -> null).thenCompose(ignored ->
                cluster.callMeta("list_cs", () -> cluster.meta().listCs()).thenAccept(this::load));
        return loading;
    }

    /** The id of the chunk server at {@code address}, or -1. */
    int idOf(String address) {
        return idsByAddress.getOrDefault(address, -1);
    }

    private synchronized CompletableFuture<Void> reload() {
        if (loading == null || loading.isDone()) {
            loading = cluster.callMeta("list_cs", () -> cluster.meta().listCs()).thenAccept(this::load);
        }
        return loading;
    }

    private void load(List<CsView> servers) {
        Map<Integer, String> byId = new HashMap<>();
        Map<String, Integer> byAddress = new HashMap<>();
        for (CsView view : servers) {
            byId.put(view.server().id(), view.server().address());
            byAddress.put(view.server().address(), view.server().id());
        }
        addresses = Map.copyOf(byId);
        idsByAddress = Map.copyOf(byAddress);
    }
}
