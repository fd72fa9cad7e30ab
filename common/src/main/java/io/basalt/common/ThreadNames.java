package io.basalt.common;

/**
 * Names of the threads a daemon starts, carrying the daemon's name when several daemons share one
 * process: {@code basalt up} runs its chunk servers in one JVM, and a log line from
 * {@code cs3/basalt-wal-writer} says which of six WAL writers wrote it.
 *
 * <p>The daemon's name is set once on the thread that starts the daemon ({@link #setDaemon}) and
 * is inherited by every thread created from it, at creation, which is when {@link #of} is called
 * (thread builders and factories name a thread as they create it). Threads of libraries with
 * pools of their own (gRPC, the JDK's HTTP server) keep the library's names. In a process with one
 * daemon nothing is set and names stay as they are.
 */
public final class ThreadNames {
    private static final InheritableThreadLocal<String> DAEMON = new InheritableThreadLocal<>();

    private ThreadNames() {}

    /** Names this thread's daemon, for the threads it creates from now on. */
    public static void setDaemon(String name) {
        DAEMON.set(name);
    }

    /** {@code base}, after the daemon's name and a slash when the creating thread has one. */
    public static String of(String base) {
        String daemon = DAEMON.get();
        return daemon == null ? base : daemon + "/" + base;
    }
}
