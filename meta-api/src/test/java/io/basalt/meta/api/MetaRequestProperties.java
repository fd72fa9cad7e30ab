package io.basalt.meta.api;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

class MetaRequestProperties {
    @Provide
    Arbitrary<MetaRequest> requests() {
        Arbitrary<String> text = Arbitraries.strings().ofMaxLength(40);
        Arbitrary<Long> longs = Arbitraries.longs();
        Arbitrary<Integer> ints = Arbitraries.integers();
        return Arbitraries.oneOf(List.of(
                net.jqwik.api.Combinators.combine(ints, text, text, text, longs, text)
                        .as(MetaRequest.RegisterCs::new),
                net.jqwik.api.Combinators.combine(ints, text, text, text, longs, text, text)
                        .as(MetaRequest.RegisterCs::new),
                net.jqwik.api.Combinators.combine(ints, Arbitraries.integers().between(0, 255),
                        Arbitraries.integers().between(0, 255)).as(MetaRequest.SetCsStatus::new),
                net.jqwik.api.Combinators.combine(text, longs, text, longs)
                        .as(MetaRequest.CreateVolume::new),
                net.jqwik.api.Combinators.combine(text, longs, Arbitraries.of(true, false))
                        .as(MetaRequest.ResizeVolume::new),
                Combinators.combine(text, Arbitraries.of(true, false)).as(MetaRequest.DeleteVolume::new),
                net.jqwik.api.Combinators.combine(longs, longs).as(MetaRequest.AllocateChunk::new),
                net.jqwik.api.Combinators.combine(longs, longs, ints).as(MetaRequest.ReportFailure::new),
                net.jqwik.api.Combinators.combine(longs, text, longs).as(MetaRequest.AcquireLease::new),
                net.jqwik.api.Combinators.combine(longs, text).as(MetaRequest.ReleaseLease::new),
                text.map(MetaRequest.NewLeaderEpoch::new),
                text.map(MetaRequest.GetVolume::new),
                Arbitraries.just(new MetaRequest.ListVolumes()),
                net.jqwik.api.Combinators.combine(longs, longs).as(MetaRequest.GetChunk::new),
                Arbitraries.just(new MetaRequest.ListCs()),
                net.jqwik.api.Combinators.combine(ints, longs, longs,
                        Arbitraries.integers().between(0, 255)).as(MetaRequest.Heartbeat::new),
                net.jqwik.api.Combinators.combine(ints, longs, ints)
                        .as(MetaRequest.ListCsChunkVersions::new),
                net.jqwik.api.Combinators.combine(longs, longs, ints)
                        .as(MetaRequest.ListChunks::new),
                Arbitraries.just(new MetaRequest.Status()),
                net.jqwik.api.Combinators.combine(longs, longs)
                        .as((most, least) -> new MetaRequest.InitClusterId(
                                new java.util.UUID(most, least))),
                Arbitraries.just(new MetaRequest.GetClusterId()),
                Combinators.combine(ints, longs, longs, Arbitraries.integers().between(0, 255),
                        progress()).as(MetaRequest.Heartbeat::new),
                Combinators.combine(longs, longs, ints, Arbitraries.integers().between(0, 255))
                        .as(MetaRequest.RecoverItem::new).list().ofMinSize(0).ofMaxSize(8)
                        .map(MetaRequest.RecoverChunklets::new),
                Combinators.combine(longs, longs, ints, ints)
                        .as((uid, version, csId, target) -> MetaRequest.RecoverItem.migrate(uid,
                                version, csId, target)).list().ofMinSize(1).ofMaxSize(8)
                        .map(MetaRequest.RecoverChunklets::new),
                Combinators.combine(ints, Arbitraries.of(true, false))
                        .as(MetaRequest.DrainCs::new),
                ints.map(MetaRequest.RemoveCs::new),
                Combinators.combine(ints, longs, longs.list().ofMaxSize(8))
                        .as(MetaRequest.CollectTombstones::new),
                Combinators.combine(ints, longs, longs, Arbitraries.integers().between(0, 255),
                        progress(), longs).as((cs, capacity, used, health, progress, applied) ->
                        new MetaRequest.Heartbeat(cs, capacity, used, health, progress,
                                MetaRequest.Heartbeat.ScrubReport.NONE, applied)),
                Combinators.combine(ints, longs, longs, progress(), longs, longs.list().ofSize(5), text).as(
                        (cs, capacity, applied, progress, used, hot, holder) -> new MetaRequest.Heartbeat(cs, capacity,
                                used, 1, progress, new MetaRequest.Heartbeat.ScrubReport(true, 1, 2, 3, 4, 5, 6),
                                applied, new MetaRequest.Heartbeat.HotReport(hot.get(0), hot.get(1), hot.get(2),
                                        hot.get(3), hot.get(4)), holder)),
                Combinators.combine(longs, ints, longs).as(MetaRequest.RecoveryDone::new),
                Combinators.combine(longs, ints, longs, text).as(MetaRequest.RecoveryDone::new),
                Combinators.combine(ints, longs, ints).as(MetaRequest.ListRecoveryTasks::new),
                Arbitraries.just(new MetaRequest.RecoveryStatus()),
                Combinators.combine(text, longs, text, longs, qos())
                        .as(MetaRequest.CreateVolume::new),
                Combinators.combine(text, qos()).as(MetaRequest.SetVolumeQos::new),
                Combinators.combine(text, longs, text, longs, qos(), Arbitraries.integers().between(0, 255))
                        .as(MetaRequest.CreateVolume::new),
                Combinators.combine(text, Arbitraries.integers().between(0, 255),
                        Arbitraries.integers().between(0, 255)).as(MetaRequest.SetVolumeFeatures::new),
                Combinators.combine(text, text).as(MetaRequest.CreateSnapshot::new),
                Combinators.combine(text, text).as(MetaRequest.DeleteSnapshot::new),
                Combinators.combine(text, text).as(MetaRequest.RollbackVolume::new),
                Combinators.combine(text, text, text).as(MetaRequest.CloneVolume::new),
                Combinators.combine(text, longs).as(MetaRequest.DetachParent::new),
                text.map(MetaRequest.ListSnapshots::new),
                longs.map(MetaRequest.GetLayer::new),
                Arbitraries.just(new MetaRequest.ListLayers()),
                Combinators.combine(text, longs, longs, longs, Arbitraries.of(true, false))
                        .as(MetaRequest.SetFlatten::new),
                text.map(MetaRequest.GetFlatten::new)));
    }

