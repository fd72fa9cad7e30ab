package io.basalt.meta.server;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.meta.api.MetaRequest;
import io.basalt.meta.model.CsStatus;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Replays one log into two fresh state machines and compares their RocksDB contents byte for
 * byte. The log is random but seeded (the seed is printed); it mixes every write op, including
 * refusals, so divergence in any path shows up.
 */
class ReplayDeterminismTest {
    @TempDir
    Path dir;

    static List<byte[]> randomLog(long seed, int length) {
        SplittableRandom random = new SplittableRandom(seed);
        List<byte[]> log = new ArrayList<>();
        long timeMillis = 1_700_000_000_000L;
        int creates = 1;
        int allocations = 1;
        for (int i = 0; i < length; i++) {
            // Ids are never reused, so aim at the recent ones: most ops then find their target.
            long volumeId = Math.max(1, creates - random.nextInt(Math.min(creates, 8)));
            long chunkUid = Math.max(1, allocations - random.nextInt(Math.min(allocations, 16)));
            timeMillis += random.nextInt(2_000);
            MetaRequest request = switch (i < 8 ? 0 : random.nextInt(15)) {
                case 0 -> i < 8 ? new MetaRequest.RegisterCs(0, "h" + i + ":7000", "h" + i,
                        "z" + i % 3, 16L << 30, "v1") : new MetaRequest.RegisterCs(random.nextInt(4) == 0 ? random.nextInt(8) : 0,
                        "h" + random.nextInt(8) + ":7000", "h" + random.nextInt(8),
                        "z" + random.nextInt(3), (1L + random.nextInt(16)) << 30, "v1");
                case 1 -> new MetaRequest.CreateVolume(random.nextInt(10) == 0 ? "v1" : "v" + creates,
                        (1L + random.nextInt(64)) << 20,
                        List.of("rep1", "rep2", "rep3", "ec2+1", "ec4+2", "rep2@zone")
                                .get(random.nextInt(6)), 0);
                case 2 -> new MetaRequest.ResizeVolume("v" + volumeId,
                        (1L + random.nextInt(64)) << 20, random.nextBoolean());
                case 3 -> random.nextInt(3) == 0 ? new MetaRequest.DeleteVolume("v" + volumeId)
                        : new MetaRequest.ResizeVolume("v" + volumeId, 64L << 20, false);
                case 4, 5 -> new MetaRequest.AllocateChunk(volumeId, random.nextInt(16));
                case 6 -> new MetaRequest.ReportFailure(chunkUid, 1 + random.nextInt(3),
                        1 + random.nextInt(8));
                case 7 -> new MetaRequest.AcquireLease(volumeId, "c" + random.nextInt(3),
                        1 + random.nextInt(10_000));
                case 8 -> random.nextInt(4) == 0
                        ? new MetaRequest.SetCsStatus(1 + random.nextInt(8),
                                CsStatus.values()[random.nextInt(CsStatus.values().length)].code,
                                CsStatus.values()[random.nextInt(CsStatus.values().length)].code)
                        : new MetaRequest.SetCsStatus(1 + random.nextInt(8), CsStatus.DOWN.code,
                                CsStatus.UP.code);
                case 10 -> {
                    List<MetaRequest.RecoverItem> items = new ArrayList<>();
                    for (int item = 1 + random.nextInt(4); item > 0; item--) {
                        items.add(new MetaRequest.RecoverItem(
                                Math.max(1, allocations - random.nextInt(Math.min(allocations, 16))),
                                1 + random.nextInt(4), 1 + random.nextInt(8), 1 + random.nextInt(2)));
                    }
                    yield new MetaRequest.RecoverChunklets(items);
                }
                case 11 -> new MetaRequest.RecoveryDone(chunkUid, 1 + random.nextInt(8),
                        1 + random.nextInt(4));
                case 12, 13, 14 -> objectRequest(random, timeMillis, i);
                default -> random.nextBoolean()
                        ? new MetaRequest.NewLeaderEpoch("m" + random.nextInt(3))
                        : new MetaRequest.ReleaseLease(volumeId, "c" + random.nextInt(3));
            };
            if (request instanceof MetaRequest.CreateVolume) {
                creates++;
            } else if (request instanceof MetaRequest.AllocateChunk) {
                allocations++;
            }
            log.add(MetaStateMachine.entryData(timeMillis, 4L << 20, request));
        }
        return log;
    }

