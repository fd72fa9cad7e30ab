package io.basalt.s3.auth;

import java.util.Optional;

/**
 * Access key id to secret access key. The gateway backs it with the meta service's user records
 * (issue 16); tests back it with a map. Called once per request that is not served by the
 * {@link SigningKeyCache}'s check, so it must be quick or cached by the implementation.
 */
@FunctionalInterface
public interface SecretLookup {
    /** The secret of {@code accessKeyId}, or empty when the key is unknown (or disabled). */
    Optional<String> secretFor(String accessKeyId);
}
