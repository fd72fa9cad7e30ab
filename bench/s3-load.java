// s3-load.java -- bench/s3.sh's load generator: PUT and GET throughput and latency against one or
// more S3 endpoints in one JVM, test by test side by side (for each object size and concurrency,
// every target in turn, the order alternating from test to test so that neither target always
// runs on a warmer or cooler machine). Run as a single-file source program with no dependencies:
//
//   java bench/s3-load.java --target NAME=ENDPOINT,ACCESS_KEY,SECRET_KEY,BUCKET[,HEADER:VALUE] ...
//        [--sizes 4096,1048576,67108864] [--concurrency 1,32] [--seconds 8] [--bytes-max 2147483648]
//        [--warmup-seconds 10] [--region us-east-1] [--tsv FILE]
//
// Per test (size, concurrency, target): the PUT phase writes fresh keys from CONCURRENCY workers
// until SECONDS passed or BYTES_MAX were sent; the first key is read back and compared byte for
// byte (untimed; a mismatch ends the run); the GET phase reads the keys just written, round robin,
// for SECONDS; then every key is deleted (untimed) so the disks never hold more than one test's
// objects. Latency is per request, from sending the request to the last byte of the response.
// The bucket is created when missing (a PUT with the target's optional extra header, e.g.
// x-basalt-storage-policy:ec4+2).
//
// Why not the AWS SDK: over plain HTTP it signs every payload chunk with SHA-256 and adds CRC32
// trailers, which on a 2-core machine makes the client the bottleneck and both servers hash the
// same bytes again. Here requests are signed with SigV4 over the headers only (UNSIGNED-PAYLOAD,
// what SDKs send over TLS), through java.net.http on HTTP/1.1 keep-alive connections; the client
// then costs far less than either server, so the servers' speeds are what the table compares.
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.time.ZoneOffset;
import java.time.ZonedDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Executors;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicLong;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

class S3Load {
    /** Errors past this many in one phase end the run: a broken target, not a slow one. */
    static final int ERRORS_MAX = 20;

    record Target(String name, URI endpoint, String accessKey, String secretKey, String bucket,
            String extraHeader, String extraValue) {}

    record Result(String target, String op, int sizeBytes, int concurrency, long ops, long errors,
            double seconds, long p50Nanos, long p99Nanos) {
        double opsPerSecond() {
            return ops / seconds;
        }

        double mibPerSecond() {
            return ops * (double) sizeBytes / seconds / (1 << 20);
        }
    }

    public static void main(String[] args) throws Exception {
        List<Target> targets = new ArrayList<>();
        Map<String, String> options = new LinkedHashMap<>(Map.of("sizes", "4096,1048576,67108864",
                "concurrency", "1,32", "seconds", "8", "bytes-max", String.valueOf(2L << 30),
                "warmup-seconds", "10", "region", "us-east-1", "tsv", ""));
        for (int i = 0; i < args.length; i += 2) {
            String name = args[i].replaceFirst("^--", "");
            if (i + 1 >= args.length) {
                throw new IllegalArgumentException("option --" + name + " needs a value");
            }
            if (name.equals("target")) {
                targets.add(parseTarget(args[i + 1]));
            } else if (options.containsKey(name)) {
                options.put(name, args[i + 1]);
            } else {
                throw new IllegalArgumentException("unknown option --" + name + "; known: --target, --"
                        + String.join(", --", options.keySet()));
            }
        }
        if (targets.isEmpty()) {
            throw new IllegalArgumentException("no --target NAME=ENDPOINT,ACCESS_KEY,SECRET_KEY,BUCKET given");
        }
        int[] sizes = Arrays.stream(options.get("sizes").split(",")).mapToInt(Integer::parseInt).toArray();
        int[] concurrencies = Arrays.stream(options.get("concurrency").split(",")).mapToInt(Integer::parseInt)
                .toArray();
        double seconds = Double.parseDouble(options.get("seconds"));
        long bytesMax = Long.parseLong(options.get("bytes-max"));
        double warmupSeconds = Double.parseDouble(options.get("warmup-seconds"));
        S3Load load = new S3Load(options.get("region"));

        for (Target target : targets) {
            load.createBucket(target);
        }
        if (warmupSeconds > 0) {
            // The JITs (ours; Basalt's gateway, meta and chunk servers, each its own JVM) compile the hot
            // paths first: on two busy cores C2 was still the gateway's busiest thread minutes after
            // start. RGW gets the same requests, so neither target meets a cold cache of the other's.
            for (Target target : targets) {
                log("warm-up " + target.name());
                load.runTest(target, 1 << 20, 8, warmupSeconds, bytesMax);
                load.runTest(target, 4096, 8, warmupSeconds, bytesMax);
            }
        }
        List<Result> results = new ArrayList<>();
        int testIndex = 0;
        for (int size : sizes) {
            for (int concurrency : concurrencies) {
                List<Target> order = new ArrayList<>(targets);
                if (testIndex++ % 2 == 1) {
                    java.util.Collections.reverse(order);
                }
                for (Target target : order) {
                    List<Result> pair = load.runTest(target, size, concurrency, seconds, bytesMax);
                    for (Result result : pair) {
                        log(format(result));
                    }
                    results.addAll(pair);
                }
            }
        }
        load.http.close();
        printTable(targets, results);
        if (!options.get("tsv").isEmpty()) {
            StringBuilder tsv = new StringBuilder(
                    "target\top\tsize_bytes\tconcurrency\tops\terrors\tseconds\tops_per_s\tmib_per_s\tp50_ms\tp99_ms\n");
            for (Result r : results) {
                tsv.append(String.format(Locale.ROOT, "%s\t%s\t%d\t%d\t%d\t%d\t%.3f\t%.1f\t%.1f\t%.2f\t%.2f%n",
                        r.target(), r.op(), r.sizeBytes(), r.concurrency(), r.ops(), r.errors(), r.seconds(),
                        r.opsPerSecond(), r.mibPerSecond(), r.p50Nanos() / 1e6, r.p99Nanos() / 1e6));
            }
            Files.writeString(Path.of(options.get("tsv")), tsv);
        }
    }

