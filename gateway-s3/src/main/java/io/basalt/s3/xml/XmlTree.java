package io.basalt.s3.xml;

import io.basalt.s3.S3Error;
import io.basalt.s3.S3Exception;
import java.io.StringReader;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.List;
import javax.xml.stream.XMLInputFactory;
import javax.xml.stream.XMLStreamConstants;
import javax.xml.stream.XMLStreamException;
import javax.xml.stream.XMLStreamReader;

/**
 * A request body parsed into a small element tree, safely: the JDK's own StAX parser with DTDs
 * and external entities off (a {@code <!DOCTYPE>} is refused outright, so no entity expansion
 * of any kind), bounded depth, element count and text length. Request bodies are capped before
 * they get here ({@link RequestXml}), so the tree is small. Namespaces are ignored: clients
 * send the S3 namespace or none.
 */
final class XmlTree {
    /** Deepest nesting of any S3 request body is 4 (Delete/Object/Key); a margin on top. */
    static final int DEPTH_MAX = 8;
    /** CompleteMultipartUpload with 10,000 parts of 4 or 5 elements each, and a margin. */
    static final int ELEMENT_COUNT_MAX = 80_000;
    /** Longest element text, in chars: a 1024-byte key is at most 1024 chars. */
    static final int TEXT_LENGTH_MAX = 4096;

    private static final XMLInputFactory FACTORY = newFactory();

    /**
     * An element: local name, text (trimmed, for leaves), the text as sent (for values where
     * whitespace is data: an object key may be " "), children in order.
     */
    record Element(String name, String text, String rawText, List<Element> children) {
        /** The first child named {@code childName}, or null. */
        Element child(String childName) {
            for (Element child : children) {
                if (child.name.equals(childName)) {
                    return child;
                }
            }
            return null;
        }

        /** The untrimmed text of the first child named {@code childName}, or null. */
        String childRawText(String childName) {
            Element child = child(childName);
            return child == null ? null : child.rawText;
        }

        /** The text of the first child named {@code childName}, or null. */
        String childText(String childName) {
            Element child = child(childName);
            return child == null ? null : child.text;
        }

        List<Element> children(String childName) {
            List<Element> matching = new ArrayList<>();
            for (Element child : children) {
                if (child.name.equals(childName)) {
                    matching.add(child);
                }
            }
            return matching;
        }
    }

    private XmlTree() {}

    /**
     * Parses {@code body}, whose root must be {@code rootName}.
     *
     * @throws S3Exception MalformedXML when the body is not well-formed, has a DTD, exceeds a
     *     bound or has another root
     */
    static Element parse(byte[] body, String rootName) {
        if (body.length == 0) {
            throw malformed("the request body is empty; expected <" + rootName + ">");
        }
        XMLStreamReader reader = null;
        try {
            // Decoded here, strictly, rather than by the parser: the JDK parser prints encoding
            // errors to stderr, which a bad request must not do. S3 bodies are UTF-8.
            reader = FACTORY.createXMLStreamReader(new StringReader(decodeUtf8(body)));
            Deque<String> names = new ArrayDeque<>();
            Deque<StringBuilder> texts = new ArrayDeque<>();
            Deque<List<Element>> children = new ArrayDeque<>();
            Element root = null;
            int elementCount = 0;
            while (reader.hasNext()) {
                int event = reader.next();
                switch (event) {
                    case XMLStreamConstants.DTD, XMLStreamConstants.ENTITY_REFERENCE,
                            XMLStreamConstants.ENTITY_DECLARATION ->
                        throw malformed("DTDs and entities are not allowed");
                    case XMLStreamConstants.START_ELEMENT -> {
                        if (root != null) {
                            throw malformed("content after the root element");
                        }
                        if (++elementCount > ELEMENT_COUNT_MAX) {
                            throw malformed("more than " + ELEMENT_COUNT_MAX + " elements");
                        }
                        if (names.size() == DEPTH_MAX) {
                            throw malformed("elements nested deeper than " + DEPTH_MAX);
                        }
                        String name = reader.getLocalName();
                        if (names.isEmpty() && !name.equals(rootName)) {
                            throw malformed("root element is <" + name + ">, expected <"
                                    + rootName + ">");
                        }
                        names.push(name);
                        texts.push(new StringBuilder());
                        children.push(new ArrayList<>());
                    }
                    case XMLStreamConstants.CHARACTERS, XMLStreamConstants.CDATA,
                            XMLStreamConstants.SPACE -> {
                        if (!texts.isEmpty()) {
                            StringBuilder text = texts.peek();
                            text.append(reader.getText());
                            if (text.length() > TEXT_LENGTH_MAX) {
                                throw malformed("element <" + names.peek() + "> text is longer"
                                        + " than " + TEXT_LENGTH_MAX + " characters");
                            }
                        }
                    }
                    case XMLStreamConstants.END_ELEMENT -> {
                        String rawText = texts.pop().toString();
                        Element element = new Element(names.pop(), rawText.strip(), rawText,
                                List.copyOf(children.pop()));
                        if (children.isEmpty()) {
                            root = element;
                        } else {
                            children.peek().add(element);
                        }
                    }
                    default -> { } // comments, processing instructions, document end
                }
            }
            if (root == null) {
                throw malformed("no root element");
            }
            return root;
        } catch (XMLStreamException e) {
            throw malformed("not well-formed: " + firstLine(e.getMessage()));
        } finally {
            if (reader != null) {
                try {
                    reader.close();
                } catch (XMLStreamException e) {
                    // Nothing to release for an in-memory source.
                }
            }
        }
    }

    private static String decodeUtf8(byte[] body) {
        int start = body.length >= 3 && (body[0] & 0xFF) == 0xEF && (body[1] & 0xFF) == 0xBB
                && (body[2] & 0xFF) == 0xBF ? 3 : 0; // byte order mark
        try {
            return StandardCharsets.UTF_8.newDecoder()
                    .onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(body, start, body.length - start)).toString();
        } catch (CharacterCodingException e) {
            throw malformed("the request body is not UTF-8");
        }
    }

    static S3Exception malformed(String message) {
        return new S3Exception(S3Error.MalformedXML, message);
    }

    private static String firstLine(String message) {
        if (message == null) {
            return "parse error";
        }
        int newline = message.indexOf('\n');
        return newline < 0 ? message : message.substring(0, newline);
    }

    private static XMLInputFactory newFactory() {
        // The JDK's built-in implementation, not whatever a classpath service loader finds.
        XMLInputFactory factory = XMLInputFactory.newDefaultFactory();
        factory.setProperty(XMLInputFactory.SUPPORT_DTD, false);
        factory.setProperty(XMLInputFactory.IS_SUPPORTING_EXTERNAL_ENTITIES, false);
        factory.setProperty(XMLInputFactory.IS_REPLACING_ENTITY_REFERENCES, false);
        factory.setProperty(XMLInputFactory.IS_NAMESPACE_AWARE, true);
        factory.setProperty(XMLInputFactory.IS_COALESCING, true);
        return factory;
    }
}
