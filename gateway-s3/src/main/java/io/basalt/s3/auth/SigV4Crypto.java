package io.basalt.s3.auth;

import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/** HMAC-SHA256 and SHA-256 as SigV4 uses them; every JDK has both, so absence is an Error. */
public final class SigV4Crypto {
    public static final String ALGORITHM = "AWS4-HMAC-SHA256";
    /** Hex SHA-256 of no bytes. */
    public static final String EMPTY_SHA256 =
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    private static final HexFormat HEX = HexFormat.of();

    private SigV4Crypto() {}

    public static Mac newHmac(byte[] key) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return mac;
        } catch (GeneralSecurityException e) {
            throw new AssertionError("HmacSHA256 is in every JDK", e);
        }
    }

    public static byte[] hmac(byte[] key, String data) {
        return newHmac(key).doFinal(data.getBytes(StandardCharsets.UTF_8));
    }

    public static MessageDigest newSha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError("SHA-256 is in every JDK", e);
        }
    }

    public static String sha256Hex(String data) {
        return hex(newSha256().digest(data.getBytes(StandardCharsets.UTF_8)));
    }

    public static String hex(byte[] bytes) {
        return HEX.formatHex(bytes);
    }

    /** The SigV4 signing key: HMAC chain over date, region, service and the terminator. */
    public static byte[] deriveSigningKey(String secret, CredentialScope scope) {
        byte[] dateKey = hmac(("AWS4" + secret).getBytes(StandardCharsets.UTF_8), scope.date());
        byte[] regionKey = hmac(dateKey, scope.region());
        byte[] serviceKey = hmac(regionKey, scope.service());
        return hmac(serviceKey, CredentialScope.TERMINATOR);
    }

    /** The string to sign of a request, from its canonical request. */
    public static String stringToSign(String amzDate, CredentialScope scope,
            String canonicalRequest) {
        return ALGORITHM + "\n" + amzDate + "\n" + scope + "\n" + sha256Hex(canonicalRequest);
    }

    /** Lowercase hex HMAC of {@code stringToSign} under {@code signingKey}. */
    public static String signature(byte[] signingKey, String stringToSign) {
        return hex(hmac(signingKey, stringToSign));
    }

    /** Constant-time comparison of two hex signatures. */
    public static boolean signaturesEqual(String expected, String claimed) {
        return MessageDigest.isEqual(expected.getBytes(StandardCharsets.US_ASCII),
                claimed.getBytes(StandardCharsets.US_ASCII));
    }

    /** Whether {@code value} is 64 lowercase hex digits (a SHA-256 or a signature). */
    public static boolean isLowerHex64(String value) {
        if (value.length() != 64) {
            return false;
        }
        for (int i = 0; i < 64; i++) {
            char c = value.charAt(i);
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
                return false;
            }
        }
        return true;
    }
}