    static Target parseTarget(String spec) {
        int eq = spec.indexOf('=');
        String[] parts = spec.substring(eq + 1).split(",");
        if (eq <= 0 || parts.length < 4 || parts.length > 5) {
            throw new IllegalArgumentException("--target \"" + spec
                    + "\": expected NAME=ENDPOINT,ACCESS_KEY,SECRET_KEY,BUCKET[,HEADER:VALUE]");
        }
        String header = null;
        String value = null;
        if (parts.length == 5) {
            int colon = parts[4].indexOf(':');
            header = parts[4].substring(0, colon).toLowerCase(Locale.ROOT);
            value = parts[4].substring(colon + 1);
        }
        return new Target(spec.substring(0, eq), URI.create(parts[0].replaceFirst("/$", "")), parts[1], parts[2],
                parts[3], header, value);
    }

    final String region;
    final HttpClient http;
    /** One payload per size, shared read-only by every worker: random, so nothing compresses it. */
    final Map<Integer, byte[]> payloads = new java.util.concurrent.ConcurrentHashMap<>();
    long runId = System.currentTimeMillis();

    S3Load(String region) {
        this.region = region;
        this.http = HttpClient.newBuilder().version(HttpClient.Version.HTTP_1_1)
                .connectTimeout(Duration.ofSeconds(10)).executor(Executors.newVirtualThreadPerTaskExecutor())
                .build();
    }

    byte[] payload(int size) {
        return payloads.computeIfAbsent(size, s -> {
            byte[] bytes = new byte[s];
            new SplittableRandom(s).nextBytes(bytes);
            return bytes;
        });
    }

    void createBucket(Target target) throws Exception {
        HttpResponse<String> head = http.send(signed(target, "HEAD", "/" + target.bucket(), null, false).HEAD().build(),
                HttpResponse.BodyHandlers.ofString());
        if (head.statusCode() == 200) {
            return;
        }
        HttpRequest.Builder create = signed(target, "PUT", "/" + target.bucket(), null, true);
        HttpResponse<String> response = http.send(create.PUT(HttpRequest.BodyPublishers.noBody()).build(),
                HttpResponse.BodyHandlers.ofString());
        if (response.statusCode() != 200) {
            throw new IllegalStateException(target.name() + ": creating bucket " + target.bucket() + " answered "
                    + response.statusCode() + ": " + response.body());
        }
    }

