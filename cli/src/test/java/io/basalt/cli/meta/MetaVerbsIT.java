package io.basalt.cli.meta;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.cli.BasaltCommand;
import io.basalt.cli.UserError;
import io.basalt.meta.api.MetaClient;
import io.basalt.meta.api.MetaError;
import io.basalt.meta.api.MetaException;
import io.basalt.meta.model.s3.Bucket;
import io.basalt.meta.model.s3.ObjectExtent;
import io.basalt.meta.model.s3.ObjectListing;
import io.basalt.meta.model.s3.ObjectLog;
import io.basalt.meta.model.s3.ObjectVersion;
import io.basalt.meta.model.s3.Part;
import io.basalt.meta.model.s3.S3User;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * Every admin verb against a real one-member meta process: tables, JSON, and each bad input
 * giving one line that says what to do, with a non-zero exit and no change. Most verbs run in
 * this JVM (a CLI JVM costs seconds on CI); a few run as real {@code basalt} processes to check
 * exit codes and stderr end to end.
 */
class MetaVerbsIT {
    private static MetaCluster cluster;

    record Result(int exitCode, String out, String err) {}

    @BeforeAll
    static void startMeta() throws Exception {
        cluster = new MetaCluster(1, Files.createTempDirectory("basalt-meta-verbs"),
                "--chunk-size", "4M", "--cs-unhealthy-after-ms", "3600000",
                "--election-timeout-ms", "300");
        cluster.startAll();
        try (MetaClient client = cluster.client()) {
            for (int i = 0; i < 3; i++) {
                client.registerCs(0, "host" + i + ":7000", "host" + i, "z", 1L << 40, "it");
            }
        }
    }

    @AfterAll
    static void stopMeta() throws Exception {
        if (cluster != null) {
            cluster.close();
        }
    }

    /** Runs {@code basalt ARGS --meta PEERS} in this JVM, like Main but without exiting. */
    private static Result basalt(String... args) {
        List<String> all = new ArrayList<>(List.of(args));
        all.add("--meta");
        all.add(cluster.peers());
        // Meta runs mutual TLS; the verbs speak to it as the tests' admin.
        all.add("--tls-dir");
        all.add(io.basalt.cli.cs.ItTls.dir(io.basalt.common.tls.Role.ADMIN).toString());
        return basaltExactly(all.toArray(String[]::new));
    }

    /**
     * Captures what the verb prints on the thread that runs it, and only there: other test classes
     * run in parallel in this JVM and print too (UpIT's "up ready after" once landed in a capture
     * here), so System.out and System.err are routed by thread, not swapped for everyone.
     */
    private static final ThreadLocal<ByteArrayOutputStream> CAPTURED_OUT = new ThreadLocal<>();
    private static final ThreadLocal<ByteArrayOutputStream> CAPTURED_ERR = new ThreadLocal<>();

    private static synchronized void routeByThread() {
        if (!(System.out instanceof Routed)) {
            System.setOut(new Routed(System.out, CAPTURED_OUT));
        }
        if (!(System.err instanceof Routed)) {
            System.setErr(new Routed(System.err, CAPTURED_ERR));
        }
    }

    /** Writes to the calling thread's capture when it has one, else to the stream it replaced. */
    private static final class Routed extends PrintStream {
        Routed(PrintStream original, ThreadLocal<ByteArrayOutputStream> capture) {
            super(new java.io.OutputStream() {
                @Override
                public void write(int b) throws java.io.IOException {
                    target().write(b);
                }

                @Override
                public void write(byte[] bytes, int offset, int length) throws java.io.IOException {
                    target().write(bytes, offset, length);
                }

                @Override
                public void flush() throws java.io.IOException {
                    target().flush();
                }

                private java.io.OutputStream target() {
                    ByteArrayOutputStream captured = capture.get();
                    return captured != null ? captured : original;
                }
            }, true, StandardCharsets.UTF_8);
        }
    }

    private static Result basaltExactly(String... args) {
        routeByThread();
        List<String> all = List.of(args);
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int exitCode;
        CAPTURED_OUT.set(out);
        CAPTURED_ERR.set(err);
        try {
            CommandLine commandLine = BasaltCommand.commandLine(all.toArray(String[]::new));
            commandLine.setExecutionExceptionHandler((e, cmd, parsed) -> {
                System.err.println("basalt: " + e.getMessage());
                return e instanceof UserError ? 1 : 2;
            });
            exitCode = commandLine.execute(all.toArray(String[]::new));
        } finally {
            System.out.flush();
            System.err.flush();
            CAPTURED_OUT.remove();
            CAPTURED_ERR.remove();
        }
        return new Result(exitCode, out.toString(StandardCharsets.UTF_8),
                err.toString(StandardCharsets.UTF_8));
    }

