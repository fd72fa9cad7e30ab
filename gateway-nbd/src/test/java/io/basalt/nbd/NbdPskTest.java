package io.basalt.nbd;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.basalt.common.tls.CertificateAuthority;
import io.basalt.common.tls.Role;
import io.basalt.common.tls.TlsIdentity;
import io.basalt.protocol.data.DataTls;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.time.Duration;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * NBD with TLS pre-shared keys, driven by the real clients (libnbd's nbdinfo and nbdcopy, qemu-img
 * through GnuTLS) against the gateway in-process: the right key opens a session, a wrong key or an
 * unknown name is refused (and counted) while the gateway goes on serving, certificate clients are
 * served beside PSK ones, --allow lists name PSK usernames, and a key added to the file works
 * without a restart.
 */
class NbdPskTest {
    private static final String ALICE_KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
    private static final String BOB_KEY = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

    @TempDir
    Path dir;
    private NbdServer server;
    private io.netty.channel.EventLoopGroup group;
    private PrometheusRegistry registry;
    private Path keys;

    @BeforeEach
    void setUp() throws IOException {
        keys = writeKeys(dir.resolve("keys.psk"), "alice:" + ALICE_KEY);
    }

    @AfterEach
    void stop() {
        if (server != null) {
            server.close(1000);
        }
        if (group != null) {
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly();
        }
    }

    private static Path writeKeys(Path file, String... lines) throws IOException {
        Files.writeString(file, String.join("\n", lines) + "\n");
        Files.setPosixFilePermissions(file, PosixFilePermissions.fromString("rw-------"));
        return file;
    }

    private void start(DataTls certificates, NbdAccess access, NbdPsk psk) throws Exception {
        MemoryBlockDevice device = new MemoryBlockDevice(1 << 20, false);
        group = NbdServer.newEventLoopGroup(1);
        registry = new PrometheusRegistry();
        server = NbdServer.start(new java.net.InetSocketAddress("127.0.0.1", 0),
                NbdExports.single("disk", "test disk", device), new NbdMetrics(registry),
                device.maximumPayloadBytes(), group, new NbdTls(NbdTls.Mode.REQUIRE, certificates, access, psk));
    }

    private String uri(String user, Path keyFile) {
        return "nbds://" + user + "@127.0.0.1:" + server.localAddress().getPort() + "/disk?tls-psk-file=" + keyFile;
    }

