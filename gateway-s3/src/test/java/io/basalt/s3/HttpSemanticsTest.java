package io.basalt.s3;

import static io.basalt.s3.NamesAndEncodingTest.assertError;
import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.s3.Preconditions.Outcome;
import java.time.Instant;
import java.util.Optional;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** Dates, ranges and conditional requests. */
class HttpSemanticsTest {
    private static final Instant MODIFIED = Instant.parse("2013-05-24T00:00:00.700Z");
    private static final String ETAG = "abc";

    @Test
    void httpDatesInAllThreeForms() {
        Instant expected = Instant.parse("1994-11-06T08:49:37Z");
        assertThat(HttpDates.parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT")).isEqualTo(expected);
        assertThat(HttpDates.parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT"))
                .isEqualTo(expected);
        assertThat(HttpDates.parseHttpDate("Sun Nov  6 08:49:37 1994")).isEqualTo(expected);
        assertThat(HttpDates.parseHttpDate("Wed Nov 16 08:49:37 1994"))
                .isEqualTo(Instant.parse("1994-11-16T08:49:37Z"));
        assertThat(HttpDates.formatHttpDate(Instant.parse("2013-05-04T00:00:09.999Z")))
                .isEqualTo("Sat, 04 May 2013 00:00:09 GMT");
        for (String bad : new String[] {"", "yesterday", "Mon, 06 Nov 1994 08:49:37 GMT",
            "Sun, 31 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT", "1994-11-06"}) {
            assertThat(HttpDates.parseHttpDate(bad)).as(bad).isNull();
        }
        assertThat(HttpDates.parseHttpDate(null)).isNull();
    }

    @Test
    void amzAndIsoDates() {
        assertThat(HttpDates.parseAmzDate("20130524T000000Z"))
                .isEqualTo(Instant.parse("2013-05-24T00:00:00Z"));
        assertThat(HttpDates.formatAmzDate(Instant.parse("2013-05-24T01:02:03.9Z")))
                .isEqualTo("20130524T010203Z");
        for (String bad : new String[] {"20130524T000000", "20130532T000000Z",
            "2013-05-24T00:00:00Z", "20130524T240000Z", "x0130524T000000Z"}) {
            assertThat(HttpDates.parseAmzDate(bad)).as(bad).isNull();
        }
        assertThat(HttpDates.formatIso8601(Instant.parse("2013-05-24T00:00:00Z")))
                .isEqualTo("2013-05-24T00:00:00.000Z");
    }

    @ParameterizedTest(name = "{0} of {1} bytes -> {2}-{3}")
    @CsvSource(nullValues = "null", textBlock = """
            bytes=0-9,        100, 0,  9
            bytes=0-0,        100, 0,  0
            bytes=90-,        100, 90, 99
            bytes=95-200,     100, 95, 99
            bytes=-10,        100, 90, 99
            bytes=-1000,      100, 0,  99
            BYTES= 5 - 6 ,    100, 5,  6
            bytes=0-,         1,   0,  0
            """)
    void satisfiableRanges(String header, long size, long first, long last) {
        assertThat(RangeHeader.resolve(header, size)).contains(new ByteRange(first, last));
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', textBlock = """
            bytes=0-1,5-6
            bytes=5-2
            items=0-1
            bytes=x-1
            bytes=-
            bytes=1
            bytes=1-2-3
            bytes=99999999999999999999-
            """)
    void ignoredRangesServeTheWholeObject(String header) {
        assertThat(RangeHeader.resolve(header, 100)).as(header).isEmpty();
    }

    @Test
    void unsatisfiableRangesAreInvalidRange() {
        assertError(() -> RangeHeader.resolve("bytes=100-", 100), S3Error.InvalidRange);
        assertError(() -> RangeHeader.resolve("bytes=100-200", 100), S3Error.InvalidRange);
        assertError(() -> RangeHeader.resolve("bytes=-0", 100), S3Error.InvalidRange);
        assertError(() -> RangeHeader.resolve("bytes=0-0", 0), S3Error.InvalidRange);
        assertError(() -> RangeHeader.resolve("bytes=-5", 0), S3Error.InvalidRange);
        assertThat(RangeHeader.resolve(null, 0)).isEqualTo(Optional.empty());
        assertThat(new ByteRange(90, 99).contentRange(100)).isEqualTo("bytes 90-99/100");
        assertThat(new ByteRange(90, 99).lengthBytes()).isEqualTo(10);
    }

    @Test
    void copySourceRanges() {
        assertThat(RangeHeader.parseCopySourceRange("bytes=0-99", 100))
                .isEqualTo(new ByteRange(0, 99));
        assertError(() -> RangeHeader.parseCopySourceRange("bytes=0-100", 100),
                S3Error.InvalidRange);
        for (String bad : new String[] {"bytes=5-", "bytes=-5", "bytes=5-4", "0-4",
            "bytes=a-b"}) {
            assertError(() -> RangeHeader.parseCopySourceRange(bad, 100),
                    S3Error.InvalidArgument);
        }
    }

    @ParameterizedTest(name = "{0} {1}={2} {3}={4} -> {5}")
    @CsvSource(delimiter = '|', nullValues = "null", textBlock = """
            GET  | if-match            | "abc"                         | null | null | PROCEED
            GET  | if-match            | "x", "abc"                    | null | null | PROCEED
            GET  | if-match            | *                             | null | null | PROCEED
            GET  | if-match            | "x"                           | null | null | PRECONDITION_FAILED
            GET  | if-match            | W/"abc"                       | null | null | PRECONDITION_FAILED
            PUT  | if-match            | "x"                           | null | null | PRECONDITION_FAILED
            GET  | if-none-match       | "abc"                         | null | null | NOT_MODIFIED
            HEAD | if-none-match       | W/"abc"                       | null | null | NOT_MODIFIED
            GET  | if-none-match       | *                             | null | null | NOT_MODIFIED
            PUT  | if-none-match       | *                             | null | null | PRECONDITION_FAILED
            DELETE | if-none-match     | "abc"                         | null | null | PRECONDITION_FAILED
            GET  | if-none-match       | "x"                           | null | null | PROCEED
            GET  | if-modified-since   | Fri, 24 May 2013 00:00:00 GMT | null | null | NOT_MODIFIED
            GET  | if-modified-since   | Thu, 23 May 2013 23:59:59 GMT | null | null | PROCEED
            PUT  | if-modified-since   | Fri, 24 May 2013 00:00:00 GMT | null | null | PROCEED
            GET  | if-modified-since   | garbage                       | null | null | PROCEED
            GET  | if-unmodified-since | Fri, 24 May 2013 00:00:00 GMT | null | null | PROCEED
            GET  | if-unmodified-since | Thu, 23 May 2013 23:59:59 GMT | null | null | PRECONDITION_FAILED
            PUT  | if-unmodified-since | Thu, 23 May 2013 23:59:59 GMT | null | null | PRECONDITION_FAILED
            GET  | if-match            | "abc" | if-unmodified-since | Thu, 23 May 2013 23:59:59 GMT | PROCEED
            GET  | if-match            | "x"   | if-unmodified-since | Fri, 24 May 2013 00:00:00 GMT | PRECONDITION_FAILED
            GET  | if-none-match       | "x"   | if-modified-since   | Fri, 24 May 2013 00:00:00 GMT | PROCEED
            GET  | if-none-match       | "abc" | if-modified-since   | Thu, 23 May 2013 23:59:59 GMT | NOT_MODIFIED
            GET  | if-match            | "abc" | if-none-match       | "abc"                         | NOT_MODIFIED
            GET  | if-match            | "x"   | if-none-match       | "x"                           | PRECONDITION_FAILED
            """)
    void preconditionsFollowRfc7232Order(String method, String name1, String value1,
            String name2, String value2, Outcome expected) {
        RequestHeaders.Builder headers = RequestHeaders.builder().add(name1, value1);
        if (name2 != null) {
            headers.add(name2, value2);
        }
        assertThat(Preconditions.evaluate(method, headers.build(), "\"" + ETAG + "\"",
                MODIFIED)).isEqualTo(expected);
    }

    @Test
    void preconditionsWithoutACurrentObject() {
        RequestHeaders ifNoneMatchAny = RequestHeaders.of("If-None-Match", "*");
        assertThat(Preconditions.evaluate("PUT", ifNoneMatchAny, null, null))
                .isEqualTo(Outcome.PROCEED);
        assertThat(Preconditions.evaluate("PUT", RequestHeaders.of("If-Match", "*"), null, null))
                .isEqualTo(Outcome.PRECONDITION_FAILED);
        assertThat(Preconditions.evaluate("GET", RequestHeaders.empty(), ETAG, MODIFIED))
                .isEqualTo(Outcome.PROCEED);
        Outcome.PROCEED.throwIfNotProceed();
        assertError(Outcome.NOT_MODIFIED::throwIfNotProceed, S3Error.NotModified);
        assertError(Outcome.PRECONDITION_FAILED::throwIfNotProceed, S3Error.PreconditionFailed);
    }
}
