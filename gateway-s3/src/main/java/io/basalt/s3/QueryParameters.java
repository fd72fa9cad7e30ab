package io.basalt.s3;

import java.util.ArrayList;
import java.util.List;

/**
 * The parameters of a raw query string, in arrival order, each with its raw (as sent) and
 * decoded name and value. A parameter without {@code =} (a subresource such as {@code ?uploads})
 * has an empty value. Repeated names are kept; {@link #first} answers the first.
 */
public final class QueryParameters {
    /** Bound on the number of parameters: no S3 operation needs more than a few dozen. */
    public static final int PARAMETER_COUNT_MAX = 256;

    private static final QueryParameters EMPTY = new QueryParameters(List.of());

    /** One {@code name[=value]} pair. */
    public record Parameter(String rawName, String rawValue, String name, String value) {}

    private final List<Parameter> parameters;

    private QueryParameters(List<Parameter> parameters) {
        this.parameters = parameters;
    }

    public static QueryParameters empty() {
        return EMPTY;
    }

    /**
     * Parses {@code rawQuery} (after the {@code ?}, null or empty for none). Empty pieces
     * ({@code a&&b}) are skipped.
     *
     * @throws S3Exception InvalidURI for a bad escape, InvalidArgument past
     *     {@link #PARAMETER_COUNT_MAX} parameters
     */
    public static QueryParameters parse(String rawQuery) {
        if (rawQuery == null || rawQuery.isEmpty()) {
            return EMPTY;
        }
        List<Parameter> parameters = new ArrayList<>();
        int start = 0;
        while (start <= rawQuery.length()) {
            int end = rawQuery.indexOf('&', start);
            if (end < 0) {
                end = rawQuery.length();
            }
            if (end > start) {
                if (parameters.size() == PARAMETER_COUNT_MAX) {
                    throw new S3Exception(S3Error.InvalidArgument, "more than "
                            + PARAMETER_COUNT_MAX + " query parameters");
                }
                String piece = rawQuery.substring(start, end);
                int equals = piece.indexOf('=');
                String rawName = equals < 0 ? piece : piece.substring(0, equals);
                String rawValue = equals < 0 ? "" : piece.substring(equals + 1);
                parameters.add(new Parameter(rawName, rawValue, UriEncoding.decodeQuery(rawName),
                        UriEncoding.decodeQuery(rawValue)));
            }
            start = end + 1;
        }
        return new QueryParameters(List.copyOf(parameters));
    }

    public List<Parameter> all() {
        return parameters;
    }

    public boolean contains(String name) {
        for (Parameter parameter : parameters) {
            if (parameter.name().equals(name)) {
                return true;
            }
        }
        return false;
    }

    /** The decoded value of the first parameter named {@code name}, or null. */
    public String first(String name) {
        for (Parameter parameter : parameters) {
            if (parameter.name().equals(name)) {
                return parameter.value();
            }
        }
        return null;
    }

    public boolean isEmpty() {
        return parameters.isEmpty();
    }

    @Override
    public String toString() {
        return parameters.toString();
    }
}
