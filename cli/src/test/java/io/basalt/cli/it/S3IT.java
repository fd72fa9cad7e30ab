package io.basalt.cli.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.basalt.cli.meta.MetaCluster;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/**
 * Objects end to end: real meta, chunk servers and an S3 gateway ({@code basalt s3 run}) as processes,
 * driven by real clients: the {@code aws} CLI (multipart uploads in parallel parts), boto3 (listing
 * page by page, versioning, delete markers, checksums, conditional and ranged reads) and curl
 * (presigned URLs); a multi-GiB multipart upload (boto3); then faults: a chunk server killed during an
 * upload, a gateway killed during one, and the whole cluster.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class S3IT {
    @RegisterExtension
    static final ItResources resources = new ItResources();
    private static final Duration AWS_TIMEOUT = Duration.ofMinutes(3);
    private static final Pattern KEY = Pattern.compile("AWS_ACCESS_KEY_ID=(\\S+)");
    private static final Pattern SECRET = Pattern.compile("AWS_SECRET_ACCESS_KEY=(\\S+)");

    @TempDir
    Path dir;

    /**
     * One cluster for both tests (a cluster start is some 15 s of the suite): the clients first,
     * then the faults, which kill servers and restart everything. Seven servers: with one killed,
     * six hosts remain, so new ec4+2 chunks of the object log can still be placed on distinct hosts.
     */
    private static VolumeCluster cluster;

    @BeforeAll
    static void startCluster() throws Exception {
        cluster = resources.register(VolumeCluster.start(resources.tempDir().resolve("cluster"), 1, 7));
        cluster.startS3Gateway();
    }

    record Keys(String accessKey, String secret) {}

    /** Creates an S3 user with the CLI ({@code basalt s3 user create}) and reads its keys from the output. */
    static Keys createUser(VolumeCluster cluster, String name) {
        List<String> command = MetaCluster.javaCommand("io.basalt.cli.Main");
        command.addAll(List.of("s3", "user", "create", name, "--meta", cluster.meta.peers()));
        Tools.Result created = Tools.runOk(Duration.ofMinutes(1), Map.of(), command);
        Matcher key = KEY.matcher(created.stdout());
        Matcher secret = SECRET.matcher(created.stdout());
        assertThat(key.find() && secret.find()).as(created.describe()).isTrue();
        return new Keys(key.group(1), secret.group(1));
    }

    static Map<String, String> awsEnvironment(Keys keys) {
        Map<String, String> env = new HashMap<>();
        env.put("AWS_ACCESS_KEY_ID", keys.accessKey());
        env.put("AWS_SECRET_ACCESS_KEY", keys.secret());
        env.put("AWS_DEFAULT_REGION", "us-east-1");
        env.put("AWS_EC2_METADATA_DISABLED", "true");
        env.put("AWS_PAGER", "");
        env.put("AWS_CONFIG_FILE", "/dev/null");
        env.put("AWS_SHARED_CREDENTIALS_FILE", "/dev/null");
        return env;
    }

    static Tools.Result aws(VolumeCluster cluster, Map<String, String> env, String... args) {
        List<String> command = new ArrayList<>(List.of("aws", "--endpoint-url", cluster.s3Endpoint()));
        command.addAll(List.of(args));
        return Tools.run(AWS_TIMEOUT, null, env, command);
    }

    static Tools.Result awsOk(VolumeCluster cluster, Map<String, String> env, String... args) {
        Tools.Result result = aws(cluster, env, args);
        assertThat(result.exitCode()).as(result.describe() + "\n--- gateway ---\n" + cluster.s3Output()).isZero();
        return result;
    }

    static Path randomFile(Path path, int bytes, long seed) throws IOException {
        byte[] data = new byte[bytes];
        new Random(seed).nextBytes(data);
        Files.write(path, data);
        return path;
    }

    /** Starts {@code command} with {@code env}, its output into {@code log}. */
    static Process background(Map<String, String> env, Path log, String... command) throws IOException {
        ProcessBuilder builder = new ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile());
        builder.environment().putAll(env);
        return builder.start();
    }

    /** A python3 that can import boto3, or null. */
    static String pythonWithBoto3() {
        for (String python : List.of("python3", "/usr/bin/python3")) {
            try {
                Process process = new ProcessBuilder(python, "-c", "import boto3").redirectErrorStream(true).start();
                if (process.waitFor(60, TimeUnit.SECONDS) && process.exitValue() == 0) {
                    return python;
                }
            } catch (IOException | InterruptedException e) {
                // try the next one
            }
        }
        return null;
    }

    @Test
    @Order(1)
    void theAwsCliBoto3AndCurlAgainstACluster() throws Exception {
        Tools.require("aws", "awscli");
        Tools.require("curl", "curl");
        String python = pythonWithBoto3();
        assumeTrue(python != null, "boto3 is not installed; install it with: apt-get install python3-boto3");
        Keys keys = createUser(cluster, "it");
        Map<String, String> env = awsEnvironment(keys);
        awsOk(cluster, env, "s3", "mb", "s3://it-bucket");
        // 40 MiB: the CLI uploads it as a multipart upload of 8 MiB parts, several in parallel.
        Path big = randomFile(dir.resolve("big"), (40 << 20) + 123, 1);
        awsOk(cluster, env, "s3", "cp", big.toString(), "s3://it-bucket/data/big");
        Path back = dir.resolve("big.back");
        awsOk(cluster, env, "s3", "cp", "s3://it-bucket/data/big", back.toString());
        assertThat(Files.mismatch(big, back)).as("bytes read back differ").isEqualTo(-1L);
        Tools.Result head = awsOk(cluster, env, "s3api", "head-object", "--bucket", "it-bucket", "--key",
                "data/big");
        assertThat(head.stdout()).contains("\"ContentLength\": " + Files.size(big)).containsPattern("-\\d+\\\\\"\"");
        // Many small files, listed back recursively.
        Path tree = Files.createDirectories(dir.resolve("tree"));
        for (int i = 0; i < 30; i++) {
            randomFile(tree.resolve("f" + i), 1000 * i + 1, 100 + i);
        }
        awsOk(cluster, env, "s3", "sync", tree.toString(), "s3://it-bucket/tree/");
        Tools.Result listed = awsOk(cluster, env, "s3", "ls", "--recursive", "s3://it-bucket/tree/");
        assertThat(listed.stdout().lines().count()).isEqualTo(30);
        awsOk(cluster, env, "s3", "rm", "s3://it-bucket/data/big");
        assertThat(awsOk(cluster, env, "s3", "ls", "--recursive", "s3://it-bucket/").stdout())
                .doesNotContain("data/big");

        Path script = dir.resolve("boto3_check.py");
        try (InputStream in = S3IT.class.getResourceAsStream("/s3/boto3_check.py")) {
            Files.copy(in, script);
        }
        Tools.Result boto = Tools.run(Duration.ofMinutes(5), null, Map.of(), List.of(python, script.toString(),
                cluster.s3Endpoint(), keys.accessKey(), keys.secret(), "boto-bucket"));
        assertThat(boto.exitCode()).as(boto.describe() + "\n--- gateway ---\n" + cluster.s3Output()).isZero();
        assertThat(boto.stdout()).contains("all boto3 checks passed");

        // status shows the buckets, their objects and the object logs holding them (none degraded).
        List<String> status = MetaCluster.javaCommand("io.basalt.cli.Main");
        status.addAll(List.of("status", "--json", "--meta", cluster.meta.peers()));
        String json = Tools.runOk(Duration.ofMinutes(1), Map.of(), status).stdout();
        com.fasterxml.jackson.databind.JsonNode objects = new com.fasterxml.jackson.databind.ObjectMapper()
                .readTree(json).get("objects");
        assertThat(objects.get("buckets").findValuesAsText("name")).contains("it-bucket", "boto-bucket");
        assertThat(objects.get("objects").asLong()).as(json).isGreaterThan(1200);
        assertThat(objects.get("objectLogs").size()).as(json).isGreaterThanOrEqualTo(1);
        assertThat(objects.get("objectLogs").get(0).get("degradedChunks").asLong()).as(json).isZero();
    }

    /**
     * A multi-GiB object in 64 MiB parts, four at a time in shuffled order, past the 2 GiB boundary
     * where a 32-bit offset or length would wrap: read back whole and by ranges, block by block, then
     * deleted. boto3 generates and checks the bytes as it streams them; nothing is held whole.
     */
    @Test
    @Order(2)
    void aMultiGibObjectUploadedInPartsInParallelAndOutOfOrder() throws Exception {
        String python = pythonWithBoto3();
        assumeTrue(python != null, "boto3 is not installed; install it with: apt-get install python3-boto3");
        Keys keys = createUser(cluster, "big");
        Path script = dir.resolve("multipart_big.py");
        try (InputStream in = S3IT.class.getResourceAsStream("/s3/multipart_big.py")) {
            Files.copy(in, script);
        }
        long total = (2L << 30) + (40 << 20) + 12_345;
        Tools.Result big = Tools.run(Duration.ofMinutes(15), null, Map.of(), List.of(python, script.toString(),
                cluster.s3Endpoint(), keys.accessKey(), keys.secret(), "big-bucket", Long.toString(total),
                Integer.toString(64 << 20), "4"));
        assertThat(big.exitCode()).as(big.describe() + "\n--- gateway ---\n" + cluster.s3Output()).isZero();
        assertThat(big.stdout()).contains("all multi-GiB checks passed");
    }

    @Test
    @Order(3)
    void anUploadSurvivesAChunkServerKilledMidwayAKilledGatewayLeavesNothingVisibleAndAWholeClusterCrashLosesNothing() throws Exception {
        Tools.require("aws", "awscli");
        Map<String, String> env = awsEnvironment(createUser(cluster, "faults"));
        awsOk(cluster, env, "s3", "mb", "s3://faults");
        Path big = randomFile(dir.resolve("big"), 64 << 20, 7);
        // A chunk server dies while the parts go up: the writes go on degraded, the upload completes.
        Process upload = background(env, dir.resolve("upload.log"), "aws", "--endpoint-url",
                cluster.s3Endpoint(), "s3", "cp", big.toString(), "s3://faults/big");
        try {
            Thread.sleep(1500);
            cluster.servers.get(1).kill9();
            assertThat(upload.waitFor(3, TimeUnit.MINUTES)).isTrue();
            assertThat(upload.exitValue()).as(Files.readString(dir.resolve("upload.log")) + cluster.s3Output())
                    .isZero();
        } finally {
            upload.destroyForcibly(); // never left running when the test fails
        }
        Path back = dir.resolve("big.back");
        awsOk(cluster, env, "s3", "cp", "s3://faults/big", back.toString());
        assertThat(Files.mismatch(big, back)).isEqualTo(-1L);

        // The gateway dies during an upload: nothing of it becomes visible; a new gateway serves the rest.
        Process doomed = background(env, dir.resolve("doomed.log"), "aws", "--endpoint-url",
                cluster.s3Endpoint(), "s3", "cp", big.toString(), "s3://faults/doomed");
        try {
            Thread.sleep(1500);
            cluster.killS3Gateway();
            doomed.waitFor(3, TimeUnit.MINUTES);
        } finally {
            doomed.destroyForcibly();
        }
        cluster.startS3Gateway();
        Tools.Result missing = aws(cluster, env, "s3api", "head-object", "--bucket", "faults", "--key", "doomed");
        assertThat(missing.exitCode()).as(missing.describe()).isNotZero();
        assertThat(missing.stderr()).contains("404");
        Path again = dir.resolve("big.again");
        awsOk(cluster, env, "s3", "cp", "s3://faults/big", again.toString());
        assertThat(Files.mismatch(big, again)).isEqualTo(-1L);

        // The whole cluster crashes (kill -9 of every process) and comes back: every object is there.
        Path small = randomFile(dir.resolve("small"), 5000, 8);
        awsOk(cluster, env, "s3", "cp", small.toString(), "s3://faults/small");
        cluster.killS3Gateway();
        for (var server : cluster.servers) {
            if (server.alive()) {
                server.kill9();
            }
        }
        cluster.closeClient();
        cluster.meta.kill9(0);
        cluster.meta.restart(0);
        int alive = 0;
        for (int i = 0; i < cluster.servers.size(); i++) {
            if (i != 1) { // cs 2 stays dead since the upload above: its chunklets were rebuilt or are degraded
                cluster.restartServer(i);
                alive++;
            }
        }
        cluster.awaitChunkServersUp(alive);
        cluster.startS3Gateway();
        Tools.Result listing = awsOk(cluster, env, "s3", "ls", "s3://faults/");
        assertThat(listing.stdout()).contains("big").contains("small").doesNotContain("doomed");
        Path afterBig = dir.resolve("big.after");
        Path afterSmall = dir.resolve("small.after");
        awsOk(cluster, env, "s3", "cp", "s3://faults/big", afterBig.toString());
        awsOk(cluster, env, "s3", "cp", "s3://faults/small", afterSmall.toString());
        assertThat(Files.mismatch(big, afterBig)).as("big after the restart").isEqualTo(-1L);
        assertThat(Files.mismatch(small, afterSmall)).as("small after the restart").isEqualTo(-1L);
    }
}
