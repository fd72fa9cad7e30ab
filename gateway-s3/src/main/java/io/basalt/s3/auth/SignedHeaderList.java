package io.basalt.s3.auth;

import io.basalt.s3.S3Error;
import io.basalt.s3.S3Exception;
import java.util.ArrayList;
import java.util.List;

/** The {@code SignedHeaders} list: lowercase names separated by {@code ;}. */
final class SignedHeaderList {
    /** Bound on signed headers; a request has a few dozen headers at most. */
    static final int COUNT_MAX = 64;

    private SignedHeaderList() {}

    static List<String> parse(String text, S3Error error) {
        if (text.isEmpty()) {
            throw new S3Exception(error, "SignedHeaders is empty");
        }
        List<String> names = new ArrayList<>();
        for (String name : text.split(";", -1)) {
            if (name.isEmpty()) {
                throw new S3Exception(error, "SignedHeaders \"" + text + "\" has an empty name");
            }
            for (int i = 0; i < name.length(); i++) {
                char c = name.charAt(i);
                if (c <= ' ' || c >= 0x7F || c == ':' || (c >= 'A' && c <= 'Z')) {
                    throw new S3Exception(error, "SignedHeaders name \"" + name
                            + "\" is not a lowercase header name");
                }
            }
            if (names.size() == COUNT_MAX) {
                throw new S3Exception(error, "more than " + COUNT_MAX + " signed headers");
            }
            names.add(name);
        }
        if (!names.contains("host")) {
            throw new S3Exception(error, "SignedHeaders must include host, got \"" + text + "\"");
        }
        return List.copyOf(names);
    }
}
