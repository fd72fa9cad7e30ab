package io.basalt.chunkserver;

import java.io.IOException;
import java.util.List;
import java.util.UUID;

/**
 * What the chunk server needs from the metadata service, kept small so the daemon can be tested with
 * a fake and so the adapter over {@code io.basalt.meta.api.MetaClient} (branch {@code meta}) is thin.
 */
public interface MetaLink extends AutoCloseable {
    /** The id of the cluster meta serves; compared with the data directory's identity. */
    UUID clusterId() throws IOException;

    /**
     * Registers this CS: {@code csId} is the id from the identity file, or 0 on first start (meta
     * assigns one). Returns the id to use (and store).
     */
    int register(int csId, String address, String hostLabel, String zoneLabel, long capacityBytes) throws IOException;

    /** One heartbeat: capacity, used bytes, health. Called every second by the daemon. */
    void heartbeat(int csId, long capacityBytes, long usedBytes, Health health) throws IOException;

    /** A heartbeat that also reports this CS's recovery work (shown by {@code basalt status}). */
    default void heartbeat(int csId, long capacityBytes, long usedBytes, Health health, RecoveryProgress progress)
            throws IOException {
        heartbeat(csId, capacityBytes, usedBytes, health);
    }

    /** A heartbeat that also reports what the scrubber is doing and found. */
    default void heartbeat(int csId, long capacityBytes, long usedBytes, Health health, RecoveryProgress progress,
            ScrubReport scrub) throws IOException {
        heartbeat(csId, capacityBytes, usedBytes, health, progress);
    }

    /** A heartbeat that also reports the hot store's fill and the freezer's progress. */
    default void heartbeat(int csId, long capacityBytes, long usedBytes, Health health, RecoveryProgress progress,
            ScrubReport scrub, HotReport hot) throws IOException {
        heartbeat(csId, capacityBytes, usedBytes, health, progress, scrub);
    }

    /**
     * The hot store (bytes of hot blocks held, capacity) and the freezer (blocks folded into stripes
     * since start, recent blocks per second, failed attempts since start).
     */
    record HotReport(long usedBytes, long capacityBytes, long frozenBlocksTotal, long frozenBlocksPerSecond,
            long freezeFailuresTotal) {}

    /** The scrubber's pass in progress (if any) and the last finished pass's findings. */
    record ScrubReport(boolean running, long passBytes, long passDamaged, long passRepaired, long lastPassEndMillis,
            long lastPassDamaged, long lastPassRepaired) {}

    /** The chunklets meta has placed on this CS in state RECOVERING: what it must rebuild or catch up. */
    default List<RecoveryTask> recoveryTasks(int csId) throws IOException {
        return List.of();
    }

    /**
     * Tells meta a recovery is complete: the chunklet becomes UPTODATE. Throws
     * {@link StaleRecoveryException} when meta no longer has that recovery (the chunklet was moved
     * or recovery restarted at another version): the work is dropped.
     */
    default void recoveryDone(long chunkUid, int csId, long startVersion) throws IOException {}

    /**
     * The current map of chunk {@code chunkUid} as a {@link RecoveryTask} (startVersion = the chunk's
     * version, targetIndex = the chunklet on {@code csId}, -1 if none), or null when meta does not know
     * the chunk. The scrubber uses it to repair from the chunk's other chunklets.
     */
    default RecoveryTask chunkMap(long chunkUid, int csId) throws IOException {
        return null;
    }

    /**
     * Reports this chunk server's own chunklet of a chunk as failed at {@code chunkVersion} (as a client
     * does for a replica that failed a write): meta makes it OUTDATED and the recoverer catches it up.
     * The scrubber uses it for a replica that lacks blocks its peers hold.
     */
    default void reportFailure(long chunkUid, long chunkVersion, int csId) throws IOException {
        throw new IOException("this meta link cannot report failures");
    }

    /** Meta no longer has the recovery a chunk server reports done. */
    final class StaleRecoveryException extends IOException {
        public StaleRecoveryException(String message) {
            super(message);
        }
    }

