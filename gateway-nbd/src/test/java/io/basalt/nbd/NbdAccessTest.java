package io.basalt.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;

class NbdAccessTest {
    @Test
    void theListThatAppliesIsTheExportsThenItsVolumesThenTheWildcard() {
        NbdAccess access = NbdAccess.parse(List.of("vm1=alice,bob", "vm1@s1=backup", "*=admin", "vm2=carol",
                "vm2=dave"));
        assertThat(access.refusal("vm1", "alice")).isNull();
        assertThat(access.refusal("vm1", "admin")).contains("open only to the clients [alice, bob]")
                .endsWith("not to admin");
        assertThat(access.refusal("vm1@s1", "backup")).isNull();
        assertThat(access.refusal("vm1@s1", "alice")).isNotNull();
        assertThat(access.refusal("vm1@s2", "alice")).isNull(); // the volume's list covers its snapshots
        assertThat(access.refusal("vm2", "dave")).isNull(); // the same export twice adds up
        assertThat(access.refusal("other", "admin")).isNull();
        assertThat(access.refusal("other", "alice")).isNotNull();
        assertThat(access.refusal("other", null)).contains("connect with TLS");
        assertThat(access.isOpen()).isFalse();
    }

    @Test
    void withoutListsEveryExportIsOpenEvenToPlainClients() {
        assertThat(NbdAccess.parse(List.of()).isOpen()).isTrue();
        assertThat(NbdAccess.OPEN.refusal("vm1", null)).isNull();
        NbdAccess one = NbdAccess.parse(List.of("vm1=alice"));
        assertThat(one.refusal("vm2", null)).isNull();
        assertThat(one.refusal("vm1", null)).isNotNull();
    }

    @Test
    void badSpecsAreOneLineErrors() {
        for (String bad : List.of("vm1", "=alice", "vm1=", "vm1=alice,,bob")) {
            assertThatThrownBy(() -> NbdAccess.parse(List.of(bad))).isInstanceOf(IllegalArgumentException.class)
                    .hasMessageStartingWith("--allow " + bad + ": ");
        }
        assertThatThrownBy(() -> new NbdTls(NbdTls.Mode.OFF, null, NbdAccess.parse(List.of("vm1=alice"))))
                .hasMessageContaining("needs TLS");
    }
}
