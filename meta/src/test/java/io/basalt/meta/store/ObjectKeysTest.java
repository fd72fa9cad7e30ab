package io.basalt.meta.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import net.jqwik.api.Arbitraries;
import net.jqwik.api.Arbitrary;
import net.jqwik.api.Example;
import net.jqwik.api.ForAll;
import net.jqwik.api.Property;
import net.jqwik.api.Provide;

/** The escaped key encoding: index order is S3's key order, and keys never interleave. */
class ObjectKeysTest {
    private static int compare(byte[] a, byte[] b) {
        return Arrays.compareUnsigned(a, b);
    }

    private static int utf8Order(String a, String b) {
        return Arrays.compareUnsigned(a.getBytes(StandardCharsets.UTF_8),
                b.getBytes(StandardCharsets.UTF_8));
    }

    @Example
    void keysThatArePrefixesOfEachOtherSortAsTheirBytesAndNeverInterleave() {
        List<String> keys = List.of("a", "a\u0000", "a\u0000\u0000", "a\u0000b", "a\u0001", "a/",
                "a/b", "ab", "b", "\u00e9", "\u00e9t\u00e9", "\uE000", "\uD83D\uDE00",
                "\uFFFD", "z".repeat(1024));
        List<String> byIndex = new ArrayList<>(keys);
        byIndex.sort(Comparator.comparing(k -> ObjectKeys.keyPrefix(7, k),
                ObjectKeysTest::compare));
        List<String> byUtf8 = new ArrayList<>(keys);
        byUtf8.sort(ObjectKeysTest::utf8Order);
        assertThat(byIndex).isEqualTo(byUtf8);
        // UTF-8 order, not Java's UTF-16 order: U+1F600 (4 bytes, F0...) sorts after U+E000 (EE...)
        // and U+FFFD (EF...), though its surrogates sort before them as chars.
        assertThat(byUtf8.indexOf("\uD83D\uDE00")).isGreaterThan(byUtf8.indexOf("\uFFFD"));
        assertThat("\uD83D\uDE00".compareTo("\uE000")).isNegative();

        // Every entry of a key (any version) sorts between the key's prefix and the next key.
        for (int i = 0; i + 1 < byIndex.size(); i++) {
            String key = byIndex.get(i);
            String next = byIndex.get(i + 1);
            byte[] newest = ObjectKeys.objectKey(7, key, Long.MAX_VALUE);
            byte[] oldest = ObjectKeys.objectKey(7, key, 1);
            assertThat(compare(newest, oldest)).isNegative();
            assertThat(compare(oldest, ObjectKeys.keyPrefix(7, next))).isNegative();
            assertThat(compare(ObjectKeys.successor(ObjectKeys.keyPrefix(7, key)),
                    ObjectKeys.keyPrefix(7, next))).isLessThanOrEqualTo(0);
            assertThat(ObjectKeys.keyOf(oldest)).isEqualTo(key);
            assertThat(ObjectKeys.versionSeqOf(oldest)).isEqualTo(1);
        }
    }

    @Example
    void escapingSpellsOutEveryNul() {
        assertThat(ObjectKeys.keyPrefix(1, "a\u0000b")).isEqualTo(new byte[] {0, 0, 0, 0, 0, 0,
                0, 1, 'a', 0, (byte) 0xFF, 'b', 0, 1});
        assertThat(ObjectKeys.textPrefix(1, "a\u0000")).isEqualTo(new byte[] {0, 0, 0, 0, 0, 0,
                0, 1, 'a', 0, (byte) 0xFF});
        assertThat(ObjectKeys.successor(new byte[] {1, (byte) 0xFF, (byte) 0xFF}))
                .isEqualTo(new byte[] {2});
        assertThat(ObjectKeys.successor(new byte[] {(byte) 0xFF})).isNull();
        assertThatThrownBy(() -> ObjectKeys.keyOf(new byte[] {0, 0, 0, 0, 0, 0, 0, 1, 'a', 0, 7}))
                .isInstanceOf(IllegalStateException.class).hasMessageContaining("corrupt");
        assertThatThrownBy(() -> ObjectKeys.keyOf(new byte[] {0, 0, 0, 0, 0, 0, 0, 1, 'a'}))
                .isInstanceOf(IllegalStateException.class);
    }

    @Example
    void bucketsDoNotMix() {
        byte[] lastOfBucket1 = ObjectKeys.objectKey(1, "\uD83D\uDE00".repeat(200), 1);
        byte[] firstOfBucket2 = ObjectKeys.keyPrefix(2, "");
        assertThat(compare(lastOfBucket1, firstOfBucket2)).isNegative();
        assertThat(compare(ObjectKeys.successor(ObjectKeys.bucketPrefix(1)), firstOfBucket2))
                .isLessThanOrEqualTo(0);
    }

    @Provide
    Arbitrary<String> keys() {
        return Arbitraries.oneOf(List.of(
                Arbitraries.strings().withChars('a', 'b', '/', '\u0000', '\u00e9').ofMaxLength(6),
                Arbitraries.strings().all().ofMaxLength(8)
                        .filter(s -> new String(s.getBytes(StandardCharsets.UTF_8),
                                StandardCharsets.UTF_8).equals(s))));
    }

    @Property(tries = 2000)
    void indexOrderIsUtf8OrderAndPrefixesSelectExactlyTheKeysStartingWithThem(
            @ForAll("keys") String a, @ForAll("keys") String b, @ForAll long seqA,
            @ForAll long seqB) {
        int keyOrder = Integer.signum(utf8Order(a, b));
        byte[] entryA = ObjectKeys.objectKey(3, a, seqA);
        byte[] entryB = ObjectKeys.objectKey(3, b, seqB);
        if (keyOrder != 0) {
            assertThat(Integer.signum(compare(entryA, entryB))).isEqualTo(keyOrder);
        } else {
            assertThat(Integer.signum(compare(entryA, entryB)))
                    .isEqualTo(Integer.signum(Long.compareUnsigned(seqB, seqA)));
        }
        assertThat(ObjectKeys.startsWith(entryB, ObjectKeys.textPrefix(3, a)))
                .isEqualTo(b.startsWith(a));
        assertThat(ObjectKeys.startsWith(entryB, ObjectKeys.keyPrefix(3, a)))
                .isEqualTo(b.equals(a));
        assertThat(ObjectKeys.keyOf(entryA)).isEqualTo(a);
        assertThat(ObjectKeys.versionSeqOf(entryA)).isEqualTo(seqA);
        assertThat(ObjectKeys.uploadIdOf(ObjectKeys.uploadKey(3, a, "up-1"))).isEqualTo("up-1");
    }
}
