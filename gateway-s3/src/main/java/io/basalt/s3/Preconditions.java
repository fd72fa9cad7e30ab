package io.basalt.s3;

import java.time.Instant;
import java.time.temporal.ChronoUnit;

/**
 * Conditional requests: {@code If-Match}, {@code If-None-Match}, {@code If-Modified-Since},
 * {@code If-Unmodified-Since}, evaluated in the order of RFC 7232 section 6, which S3 follows
 * (the GetObject reference spells out the two pairs below):
 * <ol>
 *   <li>If-Match present: false means 412. When present, If-Unmodified-Since is not looked at
 *       (S3: If-Match true and If-Unmodified-Since false answers 200).</li>
 *   <li>Else If-Unmodified-Since with a valid date: modified after it means 412.</li>
 *   <li>If-None-Match present: false (an ETag matches) means 304 for GET and HEAD, 412 for any
 *       other method. When present, If-Modified-Since is not looked at.</li>
 *   <li>Else, for GET and HEAD only, If-Modified-Since with a valid date: not modified since
 *       means 304.</li>
 * </ol>
 * ETags compare strongly for If-Match and weakly for If-None-Match ({@code W/} ignored); S3's
 * ETags are strong anyway. {@code *} matches any current object. Dates compare to the second,
 * the resolution of HTTP dates; an invalid date is ignored. A null current ETag means there is
 * no current object (PutObject with {@code If-None-Match: *}): If-Match is then false and
 * If-None-Match true.
 */
public final class Preconditions {
    /** What a request's conditions allow. */
    public enum Outcome {
        PROCEED,
        /** 304, no body: only for GET and HEAD. */
        NOT_MODIFIED,
        /** 412 PreconditionFailed. */
        PRECONDITION_FAILED;

        /** Throws the matching S3 error unless the outcome is {@link #PROCEED}. */
        public void throwIfNotProceed() {
            switch (this) {
                case PROCEED -> { }
                case NOT_MODIFIED -> throw new S3Exception(S3Error.NotModified);
                case PRECONDITION_FAILED -> throw new S3Exception(S3Error.PreconditionFailed);
            }
        }
    }

    private Preconditions() {}

    /**
     * @param method the HTTP method, uppercase
     * @param currentEtag the current object's ETag (bare or quoted), null when there is none
     * @param lastModified the current object's modification time, null when there is none
     */
    public static Outcome evaluate(String method, RequestHeaders headers, String currentEtag,
            Instant lastModified) {
        boolean readOnly = method.equals("GET") || method.equals("HEAD");
        String ifMatch = headers.first("if-match");
        if (ifMatch != null) {
            if (!matches(ifMatch, currentEtag, false)) {
                return Outcome.PRECONDITION_FAILED;
            }
        } else {
            Instant ifUnmodifiedSince = HttpDates.parseHttpDate(headers.first(
                    "if-unmodified-since"));
            if (ifUnmodifiedSince != null && lastModified != null
                    && seconds(lastModified).isAfter(ifUnmodifiedSince)) {
                return Outcome.PRECONDITION_FAILED;
            }
        }
        String ifNoneMatch = headers.first("if-none-match");
        if (ifNoneMatch != null) {
            if (matches(ifNoneMatch, currentEtag, true)) {
                return readOnly ? Outcome.NOT_MODIFIED : Outcome.PRECONDITION_FAILED;
            }
        } else if (readOnly) {
            Instant ifModifiedSince = HttpDates.parseHttpDate(headers.first("if-modified-since"));
            if (ifModifiedSince != null && lastModified != null
                    && !seconds(lastModified).isAfter(ifModifiedSince)) {
                return Outcome.NOT_MODIFIED;
            }
        }
        return Outcome.PROCEED;
    }

    /** Whether the comma-separated ETag list (or {@code *}) names the current ETag. */
    private static boolean matches(String list, String currentEtag, boolean weak) {
        if (currentEtag == null) {
            return false;
        }
        String current = ETags.unquote(currentEtag);
        for (String candidate : list.split(",")) {
            String value = candidate.strip();
            if (value.equals("*")) {
                return true;
            }
            if (!weak && value.startsWith("W/")) {
                continue; // A weak tag never matches strongly.
            }
            if (ETags.unquote(value).equals(current)) {
                return true;
            }
        }
        return false;
    }

    private static Instant seconds(Instant instant) {
        return instant.truncatedTo(ChronoUnit.SECONDS);
    }
}
