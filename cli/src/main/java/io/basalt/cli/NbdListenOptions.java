package io.basalt.cli;

import java.io.IOException;
import java.net.InetSocketAddress;
import picocli.CommandLine.Option;

/** Where an NBD server listens, for {@code nbd serve} and {@code nbd run} alike. */
final class NbdListenOptions {
    @Option(names = "--port", defaultValue = "10809",
            description = "TCP port (default: ${DEFAULT-VALUE}, the NBD port; 0 picks one).")
    int port;

    @Option(names = "--bind", defaultValue = "127.0.0.1",
            description = "Address to listen on (default: ${DEFAULT-VALUE}; 0.0.0.0 for all).")
    String bind;

    @Option(names = "--metrics-port", defaultValue = "9810",
            description = "Prometheus metrics port (default: ${DEFAULT-VALUE}; 0 disables).")
    int metricsPort;

    /** The address to bind; refuses a port outside 0..65535. */
    InetSocketAddress address() {
        if (port < 0 || port > 65535) {
            throw new UserError("--port " + port + " is not a TCP port (0-65535)");
        }
        return new InetSocketAddress(bind, port);
    }

    /** The one-line error when the NBD port cannot be bound. */
    UserError cannotListen(IOException e) {
        String reason = e.getCause() != null ? e.getCause().getMessage() : e.getMessage();
        return new UserError("cannot listen on " + bind + ":" + port + " (" + reason
                + "); is another NBD server running? pick another with --port", e);
    }

    /** {@code bind} as the host part of an nbd:// URI (IPv6 in brackets). */
    String uriHost() {
        return bind.contains(":") ? "[" + bind + "]" : bind;
    }
}