    /** Runs a client; its exit status and output (both streams). */
    private static Map.Entry<Integer, String> run(String... command) throws Exception {
        Process process = new ProcessBuilder(command).redirectErrorStream(true).start();
        String output = new String(process.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(process.waitFor(60, TimeUnit.SECONDS)).as("%s ends", List.of(command)).isTrue();
        return Map.entry(process.exitValue(), output);
    }

    private double refusals() {
        return registry.scrape().stream().filter(s -> s.getMetadata().getPrometheusName()
                        .equals("basalt_nbd_tls_psk_refusals"))
                .mapToDouble(s -> ((CounterSnapshot) s).getDataPoints().getFirst().getValue()).sum();
    }

    @Test
    void theRightKeyOpensASessionAndAWrongOneOrAStrangerIsRefused() throws Exception {
        start(null, NbdAccess.OPEN, NbdPsk.load(keys));
        Map.Entry<Integer, String> served = run("nbdinfo", "--size", uri("alice", keys));
        assertThat(served.getKey()).as(served.getValue()).isZero();
        assertThat(served.getValue().strip()).isEqualTo(String.valueOf(1 << 20));

        Path wrong = writeKeys(dir.resolve("wrong.psk"), "alice:" + BOB_KEY);
        Map.Entry<Integer, String> wrongKey = run("nbdinfo", "--size", uri("alice", wrong));
        assertThat(wrongKey.getKey()).as(wrongKey.getValue()).isNotZero();
        Path stranger = writeKeys(dir.resolve("stranger.psk"), "mallory:" + ALICE_KEY);
        Map.Entry<Integer, String> unknown = run("nbdinfo", "--size", uri("mallory", stranger));
        assertThat(unknown.getKey()).as(unknown.getValue()).isNotZero();
        assertThat(refusals()).isEqualTo(2);

        // The gateway goes on serving, and data goes through the session both ways.
        Path image = dir.resolve("image");
        byte[] content = new byte[1 << 20];
        new java.util.Random(7).nextBytes(content);
        Files.write(image, content);
        Map.Entry<Integer, String> copyIn = run("nbdcopy", image.toString(), uri("alice", keys));
        assertThat(copyIn.getKey()).as(copyIn.getValue()).isZero();
        Path back = dir.resolve("back");
        Map.Entry<Integer, String> copyOut = run("nbdcopy", uri("alice", keys), back.toString());
        assertThat(copyOut.getKey()).as(copyOut.getValue()).isZero();
        assertThat(Files.readAllBytes(back)).isEqualTo(content);
    }

    @Test
    void qemuConnectsWithItsPskCredentials() throws Exception {
        start(null, NbdAccess.OPEN, NbdPsk.load(keys));
        Path qemuDir = Files.createDirectory(dir.resolve("qemu"));
        writeKeys(qemuDir.resolve("keys.psk"), "alice:" + ALICE_KEY);
        Map.Entry<Integer, String> info = run("qemu-img", "info", "--object",
                "tls-creds-psk,id=tls0,endpoint=client,dir=" + qemuDir + ",username=alice", "--image-opts",
                "driver=nbd,host=127.0.0.1,port=" + server.localAddress().getPort() + ",export=disk,tls-creds=tls0");
        assertThat(info.getKey()).as(info.getValue()).isZero();
        assertThat(info.getValue()).contains("virtual size: 1 MiB");
    }

    @Test
    void certificateAndPskClientsAreServedSideBySideAndListsNamePskUsers() throws Exception {
        CertificateAuthority ca = CertificateAuthority.create(dir.resolve("ca"), "test", Duration.ofDays(1));
        ca.issue(dir.resolve("nbd"), Role.GATEWAY, "nbd", List.of(), Duration.ofDays(1));
        ca.issue(dir.resolve("admin"), Role.ADMIN, "admin", List.of(), Duration.ofDays(1));
        DataTls certificates = DataTls.of(TlsIdentity.load(dir.resolve("nbd")), EnumSet.allOf(Role.class));
        writeKeys(keys, "alice:" + ALICE_KEY, "bob:" + BOB_KEY);
        start(certificates, NbdAccess.parse(List.of("disk=alice,admin")), NbdPsk.load(keys));

        Map.Entry<Integer, String> alice = run("nbdinfo", "--size", uri("alice", keys));
        assertThat(alice.getKey()).as(alice.getValue()).isZero();
        Map.Entry<Integer, String> bob = run("nbdinfo", "--size", uri("bob", keys));
        assertThat(bob.getKey()).as("bob is not on the list: %s", bob.getValue()).isNotZero();
        assertThat(refusals()).as("bob's handshake succeeded: the list refused him").isZero();

        Path admin = dir.resolve("admin");
        Map.Entry<Integer, String> certificate = run("nbdinfo", "--size", "nbds://127.0.0.1:"
                + server.localAddress().getPort() + "/disk?tls-certificates=" + admin + "&tls-verify-peer=false");
        assertThat(certificate.getKey()).as(certificate.getValue()).isZero();
    }

    @Test
    void aKeyAddedToTheFileWorksWithoutARestart() throws Exception {
        NbdPsk psk = NbdPsk.load(keys, 0);
        start(null, NbdAccess.OPEN, psk);
        Path bobs = writeKeys(dir.resolve("bob.psk"), "bob:" + BOB_KEY);
        assertThat(run("nbdinfo", "--size", uri("bob", bobs)).getKey()).isNotZero();
        writeKeys(keys, "alice:" + ALICE_KEY, "bob:" + BOB_KEY, "");
        Map.Entry<Integer, String> later = run("nbdinfo", "--size", uri("bob", bobs));
        assertThat(later.getKey()).as(later.getValue()).isZero();
        assertThat(psk.usernames()).containsExactlyInAnyOrder("alice", "bob");
        // A broken file is not taken: the keys in force stay.
        writeKeys(keys, "alice:" + ALICE_KEY, "bob:nothex");
        psk.reloadIfChanged();
        assertThat(psk.usernames()).containsExactlyInAnyOrder("alice", "bob");
    }

    @Test
    void aKeyFileIsCheckedLineByLine() throws IOException {
        List<String> errors = new ArrayList<>();
        for (String[] lines : List.of(new String[] {"alice"}, new String[] {"alice:00ff"},
                new String[] {"alice:xyz"}, new String[] {"alice:" + ALICE_KEY, "alice:" + BOB_KEY},
                new String[] {"# nobody", ""})) {
            Path file = writeKeys(dir.resolve("bad.psk"), lines);
            Throwable thrown = org.assertj.core.api.Assertions.catchThrowable(() -> NbdPsk.load(file));
            assertThat(thrown).isInstanceOf(IOException.class);
            errors.add(thrown.getMessage());
        }
        assertThat(errors.get(0)).contains("line 1").contains("USERNAME:HEXKEY");
        assertThat(errors.get(1)).contains("2 bytes").contains("at least 16");
        assertThat(errors.get(2)).contains("not hexadecimal");
        assertThat(errors.get(3)).contains("line 2").contains("earlier line");
        assertThat(errors.get(4)).contains("names no client");
        Path open = writeKeys(dir.resolve("open.psk"), "alice:" + ALICE_KEY);
        Files.setPosixFilePermissions(open, PosixFilePermissions.fromString("rw-r--r--"));
        assertThatThrownBy(() -> NbdPsk.load(open)).hasMessageContaining("chmod 600");
        assertThat(NbdPsk.load(writeKeys(dir.resolve("ok.psk"), "# clients", "alice:" + ALICE_KEY, "", "bob:"
                + BOB_KEY)).usernames()).containsExactlyInAnyOrder("alice", "bob");
    }
}
