package io.basalt.cli;

import io.basalt.common.ThreadNames;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Unmatched;

/**
 * {@code basalt cs host}: several chunk servers in one process, each exactly what {@code cs run}
 * makes of its options (its own data directory, ports, certificate, WAL, threads and metrics),
 * sharing only the JVM. {@code basalt up} runs its chunk servers this way.
 *
 * <p>Why. A chunk server's own start is cheap next to its JVM's: class loading, linking and the
 * JIT warming the same code. Six chunk servers in six JVMs took 17-18 s of CPU to serve on this
 * 2-core machine, the same six in one JVM about 3 s (docs/performance.md), and on two cores that
 * CPU is the start-up time. What they give up is isolation: one heap and one GC, and a process
 * that ends takes all of them, so a fault drill that kills or pauses one server needs servers of
 * their own ({@code up --separate-cs-processes}, or {@code cs run}).
 *
 * <p>Life. Every server runs {@code cs run}'s code on a thread of its own, named {@code cs<n>} by
 * its position here, which is also the prefix of every thread it starts ({@link ThreadNames}), so
 * their shared log says which server wrote each line. SIGINT/SIGTERM (or the end of {@code up}'s
 * lifeline) stops them all at once, each through its own clean stop, as separate processes would
 * stop. A server whose run ends otherwise (a start that failed, a disk it could not open) ends the
 * process with its exit code after the others stopped cleanly: a supervisor sees the death instead
 * of a process that looks alive with a server missing.
 */
@Command(name = "host", mixinStandardHelpOptions = true,
        description = {"Run several chunk servers in one process (what basalt up does with its chunk servers):"
                + " each + starts the options of one server, as basalt cs run takes them.",
                "The servers share the JVM's start-up, JIT and heap, nothing else; a process that dies takes them all,"
                        + " so fault drills on one server need servers of their own (basalt cs run).",
                "Example: basalt cs host + --data /srv/d1 --meta 1@10.0.0.1:7100 --port 7701 --metrics-port 9821"
                        + " + --data /srv/d2 --meta 1@10.0.0.1:7100 --port 7702 --metrics-port 9822"})
final class ChunkServerHostCommand implements Callable<Integer> {
    /** Starts each server's options; not {@code --}, which picocli takes as the end of options. */
    static final String SEPARATOR = "+";

    /**
     * Everything after {@code host}, in order: the servers' options are {@code cs run}'s, which
     * this command does not declare, so picocli hands them over unmatched.
     */
    @Unmatched
    List<String> arguments = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        List<Hosted> hosted = plan(arguments);
        Object lock = new Object();
        int[] failure = {0};
        for (Hosted server : hosted) {
            System.out.println("basalt: " + server.name + " is the chunk server of " + server.options.data
                    + " (port " + server.options.port + ")");
            server.thread = Thread.ofPlatform().name(server.name).unstarted(() -> {
                ThreadNames.setDaemon(server.name);
                CommandLine commandLine = new CommandLine(new ChunkServerRunCommand());
                commandLine.setExecutionExceptionHandler(new UserErrorHandler());
                int exitCode = commandLine.execute(server.arguments.toArray(String[]::new));
                if (exitCode != 0) {
                    synchronized (lock) {
                        if (failure[0] == 0) {
                            failure[0] = exitCode;
                            System.err.println("basalt: " + server.name + " (" + server.options.data
                                    + ") ended with exit code " + exitCode + "; stopping the other chunk"
                                    + " servers of this process");
                            System.err.flush();
                            // Runs every server's shutdown hook: each stops cleanly, then the JVM ends
                            // with this code.
                            Thread.ofPlatform().daemon().name("basalt-cs-host-exit")
                                    .start(() -> System.exit(exitCode));
                        }
                    }
                }
            });
        }
        System.out.flush();
        hosted.forEach(server -> server.thread.start());
        for (Hosted server : hosted) {
            server.thread.join();
        }
        synchronized (lock) {
            return failure[0];
        }
    }

    /**
     * The servers the arguments name, each parsed as {@code cs run} parses its options; refuses
     * a malformed list and two servers on one directory or port before anything starts.
     */
    static List<Hosted> plan(List<String> arguments) {
        List<List<String>> servers = split(arguments);
        List<Hosted> hosted = new ArrayList<>();
        for (int i = 0; i < servers.size(); i++) {
            hosted.add(Hosted.parse("cs" + (i + 1), servers.get(i)));
        }
        refuseSharedResources(hosted);
        return hosted;
    }

    /** The options after each {@value #SEPARATOR}, one list per server; refuses anything else. */
    static List<List<String>> split(List<String> arguments) {
        if (arguments.isEmpty() || !arguments.getFirst().equals(SEPARATOR)) {
            throw new UserError("cs host: start each server's options with " + SEPARATOR + " (e.g. basalt cs host"
                    + " + --data /srv/d1 --meta ... --port 7701 + --data /srv/d2 --meta ... --port 7702)");
        }
        List<List<String>> servers = new ArrayList<>();
        for (String argument : arguments) {
            if (argument.equals(SEPARATOR)) {
                servers.add(new ArrayList<>());
            } else {
                servers.getLast().add(argument);
            }
        }
        for (int i = 0; i < servers.size(); i++) {
            if (servers.get(i).isEmpty()) {
                throw new UserError("cs host: server " + (i + 1) + " has no options after its " + SEPARATOR);
            }
        }
        return servers;
    }

    /**
     * Two servers of one process on one data directory, port or metrics port would fail only once
     * started (a port) or not at all (a directory two WALs write): refused before any starts.
     */
    private static void refuseSharedResources(List<Hosted> hosted) {
        Map<String, String> taken = new HashMap<>();
        for (Hosted server : hosted) {
            ChunkServerRunCommand options = server.options;
            List<String> claims = new ArrayList<>();
            claims.add("--data " + options.data.toAbsolutePath().normalize());
            if (options.port != 0) {
                claims.add("--port " + options.port);
            }
            if (options.metricsPort != 0) {
                claims.add("--metrics-port " + options.metricsPort);
            }
            if (options.hotDir != null) {
                claims.add("--hot-dir " + options.hotDir.toAbsolutePath().normalize());
            }
            for (String claim : claims) {
                String earlier = taken.putIfAbsent(claim, server.name);
                if (earlier != null) {
                    throw new UserError("cs host: " + earlier + " and " + server.name + " both have " + claim
                            + "; give each server its own (--port and --metrics-port default to the same value)");
                }
            }
        }
    }

    /** One server of this process: its options, parsed before any server starts. */
    static final class Hosted {
        final String name;
        final List<String> arguments;
        /** What the arguments say, to refuse two servers on one resource; the run parses them again. */
        final ChunkServerRunCommand options;
        Thread thread;

        private Hosted(String name, List<String> arguments, ChunkServerRunCommand options) {
            this.name = name;
            this.arguments = arguments;
            this.options = options;
        }

        static Hosted parse(String name, List<String> arguments) {
            ChunkServerRunCommand options = new ChunkServerRunCommand();
            try {
                new CommandLine(options).parseArgs(arguments.toArray(String[]::new));
            } catch (CommandLine.ParameterException e) {
                throw new UserError("cs host: " + name + ": " + e.getMessage() + " (see: basalt cs run --help)");
            }
            if (options.data == null) {
                throw new UserError("cs host: " + name + " has no --data");
            }
            return new Hosted(name, List.copyOf(arguments), options);
        }
    }
}
