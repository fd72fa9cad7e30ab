package io.basalt.cli.cs;

import io.basalt.cli.meta.MetaCluster;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;

/**
 * What every chunk server process test shares: one meta member per class (the chunk servers
 * register and heartbeat with it), a temp directory and a client event loop per test, and
 * {@link #toClose} — processes and clients closed in reverse order after each test, before the
 * directory is deleted, whether the test passed or not.
 */
abstract class ChunkServerItBase {
    static MetaCluster meta;

    Path dir;
    EventLoopGroup group;
    final List<AutoCloseable> toClose = new ArrayList<>();

    @BeforeAll
    static void startMeta() throws Exception {
        meta = new MetaCluster(1, Files.createTempDirectory("cs-it-meta"));
        meta.startAll();
    }

    @AfterAll
    static void stopMeta() throws Exception {
        if (meta != null) {
            meta.close();
        }
    }

    @BeforeEach
    void setUp() throws Exception {
        dir = Files.createTempDirectory("cs-it");
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    }

    @AfterEach
    void tearDown() throws Exception {
        for (AutoCloseable c : toClose.reversed()) {
            c.close();
        }
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).await();
        try (Stream<Path> files = Files.walk(dir)) {
            for (Path p : files.sorted(Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(p);
            }
        }
    }
}
