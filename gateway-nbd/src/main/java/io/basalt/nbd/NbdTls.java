package io.basalt.nbd;

import io.basalt.protocol.data.DataTls;
import java.util.Locale;
import java.util.Objects;

/**
 * TLS for NBD clients: the gateway offers {@code NBD_OPT_STARTTLS} (x509, the cluster CA's
 * certificates on both sides) and may require it before any other option.
 *
 * @param mode whether STARTTLS is refused ({@link Mode#OFF}), offered, or required
 * @param tls the gateway's certificate and the clients it accepts; null only with {@link Mode#OFF}
 * @param access which client certificates may open which exports ({@link NbdAccess#OPEN}: all);
 *     lists need TLS, since they name certificates
 */
public record NbdTls(Mode mode, DataTls tls, NbdAccess access) {
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
            Objects.requireNonNull(tls, "TLS " + mode + " needs a certificate");
        } else if (!access.isOpen()) {
            throw new IllegalArgumentException("--allow names client certificates, so it needs TLS: drop --tls off"
                    + " (and --insecure), or drop --allow");
        }
    }

    /** Every export open to every client the gateway accepts. */
    public NbdTls(Mode mode, DataTls tls) {
        this(mode, tls, NbdAccess.OPEN);
    }
}
