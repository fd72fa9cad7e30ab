package io.basalt.cli;

import io.basalt.chunkserver.ChunkVersionSink;
import io.basalt.chunkserver.MetaLink;
import io.basalt.meta.api.MetaClient;
import io.basalt.meta.api.MetaException;
import io.basalt.meta.api.MetaPeers;
import java.io.IOException;
import java.time.Duration;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The chunk server's link to the real meta service, over {@link MetaClient}. Lives in {@code cli}
 * because it is the one module that sees both sides: the chunk server must not depend on meta.
 *
 * <p>Two clients: start-up calls (cluster id, registration) use the default one, which rides out a
 * leader election (about 30 s of Ratis retries); heartbeats use one that gives up after a few
 * seconds, so a heartbeat never lags the next by much: a dead meta shows up as failed heartbeats
 * (logged, rate-limited, by {@code ChunkServer}), not as one call blocked for half a minute.
 *
 * <p>Meta's heartbeat carries one {@code healthy} bit: {@link MetaLink.Health#OK} is healthy,
 * {@code FULL} and {@code DISK_FAILED} are both "not healthy" (the watchdog marks the CS
 * UNHEALTHY); meta cannot tell a full disk from a failed one yet.
 *
 * <p>Chunk versions: meta has no way to push them yet (no op lists a CS's chunks or streams
 * changes), so {@link #subscribeVersions} delivers nothing and says so once; the CS is fenced only
 * by the versions already in its versions file.
 */
public final class MetaClientLink implements MetaLink {
    private static final Logger log = LoggerFactory.getLogger(MetaClientLink.class);
    /** Per attempt of a heartbeat; with {@link #HEARTBEAT_RETRY_COUNT} about 3 s in all. */
    static final Duration HEARTBEAT_TIMEOUT = Duration.ofSeconds(1);
    static final int HEARTBEAT_RETRY_COUNT = 2;
    /** Meta refuses an empty zone label; a CS started without --zone is in this one. */
    static final String DEFAULT_ZONE = "default";

    private final String peers;
    private final MetaClient client;
    private final MetaClient heartbeatClient;
    private final String softwareVersion;

    private MetaClientLink(String peers, MetaClient client, MetaClient heartbeatClient,
            String softwareVersion) {
        this.peers = peers;
        this.client = client;
        this.heartbeatClient = heartbeatClient;
        this.softwareVersion = softwareVersion;
    }

    /**
     * A link to the meta group of {@code peers} ({@link MetaPeers#SYNTAX}, as the admin verbs take).
     *
     * @throws IllegalArgumentException with the syntax when {@code peers} does not parse
     */
    public static MetaClientLink connect(String peers, String softwareVersion) {
        var parsed = MetaPeers.parse(peers);
        MetaClient client = MetaClient.connect(MetaPeers.DEFAULT_CLUSTER, parsed,
                MetaClient.REQUEST_TIMEOUT, MetaClient.RETRY_COUNT);
        MetaClient heartbeatClient = MetaClient.connect(MetaPeers.DEFAULT_CLUSTER, parsed,
                HEARTBEAT_TIMEOUT, HEARTBEAT_RETRY_COUNT);
        return new MetaClientLink(peers, client, heartbeatClient, softwareVersion);
    }

    @Override
    public UUID clusterId() throws IOException {
        try {
            return client.clusterId();
        } catch (MetaException e) {
            throw new IOException("cannot get the cluster id from meta at " + peers + ": "
                    + e.getMessage(), e);
        }
    }

    @Override
    public int register(int csId, String address, String hostLabel, String zoneLabel,
            long capacityBytes) throws IOException {
        String zone = zoneLabel == null || zoneLabel.isBlank() ? DEFAULT_ZONE : zoneLabel;
        try {
            return client.registerCs(csId, address, hostLabel, zone, capacityBytes, softwareVersion)
                    .id();
        } catch (MetaException e) {
            throw new IOException("meta at " + peers + " refused to register chunk server "
                    + (csId == 0 ? "(new)" : csId) + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void heartbeat(int csId, long capacityBytes, long usedBytes, Health health)
            throws IOException {
        try {
            heartbeatClient.heartbeat(csId, capacityBytes, usedBytes, health == Health.OK);
        } catch (MetaException e) {
            throw new IOException("heartbeat to meta at " + peers + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void subscribeVersions(int csId, ChunkVersionSink sink) {
        log.warn("chunk version push from meta is not wired yet: chunk server {} is fenced only by"
                + " the versions already in its versions file", csId);
    }

    @Override
    public void close() throws IOException {
        try {
            heartbeatClient.close();
        } finally {
            client.close();
        }
    }
}