    /** PUT, read-back check, GET, delete: one test of one target. */
    List<Result> runTest(Target target, int size, int concurrency, double seconds, long bytesMax) throws Exception {
        byte[] payload = payload(size);
        String prefix = "s3load-" + (runId++) + "/" + size + "-" + concurrency + "/";
        long keysMax = Math.max(concurrency, bytesMax / size);
        AtomicLong nextKey = new AtomicLong();
        Phase put = runPhase(concurrency, seconds, () -> {
            long key = nextKey.getAndIncrement();
            if (key >= keysMax) {
                return -1;
            }
            HttpRequest request = signed(target, "PUT", objectPath(target, prefix, key), null, false)
                    .PUT(bodyOf(payload)).build();
            HttpResponse<Long> response = http.send(request, CountingSubscriber.HANDLER);
            return response.statusCode() == 200 ? 0 : fail(target, "PUT", response);
        });
        long written = Math.min(nextKey.get(), keysMax);
        try {
            checkReadBack(target, objectPath(target, prefix, 0), payload);
            AtomicLong nextRead = new AtomicLong();
            Phase get = runPhase(concurrency, seconds, () -> {
                long key = nextRead.getAndIncrement() % written;
                HttpRequest request = signed(target, "GET", objectPath(target, prefix, key), null, false).GET()
                        .build();
                HttpResponse<Long> response = http.send(request, CountingSubscriber.HANDLER);
                if (response.statusCode() != 200) {
                    return fail(target, "GET", response);
                }
                if (response.body() != size) {
                    log(target.name() + ": GET returned " + response.body() + " bytes of " + size);
                    return 1;
                }
                return 0;
            });
            return List.of(put.result(target.name(), "PUT", size, concurrency),
                    get.result(target.name(), "GET", size, concurrency));
        } finally {
            AtomicLong nextDelete = new AtomicLong();
            runPhase(Math.min(32, (int) Math.max(1, written)), Double.MAX_VALUE, () -> {
                long key = nextDelete.getAndIncrement();
                if (key >= written) {
                    return -1;
                }
                HttpResponse<Long> response = http.send(signed(target, "DELETE", objectPath(target, prefix, key),
                        null, false).DELETE().build(), CountingSubscriber.HANDLER);
                return response.statusCode() == 204 ? 0 : fail(target, "DELETE", response);
            });
        }
    }

    /**
     * The payload as a request body read on demand, with its Content-Length. Not ofByteArray: with 32
     * requests of 64 MiB it made the client hold GiBs (a 1 GiB heap ran out of memory).
     */
    static HttpRequest.BodyPublisher bodyOf(byte[] payload) {
        return HttpRequest.BodyPublishers.fromPublisher(
                HttpRequest.BodyPublishers.ofInputStream(() -> new java.io.ByteArrayInputStream(payload)),
                payload.length);
    }

    static String objectPath(Target target, String prefix, long key) {
        return "/" + target.bucket() + "/" + prefix + key;
    }

    static long fail(Target target, String op, HttpResponse<Long> response) {
        log(target.name() + ": " + op + " " + response.uri().getPath() + " answered " + response.statusCode());
        return 1;
    }

    void checkReadBack(Target target, String path, byte[] payload) throws Exception {
        HttpResponse<byte[]> response = http.send(signed(target, "GET", path, null, false).GET().build(),
                HttpResponse.BodyHandlers.ofByteArray());
        if (response.statusCode() != 200 || !Arrays.equals(response.body(), payload)) {
            throw new IllegalStateException(target.name() + ": " + path + " read back " + response.statusCode()
                    + " with " + response.body().length + " bytes that differ from the " + payload.length + " written");
        }
    }

    /** One request; returns 0 when it succeeded, 1 when it failed, -1 when the phase has no more work. */
    interface Request {
        long run() throws Exception;
    }

    record Phase(long[] latencies, long errors, double seconds) {
        Result result(String target, String op, int size, int concurrency) {
            long[] sorted = latencies.clone();
            Arrays.sort(sorted);
            return new Result(target, op, size, concurrency, sorted.length, errors, seconds, percentile(sorted, 0.50),
                    percentile(sorted, 0.99));
        }

        static long percentile(long[] sorted, double quantile) {
            if (sorted.length == 0) {
                return 0;
            }
            return sorted[Math.max(0, (int) Math.ceil(quantile * sorted.length) - 1)];
        }
    }

