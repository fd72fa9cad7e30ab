package io.basalt.cli;

import io.basalt.meta.api.MetaClient;
import io.basalt.meta.api.MetaException;
import io.basalt.meta.api.MetaPeers;
import java.io.IOException;
import java.util.function.Function;
import picocli.CommandLine.Option;

/** Options every admin verb that talks to meta shares: where meta is, and output format. */
final class MetaOptions {
    static final String ENV = "BASALT_META";

    @Option(names = "--meta", paramLabel = "PEERS",
            description = "Meta members, " + MetaPeers.SYNTAX + " (default: $" + ENV + ").")
    String meta;

    @Option(names = "--json", description = "Print JSON instead of a table.")
    boolean json;

    /**
     * Admin verbs print one result or one error line: Ratis' INFO chatter and its retry stack
     * traces go, and its shaded Netty is kept off sun.misc.Unsafe (JDK 25 warns about it).
     */
    static void quietRatis() {
        System.setProperty("org.apache.ratis.thirdparty.io.netty.noUnsafe", "true");
        System.setProperty("io.netty.noUnsafe", "true");
        ((ch.qos.logback.classic.Logger) org.slf4j.LoggerFactory.getLogger("org.apache.ratis"))
                .setLevel(ch.qos.logback.classic.Level.OFF);
        GRPC_JUL_LOGGER.setLevel(java.util.logging.Level.WARNING);
    }

    /** Held so the JDK logger (and its level) is not garbage collected. */
    private static final java.util.logging.Logger GRPC_JUL_LOGGER =
            java.util.logging.Logger.getLogger("org.apache.ratis.thirdparty.io.grpc");

    String peers() {
        String peers = meta != null ? meta : System.getenv(ENV);
        if (peers == null || peers.isBlank()) {
            throw new UserError("no meta address; pass --meta " + "1@HOST:PORT,... or set " + ENV);
        }
        return peers;
    }

    /** Runs {@code action} with a connected client; refusals become one-line user errors. */
    <T> T call(Function<MetaClient, T> action) {
        quietRatis();
        MetaClient client;
        try {
            client = MetaClient.connect(peers());
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage());
        }
        try (client) {
            return action.apply(client);
        } catch (MetaException e) {
            throw new UserError(e.getMessage(), e);
        } catch (IOException e) {
            throw new UserError("closing the meta client failed: " + e.getMessage(), e);
        }
    }
}
