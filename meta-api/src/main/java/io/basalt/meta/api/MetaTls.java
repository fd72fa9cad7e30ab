package io.basalt.meta.api;

import io.basalt.common.tls.TlsIdentity;
import javax.net.ssl.KeyManager;
import javax.net.ssl.SSLException;
import javax.net.ssl.TrustManager;
import javax.net.ssl.X509KeyManager;
import javax.net.ssl.X509TrustManager;
import org.apache.ratis.conf.Parameters;
import org.apache.ratis.grpc.GrpcConfigKeys;
import org.apache.ratis.grpc.GrpcTlsConfig;
import org.apache.ratis.retry.RetryPolicy;

/**
 * Mutual TLS for meta's Ratis gRPC transport (Raft between members, clients to members): the
 * holder's key and the cluster CA as the only trust anchor, both ends checked (docs/security.md).
 * {@link GrpcConfigKeys.TLS#setConf} covers Ratis' server, client and admin channels alike.
 *
 * <p>Which operations a holder may send is decided by role on the server (meta's
 * MetaAuthorizer); a refused request fails with gRPC PERMISSION_DENIED, which {@link #noRetry}
 * keeps the client from retrying for half a minute: a refusal does not heal by waiting.
 */
public final class MetaTls {
    /** What the server's refusal says first, so the client can tell it from a lost connection. */
    public static final String REFUSED_PREFIX = "PERMISSION_DENIED";

    private MetaTls() {}

    /** Ratis parameters with TLS as {@code identity}; empty parameters (plain) for null. */
    public static Parameters parameters(TlsIdentity identity) {
        Parameters parameters = new Parameters();
        if (identity != null) {
            GrpcConfigKeys.TLS.setConf(parameters, new GrpcTlsConfig(keyManager(identity), trustManager(identity), true));
        }
        return parameters;
    }

    private static KeyManager keyManager(TlsIdentity identity) {
        for (KeyManager each : identity.keyManagers().getKeyManagers()) {
            if (each instanceof X509KeyManager) {
                return each;
            }
        }
        throw new IllegalStateException("no X.509 key manager in " + identity.directory());
    }

    private static TrustManager trustManager(TlsIdentity identity) {
        for (TrustManager each : identity.trustManagers().getTrustManagers()) {
            if (each instanceof X509TrustManager) {
                return each;
            }
        }
        throw new IllegalStateException("no X.509 trust manager in " + identity.directory());
    }

    /**
     * {@code retries}, except for failures that retrying cannot fix: meta refused the holder's
     * role for the operation, or the TLS handshake failed (a certificate of another CA, expired,
     * or plain text against TLS). Those end the call at once with their own message.
     */
    static RetryPolicy noRetry(RetryPolicy retries) {
        return event -> isFinal(event.getCause()) ? RetryPolicy.NO_RETRY_ACTION : retries.handleAttemptFailure(event);
    }

    /** Whether {@code cause} is a refusal or a failed handshake (see {@link #noRetry}). */
    static boolean isFinal(Throwable cause) {
        return explain(cause) != null;
    }

    private static final java.util.regex.Pattern CERTIFICATE_VERDICT = java.util.regex.Pattern.compile(
            "(?i)certificate|PKIX|unknown_ca|bad_certificate|certification path");

    /** Why a call failed, in words an operator acts on, or null when it is no TLS verdict. */
    public static String explain(Throwable cause) {
        boolean inHandshake = false;
        for (Throwable at = cause; at != null; at = at.getCause() == at ? null : at.getCause()) {
            String message = at.getMessage() == null ? "" : at.getMessage();
            int refused = message.indexOf(REFUSED_PREFIX);
            if (refused >= 0) {
                String why = message.substring(refused + REFUSED_PREFIX.length()).replaceFirst("^[: ]+", "");
                return "meta refused the request: " + why;
            }
            // Only certificate verdicts: a handshake cut short by a restarting member heals.
            inHandshake |= at instanceof SSLException;
            if (inHandshake && CERTIFICATE_VERDICT.matcher(message).find()) {
                return "TLS with meta failed: " + message + " (is the certificate of this cluster's CA,"
                        + " and not expired? see: basalt cert list)";
            }
        }
        return null;
    }
}