    static Arbitrary<io.basalt.meta.model.VolumeQos> qos() {
        Arbitrary<Long> longs = Arbitraries.longs();
        return Combinators.combine(longs, longs, longs, longs, longs, longs, longs)
                .as(io.basalt.meta.model.VolumeQos::new);
    }

    Arbitrary<MetaRequest.Heartbeat.RecoveryProgress> progress() {
        Arbitrary<Integer> ints = Arbitraries.integers();
        Arbitrary<Long> longs = Arbitraries.longs();
        return Combinators.combine(ints, ints, longs, longs, longs, longs, longs)
                .as(MetaRequest.Heartbeat.RecoveryProgress::new);
    }

    @Property(tries = 500)
    void roundTrips(@ForAll("requests") MetaRequest request) {
        assertThat(MetaRequest.decode(request.encode())).isEqualTo(request);
    }

    @Property(tries = 500)
    void anyFlippedBitIsRefused(@ForAll("requests") MetaRequest request,
                                @ForAll int position, @ForAll int bit) {
        byte[] bytes = request.encode();
        int index = Math.floorMod(position, bytes.length);
        bytes[index] ^= (byte) (1 << Math.floorMod(bit, 8));
        try {
            MetaRequest decoded = MetaRequest.decode(bytes);
            // Only a flip in the op byte can land on another valid op with a matching body.
            assertThat(index).isEqualTo(MetaRequest.OFFSET_OP);
            assertThat(decoded.op()).isNotEqualTo(request.op());
        } catch (MalformedMessageException expected) {
            // the CRC, version or op check caught it
        }
    }

    @Property(tries = 1000)
    void randomBytesGiveOnlyOurError(@ForAll byte[] bytes) {
        try {
            MetaRequest.decode(bytes);
        } catch (MalformedMessageException expected) {
            // fine
        }
        try {
            MetaReply.decode(bytes);
        } catch (MalformedMessageException expected) {
            // fine
        }
    }

