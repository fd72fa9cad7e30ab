package io.basalt.cli;

import java.io.IOException;
import java.io.InputStream;
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
 *
 * <p>Lifeline. A daemon started by {@code basalt up} gets a pipe from {@code up} on its stdin and
 * {@link #LIFELINE_ENV} set; when that pipe reports end-of-file, {@code up} is gone (exited,
 * {@code kill -9}, the OOM killer: the kernel closes a dead process's descriptors) and the daemon
 * stops exactly as on SIGTERM, through the shutdown hook, so it finishes its clean stop. Why a
 * pipe and not a parent-death signal: {@code prctl(PR_SET_PDEATHSIG)} needs FFM, is Linux only,
 * fires when the forking <em>thread</em> ends (a JVM forks from whichever thread starts the
 * process), and races a parent that dies before the child arms it; an end-of-file on a pipe
 * cannot be missed, even if {@code up} died before the daemon looked. The JDK starts children
 * with every descriptor but 0-2 closed, so no sibling daemon holds the write end open.
 */
final class ShutdownSignal {
    /** Longest a signal waits for cleanup before the JVM exits anyway. */
    private static final long CLEANUP_SECONDS_MAX = 60;
    /** Set to {@value #LIFELINE_STDIN} by a supervisor whose death must stop this daemon. */
    static final String LIFELINE_ENV = "BASALT_LIFELINE";
    static final String LIFELINE_STDIN = "stdin";
    /** The supervisor's pid, for the log line when it is gone. */
    static final String SUPERVISOR_PID_ENV = "BASALT_SUPERVISOR_PID";

    /** One lifeline watcher per JVM, however many daemons it hosts ({@link ChunkServerHostCommand}). */
    private static final java.util.concurrent.atomic.AtomicBoolean LIFELINE_WATCHED =
            new java.util.concurrent.atomic.AtomicBoolean();

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
        watchLifelineIfSupervised();
        return signal;
    }

    /**
     * Starts the lifeline watcher if a supervisor asked for one ({@link #LIFELINE_ENV}). Call it
     * once the process's shutdown hooks are in place: an end-of-file seen earlier is not lost (it
     * stays), and the stop it causes must run those hooks. Later calls in the same JVM do nothing:
     * the first watcher's exit runs every daemon's hook.
     */
    static void watchLifelineIfSupervised() {
        if (LIFELINE_STDIN.equals(System.getenv(LIFELINE_ENV)) && LIFELINE_WATCHED.compareAndSet(false, true)) {
            watchLifeline(System.in, System.getenv(SUPERVISOR_PID_ENV));
        }
    }

    /**
     * Stops the process (as SIGTERM would) once {@code lifeline} ends: its writer is gone. Reads
     * and drops anything written to it; a read error counts as the end too (the pipe is broken).
     */
    static Thread watchLifeline(InputStream lifeline, String supervisorPid) {
        Thread watcher = new Thread(() -> {
            byte[] drain = new byte[256];
            try {
                while (lifeline.read(drain) >= 0) {
                    // The supervisor writes nothing; anything it does write is not a command.
                }
            } catch (IOException e) {
                System.err.println("basalt: lifeline read failed (" + e.getMessage() + ")");
            }
            System.err.println("basalt: supervisor " + (supervisorPid == null ? ""
                    : "(basalt up, pid " + supervisorPid + ") ") + "is gone: stopping");
            System.err.flush();
            // Runs the shutdown hook: the daemon's main thread cleans up as after SIGTERM.
            System.exit(0);
        }, "basalt-lifeline");
        watcher.setDaemon(true);
        watcher.start();
        return watcher;
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
