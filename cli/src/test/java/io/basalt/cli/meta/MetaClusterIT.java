package io.basalt.cli.meta;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.meta.api.MetaClient;
import io.basalt.meta.api.MetaException;
import io.basalt.meta.api.MetaStatus;
import io.basalt.meta.model.Volume;
import io.basalt.meta.store.MetaStore;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * Meta groups of real processes on loopback: kill -9 of the leader under load, catch-up of a
 * restarted member from a snapshot after the log was purged, and (the same group) a leader stopped
 * with SIGSTOP past the election timeout; 5 members losing 2.
 */
class MetaClusterIT {
    /**
     * Small snapshots and log segments so the leader purges its log quickly; election timeout
     * 1 s (2 s max) rides out scheduling stalls on a loaded 2-core CI machine. The watchdog is
     * off in effect: these tests register chunk servers that never heartbeat.
     */
    private static final String[] MEMBER_ARGS = {"--snapshot-every", "40", "--log-segment-size",
            "8K", "--election-timeout-ms", "1000", "--cs-unhealthy-after-ms", "3600000",
            "--chunk-size", "4M"};

    private static Path tempDir(String name) throws Exception {
        return Files.createTempDirectory("basalt-meta-it-" + name);
    }

    private static void registerHosts(MetaClient client, int count) {
        for (int i = 0; i < count; i++) {
            client.registerCs(0, "host" + i + ":7000", "host" + i, "z", 1L << 40, "it");
        }
    }

    /** Runs {@code body}; on failure prints the members' log tails, then rethrows. */
    private static void withLogs(MetaCluster cluster, ThrowingRunnable body) throws Exception {
        try {
            body.run();
        } catch (Throwable failure) {
            Path kept = Path.of("target", "meta-it-logs", cluster.dir.getFileName().toString());
            Files.createDirectories(kept);
            for (int i = 0; i < cluster.size; i++) {
                String log = cluster.log(i);
                Files.writeString(kept.resolve("m" + (i + 1) + ".log"), log);
                System.err.println("---- member " + (i + 1) + " log (tail; whole log in " + kept
                        + ") ----");
                System.err.println(log.substring(Math.max(0, log.length() - 3000)));
            }
            throw failure;
        }
    }

    interface ThrowingRunnable {
        void run() throws Exception;
    }

