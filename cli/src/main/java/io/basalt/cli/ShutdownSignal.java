package io.basalt.cli;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * How a foreground daemon waits for SIGINT/SIGTERM and then cleans up before the JVM exits.
 *
 * <p>The JVM runs shutdown hooks on a signal and exits when they return, so the hook must wait
 * until the daemon has finished its cleanup (in-flight requests answered, devices flushed) — but
 * not by joining the main thread, which then blocks in {@code System.exit} while hooks run (that
 * made every stop take the full join timeout). The main thread says "cleaned up" instead.
 *
 * <pre>
 * ShutdownSignal signal = ShutdownSignal.install();
 * try { start(); signal.await(); } finally { cleanUp(); signal.cleanedUp(); }
 * </pre>
 */
final class ShutdownSignal {
    /** Longest a signal waits for cleanup before the JVM exits anyway. */
    private static final long CLEANUP_SECONDS_MAX = 60;

    private final CountDownLatch signalled = new CountDownLatch(1);
    private final CountDownLatch cleanedUp = new CountDownLatch(1);

    private ShutdownSignal() {}

    static ShutdownSignal install() {
        ShutdownSignal signal = new ShutdownSignal();
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            signal.signalled.countDown();
            try {
                signal.cleanedUp.await(CLEANUP_SECONDS_MAX, TimeUnit.SECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }, "basalt-shutdown"));
        return signal;
    }

    /** Blocks until the process is asked to stop. */
    void await() throws InterruptedException {
        signalled.await();
    }

    /**
     * Waits up to {@code timeoutMillis} for the signal; true once the process is asked to stop.
     * Lets start-up loops poll so a Ctrl-C during start-up stops what was started.
     */
    boolean await(long timeoutMillis) throws InterruptedException {
        return signalled.await(timeoutMillis, TimeUnit.MILLISECONDS);
    }

    boolean signalled() {
        return signalled.getCount() == 0;
    }

    /** Lets the JVM exit: call after cleanup, in a finally block. */
    void cleanedUp() {
        cleanedUp.countDown();
    }
}
