package io.basalt.cli;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Which flags a process gets from {@link AotCache} and how pending caches are created, with a
 * stand-in for the JVM's create step (a script that writes the file it is asked for, or fails).
 */
class AotCacheTest {
    private static final List<String> BASE = List.of("/jdk/bin/java", "-XX:+UseZGC", "-cp", "a.jar");

    @TempDir
    Path dir;

    @Test
    void noDirectoryOffersNothing() throws Exception {
        AotCache off = new AotCache(null);
        assertThat(off.enabled()).isFalse();
        assertThat(off.flags("meta", true, BASE)).isEmpty();
        assertThat(off.createPending(line -> { })).isEmpty();
    }

    @Test
    void theTrainerRecordsOnceAndNotesItsCommand() throws IOException {
        AotCache cache = new AotCache(dir);
        assertThat(cache.flags("cs", false, BASE)).as("not the trainer").isEmpty();
        assertThat(cache.flags("cs", true, BASE)).contains("-XX:AOTMode=record",
                "-XX:AOTConfiguration=" + dir.resolve("cs.aotconf"));
        assertThat(Files.readAllLines(dir.resolve("cs.flags"))).isEqualTo(BASE);
        // The recording JVM creates its configuration file (empty) when it starts.
        Files.createFile(dir.resolve("cs.aotconf"));
        assertThat(cache.flags("cs", true, BASE)).as("already recorded").isEmpty();
    }

    @Test
    void anExistingCacheIsUsedByEveryProcessOfItsRole() throws IOException {
        Files.writeString(dir.resolve("meta.aot"), "cache");
        AotCache cache = new AotCache(dir);
        for (boolean trainer : new boolean[] {true, false}) {
            assertThat(cache.flags("meta", trainer, BASE))
                    .startsWith("-XX:AOTCache=" + dir.resolve("meta.aot"))
                    .contains("-Xlog:aot=off");
        }
    }

    @Test
    void createsFromCompleteConfigurationsOnlyAndRenamesIntoPlace() throws Exception {
        Path fakeJava = fakeJava(true);
        AotCache cache = new AotCache(dir);
        // s3: recorded by a JVM this process started, still running: its file is not ready.
        cache.flags("s3", true, List.of(fakeJava.toString()));
        Files.createFile(dir.resolve("s3.aotconf"));
        // nbd: complete.
        Files.write(dir.resolve("nbd.flags"), List.of(fakeJava.toString(), "-XX:+UseZGC"));
        Files.writeString(dir.resolve("nbd.aotconf"), "recorded classes");
        // cs: empty and nobody here records it: a recorder killed before it wrote it.
        Files.write(dir.resolve("cs.flags"), List.of(fakeJava.toString()));
        Files.createFile(dir.resolve("cs.aotconf"));

        List<String> said = new ArrayList<>();
        assertThat(cache.createPending(said::add)).containsExactly("nbd");
        assertThat(Files.readString(dir.resolve("nbd.aot"))).isEqualTo("cache of nbd.aotconf");
        assertThat(dir.resolve("s3.aotconf")).exists();
        assertThat(dir.resolve("s3.aot")).doesNotExist();
        assertThat(dir.resolve("cs.aotconf")).as("recorded again next time").doesNotExist();
        assertThat(said).isEmpty();
        try (var files = Files.list(dir)) {
            assertThat(files.map(path -> path.getFileName().toString()))
                    .noneMatch(name -> name.contains(".tmp-"));
        }
    }

    @Test
    void aFailedCreateDropsItsConfigurationAndSaysWhere() throws Exception {
        Path fakeJava = fakeJava(false);
        Files.write(dir.resolve("meta.flags"), List.of(fakeJava.toString()));
        Files.writeString(dir.resolve("meta.aotconf"), "truncated");
        List<String> said = new ArrayList<>();
        assertThat(new AotCache(dir).createPending(said::add)).isEmpty();
        assertThat(dir.resolve("meta.aotconf")).doesNotExist();
        assertThat(dir.resolve("meta.aot")).doesNotExist();
        assertThat(said).singleElement().asString().contains("meta not created (exit code 3")
                .contains("meta.create.log");
    }

    @Test
    void aotFlagsAreRecognisedSoDaemonsDoNotInheritUps() {
        assertThat(List.of("-XX:AOTCache=/x/up.aot", "-XX:AOTMode=record",
                "-XX:AOTConfiguration=/x/up.aotconf", "-Xlog:aot=off", "-Xlog:cds=off"))
                .allMatch(AotCache::isAotFlag);
        assertThat(List.of("-XX:+UseZGC", "-Xmx1g", "--add-modules=jdk.incubator.vector"))
                .noneMatch(AotCache::isAotFlag);
    }

    /** A stand-in for java's create step: writes "cache of CONF" to the -XX:AOTCache= path. */
    private Path fakeJava(boolean succeed) throws IOException {
        Path script = dir.resolve(succeed ? "java-ok" : "java-fails");
        String body = succeed ? """
                #!/bin/sh
                for arg; do
                    case "$arg" in
                        -XX:AOTConfiguration=*) conf=$(basename "${arg#*=}") ;;
                        -XX:AOTCache=*) out=${arg#*=} ;;
                    esac
                done
                printf 'cache of %s' "$conf" > "$out"
                """ : """
                #!/bin/sh
                echo "Error: bad configuration" >&2
                exit 3
                """;
        Files.writeString(script, body, StandardCharsets.UTF_8);
        Files.setPosixFilePermissions(script, PosixFilePermissions.fromString("rwx------"));
        return script;
    }
}