    /** One 3-member group: kill -9 of the leader, catch-up from a snapshot, then a SIGSTOP'd leader. */
    @Test
    void leaderKilledDuringCreatesLosesNothingAndRestartedMemberCatchesUpFromSnapshot()
            throws Exception {
        try (MetaCluster cluster = new MetaCluster(3, tempDir("kill9"), MEMBER_ARGS);
             MetaClient client = cluster.client()) {
            cluster.startAll();
            withLogs(cluster, () -> {
                registerHosts(client, 3);
                Set<String> acknowledged = ConcurrentHashMap.newKeySet();
                AtomicBoolean stop = new AtomicBoolean();
                AtomicLong killNanos = new AtomicLong(Long.MAX_VALUE);
                AtomicLong firstAckAfterKillNanos = new AtomicLong();
                List<Throwable> failures = new ArrayList<>();
                Thread writer = Thread.ofPlatform().name("it-creates").start(() -> {
                    for (int i = 0; !stop.get() && i < 100_000; i++) {
                        String name = "vol" + i;
                        try {
                            client.createVolume(name, 64L << 20, "rep3", 0);
                            acknowledged.add(name);
                            long now = System.nanoTime();
                            if (now > killNanos.get()) {
                                firstAckAfterKillNanos.compareAndSet(0, now);
                            }
                        } catch (MetaException e) {
                            synchronized (failures) {
                                failures.add(e);
                            }
                        }
                    }
                });
                waitUntil(() -> acknowledged.size() >= 40, Duration.ofSeconds(60), "40 creates");
                int leader = cluster.leaderIndex(client);
                int before = acknowledged.size();
                killNanos.set(System.nanoTime());
                cluster.kill9(leader);
                waitUntil(() -> acknowledged.size() > before + 5, Duration.ofSeconds(30),
                        "creates after the leader was killed");
                long gapMillis = (firstAckAfterKillNanos.get() - killNanos.get()) / 1_000_000;
                int newLeader = cluster.leaderIndex(client);
                assertThat(newLeader).isNotEqualTo(leader);
                MetaStatus afterKill = client.status();
                System.out.printf("kill -9 of leader %d: new leader %d (term %d), creates resumed"
                        + " within %d ms%n", leader + 1, newLeader + 1, afterKill.term(), gapMillis);
                // "A few seconds": election 1-2 s plus client retry; generous for a loaded CI box.
                assertThat(gapMillis).isLessThan(15_000);
                // Enough entries with the member down that snapshots are taken and the log purged.
                int target = acknowledged.size() + 160;
                waitUntil(() -> acknowledged.size() >= target, Duration.ofSeconds(90),
                        "160 more creates");
                stop.set(true);
                writer.join(60_000);
                assertThat(failures).as("creates refused or failed").isEmpty();

                List<Volume> volumes = client.listVolumes();
                Set<String> names = new HashSet<>();
                Set<Long> ids = new HashSet<>();
                for (Volume volume : volumes) {
                    assertThat(names.add(volume.name())).as("duplicate %s", volume.name()).isTrue();
                    assertThat(ids.add(volume.id())).as("duplicate id %d", volume.id()).isTrue();
                }
                assertThat(names).containsAll(acknowledged);

                // The killed member restarts from its own disk and catches up from a snapshot.
                cluster.restart(leader);
                long commitIndex = client.status().commitIndex();
                waitUntil(() -> cluster.log(leader).contains("reinitialized from snapshot"),
                        Duration.ofSeconds(60), "restarted member to install a snapshot");
                waitUntil(() -> memberCommit(client, leader) >= commitIndex, Duration.ofSeconds(60),
                        "restarted member to catch up");

                // The same group, now with a member caught up from a snapshot: a leader stopped
                // (SIGSTOP) past the election timeout steps down without a split brain.
                stoppedLeaderStepsDown(cluster, client);
                int volumeCount = client.listVolumes().size();

                // All three replicas hold the same RocksDB contents, byte for byte.
                waitUntil(() -> allCommitted(client), Duration.ofSeconds(30), "equal commit indexes");
                Thread.sleep(2000);
                for (int i = 0; i < 3; i++) {
                    cluster.stop(i);
                }
                Map<MetaStore.Table, List<MetaStore.Entry>> first = dump(cluster.dir.resolve("m1/db"));
                assertThat(first.get(MetaStore.Table.VOLUME)).hasSize(volumeCount);
                assertThat(dump(cluster.dir.resolve("m2/db"))).isEqualTo(first);
                assertThat(dump(cluster.dir.resolve("m3/db"))).isEqualTo(first);
            });
        }
    }

    /**
     * A member's RocksDB contents, without the applied-position marker (META "lastApplied"): the
     * members are stopped one after another, and the two still running may elect a leader whose
     * new term's first (empty) entry they apply before they stop. Seen once in CI: every table
     * equal but lastApplied, term 3 against term 4. The state itself must be equal byte for byte.
     */
    private static Map<MetaStore.Table, List<MetaStore.Entry>> dump(Path db) throws Exception {
        try (MetaStore store = MetaStore.open(db)) {
            Map<MetaStore.Table, List<MetaStore.Entry>> dump = new java.util.EnumMap<>(store.dump());
            byte[] lastApplied = "lastApplied".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
            dump.computeIfPresent(MetaStore.Table.META, (table, entries) -> entries.stream()
                    .filter(entry -> !java.util.Arrays.equals(entry.key(), lastApplied)).toList());
            return dump;
        }
    }

    private static long memberCommit(MetaClient client, int index) {
        return client.status().members().stream()
                .filter(m -> m.id().equals(String.valueOf(index + 1)))
                .mapToLong(MetaStatus.Member::commitIndex).findFirst().orElse(-1);
    }

