package io.basalt.cli.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.basalt.meta.model.Chunk;
import io.basalt.meta.model.Volume;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.parallel.Isolated;

/**
 * Replicated volumes end to end through the NBD gateway, with the clients users run: one cluster
 * (1 meta, 4 chunk servers on 4 host labels, the gateway) for the class, one volume per test.
 *
 * <p>Runs alone (@Isolated): it reissues and revokes the tests' certificates, which every other
 * class's daemons use.
 */
@Isolated
class VolumeIT {
    @RegisterExtension
    static final ItResources resources = new ItResources();

    private static final long MIB = 1L << 20;
    private static VolumeCluster cluster;
    private static Path dir;

    @BeforeAll
    static void startCluster() throws Exception {
        dir = resources.tempDir();
        cluster = resources.register(VolumeCluster.start(dir.resolve("cluster"), 1, 4));
    }

    @Test
    void nbdcopyRoundTripOnRep3() throws Exception {
        Tools.require("nbdcopy", "libnbd-bin");
        cluster.createVolume("copy", "512M", "rep3", "64M");
        Path source = ItFiles.randomFile(dir.resolve("copy-in.bin"), 256 * MIB, 21);
        Path back = dir.resolve("copy-out.bin");
        Tools.runOk(Duration.ofSeconds(180), Map.of(), List.of("nbdcopy", "--flush", source.toString(),
                cluster.uri("copy")));
        // Out again: the whole 512 MiB export; the first 256 MiB are the data, the rest zeroes.
        Tools.runOk(Duration.ofSeconds(180), Map.of(), List.of("nbdcopy", cluster.uri("copy"), back.toString()));
        Tools.runOk("cmp", "-n", String.valueOf(256 * MIB), source.toString(), back.toString());
        Tools.runOk("cmp", "-i", String.valueOf(256 * MIB) + ":0", "-n", String.valueOf(256 * MIB),
                back.toString(), "/dev/zero");

        // Every written chunk has three UPTODATE replicas on three distinct chunk servers.
        Volume volume = cluster.client().getVolume("copy");
        assertThat(volume.chunkCount()).isEqualTo(4);
        for (long index = 0; index < 4; index++) {
            Chunk chunk = cluster.client().getChunk(volume.id(), index, false).orElseThrow();
            assertThat(chunk.chunklets()).hasSize(3);
            assertThat(chunk.chunklets().stream().map(c -> c.csId()).distinct()).hasSize(3);
        }
        // Thin: the chunks past the data were never allocated, and block status says so.
        assertThat(cluster.client().getChunk(volume.id(), 4, false)).isEqualTo(Optional.empty());
        Tools.Result map = Tools.runOk("nbdinfo", "--map", cluster.uri("copy"));
        assertThat(map.stdout()).containsPattern("(?m)^\\s*268435456\\s+268435456\\s+3\\s+hole,zero$");
    }

