package io.basalt.chunkserver.protocol;

import io.netty.channel.EventLoopGroup;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One {@link DataClient} per replica address, connected on first use and reconnected when its
 * connection closed. Used by the primary to forward writes.
 */
public final class ReplicaClients implements AutoCloseable {
    private final EventLoopGroup group;
    private final long timeoutMillis;
    private final long payloadMaxBytes;
    private final ConcurrentHashMap<String, DataClient> clients = new ConcurrentHashMap<>();

    public ReplicaClients(EventLoopGroup group, long timeoutMillis, long payloadMaxBytes) {
        this.group = group;
        this.timeoutMillis = timeoutMillis;
        this.payloadMaxBytes = payloadMaxBytes;
    }

    /**
     * The client for {@code hostPort}. Connecting blocks briefly (once per replica); it runs on the
     * caller's thread.
     *
     * @throws UncheckedIOException naming the replica when it cannot be reached
     */
    public DataClient get(String hostPort) {
        DataClient client = clients.get(hostPort);
        if (client != null && client.isOpen()) {
            return client;
        }
        synchronized (this) {
            client = clients.get(hostPort);
            if (client == null || !client.isOpen()) {
                try {
                    client = DataClient.connect(group, hostPort, timeoutMillis, payloadMaxBytes);
                } catch (IOException e) {
                    throw new UncheckedIOException(e.getMessage(), e);
                }
                clients.put(hostPort, client);
            }
            return client;
        }
    }

    @Override
    public void close() {
        clients.values().forEach(DataClient::close);
        clients.clear();
    }
}
