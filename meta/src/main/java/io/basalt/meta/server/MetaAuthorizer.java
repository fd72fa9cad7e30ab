package io.basalt.meta.server;

import io.basalt.common.tls.Role;
import io.basalt.meta.api.MetaOp;
import io.basalt.meta.api.MetaRequest;
import io.basalt.meta.api.MetaTls;
import java.security.cert.Certificate;
import java.security.cert.X509Certificate;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.LongAdder;
import javax.net.ssl.SSLPeerUnverifiedException;
import javax.net.ssl.SSLSession;
import org.apache.ratis.grpc.server.GrpcServices;
import org.apache.ratis.proto.RaftProtos.RaftClientRequestProto;
import org.apache.ratis.proto.grpc.AdminProtocolServiceGrpc;
import org.apache.ratis.proto.grpc.RaftClientProtocolServiceGrpc;
import org.apache.ratis.proto.grpc.RaftServerProtocolServiceGrpc;
import org.apache.ratis.thirdparty.io.grpc.ForwardingServerCallListener;
import org.apache.ratis.thirdparty.io.grpc.Grpc;
import org.apache.ratis.thirdparty.io.grpc.Metadata;
import org.apache.ratis.thirdparty.io.grpc.ServerCall;
import org.apache.ratis.thirdparty.io.grpc.ServerCallHandler;
import org.apache.ratis.thirdparty.io.grpc.ServerInterceptor;
import org.apache.ratis.thirdparty.io.grpc.Status;
import org.apache.ratis.thirdparty.io.grpc.netty.NettyServerBuilder;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Who may do what in meta, by the role in the peer's certificate (docs/security.md). Ratis hands
 * its state machine no transport identity, so the check sits in front of it, as a gRPC
 * interceptor on every service of the member's server (installed through Ratis'
 * {@link GrpcServices.Customizer}):
 *
 * <ul>
 *   <li>Raft between members (RaftServerProtocolService): role {@code meta} only.
 *   <li>Ratis admin (group and configuration changes): {@code meta} and {@code admin}.
 *   <li>Client requests: each message's {@link MetaOp} (the request's second byte, read before
 *       the request reaches Ratis) against {@link #refusal(Role, MetaOp)}.
 * </ul>
 *
 * <p>A refused call is closed with PERMISSION_DENIED and a reason naming the holder, its role and
 * what it may do; the refusal is logged (one line: who, what, why) and counted by role and
 * operation. Nothing of the refused request reaches Ratis, so it takes no log entry.
 *
 * <p>Mutual TLS itself (the peer's certificate chains to the cluster CA) is the transport's job;
 * this class only ever sees peers that passed it. Thread-safe: gRPC calls it from its threads.
 */
public final class MetaAuthorizer implements ServerInterceptor {
    private static final Logger log = LoggerFactory.getLogger(MetaAuthorizer.class);

    /** Operations that change what the cluster is: an operator's, or meta's own. */
    private static final Set<MetaOp> ADMIN_OPS = EnumSet.of(MetaOp.SET_CS_STATUS, MetaOp.CREATE_VOLUME,
            MetaOp.RESIZE_VOLUME, MetaOp.DELETE_VOLUME, MetaOp.NEW_LEADER_EPOCH,
            MetaOp.RECOVER_CHUNKLETS, MetaOp.DRAIN_CS, MetaOp.REMOVE_CS, MetaOp.SET_VOLUME_QOS,
            MetaOp.SET_VOLUME_FEATURES,
            MetaOp.COLLECT_TOMBSTONES, MetaOp.CREATE_SNAPSHOT, MetaOp.DELETE_SNAPSHOT, MetaOp.ROLLBACK_VOLUME,
            MetaOp.CLONE_VOLUME, MetaOp.CREATE_S3_USER, MetaOp.DELETE_S3_USER);
    /** What only a chunk server says about itself (and meta or an admin on its behalf). */
    private static final Set<MetaOp> CHUNK_SERVER_OPS = EnumSet.of(MetaOp.REGISTER_CS, MetaOp.HEARTBEAT,
            MetaOp.RECOVERY_DONE);
    /**
     * The writes a gateway makes on a client's behalf: leases, chunk allocation, error reports,
     * objects, and the steps of a flatten (the holder of a volume's lease runs a flatten an admin
     * requested: its cursor, then detaching the parent; FlattenWorker).
     */
    private static final Set<MetaOp> GATEWAY_WRITES = EnumSet.of(MetaOp.ALLOCATE_CHUNK, MetaOp.REPORT_FAILURE,
            MetaOp.SET_FLATTEN, MetaOp.DETACH_PARENT,
            MetaOp.ACQUIRE_LEASE, MetaOp.RELEASE_LEASE, MetaOp.CREATE_BUCKET, MetaOp.DELETE_BUCKET,
            MetaOp.SET_BUCKET_VERSIONING, MetaOp.PUT_OBJECT, MetaOp.DELETE_OBJECT, MetaOp.PUT_OBJECT_TAGS,
            MetaOp.CREATE_UPLOAD, MetaOp.PUT_PART, MetaOp.COMPLETE_UPLOAD, MetaOp.ABORT_UPLOAD,
            MetaOp.OPEN_OBJECT_LOG, MetaOp.RESERVE_OBJECT_LOG, MetaOp.FREED_OBJECT_EXTENTS,
            MetaOp.SEAL_OBJECT_LOG, MetaOp.PUT_INLINE_OBJECT);
    /**
     * A chunk server's writes besides its own reports: the failures it meets talking to peers, and
     * the cluster id (the first chunk server to start sets it; later ones read it back).
     */
    private static final Set<MetaOp> CHUNK_SERVER_WRITES = EnumSet.of(MetaOp.REPORT_FAILURE, MetaOp.INIT_CLUSTER_ID);

    private final Map<List<String>, LongAdder> refusals = new ConcurrentHashMap<>();

    /** The customizer that puts this authorizer in front of every service of a member's gRPC server. */
    public GrpcServices.Customizer customizer() {
        return new GrpcServices.Customizer() {
            @Override
            public NettyServerBuilder customize(NettyServerBuilder builder, EnumSet<GrpcServices.Type> types) {
                return builder.intercept(MetaAuthorizer.this);
            }
        };
    }

    /**
     * Why {@code role} may not send {@code op}, or null when it may. Every role reads (chunk maps,
     * volumes, listings), except that heartbeats (read-only, but they are what marks a chunk
     * server alive) come from chunk servers.
     */
    public static String refusal(Role role, MetaOp op) {
        return switch (role) {
            case META, ADMIN -> null;
            case CHUNK_SERVER -> CHUNK_SERVER_OPS.contains(op) || CHUNK_SERVER_WRITES.contains(op)
                    || (!op.isWrite()) ? null
                    : "a chunk server may only register, heartbeat, report recoveries and failures, and read";
            case GATEWAY -> CHUNK_SERVER_OPS.contains(op) ? "only a chunk server reports on itself"
                    : !op.isWrite() || GATEWAY_WRITES.contains(op) ? null
                    : ADMIN_OPS.contains(op) ? "an admin operation needs an admin certificate"
                    : "a gateway may open volumes, read maps and store objects, nothing more";
        };
    }

    /**
     * Why a chunk server's report about itself may not go on, or null: the holder it claims (the
     * name meta binds its id to, {@link CsHolders}) must be the name in its certificate, so a
     * chunk server cannot register, heartbeat or report recoveries under another's name.
     */
    static String claimRefusal(MetaRequest request, String certificateName) {
        String claimed = switch (request) {
            case MetaRequest.RegisterCs r -> r.holder();
            case MetaRequest.Heartbeat r -> r.holder();
            case MetaRequest.RecoveryDone r -> r.holder();
            default -> certificateName;
        };
        return claimed.equals(certificateName) ? null : "a chunk server speaks only for itself: the request"
                + " claims holder '" + claimed + "', the certificate names " + certificateName;
    }

    /** Refused requests so far, by [role, operation]. */
    public Map<List<String>, Long> refusals() {
        Map<List<String>, Long> counts = new java.util.TreeMap<>(java.util.Comparator.comparing(Object::toString));
        refusals.forEach((key, count) -> counts.put(key, count.sum()));
        return counts;
    }

    @Override
    public <Q, A> ServerCall.Listener<Q> interceptCall(ServerCall<Q, A> call, Metadata headers,
            ServerCallHandler<Q, A> next) {
        String service = call.getMethodDescriptor().getServiceName();
        Peer peer = peer(call);
        if (RaftServerProtocolServiceGrpc.SERVICE_NAME.equals(service)) {
            if (peer.role() != Role.META) {
                return refuse(call, peer, "raft", "only meta members speak Raft with meta");
            }
        } else if (AdminProtocolServiceGrpc.SERVICE_NAME.equals(service)) {
            if (peer.role() != Role.META && peer.role() != Role.ADMIN) {
                return refuse(call, peer, "ratis-admin", "group changes need an admin certificate");
            }
        } else if (!RaftClientProtocolServiceGrpc.SERVICE_NAME.equals(service)) {
            return refuse(call, peer, service, "unknown service");
        } else if (peer.role() == null) {
            return refuse(call, peer, "client", "the certificate names no Basalt role");
        } else if (peer.role() != Role.META && peer.role() != Role.ADMIN) {
            return new CheckEachRequest<>(next.startCall(call, headers), call, peer);
        }
        return next.startCall(call, headers);
    }

    /** The holder of the call's peer certificate: name and role (null role: none or unreadable). */
    private record Peer(String name, Role role, Object address) {
        String describe() {
            return address + " (" + name + ", role " + (role == null ? "none" : role.label()) + ")";
        }
    }

    private static Peer peer(ServerCall<?, ?> call) {
        Object address = call.getAttributes().get(Grpc.TRANSPORT_ATTR_REMOTE_ADDR);
        SSLSession session = call.getAttributes().get(Grpc.TRANSPORT_ATTR_SSL_SESSION);
        if (session == null) {
            return new Peer("no certificate", null, address);
        }
        try {
            Certificate[] chain = session.getPeerCertificates();
            X509Certificate leaf = (X509Certificate) chain[0];
            Optional<Role> role = Role.of(leaf);
            return new Peer(Role.holderName(leaf), role.orElse(null), address);
        } catch (SSLPeerUnverifiedException e) {
            return new Peer("no certificate", null, address);
        }
    }

    private <Q, A> ServerCall.Listener<Q> refuse(ServerCall<Q, A> call, Peer peer, String what, String why) {
        count(peer, what);
        log.warn("refused {} from {}: {}", what, peer.describe(), why);
        call.close(Status.PERMISSION_DENIED.withDescription(MetaTls.REFUSED_PREFIX + ": " + what + " by "
                + peer.name() + " (role " + (peer.role() == null ? "none" : peer.role().label()) + "): " + why),
                new Metadata());
        return new ServerCall.Listener<>() {};
    }

    private void count(Peer peer, String what) {
        refusals.computeIfAbsent(List.of(peer.role() == null ? "none" : peer.role().label(), what),
                key -> new LongAdder()).increment();
    }

    /**
     * Checks each request on a client stream (Ratis sends many on one ordered stream) before it
     * goes on; the first refused one closes the call, and nothing after it is passed on.
     */
    private final class CheckEachRequest<Q, A> extends ForwardingServerCallListener.SimpleForwardingServerCallListener<Q> {
        private final ServerCall<Q, A> call;
        private final Peer peer;
        private boolean closed;

        CheckEachRequest(ServerCall.Listener<Q> delegate, ServerCall<Q, A> call, Peer peer) {
            super(delegate);
            this.call = call;
            this.peer = peer;
        }

        @Override
        public void onMessage(Q message) {
            if (closed) {
                return;
            }
            String why = null;
            String what = "request";
            if (message instanceof RaftClientRequestProto request && request.hasMessage()) {
                var content = request.getMessage().getContent();
                if (content.size() >= 2) {
                    try {
                        MetaOp op = MetaOp.ofCode(content.byteAt(1) & 0xff);
                        what = op.name();
                        why = refusal(peer.role(), op);
                        if (why == null && CHUNK_SERVER_OPS.contains(op)) {
                            why = claimRefusal(MetaRequest.decode(content.toByteArray()), peer.name());
                        }
                    } catch (RuntimeException e) {
                        why = null; // malformed: meta's own decoder answers it with a form error
                    }
                }
            }
            if (why == null) {
                super.onMessage(message);
                return;
            }
            closed = true;
            count(peer, what);
            log.warn("refused {} from {}: {}", what, peer.describe(), why);
            call.close(Status.PERMISSION_DENIED.withDescription(MetaTls.REFUSED_PREFIX + ": " + what + " by "
                    + peer.name() + " (role " + peer.role().label() + "): " + why), new Metadata());
        }
    }
}
