package io.basalt.common;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class UnitsTest {
    @ParameterizedTest
    @CsvSource({
        "0, 0", "4096, 4096", "1K, 1024", "64k, 65536", "10G, 10737418240", "10GiB, 10737418240",
        "10GB, 10737418240", "512M, 536870912", "1T, 1099511627776", "1.5K, 1536", " 2M , 2097152",
        "7E, 8070450532247928832"
    })
    void parsesSizes(String text, long bytes) {
        assertThat(Units.parseBytes(text)).isEqualTo(bytes);
    }

    @ParameterizedTest
    @ValueSource(strings = {"", " ", "G", "ten", "-1", "-1G", "1X", "8E", "9223372036854775808", "1.5.5G", "1e3"})
    void refusesWhatIsNotASize(String text) {
        assertThatThrownBy(() -> Units.parseBytes(text)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("size");
    }

    @ParameterizedTest
    @CsvSource({"0, 0 B", "1023, 1023 B", "1024, 1.0 KiB", "1536, 1.5 KiB", "10737418240, 10.0 GiB",
        "9223372036854775807, 8.0 EiB"})
    void formatsSizes(long bytes, String text) {
        assertThat(Units.formatBytes(bytes)).isEqualTo(text);
    }
}