    private static boolean allCommitted(MetaClient client) {
        MetaStatus status = client.status();
        return status.members().stream().allMatch(m -> m.commitIndex() == status.commitIndex());
    }

    @Test
    void fiveMembersSurviveTwoFailures() throws Exception {
        try (MetaCluster cluster = new MetaCluster(5, tempDir("five"), MEMBER_ARGS);
             MetaClient client = cluster.client()) {
            cluster.startAll();
            withLogs(cluster, () -> {
                registerHosts(client, 3);
                for (int i = 0; i < 10; i++) {
                    client.createVolume("before" + i, 64L << 20, "rep3", 0);
                }
                int leader = cluster.leaderIndex(client);
                int other = (leader + 1) % 5;
                cluster.kill9(leader);
                cluster.kill9(other);
                for (int i = 0; i < 10; i++) {
                    client.createVolume("after" + i, 64L << 20, "rep3", 0);
                }
                assertThat(client.listVolumes()).hasSize(20);
                int newLeader = cluster.leaderIndex(client);
                assertThat(newLeader).isNotIn(leader, other);
                // Every member serves metrics; exactly one of the survivors says it leads.
                int leaders = 0;
                for (int i = 0; i < 5; i++) {
                    if (i == leader || i == other) {
                        continue;
                    }
                    String text = cluster.metrics(i);
                    assertThat(text).contains("basalt_meta_last_applied_index").contains("jvm_memory")
                            .containsPattern("(?m)^basalt_meta_applied_ops_total\\{op=\"create_volume\",result=\"ok\"\\} [1-9]");
                    leaders += java.util.regex.Pattern.compile("(?m)^basalt_meta_leader 1").matcher(text).find() ? 1 : 0;
                }
                assertThat(leaders).isEqualTo(1);
            });
        }
    }

    /**
     * SIGSTOP of the leader past the election timeout (1-2 s): the others elect a new leader and
     * writes go on; after SIGCONT the old leader hears the higher term and steps down, one leader
     * remains, no write is lost and the resumed member catches up.
     */
    private static void stoppedLeaderStepsDown(MetaCluster cluster, MetaClient client) throws Exception {
        client.createVolume("stop-before", 64L << 20, "rep3", 0);
        int leader = cluster.leaderIndex(client);
        long term = client.status().term();
        String logBefore = cluster.log(leader); // it logs nothing while stopped, and steps down at once
        cluster.signal(leader, "STOP");
        for (int i = 0; i < 5; i++) {
            client.createVolume("stop-during" + i, 64L << 20, "rep3", 0);
        }
        MetaStatus during = client.status();
        assertThat(during.term()).isGreaterThan(term);
        assertThat(during.leaderId()).isNotEqualTo(String.valueOf(leader + 1));
        Thread.sleep(3000);
        cluster.signal(leader, "CONT");
        waitUntil(() -> {
            String resumed = cluster.log(leader).substring(logBefore.length());
            return resumed.contains("to FOLLOWER") || resumed.contains("step down");
        }, Duration.ofSeconds(30), "the resumed leader to step down");
        for (int i = 0; i < 5; i++) {
            client.createVolume("stop-after" + i, 64L << 20, "rep3", 0);
        }
        MetaStatus after = client.status();
        assertThat(after.members().stream().filter(MetaStatus.Member::leader)).hasSize(1);
        assertThat(client.listVolumes()).extracting(Volume::name).contains("stop-before", "stop-during0",
                "stop-during1", "stop-during2", "stop-during3", "stop-during4", "stop-after0", "stop-after1",
                "stop-after2", "stop-after3", "stop-after4");
        long commitIndex = after.commitIndex();
        waitUntil(() -> memberCommit(client, leader) >= commitIndex, Duration.ofSeconds(30),
                "resumed member to catch up");
    }

    interface Condition {
        boolean holds() throws Exception;
    }

    static void waitUntil(Condition condition, Duration timeout, String what) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        while (!condition.holds()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out after " + timeout + " waiting for " + what);
            }
            Thread.sleep(100);
        }
    }
}
