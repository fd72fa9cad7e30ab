package io.basalt.cli;

import io.basalt.nbd.NbdTls;

import io.basalt.client.ClientConfig;
import io.basalt.client.ClusterClient;
import io.basalt.client.VolumeDevice;
import io.basalt.common.metrics.MetricsServer;
import io.basalt.meta.api.MetaPeers;
import io.basalt.nbd.NbdMetrics;
import io.basalt.nbd.NbdServer;
import io.basalt.nbd.VolumeExports;
import io.netty.channel.EventLoopGroup;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.util.concurrent.Callable;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code basalt nbd run}: the NBD gateway of a cluster. Every volume is an export of its name; a
 * session takes the volume's lease (through the client library) and sends I/O straight to the
 * chunk servers. Runs in the foreground until SIGINT/SIGTERM, then drains sessions and releases
 * the leases.
 */
@Command(name = "run", mixinStandardHelpOptions = true,
        description = {"Run the NBD gateway of a cluster: every volume is exported by name.",
                "Example: basalt nbd run --meta 1@127.0.0.1:7100, then: nbdinfo nbd://127.0.0.1:10809/vm1"})
final class NbdRunCommand implements Callable<Integer> {
    private static final Logger log = LoggerFactory.getLogger(NbdRunCommand.class);

    @Mixin
    NbdListenOptions listen;
    /** How long in-flight requests get to finish at shutdown before connections are closed. */
    private static final long DRAIN_MILLIS = 10_000;

    @Option(names = "--meta", paramLabel = "PEERS",
            description = "Meta members, " + MetaPeers.SYNTAX + " (default: $" + MetaOptions.ENV + ").")
    String meta;

    @Option(names = "--client-id", paramLabel = "ID",
            description = "Who holds the leases of the volumes this gateway serves (default: nbd@HOST:PORT, or"
                    + " nbd@HOST/pidPID with --port 0). Keep it stable and unique: a restarted gateway with the"
                    + " same id takes its leases back at once.")
    String clientId;

    @Mixin
    TlsOptions tls;

    @Option(names = "--tls", paramLabel = "require|optional|off",
            description = "NBD clients and TLS (NBD_OPT_STARTTLS with this gateway's --tls-dir certificate;"
                    + " clients present a certificate of the cluster CA, e.g. nbdinfo"
                    + " 'nbds://HOST:PORT/VOL?tls-certificates=DATA/tls/admin'). require: plain-text clients are"
                    + " refused; optional (default with --tls-dir): both; off (default with --insecure).")
    String nbdTls;

    @Option(names = "--allow", paramLabel = "EXPORT=NAME[,NAME...]",
            description = "Only the NBD clients whose TLS certificate names one of NAME may open EXPORT (a volume,"
                    + " vol@snap, or * for every export no other --allow names; a volume's list covers its"
                    + " snapshots). Repeatable. Plain-text clients are refused a listed export; exports not"
                    + " listed stay open to every client the gateway accepts. Needs TLS.")
    java.util.List<String> allow = new java.util.ArrayList<>();

    @Option(names = "--tls-psk", paramLabel = "FILE",
            description = "Also accept NBD clients with a TLS pre-shared key instead of a certificate: FILE has"
                    + " USERNAME:HEXKEY lines (psktool's and qemu's keys.psk format; add one with: basalt nbd psk"
                    + " NAME --file FILE), owner-only. Clients: nbdinfo 'nbds://NAME@HOST:PORT/VOL?tls-psk-file="
                    + "FILE'. Re-read when it changes. --allow lists name PSK usernames too.")
    java.nio.file.Path tlsPsk;

