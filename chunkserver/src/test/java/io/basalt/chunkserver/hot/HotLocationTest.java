package io.basalt.chunkserver.hot;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HotLocationTest {
    @TempDir
    Path tmp;

    @Test
    void aServerKeepsItsHotStoreAndFollowsItWhenMovedWhole() throws IOException {
        Path data = tmp.resolve("data");
        Path fast = tmp.resolve("fast");
        UUID store = HotLocation.bind(data, fast);
        assertThat(HotLocation.bind(data, fast)).isEqualTo(store);
        assertThat(HotLocation.readLink(data.resolve(HotLocation.LINK_FILE)).path())
                .isEqualTo(fast.toAbsolutePath().toString());

        Path moved = tmp.resolve("faster");
        Files.move(fast, moved);
        assertThat(HotLocation.bind(data, moved)).isEqualTo(store);
        assertThat(HotLocation.readLink(data.resolve(HotLocation.LINK_FILE)).path())
                .isEqualTo(moved.toAbsolutePath().toString());
    }

    @Test
    void aStartWithAnEmptyOrAnotherServersHotDirectoryIsRefusedWithTheDirectoryItExpects() throws IOException {
        Path data = tmp.resolve("data");
        Path fast = tmp.resolve("fast");
        HotLocation.bind(data, fast);

        Path empty = tmp.resolve("empty");
        assertThatThrownBy(() -> HotLocation.bind(data, empty)).isInstanceOf(IOException.class)
                .hasMessageContaining("is not in " + empty.toAbsolutePath())
                .hasMessageContaining("pass --hot-dir " + fast.toAbsolutePath());
        // Nothing was written to the wrong place, and the right one still works.
        assertThat(empty.resolve(HotLocation.OWNER_FILE)).doesNotExist();
        HotLocation.bind(data, fast);

        Path otherData = tmp.resolve("other");
        Path otherHot = tmp.resolve("otherHot");
        HotLocation.bind(otherData, otherHot);
        assertThatThrownBy(() -> HotLocation.bind(data, otherHot)).hasMessageContaining("holds another hot store");
        // A new server may not take a directory another server's store lives in.
        assertThatThrownBy(() -> HotLocation.bind(tmp.resolve("new"), fast))
                .hasMessageContaining("holds the hot store of another chunk server");
    }

    @Test
    void aDataDirectoryFromBeforeTheBindingAdoptsItsDefaultStoreButNotAnotherDirectory() throws IOException {
        Path data = tmp.resolve("data");
        Files.createDirectories(data.resolve("hot"));
        Files.write(data.resolve("hot").resolve(HotStore.MAP_FILE), new byte[] {1});
        assertThatThrownBy(() -> HotLocation.bind(data, tmp.resolve("fast")))
                .hasMessageContaining("hot store is in " + data.resolve("hot"));
        HotLocation.bind(data, data.resolve("hot"));
        assertThat(data.resolve("hot").resolve(HotLocation.OWNER_FILE)).exists();
    }

    @Test
    void aDamagedBindingFileIsNamed() throws IOException {
        Path data = tmp.resolve("data");
        Path fast = tmp.resolve("fast");
        HotLocation.bind(data, fast);
        byte[] owner = Files.readAllBytes(fast.resolve(HotLocation.OWNER_FILE));
        owner[9] ^= 1;
        Files.write(fast.resolve(HotLocation.OWNER_FILE), owner);
        assertThatThrownBy(() -> HotLocation.bind(data, fast)).hasMessageContaining("hot.owner fails its CRC32C");
        owner[9] ^= 1;
        Files.write(fast.resolve(HotLocation.OWNER_FILE), owner);

        byte[] link = Files.readAllBytes(data.resolve(HotLocation.LINK_FILE));
        Files.write(data.resolve(HotLocation.LINK_FILE), java.util.Arrays.copyOf(link, link.length - 1));
        assertThatThrownBy(() -> HotLocation.bind(data, fast)).hasMessageContaining("not a Basalt hot store link file");
    }
}