    /** Object-index writes: logs, buckets, versions, uploads, frees, with refusals among them. */
    static MetaRequest objectRequest(SplittableRandom random, long timeMillis, int i) {
        String bucket = "bk" + random.nextInt(3);
        String key = "k" + random.nextInt(6) + (random.nextBoolean() ? "/x" : "");
        long logId = 1 + random.nextInt(3);
        // Offsets rise with the entry index, so most extents are new; some repeat (refused).
        long offset = (long) (i - random.nextInt(3)) * 8192;
        List<io.basalt.meta.model.s3.ObjectExtent> extents = List.of(
                new io.basalt.meta.model.s3.ObjectExtent(logId, offset, 5000));
        String uploadId = "u" + random.nextInt(4);
        return switch (random.nextInt(13)) {
            case 0 -> new io.basalt.meta.api.ObjectRequest.OpenObjectLog("rep1",
                    "gw" + random.nextInt(2), List.of(), timeMillis);
            case 1 -> new io.basalt.meta.api.ObjectRequest.ReserveObjectLog(logId,
                    "gw" + random.nextInt(2), 1L << 30, 0);
            case 2 -> new io.basalt.meta.api.ObjectRequest.CreateBucket(bucket, "owner", "ec4+2",
                    timeMillis);
            case 3 -> new io.basalt.meta.api.ObjectRequest.SetBucketVersioning(bucket,
                    io.basalt.meta.model.s3.Versioning.values()[random.nextInt(3)]);
            case 4, 5 -> new io.basalt.meta.api.ObjectRequest.PutObject(bucket, key, 5000, "e",
                    "owner", java.util.Map.of("content-type", "a/b"), java.util.Map.of(), "",
                    java.util.Map.of(), List.of(), extents, "", random.nextInt(4) == 0,
                    timeMillis);
            case 6 -> new io.basalt.meta.api.ObjectRequest.DeleteObject(bucket, key,
                    random.nextBoolean() ? "" : "null", timeMillis);
            case 7 -> new io.basalt.meta.api.ObjectRequest.CreateUpload(bucket, key, uploadId,
                    "owner", java.util.Map.of(), "", java.util.Map.of(), timeMillis);
            case 8 -> new io.basalt.meta.api.ObjectRequest.PutPart(bucket, key, uploadId,
                    1 + random.nextInt(2), 5000, "0123456789abcdef0123456789abcdef",
                    java.util.Map.of(), extents, timeMillis);
            case 9 -> new io.basalt.meta.api.ObjectRequest.CompleteUpload(bucket, key, uploadId,
                    List.of(1), List.of("0123456789abcdef0123456789abcdef"), "", false,
                    timeMillis);
            case 10 -> new io.basalt.meta.api.ObjectRequest.AbortUpload(bucket, key, uploadId);
            case 11 -> new io.basalt.meta.api.ObjectRequest.PutInlineObject(
                    new io.basalt.meta.api.ObjectRequest.PutObject(bucket, key, 3, "e", "owner",
                            java.util.Map.of(), java.util.Map.of(), "", java.util.Map.of(),
                            List.of(), List.of(), "", random.nextInt(4) == 0, timeMillis),
                    new byte[] {(byte) random.nextInt(), 2, 3});
            default -> new io.basalt.meta.api.ObjectRequest.FreedObjectExtents(logId,
                    List.of(offset, offset - 8192));
        };
    }

    @Test
    void sameLogGivesIdenticalRocksDbContents() throws Exception {
        long seed = System.nanoTime();
        System.out.println("ReplayDeterminismTest seed " + seed
                + " (replay: set seed to this value)");
        List<byte[]> log = randomLog(seed, 2_000);
        MetaStateMachine first = new MetaStateMachine(dir.resolve("a"), 4L << 20);
        MetaStateMachine second = new MetaStateMachine(dir.resolve("b"), 4L << 20);
        first.openStandalone();
        second.openStandalone();
        try {
            List<byte[]> firstReplies = new ArrayList<>();
            for (int i = 0; i < log.size(); i++) {
                firstReplies.add(first.applyEntry(1, i + 1, log.get(i)));
            }
            for (int i = 0; i < log.size(); i++) {
                assertThat(second.applyEntry(1, i + 1, log.get(i)))
                        .as("reply to entry %d (seed %d)", i + 1, seed)
                        .isEqualTo(firstReplies.get(i));
            }
            var firstDump = first.dump();
            assertThat(second.dump()).as("seed %d", seed).isEqualTo(firstDump);
            assertThat(firstDump.get(io.basalt.meta.store.MetaStore.Table.VOLUME)).isNotEmpty();
            assertThat(firstDump.get(io.basalt.meta.store.MetaStore.Table.CHUNK)).isNotEmpty();
            // The per-CS version index is written by the same entries: compared above too.
            assertThat(firstDump.get(io.basalt.meta.store.MetaStore.Table.CS_CHUNK_CHANGE))
                    .isNotEmpty();
            // So are the recovery tables (RECOVERY, DEGRADED), written with every chunk change.
            assertThat(firstDump.get(io.basalt.meta.store.MetaStore.Table.S3_OBJECT)
                    .size() + firstDump.get(io.basalt.meta.store.MetaStore.Table.OBJ_FREE)
                    .size()).isPositive();
        } finally {
            first.close();
            second.close();
        }
    }
}
