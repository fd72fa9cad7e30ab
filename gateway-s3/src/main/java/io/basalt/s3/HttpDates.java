package io.basalt.s3;

import java.time.DateTimeException;
import java.time.Instant;
import java.time.LocalDateTime;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.time.format.DateTimeFormatterBuilder;
import java.time.format.ResolverStyle;
import java.time.format.SignStyle;
import java.time.temporal.ChronoField;
import java.util.Locale;

/**
 * The date formats of the S3 protocol:
 * <ul>
 *   <li>HTTP dates (RFC 7231 section 7.1.1.1): written as IMF-fixdate
 *       ({@code Fri, 24 May 2013 00:00:00 GMT}, RFC 1123 with a two-digit day); read in all
 *       three forms a recipient must accept: IMF-fixdate, obsolete RFC 850
 *       ({@code Friday, 24-May-13 00:00:00 GMT}) and asctime
 *       ({@code Fri May 24 00:00:00 2013});</li>
 *   <li>SigV4 timestamps ({@code x-amz-date}, {@code X-Amz-Date}): ISO 8601 basic,
 *       {@code 20130524T000000Z};</li>
 *   <li>XML timestamps ({@code LastModified}): ISO 8601 with milliseconds,
 *       {@code 2013-05-24T00:00:00.000Z}.</li>
 * </ul>
 * Parsers return null for text that is not a date: for conditional headers an invalid date is
 * ignored (RFC 7232), while SigV4 turns it into an error of its own.
 */
public final class HttpDates {
    private static final DateTimeFormatter IMF_FIXDATE = DateTimeFormatter
            .ofPattern("EEE, dd MMM yyyy HH:mm:ss 'GMT'", Locale.US)
            .withZone(ZoneOffset.UTC).withResolverStyle(ResolverStyle.STRICT)
            .withChronology(java.time.chrono.IsoChronology.INSTANCE);
    private static final DateTimeFormatter IMF_FIXDATE_PARSER = new DateTimeFormatterBuilder()
            .parseCaseInsensitive()
            .appendPattern("EEE, dd MMM uuuu HH:mm:ss 'GMT'")
            .toFormatter(Locale.US).withResolverStyle(ResolverStyle.STRICT);
    private static final DateTimeFormatter RFC_850 = new DateTimeFormatterBuilder()
            .parseCaseInsensitive()
            .appendPattern("EEEE, dd-MMM-")
            .appendValueReduced(ChronoField.YEAR, 2, 2, 1970)
            .appendPattern(" HH:mm:ss 'GMT'")
            .toFormatter(Locale.US).withResolverStyle(ResolverStyle.STRICT);
    private static final DateTimeFormatter ASCTIME = new DateTimeFormatterBuilder()
            .parseCaseInsensitive()
            .appendPattern("EEE MMM ")
            .padNext(2)
            .appendValue(ChronoField.DAY_OF_MONTH, 1, 2, SignStyle.NOT_NEGATIVE)
            .appendPattern(" HH:mm:ss uuuu")
            .toFormatter(Locale.US).withResolverStyle(ResolverStyle.STRICT);
    private static final DateTimeFormatter AMZ_DATE = DateTimeFormatter
            .ofPattern("uuuuMMdd'T'HHmmss'Z'", Locale.US).withResolverStyle(ResolverStyle.STRICT);
    private static final DateTimeFormatter ISO_MILLIS = DateTimeFormatter
            .ofPattern("uuuu-MM-dd'T'HH:mm:ss.SSS'Z'", Locale.US).withZone(ZoneOffset.UTC);

    private HttpDates() {}

    /** IMF-fixdate of {@code instant}, to the second. */
    public static String formatHttpDate(Instant instant) {
        return IMF_FIXDATE.format(instant);
    }

    /** An HTTP date in any of the three forms, or null when {@code text} is none of them. */
    public static Instant parseHttpDate(String text) {
        if (text == null) {
            return null;
        }
        String value = text.strip();
        for (DateTimeFormatter format : new DateTimeFormatter[] {IMF_FIXDATE_PARSER, RFC_850,
                ASCTIME}) {
            try {
                return LocalDateTime.parse(value, format).toInstant(ZoneOffset.UTC);
            } catch (DateTimeException e) {
                // Not this form; try the next.
            }
        }
        return null;
    }

    /** {@code 20130524T000000Z}. */
    public static String formatAmzDate(Instant instant) {
        return AMZ_DATE.format(LocalDateTime.ofInstant(instant, ZoneOffset.UTC));
    }

    /** An ISO 8601 basic timestamp ({@code 20130524T000000Z}), or null. */
    public static Instant parseAmzDate(String text) {
        if (text == null || text.length() != 16) {
            return null;
        }
        try {
            return LocalDateTime.parse(text, AMZ_DATE).toInstant(ZoneOffset.UTC);
        } catch (DateTimeException e) {
            return null;
        }
    }

    /** {@code 2013-05-24T00:00:00.000Z}, as S3 XML writes LastModified and Initiated. */
    public static String formatIso8601(Instant instant) {
        return ISO_MILLIS.format(instant);
    }
}
