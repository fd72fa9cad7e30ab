package io.basalt.chunkserver;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.basalt.protocol.data.CsException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fence a recovery waits for (INFO reports {@link ChunkVersions#fencedVersion}): a direct strip
 * write fenced at an older version and still in flight holds it back until it ends, so a parity
 * encoded from the data columns never misses it; once the new version is known, older writes are
 * refused.
 */
class ChunkVersionsTest {
    @TempDir
    Path dir;

    @Test
    void aDirectWriteInFlightHoldsTheFencedVersionBackUntilItEnds() throws Exception {
        ChunkVersions versions = ChunkVersions.open(Files.createDirectories(dir.resolve("cs")).resolve("versions"));
        versions.chunkVersion(7, 3);
        versions.beginDirect(7, 3);
        versions.beginDirect(7, 3);
        assertThat(versions.fencedVersion(7)).isEqualTo(3);
        versions.chunkVersion(7, 4); // meta marked a parity column RECOVERING
        assertThat(versions.known(7)).isEqualTo(4);
        assertThat(versions.fencedVersion(7)).as("two writes of version 3 in flight").isEqualTo(3);
        assertThatThrownBy(() -> versions.beginDirect(7, 3)).isInstanceOf(CsException.class)
                .hasMessageContaining("stale chunk version 3 < 4");
        versions.endDirect(7, 3);
        assertThat(versions.fencedVersion(7)).as("one still in flight").isEqualTo(3);
        versions.endDirect(7, 3);
        assertThat(versions.fencedVersion(7)).isEqualTo(4);
        assertThat(versions.fencedVersion(8)).as("a chunk never heard of").isEqualTo(-1);
    }
}
