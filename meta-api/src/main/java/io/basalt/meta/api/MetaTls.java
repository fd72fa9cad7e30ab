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

    /**
     * {@code retries} for a plain-text client, which a TLS meta closes without a word: that looks
     * like a member restarting, and would be retried for half a minute. On the first failed attempt
     * the client asks each peer once whether it speaks TLS ({@link #speaksTls}); if one does, the
     * call ends at once and {@code tlsPeer} names it (the caller's message says what to pass).
     */
    static RetryPolicy failFastAgainstTls(RetryPolicy retries, java.util.List<String> addresses,
            java.util.concurrent.atomic.AtomicReference<String> tlsPeer) {
        java.util.concurrent.atomic.AtomicBoolean asked = new java.util.concurrent.atomic.AtomicBoolean();
        return event -> {
            if (tlsPeer.get() == null && asked.compareAndSet(false, true)) {
                for (String address : addresses) {
                    if (speaksTls(address)) {
                        tlsPeer.set(address);
                        break;
                    }
                }
            }
            return tlsPeer.get() != null ? RetryPolicy.NO_RETRY_ACTION : retries.handleAttemptFailure(event);
        };
    }

    /**
     * Whether the server at {@code address} (host:port) answers a TLS ClientHello as a TLS server:
     * the handshake completes, or ends in a TLS alert (meta's asks for a client certificate, which
     * this probe has not). A plain-text server answers with no TLS record or closes; nothing
     * listening, or no answer within a second, is false too. No certificate is checked: the answer
     * only chooses an error message.
     */
    static boolean speaksTls(String address) {
        int colon = address.lastIndexOf(':');
        if (colon <= 0) {
            return false;
        }
        try {
            javax.net.ssl.SSLContext context = javax.net.ssl.SSLContext.getInstance("TLS");
            context.init(null, new TrustManager[] {new X509TrustManager() {
                @Override
                public void checkClientTrusted(java.security.cert.X509Certificate[] chain, String authType) {}

                @Override
                public void checkServerTrusted(java.security.cert.X509Certificate[] chain, String authType) {}

                @Override
                public java.security.cert.X509Certificate[] getAcceptedIssuers() {
                    return new java.security.cert.X509Certificate[0];
                }
            }}, null);
            try (javax.net.ssl.SSLSocket socket = (javax.net.ssl.SSLSocket) context.getSocketFactory().createSocket()) {
                socket.connect(new java.net.InetSocketAddress(address.substring(0, colon),
                        Integer.parseInt(address.substring(colon + 1))), 1000);
                socket.setSoTimeout(1000);
                socket.startHandshake();
                return true;
            }
        } catch (SSLException e) {
            return String.valueOf(e.getMessage()).contains("Received fatal alert");
        } catch (java.io.IOException | java.security.GeneralSecurityException | RuntimeException e) {
            return false;
        }
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