    @Example
    void aHeartbeatWithoutTheRecoveryTailFromAnOlderBuildDecodesWithNone() {
        WireWriter body = new WireWriter().i32(7).i64(1L << 40).i64(123).u8(1);
        byte[] bodyBytes = body.toByteArray();
        byte[] bytes = new WireWriter().u8(MetaRequest.FORMAT_VERSION).u8(MetaOp.HEARTBEAT.code)
                .i32(MetaRequest.crc32c(bodyBytes, 0, bodyBytes.length)).bytes(bodyBytes)
                .toByteArray();
        assertThat(MetaRequest.decode(bytes)).isEqualTo(new MetaRequest.Heartbeat(7, 1L << 40, 123,
                1, MetaRequest.Heartbeat.RecoveryProgress.NONE));
    }

    @Property(tries = 200)
    void recoveryRecordsRoundTrip(@ForAll long uid, @ForAll int csId, @ForAll long version) {
        io.basalt.meta.model.Chunk chunk = new io.basalt.meta.model.Chunk(uid, 3, 4, version,
                List.of(new io.basalt.meta.model.Chunklet(0, csId,
                        io.basalt.meta.model.ChunkletRole.REPLICA,
                        io.basalt.meta.model.ChunkletState.RECOVERING)));
        RecoveryTask task = new RecoveryTask(chunk, version, RecoveryTask.KIND_CATCH_UP, "rep3",
                1L << 20, List.of(new RecoveryTask.Peer(csId, "h:7000", 1)));
        WireWriter out = new WireWriter();
        task.encode(out);
        new RecoverResult(RecoverResult.Outcome.NO_PLACEMENT, version, "no room").encode(out);
        new StuckRecovery(uid, 1, 2, version, csId, RecoverResult.Outcome.LAST_COPY, "why")
                .encode(out);
        new CsView(new io.basalt.meta.model.ChunkServer(csId, "h:1", "h", "z", 10, 5,
                io.basalt.meta.model.CsStatus.UP, "v"), 3, 4, null,
                new MetaRequest.Heartbeat.RecoveryProgress(1, 2, 3, 4, 5, 6, 7), 9, 11,
                MetaRequest.Heartbeat.ScrubReport.NONE, new MetaRequest.Heartbeat.HotReport(12, 13, 14, 15, 16))
                .encode(out);
        WireReader in = new WireReader(out.toByteArray());
        assertThat(RecoveryTask.decode(in)).isEqualTo(task);
        assertThat(RecoverResult.decode(in).message()).isEqualTo("no room");
        assertThat(StuckRecovery.decode(in).reason()).isEqualTo("why");
        CsView view = CsView.decode(in);
        assertThat(view.recovery().rebuiltBytesTotal()).isEqualTo(6);
        assertThat(view.recoveringChunklets()).isEqualTo(9);
        assertThat(view.chunklets()).isEqualTo(11);
        assertThat(view.hot()).isEqualTo(new MetaRequest.Heartbeat.HotReport(12, 13, 14, 15, 16));
        in.end();
    }

    @Example
    void unknownFormatVersionIsRefusedClearly() {
        byte[] bytes = new MetaRequest.ListCs().encode();
        bytes[0] = 2;
        assertThatThrownBy(() -> MetaRequest.decode(bytes))
                .isInstanceOf(MalformedMessageException.class)
                .hasMessage("meta request format version 2 (this server knows 1)");
    }

    @Example
    void repliesCarryErrorsAndBodies() {
        MetaReply error = MetaReply.decode(MetaReply.error(MetaError.NOT_FOUND, "volume \"x\" not found"));
        assertThatThrownBy(error::bodyOrThrow).isInstanceOf(MetaException.class)
                .hasMessage("volume \"x\" not found");
        MetaReply ok = MetaReply.decode(MetaReply.ok(new WireWriter().i64(42)));
        assertThat(ok.bodyOrThrow().i64()).isEqualTo(42);
    }

    @Example
    void peersParseAndRefuseBadInput() {
        assertThat(MetaPeers.parse("1@127.0.0.1:7100,2@[::1]:7101")).hasSize(2);
        assertThatThrownBy(() -> MetaPeers.parse("127.0.0.1:7100"))
                .hasMessageContaining("ID@HOST:PORT");
        assertThatThrownBy(() -> MetaPeers.parse("1@h:1,1@h:2")).hasMessageContaining("twice");
        assertThatThrownBy(() -> MetaPeers.parse("1@h:70000")).hasMessageContaining("1..65535");
    }
}
