package io.basalt.s3.route;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.basalt.s3.QueryParameters;
import io.basalt.s3.RequestHeaders;
import io.basalt.s3.S3Error;
import io.basalt.s3.S3Exception;
import java.util.Set;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.api.Test;

class S3RouterTest {
    private static final S3Router ROUTER = new S3Router(Set.of("s3.example.com",
            "example.com"));
    private static final String PATH_HOST = "s3.example.com";

    @ParameterizedTest(name = "{0} {1}?{2} -> {3}")
    @CsvSource(delimiter = '|', nullValues = "null", textBlock = """
            GET    | /                    | null                     | LIST_BUCKETS
            PUT    | /bkt                 | null                     | CREATE_BUCKET
            HEAD   | /bkt                 | null                     | HEAD_BUCKET
            DELETE | /bkt/                | null                     | DELETE_BUCKET
            GET    | /bkt                 | location                 | GET_BUCKET_LOCATION
            GET    | /bkt                 | versioning               | GET_BUCKET_VERSIONING
            PUT    | /bkt                 | versioning               | PUT_BUCKET_VERSIONING
            GET    | /bkt                 | prefix=a&delimiter=/     | LIST_OBJECTS
            GET    | /bkt                 | list-type=2&prefix=a     | LIST_OBJECTS_V2
            GET    | /bkt                 | versions&prefix=a        | LIST_OBJECT_VERSIONS
            GET    | /bkt                 | uploads                  | LIST_MULTIPART_UPLOADS
            POST   | /bkt                 | delete                   | DELETE_OBJECTS
            PUT    | /bkt/k               | null                     | PUT_OBJECT
            GET    | /bkt/k               | versionId=3              | GET_OBJECT
            GET    | /bkt/k               | partNumber=2             | GET_OBJECT
            HEAD   | /bkt/k               | null                     | HEAD_OBJECT
            DELETE | /bkt/k               | versionId=3              | DELETE_OBJECT
            GET    | /bkt/k               | tagging                  | GET_OBJECT_TAGGING
            PUT    | /bkt/k               | tagging                  | PUT_OBJECT_TAGGING
            DELETE | /bkt/k               | tagging                  | DELETE_OBJECT_TAGGING
            POST   | /bkt/k               | uploads                  | CREATE_MULTIPART_UPLOAD
            PUT    | /bkt/k               | partNumber=1&uploadId=u  | UPLOAD_PART
            POST   | /bkt/k               | uploadId=u               | COMPLETE_MULTIPART_UPLOAD
            DELETE | /bkt/k               | uploadId=u               | ABORT_MULTIPART_UPLOAD
            GET    | /bkt/k               | uploadId=u&max-parts=5   | LIST_PARTS
            """)
    void classifiesOperations(String method, String path, String query, S3Operation expected) {
        S3Request request = ROUTER.route(method, PATH_HOST, path, QueryParameters.parse(query),
                RequestHeaders.empty());
        assertThat(request.operation()).isEqualTo(expected);
        assertThat(request.virtualHosted()).isFalse();
        assertThat(request.copySource()).isNull();
    }

    @Test
    void copiesNeedTheCopySourceHeader() {
        RequestHeaders copy = RequestHeaders.of("x-amz-copy-source",
                "/src%20bkt/a%2Fb%3Fc.txt?versionId=v%2B1");
        S3Request request = ROUTER.route("PUT", PATH_HOST, "/bkt/k", QueryParameters.empty(),
                copy);
        assertThat(request.operation()).isEqualTo(S3Operation.COPY_OBJECT);
        assertThat(request.copySource()).isEqualTo(new CopySource("src bkt", "a/b?c.txt",
                "v+1"));
        S3Request part = ROUTER.route("PUT", PATH_HOST, "/bkt/k", QueryParameters.parse(
                "partNumber=10000&uploadId=u"), RequestHeaders.of("x-amz-copy-source",
                        "src/key"));
        assertThat(part.operation()).isEqualTo(S3Operation.UPLOAD_PART_COPY);
        assertThat(part.copySource()).isEqualTo(new CopySource("src", "key", null));
    }

    @Test
    void keysAreDecodedExactlyOnce() {
        assertThat(key("/bkt/a%2Fb/c%252F+d%20e")).isEqualTo("a/b/c%2F+d e");
        assertThat(key("/bkt/dir/")).isEqualTo("dir/");
        assertThat(key("/bkt//double")).isEqualTo("/double");
        assertThat(key("/bkt/%E4%B8%AD")).isEqualTo("\u4e2d");
        assertThat(ROUTER.route("GET", PATH_HOST, "/b%2Dk/x", QueryParameters.empty(),
                RequestHeaders.empty()).bucket()).isEqualTo("b-k");
    }

