package io.basalt.meta.model;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.basalt.meta.api.MalformedMessageException;
import io.basalt.meta.api.MetaOp;
import io.basalt.meta.api.MetaRequest;
import io.basalt.meta.api.MetaRequestForm;
import io.basalt.meta.api.WireReader;
import io.basalt.meta.api.WireWriter;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Combinators;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

class VolumeQosTest {
    @Provide
    Arbitrary<VolumeQos> validLimits() {
        Arbitrary<Long> ops = Arbitraries.longs().between(0, VolumeQos.OPS_PER_SECOND_MAX);
        Arbitrary<Long> bytes = Arbitraries.longs().between(0, VolumeQos.BYTES_PER_SECOND_MAX);
        return Combinators.combine(ops, ops, ops, bytes, bytes, bytes,
                Arbitraries.longs().between(0, VolumeQos.BURST_MILLIS_MAX)).as(VolumeQos::new);
    }

    @Property(tries = 300)
    void volumesRoundTripAloneAndInLists(@ForAll("validLimits") VolumeQos qos,
                                         @ForAll("validLimits") VolumeQos other) {
        Volume first = new Volume(1, "vm1", 1L << 30, 4096, "rep3", 64L << 20, 2, 7, qos);
        Volume second = new Volume(2, "vm2", 1L << 20, 4096, "ec4+2", 64L << 20, 0, 8, other)
                .withFeatures(Volume.FEATURE_HOT_TIER);
        WireWriter out = new WireWriter();
        first.encode(out);
        second.encode(out);
        WireReader in = new WireReader(out.toByteArray());
        assertThat(Volume.decode(in)).isEqualTo(first);
        assertThat(Volume.decode(in)).isEqualTo(second);
        in.end();
    }

    @Example
    void aFormatOneRecordWrittenBeforeQosReadsWithoutLimits() {
        // The eight fields of record format 1, as a RocksDB value of an older build holds them.
        byte[] v1 = new WireWriter().i64(3).string("old").i64(1L << 30).i32(4096).string("rep3")
                .i64(64L << 20).i64(0).i64(99).toByteArray();
        Volume volume = Volume.decode(new WireReader(v1));
        assertThat(volume.qos()).isEqualTo(VolumeQos.NONE);
        assertThat(volume.qos().limited()).isFalse();
        assertThat(volume.name()).isEqualTo("old");
    }

    @Example
    void aFormatThreeRecordReadsWithoutFeaturesAndUnknownFeatureBitsAreRefused() {
        WireWriter v3 = new WireWriter().i64(3).string("snap").i64(1L << 30).i32(4096).string("ec4+2")
                .i64(64L << 20).i64(0).i64(99).u8(3);
        VolumeQos.NONE.encode(v3);
        v3.i64(0).u8(Volume.KIND_VOLUME);
        Volume volume = Volume.decode(new WireReader(v3.toByteArray()));
        assertThat(volume.features()).isZero();
        assertThat(volume.hotTier()).isFalse();
        WireWriter v4 = new WireWriter();
        volume.withFeatures(Volume.FEATURE_HOT_TIER).encode(v4);
        byte[] bytes = v4.toByteArray();
        bytes[bytes.length - 1] = (byte) 0x81; // a feature bit of a later build
        assertThatThrownBy(() -> Volume.decode(new WireReader(bytes)))
                .isInstanceOf(MalformedMessageException.class)
                .hasMessageContaining("feature bits 10000001").hasMessageContaining("upgrade this program");
    }

    @Example
    void anUnknownRecordFormatIsRefusedClearly() {
        byte[] v9 = new WireWriter().i64(3).string("new").i64(1L << 30).i32(4096).string("rep3")
                .i64(64L << 20).i64(0).i64(99).u8(9).toByteArray();
        assertThatThrownBy(() -> Volume.decode(new WireReader(v9)))
                .isInstanceOf(MalformedMessageException.class)
                .hasMessage("volume \"new\" record format 9 (this build knows 1 to 4); upgrade this"
                        + " program");
    }

    @Example
    void storedLimitsOutOfRangeAreRefused() {
        WireWriter out = new WireWriter().i64(3).string("bad").i64(1L << 30).i32(4096)
                .string("rep3").i64(64L << 20).i64(0).i64(99).u8(2);
        new VolumeQos(-5, 0, 0, 0, 0, 0, 1000).encode(out);
        assertThatThrownBy(() -> Volume.decode(new WireReader(out.toByteArray())))
                .isInstanceOf(MalformedMessageException.class)
                .hasMessageContaining("QoS iops limit -5/s");
    }

    @Example
    void mergeKeepsSetsAndRemovesFieldByField() {
        VolumeQos stored = new VolumeQos(2000, 0, 500, 200L << 20, 0, 0, 1000);
        VolumeQos change = new VolumeQos(VolumeQos.KEEP, 300, 0, VolumeQos.KEEP, VolumeQos.KEEP,
                10L << 20, 5000);
        assertThat(stored.merge(change))
                .isEqualTo(new VolumeQos(2000, 300, 0, 200L << 20, 0, 10L << 20, 5000));
        assertThat(stored.merge(VolumeQos.KEEP_ALL)).isEqualTo(stored);
        assertThat(stored.merge(VolumeQos.CLEAR_ALL)).isEqualTo(VolumeQos.NONE);
        assertThat(stored.merge(VolumeQos.CLEAR_ALL).limited()).isFalse();
    }

    @Example
    void formChecksRefuseNegativeAndHugeValuesWithOneLine() {
        assertThat(MetaRequestForm.checkForm(new MetaRequest.SetVolumeQos("vm1",
                new VolumeQos(-2, -1, -1, -1, -1, -1, -1))))
                .isEqualTo("QoS iops limit -2/s (0 = none, or 1..1000000000)");
        assertThat(MetaRequestForm.checkForm(new MetaRequest.SetVolumeQos("vm1",
                VolumeQos.KEEP_ALL))).isNull();
        assertThat(MetaRequestForm.checkForm(new MetaRequest.CreateVolume("vm1", 1L << 30, "rep3",
                0, VolumeQos.KEEP_ALL)))
                .isEqualTo("QoS iops limit -1/s (0 = none, or 1..1000000000)");
        assertThat(MetaRequestForm.checkForm(new MetaRequest.SetVolumeQos("vm1",
                new VolumeQos(-1, -1, -1, -1, -1, -1, VolumeQos.BURST_MILLIS_MAX + 1))))
                .isEqualTo("QoS burst 3600001 ms (0..3600000)");
        assertThat(MetaRequestForm.checkForm(new MetaRequest.SetVolumeQos("Bad Name",
                VolumeQos.KEEP_ALL))).contains("1-63 characters");
    }

    @Example
    void aCreateFromAnOlderClientWithoutTheQosTailHasNoLimits() {
        byte[] bodyBytes = new WireWriter().string("vm1").i64(1L << 30).string("rep3").i64(0)
                .toByteArray();
        byte[] bytes = new WireWriter().u8(MetaRequest.FORMAT_VERSION).u8(MetaOp.CREATE_VOLUME.code)
                .i32(MetaRequest.crc32c(bodyBytes, 0, bodyBytes.length)).bytes(bodyBytes)
                .toByteArray();
        assertThat(MetaRequest.decode(bytes))
                .isEqualTo(new MetaRequest.CreateVolume("vm1", 1L << 30, "rep3", 0));
    }
}
