package io.basalt.s3.xml;

import io.basalt.s3.HttpDates;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.Deque;

/**
 * A small streaming XML writer for S3 responses: elements are written in order, nothing is
 * kept but the stack of open element names. Text is escaped for XML 1.0: {@code & < > " '} as
 * entities and every other character below U+0020 (and U+007F..U+009F, and {@code \r} so it
 * survives newline normalization) as a character reference, as S3 itself writes keys holding
 * such characters; clients that cannot read those ask for {@code EncodingType=url}.
 *
 * <p>Output is built in a StringBuilder: a ListObjects page of 1000 keys is well under a
 * MiB, and building it first lets the server send a Content-Length. Not thread-safe.
 */
public final class XmlWriter {
    /** The S3 namespace of every response document but Error. */
    public static final String S3_NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/";

    private final StringBuilder out = new StringBuilder(1024);
    private final Deque<String> open = new ArrayDeque<>();
    private boolean rootWritten;

    /** A document starting with the XML declaration. */
    public XmlWriter() {
        out.append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    }

    /** Opens the root element in the S3 namespace. */
    public XmlWriter startRoot(String name) {
        return startRoot(name, S3_NAMESPACE);
    }

    /** Opens the root element, in {@code namespace} unless it is null. */
    public XmlWriter startRoot(String name, String namespace) {
        if (rootWritten) {
            throw new IllegalStateException("root element already written");
        }
        rootWritten = true;
        out.append('<').append(name);
        if (namespace != null) {
            out.append(" xmlns=\"");
            escape(namespace);
            out.append('"');
        }
        out.append('>');
        open.push(name);
        return this;
    }

    public XmlWriter start(String name) {
        if (open.isEmpty()) {
            throw new IllegalStateException("start(" + name + ") outside the root element");
        }
        out.append('<').append(name).append('>');
        open.push(name);
        return this;
    }

    public XmlWriter end() {
        if (open.isEmpty()) {
            throw new IllegalStateException("end() with no open element");
        }
        out.append("</").append(open.pop()).append('>');
        return this;
    }

    /** Text inside the innermost open element. */
    public XmlWriter text(String text) {
        if (open.isEmpty()) {
            throw new IllegalStateException("text outside the root element");
        }
        escape(text);
        return this;
    }

    /** {@code <name>text</name>}; {@code <name></name>} for empty text. */
    public XmlWriter element(String name, String text) {
        start(name);
        escape(text);
        return end();
    }

    /** The element only when {@code text} is not null. */
    public XmlWriter optionalElement(String name, String text) {
        return text == null ? this : element(name, text);
    }

    public XmlWriter element(String name, long value) {
        return element(name, Long.toString(value));
    }

    public XmlWriter element(String name, boolean value) {
        return element(name, Boolean.toString(value));
    }

    /** An ISO 8601 timestamp with milliseconds, as S3 writes LastModified. */
    public XmlWriter element(String name, Instant instant) {
        return element(name, HttpDates.formatIso8601(instant));
    }

    /** The document; every element must be closed. */
    public String toXml() {
        if (!open.isEmpty()) {
            throw new IllegalStateException("elements still open: " + open);
        }
        return out.toString();
    }

    public byte[] toBytes() {
        return toXml().getBytes(StandardCharsets.UTF_8);
    }

    private void escape(String text) {
        int length = text.length();
        for (int i = 0; i < length; i++) {
            char c = text.charAt(i);
            switch (c) {
                case '&' -> out.append("&amp;");
                case '<' -> out.append("&lt;");
                case '>' -> out.append("&gt;");
                case '"' -> out.append("&quot;");
                case '\'' -> out.append("&apos;");
                default -> {
                    if ((c < 0x20 && c != '\t' && c != '\n') || (c >= 0x7F && c <= 0x9F)) {
                        out.append("&#x").append(Integer.toHexString(c).toUpperCase(
                                java.util.Locale.ROOT)).append(';');
                    } else {
                        out.append(c);
                    }
                }
            }
        }
    }
}
