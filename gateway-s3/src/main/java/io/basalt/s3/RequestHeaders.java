package io.basalt.s3;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.SortedSet;
import java.util.TreeMap;
import java.util.TreeSet;

/**
 * An HTTP header multimap with case-insensitive names: immutable, names kept lowercase, values in
 * arrival order. This is what the HTTP server hands the protocol layer, so it stays free of any
 * server's header type.
 */
public final class RequestHeaders {
    private static final RequestHeaders EMPTY = new RequestHeaders(new TreeMap<>());

    private final TreeMap<String, List<String>> valuesByName;

    private RequestHeaders(TreeMap<String, List<String>> valuesByName) {
        this.valuesByName = valuesByName;
    }

    public static RequestHeaders empty() {
        return EMPTY;
    }

    /** From name to values; names in any case (names differing only in case are merged). */
    public static RequestHeaders of(Map<String, ? extends List<String>> headers) {
        Builder builder = builder();
        headers.forEach((name, values) -> values.forEach(value -> builder.add(name, value)));
        return builder.build();
    }

    /** From alternating names and values: {@code of("Host", "a", "Range", "bytes=0-1")}. */
    public static RequestHeaders of(String... namesAndValues) {
        if (namesAndValues.length % 2 != 0) {
            throw new IllegalArgumentException("names and values come in pairs, got "
                    + namesAndValues.length + " strings");
        }
        Builder builder = builder();
        for (int i = 0; i < namesAndValues.length; i += 2) {
            builder.add(namesAndValues[i], namesAndValues[i + 1]);
        }
        return builder.build();
    }

    public static Builder builder() {
        return new Builder();
    }

    /**
     * A header value as an HTTP server hands it over (Jetty and Netty make each byte one
     * ISO-8859-1 char), read as UTF-8 when its bytes are valid UTF-8, else kept as is.
     *
     * <p>Why: clients send non-ASCII header values (user metadata) as UTF-8 bytes (boto3, the
     * SDKs) and sign the decoded text; read byte by byte, "é" would become "Ã©" and the
     * signature would not match. A value that is not valid UTF-8 (a lone Latin-1 byte) stays
     * Latin-1, which is what a client that sent it that way signed.
     */
    public static String fromWireValue(String value) {
        int firstNonAscii = -1;
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (c > 0xFF) {
                return value; // not from the wire: already decoded text
            }
            if (c >= 0x80 && firstNonAscii < 0) {
                firstNonAscii = i;
            }
        }
        if (firstNonAscii < 0) {
            return value;
        }
        byte[] bytes = value.getBytes(StandardCharsets.ISO_8859_1);
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            return value;
        }
    }

    /** The first value of the header, or null when absent. */
    public String first(String name) {
        List<String> values = valuesByName.get(lower(name));
        return values == null ? null : values.getFirst();
    }

    /** Every value of the header in arrival order; empty when absent. */
    public List<String> all(String name) {
        List<String> values = valuesByName.get(lower(name));
        return values == null ? List.of() : values;
    }

    public boolean contains(String name) {
        return valuesByName.containsKey(lower(name));
    }

    /** The lowercase names present, sorted. */
    public SortedSet<String> names() {
        return Collections.unmodifiableSortedSet(new TreeSet<>(valuesByName.keySet()));
    }

    /** A builder holding these headers, to add or replace some. */
    public Builder toBuilder() {
        Builder builder = new Builder();
        valuesByName.forEach((name, values) -> builder.valuesByName.put(name,
                new ArrayList<>(values)));
        return builder;
    }

    @Override
    public String toString() {
        return valuesByName.toString();
    }

    private static String lower(String name) {
        return name.toLowerCase(Locale.ROOT);
    }

    /** Collects headers; not thread-safe. */
    public static final class Builder {
        private final TreeMap<String, List<String>> valuesByName = new TreeMap<>();

        private Builder() {}

        public Builder add(String name, String value) {
            Objects.requireNonNull(value, "value");
            valuesByName.computeIfAbsent(lower(name), n -> new ArrayList<>()).add(value);
            return this;
        }

        /** Replaces every value of the header. */
        public Builder set(String name, String value) {
            remove(name);
            return add(name, value);
        }

        public Builder remove(String name) {
            valuesByName.remove(lower(name));
            return this;
        }

        public RequestHeaders build() {
            TreeMap<String, List<String>> copy = new TreeMap<>();
            valuesByName.forEach((name, values) -> copy.put(name, List.copyOf(values)));
            return new RequestHeaders(copy);
        }
    }
}
