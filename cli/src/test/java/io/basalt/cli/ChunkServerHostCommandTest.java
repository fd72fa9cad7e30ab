package io.basalt.cli;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/** {@code basalt cs host}'s reading of its arguments; the servers themselves run in UpIT. */
class ChunkServerHostCommandTest {
    private static final String META = "1@127.0.0.1:7101";

    /** The arguments as picocli hands them to the command: cs run's options arrive unmatched. */
    private static List<ChunkServerHostCommand.Hosted> plan(String... arguments) {
        ChunkServerHostCommand command = new ChunkServerHostCommand();
        new CommandLine(command).parseArgs(arguments);
        return ChunkServerHostCommand.plan(command.arguments);
    }

    @Test
    void eachPlusStartsOneServerNamedByItsPosition() {
        List<ChunkServerHostCommand.Hosted> servers = plan(
                "+", "--data", "/srv/d1", "--meta", META, "--port", "7701", "--metrics-port", "9821",
                "+", "--data", "/srv/d2", "--meta", META, "--port", "7702", "--metrics-port", "9822", "--host", "h2");
        assertThat(servers).extracting(server -> server.name).containsExactly("cs1", "cs2");
        assertThat(servers.get(1).options.data).isEqualTo(Path.of("/srv/d2"));
        assertThat(servers.get(1).options.port).isEqualTo(7702);
        assertThat(servers.get(1).options.hostLabel).isEqualTo("h2");
        assertThat(servers.get(1).arguments).containsExactly("--data", "/srv/d2", "--meta", META, "--port", "7702",
                "--metrics-port", "9822", "--host", "h2");
    }

    @Test
    void twoServersOnOnePortOrDirectoryAreRefusedBeforeAnyStarts() {
        assertThatThrownBy(() -> plan("+", "--data", "/srv/d1", "--meta", META,
                "+", "--data", "/srv/d2", "--meta", META))
                .isInstanceOf(UserError.class).hasMessageContaining("cs1 and cs2 both have --port 7700");
        assertThatThrownBy(() -> plan("+", "--data", "/srv/d1", "--meta", META, "--port", "0", "--metrics-port", "0",
                "+", "--data", "/srv/d1/", "--meta", META, "--port", "0", "--metrics-port", "0"))
                .isInstanceOf(UserError.class).hasMessageContaining("both have --data /srv/d1");
        assertThatThrownBy(() -> plan("+", "--data", "/srv/d1", "--meta", META, "--port", "7701",
                "+", "--data", "/srv/d2", "--meta", META, "--port", "7702"))
                .isInstanceOf(UserError.class).hasMessageContaining("both have --metrics-port 9820");
        // Port 0 (the system picks one) is never a clash.
        assertThat(plan("+", "--data", "/srv/d1", "--meta", META, "--port", "0", "--metrics-port", "0",
                "+", "--data", "/srv/d2", "--meta", META, "--port", "0", "--metrics-port", "0")).hasSize(2);
    }

    @Test
    void malformedListsGetOneLineNamingTheFix() {
        assertThatThrownBy(() -> plan("--data", "/srv/d1", "--meta", META))
                .isInstanceOf(UserError.class).hasMessageContaining("start each server's options with +");
        assertThatThrownBy(() -> plan("+", "--data", "/srv/d1", "--meta", META, "+"))
                .isInstanceOf(UserError.class).hasMessageContaining("server 2 has no options after its +");
        assertThatThrownBy(() -> plan("+", "--data", "/srv/d1"))
                .isInstanceOf(UserError.class).hasMessageContaining("cs1: Missing required option: '--meta");
        assertThatThrownBy(() -> plan("+", "--data", "/srv/d1", "--meta", META, "--no-such-option"))
                .isInstanceOf(UserError.class).hasMessageContaining("cs1: Unknown option: '--no-such-option'");
    }
}
