package io.basalt.s3.xml;

/** The owner of a bucket, object or upload: an id and a display name. */
public record Owner(String id, String displayName) {
    void write(XmlWriter xml, String elementName) {
        xml.start(elementName).element("ID", id).element("DisplayName", displayName).end();
    }
}
