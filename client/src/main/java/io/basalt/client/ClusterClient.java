package io.basalt.client;

import io.basalt.meta.api.MetaClient;
import io.basalt.meta.api.MetaError;
import io.basalt.meta.api.MetaException;
import io.basalt.meta.model.Volume;
import io.basalt.protocol.data.ReplicaClients;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The client library's entry point: one per process, shared by every volume it opens. Holds the
 * meta client, the connections to chunk servers (one per chunk server, pipelined) and the threads
 * everything runs on.
 *
 * <p>Design note. The data path never blocks a thread: chunk server requests are Netty futures on
 * {@link #group}. Meta calls are blocking Ratis calls (rare: a chunk map miss, a first write to a
 * chunk, a failure report, a lease renewal), so they run on virtual threads ({@link #metaCalls})
 * and come back as futures; a meta election stalls only the I/O that needs meta.
 */
public final class ClusterClient implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(ClusterClient.class);

    private final MetaClient meta;
    private final ClientConfig config;
    private final EventLoopGroup group;
    /** False when the group is the caller's (the gateway's event loops), which shuts it down. */
    private final boolean ownsGroup;
    private final ReplicaClients connections;
    private final ExecutorService metaCalls =
            Executors.newThreadPerTaskExecutor(Thread.ofVirtual().name("basalt-client-meta-", 0).factory());
    private final ScheduledExecutorService scheduler;
    private final CsDirectory directory;
    private final ClientMetrics metrics;

    private ClusterClient(MetaClient meta, ClientConfig config, PrometheusRegistry registry, EventLoopGroup group,
            Class<? extends Channel> channelClass) {
        this.meta = meta;
        this.config = config;
        this.ownsGroup = group == null;
        this.group = group != null ? group : new MultiThreadIoEventLoopGroup(2,
                new DefaultThreadFactory("basalt-client-io", true), NioIoHandler.newFactory());
        this.connections = new ReplicaClients(this.group, group != null ? channelClass : NioSocketChannel.class,
                config.requestTimeoutMillis(), config.requestBytesMax() + config.requestBytesMax() / 1024 + 4096,
                config.tls());
        this.scheduler = Executors.newSingleThreadScheduledExecutor(
                new DefaultThreadFactory("basalt-client-timer", true));
        this.metrics = new ClientMetrics(registry);
        this.directory = new CsDirectory(this);
    }

    /** A client of the cluster whose meta members are {@code metaPeers} (ID@HOST:PORT,...). */
    public static ClusterClient connect(String metaPeers, ClientConfig config, PrometheusRegistry registry) {
        return new ClusterClient(MetaClient.connect(metaPeers, metaIdentity(config)), config, registry, null, null);
    }

    /**
     * As {@link #connect(String, ClientConfig, PrometheusRegistry)}, with chunk server connections
     * on the caller's event loops ({@code channelClass} sockets, matching their transport): I/O
     * issued on one of those loops stays on it (see {@link ReplicaClients}). The caller shuts the
     * group down after {@link #close()}.
     */
    public static ClusterClient connect(String metaPeers, ClientConfig config, PrometheusRegistry registry,
            EventLoopGroup group, Class<? extends Channel> channelClass) {
        return new ClusterClient(MetaClient.connect(metaPeers, metaIdentity(config)), config, registry, group,
                channelClass);
    }

    /** The data protocol's identity serves meta too: one certificate per holder (docs/security.md). */
    private static io.basalt.common.tls.TlsIdentity metaIdentity(ClientConfig config) {
        return config.tls() == null ? null : config.tls().identity();
    }

    /** Every volume, for listing exports. */
    public CompletableFuture<List<Volume>> listVolumes() {
        return callMeta("list_volumes", meta::listVolumes);
    }

    /** The volume named {@code name}, empty when there is none. */
    public CompletableFuture<Optional<Volume>> findVolume(String name) {
        return callMeta("get_volume", () -> {
            try {
                return Optional.of(meta.getVolume(name));
            } catch (MetaException e) {
                if (e.error() == MetaError.NOT_FOUND || e.error() == MetaError.INVALID) {
                    return Optional.<Volume>empty();
                }
                throw e;
            }
        });
    }

    /**
     * Opens volume {@code name} for reading and writing as {@code clientId}: takes its lease (fails
     * with a {@link MetaException} LEASE_HELD naming the holder when another client has it).
     */
    public CompletableFuture<VolumeDevice> open(String name, String clientId) {
        return callMeta("open_volume", () -> VolumeDevice.open(this, name, clientId, true));
    }

    /** Like {@link #open} without the background flatten worker: for a flatten run in the foreground. */
    CompletableFuture<VolumeDevice> openForFlatten(String name, String clientId) {
        return callMeta("open_volume", () -> VolumeDevice.open(this, name, clientId, false));
    }

    /**
     * Opens volume {@code name} for reading only, without its lease: for data another client writes
     * and never changes once published (object logs). Its writes fail.
     */
    public CompletableFuture<VolumeDevice> openReadOnly(String name) {
        return callMeta("open_volume_read_only", () -> VolumeDevice.openReadOnly(this, name));
    }

    /** Runs a blocking meta call on a virtual thread. */
    <T> CompletableFuture<T> callMeta(String op, Supplier<T> call) {
        metrics.metaCalls.labelValues(op).inc();
        return CompletableFuture.supplyAsync(call, metaCalls);
    }

    /** The meta client this cluster client uses (an object store's index goes through it too). */
    public MetaClient meta() {
        return meta;
    }

    ClientConfig config() {
        return config;
    }

    ReplicaClients connections() {
        return connections;
    }

    ScheduledExecutorService scheduler() {
        return scheduler;
    }

    CsDirectory directory() {
        return directory;
    }

    ClientMetrics metrics() {
        return metrics;
    }

    @Override
    public void close() {
        scheduler.shutdownNow();
        metaCalls.shutdownNow();
        connections.close();
        if (ownsGroup) {
            group.shutdownGracefully(0, 2, TimeUnit.SECONDS).awaitUninterruptibly();
        }
        try {
            meta.close();
        } catch (IOException e) {
            log.warn("closing the meta client: {}", e.toString());
        }
    }
}
