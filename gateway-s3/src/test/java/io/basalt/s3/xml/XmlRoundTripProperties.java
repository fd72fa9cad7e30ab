package io.basalt.s3.xml;

import static org.assertj.core.api.Assertions.assertThat;

import io.basalt.s3.UriEncoding;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;
import net.jqwik.api.constraints.Size;

/**
 * What the writer escapes, the parser reads back: tags through Tagging, and keys through a
 * listing (any key, including control characters, with EncodingType=url).
 */
class XmlRoundTripProperties {
    @Provide
    Arbitrary<String> xmlTexts() {
        return Arbitraries.strings().withChars("ab <>&\"'\t\n;:=/%+\u00e9\u4e2d")
                .ofMinLength(1).ofMaxLength(40).map(String::strip).filter(s -> !s.isEmpty())
                .filter(s -> !s.startsWith("aws:"));
    }

    @Provide
    Arbitrary<String> anyKeys() {
        return Arbitraries.strings().withCharRange('\u0000', '\u00ff').withChars("\u4e2d")
                .ofMinLength(1).ofMaxLength(40);
    }

    @Property(tries = 200)
    void tagsRoundTrip(@ForAll @Size(max = 10) List<@net.jqwik.api.From("xmlTexts") String>
            keys) {
        List<Tag> tags = new ArrayList<>();
        for (String key : keys.stream().distinct().toList()) {
            tags.add(new Tag(key, key + "!"));
        }
        byte[] xml = ResponseXml.tagging(tags).getBytes(StandardCharsets.UTF_8);
        assertThat(RequestXml.parseTagging(xml, RequestXml.OBJECT_TAG_COUNT_MAX))
                .isEqualTo(tags);
    }

    @Property(tries = 200)
    void urlEncodedListingKeysDecodeToTheKeys(@ForAll("anyKeys") String key) {
        String xml = ListingXml.listObjectsV2(new ListingXml.V2Page("b", key, null, 1, true,
                null, null, null, false, List.of(new ObjectSummary(key, Instant.EPOCH, "e", 0,
                        "STANDARD", null, null)), List.of()));
        XmlTree.Element root = XmlTree.parse(xml.getBytes(StandardCharsets.UTF_8),
                "ListBucketResult");
        assertThat(UriEncoding.decodeQuery(root.child("Contents").childText("Key")))
                .isEqualTo(key);
        assertThat(UriEncoding.decodeQuery(root.childText("Prefix"))).isEqualTo(key);
    }
}