    private static void assertUserError(Result result, String... parts) {
        assertThat(result.exitCode()).as(result.toString()).isEqualTo(1);
        assertThat(result.err().strip().lines()).as(result.toString()).hasSize(1);
        for (String part : parts) {
            assertThat(result.err()).contains(part);
        }
    }

    @Test
    void volumeLifecycleWithTablesAndJson() {
        assertThat(basalt("volume", "create", "db1", "--size", "10G").out())
                .contains("created volume db1: 10.0 GiB, rep3");
        assertThat(basalt("volume", "create", "db2", "--size", "512M", "--policy", "rep2",
                "--json").out()).contains("\"name\":\"db2\"").contains("\"policy\":\"rep2\"");
        Result list = basalt("volume", "list");
        assertThat(list.out().lines().findFirst().orElseThrow())
                .matches("NAME +SIZE +POLICY +ALLOCATED +RAW +CHUNKS +QOS");
        assertThat(list.out()).contains("db1").contains("10.0 GiB").contains("db2");
        assertThat(basalt("volume", "list", "--json").out().strip()).startsWith("[{").endsWith("}]");
        Result info = basalt("volume", "info", "db1");
        assertThat(info.out()).contains("policy").contains("rep3").contains("chunk size")
                .contains("4.0 MiB").contains("0 of 2560 allocated");
        assertThat(basalt("volume", "info", "db1", "--json").out())
                .contains("\"sizeBytes\":10737418240").contains("\"allocatedBytes\":0").contains("\"rawBytes\":0");
        assertThat(basalt("volume", "resize", "db1", "--size", "20G").out())
                .contains("volume db1 is now 20.0 GiB");
        assertUserError(basalt("volume", "resize", "db1", "--size", "1G"), "--shrink");
        assertUserError(basalt("volume", "resize", "db1", "--size", "1G", "--shrink"), "--yes");
        assertThat(basalt("volume", "resize", "db1", "--size", "1G", "--shrink", "--yes").out())
                .contains("is now 1.0 GiB");
        assertThat(basalt("volume", "delete", "db2").out()).contains("deleted volume db2");
        assertThat(basalt("volume", "list").out()).doesNotContain("db2");
    }

    @Test
    void badInputIsOneLineAndChangesNothing() {
        basalt("volume", "create", "taken", "--size", "1G");
        String before = basalt("volume", "list", "--json").out();
        assertUserError(basalt("volume", "create", "taken", "--size", "1G"), "already exists");
        assertUserError(basalt("volume", "create", "Bad_Name", "--size", "1G"),
                "invalid volume name", "a-z, 0-9");
        assertUserError(basalt("volume", "create", "v", "--size", "0"), "must be > 0");
        assertUserError(basalt("volume", "create", "v", "--size", "-5G"), "--size");
        assertUserError(basalt("volume", "create", "v", "--size", "1000"),
                "not a multiple of the block size 4096");
        assertUserError(basalt("volume", "create", "v", "--size", "ten"), "--size",
                "e.g. 10G");
        assertUserError(basalt("volume", "create", "v", "--size", "1G", "--policy", "raid6"),
                "unknown policy", "ec4+2");
        assertUserError(basalt("volume", "create", "v", "--size", "1G", "--policy", "ec4+2"),
                "policy ec4+2 needs 6 hosts, cluster has 3");
        assertUserError(basalt("volume", "create", "v", "--size", "1G", "--policy", "rep5"),
                "policy rep5 needs 5 hosts, cluster has 3");
        assertUserError(basalt("volume", "info", "nope"), "volume \"nope\" not found",
                "basalt volume list");
        assertUserError(basalt("volume", "delete", "nope"), "not found");
        assertUserError(basalt("volume", "resize", "nope", "--size", "1G"), "not found");
        // A gateway's certificate may read but not administer: one line naming who and why.
        String gateway = io.basalt.cli.cs.ItTls.dir(io.basalt.common.tls.Role.GATEWAY).toString();
        assertUserError(basaltExactly("volume", "delete", "taken", "--meta", cluster.peers(), "--tls-dir", gateway),
                "DELETE_VOLUME by it-gateway (role gateway)", "needs an admin certificate");
        assertThat(basaltExactly("volume", "list", "--meta", cluster.peers(), "--tls-dir", gateway).exitCode()).isZero();
        assertThat(basalt("volume", "list", "--json").out()).isEqualTo(before);
    }

