package io.basalt.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

class ChunkServerRunCommandTest {
    @Test
    void aStartThatFailedOnTheDiskSaysWhatIsWrongWithTheDirectory() {
        Path data = Path.of("/etc/passwd");
        // The JDK's message is the bare path; the line names the problem.
        assertThat(ChunkServerRunCommand.describeStartFailure(data, new FileAlreadyExistsException("/etc/passwd")))
                .isEqualTo("cannot start a chunk server on --data /etc/passwd: /etc/passwd: exists and is not a directory");
        assertThat(ChunkServerRunCommand.describeStartFailure(Path.of("/srv/d1"),
                new AccessDeniedException("/srv/d1/wal")))
                .isEqualTo("cannot start a chunk server on --data /srv/d1: /srv/d1/wal: permission denied");
        // A message that says more is kept as it is.
        assertThat(ChunkServerRunCommand.describeStartFailure(Path.of("/srv/d1"),
                new IOException("/srv/d1 belongs to cluster a, meta is cluster b")))
                .isEqualTo("cannot start a chunk server on --data /srv/d1: /srv/d1 belongs to cluster a, meta is cluster b");
    }
}
