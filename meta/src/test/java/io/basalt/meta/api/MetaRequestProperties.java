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
                Arbitraries.just(new MetaRequest.GetClusterId())));
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
