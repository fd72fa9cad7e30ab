package io.basalt.nbd;

import io.basalt.protocol.data.DataTls;
import java.util.Locale;
import java.util.Objects;

/**
 * TLS for NBD clients: the gateway offers {@code NBD_OPT_STARTTLS}, with x509 (the cluster CA's
 * certificates on both sides) and, when it has a key file, pre-shared keys; it may require TLS
 * before any other option.
 *
 * @param mode whether STARTTLS is refused ({@link Mode#OFF}), offered, or required
 * @param tls the gateway's certificate and the clients it accepts; null when TLS is off or only
 *     pre-shared keys are offered
 * @param access which client identities (certificate holders, PSK usernames) may open which
 *     exports ({@link NbdAccess#OPEN}: all); lists need TLS, since they name identities
 * @param psk the pre-shared keys clients may use instead of a certificate, or null
 */
public record NbdTls(Mode mode, DataTls tls, NbdAccess access, NbdPsk psk) {
    public enum Mode {
        /** STARTTLS answered ERR_UNSUP: plain text only. */
        OFF,
        /** Clients may upgrade with STARTTLS or stay plain. */
        OPTIONAL,
        /** Every option but STARTTLS and ABORT is answered ERR_TLS_REQD until TLS is up. */
        REQUIRE;

        /** {@code require|optional|off}, any case. */
        public static Mode parse(String text) {
            try {
                return valueOf(text.toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("--tls " + text + ": expected require, optional or off");
            }
        }
    }

    public static final NbdTls OFF = new NbdTls(Mode.OFF, null);

    public NbdTls {
        Objects.requireNonNull(mode);
        Objects.requireNonNull(access);
        if (mode != Mode.OFF) {
            if (tls == null && psk == null) {
                throw new NullPointerException("TLS " + mode + " needs a certificate or pre-shared keys");
            }
        } else if (!access.isOpen()) {
            throw new IllegalArgumentException("--allow names client identities, so it needs TLS: drop --tls off"
                    + " (and --insecure), or drop --allow");
        } else if (psk != null) {
            throw new IllegalArgumentException("--tls-psk gives keys for TLS: drop --tls off (and --insecure),"
                    + " or drop --tls-psk");
        }
    }

    /** Certificates only. */
    public NbdTls(Mode mode, DataTls tls, NbdAccess access) {
        this(mode, tls, access, null);
    }

    /** Every export open to every client the gateway accepts; certificates only. */
    public NbdTls(Mode mode, DataTls tls) {
        this(mode, tls, NbdAccess.OPEN, null);
    }
}
