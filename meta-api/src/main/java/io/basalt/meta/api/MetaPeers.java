package io.basalt.meta.api;

import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import org.apache.ratis.protocol.RaftGroup;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftPeer;
import org.apache.ratis.protocol.RaftPeerId;

/**
 * The members of the meta group, as typed: {@code 1@10.0.0.1:7100,2@10.0.0.2:7100,...}. Every
 * member and client derives the same Ratis group id from the cluster name, so a list of peers
 * and a name are all it takes to find the group.
 */
public final class MetaPeers {
    public static final String DEFAULT_CLUSTER = "basalt";
    public static final String SYNTAX = "ID@HOST:PORT[,ID@HOST:PORT...], e.g. 1@127.0.0.1:7100";

    private MetaPeers() {}

    public static RaftGroupId groupId(String clusterName) {
        return RaftGroupId.valueOf(UUID.nameUUIDFromBytes(
                ("basalt-meta:" + clusterName).getBytes(StandardCharsets.UTF_8)));
    }

    public static RaftGroup group(String clusterName, List<RaftPeer> peers) {
        return RaftGroup.valueOf(groupId(clusterName), peers);
    }

    /** Parses a peer list; throws IllegalArgumentException with the syntax on any fault. */
    public static List<RaftPeer> parse(String text) {
        if (text == null || text.isBlank()) {
            throw new IllegalArgumentException("no meta peers given; use " + SYNTAX);
        }
        List<RaftPeer> peers = new ArrayList<>();
        Set<String> ids = new HashSet<>();
        for (String item : text.split(",")) {
            String entry = item.trim();
            int at = entry.indexOf('@');
            int colon = entry.lastIndexOf(':');
            if (at <= 0 || colon < at + 2 || colon == entry.length() - 1) {
                throw new IllegalArgumentException("bad meta peer \"" + entry + "\"; use " + SYNTAX);
            }
            String id = entry.substring(0, at);
            if (!id.matches("[A-Za-z0-9_-]{1,32}")) {
                throw new IllegalArgumentException("bad meta peer id \"" + id
                        + "\": use 1-32 letters, digits, '_' or '-'");
            }
            int port;
            try {
                port = Integer.parseInt(entry.substring(colon + 1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("bad port in meta peer \"" + entry + "\"; use "
                        + SYNTAX);
            }
            if (port < 1 || port > 65535) {
                throw new IllegalArgumentException("port " + port + " in meta peer \"" + entry
                        + "\" (1..65535)");
            }
            if (!ids.add(id)) {
                throw new IllegalArgumentException("meta peer id " + id + " appears twice");
            }
            String host = entry.substring(at + 1, colon);
            peers.add(RaftPeer.newBuilder().setId(RaftPeerId.valueOf(id))
                    .setAddress(host + ":" + port).build());
        }
        return List.copyOf(peers);
    }

    /** The port of {@code id} in {@code peers}. */
    public static InetSocketAddress addressOf(List<RaftPeer> peers, String id) {
        for (RaftPeer peer : peers) {
            if (peer.getId().toString().equals(id)) {
                String address = peer.getAddress();
                int colon = address.lastIndexOf(':');
                return new InetSocketAddress(address.substring(0, colon),
                        Integer.parseInt(address.substring(colon + 1)));
            }
        }
        throw new IllegalArgumentException("member id " + id + " is not in the peer list");
    }
}
