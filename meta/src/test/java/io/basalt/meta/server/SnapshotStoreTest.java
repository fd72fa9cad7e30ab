package io.basalt.meta.server;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.basalt.meta.api.MalformedMessageException;
import io.basalt.meta.api.MetaRequest;
import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.stream.Stream;
import org.apache.ratis.server.protocol.TermIndex;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Snapshot manifests: a sealed checkpoint verifies; any changed byte or file is caught. */
class SnapshotStoreTest {
    @TempDir
    Path dir;

    private Path sealedSnapshot() throws Exception {
        try (StandaloneMeta meta = new StandaloneMeta(dir.resolve("live"))) {
            for (int i = 0; i < 3; i++) {
                meta.register("h" + i, 1L << 40);
            }
            for (int i = 0; i < 20; i++) {
                meta.apply(new MetaRequest.CreateVolume("v" + i, 1L << 30, "rep3", 0));
            }
            Path snapshot = dir.resolve("snapshot.1_23");
            meta.stateMachine.storeForTests().checkpoint(snapshot);
            new SnapshotStore().seal(snapshot, TermIndex.valueOf(1, 23));
            return snapshot;
        }
    }

    private static Path largestFile(Path snapshot) throws IOException {
        try (Stream<Path> files = Files.list(snapshot)) {
            return files.filter(f -> !f.getFileName().toString().equals(SnapshotStore.MANIFEST))
                    .max((a, b) -> Long.compare(a.toFile().length(), b.toFile().length()))
                    .orElseThrow();
        }
    }

    @Test
    void sealedCheckpointVerifies() throws Exception {
        Path snapshot = sealedSnapshot();
        assertThat(SnapshotStore.verify(snapshot)).isEqualTo(TermIndex.valueOf(1, 23));
        assertThat(SnapshotStore.files(snapshot)).isNotEmpty()
                .doesNotContain(SnapshotStore.MANIFEST);
    }

    @Test
    void flippedByteInAFileIsCaught() throws Exception {
        Path snapshot = sealedSnapshot();
        Path victim = largestFile(snapshot);
        try (RandomAccessFile file = new RandomAccessFile(victim.toFile(), "rw")) {
            long middle = file.length() / 2;
            file.seek(middle);
            int value = file.read();
            file.seek(middle);
            file.write(value ^ 0x10);
        }
        assertThatThrownBy(() -> SnapshotStore.verify(snapshot)).isInstanceOf(IOException.class)
                .hasMessageContaining(victim.getFileName().toString());
    }

    @Test
    void missingFileOrDamagedManifestIsCaught() throws Exception {
        Path snapshot = sealedSnapshot();
        byte[] manifest = Files.readAllBytes(snapshot.resolve(SnapshotStore.MANIFEST));
        manifest[3] ^= 1;
        Files.write(snapshot.resolve(SnapshotStore.MANIFEST), manifest);
        assertThatThrownBy(() -> SnapshotStore.verify(snapshot))
                .isInstanceOf(MalformedMessageException.class).hasMessageContaining("CRC32C");
        manifest[3] ^= 1;
        Files.write(snapshot.resolve(SnapshotStore.MANIFEST), manifest);
        Files.delete(largestFile(snapshot));
        assertThatThrownBy(() -> SnapshotStore.verify(snapshot)).isInstanceOf(IOException.class)
                .hasMessageContaining("missing or differs");
    }
}