    @Test
    void metaRunRefusesBadSettingsBeforeStarting() throws Exception {
        String data = cluster.dir.resolve("never").toString();
        assertUserError(basaltExactly("meta", "run", "--id", "9", "--data", data, "--peers",
                "1@127.0.0.1:1"), "member id 9 is not in the peer list");
        assertUserError(basaltExactly("meta", "run", "--id", "1", "--data", data, "--peers",
                "127.0.0.1:1"), "ID@HOST:PORT");
        assertUserError(basaltExactly("meta", "run", "--id", "1", "--data", data, "--peers",
                "1@127.0.0.1:1", "--chunk-size", "1000"), "--chunk-size");
        assertUserError(basaltExactly("meta", "run", "--id", "1", "--data", data, "--peers",
                "1@127.0.0.1:1", "--election-timeout-ms", "5"), "--election-timeout-ms");
        assertThat(cluster.dir.resolve("never")).doesNotExist();
        assertUserError(basaltExactly("volume", "list", "--meta", "nonsense"), "ID@HOST:PORT");
    }

    @Test
    void chunkServersAndMetaStatus() {
        Result cs = basalt("cs", "list");
        assertThat(cs.out().lines().findFirst().orElseThrow()).startsWith("ID").contains("STATUS")
                .contains("HEALTH").contains("CAPACITY").contains("USED");
        assertThat(cs.out()).contains("host0:7000").contains("UP").contains("1.0 TiB");
        assertThat(basalt("cs", "list", "--json").out()).contains("\"status\":\"UP\"");
        Result status = basalt("meta", "status");
        assertThat(status.out()).startsWith("cluster ").contains("leader 1, term")
                .contains("last applied index").contains("leader");
        assertThat(basalt("meta", "status", "--json").out()).contains("\"clusterId\":\"")
                .contains("\"leader\":\"1\"")
                .contains("\"members\":[");
    }

