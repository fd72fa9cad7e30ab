package io.basalt.client;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;

/**
 * An asynchronous shared/exclusive gate over a device's writes: ordinary writes (and trims and
 * zeroes) pass shared, many at once; a compare-and-write passes alone, after the writes before it
 * finished and before any that came after it start. First come, first served: a queued exclusive
 * holder is not overtaken by later shared ones, so it cannot starve.
 *
 * <p>Nobody blocks a thread: entering returns a future that completes when the caller may go on.
 * The uncontended shared path is one monitor enter and an already-completed future.
 */
final class WriteGate {
    private static final CompletableFuture<Void> OPEN = CompletableFuture.completedFuture(null);

    private record Waiter(boolean exclusive, CompletableFuture<Void> entered) {}

    private final ArrayDeque<Waiter> queue = new ArrayDeque<>();
    private int sharedHolders;
    private boolean exclusiveHeld;

    synchronized CompletableFuture<Void> enterShared() {
        if (!exclusiveHeld && queue.isEmpty()) {
            sharedHolders++;
            return OPEN;
        }
        Waiter waiter = new Waiter(false, new CompletableFuture<>());
        queue.add(waiter);
        return waiter.entered();
    }

    void exitShared() {
        List<CompletableFuture<Void>> admitted;
        synchronized (this) {
            sharedHolders--;
            admitted = admit();
        }
        admitted.forEach(entered -> entered.complete(null));
    }

    synchronized CompletableFuture<Void> enterExclusive() {
        if (!exclusiveHeld && sharedHolders == 0 && queue.isEmpty()) {
            exclusiveHeld = true;
            return OPEN;
        }
        Waiter waiter = new Waiter(true, new CompletableFuture<>());
        queue.add(waiter);
        return waiter.entered();
    }

    void exitExclusive() {
        List<CompletableFuture<Void>> admitted;
        synchronized (this) {
            exclusiveHeld = false;
            admitted = admit();
        }
        admitted.forEach(entered -> entered.complete(null));
    }

    /** Lets in whoever may go now, in queue order; completed by the caller outside the monitor. */
    private List<CompletableFuture<Void>> admit() {
        List<CompletableFuture<Void>> admitted = new ArrayList<>(0);
        while (!queue.isEmpty() && !exclusiveHeld) {
            Waiter next = queue.peek();
            if (next.exclusive()) {
                if (sharedHolders > 0) {
                    break;
                }
                exclusiveHeld = true;
            } else {
                sharedHolders++;
            }
            queue.poll();
            admitted.add(next.entered());
        }
        return admitted;
    }
}
