package io.basalt.cli.it;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.basalt.cli.it.BasaltProcess.Options;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** The Prometheus endpoint of {@code basalt nbd serve --metrics-port P} counts what clients did. */
public class MetricsIT {
    @RegisterExtension
    final ItResources resources = new ItResources();

    /** One sample of the text exposition format: {@code name{labels} value}. */
    public record Sample(String name, String labels, double value) {}

    private static final Pattern SAMPLE =
            Pattern.compile("^([a-zA-Z_:][a-zA-Z0-9_:]*)(\\{[^}]*\\})?\\s+(\\S+)(\\s+\\d+)?$");

    @Test
    void requestsBytesErrorsLatencyAndConnectionsAreCounted() throws Exception {
        assumeTrue(BasaltProcess.isBasalt(), "metrics are Basalt's own");
        Tools.pythonWithNbd();
        BasaltProcess server = resources.start(
                Options.file(resources.tempDir().resolve("disk.img"), "16M").withMetrics());

        List<Sample> before = scrape(server);
        assertThat(before).extracting(Sample::name).allMatch(name -> !name.isEmpty());
        assertThat(before).as("metrics named basalt_nbd_*")
                .anyMatch(s -> s.name().startsWith("basalt_nbd_"));

        LibnbdIT.script("metrics_load.py", server.uri());
        List<Sample> after = scrape(server);

        assertThat(sum(after, "basalt_nbd_requests_total", "command=\"write\""))
                .as("WRITE requests").isGreaterThanOrEqualTo(10);
        assertThat(sum(after, "basalt_nbd_requests_total", "command=\"read\""))
                .as("READ requests (5 good, 1 past the end)").isGreaterThanOrEqualTo(6);
        assertThat(sum(after, "basalt_nbd_requests_total", "command=\"flush\""))
                .as("FLUSH requests").isGreaterThanOrEqualTo(1);
        assertThat(sumPrefix(after, "basalt_nbd_written_bytes")).as("bytes written")
                .isGreaterThanOrEqualTo(10 * 4096);
        assertThat(sumPrefix(after, "basalt_nbd_read_bytes")).as("bytes read")
                .isGreaterThanOrEqualTo(5 * 4096);
        assertThat(sum(after, "basalt_nbd_request_errors_total", "error=\"EINVAL\""))
                .as("EINVAL errors").isGreaterThanOrEqualTo(1);
        assertThat(sum(after, "basalt_nbd_request_duration_seconds_count", "command=\"write\""))
                .as("WRITE latency observations").isGreaterThanOrEqualTo(10);
        assertThat(after).as("latency histogram buckets")
                .anyMatch(s -> s.name().equals("basalt_nbd_request_duration_seconds_bucket")
                        && s.labels().contains("le=\"+Inf\""));
        assertThat(sumPrefix(after, "basalt_nbd_connections_total")).as("connections accepted")
                .isGreaterThanOrEqualTo(1);
        assertThat(sum(after, "basalt_nbd_connections_open", "")).as("connections open after the client left")
                .isEqualTo(0);
    }

    static List<Sample> scrape(BasaltProcess server) throws IOException, InterruptedException {
        return scrape(server.metricsPort());
    }

    /** Every sample a daemon's Prometheus endpoint on {@code port} serves, each line checked. */
    public static List<Sample> scrape(int port) throws IOException, InterruptedException {
        try (HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build()) {
            HttpResponse<String> response = client.send(
                    HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/metrics"))
                            .timeout(Duration.ofSeconds(10)).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(response.statusCode()).as(response.body()).isEqualTo(200);
            List<Sample> samples = new ArrayList<>();
            for (String line : response.body().lines().toList()) {
                if (line.isBlank() || line.startsWith("#")) {
                    continue;
                }
                Matcher m = SAMPLE.matcher(line.strip());
                assertThat(m.matches()).as("exposition line: %s", line).isTrue();
                samples.add(new Sample(m.group(1), m.group(2) == null ? "" : m.group(2),
                        Double.parseDouble(m.group(3))));
            }
            return samples;
        }
    }

    /** The sum of {@code name}'s samples whose labels contain {@code labelFragment} ("" for all). */
    public static double sum(List<Sample> samples, String name, String labelFragment) {
        return samples.stream()
                .filter(s -> s.name().equals(name) && s.labels().contains(labelFragment))
                .mapToDouble(Sample::value).sum();
    }

    private static double sumPrefix(List<Sample> samples, String prefix) {
        return samples.stream()
                .filter(s -> s.name().startsWith(prefix) && !s.name().endsWith("_created"))
                .mapToDouble(Sample::value).sum();
    }
}
