package io.basalt.s3.gateway;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.ByteArrayOutputStream;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import software.amazon.awssdk.core.sync.RequestBody;
import software.amazon.awssdk.services.s3.S3Client;

/**
 * Virtual-hosted addressing ({@code Host: <bucket>.s3.localhost}) and keys that only survive if
 * nobody but the router decodes the path, over raw sockets (the Host header is ours to choose).
 */
class S3GatewayAddressingTest {
    private static GatewayFixture fixture;
    private static S3Client s3;
    private static RawS3 raw;

    @BeforeAll
    static void start() {
        fixture = new GatewayFixture();
        s3 = fixture.client();
        raw = new RawS3(fixture.endpoint, GatewayFixture.ACCESS_KEY, GatewayFixture.SECRET);
        s3.createBucket(b -> b.bucket("vhost"));
    }

    @AfterAll
    static void stop() {
        s3.close();
        fixture.close();
    }

    /** One request on its own connection; the whole response as text. */
    private static String exchange(String host, String method, String path, byte[] body)
            throws Exception {
        Map<String, String> headers = body == null ? Map.of()
                : Map.of("content-length", Integer.toString(body.length));
        Map<String, String> signed = raw.sign(host, method, path, "", headers, RawS3.UNSIGNED);
        try (Socket socket = new Socket(fixture.endpoint.getHost(), fixture.endpoint.getPort())) {
            socket.setSoTimeout(10_000);
            OutputStream out = socket.getOutputStream();
            StringBuilder head = new StringBuilder(method + " " + path + " HTTP/1.1\r\n");
            signed.forEach((name, value) -> head.append(name).append(": ").append(value)
                    .append("\r\n"));
            head.append("connection: close\r\n\r\n");
            out.write(head.toString().getBytes(StandardCharsets.US_ASCII));
            if (body != null) {
                out.write(body);
            }
            out.flush();
            ByteArrayOutputStream response = new ByteArrayOutputStream();
            InputStream in = socket.getInputStream();
            in.transferTo(response);
            return response.toString(StandardCharsets.UTF_8);
        }
    }

    @Test
    void virtualHostedBucketFromTheHostHeader() throws Exception {
        String host = "vhost.s3.localhost:" + fixture.gateway.port();
        String put = exchange(host, "PUT", "/dir/file.txt", "virtual".getBytes(
                StandardCharsets.UTF_8));
        assertThat(put).startsWith("HTTP/1.1 200");
        assertThat(s3.getObjectAsBytes(b -> b.bucket("vhost").key("dir/file.txt"))
                .asUtf8String()).isEqualTo("virtual");
        String get = exchange(host, "GET", "/dir/file.txt", null);
        assertThat(get).startsWith("HTTP/1.1 200").endsWith("virtual");
        String list = exchange(host, "GET", "/", null);
        assertThat(list).startsWith("HTTP/1.1 200").contains("<Name>vhost</Name>")
                .contains("<Key>dir/file.txt</Key>");
    }

    @Test
    void encodedSlashesDotsAndDoubleSlashesAreKeyBytes() throws Exception {
        String host = "127.0.0.1:" + fixture.gateway.port();
        for (String[] keyAndPath : new String[][] {
                {"a/b%2Fc", "/vhost/a/b%252Fc"},
                {"x/../y", "/vhost/x/../y"},
                {"double//slash", "/vhost/double//slash"},
                {"a/b/c", "/vhost/a%2Fb%2Fc"}}) {
            String put = exchange(host, "PUT", keyAndPath[1], keyAndPath[0].getBytes(
                    StandardCharsets.UTF_8));
            assertThat(put).as(keyAndPath[1]).startsWith("HTTP/1.1 200");
            assertThat(s3.getObjectAsBytes(b -> b.bucket("vhost").key(keyAndPath[0]))
                    .asUtf8String()).isEqualTo(keyAndPath[0]);
        }
        s3.putObject(b -> b.bucket("vhost").key("sdk/with space+plus"),
                RequestBody.fromString("sdk"));
        assertThat(exchange(host, "GET", "/vhost/sdk/with%20space%2Bplus", null))
                .startsWith("HTTP/1.1 200").endsWith("sdk");
    }
}
