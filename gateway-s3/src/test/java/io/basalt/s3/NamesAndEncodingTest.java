package io.basalt.s3;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class NamesAndEncodingTest {
    @ParameterizedTest
    @ValueSource(strings = {"abc", "my-bucket", "my.bucket.2024", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "1-2",
        "xn-single", "192.168.5", "1.2.3.4.5", "sthree", "bucket-s3alias-not-end",
        // '-' next to '.': S3's API accepts them (s3-tests marks its test of them fails_on_aws)
        "foo.-bar", "foo-.bar"})
    void validBucketNames(String name) {
        assertThat(BucketNames.isValid(name)).as(name).isTrue();
        BucketNames.validate(name);
    }

    @ParameterizedTest
    @ValueSource(strings = {"ab",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "My-Bucket", "my_bucket", "-bucket",
        "bucket-", ".bucket", "bucket.", "my..bucket", "192.168.5.4", "1.2.3.4",
        "xn--bucket", "sthree-bucket", "amzn-s3-demo-bucket", "bucket-s3alias",
        "bucket--ol-s3", "bucket.mrap", "bucket--x-s3", "bucket--table-s3", "buck\u00e9t",
        "bu cket", ""})
    void invalidBucketNames(String name) {
        assertThat(BucketNames.isValid(name)).as(name).isFalse();
        assertThatThrownBy(() -> BucketNames.validate(name)).isInstanceOfSatisfying(
                S3Exception.class, e -> assertThat(e.error()).isEqualTo(
                        S3Error.InvalidBucketName));
    }

    @Test
    void objectKeysAreLimitedInUtf8Bytes() {
        ObjectKeys.validate("k".repeat(1024));
        ObjectKeys.validate("\u4e2d".repeat(341)); // 1023 bytes
        assertError(() -> ObjectKeys.validate("k".repeat(1025)), S3Error.KeyTooLongError);
        assertError(() -> ObjectKeys.validate("\u4e2d".repeat(342)), S3Error.KeyTooLongError);
        assertError(() -> ObjectKeys.validate("\uD83D\uDE00".repeat(257)),
                S3Error.KeyTooLongError);
        assertError(() -> ObjectKeys.validate(""), S3Error.InvalidArgument);
    }

    @Test
    void uriEncodingFollowsSigV4() {
        assertThat(UriEncoding.encode("AZaz09-_.~", true)).isEqualTo("AZaz09-_.~");
        assertThat(UriEncoding.encode("a b/c+d*e%", true)).isEqualTo("a%20b%2Fc%2Bd%2Ae%25");
        assertThat(UriEncoding.encode("a b/c", false)).isEqualTo("a%20b/c");
        assertThat(UriEncoding.encode("\u00e9\u4e2d\uD83D\uDE00", true))
                .isEqualTo("%C3%A9%E4%B8%AD%F0%9F%98%80");
        assertThat(UriEncoding.decodePath("a+b%20c%2f")).isEqualTo("a+b c/");
        assertThat(UriEncoding.decodeQuery("a+b%20c")).isEqualTo("a b c");
        assertThat(UriEncoding.decodePath("%F0%9F%98%80\u00e9")).isEqualTo("\uD83D\uDE00\u00e9");
        for (String bad : new String[] {"%", "%2", "%zz", "%C3", "%FF", "%ED%A0%80"}) {
            assertError(() -> UriEncoding.decodePath(bad), S3Error.InvalidURI);
        }
    }

    @Test
    void queryParametersKeepOrderRawAndDecodedForms() {
        QueryParameters query = QueryParameters.parse("uploads&prefix=a%20b&prefix=c+d&=x&&"
                + "empty=");
        assertThat(query.all()).extracting(QueryParameters.Parameter::name)
                .containsExactly("uploads", "prefix", "prefix", "", "empty");
        assertThat(query.first("prefix")).isEqualTo("a b");
        assertThat(query.all().get(2).value()).isEqualTo("c d");
        assertThat(query.all().get(2).rawValue()).isEqualTo("c+d");
        assertThat(query.first("uploads")).isEmpty();
        assertThat(query.contains("missing")).isFalse();
        assertThat(QueryParameters.parse(null).isEmpty()).isTrue();
        assertThat(QueryParameters.parse("").isEmpty()).isTrue();
        assertError(() -> QueryParameters.parse("a=%zz"), S3Error.InvalidURI);
        assertError(() -> QueryParameters.parse("a&".repeat(257)), S3Error.InvalidArgument);
        assertThat(QueryParameters.parse("a&".repeat(256)).all()).hasSize(256);
    }

    @Test
    void headersAreCaseInsensitiveMultimaps() {
        RequestHeaders headers = RequestHeaders.builder().add("X-Amz-Meta-A", "1")
                .add("x-amz-meta-a", "2").add("Host", "h").build();
        assertThat(headers.all("X-AMZ-META-A")).containsExactly("1", "2");
        assertThat(headers.first("host")).isEqualTo("h");
        assertThat(headers.first("missing")).isNull();
        assertThat(headers.all("missing")).isEmpty();
        assertThat(headers.names()).containsExactly("host", "x-amz-meta-a");
        assertThat(headers.toBuilder().set("HOST", "g").build().all("host")).containsExactly("g");
        assertThat(RequestHeaders.of(java.util.Map.of("A", List.of("1", "2"))).all("a"))
                .containsExactly("1", "2");
        assertThatThrownBy(() -> RequestHeaders.of("odd")).isInstanceOf(
                IllegalArgumentException.class);
    }

    @Test
    void etagsAreQuotedAndUnquoted() {
        assertThat(ETags.quote("abc")).isEqualTo("\"abc\"");
        assertThat(ETags.quote("\"abc\"")).isEqualTo("\"abc\"");
        assertThat(ETags.unquote(" W/\"abc-2\" ")).isEqualTo("abc-2");
        assertThat(ETags.unquote("abc")).isEqualTo("abc");
        assertThat(ETags.unquote("\"")).isEqualTo("\"");
    }

    @Test
    void errorCodesHaveTheirHttpStatus() {
        assertThat(S3Error.NoSuchKey.httpStatus()).isEqualTo(404);
        assertThat(S3Error.InvalidRange.httpStatus()).isEqualTo(416);
        assertThat(S3Error.MissingContentLength.httpStatus()).isEqualTo(411);
        assertThat(S3Error.NotModified.httpStatus()).isEqualTo(304);
        assertThat(S3Error.PreconditionFailed.httpStatus()).isEqualTo(412);
        assertThat(S3Error.MethodNotAllowed.httpStatus()).isEqualTo(405);
        assertThat(S3Error.NotImplemented.httpStatus()).isEqualTo(501);
        assertThat(S3Error.SlowDown.httpStatus()).isEqualTo(503);
        assertThat(S3Error.BucketNotEmpty.httpStatus()).isEqualTo(409);
        assertThat(S3Error.SignatureDoesNotMatch.httpStatus()).isEqualTo(403);
        assertThat(S3Error.KeyTooLongError.code()).isEqualTo("KeyTooLongError");
        for (S3Error error : S3Error.values()) {
            assertThat(error.defaultMessage()).isNotBlank();
            assertThat(error.httpStatus()).isBetween(300, 599);
        }
        S3Exception e = new S3Exception(S3Error.NoSuchBucket);
        assertThat(e.getMessage()).isEqualTo(S3Error.NoSuchBucket.defaultMessage());
        assertThat(e.getStackTrace()).isEmpty();
        assertThat(e).hasToString("NoSuchBucket: " + e.getMessage());
    }

    static void assertError(Runnable action, S3Error error) {
        assertThatThrownBy(action::run).isInstanceOfSatisfying(S3Exception.class,
                e -> assertThat(e.error()).as(e.toString()).isEqualTo(error));
    }
}
