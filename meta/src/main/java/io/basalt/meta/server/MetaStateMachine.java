package io.basalt.meta.server;

import io.basalt.meta.api.CsView;
import io.basalt.meta.api.MalformedMessageException;
import io.basalt.meta.api.MetaError;
import io.basalt.meta.api.MetaReply;
import io.basalt.meta.api.MetaRequest;
import io.basalt.meta.api.MetaRequestForm;
import io.basalt.meta.api.MetaRequest.Heartbeat.RecoveryProgress;
import io.basalt.meta.api.StuckRecovery;
import io.basalt.meta.api.MetaStatus;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;
import io.basalt.meta.model.ChunkServer;
import io.basalt.meta.model.CsHealth;
import io.basalt.meta.store.Keys;
import io.basalt.meta.store.MetaStore;
import io.basalt.meta.store.MetaStore.Table;
import io.basalt.meta.store.Tx;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Function;
import java.util.function.LongSupplier;
import org.apache.ratis.proto.RaftProtos.CommitInfoProto;
import org.apache.ratis.proto.RaftProtos.LogEntryProto;
import org.apache.ratis.protocol.Message;
import org.apache.ratis.protocol.RaftClientRequest;
import org.apache.ratis.protocol.RaftGroupId;
import org.apache.ratis.protocol.RaftGroupMemberId;
import org.apache.ratis.protocol.RaftPeer;
import org.apache.ratis.protocol.RaftPeerId;
import org.apache.ratis.server.RaftServer;
import org.apache.ratis.server.protocol.TermIndex;
import org.apache.ratis.server.raftlog.RaftLog;
import org.apache.ratis.server.storage.RaftStorage;
import org.apache.ratis.statemachine.StateMachineStorage;
import org.apache.ratis.statemachine.TransactionContext;
import org.apache.ratis.statemachine.impl.BaseStateMachine;
import org.apache.ratis.statemachine.impl.FileListSnapshotInfo;
import org.apache.ratis.thirdparty.com.google.protobuf.ByteString;
import org.apache.ratis.util.LifeCycle;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The Ratis state machine of meta: log entries are {@link MetaRequest}s applied by
 * {@link MetaLogic} to RocksDB; reads are {@link #query}s on the leader after ReadIndex.
 *
 * <p>Design note (STYLE 8).
 * <ul>
 *   <li>Log entry = {@code u8 entryFormatVersion (1) | i64 leaderTimeMillis |
 *       i64 defaultChunkSizeBytes | request}. The leader stamps the time and cluster default in
 *       {@link #startTransaction}, after checking the request's form, so apply never reads a
 *       clock or a local setting and every member computes the same state.</li>
 *   <li>Each applied entry is one RocksDB batch that includes {@code lastApplied}. On restart
 *       Ratis replays from the last snapshot; entries at or below {@code lastApplied} are
 *       already in RocksDB and are skipped.</li>
 *   <li>Snapshots are RocksDB checkpoints ({@link SnapshotStore}); installing one replaces the
 *       live DB.</li>
 *   <li>Heartbeats are soft state on the leader ({@link #beats}), never logged.</li>
 * </ul>
 *
 * <p>Threads: Ratis applies entries on one thread; queries run on others. {@link #lock}'s write
 * side covers apply, snapshot install and store swap; reads and checkpoints take the read side.
 */
public final class MetaStateMachine extends BaseStateMachine {
    private static final Logger LOG = LoggerFactory.getLogger(MetaStateMachine.class);
    public static final int ENTRY_FORMAT_VERSION = 1;
    static final int ENTRY_HEADER_BYTES = 1 + 8 + 8;

    /** A chunk server's last heartbeat, as the leader saw it. */
    public record Beat(long atNanos, long capacityBytes, long usedBytes, CsHealth health,
                       RecoveryProgress recovery, MetaRequest.Heartbeat.ScrubReport scrub,
                       long appliedChangeSeq, MetaRequest.Heartbeat.HotReport hot) {
        public Beat(long atNanos, long capacityBytes, long usedBytes, CsHealth health,
                    RecoveryProgress recovery, MetaRequest.Heartbeat.ScrubReport scrub,
                    long appliedChangeSeq) {
            this(atNanos, capacityBytes, usedBytes, health, recovery, scrub, appliedChangeSeq,
                    MetaRequest.Heartbeat.HotReport.NONE);
        }

        public Beat(long atNanos, long capacityBytes, long usedBytes, CsHealth health,
                    RecoveryProgress recovery, MetaRequest.Heartbeat.ScrubReport scrub) {
            this(atNanos, capacityBytes, usedBytes, health, recovery, scrub,
                    MetaRequest.Heartbeat.APPLIED_UNKNOWN);
        }

        public Beat(long atNanos, long capacityBytes, long usedBytes, CsHealth health) {
            this(atNanos, capacityBytes, usedBytes, health, RecoveryProgress.NONE,
                    MetaRequest.Heartbeat.ScrubReport.NONE);
        }

        public Beat(long atNanos, long capacityBytes, long usedBytes, CsHealth health,
                    RecoveryProgress recovery) {
            this(atNanos, capacityBytes, usedBytes, health, recovery,
                    MetaRequest.Heartbeat.ScrubReport.NONE);
        }
    }

    /** Told when this member becomes leader (on a Ratis thread: do not block). */
    public interface LeaderListener {
        void onLeader(long term);
    }

    private final Path dbDir;
    private final long defaultChunkSizeBytes;
    private final LongSupplier wallClockMillis;
    private final LongSupplier nanoClock;
    private final SnapshotStore snapshots = new SnapshotStore();
    private final ReentrantReadWriteLock lock = new ReentrantReadWriteLock();
    private final Map<Integer, Beat> beats = new ConcurrentHashMap<>();
    private final AtomicLong leaderSinceNanos = new AtomicLong();
    private final AtomicLong appliedCount = new AtomicLong();
    /** Entries applied since start, by op and result ("ok" or "refused"): the metrics' view of the log. */
    private final java.util.concurrent.ConcurrentHashMap<List<String>, java.util.concurrent.atomic.LongAdder>
            appliedOps = new java.util.concurrent.ConcurrentHashMap<>();
    /** The recoverer's last stuck outcomes (leader soft state), published after each pass. */
    private volatile List<StuckRecovery> stuckRecoveries = List.of();
    private volatile LeaderListener leaderListener = term -> {};
    private volatile Runnable shutdownListener = () -> {};
    private volatile MetaStore store;
    /** Highest index in RocksDB; guarded by {@link #lock}. */
    private long storeAppliedIndex = RaftLog.INVALID_LOG_INDEX;

    public MetaStateMachine(Path dbDir, long defaultChunkSizeBytes) {
        this(dbDir, defaultChunkSizeBytes, System::currentTimeMillis, System::nanoTime);
    }

    /** Clocks are used only on the leader: to stamp entries and to age heartbeats. */
    public MetaStateMachine(Path dbDir, long defaultChunkSizeBytes, LongSupplier wallClockMillis,
                            LongSupplier nanoClock) {
        this.dbDir = dbDir;
        this.defaultChunkSizeBytes = defaultChunkSizeBytes;
        this.wallClockMillis = wallClockMillis;
        this.nanoClock = nanoClock;
    }

    public void setLeaderListener(LeaderListener listener) {
        this.leaderListener = listener;
    }

    /** Told when Ratis shuts this member's division down (on a Ratis thread). */
    public void setShutdownListener(Runnable listener) {
        this.shutdownListener = listener;
    }

    @Override
    public void notifyServerShutdown(org.apache.ratis.proto.RaftProtos.RoleInfoProto roleInfo,
                                     boolean allServer) {
        shutdownListener.run();
    }

    @Override
    public StateMachineStorage getStateMachineStorage() {
        return snapshots;
    }

    @Override
    public void initialize(RaftServer server, RaftGroupId groupId, RaftStorage raftStorage)
            throws IOException {
        // Ratis checks the life cycle: RUNNING here, PAUSED while it installs a snapshot.
        getLifeCycle().startAndTransition(() -> {
            super.initialize(server, groupId, raftStorage);
            snapshots.init(raftStorage);
            lock.writeLock().lock();
            try {
                openStore(snapshots.reload());
            } finally {
                lock.writeLock().unlock();
            }
        });
    }

    @Override
    public void pause() {
        lock.writeLock().lock();
        try {
            if (getLifeCycle().getCurrentState() == LifeCycle.State.RUNNING) {
                getLifeCycle().transition(LifeCycle.State.PAUSING);
                getLifeCycle().transition(LifeCycle.State.PAUSED);
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    @Override
    public void reinitialize() throws IOException {
        lock.writeLock().lock();
        try {
            if (store != null) {
                store.close();
                store = null;
            }
            FileListSnapshotInfo snapshot = snapshots.reload();
            openStore(snapshot);
            LOG.info("{}: reinitialized from snapshot {}", getId(), snapshot);
            if (getLifeCycle().getCurrentState() == LifeCycle.State.PAUSED) {
                getLifeCycle().transition(LifeCycle.State.STARTING);
                getLifeCycle().transition(LifeCycle.State.RUNNING);
            }
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** Opens RocksDB, first restoring the snapshot if the DB is missing or older than it. */
    private void openStore(FileListSnapshotInfo snapshot) throws IOException {
        TermIndex snapshotTermIndex = snapshot == null ? null : snapshot.getTermIndex();
        if (Files.isDirectory(dbDir)) {
            MetaStore existing = MetaStore.open(dbDir);
            long applied = readAppliedIndex(existing);
            if (snapshotTermIndex == null || applied >= snapshotTermIndex.getIndex()) {
                store = existing;
                storeAppliedIndex = applied;
                setLastAppliedTermIndex(snapshotTermIndex);
                LOG.info("{}: opened meta store {} at applied index {} (snapshot {})", getId(),
                        dbDir, applied, snapshotTermIndex);
                return;
            }
            existing.close();
        }
        if (snapshotTermIndex != null) {
            restore(snapshots.dirFor(snapshotTermIndex));
        }
        store = MetaStore.open(dbDir);
        storeAppliedIndex = readAppliedIndex(store);
        setLastAppliedTermIndex(snapshotTermIndex);
        LOG.info("{}: opened meta store {} at applied index {} (restored from snapshot {})", getId(),
                dbDir, storeAppliedIndex, snapshotTermIndex);
    }

    /** Replaces the live DB with a verified copy of a snapshot's checkpoint. */
    private void restore(Path snapshotDir) throws IOException {
        SnapshotStore.verify(snapshotDir);
        Path tmp = dbDir.resolveSibling(dbDir.getFileName() + ".restore");
        SnapshotStore.deleteTree(tmp);
        Files.createDirectories(tmp);
        for (String name : SnapshotStore.files(snapshotDir)) {
            Files.copy(snapshotDir.resolve(name), tmp.resolve(name));
        }
        SnapshotStore.deleteTree(dbDir);
        Files.move(tmp, dbDir, StandardCopyOption.ATOMIC_MOVE);
    }

    private static long readAppliedIndex(MetaStore store) {
        byte[] value = store.get(Table.META, Keys.LAST_APPLIED);
        return value == null ? RaftLog.INVALID_LOG_INDEX : Keys.readU64(value, 8);
    }

    @Override
    public long takeSnapshot() throws IOException {
        TermIndex termIndex;
        Path dir;
        lock.readLock().lock();
        try {
            byte[] value = store.get(Table.META, Keys.LAST_APPLIED);
            if (value == null) {
                return RaftLog.INVALID_LOG_INDEX;
            }
            termIndex = TermIndex.valueOf(Keys.readU64(value, 0), Keys.readU64(value, 8));
            TermIndex ratisApplied = getLastAppliedTermIndex();
            // While Ratis replays entries RocksDB already has, the DB is ahead of Ratis: wait.
            if (ratisApplied == null || termIndex.getIndex() > ratisApplied.getIndex()) {
                return RaftLog.INVALID_LOG_INDEX;
            }
            FileListSnapshotInfo latest = (FileListSnapshotInfo) snapshots.getLatestSnapshot();
            if (latest != null && latest.getIndex() >= termIndex.getIndex()) {
                return latest.getIndex();
            }
            dir = snapshots.dirFor(termIndex);
            SnapshotStore.deleteTree(dir);
            store.checkpoint(dir);
        } finally {
            lock.readLock().unlock();
        }
        snapshots.seal(dir, termIndex);
        LOG.info("{}: snapshot {} written to {}", getId(), termIndex, dir);
        return termIndex.getIndex();
    }

    // ---------------------------------------------------------------------------------------
    // Writes

    @Override
    public TransactionContext startTransaction(RaftClientRequest request) throws IOException {
        byte[] bytes = request.getMessage().getContent().toByteArray();
        MetaRequest decoded;
        try {
            decoded = MetaRequest.decode(bytes);
        } catch (MalformedMessageException e) {
            throw new IOException("malformed meta request: " + e.getMessage());
        }
        if (!decoded.op().isWrite()) {
            throw new IOException(decoded.op() + " is a read; send it read-only");
        }
        String formError = MetaRequestForm.checkForm(decoded);
        if (formError != null) {
            // Refused before the log: the state and the log are untouched.
            throw new IOException(formError);
        }
        byte[] entry = new WireWriter(ENTRY_HEADER_BYTES + bytes.length).u8(ENTRY_FORMAT_VERSION)
                .i64(wallClockMillis.getAsLong()).i64(defaultChunkSizeBytes).bytes(bytes)
                .toByteArray();
        return TransactionContext.newBuilder().setStateMachine(this).setClientRequest(request)
                .setLogData(ByteString.copyFrom(entry)).build();
    }

    @Override
    public CompletableFuture<Message> applyTransaction(TransactionContext trx) {
        LogEntryProto entry = trx.getLogEntry();
        byte[] data = entry.getStateMachineLogEntry().getLogData().toByteArray();
        byte[] reply = applyEntry(entry.getTerm(), entry.getIndex(), data);
        return CompletableFuture.completedFuture(Message.valueOf(ByteString.copyFrom(reply)));
    }

    /**
     * Applies one log entry's data at {@code term}/{@code index}: public so that tests can replay
     * a log without Ratis.
     */
    public byte[] applyEntry(long term, long index, byte[] data) {
        lock.writeLock().lock();
        try {
            if (index <= storeAppliedIndex) {
                notifyTermIndexUpdated(term, index);
                return MetaReply.error(MetaError.INTERNAL, "entry " + index + " was applied before");
            }
            byte[] reply;
            try (Tx tx = new Tx(store)) {
                reply = applyInto(data, tx);
                if (reply != null) {
                    tx.put(Table.META, Keys.LAST_APPLIED, Keys.u64u64(term, index));
                    tx.commit();
                }
            }
            if (reply == null) {
                // The entry could not be applied (a bug, never bad input: that is refused before
                // the log). Record only that it was seen, so every member stays identical.
                reply = MetaReply.error(MetaError.INTERNAL, "entry " + index + " failed to apply");
                try (Tx tx = new Tx(store)) {
                    tx.put(Table.META, Keys.LAST_APPLIED, Keys.u64u64(term, index));
                    tx.commit();
                }
            }
            storeAppliedIndex = index;
            appliedCount.incrementAndGet();
            updateLastAppliedTermIndex(term, index);
            return reply;
        } finally {
            lock.writeLock().unlock();
        }
    }

    /** The reply, or null when the entry failed unexpectedly (logged). */
    private byte[] applyInto(byte[] data, Tx tx) {
        try {
            WireReader header = new WireReader(data, 0, Math.min(data.length, ENTRY_HEADER_BYTES));
            int formatVersion = header.u8();
            if (formatVersion != ENTRY_FORMAT_VERSION) {
                // A newer member wrote it: applying it half-understood would fork the state.
                throw new IllegalStateException("log entry format version " + formatVersion
                        + " (this server knows " + ENTRY_FORMAT_VERSION + "); upgrade this member");
            }
            MetaLogic.EntryContext context = new MetaLogic.EntryContext(header.i64(), header.i64());
            MetaRequest request = MetaRequest.decode(data, ENTRY_HEADER_BYTES,
                    data.length - ENTRY_HEADER_BYTES);
            byte[] reply = MetaLogic.apply(request, context, tx);
            appliedOps.computeIfAbsent(List.of(request.op().name().toLowerCase(java.util.Locale.ROOT),
                    reply.length > 1 && reply[1] == 0 ? "ok" : "refused"),
                    key -> new java.util.concurrent.atomic.LongAdder()).increment();
            if (request instanceof MetaRequest.RegisterCs register && register.csId() != 0) {
                // A chunk server that registers again is alive now: its last heartbeat may be from
                // before a restart, and judging it by that would take it for silent until its first
                // heartbeat arrives (seen: a restarted server briefly counted not UP).
                beats.computeIfPresent(register.csId(), (id, beat) -> new Beat(nanoClock.getAsLong(),
                        register.capacityBytes(), beat.usedBytes(), CsHealth.OK,
                        RecoveryProgress.NONE, beat.scrub()));
            }
            return reply;
        } catch (MetaStore.StoreException | IllegalStateException e) {
            throw e;
        } catch (RuntimeException e) {
            LOG.error("{}: failed to apply a log entry", getId(), e);
            return null;
        }
    }

    @Override
    public void notifyTermIndexUpdated(long term, long index) {
        // Configuration and no-op entries: replayed ones may lie below what RocksDB holds.
        TermIndex current = getLastAppliedTermIndex();
        if (current == null || index > current.getIndex()) {
            updateLastAppliedTermIndex(term, index);
        }
    }

    // ---------------------------------------------------------------------------------------
    // Reads

    @Override
    public CompletableFuture<Message> query(Message message) {
        byte[] reply;
        try {
            MetaRequest request = MetaRequest.decode(message.getContent().toByteArray());
            reply = switch (request) {
                case MetaRequest.Heartbeat beat -> heartbeat(beat);
                case MetaRequest.ListCs list -> listCs();
                case MetaRequest.Status status -> status();
                case MetaRequest.RecoveryStatus status -> recoveryStatus();
                default -> {
                    if (request.op().isWrite()) {
                        yield MetaReply.error(MetaError.INVALID, request.op()
                                + " is a write; it must go through the log");
                    }
                    lock.readLock().lock();
                    try {
                        yield MetaLogic.read(request, store);
                    } finally {
                        lock.readLock().unlock();
                    }
                }
            };
        } catch (MalformedMessageException e) {
            reply = MetaReply.error(MetaError.INVALID, "malformed meta request: " + e.getMessage());
        } catch (RuntimeException e) {
            LOG.warn("{}: query failed", getId(), e);
            reply = MetaReply.error(MetaError.INTERNAL, "query failed: " + e);
        }
        return CompletableFuture.completedFuture(Message.valueOf(ByteString.copyFrom(reply)));
    }

    private RaftServer.Division division() throws IOException {
        return getServer().join().getDivision(getGroupId());
    }

    private boolean isLeader() {
        try {
            return division().getInfo().isLeader();
        } catch (IOException e) {
            return false;
        }
    }

    private byte[] heartbeat(MetaRequest.Heartbeat beat) {
        if (!isLeader()) {
            return MetaReply.error(MetaError.NOT_LEADER, "not the meta leader");
        }
        ChunkServer server;
        long highestSeq;
        boolean removed;
        String holder;
        lock.readLock().lock();
        try {
            holder = CsHolders.bound(store, beat.csId());
            byte[] value = store.get(Table.CS, Keys.u32(beat.csId()));
            server = value == null ? null : ChunkServer.decode(new WireReader(value));
            highestSeq = CsVersionIndex.highestSeq(store, beat.csId());
            removed = value == null
                    && store.get(Table.META, MetaLogic.removedCsKey(beat.csId())) != null;
        } finally {
            lock.readLock().unlock();
        }
        if (server == null) {
            return MetaReply.error(MetaError.NOT_FOUND, "chunk server " + beat.csId()
                    + (removed ? " was removed from the cluster (basalt cs remove); stop it"
                    : " is not registered; register first"));
        }
        byte[] refused = CsHolders.refusal(holder, beat.csId(), beat.holder(), "heartbeat");
        if (refused != null) {
            return refused;
        }
        // A chunk server cannot have applied more than meta gave it; a bogus figure is clamped so
        // the tombstone collector never acts on it.
        beats.put(beat.csId(), new Beat(nanoClock.getAsLong(), beat.capacityBytes(),
                beat.usedBytes(), CsHealth.ofCode(beat.healthCode()), beat.recovery(), beat.scrub(),
                Math.min(beat.appliedChangeSeq(), highestSeq), beat.hot()));
        // One more key read on the leader: the CS compares it with what it pulled last.
        return MetaReply.ok(new WireWriter().u8(server.status().code).i64(highestSeq));
    }

    private byte[] listCs() {
        List<ChunkServer> servers;
        Map<Integer, Long> recovering = new java.util.HashMap<>();
        Map<Integer, Long> chunklets = new java.util.HashMap<>();
        lock.readLock().lock();
        try {
            servers = MetaLogic.allCs(store);
            for (ChunkServer server : servers) {
                recovering.put(server.id(), RecoveryIndex.countOf(store, server.id()));
                chunklets.put(server.id(), CsVersionIndex.liveCount(store, server.id(),
                        Long.MAX_VALUE));
            }
        } finally {
            lock.readLock().unlock();
        }
        long now = nanoClock.getAsLong();
        WireWriter out = new WireWriter();
        out.i32(servers.size());
        for (ChunkServer server : servers) {
            Beat beat = beats.get(server.id());
            new CsView(server, beat == null ? -1 : beat.usedBytes(),
                    beat == null ? -1 : (now - beat.atNanos()) / 1_000_000,
                    beat == null ? null : beat.health(),
                    beat == null ? RecoveryProgress.NONE : beat.recovery(),
                    recovering.get(server.id()), chunklets.get(server.id()),
                    beat == null ? MetaRequest.Heartbeat.ScrubReport.NONE : beat.scrub(),
                    beat == null ? MetaRequest.Heartbeat.HotReport.NONE : beat.hot()).encode(out);
        }
        return MetaReply.ok(out);
    }

    /** Most stuck chunks one RECOVERY_STATUS reply lists; the total is always given. */
    static final int STUCK_REPLY_MAX = 1024;

    private byte[] recoveryStatus() {
        if (!isLeader()) {
            return MetaReply.error(MetaError.NOT_LEADER, "not the meta leader");
        }
        List<StuckRecovery> stuck = stuckRecoveries;
        int count = Math.min(stuck.size(), STUCK_REPLY_MAX);
        WireWriter out = new WireWriter();
        out.i32(stuck.size()).i32(count);
        for (int i = 0; i < count; i++) {
            stuck.get(i).encode(out);
        }
        return MetaReply.ok(out);
    }

    private byte[] status() {
        try {
            RaftServer.Division division = division();
            var info = division.getInfo();
            List<MetaStatus.Member> members = new ArrayList<>();
            Map<String, Long> commits = new java.util.HashMap<>();
            for (CommitInfoProto commit : division.getCommitInfos()) {
                commits.put(RaftPeerId.valueOf(commit.getServer().getId()).toString(),
                        commit.getCommitIndex());
            }
            RaftPeerId leader = info.getLeaderId();
            for (RaftPeer peer : division.getGroup().getPeers()) {
                String id = peer.getId().toString();
                members.add(new MetaStatus.Member(id, peer.getAddress(),
                        peer.getId().equals(leader), commits.getOrDefault(id, -1L)));
            }
            members.sort(java.util.Comparator.comparing(MetaStatus.Member::id));
            long commitIndex = division.getRaftLog().getLastCommittedIndex();
            byte[] clusterId;
            lock.readLock().lock();
            try {
                clusterId = store.get(Table.META, Keys.CLUSTER_ID);
            } finally {
                lock.readLock().unlock();
            }
            MetaStatus status = new MetaStatus(getGroupId().getUuid().toString(),
                    leader == null ? "" : leader.toString(), info.getCurrentTerm(),
                    info.getLastAppliedIndex(), commitIndex, members, clusterId == null ? ""
                    : new java.util.UUID(Keys.readU64(clusterId, 0), Keys.readU64(clusterId, 8))
                            .toString());
            WireWriter out = new WireWriter();
            status.encode(out);
            return MetaReply.ok(out);
        } catch (IOException e) {
            return MetaReply.error(MetaError.INTERNAL, "status unavailable: " + e.getMessage());
        }
    }

    // ---------------------------------------------------------------------------------------
    // Leader duties

    @Override
    public void notifyLeaderChanged(RaftGroupMemberId groupMemberId, RaftPeerId newLeaderId) {
        if (newLeaderId != null && newLeaderId.equals(getId())) {
            // A new leader has no heartbeat history: every chunk server gets a fresh grace period.
            beats.clear();
            stuckRecoveries = List.of();
            leaderSinceNanos.set(nanoClock.getAsLong());
            long term = -1;
            try {
                term = division().getInfo().getCurrentTerm();
            } catch (IOException e) {
                LOG.warn("{}: no division info at leader change", getId(), e);
            }
            leaderListener.onLeader(term);
        }
    }

    /** Soft state for the watchdog: last heartbeats and when this member became leader. */
    public Map<Integer, Beat> beats() {
        return beats;
    }

    public long leaderSinceNanos() {
        return leaderSinceNanos.get();
    }

    /** The recoverer publishes why chunks stay degraded (soft state; RECOVERY_STATUS). */
    /** Chunks the last recoverer pass could not heal (NO_PLACEMENT, LAST_COPY); 0 on followers. */
    public int stuckRecoveryCount() {
        return stuckRecoveries.size();
    }

    void publishStuckRecoveries(List<StuckRecovery> stuck) {
        stuckRecoveries = List.copyOf(stuck);
    }

    List<StuckRecovery> stuckRecoveries() {
        return stuckRecoveries;
    }

    /** Runs {@code reader} on the replicated state under the read lock (leader workers). */
    <T> T readState(Function<MetaStore, T> reader) {
        lock.readLock().lock();
        try {
            return reader.apply(store);
        } finally {
            lock.readLock().unlock();
        }
    }

    public boolean leader() {
        return isLeader();
    }

    /** All chunk servers as the replicated state has them. */
    public List<ChunkServer> chunkServers() {
        lock.readLock().lock();
        try {
            return MetaLogic.allCs(store);
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Every RocksDB entry, for byte-for-byte comparison in tests. */
    public Map<Table, List<MetaStore.Entry>> dump() {
        lock.readLock().lock();
        try {
            return store.dump();
        } finally {
            lock.readLock().unlock();
        }
    }

    /** The live store, for tests in this package (callers must not close it). */
    MetaStore storeForTests() {
        return store;
    }

    /** A plain read against the local store, without ReadIndex (tests and tools). */
    byte[] readLocal(MetaRequest request) {
        lock.readLock().lock();
        try {
            return MetaLogic.read(request, store);
        } finally {
            lock.readLock().unlock();
        }
    }

    /** Entries applied since start by [op, result]; a snapshot for the metrics. */
    public Map<List<String>, Long> appliedOps() {
        Map<List<String>, Long> snapshot = new java.util.TreeMap<>(java.util.Comparator.comparing(Object::toString));
        appliedOps.forEach((key, count) -> snapshot.put(key, count.sum()));
        return snapshot;
    }

    public long appliedCount() {
        return appliedCount.get();
    }

    @Override
    public void close() throws IOException {
        lock.writeLock().lock();
        try {
            if (store != null) {
                store.close();
                store = null;
            }
        } finally {
            lock.writeLock().unlock();
        }
        if (!getLifeCycle().getCurrentState().isClosingOrClosed()
                && getLifeCycle().getCurrentState() != LifeCycle.State.NEW) {
            getLifeCycle().checkStateAndClose(() -> { });
        }
        super.close();
    }

    /** Encodes a log entry's data as the leader would: for tests that replay logs. */
    public static byte[] entryData(long timeMillis, long defaultChunkSizeBytes, MetaRequest request) {
        byte[] bytes = request.encode();
        return new WireWriter(ENTRY_HEADER_BYTES + bytes.length).u8(ENTRY_FORMAT_VERSION)
                .i64(timeMillis).i64(defaultChunkSizeBytes).bytes(bytes).toByteArray();
    }

    /** Opens the store without Ratis, for tests that call {@link #applyEntry} directly. */
    public void openStandalone() throws IOException {
        lock.writeLock().lock();
        try {
            openStore(null);
        } finally {
            lock.writeLock().unlock();
        }
    }
}
