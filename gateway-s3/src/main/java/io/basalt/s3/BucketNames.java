package io.basalt.s3;

import java.util.List;

/**
 * Bucket-name validation: the AWS rules for general purpose buckets ("General purpose bucket
 * naming rules", Amazon S3 User Guide), which Basalt follows so a name valid here is valid on
 * AWS and the other way round:
 * <ul>
 *   <li>3 to 63 characters long;</li>
 *   <li>only lowercase letters, digits, dots ({@code .}) and hyphens ({@code -});</li>
 *   <li>begins and ends with a letter or digit;</li>
 *   <li>no two adjacent dots;</li>
 *   <li>not formatted as an IPv4 address ({@code 192.168.5.4});</li>
 *   <li>not starting with the reserved prefixes {@code xn--}, {@code sthree-},
 *       {@code amzn-s3-demo-};</li>
 *   <li>not ending with the reserved suffixes {@code -s3alias}, {@code --ol-s3}, {@code .mrap},
 *       {@code --x-s3}, {@code --table-s3}.</li>
 * </ul>
 * Only CreateBucket validates: other operations on an invalid name find no bucket.
 */
public final class BucketNames {
    public static final int NAME_LENGTH_MIN = 3;
    public static final int NAME_LENGTH_MAX = 63;

    private static final List<String> RESERVED_PREFIXES = List.of("xn--", "sthree-",
            "amzn-s3-demo-");
    private static final List<String> RESERVED_SUFFIXES = List.of("-s3alias", "--ol-s3", ".mrap",
            "--x-s3", "--table-s3");

    private BucketNames() {}

    public static boolean isValid(String name) {
        return problem(name) == null;
    }

    /** @throws S3Exception InvalidBucketName, saying which rule the name breaks */
    public static void validate(String name) {
        String problem = problem(name);
        if (problem != null) {
            throw new S3Exception(S3Error.InvalidBucketName,
                    "bucket name \"" + name + "\" " + problem);
        }
    }

    /** Which rule {@code name} breaks, or null when it is valid. */
    static String problem(String name) {
        int length = name.length();
        if (length < NAME_LENGTH_MIN || length > NAME_LENGTH_MAX) {
            return "is " + length + " characters long (must be " + NAME_LENGTH_MIN + " to "
                    + NAME_LENGTH_MAX + ")";
        }
        for (int i = 0; i < length; i++) {
            char c = name.charAt(i);
            if (!isLowerAlphanumeric(c) && c != '.' && c != '-') {
                return "has '" + c + "' at " + i
                        + " (only lowercase letters, digits, '.' and '-' are allowed)";
            }
            if (c == '.' && i > 0 && name.charAt(i - 1) == '.') {
                return "has two adjacent dots";
            }
        }
        if (!isLowerAlphanumeric(name.charAt(0)) || !isLowerAlphanumeric(name.charAt(length - 1))) {
            return "must begin and end with a letter or digit";
        }
        if (isIpv4Address(name)) {
            return "is formatted as an IP address";
        }
        for (String prefix : RESERVED_PREFIXES) {
            if (name.startsWith(prefix)) {
                return "starts with the reserved prefix \"" + prefix + "\"";
            }
        }
        for (String suffix : RESERVED_SUFFIXES) {
            if (name.endsWith(suffix)) {
                return "ends with the reserved suffix \"" + suffix + "\"";
            }
        }
        return null;
    }

    private static boolean isLowerAlphanumeric(char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    }

    /** Four dot-separated groups of 1 to 3 digits: what AWS refuses as "IP address format". */
    private static boolean isIpv4Address(String name) {
        String[] groups = name.split("\\.", -1);
        if (groups.length != 4) {
            return false;
        }
        for (String group : groups) {
            if (group.isEmpty() || group.length() > 3) {
                return false;
            }
            for (int i = 0; i < group.length(); i++) {
                if (group.charAt(i) < '0' || group.charAt(i) > '9') {
                    return false;
                }
            }
        }
        return true;
    }
}
