package io.basalt.chunkserver;

import io.basalt.protocol.data.DataClient;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.UnaryOperator;
import java.util.stream.Stream;

/**
 * Real chunk servers in one test JVM, each on its own directory under one temporary root, and clients
 * to them; {@link #close} stops them all and deletes the root. For the recovery and scrub tests.
 */
final class InProcessServers implements AutoCloseable {
    final Path root;
    private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    private final List<AutoCloseable> toClose = new ArrayList<>();
    private final long chunkletBytes;

    InProcessServers(String prefix, long chunkletBytes) throws IOException {
        this.root = Files.createTempDirectory(prefix);
        this.chunkletBytes = chunkletBytes;
    }

    /** Starts a server on {@code root/name}, its configuration adjusted by {@code tweak}. */
    ChunkServer start(String name, LocalMetaLink meta, UnaryOperator<ChunkServer.Config> tweak) throws IOException {
        ChunkServer.Config config = tweak.apply(ChunkServer.Config.defaults(root.resolve(name))
                .withChunkletSize(chunkletBytes)
                .withWal(new io.basalt.chunkserver.wal.WalWriter.Config(8L << 20, 64, 4096, 64L << 20,
                        (1 << 20) + 2048)));
        ChunkServer server = ChunkServer.start(config, meta, new PrometheusRegistry());
        toClose.add(server::closeQuietly);
        return server;
    }

    DataClient connect(ChunkServer server) throws IOException {
        DataClient client = DataClient.connect(group, address(server), 10_000, 2 << 20);
        toClose.add(client);
        return client;
    }

    static String address(ChunkServer server) {
        return "127.0.0.1:" + server.address().getPort();
    }

    @Override
    public void close() throws Exception {
        for (AutoCloseable c : toClose.reversed()) {
            c.close();
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).await();
        try (Stream<Path> files = Files.walk(root)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
