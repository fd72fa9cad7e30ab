package io.basalt.s3.auth;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.s3.QueryParameters;
import io.basalt.s3.RequestHeaders;
import io.basalt.s3.S3Error;
import io.basalt.s3.S3Exception;
import java.util.List;
import org.assertj.core.api.Assertions;
import org.junit.jupiter.api.Test;

class CanonicalRequestTest {
    @Test
    void awsGetObjectExampleCanonicalRequest() {
        // "Example: GET Object": the canonical request and string to sign as documented.
        RequestHeaders headers = AwsExamples.getObjectHeaders().build();
        String canonical = CanonicalRequest.build("GET", "/test.txt", QueryParameters.empty(),
                null, headers, List.of("host", "range", "x-amz-content-sha256", "x-amz-date"),
                SigV4Crypto.EMPTY_SHA256);
        assertThat(canonical).isEqualTo("GET\n/test.txt\n\n"
                + "host:examplebucket.s3.amazonaws.com\nrange:bytes=0-9\n"
                + "x-amz-content-sha256:" + SigV4Crypto.EMPTY_SHA256 + "\n"
                + "x-amz-date:20130524T000000Z\n\n"
                + "host;range;x-amz-content-sha256;x-amz-date\n" + SigV4Crypto.EMPTY_SHA256);
        CredentialScope scope = new CredentialScope("20130524", "us-east-1", "s3");
        assertThat(SigV4Crypto.stringToSign("20130524T000000Z", scope, canonical))
                .isEqualTo("AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/"
                        + "aws4_request\n"
                        + "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
    }

    @Test
    void uriIsDecodedAndEncodedPerSegmentWithoutNormalizing() {
        assertThat(CanonicalRequest.canonicalUri("")).isEqualTo("/");
        assertThat(CanonicalRequest.canonicalUri("/")).isEqualTo("/");
        assertThat(CanonicalRequest.canonicalUri("/b/a b/c%2Fd/./../e//")).isEqualTo(
                "/b/a%20b/c%2Fd/./../e//");
        assertThat(CanonicalRequest.canonicalUri("/k/%7E~*+")).isEqualTo("/k/~~%2A%2B");
        Assertions.assertThatThrownBy(() -> CanonicalRequest.canonicalUri("k"))
                .isInstanceOfSatisfying(S3Exception.class, e -> assertThat(e.error())
                        .isEqualTo(S3Error.InvalidURI));
    }

    @Test
    void querySortsByEncodedNameThenValue() {
        assertThat(CanonicalRequest.canonicalQuery(QueryParameters.parse(
                "b=2&a=2&a=1&uploads&A=z&a%20b=x+y&X-Amz-Signature=s"), "X-Amz-Signature"))
                .isEqualTo("A=z&a=1&a=2&a%20b=x%20y&b=2&uploads=");
        assertThat(CanonicalRequest.canonicalQuery(QueryParameters.parse(
                "prefix=a/b&marker=%7e"), null)).isEqualTo("marker=~&prefix=a%2Fb");
    }

    @Test
    void headerValuesAreTrimmedCollapsedAndJoined() {
        assertThat(CanonicalRequest.canonicalHeaderValue(List.of("  a   b\t\tc  ", "d")))
                .isEqualTo("a b c,d");
        assertThat(CanonicalRequest.canonicalHeaderValue(List.of())).isEmpty();
    }
}
