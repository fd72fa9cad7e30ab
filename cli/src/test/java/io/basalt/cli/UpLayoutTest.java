package io.basalt.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class UpLayoutTest {
    private static List<Integer> ports(UpLayout layout) {
        List<Integer> ports = new ArrayList<>();
        for (int i = 1; i <= layout.metaNodes(); i++) {
            ports.add(layout.metaPort(i));
            ports.add(layout.metaMetricsPort(i));
        }
        for (int i = 1; i <= layout.chunkServers(); i++) {
            ports.add(layout.csPort(i));
            ports.add(layout.csMetricsPort(i));
        }
        ports.add(layout.nbdPort());
        ports.add(layout.nbdMetricsPort());
        return ports;
    }

    @Test
    void defaultBaseGivesEachDaemonItsVerbsDefaultPortNeighbourhood() {
        UpLayout layout = new UpLayout(Path.of("/d"), "127.0.0.1", UpLayout.PORT_BASE_DEFAULT, 3, 6);
        assertThat(layout.metaPort(1)).isEqualTo(7101);
        assertThat(layout.csPort(1)).isEqualTo(7701);
        assertThat(layout.nbdPort()).isEqualTo(10809);
        assertThat(layout.nbdMetricsPort()).isEqualTo(9810);
        assertThat(layout.csMetricsPort(1)).isEqualTo(9821);
        assertThat(layout.metaMetricsPort(1)).isEqualTo(9831);
        assertThat(layout.metaPeers()).isEqualTo("1@127.0.0.1:7101,2@127.0.0.1:7102,3@127.0.0.1:7103");
    }

    @Test
    void largestClusterHasNoPortCollisionsAtEitherEndOfTheBaseRange() {
        for (int base : new int[] {UpLayout.PORT_BASE_MIN, UpLayout.PORT_BASE_DEFAULT, UpLayout.PORT_BASE_MAX}) {
            UpLayout layout = new UpLayout(Path.of("/d"), "127.0.0.1", base, 3, UpLayout.CHUNK_SERVERS_MAX);
            List<Integer> ports = ports(layout);
            Set<Integer> distinct = new HashSet<>(ports);
            assertThat(distinct).as("ports at base " + base).hasSameSizeAs(ports);
            assertThat(ports).allMatch(port -> port >= base && port <= base + UpLayout.PORT_SPAN && port <= 65535);
        }
    }

    @Test
    void refusesLayoutsWithOneLineErrors() {
        assertThatThrownBy(() -> new UpLayout(Path.of("/d"), "127.0.0.1", 7100, 2, 6))
                .isInstanceOf(UserError.class).hasMessageContaining("--meta-nodes 2");
        assertThatThrownBy(() -> new UpLayout(Path.of("/d"), "127.0.0.1", 7100, 1, UpLayout.CHUNK_SERVERS_MAX + 1))
                .isInstanceOf(UserError.class).hasMessageContaining("--chunkservers 10");
        assertThatThrownBy(() -> new UpLayout(Path.of("/d"), "127.0.0.1", UpLayout.PORT_BASE_MAX + 1, 1, 6))
                .isInstanceOf(UserError.class).hasMessageContaining("--port-base");
    }

    @Test
    void clusterFileRoundTripsAndOmitsPidsOfStoppedDaemons(@TempDir Path dir) throws Exception {
        ClusterFile file = new ClusterFile(ClusterFile.FORMAT_VERSION, dir.toString(), null, "127.0.0.1",
                7100, 1, 6, "1@127.0.0.1:7101", List.of(
                new ClusterFile.Daemon("meta1", "meta", "1", null, 7101, 9831, "m.log", "m", null),
                new ClusterFile.Daemon("cs1", "cs", "5", 1234L, 7701, 9821, "c.log", "c", 137)),
                ClusterFile.SECURITY_INSECURE);
        file.write(dir.resolve(ClusterFile.FILE_NAME));
        String text = Files.readString(dir.resolve(ClusterFile.FILE_NAME));
        assertThat(text).doesNotContain("upPid").containsOnlyOnce("\"pid\"");
        assertThat(ClusterFile.readIfExists(dir)).isEqualTo(file);
        assertThat(ClusterFile.readIfExists(dir.resolve("absent"))).isNull();
        assertThat(file.upRunning()).isFalse();
    }

    @Test
    void capacityBarShowsFractionAndNoHeartbeat() {
        assertThat(StatusCommand.bar(0, 1L << 30)).startsWith("[....................]  0 B of");
        assertThat(StatusCommand.bar(1L << 29, 1L << 30)).startsWith("[##########..........]").endsWith("(50%)");
        assertThat(StatusCommand.bar(-1, 1L << 30)).startsWith("- (no heartbeat yet)");
    }
}
