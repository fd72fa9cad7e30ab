package io.basalt.common.tls;

import java.security.cert.X509Certificate;
import java.util.Locale;
import java.util.Optional;
import javax.naming.InvalidNameException;
import javax.naming.ldap.LdapName;
import javax.naming.ldap.Rdn;

/**
 * What a certificate of the cluster CA lets its holder be: the role is the certificate subject's
 * organizational unit ({@code OU=cs}), signed by the CA with the rest of the certificate, so a
 * holder cannot change it. docs/security.md says what each role may do.
 */
public enum Role {
    /** A meta member: Raft peer and the meta service. */
    META("meta"),
    /** A chunk server: serves the data protocol, talks to other chunk servers and reports to meta. */
    CHUNK_SERVER("cs"),
    /** A gateway (NBD, S3): reads and writes volumes and objects through the client library. */
    GATEWAY("gateway"),
    /** An operator or the admin CLI: every admin operation. */
    ADMIN("admin");

    private final String label;

    Role(String label) {
        this.label = label;
    }

    /** The OU value and the name on the command line: meta, cs, gateway, admin. */
    public String label() {
        return label;
    }

    /** The role named {@code label} (as in {@link #label()}, any case). */
    public static Role parse(String label) {
        for (Role role : values()) {
            if (role.label.equals(label.toLowerCase(Locale.ROOT))) {
                return role;
            }
        }
        throw new IllegalArgumentException("unknown role \"" + label + "\" (meta, cs, gateway or admin)");
    }

    /** The role in {@code certificate}'s subject, empty when it has none or one we do not know. */
    public static Optional<Role> of(X509Certificate certificate) {
        String ou = subjectAttribute(certificate, "OU");
        if (ou == null) {
            return Optional.empty();
        }
        try {
            return Optional.of(parse(ou));
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    /** The common name (the holder's name, e.g. cs3) of {@code certificate}, or its whole subject. */
    public static String holderName(X509Certificate certificate) {
        String cn = subjectAttribute(certificate, "CN");
        return cn != null ? cn : certificate.getSubjectX500Principal().getName();
    }

    private static String subjectAttribute(X509Certificate certificate, String type) {
        try {
            for (Rdn rdn : new LdapName(certificate.getSubjectX500Principal().getName()).getRdns()) {
                if (rdn.getType().equalsIgnoreCase(type)) {
                    return rdn.getValue().toString();
                }
            }
            return null;
        } catch (InvalidNameException e) {
            return null;
        }
    }
}