    /** Runs {@code concurrency} workers, each sending its next request when its last one ended. */
    static Phase runPhase(int concurrency, double seconds, Request request) throws Exception {
        long startNanos = System.nanoTime();
        long deadlineNanos = seconds >= Double.MAX_VALUE / 2 ? Long.MAX_VALUE
                : startNanos + (long) (seconds * 1e9);
        AtomicLong errors = new AtomicLong();
        List<long[]> perWorker = new ArrayList<>();
        List<Thread> workers = new ArrayList<>();
        Throwable[] failure = new Throwable[1];
        for (int w = 0; w < concurrency; w++) {
            long[][] mine = {new long[1024]};
            int[] count = {0};
            Thread worker = Thread.ofVirtual().unstarted(() -> {
                try {
                    while (System.nanoTime() < deadlineNanos && errors.get() <= ERRORS_MAX) {
                        long sent = System.nanoTime();
                        long outcome = request.run();
                        if (outcome < 0) {
                            break;
                        }
                        if (outcome > 0) {
                            errors.incrementAndGet();
                            continue;
                        }
                        if (count[0] == mine[0].length) {
                            mine[0] = Arrays.copyOf(mine[0], count[0] * 2);
                        }
                        mine[0][count[0]++] = System.nanoTime() - sent;
                    }
                } catch (Throwable e) {
                    synchronized (failure) {
                        failure[0] = e;
                    }
                } finally {
                    synchronized (perWorker) {
                        perWorker.add(Arrays.copyOf(mine[0], count[0]));
                    }
                }
            });
            workers.add(worker);
        }
        workers.forEach(Thread::start);
        for (Thread worker : workers) {
            worker.join();
        }
        double elapsed = (System.nanoTime() - startNanos) / 1e9;
        if (failure[0] != null) {
            throw new IllegalStateException("a request failed: " + failure[0], failure[0]);
        }
        if (errors.get() > ERRORS_MAX) {
            throw new IllegalStateException(errors.get() + " requests failed (max " + ERRORS_MAX + "); see above");
        }
        long[] all = perWorker.stream().flatMapToLong(Arrays::stream).toArray();
        return new Phase(all, errors.get(), elapsed);
    }

    // ---- SigV4 over the headers (UNSIGNED-PAYLOAD) ----

    static final DateTimeFormatter AMZ_DATE = DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'");
    static final String UNSIGNED = "UNSIGNED-PAYLOAD";

    HttpRequest.Builder signed(Target target, String method, String path, String query, boolean withExtraHeader)
            throws Exception {
        String amzDate = ZonedDateTime.now(ZoneOffset.UTC).format(AMZ_DATE);
        String day = amzDate.substring(0, 8);
        URI endpoint = target.endpoint();
        // java.net.http sends Host as host[:port] (the port only when it is not the scheme's default).
        int port = endpoint.getPort();
        String host = endpoint.getHost() + (port == -1 ? "" : ":" + port);
        Map<String, String> headers = new java.util.TreeMap<>();
        headers.put("host", host);
        headers.put("x-amz-content-sha256", UNSIGNED);
        headers.put("x-amz-date", amzDate);
        if (withExtraHeader && target.extraHeader() != null) {
            headers.put(target.extraHeader(), target.extraValue());
        }
        StringBuilder canonicalHeaders = new StringBuilder();
        for (Map.Entry<String, String> header : headers.entrySet()) {
            canonicalHeaders.append(header.getKey()).append(':').append(header.getValue().trim()).append('\n');
        }
        String signedHeaders = String.join(";", headers.keySet());
        String canonicalRequest = method + "\n" + path + "\n" + (query == null ? "" : query) + "\n"
                + canonicalHeaders + "\n" + signedHeaders + "\n" + UNSIGNED;
        String scope = day + "/" + region + "/s3/aws4_request";
        String stringToSign = "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope + "\n" + hex(sha256(canonicalRequest));
        byte[] key = hmac(("AWS4" + target.secretKey()).getBytes(StandardCharsets.UTF_8), day);
        key = hmac(key, region);
        key = hmac(key, "s3");
        key = hmac(key, "aws4_request");
        String signature = hex(hmac(key, stringToSign));
        HttpRequest.Builder builder = HttpRequest.newBuilder(
                URI.create(endpoint + path + (query == null ? "" : "?" + query))).timeout(Duration.ofSeconds(300));
        for (Map.Entry<String, String> header : headers.entrySet()) {
            if (!header.getKey().equals("host")) {
                builder.header(header.getKey(), header.getValue());
            }
        }
        return builder.header("Authorization", "AWS4-HMAC-SHA256 Credential=" + target.accessKey() + "/" + scope
                + ", SignedHeaders=" + signedHeaders + ", Signature=" + signature);
    }

