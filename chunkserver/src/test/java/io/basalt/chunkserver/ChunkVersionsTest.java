package io.basalt.chunkserver;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.basalt.protocol.data.CsException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fence a recovery or a snapshot create waits for (INFO reports {@link
 * ChunkVersions#fencedVersion}): a write fenced at an older version and still in flight holds it
 * back until it ends, so a parity encoded from the data columns never misses it; once the new version
 * is known, older writes are refused, except writes a primary relays from the chunk's writersFrom
 * on; both survive a restart, and a file of format 1 still opens.
 */
class ChunkVersionsTest {
    @TempDir
    Path dir;

    @Test
    void aDirectWriteInFlightHoldsTheFencedVersionBackUntilItEnds() throws Exception {
        ChunkVersions versions = ChunkVersions.open(Files.createDirectories(dir.resolve("cs")).resolve("versions"));
        versions.chunkVersion(7, 3);
        versions.beginWrite(7, 3);
        versions.beginWrite(7, 3);
        assertThat(versions.fencedVersion(7)).isEqualTo(3);
        versions.chunkVersion(7, 4); // meta marked a parity column RECOVERING
        assertThat(versions.known(7)).isEqualTo(4);
        assertThat(versions.fencedVersion(7)).as("two writes of version 3 in flight").isEqualTo(3);
        assertThatThrownBy(() -> versions.beginWrite(7, 3)).isInstanceOf(CsException.class)
                .hasMessageContaining("stale chunk version 3 < 4");
        versions.endWrite(7, 3);
        assertThat(versions.fencedVersion(7)).as("one still in flight").isEqualTo(3);
        versions.endWrite(7, 3);
        assertThat(versions.fencedVersion(7)).isEqualTo(4);
        assertThat(versions.fencedVersion(8)).as("a chunk never heard of").isEqualTo(-1);
    }

    @Test
    void aRelayedWriteIsFencedAtWritersFromAndAClientsAtTheVersion() throws Exception {
        Path file = Files.createDirectories(dir.resolve("cs")).resolve("versions");
        ChunkVersions versions = ChunkVersions.open(file);
        versions.chunkVersion(7, 5);
        versions.chunkVersions(java.util.Map.of(7L, 6L, 8L, 9L), java.util.Map.of(7L, 5L), java.util.Set.of());
        versions.checkRelayed(7, 5); // a snapshot raised 5 to 6, the chunklets unchanged
        versions.checkRelayed(7, 6);
        assertThatThrownBy(() -> versions.check(7, 5)).isInstanceOf(CsException.class)
                .hasMessageContaining("stale chunk version 5 < 6");
        assertThatThrownBy(() -> versions.checkRelayed(7, 4)).isInstanceOf(CsException.class)
                .hasMessageContaining("stale chunk version 4 < 6");
        assertThatThrownBy(() -> versions.checkRelayed(8, 8)).as("no writersFrom: the version")
                .isInstanceOf(CsException.class).hasMessageContaining("stale chunk version 8 < 9");
        ChunkVersions reopened = ChunkVersions.open(file);
        reopened.checkRelayed(7, 5);
        assertThat(reopened.known(7)).isEqualTo(6);
        assertThat(reopened.known(8)).isEqualTo(9);
        // The chunklets changed at 7 (a replica RECOVERING): relayed writes of 5 and 6 are refused.
        reopened.chunkVersion(7, 7);
        assertThatThrownBy(() -> reopened.checkRelayed(7, 6)).isInstanceOf(CsException.class)
                .hasMessageContaining("stale chunk version 6 < 7");
        assertThatThrownBy(() -> ChunkVersions.open(file).checkRelayed(7, 6)).isInstanceOf(CsException.class);
        reopened.chunkDeleted(7);
        assertThatThrownBy(() -> reopened.checkRelayed(7, 7)).isInstanceOf(CsException.class)
                .hasMessageContaining("removed");
    }

    @Test
    void aFileOfFormatOneOpensWithEveryWriteFencedAtItsVersion() throws Exception {
        Path file = Files.createDirectories(dir.resolve("cs")).resolve("versions");
        java.nio.ByteBuffer buffer = java.nio.ByteBuffer.allocate(12 + 16 + 4);
        buffer.putInt(ChunkVersions.MAGIC).put((byte) 1).put(new byte[3]).putInt(1).putLong(7).putLong(6);
        java.util.zip.CRC32C crc = new java.util.zip.CRC32C();
        crc.update(buffer.array(), 0, buffer.position());
        buffer.putInt((int) crc.getValue());
        Files.write(file, buffer.array());
        ChunkVersions versions = ChunkVersions.open(file);
        assertThat(versions.known(7)).isEqualTo(6);
        assertThatThrownBy(() -> versions.checkRelayed(7, 5)).isInstanceOf(CsException.class);
        versions.chunkVersion(7, 8, 7); // rewritten in format 2
        assertThat(Files.readAllBytes(file)[4]).isEqualTo((byte) ChunkVersions.FORMAT_VERSION);
        ChunkVersions.open(file).checkRelayed(7, 7);
    }
}