    /**
     * One chunklet to recover on this CS: the chunk's current map ({@code members}, one per chunklet,
     * the target among them at {@code targetIndex}), the version at which the recovery began (the fence
     * every client write since then carries) and the chunk's layout.
     */
    record RecoveryTask(long chunkUid, long chunkVersion, long startVersion, boolean catchUp, boolean erasureCoded,
            int dataCount, int parityCount, long chunkletSizeBytes, int targetIndex, List<Member> members) {
        public RecoveryTask {
            members = List.copyOf(members);
        }

        /** The same task with every member UPTODATE (a chunk map as the scrubber sees it; tests). */
        public RecoveryTask withAllUpToDate() {
            return new RecoveryTask(chunkUid, chunkVersion, startVersion, catchUp, erasureCoded, dataCount,
                    parityCount, chunkletSizeBytes, targetIndex,
                    members.stream().map(m -> new Member(m.index(), m.csId(), m.address(), true)).toList());
        }

        /** The same task with the member at {@code index} RECOVERING (tests). */
        public RecoveryTask withRecovering(int index) {
            return new RecoveryTask(chunkUid, chunkVersion, startVersion, catchUp, erasureCoded, dataCount,
                    parityCount, chunkletSizeBytes, targetIndex, members.stream()
                            .map(m -> m.index() == index ? new Member(m.index(), m.csId(), m.address(), false, true) : m)
                            .toList());
        }

        /** The same task with the member at {@code index} UPTODATE or not (tests). */
        public RecoveryTask withUpToDate(int index, boolean upToDate) {
            return new RecoveryTask(chunkUid, chunkVersion, startVersion, catchUp, erasureCoded, dataCount,
                    parityCount, chunkletSizeBytes, targetIndex, members.stream()
                            .map(m -> m.index() == index ? new Member(m.index(), m.csId(), m.address(), upToDate) : m)
                            .toList());
        }

        /**
         * The chunk's EC layout with this task's target as stripe master (the first UPTODATE parity
         * column, as the client picks it); null when the target is not the master, or, with
         * {@code everyColumn}, when a column is not UPTODATE (the scrubber compares every column of a
         * stripe; the recoverer's business first). Without it the layout is {@link #layout}'s: OUTDATED
         * columns skipped, RECOVERING ones written.
         */
        public io.basalt.protocol.data.EcLayout masterLayout(boolean everyColumn) {
            int master = -1;
            for (int i = dataCount; i < dataCount + parityCount && master < 0; i++) {
                int index = i;
                master = members.stream().anyMatch(m -> m.index() == index && m.upToDate()) ? i : -1;
            }
            boolean all = members.size() == dataCount + parityCount && members.stream().allMatch(Member::upToDate);
            if (master != targetIndex || (everyColumn && !all)) {
                return null;
            }
            return layout(master, -1);
        }

        /**
         * The chunk's EC layout with {@code masterIndex} as stripe master, as a rebuild or repair of
         * column {@code target} (-1: none) sends it: UPTODATE columns other than the target are usable
         * (read and written); the target and every RECOVERING column are written, never read; the rest
         * (OUTDATED) are skipped. Every column that takes writes must be named, not only the target:
         * the master learns the layout and its freezer writes with it, so a column left out would miss
         * those writes after its own catch-up had passed them (EcRecoveryTest
         * aRebuildNamesEveryRecoveringColumnSoTheFreezeItStartsMissesNone).
         */
        public io.basalt.protocol.data.EcLayout layout(int masterIndex, int target) {
            int width = dataCount + parityCount;
            List<String> addresses = new java.util.ArrayList<>(java.util.Collections.nCopies(width, ""));
            List<Boolean> usable = new java.util.ArrayList<>(java.util.Collections.nCopies(width, false));
            List<Boolean> recovering = new java.util.ArrayList<>(java.util.Collections.nCopies(width, false));
            for (Member member : members) {
                int i = member.index();
                addresses.set(i, member.address());
                usable.set(i, member.upToDate() && i != target);
                recovering.set(i, i == target || member.recovering());
            }
            return new io.basalt.protocol.data.EcLayout(dataCount, parityCount, masterIndex, addresses, usable,
                    recovering);
        }
    }

    /**
     * A chunklet of a recovery task's chunk: its index (column), server, whether it holds current data
     * (UPTODATE, or the source of a move) and whether it is RECOVERING (a replacement, or a column
     * caught up, that takes writes but is never read). Neither: OUTDATED, skipped.
     */
    record Member(int index, int csId, String address, boolean upToDate, boolean recovering) {
        public Member(int index, int csId, String address, boolean upToDate) {
            this(index, csId, address, upToDate, false);
        }
    }

    /** What a chunk server reports of its recovery work in each heartbeat. */
    record RecoveryProgress(int activeChunklets, int queuedChunklets, long bytesDone, long bytesTotal,
            long bytesPerSecond, long rebuiltBytesTotal, long catchUpBytesTotal) {
        public static final RecoveryProgress NONE = new RecoveryProgress(0, 0, 0, 0, 0, 0, 0);
    }

    /**
     * Starts delivering chunk versions for this CS to {@code sink}: everything meta knows now, then
     * every change.
     */
    void subscribeVersions(int csId, ChunkVersionSink sink) throws IOException;

    /**
     * A request came with a chunk version newer than the one this CS knows: its view is behind,
     * pull now. Called on an event loop, possibly for every such request: must only signal (and
     * coalesce), never block.
     */
    default void versionsBehind() {}

    /** Health as reported to meta. */
    enum Health { OK, FULL, DISK_FAILED }

    @Override
    void close() throws IOException;
}