    static byte[] sha256(String text) throws Exception {
        return MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8));
    }

    static byte[] hmac(byte[] key, String text) throws Exception {
        Mac mac = Mac.getInstance("HmacSHA256");
        mac.init(new SecretKeySpec(key, "HmacSHA256"));
        return mac.doFinal(text.getBytes(StandardCharsets.UTF_8));
    }

    static String hex(byte[] bytes) {
        return HexFormat.of().formatHex(bytes);
    }

    /** Counts a response body's bytes as they arrive and drops them (no copy into one array). */
    static final class CountingSubscriber implements Flow.Subscriber<List<ByteBuffer>> {
        static final HttpResponse.BodyHandler<Long> HANDLER = info -> HttpResponse.BodySubscribers
                .fromSubscriber(new CountingSubscriber(), CountingSubscriber::count);
        private long count;

        @Override
        public void onSubscribe(Flow.Subscription subscription) {
            subscription.request(Long.MAX_VALUE);
        }

        @Override
        public void onNext(List<ByteBuffer> buffers) {
            for (ByteBuffer buffer : buffers) {
                count += buffer.remaining();
            }
        }

        @Override
        public void onError(Throwable error) {}

        @Override
        public void onComplete() {}

        long count() {
            return count;
        }
    }

    // ---- output ----

    static void log(String line) {
        System.err.println("[s3-load " + java.time.LocalTime.now().withNano(0) + "] " + line);
    }

    static String format(Result r) {
        return String.format(Locale.ROOT, "%-8s %-3s %9s c%-2d %8.1f ops/s %8.1f MiB/s p50 %8.2f ms p99 %8.2f ms"
                + " (%d ops, %d errors, %.1f s)", r.target(), r.op(), sizeName(r.sizeBytes()), r.concurrency(),
                r.opsPerSecond(), r.mibPerSecond(), r.p50Nanos() / 1e6, r.p99Nanos() / 1e6, r.ops(), r.errors(),
                r.seconds());
    }

    static String sizeName(int bytes) {
        if (bytes % (1 << 20) == 0) {
            return (bytes >> 20) + " MiB";
        }
        if (bytes % 1024 == 0) {
            return (bytes >> 10) + " KiB";
        }
        return bytes + " B";
    }

    /** A Markdown table: one row per (op, size, concurrency), each target's figures, then the ratios to the last target. */
    static void printTable(List<Target> targets, List<Result> results) {
        StringBuilder header = new StringBuilder("| op | size | conc |");
        StringBuilder rule = new StringBuilder("| --- | --- | ---: |");
        for (Target target : targets) {
            header.append(' ').append(target.name()).append(" ops/s | MiB/s | p50 ms | p99 ms |");
            rule.append(" ---: | ---: | ---: | ---: |");
        }
        String reference = targets.getLast().name();
        for (Target target : targets.subList(0, targets.size() - 1)) {
            header.append(' ').append(target.name()).append('/').append(reference).append(" |");
            rule.append(" ---: |");
        }
        System.out.println(header);
        System.out.println(rule);
        for (String op : List.of("PUT", "GET")) {
            List<Result> ofOp = results.stream().filter(r -> r.op().equals(op) && r.target().equals(targets.get(0).name()))
                    .toList();
            for (Result first : ofOp) {
                StringBuilder row = new StringBuilder(String.format(Locale.ROOT, "| %s | %s | %d |", op,
                        sizeName(first.sizeBytes()), first.concurrency()));
                Map<String, Result> byTarget = new LinkedHashMap<>();
                for (Target target : targets) {
                    Result r = results.stream().filter(x -> x.op().equals(op) && x.target().equals(target.name())
                            && x.sizeBytes() == first.sizeBytes() && x.concurrency() == first.concurrency())
                            .findFirst().orElseThrow();
                    byTarget.put(target.name(), r);
                    row.append(String.format(Locale.ROOT, " %.1f | %.1f | %.2f | %.2f |", r.opsPerSecond(),
                            r.mibPerSecond(), r.p50Nanos() / 1e6, r.p99Nanos() / 1e6));
                }
                Result ref = byTarget.get(reference);
                for (Target target : targets.subList(0, targets.size() - 1)) {
                    row.append(String.format(Locale.ROOT, " %.2fx |",
                            byTarget.get(target.name()).opsPerSecond() / ref.opsPerSecond()));
                }
                System.out.println(row);
            }
        }
    }
}