    /**
     * NBD over TLS (STARTTLS, x509) through the cluster's gateway (TLS optional, as basalt up runs
     * it): nbdinfo and nbdcopy with the cluster's certificates; no certificate and another
     * cluster's CA are refused, each with one line in the gateway's log, and the gateway goes on
     * serving. (--tls require is NbdTlsTest's.)
     */
    @Test
    void nbdOverTlsWithClusterCertificatesAndRefusals() throws Exception {
        Tools.require("nbdinfo", "libnbd-bin");
        Tools.require("nbdcopy", "libnbd-bin");
        cluster.createVolume("tls", "16M", "rep2", "16M");
        String certificates = io.basalt.cli.cs.ItTls.dir(io.basalt.common.tls.Role.ADMIN).toString();
        Path noCertificate = dir.resolve("tls-ca-only");
        java.nio.file.Files.createDirectories(noCertificate);
        java.nio.file.Files.copy(Path.of(certificates, "ca-cert.pem"), noCertificate.resolve("ca-cert.pem"));
        Path stranger = dir.resolve("tls-other");
        io.basalt.common.tls.CertificateAuthority.create(stranger.resolve("ca"), "other", Duration.ofDays(1))
                .issue(stranger.resolve("admin"), io.basalt.common.tls.Role.ADMIN, "admin", List.of(),
                        Duration.ofDays(1));
        // The stranger trusts our CA, so the refusal is the gateway's (of its certificate).
        java.nio.file.Files.copy(Path.of(certificates, "ca-cert.pem"), stranger.resolve("admin").resolve("ca-cert.pem"),
                java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        String uri = cluster.uri("tls").replace("nbd://", "nbds://") + "?tls-certificates=";

        Tools.Result info = Tools.runOk("nbdinfo", "--json", uri + certificates);
        assertThat(info.stdout()).contains("\"export-size\": " + 16 * MIB).containsPattern("\"TLS\": true");
        Path source = ItFiles.randomFile(dir.resolve("tls-in.bin"), 4 * MIB, 31);
        Path back = dir.resolve("tls-out.bin");
        Tools.runOk("nbdcopy", source.toString(), uri + certificates);
        Tools.runOk("nbdcopy", uri + certificates, back.toString());
        Tools.runOk("cmp", "-n", String.valueOf(4 * MIB), source.toString(), back.toString());
        // qemu-img with a tls-creds-x509 object on the same directory, as users would run it. (fio's
        // nbd engine cannot: libnbd refuses tls-certificates= in a URI unless the program allows
        // local files, and fio does not.)
        if (Tools.onPath("qemu-img")) {
            String port = cluster.uri("tls").replaceAll("^nbd://[^:]+:(\\d+)/.*$", "$1");
            Path converted = dir.resolve("tls-qemu.raw");
            Tools.runOk("qemu-img", "convert", "--object", "tls-creds-x509,id=tls0,endpoint=client,dir=" + certificates,
                    "--image-opts", "driver=nbd,host=127.0.0.1,port=" + port + ",export=tls,tls-creds=tls0",
                    "-O", "raw", converted.toString());
            Tools.runOk("cmp", "-n", String.valueOf(4 * MIB), source.toString(), converted.toString());
        }

        assertThat(Tools.run(Duration.ofSeconds(30), null, Map.of(),
                List.of("nbdinfo", uri + noCertificate)).ok()).isFalse();
        assertThat(Tools.run(Duration.ofSeconds(30), null, Map.of(),
                List.of("nbdinfo", uri + stranger.resolve("admin"))).ok()).isFalse();
        assertThat(cluster.gatewayOutput()).contains("refused NBD connection");
        Tools.runOk("nbdinfo", uri + certificates);
        Tools.runOk("nbdinfo", cluster.uri("tls"));

        // --allow: the export opens only for the listed certificate; another of the cluster's
        // certificates and a plain-text client are refused it, each in one line of the gateway's log.
        // --tls-psk beside it: a client with a pre-shared key made by `basalt nbd psk` is served if
        // listed, one with a key but not listed is refused the export, one with a wrong key the session.
        cluster.stopGateway();
        Path keys = dir.resolve("nbd.psk");
        for (String user : List.of("alice", "mallory")) {
            List<String> command = new java.util.ArrayList<>(
                    io.basalt.cli.meta.MetaCluster.javaCommand("io.basalt.cli.Main"));
            command.addAll(List.of("nbd", "psk", user, "--file", keys.toString()));
            Tools.runOk(command.toArray(String[]::new));
        }
        try {
            cluster.startGateway(List.of("--allow", "tls=it-admin,alice", "--tls-psk", keys.toString()));
            String allowedUri = cluster.uri("tls").replace("nbd://", "nbds://") + "?tls-certificates=";
            Tools.runOk("nbdcopy", allowedUri + certificates, back.toString());
            Tools.runOk("cmp", "-n", String.valueOf(4 * MIB), source.toString(), back.toString());
            String pskUri = cluster.uri("tls").replace("nbd://", "nbds://alice@") + "?tls-psk-file=" + keys;
            Path pskBack = dir.resolve("tls-psk-out.bin");
            Tools.runOk("nbdcopy", pskUri, pskBack.toString());
            Tools.runOk("cmp", "-n", String.valueOf(4 * MIB), source.toString(), pskBack.toString());
            Tools.Result unlisted = Tools.run(Duration.ofSeconds(30), null, Map.of(), List.of("nbdinfo",
                    pskUri.replace("alice@", "mallory@")));
            assertThat(unlisted.ok()).as(unlisted.describe()).isFalse();
            Path wrongKeys = java.nio.file.Files.writeString(dir.resolve("wrong.psk"), "alice:" + "ab".repeat(32)
                    + "\n");
            Tools.Result wrong = Tools.run(Duration.ofSeconds(30), null, Map.of(), List.of("nbdinfo",
                    pskUri.replace(keys.toString(), wrongKeys.toString())));
            assertThat(wrong.ok()).as(wrong.describe()).isFalse();
            assertThat(cluster.gatewayOutput()).contains("(mallory): refused export \"tls\"")
                    .contains("TLS-PSK handshake failed: identity \"alice\": wrong key");
            Tools.Result other = Tools.run(Duration.ofSeconds(30), null, Map.of(), List.of("nbdinfo",
                    allowedUri + io.basalt.cli.cs.ItTls.dir(io.basalt.common.tls.Role.GATEWAY)));
            // libnbd shows ERR_POLICY as "Operation not supported", without the server's text.
            assertThat(other.ok()).as(other.describe()).isFalse();
            assertThat(other.stderr()).as(other.describe()).contains("server replied with error");
            Tools.Result plain = Tools.run(Duration.ofSeconds(30), null, Map.of(), List.of("nbdinfo",
                    cluster.uri("tls")));
            assertThat(plain.ok()).as(plain.describe()).isFalse();
            assertThat(cluster.gatewayOutput()).contains("(it-gateway): refused export \"tls\": export \"tls\" is open"
                    + " only to the clients [it-admin, alice], not to it-gateway")
                    .contains("(no certificate): refused export \"tls\"");
        } finally {
            cluster.stopGateway();
            cluster.startGateway();
        }
    }

    /**
     * Rotation without a restart: the chunk servers' certificate reissued in place while fio
     * writes and verifies through the gateway; no I/O error, the running chunk servers present the
     * new certificate to new connections, and a new client reads and writes through them.
     */
    @Test
    void chunkServerCertificatesReissuedWhileFioRunsCauseNoIoError() throws Exception {
        Tools.require("fio", "fio");
        cluster.createVolume("rotate", "64M", "rep3", "16M");
        cluster.createVolume("rotate-new", "16M", "rep3", "16M");
        java.util.concurrent.CompletableFuture<Tools.Result> fio = java.util.concurrent.CompletableFuture.supplyAsync(
                () -> Tools.run(Duration.ofSeconds(180), resources.tempDir(), Map.of(), List.of("fio",
                        "--name=rotate", "--ioengine=nbd", "--uri=" + cluster.uri("rotate"), "--rw=randwrite",
                        "--bs=4k", "--iodepth=8", "--size=48m", "--verify=crc32c", "--verify_fatal=1",
                        "--do_verify=1", "--verify_state_save=0", "--randrepeat=0")));
        Thread.sleep(1500);
        java.math.BigInteger before = presentedSerial(cluster.servers.getFirst().port);
        java.math.BigInteger reissued = io.basalt.cli.cs.ItTls.reissue(io.basalt.common.tls.Role.CHUNK_SERVER)
                .getSerialNumber();
        assertThat(reissued).isNotEqualTo(before);
        // Each running chunk server takes it at its next handshake after its 2 s check interval.
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        for (io.basalt.cli.cs.CsProcess server : cluster.servers) {
            while (!presentedSerial(server.port).equals(reissued)) {
                assertThat(System.nanoTime()).as("cs " + server.csId + " presents the reissued certificate")
                        .isLessThan(deadline);
                Thread.sleep(250);
            }
        }
        try (io.basalt.client.ClusterClient client = io.basalt.client.ClusterClient.connect(cluster.meta.peers(),
                io.basalt.client.ClientConfig.defaults().withTls(io.basalt.cli.cs.ItTls.adminTls()),
                new io.prometheus.metrics.model.registry.PrometheusRegistry())) {
            io.basalt.client.VolumeDevice device = client.open("rotate-new", "it-rotate").get(60,
                    java.util.concurrent.TimeUnit.SECONDS);
            try {
                io.netty.buffer.ByteBuf block = io.netty.buffer.Unpooled.buffer(4096).writeZero(4096);
                block.setByte(7, 0x5a);
                device.write(0, block, false).get(30, java.util.concurrent.TimeUnit.SECONDS);
                io.netty.buffer.ByteBuf back = io.netty.buffer.Unpooled.buffer(4096);
                device.read(0, 4096, back).get(30, java.util.concurrent.TimeUnit.SECONDS);
                assertThat(back.getByte(7)).isEqualTo((byte) 0x5a);
            } finally {
                device.close();
            }
        }
        Tools.Result result = fio.get(180, java.util.concurrent.TimeUnit.SECONDS);
        assertThat(result.ok()).as(result.describe()).isTrue();
        assertThat(result.stdout()).as(result.describe()).contains("err= 0");
        assertThat(cluster.servers.getFirst().output.toString()).contains("now presenting the reissued certificate of it-cs");
    }

    /**
     * Revocation: a certificate revoked by the CA, its list copied into the holders' directories,
     * is refused by every running chunk server from its next handshake on (one log line each); the
     * others' connections go on.
     */
    @Test
    void aRevokedCertificateIsRefusedByRunningChunkServers() throws Exception {
        Path revoked = io.basalt.cli.cs.ItTls.issue(io.basalt.common.tls.Role.ADMIN, "it-revoked");
        Path admin = io.basalt.cli.cs.ItTls.dir(io.basalt.common.tls.Role.ADMIN);
        io.basalt.cli.cs.CsProcess server = cluster.servers.getLast();
        assertThat(accepted(server.port, revoked)).isTrue();
        io.basalt.cli.cs.ItTls.revoke(revoked);
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (accepted(server.port, revoked)) {
            assertThat(System.nanoTime()).as("cs " + server.csId + " refuses the revoked certificate").isLessThan(deadline);
            Thread.sleep(250);
        }
        assertThat(accepted(server.port, admin)).isTrue();
        assertThat(server.output.toString()).contains("the certificate of it-revoked (serial ")
                .contains("was revoked by the cluster CA");
    }

    /**
     * Whether the chunk server on {@code port} keeps a connection from the holder in {@code holder}:
     * in TLS 1.3 the server checks the client's certificate after the client's handshake is done,
     * so a refusal shows as the connection closing, an acceptance as a server waiting for a frame.
     */
    private static boolean accepted(int port, Path holder) throws Exception {
        try (javax.net.ssl.SSLSocket socket = tlsSocket(port, holder)) {
            socket.setSoTimeout(1500);
            socket.startHandshake();
            return socket.getInputStream().read() != -1;
        } catch (java.net.SocketTimeoutException waiting) {
            return true;
        } catch (java.io.IOException refused) {
            return false;
        }
    }

    /** A TLS socket to 127.0.0.1:{@code port} as the holder in {@code holder} (handshake not started). */
    private static javax.net.ssl.SSLSocket tlsSocket(int port, Path holder) throws Exception {
        io.basalt.common.tls.TlsIdentity identity = io.basalt.common.tls.TlsIdentity.load(holder);
        javax.net.ssl.SSLContext context = javax.net.ssl.SSLContext.getInstance("TLSv1.3");
        context.init(identity.keyManagers().getKeyManagers(), identity.trustManagers().getTrustManagers(), null);
        return (javax.net.ssl.SSLSocket) context.getSocketFactory().createSocket("127.0.0.1", port);
    }

    /** The serial of the certificate the chunk server on {@code port} presents to a new TLS client. */
    private static java.math.BigInteger presentedSerial(int port) throws Exception {
        return presentedSerial(port, io.basalt.cli.cs.ItTls.dir(io.basalt.common.tls.Role.ADMIN));
    }

    /** As above, connecting as the holder in {@code holder}. */
    private static java.math.BigInteger presentedSerial(int port, Path holder) throws Exception {
        try (javax.net.ssl.SSLSocket socket = tlsSocket(port, holder)) {
            socket.setSoTimeout(10_000);
            socket.startHandshake();
            return ((java.security.cert.X509Certificate) socket.getSession().getPeerCertificates()[0]).getSerialNumber();
        }
    }

    @Test
    void qemuImgConvertAndCompareOnRep2() throws java.io.IOException {
        Tools.require("qemu-img", "qemu-utils");
        cluster.createVolume("qemu", "64M", "rep2", "16M");
        Path source = ItFiles.randomFile(dir.resolve("qemu-in.raw"), 64 * MIB, 22);
        Tools.runOk("qemu-img", "convert", "-n", "-f", "raw", "-O", "raw", source.toString(), cluster.uri("qemu"));
        Tools.runOk("qemu-img", "compare", "-f", "raw", "-F", "raw", source.toString(), cluster.uri("qemu"));
        // qemu-io: unaligned writes (read-modify-write), zeroes, discard, FUA, and I/O past the end.
        Tools.Result io = Tools.runOk("qemu-io", "-f", "raw",
                "-c", "write -P 0x33 " + (3 * MIB + 1) + " 3333",
                "-c", "read -P 0x33 " + (3 * MIB + 1) + " 3333",
                "-c", "write -f -P 0x44 " + 8 * MIB + " 64k",
                "-c", "read -P 0x44 " + 8 * MIB + " 64k",
                "-c", "write -z " + 16 * MIB + " 1M",
                "-c", "read -P 0 " + 16 * MIB + " 1M",
                "-c", "discard " + 20 * MIB + " 4M",
                "-c", "read -P 0 " + 20 * MIB + " 4M",
                cluster.uri("qemu"));
        assertThat(io.stdout() + io.stderr()).as(io.describe()).doesNotContainIgnoringCase("fail")
                .doesNotContainIgnoringCase("error");
        Tools.Result past = Tools.run(Tools.COMMAND_TIMEOUT, null, Map.of(), List.of("qemu-io", "-f", "raw",
                "-c", "read " + 64 * MIB + " 4k", cluster.uri("qemu")));
        assertThat(past.stdout() + past.stderr()).as(past.describe()).containsIgnoringCase("error");
    }

    @Test
    void fioVerifyMixedSizesAndDepthsOnRep3() {
        Tools.require("fio", "fio");
        cluster.createVolume("fio", "256M", "rep3", "32M");
        Path workDir = resources.tempDir();
        for (int depth : new int[] {1, 16}) {
            Tools.Result result = Tools.run(Duration.ofSeconds(180), workDir, Map.of(), List.of("fio",
                    "--name=verify-qd" + depth, "--ioengine=nbd", "--uri=" + cluster.uri("fio"),
                    "--rw=randwrite", "--bsrange=4k-256k", "--iodepth=" + depth, "--numjobs=2",
                    "--offset=" + (depth == 1 ? 0 : 64 * MIB), "--size=" + (depth == 1 ? "16m" : "64m"),
                    "--offset_increment=" + (depth == 1 ? "16m" : "64m"),
                    "--verify=crc32c", "--verify_fatal=1", "--do_verify=1", "--verify_state_save=0",
                    "--randrepeat=0", "--group_reporting=1"));
            assertThat(result.ok()).as(result.describe()).isTrue();
            assertThat(result.stdout()).as(result.describe()).contains("err= 0");
        }
    }

    @Test
    void compareAndWriteIsAtomicAgainstConcurrentWriters() throws Exception {
        cluster.createVolume("caw", "16M", "rep3", "4M");
        try (io.basalt.client.ClusterClient client = io.basalt.client.ClusterClient.connect(cluster.meta.peers(),
                io.basalt.client.ClientConfig.defaults().withTls(io.basalt.cli.cs.ItTls.adminTls()),
                new io.prometheus.metrics.model.registry.PrometheusRegistry())) {
            io.basalt.client.VolumeDevice device = client.open("caw", "it-caw").get(60, java.util.concurrent.TimeUnit.SECONDS);
            try {
                // A mismatch writes nothing.
                io.netty.buffer.ByteBuf ones = io.netty.buffer.Unpooled.buffer(4096).writeZero(4096);
                ones.setByte(0, 1);
                io.netty.buffer.ByteBuf twos = io.netty.buffer.Unpooled.buffer(4096).writeZero(4096);
                twos.setByte(0, 2);
                assertThat(device.compareAndWrite(0, ones, twos).get(30, java.util.concurrent.TimeUnit.SECONDS)).isFalse();
                assertThat(counter(device)).isZero();
                // 4 tasks increment a counter block 25 times each by compare-and-write, while plain
                // writes hit the next block: every increment must count (no lost update).
                java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(5);
                java.util.List<java.util.concurrent.Future<?>> tasks = new java.util.ArrayList<>();
                for (int t = 0; t < 4; t++) {
                    tasks.add(pool.submit(() -> {
                        for (int done = 0; done < 25; ) {
                            long seen = counter(device);
                            if (device.compareAndWrite(0, block(seen), block(seen + 1)).get(30,
                                    java.util.concurrent.TimeUnit.SECONDS)) {
                                done++;
                            }
                        }
                        return null;
                    }));
                }
                tasks.add(pool.submit(() -> {
                    for (int i = 0; i < 200; i++) {
                        device.write(4096, block(i), false).get(30, java.util.concurrent.TimeUnit.SECONDS);
                    }
                    return null;
                }));
                for (java.util.concurrent.Future<?> task : tasks) {
                    task.get(120, java.util.concurrent.TimeUnit.SECONDS);
                }
                pool.shutdownNow();
                assertThat(counter(device)).isEqualTo(100);
            } finally {
                device.close();
            }
        }
    }

    private static io.netty.buffer.ByteBuf block(long value) {
        return io.netty.buffer.Unpooled.buffer(4096).writeLong(value).writeZero(4096 - 8);
    }

    private static long counter(io.basalt.client.VolumeDevice device) throws Exception {
        io.netty.buffer.ByteBuf read = io.netty.buffer.Unpooled.directBuffer(4096);
        try {
            device.read(0, 4096, read).get(30, java.util.concurrent.TimeUnit.SECONDS);
            return read.getLong(0);
        } finally {
            read.release();
        }
    }

    @Test
    void exportsListedAndUnknownNamesRefused() {
        Tools.require("nbdinfo", "libnbd-bin");
        cluster.createVolume("listed", "16M", "rep1", "4M");
        Tools.Result list = Tools.runOk("nbdinfo", "--list", cluster.uri(""));
        assertThat(list.stdout()).contains("export=\"listed\"").contains("rep1 volume, 16.0 MiB");
        Tools.Result info = Tools.runOk("nbdinfo", "--json", cluster.uri("listed"));
        assertThat(info.stdout()).contains("\"export-size\": 16777216").contains("\"block_size_minimum\": 4096");

        Tools.Result unknown = Tools.run(Tools.COMMAND_TIMEOUT, null, Map.of(),
                List.of("nbdinfo", cluster.uri("no-such-volume")));
        assertThat(unknown.exitCode()).isNotZero();
        assertThat(unknown.stderr()).contains("no-such-volume");
    }

    @Test
    void secondWriterIsRefusedWhileTheFirstHoldsTheLease() throws Exception {
        Tools.require("qemu-io", "qemu-utils");
        cluster.createVolume("leased", "16M", "rep2", "4M");
        // A client that is not the gateway takes the lease...
        cluster.client().acquireLease(cluster.client().getVolume("leased").id(), "other-writer",
                Duration.ofSeconds(60));
        Tools.Result refused = Tools.run(Tools.COMMAND_TIMEOUT, null, Map.of(), List.of("qemu-io", "-f", "raw",
                "-c", "read 0 4k", cluster.uri("leased")));
        assertThat(refused.exitCode()).as(refused.describe()).isNotZero();
        assertThat(refused.stdout() + refused.stderr()).as(refused.describe()).contains("other-writer");
        // ...and once it lets go, the gateway gets it.
        cluster.client().releaseLease(cluster.client().getVolume("leased").id(), "other-writer");
        Tools.Result io = Tools.runOk("qemu-io", "-f", "raw", "-c", "write -P 0x55 0 64k", "-c",
                "read -P 0x55 0 64k", cluster.uri("leased"));
        assertThat(io.stdout()).doesNotContainIgnoringCase("fail");
    }

    @Test
    void deletedVolumeFailsItsIoAndTheGatewayLivesOn() throws Exception {
        Tools.require("python3", "python3");
        cluster.createVolume("doomed", "16M", "rep2", "4M");
        String script = String.join("\n",
                "import nbd, sys, time",
                "h = nbd.NBD()",
                "h.connect_uri(sys.argv[1])",
                "h.pwrite(b'x' * 4096, 0)",
                "print('wrote', flush=True)",
                "sys.stdin.readline()",
                "deadline = time.time() + 30",
                "while time.time() < deadline:",
                "    try:",
                "        h.pwrite(b'y' * 4096, 4096 * 1024)",
                "    except nbd.Error as e:",
                "        print('refused:', e)",
                "        sys.exit(0)",
                "    time.sleep(0.5)",
                "print('still writable')",
                "sys.exit(1)");
        Path file = dir.resolve("doomed.py");
        java.nio.file.Files.writeString(file, script);
        ProcessBuilder builder = new ProcessBuilder(Tools.pythonWithNbd(), file.toString(), cluster.uri("doomed"))
                .redirectErrorStream(true);
        builder.environment().putAll(Tools.pythonPathEnvironment());
        Process python = builder.start();
        try {
            var out = new java.io.BufferedReader(new java.io.InputStreamReader(python.getInputStream()));
            assertThat(out.readLine()).isEqualTo("wrote");
            // In use: refused, naming the gateway; with force it goes, and the gateway's I/O fails.
            assertThatThrownBy(() -> cluster.client().deleteVolume("doomed"))
                    .hasMessageContaining("in use by client it-gateway").hasMessageContaining("--force");
            cluster.client().deleteVolume("doomed", true);
            python.getOutputStream().write('\n');
            python.getOutputStream().flush();
            String rest = out.lines().reduce("", (a, b) -> a + b + "\n");
            assertThat(python.waitFor()).as(rest).isZero();
            assertThat(rest).contains("refused");
        } finally {
            python.destroyForcibly();
        }
        // The gateway still serves the other volumes.
        cluster.createVolume("after", "16M", "rep2", "4M");
        Tools.runOk("qemu-io", "-f", "raw", "-c", "write -P 0x66 0 4k", "-c", "read -P 0x66 0 4k",
                cluster.uri("after"));
    }
}