    /** --tls, checked against --tls-dir / --insecure; NBD clients may hold a certificate of any role. */
    private NbdTls nbdTls(io.basalt.protocol.data.DataTls dataTls) throws java.io.IOException {
        NbdTls.Mode mode;
        io.basalt.nbd.NbdAccess access;
        try {
            mode = nbdTls == null ? (dataTls == null && tlsPsk == null ? NbdTls.Mode.OFF : NbdTls.Mode.OPTIONAL)
                    : NbdTls.Mode.parse(nbdTls);
            access = io.basalt.nbd.NbdAccess.parse(allow);
        } catch (IllegalArgumentException e) {
            throw new UserError(e.getMessage() + " (see: basalt nbd run --help)");
        }
        if (mode == NbdTls.Mode.OFF) {
            if (!access.isOpen()) {
                throw new UserError("--allow names client identities, so it needs TLS: run the gateway with"
                        + " --tls-dir DIR or --tls-psk FILE (not --tls off), or drop --allow");
            }
            if (tlsPsk != null) {
                throw new UserError("--tls-psk gives keys for TLS, which --tls off turns off: drop one of them");
            }
            return NbdTls.OFF;
        }
        if (dataTls == null && tlsPsk == null) {
            throw new UserError("--tls " + nbdTls + " needs this gateway's certificate or pre-shared keys: pass"
                    + " --tls-dir DIR (not --insecure) or --tls-psk FILE");
        }
        io.basalt.nbd.NbdPsk psk = null;
        if (tlsPsk != null) {
            try {
                psk = io.basalt.nbd.NbdPsk.load(tlsPsk);
            } catch (java.nio.file.NoSuchFileException e) {
                throw new UserError("--tls-psk " + tlsPsk + ": no such file (make one with: basalt nbd psk NAME"
                        + " --file " + tlsPsk + ")");
            } catch (java.io.IOException e) {
                throw new UserError("--tls-psk: " + e.getMessage());
            }
        }
        return new NbdTls(mode, dataTls == null ? null : io.basalt.protocol.data.DataTls.of(dataTls.identity(),
                java.util.EnumSet.allOf(io.basalt.common.tls.Role.class)), access, psk);
    }

    @Override
    public Integer call() throws Exception {
        io.basalt.protocol.data.DataTls dataTls = tls.dataTls(io.basalt.common.tls.Role.GATEWAY, "NBD gateway",
                "basalt nbd run");
        NbdTls nbdTlsConfig = nbdTls(dataTls);
        InetSocketAddress address = listen.address();
        String peers = meta != null ? meta : System.getenv(MetaOptions.ENV);
        if (peers == null || peers.isBlank()) {
            throw new UserError("no meta address; pass --meta 1@HOST:PORT,... or set " + MetaOptions.ENV);
        }
        PrometheusRegistry registry = new PrometheusRegistry();
        ShutdownSignal signal = ShutdownSignal.install();
        // One set of event loops for the NBD connections and the client's chunk server connections:
        // I/O then stays on the thread that received the NBD request (no hand-off and back).
        EventLoopGroup loops = NbdServer.newEventLoopGroup(0);
        ClusterClient cluster = null;
        VolumeExports exports = null;
        MetricsServer metrics = null;
        NbdServer server = null;
        try {
            try {
                cluster = ClusterClient.connect(peers, ClientConfig.defaults().withTls(dataTls), registry, loops,
                        NbdServer.clientChannelClass());
            } catch (IllegalArgumentException e) {
                throw new UserError("--meta: " + e.getMessage());
            }
            metrics = MetricsServer.start(registry, listen.bind, listen.metricsPort);
            // Two gateways must never share an id (both would hold one lease); with --port 0 the
            // port is not known yet, so the pid stands in (such a gateway is not restarted as itself).
            String id = clientId != null ? clientId
                    : "nbd@" + InetAddress.getLocalHost().getHostName()
                            + (listen.port != 0 ? ":" + listen.port : "/pid" + ProcessHandle.current().pid());
            exports = new VolumeExports(cluster, id);
            try {
                server = NbdServer.start(address, exports, new NbdMetrics(registry),
                        VolumeDevice.PAYLOAD_BYTES_MAX, loops, nbdTlsConfig);
            } catch (java.io.IOException e) {
                throw listen.cannotListen(e);
            }
            String host = listen.uriHost();
            System.out.printf("basalt: NBD gateway on nbd://%s:%d/VOLUME (TLS %s, meta %s, client id %s%s)%n", host,
                    server.localAddress().getPort(), nbdTlsConfig.mode().name().toLowerCase(java.util.Locale.ROOT),
                    peers, id + (nbdTlsConfig.access().isOpen() ? ""
                            : ", client lists for " + new java.util.TreeSet<>(nbdTlsConfig.access().lists().keySet())),
                    metrics == null ? "" : ", metrics on port " + metrics.port());
            System.out.flush();
            signal.await();
            log.info("shutting down: finishing in-flight requests");
            return 0;
        } finally {
            try {
                if (server != null) {
                    server.close(DRAIN_MILLIS);
                }
                if (exports != null) {
                    exports.closeAll();
                }
                if (cluster != null) {
                    cluster.close();
                }
                loops.shutdownGracefully(0, 2, java.util.concurrent.TimeUnit.SECONDS).awaitUninterruptibly();
                if (metrics != null) {
                    metrics.close();
                }
                log.info("stopped");
            } finally {
                signal.cleanedUp();
            }
        }
    }
}