    /**
     * The object index through a real meta process and MetaClient: a user, a bucket, a log and
     * its reservation, objects (one with 10,000 extents, the most a request carries, to see that
     * such an entry and its reply pass Ratis), a listing, a multipart upload, and internal volumes
     * hidden from {@code volume list}.
     */
    @Test
    void objectIndexRoundTripsThroughTheRealMeta() throws Exception {
        try (MetaClient client = cluster.client()) {
            long now = System.currentTimeMillis();
            S3User user = client.createS3User("it-user", "AKIAITUSER", "it-secret", now);
            assertThat(client.getS3User("AKIAITUSER")).contains(user);
            Bucket bucket = client.createBucket("it-bucket", user.accessKey(), "rep3", now);
            assertThat(client.getBucket("it-bucket")).contains(bucket);
            MetaException taken = org.junit.jupiter.api.Assertions.assertThrows(
                    MetaException.class, () -> client.createBucket("it-bucket",
                            user.accessKey(), "rep3", now));
            assertThat(taken.error()).isEqualTo(MetaError.ALREADY_EXISTS);
            assertThat(taken.getMessage()).contains("owned by you");

            ObjectLog log = client.openObjectLog("rep3", "gw-it", List.of(), now);
            client.reserveObjectLog(log.id(), "gw-it", 1L << 30, 0);
            ObjectVersion small = client.putObject("it-bucket", "dir/small.txt", 5, "\"e1\"",
                    user.accessKey(), Map.of("content-type", "text/plain"), null, null, null,
                    null, List.of(new ObjectExtent(log.id(), 0, 5)), null, false, now);
            assertThat(small.versionId()).isEqualTo("null");
            List<ObjectExtent> many = new ArrayList<>();
            for (int i = 0; i < 10_000; i++) {
                many.add(new ObjectExtent(log.id(), 4096L * (1 + i), 4096));
            }
            ObjectVersion big = client.putObject("it-bucket", "big.bin", 4096L * 10_000, "e2",
                    user.accessKey(), Map.of(), Map.of(), "", Map.of(), List.of(), many, null,
                    true, now);
            assertThat(big.extents()).hasSize(10_000);
            assertThat(client.getObject("it-bucket", "big.bin", null).orElseThrow().extents())
                    .isEqualTo(many);

            ObjectListing listing = client.listObjects("it-bucket", "", "/", null, 1000);
            assertThat(listing.entries()).extracting(ObjectVersion::key).containsExactly("big.bin");
            assertThat(listing.commonPrefixes()).containsExactly("dir/");
            assertThat(listing.truncated()).isFalse();

            long partOffset = 4096L * 10_001;
            client.createUpload("it-bucket", "mp.bin", "upload-1", user.accessKey(), null, null,
                    null, now);
            Part part = client.putPart("it-bucket", "mp.bin", "upload-1", 1, 100,
                    "0123456789abcdef0123456789abcdef", null,
                    List.of(new ObjectExtent(log.id(), partOffset, 100)), now);
            assertThat(client.listParts("it-bucket", "mp.bin", "upload-1", 0, 10).parts())
                    .containsExactly(part);
            assertThat(client.listUploads("it-bucket", null, null, null, null, 10).uploads())
                    .extracting(io.basalt.meta.model.s3.Upload::uploadId)
                    .containsExactly("upload-1");
            ObjectVersion joined = client.completeUpload("it-bucket", "mp.bin", "upload-1",
                    List.of(1), List.of(part.etag()), null, false, now);
            assertThat(joined.etag()).endsWith("-1");

            MetaClient.DeleteResult deleted = client.deleteObject("it-bucket", "dir/small.txt",
                    null, now);
            assertThat(deleted).isEqualTo(new MetaClient.DeleteResult(null, false));
            assertThat(client.objectLogFrees(log.id(), 10)).containsExactly(
                    new ObjectExtent(log.id(), 0, 5));
            client.objectExtentsFreed(log.id(), List.of(0L));
            assertThat(client.objectLogGaps(log.id(), 0, 4096L * 10_003, 10)).containsExactly(
                    new ObjectExtent(log.id(), 0, 4096), new ObjectExtent(log.id(),
                            4096L * 10_002, 4096));
            assertThat(client.listObjectLogs()).extracting(ObjectLog::id).contains(log.id());
            assertThat(client.listVolumes()).extracting(io.basalt.meta.model.Volume::name)
                    .noneMatch(name -> name.startsWith("."));
            assertThat(client.getVolume(log.volumeName()).id()).isEqualTo(log.volumeId());
            assertThat(client.getBucket("it-bucket").orElseThrow().objectCount()).isEqualTo(2);
        }
        assertThat(basalt("volume", "list").out()).doesNotContain(".objlog");
    }

    @Test
    void realProcessesExitNonZeroWithOneLine() throws Exception {
        Result ok = run("volume", "create", "proc1", "--size", "1G", "--meta", cluster.peers());
        assertThat(ok.exitCode()).as(ok.toString()).isZero();
        assertThat(ok.out()).contains("created volume proc1");
        Result duplicate = run("volume", "create", "proc1", "--size", "1G", "--meta",
                cluster.peers());
        assertThat(duplicate.exitCode()).isEqualTo(1);
        assertThat(duplicate.err().strip())
                .isEqualTo("basalt: volume \"proc1\" already exists; choose another name or see:"
                        + " basalt volume info proc1");
        Result noMeta = run("volume", "list");
        assertThat(noMeta.exitCode()).isEqualTo(1);
        assertThat(noMeta.err()).contains("--meta").contains("BASALT_META");
    }

    private static Result run(String... args) throws Exception {
        List<String> command = MetaCluster.javaCommand("io.basalt.cli.Main");
        command.addAll(List.of(args));
        ProcessBuilder builder = new ProcessBuilder(command);
        builder.environment().remove("BASALT_META");
        Process process = builder.start();
        try {
            byte[] out = process.getInputStream().readAllBytes();
            byte[] err = process.getErrorStream().readAllBytes();
            assertThat(process.waitFor(60, TimeUnit.SECONDS)).isTrue();
            String stderr = new String(err, StandardCharsets.UTF_8).lines()
                    .filter(line -> !line.startsWith("WARNING:"))
                    .reduce("", (a, b) -> a + b + "\n");
            return new Result(process.exitValue(), new String(out, StandardCharsets.UTF_8), stderr);
        } finally {
            process.destroyForcibly();
        }
    }
}
