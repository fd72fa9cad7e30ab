package io.basalt.protocol.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/** Requests to a peer that reads but never answers fail after the client's timeout, each once. */
class DataClientTimeoutTest {
    EventLoopGroup group;
    ServerSocket silent;
    Thread reader;

    @BeforeEach
    void start() throws IOException {
        group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
        silent = new ServerSocket(0, 1, InetAddress.getLoopbackAddress());
        reader = Thread.ofPlatform().daemon().start(() -> {
            try (Socket socket = silent.accept(); InputStream in = socket.getInputStream()) {
                in.transferTo(OutputStream.nullOutputStream());
            } catch (IOException e) {
                // closed by the test
            }
        });
    }

    @AfterEach
    void stop() throws Exception {
        silent.close();
        reader.join(5_000);
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).await();
    }

    @Test
    void unansweredRequestsFailAfterTheTimeoutAndLeaveNothingPending() throws Exception {
        DataClient client = DataClient.connect(group, "127.0.0.1:" + silent.getLocalPort(), 300, 1 << 20);
        try {
            long start = System.nanoTime();
            CompletableFuture<DataClient.Reply> first = client.request(DataFrame.TYPE_READ, 1, 0, 0, 4096, null);
            CompletableFuture<DataClient.Reply> second = client.request(DataFrame.TYPE_READ, 1, 0, 4096, 4096, null);
            assertThatThrownBy(() -> first.get(10, TimeUnit.SECONDS)).isInstanceOf(ExecutionException.class)
                    .hasMessageContaining("no reply from 127.0.0.1:" + silent.getLocalPort() + " within 300 ms");
            assertThatThrownBy(() -> second.get(10, TimeUnit.SECONDS)).hasMessageContaining("within 300 ms");
            long elapsedMillis = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start);
            // Not a speed assertion: the sweep must not fire before the deadline.
            assertThat(elapsedMillis).isGreaterThanOrEqualTo(300);
            assertThat(client.isOpen()).isTrue();
        } finally {
            client.close();
        }
    }
}