    @Test
    void virtualHostedAddressing() {
        S3Request request = ROUTER.route("GET", "My.Bucket.S3.example.com:9000", "/a/b%20c",
                QueryParameters.empty(), RequestHeaders.empty());
        assertThat(request.virtualHosted()).isTrue();
        assertThat(request.bucket()).isEqualTo("my.bucket");
        assertThat(request.key()).isEqualTo("a/b c");
        assertThat(ROUTER.route("GET", "bkt.example.com.", "/", QueryParameters.empty(),
                RequestHeaders.empty()).operation()).isEqualTo(S3Operation.LIST_OBJECTS);
        // The base domain itself, IPs and unknown names are path-style.
        for (String host : new String[] {"s3.example.com", "127.0.0.1:9000", "[::1]:9000",
            "other.test", null}) {
            S3Request pathStyle = ROUTER.route("GET", host, "/bkt/k", QueryParameters.empty(),
                    RequestHeaders.empty());
            assertThat(pathStyle.virtualHosted()).as(host).isFalse();
            assertThat(pathStyle.bucket()).isEqualTo("bkt");
        }
        // A suffix match must end at a dot.
        S3Router narrow = new S3Router(Set.of("s3.example.com"));
        assertThat(narrow.virtualHostedBucket("xs3.example.com")).isNull();
        assertThat(narrow.virtualHostedBucket("x.s3.example.com")).isEqualTo("x");
        assertThat(ROUTER.virtualHostedBucket("xs3.example.com")).isEqualTo("xs3");
        assertThatThrownBy(() -> new S3Router(Set.of("s3.example.com:9000")))
                .isInstanceOf(IllegalArgumentException.class);
    }

    @ParameterizedTest(name = "{0} {1}?{2} -> {3}")
    @CsvSource(delimiter = '|', nullValues = "null", textBlock = """
            PATCH  | /bkt/k  | null                     | MethodNotAllowed
            OPTIONS| /bkt    | null                     | MethodNotAllowed
            PUT    | /       | null                     | MethodNotAllowed
            GET    | /       | acl                      | NotImplemented
            GET    | /bkt    | acl                      | NotImplemented
            PUT    | /bkt    | policy                   | NotImplemented
            GET    | /bkt    | tagging                  | NotImplemented
            GET    | /bkt    | location&versioning      | NotImplemented
            POST   | /bkt    | null                     | NotImplemented
            PUT    | /bkt/k  | acl                      | NotImplemented
            GET    | /bkt/k  | versions                 | NotImplemented
            POST   | /bkt/k  | null                     | NotImplemented
            POST   | /bkt/k  | select&select-type=2     | NotImplemented
            HEAD   | /bkt/k  | tagging                  | NotImplemented
            PUT    | /bkt/k  | partNumber=1             | InvalidArgument
            PUT    | /bkt/k  | uploadId=u               | InvalidArgument
            PUT    | /bkt/k  | partNumber=0&uploadId=u  | InvalidArgument
            PUT    | /bkt/k  | partNumber=10001&uploadId=u | InvalidArgument
            PUT    | /bkt/k  | partNumber=x&uploadId=u  | InvalidArgument
            PUT    | /bkt/k  | partNumber=1&uploadId=   | InvalidArgument
            GET    | /bkt    | list-type=1              | InvalidArgument
            PUT    | /Bad_Bucket | null                 | InvalidBucketName
            PUT    | /ab     | null                     | InvalidBucketName
            GET    | //k     | null                     | InvalidURI
            GET    | /bkt/%zz | null                    | InvalidURI
            GET    | /bkt/%C3 | null                    | InvalidURI
            """)
    void refusals(String method, String path, String query, S3Error expected) {
        assertThatThrownBy(() -> ROUTER.route(method, PATH_HOST, path, QueryParameters.parse(
                query), RequestHeaders.empty())).isInstanceOfSatisfying(S3Exception.class,
                        e -> assertThat(e.error()).as(e.toString()).isEqualTo(expected));
    }

    @Test
    void longKeysAndBadCopySourcesAreRefused() {
        assertRefused(() -> key("/bkt/" + "k".repeat(1025)), S3Error.KeyTooLongError);
        key("/bkt/" + "k".repeat(1024));
        assertRefused(() -> key("/bkt/" + "%C3%A9".repeat(513)), S3Error.KeyTooLongError);
        assertRefused(() -> ROUTER.route("GET", "relative", "bkt/k", QueryParameters.empty(),
                RequestHeaders.empty()), S3Error.InvalidURI);
        for (String source : new String[] {"bkt", "bkt/", "/bkt", "/key-only", "bkt/k?x=1",
            "bkt/k?versionId="}) {
            assertRefused(() -> CopySource.parse(source), S3Error.InvalidArgument);
        }
        assertRefused(() -> CopySource.parse("arn:aws:s3:us-east-1:1:accesspoint/a/object/k"),
                S3Error.NotImplemented);
        assertRefused(() -> CopySource.parse("bkt/%G0"), S3Error.InvalidURI);
        assertRefused(() -> CopySource.parse("bkt/" + "k".repeat(1025)),
                S3Error.KeyTooLongError);
    }

    private static String key(String path) {
        return ROUTER.route("GET", PATH_HOST, path, QueryParameters.empty(),
                RequestHeaders.empty()).key();
    }

    private static void assertRefused(Runnable action, S3Error error) {
        assertThatThrownBy(action::run).isInstanceOfSatisfying(S3Exception.class,
                e -> assertThat(e.error()).as(e.toString()).isEqualTo(error));
    }
}
